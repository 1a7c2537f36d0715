#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

using namespace geodns;

TEST_CASE("a full config parses, relative zone paths resolve against the config") {
  ErrorList errors;
  auto cfg = config::parseConfig(R"({
    "listen": ["127.0.0.1:53", "[::1]:53"],
    "workers": 3,
    "zones": [{"origin": "example.test", "file": "z/example.zone"},
              {"origin": "abs.test", "file": "/etc/abs.zone"}],
    "limits": {"max_udp_payload": 1400, "tcp_idle_timeout_ms": 5000, "max_tcp_connections": 10,
               "udp_batch_wait_us": 0},
    "chaos": {"version": "v1", "identity": "ns1"}
  })",
                                 "/etc/geodnsd/geodnsd.json", errors);
  REQUIRE(errors.empty());
  REQUIRE(cfg);
  CHECK(cfg->listen.size() == 2);
  CHECK(cfg->workers == 3);
  CHECK(cfg->zones[0].file == "/etc/geodnsd/z/example.zone");
  CHECK(cfg->zones[1].file == "/etc/abs.zone");
  CHECK(cfg->limits.maxUdpPayload == 1400);
  CHECK(cfg->limits.maxTcpConnections == 10);
  CHECK(cfg->limits.udpBatchWaitUs == 0);
  CHECK(*cfg->chaos.identity == "ns1");
}

TEST_CASE("defaults") {
  ErrorList errors;
  auto cfg = config::parseConfig(R"({"listen": ["127.0.0.1:53"]})", "c.json", errors);
  REQUIRE(cfg);
  CHECK(cfg->limits.maxUdpPayload == 1232);
  CHECK(cfg->workers == 0);
  CHECK(cfg->limits.udpBatchWaitUs == 200);
  CHECK_FALSE(cfg->chaos.version);
}

struct BadConfig {
  const char* json;
  const char* expect;
};

TEST_CASE("config errors name their JSON path") {
  const BadConfig cases[] = {
      {R"({"listen": ["127.0.0.1:53"], "bogus": 1})", "/bogus: unknown key 'bogus'"},
      {R"({"listen": ["127.0.0.1"]})", "/listen/0: expected addr:port"},
      {R"({"listen": ["[::1]:99999"]})", "/listen/0: bad port"},
      {R"({"listen": ["host.example:53"]})", "/listen/0: bad address"},
      {R"({})", "/listen: missing"},
      {R"({"listen": ["127.0.0.1:53"], "workers": -1})",
       "/workers: expected a non-negative integer"},
      {R"({"listen": ["127.0.0.1:53"], "zones": [{"origin": "a..b", "file": "x"}]})",
       "/zones/0/origin: not a valid"},
      {R"({"listen": ["127.0.0.1:53"], "zones": [{"origin": "a"}]})", "/zones/0/file: missing"},
      {R"({"listen": ["127.0.0.1:53"], "zones": [{"origin": "a", "file": "x"}, {"origin": "A.", "file": "y"}]})",
       "/zones/1/origin: zone 'A.' is listed twice"},
      {R"({"listen": ["127.0.0.1:53"], "limits": {"max_udp_payload": 100}})",
       "/limits/max_udp_payload: must be between 512"},
      {R"({"listen": ["127.0.0.1:53"], "limits": {"idle": 1}})", "/limits/idle: unknown key"},
      {R"({"listen": ["127.0.0.1:53"], "limits": {"udp_batch_wait_us": 1001}})",
       "/limits/udp_batch_wait_us: must be between 0"},
      {R"({"listen": ["127.0.0.1:53"], "chaos": {"version": 1}})",
       "/chaos/version: expected a string"},
      {"[1]", "/: the config must be a JSON object"},
      {"{\n\"listen\": [\n,]}", "c.json:3:1: syntax error"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.json);
    ErrorList errors;
    CHECK_FALSE(config::parseConfig(c.json, "c.json", errors));
    CHECK(errors.str().find(c.expect) != std::string::npos);
  }
}

TEST_CASE("errors carry the line and column of the offending value") {
  ErrorList errors;
  config::parseConfig(
      "{\n  \"listen\": [\"127.0.0.1:53\"],\n  \"limits\": {\n    \"max_udp_payload\": 9\n  },\n  "
      "\"zones\": [{\"origin\": \"a\"}]\n}\n",
      "geodnsd.json", errors);
  CHECK(errors.str().find("geodnsd.json:4:24 /limits/max_udp_payload: must be between 512") !=
        std::string::npos);
  // A missing key is placed at the object that lacks it.
  CHECK(errors.str().find("geodnsd.json:6:13 /zones/0/file: missing") != std::string::npos);
}

TEST_CASE("all config errors are reported at once, each with its place") {
  ErrorList errors;
  config::parseConfig(R"({"listen": ["x"], "workers": "2", "zones": [{"file": 1}], "x": 1})",
                      "c.json", errors);
  std::vector<std::string> got;
  for (const auto& e : errors.all()) got.push_back(e.str());
  std::sort(got.begin(), got.end());
  const std::vector<std::string> want = {
      "c.json:1:13 /listen/0: expected addr:port (IPv6 as [addr]:port)",
      "c.json:1:30 /workers: expected a non-negative integer",
      "c.json:1:45 /zones/0/origin: missing or not a string",  // placed at the object
      "c.json:1:54 /zones/0/file: missing or not a string",
      "c.json:1:64 /x: unknown key 'x'",
  };
  CHECK(got == want);
}

TEST_CASE("admin: defaults, relative token file, and it needs the state database") {
  ErrorList errors;
  auto cfg = config::parseConfig(R"({"listen": ["127.0.0.1:53"],
    "health": {"database": "state"}, "admin": {"token_file": "admin.token"}})",
                                 "/etc/geodnsd/geodnsd.json", errors);
  REQUIRE(errors.empty());
  CHECK(cfg->admin.enabled);
  CHECK(cfg->admin.listen == "127.0.0.1:8053");
  CHECK(cfg->admin.tokenFile == "/etc/geodnsd/admin.token");
  CHECK(cfg->admin.threads == 4);

  ErrorList bad;
  CHECK_FALSE(config::parseConfig(R"({"listen": ["127.0.0.1:53"],
    "admin": {"listen": "localhost", "threads": 0, "extra": 1}})",
                                  "c.json", bad));
  const std::string all = bad.str();
  CHECK(all.find("/admin/listen") != std::string::npos);
  CHECK(all.find("/admin/token_file") != std::string::npos);
  CHECK(all.find("/admin/threads") != std::string::npos);
  CHECK(all.find("/admin/extra") != std::string::npos);
  CHECK(all.find("needs \"health\"") != std::string::npos);
}

TEST_CASE("best effort: a config with errors is still returned for the checks after the parse") {
  const char* text = R"({
  "listen": ["127.0.0.1:53", "nowhere"],
  "workers": "two",
  "zones": [{"origin": "a.test", "file": "a.zone"}, {"origin": "b..test", "file": "b.zone"}],
  "bindings": [{"name": "www.a.test", "pool": "nope", "policy": "nope"}],
  "health": {"database": "state"},
  "admin": {"token_file": "admin.token"},
  "log": {"query_log": {"file": "q.log"}}
})";
  ErrorList strict;
  CHECK_FALSE(config::parseConfig(text, "/etc/g/c.json", strict));
  ErrorList errors;
  auto cfg = config::parseConfigBestEffort(text, "/etc/g/c.json", errors);
  REQUIRE(cfg);
  CHECK(errors.str() == strict.str());  // the same errors, whatever the caller does next
  CHECK(errors.str().find("/workers: expected a non-negative integer") != std::string::npos);
  CHECK(cfg->listen == std::vector<std::string>{"127.0.0.1:53"});  // the bad one is left out
  CHECK(cfg->listenWhere == std::vector<std::string>{"/etc/g/c.json:2:14 /listen/0"});
  REQUIRE(cfg->zones.size() == 2);
  CHECK(cfg->zones[0].file == "/etc/g/a.zone");
  REQUIRE(cfg->gslb.bindings.size() == 1);
  CHECK(cfg->gslb.bindings[0].name == "www.a.test");
  // Start-up checks name the place of the value they refuse.
  CHECK(cfg->gslb.health.database == "/etc/g/state");
  CHECK(cfg->gslb.health.databaseWhere == "/etc/g/c.json:6:26 /health/database");
  CHECK(cfg->admin.tokenFileWhere == "/etc/g/c.json:7:27 /admin/token_file");
  CHECK(cfg->admin.listenWhere == "/etc/g/c.json:7:12 /admin");
  CHECK(cfg->log.queryLogWhere == "/etc/g/c.json:8:33 /log/query_log/file");

  ErrorList syntax;
  CHECK_FALSE(config::parseConfigBestEffort("{\"listen\": [,]}", "c.json", syntax));
  CHECK(syntax.str().find("c.json:1:") != std::string::npos);
}

namespace {
// A config whose "limits" object is `limits` (JSON text), parsed as "c.json".
std::optional<config::ServerConfig> parseLimits(const char* limits, ErrorList& errors) {
  return config::parseConfig(
      std::string(R"({"listen": ["127.0.0.1:53"], "limits": )") + limits + "}", "c.json", errors);
}

// The limits parsed from `limits`; when `error` is set, checks the config is
// refused with it at c.json's line and returns nothing.
std::optional<config::Limits> limitsOrError(const char* limits, const char* error) {
  ErrorList errors;
  auto cfg = parseLimits(limits, errors);
  if (error) {
    CHECK_FALSE(cfg);
    CHECK(errors.str().find(std::string("c.json:1:")) != std::string::npos);
    CHECK(errors.str().find(error) != std::string::npos);
    return std::nullopt;
  }
  REQUIRE_MESSAGE(cfg, errors.str());
  return cfg->limits;
}
}  // namespace

TEST_CASE("limits: the signing budget (max_signatures_per_second, signature_burst)") {
  struct Case {
    const char* what;
    const char* limits;
    std::uint32_t rate, burst;  // when it parses
    const char* error;          // else: the error, with its JSON path
  };
  const Case cases[] = {
      {"defaults: 2000/s, burst 2000", "{}", 2000, 2000, nullptr},
      {"a rate alone: the burst follows it", R"({"max_signatures_per_second": 500})", 500, 500,
       nullptr},
      {"rate and burst", R"({"max_signatures_per_second": 500, "signature_burst": 50})", 500, 50,
       nullptr},
      {"the burst given first", R"({"signature_burst": 50, "max_signatures_per_second": 500})", 500,
       50, nullptr},
      {"a burst alone", R"({"signature_burst": 9000})", 2000, 9000, nullptr},
      {"0: no limit", R"({"max_signatures_per_second": 0})", 0, 1, nullptr},
      {"the highest rate", R"({"max_signatures_per_second": 1000000})", 1000000, 1000000, nullptr},
      {"a rate too high", R"({"max_signatures_per_second": 1000001})", 0, 0,
       "/limits/max_signatures_per_second: must be between 0 and 1000000"},
      {"a negative rate", R"({"max_signatures_per_second": -5})", 0, 0,
       "/limits/max_signatures_per_second: expected a non-negative integer"},
      {"a fractional rate", R"({"max_signatures_per_second": 2.5})", 0, 0,
       "/limits/max_signatures_per_second: expected a non-negative integer"},
      {"a rate as a string", R"({"max_signatures_per_second": "2000"})", 0, 0,
       "/limits/max_signatures_per_second: expected a non-negative integer"},
      {"a burst of 0 would refuse every signature", R"({"signature_burst": 0})", 0, 0,
       "/limits/signature_burst: must be between 1 and 1000000"},
      {"a burst too high", R"({"signature_burst": 1000001})", 0, 0,
       "/limits/signature_burst: must be between 1 and 1000000"},
      {"a misspelt key", R"({"max_signature_per_second": 10})", 0, 0,
       "/limits/max_signature_per_second: unknown key"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    const auto limits = limitsOrError(c.limits, c.error);
    if (!limits) continue;
    CHECK(limits->maxSignaturesPerSecond == c.rate);
    CHECK(limits->signatureBurst == c.burst);
  }
}

TEST_CASE("limits.precompiled_names and defer_geo_compile_nodes: default, 0 (off), range") {
  using Field = std::uint32_t config::Limits::*;
  const Field names = &config::Limits::precompiledNames;
  const Field defer = &config::Limits::deferGeoCompileNodes;
  struct Case {
    const char* what;
    const char* limits;
    Field field;
    std::uint32_t value;  // when it parses
    const char* error;    // else: the error, with its JSON path
  };
  const Case cases[] = {
      {"default 250,000", "{}", names, 250000, nullptr},
      {"0: never precompiled", R"({"precompiled_names": 0})", names, 0, nullptr},
      {"a larger table", R"({"precompiled_names": 2000000})", names, 2000000, nullptr},
      {"too high", R"({"precompiled_names": 100000001})", names, 0,
       "/limits/precompiled_names: must be between 0 and 100000000"},
      {"negative", R"({"precompiled_names": -1})", names, 0,
       "/limits/precompiled_names: expected a non-negative integer"},
      {"a string", R"({"precompiled_names": "all"})", names, 0,
       "/limits/precompiled_names: expected a non-negative integer"},
      {"defer: default 1,000,000 nodes", "{}", defer, 1000000, nullptr},
      {"defer: 0, always compile first", R"({"defer_geo_compile_nodes": 0})", defer, 0, nullptr},
      {"defer: 1, always answer first", R"({"defer_geo_compile_nodes": 1})", defer, 1, nullptr},
      {"defer: too high", R"({"defer_geo_compile_nodes": 2000000001})", defer, 0,
       "/limits/defer_geo_compile_nodes: must be between 0 and 2000000000"},
      {"defer: a bool", R"({"defer_geo_compile_nodes": true})", defer, 0,
       "/limits/defer_geo_compile_nodes: expected a non-negative integer"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    const auto limits = limitsOrError(c.limits, c.error);
    if (!limits) continue;
    CHECK((*limits).*c.field == c.value);
  }
}
