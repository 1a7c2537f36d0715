// Errors found by the parser carry their exact place: file, line:column of the
// value, JSON pointer. The checks here used to be made later (Gslb::build)
// with a vaguer place.
#include <doctest/doctest.h>

#include <string>

#include "config/config.h"

using namespace geodns;

namespace {

struct BadPlace {
  const char* what;
  std::string json;     // one line
  const char* mark;     // the text the error's column points at (its first occurrence)
  const char* pointer;  // the JSON pointer of the error
  const char* message;  // the whole message
};

std::string policy(const std::string& map) {
  return R"({"listen": ["127.0.0.1:53"], "regions": {"r1": {}}, "policies": {"x": {"steps": [{"step": "geo_map", "map": )" +
         map + "}]}}}";
}

}  // namespace

TEST_CASE("errors name their exact place") {
  const BadPlace cases[] = {
      {"geo_map country code of three letters", policy(R"({"country:USA": ["r1"]})"), "[\"r1\"]",
       "/policies/x/steps/0/map/country:USA", "bad code 'USA' for country"},
      {"geo_map continent code of one letter", policy(R"({"continent:e": ["r1"]})"), "[\"r1\"]",
       "/policies/x/steps/0/map/continent:e", "bad code 'E' for continent"},
      {"geo_map subdivision without a dash", policy(R"({"subdivision:USCA": ["r1"]})"), "[\"r1\"]",
       "/policies/x/steps/0/map/subdivision:USCA", "bad code 'USCA' for subdivision"},
      {"geo_map key written twice in different case",
       policy(R"({"country:us": ["r1"], "country:US": ["r1"]})"), "[\"r1\"]}",
       "/policies/x/steps/0/map/country:US", "the same key as 'country:us'"},
      {"geo_map key of an unknown kind", policy(R"({"city:x": ["r1"]})"), "[\"r1\"]",
       "/policies/x/steps/0/map/city:x",
       "key must be default, country:CC, continent:CC, subdivision:CC-XX or label:NAME"},
      {"geo_map key with a slash is escaped in the pointer", policy(R"({"label:a/b": 1})"), "1}",
       "/policies/x/steps/0/map/label:a~1b", "expected a non-empty array of region names"},
      {"pool all_down",
       R"({"listen": ["127.0.0.1:53"], "regions": {"r1": {}}, "pools": {"p": {"all_down": "never", "regions": {"r1": {"cname": "a.test"}}}}})",
       "\"never\"", "/pools/p/all_down", "must be fail_open, fallback, nodata or servfail"},
      {"probe qtype",
       R"({"listen": ["127.0.0.1:53"], "probes": {"pr": {"type": "dns", "name": "x.test", "qtype": "AX"}}})",
       "\"AX\"", "/probes/pr/qtype", "unknown type 'AX'"},
      {"probe rcode",
       R"({"listen": ["127.0.0.1:53"], "probes": {"pr": {"type": "dns", "name": "x.test", "rcode": "BADKEY"}}})",
       "\"BADKEY\"", "/probes/pr/rcode",
       "must be NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP or REFUSED"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    ErrorList errors;
    CHECK_FALSE(config::parseConfig(c.json, "c.json", errors));
    const auto col = c.json.find(c.mark);
    REQUIRE(col != std::string::npos);
    const std::string want =
        "c.json:1:" + std::to_string(col + 1) + " " + c.pointer + ": " + c.message + "\n";
    CHECK(errors.str() == want);
  }
}
