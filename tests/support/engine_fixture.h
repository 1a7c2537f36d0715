#pragma once
// A ServingSnapshot over the integration test zones (example.test and its
// loaded child), shared by unit tests, the allocation test and fuzzers.
#include <memory>
#include <stdexcept>
#include <string>

#include "server/serving.h"

namespace geodns::test {

inline std::shared_ptr<const server::ServingSnapshot> exampleSnapshot() {
  zones::ServerConfig cfg;
  cfg.listen = {"127.0.0.1:53"};
  const std::string dir = std::string(GEODNS_TEST_DATA) + "/integration/zones/";
  cfg.zones = {{"example.test", dir + "example.test.zone", ""},
               {"child.example.test", dir + "child.example.test.zone", ""}};
  cfg.chaos.version = "geodnsd-test";
  ErrorList errors;
  auto snap = server::buildSnapshot(cfg, errors);
  if (!snap) throw std::runtime_error("fixture zones failed: " + errors.str());
  return snap;
}

}  // namespace geodns::test
