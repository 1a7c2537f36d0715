// The per-zone "dnssec" object: typed, defaults, and every error at its JSON path.
#include <doctest/doctest.h>

#include <string>

#include "config/config.h"

using namespace geodns;

namespace {
std::string withDnssec(const std::string& dnssec) {
  return R"({"listen": ["127.0.0.1:53"], "zones": [{"origin": "example.test", "file": "z",
             "dnssec": )" +
         dnssec + "}]}";
}
}  // namespace

TEST_CASE("dnssec config: keys resolved against the config's directory, defaults") {
  ErrorList errors;
  auto cfg = config::parseConfig(withDnssec(R"({"keys": ["K1.private", "/abs/K2.private"]})"),
                                 "/etc/geodnsd/c.json", errors);
  REQUIRE_MESSAGE(cfg, errors.str());
  REQUIRE(cfg->zones[0].dnssec);
  const auto& d = *cfg->zones[0].dnssec;
  CHECK(d.keys == std::vector<std::string>{"/etc/geodnsd/K1.private", "/abs/K2.private"});
  CHECK(d.keyWhere.size() == 2);
  CHECK(d.keyWhere[1].find("/zones/0/dnssec/keys/1") != std::string::npos);
  CHECK(d.validity_s == 1209600);
  CHECK(d.refresh_s == 302400);
  CHECK(d.denial == config::Denial::Compact);

  errors = {};
  auto plain = config::parseConfig(
      R"({"listen": ["127.0.0.1:53"], "zones": [{"origin": "example.test", "file": "z"}]})",
      "c.json", errors);
  REQUIRE(plain);
  CHECK_FALSE(plain->zones[0].dnssec);
}

TEST_CASE("dnssec config: explicit timing and denial") {
  ErrorList errors;
  auto cfg = config::parseConfig(withDnssec(R"({"keys": ["K"], "signature_validity_s": 86400,
                                  "refresh_s": 3600, "denial": "compact"})"),
                                 "c.json", errors);
  REQUIRE_MESSAGE(cfg, errors.str());
  CHECK(cfg->zones[0].dnssec->validity_s == 86400);
  CHECK(cfg->zones[0].dnssec->refresh_s == 3600);
  CHECK(cfg->zones[0].dnssec->denial == config::Denial::Compact);

  errors = {};
  auto nsec3 = config::parseConfig(withDnssec(R"({"keys": ["K"], "denial": "nsec3"})"), "c.json",
                                   errors);
  REQUIRE_MESSAGE(nsec3, errors.str());
  CHECK(nsec3->zones[0].dnssec->denial == config::Denial::Nsec3);
}

TEST_CASE("dnssec config: errors name their JSON path") {
  struct Case {
    const char* name;
    const char* dnssec;
    const char* expect;
  };
  const Case cases[] = {
      {"not an object", R"("yes")", "/zones/0/dnssec: expected an object"},
      {"no keys", R"({})", "/zones/0/dnssec/keys: expected a non-empty array"},
      {"empty keys", R"({"keys": []})", "/zones/0/dnssec/keys: expected a non-empty array"},
      {"key not a string", R"({"keys": ["K", 3]})", "/zones/0/dnssec/keys/1: expected a key file"},
      {"unknown key", R"({"keys": ["K"], "algorithm": 13})",
       "/zones/0/dnssec/algorithm: unknown key"},
      {"validity too short", R"({"keys": ["K"], "signature_validity_s": 60})",
       "/zones/0/dnssec/signature_validity_s: must be between 3600"},
      {"refresh not below validity",
       R"({"keys": ["K"], "signature_validity_s": 86400, "refresh_s": 86400})",
       "/zones/0/dnssec/refresh_s: must be less than signature_validity_s (86400)"},
      {"refresh negative", R"({"keys": ["K"], "refresh_s": -1})",
       "/zones/0/dnssec/refresh_s: expected a non-negative integer"},
      {"unknown denial", R"({"keys": ["K"], "denial": "nsec"})",
       "/zones/0/dnssec/denial: must be compact or nsec3"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    ErrorList errors;
    CHECK_FALSE(config::parseConfig(withDnssec(c.dnssec), "c.json", errors));
    CHECK_MESSAGE(errors.str().find(c.expect) != std::string::npos, errors.str());
  }
}
