// Policy and pool checks of the config: geo_map fences, and fallback pools
// whose regions the binding's policy never chooses.
#include <doctest/doctest.h>

#include <string>

#include "config/config.h"

using namespace geodns;

namespace {

// A config with one bound pool that falls back to "spare" (regions us, and
// `spareRegions` more), a policy with `steps`, and `nets`.
std::string configText(const std::string& steps, const std::string& spareRegions = "",
                       const std::string& nets = "{}") {
  return R"({
    "listen": ["127.0.0.1:53"],
    "geo": {"nets": )" +
         nets + R"(},
    "regions": {"us": {}, "eu": {}, "sorry": {}},
    "pools": {
      "web": {"all_down": "fallback", "fallback_pool": "spare", "regions": {
               "us": {"members": [{"address": "192.0.2.1"}]},
               "eu": {"members": [{"address": "198.51.100.1"}]}}},
      "spare": {"regions": {"us": {"members": [{"address": "192.0.2.9"}]})" +
         spareRegions + R"(}}
    },
    "policies": {"p": {"steps": )" +
         steps + R"(}},
    "bindings": [{"name": "www.example.test", "pool": "web", "policy": "p"}]
  })";
}

std::string errorsOf(const std::string& json) {
  ErrorList errors;
  config::parseConfig(json, "c.json", errors);
  return errors.str();
}

}  // namespace

TEST_CASE("a fallback pool must have a region of every geo_map list of the binding's policy") {
  struct Case {
    const char* what;
    std::string json;
    const char* expect;  // nullptr: no error
  };
  const std::string euOnly =
      R"([{"step": "geo_map", "map": {"continent:EU": ["eu"], "default": ["us", "eu"]}}])";
  const Case cases[] = {
      {"an EU list the fallback pool cannot answer", configText(euOnly),
       "/pools/web/fallback_pool: fallback pool 'spare' has none of the regions of "
       "/policies/p/steps/0/map/continent:EU; through binding 'www.example.test' those clients "
       "would get NODATA"},
      {"the fallback pool has the EU region",
       configText(euOnly, R"(, "eu": {"members": [{"address": "198.51.100.9"}]})"), nullptr},
      {"the list names a region only the fallback pool has",
       configText(
           R"([{"step": "geo_map", "map": {"continent:EU": ["eu", "sorry"], "default": ["us"]}}])",
           R"(, "sorry": {"members": [{"address": "203.0.113.9"}]})"),
       nullptr},
      {"a fenced list is checked the same way",
       configText(
           R"([{"step": "geo_map", "fence": true, "map": {"continent:EU": ["eu"], "default": ["us"]}}])"),
       "/steps/0/map/continent:EU"},
      {"a nets region list the fallback pool cannot answer",
       configText(R"([{"step": "nearest"}])", "", R"({"10.0.0.0/8": {"regions": ["eu"]}})"),
       "has none of the regions of /geo/nets/10.0.0.0~18 (used by policy 'p')"},
      {"no location step: the fallback pool's own order", configText(R"([{"step": "up"}])"),
       nullptr},
  };
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    const std::string errors = errorsOf(c.json);
    if (c.expect) {
      CHECK(errors.find(c.expect) != std::string::npos);
      CHECK(errors.find("c.json") == 0);  // the file, then the place
    } else {
      CHECK(errors == "");
    }
  }
}

TEST_CASE("geo_map fence: a boolean, parsed; only on geo_map") {
  ErrorList errors;
  auto cfg = config::parseConfig(
      configText(R"([{"step": "geo_map", "fence": true, "map": {"default": ["us"]}},
                 {"step": "geo_map", "map": {"default": ["us"]}}])"),
      "c.json", errors);
  REQUIRE(errors.empty());
  REQUIRE(cfg);
  CHECK(cfg->gslb.policies[0].steps[0].fence);
  CHECK_FALSE(cfg->gslb.policies[0].steps[1].fence);
  CHECK(errorsOf(configText(R"([{"step": "geo_map", "fence": "yes", "map": {"default": ["us"]}}])"))
            .find("/policies/p/steps/0/fence: expected true or false") != std::string::npos);
  CHECK(errorsOf(configText(R"([{"step": "nearest", "fence": true}])"))
            .find("/policies/p/steps/0/fence: unknown key") != std::string::npos);
}
