#pragma once
// A ServingSnapshot over the integration test zones (example.test and its
// loaded child), shared by unit tests, the allocation test and fuzzers.
#include <memory>
#include <stdexcept>
#include <string>

#include "server/serving.h"

namespace geodns::test {

// `identity`: chaos.identity (id.server / hostname.bind), unset when null.
inline std::shared_ptr<const server::ServingSnapshot> exampleSnapshot(
    const char* identity = nullptr) {
  config::ServerConfig cfg;
  cfg.listen = {"127.0.0.1:53"};
  const std::string dir = std::string(GEODNS_TEST_DATA) + "/integration/zones/";
  cfg.zones = {{"example.test", dir + "example.test.zone", ""},
               {"child.example.test", dir + "child.example.test.zone", ""}};
  cfg.chaos.version = "geodnsd-test";
  if (identity) cfg.chaos.identity = identity;
  ErrorList errors;
  auto snap = server::buildSnapshot(cfg, errors);
  if (!snap) throw std::runtime_error("fixture zones failed: " + errors.str());
  return snap;
}

}  // namespace geodns::test

#include <fstream>
#include <sstream>

namespace geodns::test {

// The GSLB config of the integration tests (gslb-config.json) over the
// gslb.test zone and the generated GeoIP2 fixture.
inline std::string gslbConfigText(const std::string& zoneDir) {
  std::ifstream in(std::string(GEODNS_TEST_DATA) + "/integration/gslb-config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const std::string dir = std::string(GEODNS_TEST_DATA) + "/data/geoip";
  for (auto p = text.find("GEOIP_DIR"); p != std::string::npos; p = text.find("GEOIP_DIR"))
    text.replace(p, 9, dir);
  // Splice listeners and zones into the object.
  auto brace = text.find('{');
  text.insert(
      brace + 1,
      "\"listen\": [\"127.0.0.1:53\"], \"zones\": [{\"origin\": \"gslb.test\", \"file\": \"" +
          zoneDir + "/gslb.test.zone\"}],");
  return text;
}

inline std::shared_ptr<const server::ServingSnapshot> gslbSnapshot() {
  ErrorList errors;
  auto cfg =
      config::parseConfig(gslbConfigText(std::string(GEODNS_TEST_DATA) + "/integration/zones"),
                         "gslb-config.json", errors);
  if (!cfg) throw std::runtime_error("gslb config failed: " + errors.str());
  auto snap = server::buildSnapshot(*cfg, errors);
  if (!snap) throw std::runtime_error("gslb snapshot failed: " + errors.str());
  return snap;
}

}  // namespace geodns::test

#include "support/temp_dir.h"

namespace geodns::test {

// A snapshot from a JSON config whose zone file path is the placeholder
// "ZONE"; the zone `origin` (SOA, NS, one glue address) is written into `dir`.
inline std::shared_ptr<const server::ServingSnapshot> snapshotFromJson(const TempDir& dir,
                                                                       const std::string& origin,
                                                                       std::string json) {
  auto zone =
      dir.write(origin + ".zone",
                "$ORIGIN " + origin + ".\n@ SOA ns h 1 2 3 4 30\n@ NS ns\nns A 192.0.2.53\n");
  json.replace(json.find("ZONE"), 4, zone);
  ErrorList errors;
  auto cfg = config::parseConfig(json, origin + ".json", errors);
  if (!cfg) throw std::runtime_error("config failed: " + errors.str());
  auto snap = server::buildSnapshot(*cfg, errors);
  if (!snap) throw std::runtime_error("snapshot failed: " + errors.str());
  return snap;
}

}  // namespace geodns::test

namespace geodns::test {

// A snapshot serving one zone given as text (written into `dir`).
inline std::shared_ptr<const server::ServingSnapshot> snapshotFromZone(const TempDir& dir,
                                                                       const std::string& origin,
                                                                       const std::string& text) {
  config::ServerConfig cfg;
  cfg.listen = {"127.0.0.1:53"};
  cfg.zones = {{origin, dir.write(origin + ".zone", text), ""}};
  ErrorList errors;
  auto snap = server::buildSnapshot(cfg, errors);
  if (!snap) throw std::runtime_error("zone failed: " + errors.str());
  return snap;
}

}  // namespace geodns::test
