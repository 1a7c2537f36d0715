// The closed sets of names in the config (config.h): each name parses to its
// enum, a bad name is an error at its JSON path, and toText() gives the name
// back.
#include <doctest/doctest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"

using namespace geodns;

namespace {

// Every entry of an enum's table round-trips, names and values are distinct,
// and the values are 0..N-1 (so a new enumerator without a name shows).
template <class E>
void checkTable(const char* what) {
  CAPTURE(std::string(what));
  const auto& table = config::names(E{});
  std::set<std::string_view> seenNames;
  std::set<unsigned> seenValues;
  for (const auto& e : table) {
    CAPTURE(std::string(e.name));
    CHECK(config::toText(e.value) == e.name);
    CHECK(config::fromText<E>(e.name) == e.value);
    CHECK(seenNames.insert(e.name).second);
    CHECK(seenValues.insert(static_cast<unsigned>(e.value)).second);
    CHECK(static_cast<unsigned>(e.value) < table.size());
  }
  CHECK_FALSE(config::fromText<E>(""));
  CHECK_FALSE(config::fromText<E>("bogus"));
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
  return out;
}

}  // namespace

TEST_CASE("enum name tables round-trip") {
  checkTable<config::GeoLayout>("geo layout");
  checkTable<config::ProbeType>("probe type");
  checkTable<config::ProbeState>("probe state");
  checkTable<config::AllDown>("all_down");
  checkTable<config::Failback>("failback");
  checkTable<log::Format>("log format");
  checkTable<log::Level>("log level");
  // Names are as written in JSON: case matters.
  CHECK_FALSE(config::fromText<config::ProbeType>("HTTP"));
  CHECK_FALSE(config::fromText<config::AllDown>(upper("nodata")));
}

TEST_CASE("step kinds: config/steps.h names round-trip through toText") {
  for (const auto& s : config::kSteps) {
    CAPTURE(std::string(s.name));
    CHECK(config::toText(s.kind) == s.name);
    CHECK(config::stepFromName(config::toText(s.kind)) == s.kind);
  }
  CHECK_FALSE(config::stepFromName("magic"));
}

namespace {

// One field of the config whose value is a closed set: the config with
// `value` there, the JSON pointer of the field, and how to read it back.
struct EnumField {
  const char* what;
  std::function<std::string(const std::string& value)> json;
  const char* pointer;
  std::vector<std::string> names;  // every valid name
  std::function<std::string_view(const config::ServerConfig&)> read;
  const char* badMessage;  // the start of the message for a bad value
};

const std::string kListen = R"("listen": ["127.0.0.1:53"])";
// One line, so that every error is on line 1.
const std::string kPool =
    R"("regions": {"r1": {}, "r2": {}}, "pools": {"p": {"regions": {)"
    R"("r1": {"members": [{"address": "192.0.2.1"}]}, "r2": {"members": [{"address": "192.0.2.2"}]}})";

std::vector<EnumField> enumFields() {
  return {
      {"geo database layout",
       [](const std::string& v) {
         return "{" + kListen + R"(, "geo": {"databases": [{"file": "x.mmdb", "layout": ")" + v +
                "\"}]}}";
       },
       "/geo/databases/0/layout",
       {"auto", "geoip2", "flat", "asn"},
       [](const config::ServerConfig& c) { return config::toText(c.gslb.databases[0].layout); },
       "must be auto, geoip2, flat or asn"},
      {"asn database layout",
       [](const std::string& v) {
         return "{" + kListen + R"(, "geo": {"asn_database": {"file": "a.mmdb", "layout": ")" + v +
                "\"}}}";
       },
       "/geo/asn_database/layout",
       {"auto", "geoip2", "flat", "asn"},
       [](const config::ServerConfig& c) { return config::toText(c.gslb.asnDatabase->layout); },
       "must be auto, geoip2, flat or asn"},
      {"probe type",
       [](const std::string& v) {
         return "{" + kListen + R"(, "probes": {"pr": {"type": ")" + v +
                R"(", "name": "x.test"}}})";
       },
       "/probes/pr/type",
       {"http", "https", "tcp", "dns"},
       [](const config::ServerConfig& c) { return config::toText(c.gslb.probes[0].type); },
       "must be http, https, tcp or dns"},
      {"probe initial",
       [](const std::string& v) {
         return "{" + kListen + R"(, "probes": {"pr": {"type": "tcp", "initial": ")" + v + "\"}}}";
       },
       "/probes/pr/initial",
       {"up", "down"},
       [](const config::ServerConfig& c) { return config::toText(c.gslb.probes[0].initial); },
       "must be up or down"},
      {"probe unknown_as",
       [](const std::string& v) {
         return "{" + kListen + R"(, "probes": {"pr": {"type": "tcp", "unknown_as": ")" + v +
                "\"}}}";
       },
       "/probes/pr/unknown_as",
       {"up", "down"},
       [](const config::ServerConfig& c) { return config::toText(c.gslb.probes[0].unknownAs); },
       "must be up or down"},
      {"pool all_down",
       [](const std::string& v) {
         // fallback needs a fallback pool; the others refuse one.
         const std::string fb = v == "fallback" ? R"(, "fallback_pool": "q")" : "";
         return "{" + kListen + ", " + kPool + R"(, "all_down": ")" + v + "\"" + fb +
                R"(}, "q": {"regions": {"r1": {"members": [{"address": "192.0.2.9"}]}}}}})";
       },
       "/pools/p/all_down",
       {"fail_open", "fallback", "nodata", "servfail"},
       [](const config::ServerConfig& c) { return config::toText(c.gslb.pools[0].allDown); },
       "must be fail_open, fallback, nodata or servfail"},
      {"pool failover failback",
       [](const std::string& v) {
         return "{" + kListen + ", " + kPool +
                R"(, "failover": {"primary": "r1", "standby": ["r2"], "failback": ")" + v +
                "\"}}}}";
       },
       "/pools/p/failover/failback",
       {"auto", "manual"},
       [](const config::ServerConfig& c) { return config::toText(c.gslb.pools[0].failback); },
       "must be auto or manual"},
      {"policy step",
       [](const std::string& v) {
         const std::string extra = v == "geo_map"   ? R"(, "map": {"default": ["r1"]})"
                                   : v == "first_n" ? R"(, "n": 1)"
                                                    : "";
         return "{" + kListen +
                R"(, "regions": {"r1": {}}, "policies": {"x": {"steps": [{"step": ")" + v + "\"" +
                extra + "}]}}}";
       },
       "/policies/x/steps/0/step",
       {"geo_map", "nearest", "first_n", "weighted", "up", "shed_load", "latency",
        "capacity_weighted", "failover"},
       [](const config::ServerConfig& c) {
         return config::toText(c.gslb.policies[0].steps[0].kind);
       },
       "unknown step 'bogus' (geo_map, nearest, first_n, weighted, up, shed_load, latency, "
       "capacity_weighted, failover)"},
      {"log format",
       [](const std::string& v) { return "{" + kListen + R"(, "log": {"format": ")" + v + "\"}}"; },
       "/log/format",
       {"logfmt", "json"},
       [](const config::ServerConfig& c) { return config::toText(*c.log.format); },
       "expected \"logfmt\" or \"json\""},
      {"log level",
       [](const std::string& v) { return "{" + kListen + R"(, "log": {"level": ")" + v + "\"}}"; },
       "/log/level",
       {"debug", "info", "warn", "error"},
       [](const config::ServerConfig& c) { return config::toText(*c.log.level); },
       "expected debug, info, warn or error"},
  };
}

}  // namespace

TEST_CASE("every name of a closed set parses to its value; a bad one is an error at its path") {
  for (const auto& f : enumFields()) {
    CAPTURE(std::string(f.what));
    for (const auto& name : f.names) {
      CAPTURE(name);
      ErrorList errors;
      auto cfg = config::parseConfig(f.json(name), "c.json", errors);
      CHECK(errors.str() == "");
      REQUIRE(cfg);
      CHECK(f.read(*cfg) == name);
    }
    ErrorList errors;
    CHECK_FALSE(config::parseConfig(f.json("bogus"), "c.json", errors));
    REQUIRE(errors.size() == 1);
    const auto& e = errors.all()[0];
    CHECK(e.where.rfind("c.json:1:", 0) == 0);  // file:line:column of the value
    CHECK(e.where.substr(e.where.find(' ') + 1) == f.pointer);
    CHECK(e.message == f.badMessage);
  }
}

TEST_CASE("enum defaults when the key is absent") {
  ErrorList errors;
  auto cfg =
      config::parseConfig("{" + kListen + ", " + kPool + R"(}}, "probes": {"pr": {"type": "http"}},
    "geo": {"databases": [{"file": "x.mmdb"}]}})",
                          "c.json", errors);
  CHECK(errors.str() == "");
  REQUIRE(cfg);
  CHECK(cfg->gslb.databases[0].layout == config::GeoLayout::Auto);
  CHECK(cfg->gslb.probes[0].initial == config::ProbeState::Up);
  CHECK(cfg->gslb.probes[0].unknownAs == config::ProbeState::Up);
  CHECK(cfg->gslb.pools[0].allDown == config::AllDown::FailOpen);
  CHECK(cfg->gslb.pools[0].failback == config::Failback::Auto);
  CHECK_FALSE(cfg->log.format);
  CHECK_FALSE(cfg->log.level);
}

TEST_CASE("dns probe qtype and rcode are parsed to numbers once") {
  struct Case {
    const char* qtype;
    const char* rcode;
    std::uint16_t type;
    std::uint8_t rc;
  };
  const Case cases[] = {{"A", "NOERROR", 1, 0},     {"AAAA", "NXDOMAIN", 28, 3},
                        {"TXT", "SERVFAIL", 16, 2}, {"SOA", "REFUSED", 6, 5},
                        {"MX", "FORMERR", 15, 1},   {"NS", "NOTIMP", 2, 4}};
  for (const auto& c : cases) {
    CAPTURE(std::string(c.qtype));
    ErrorList errors;
    auto cfg = config::parseConfig(
        "{" + kListen + R"(, "probes": {"pr": {"type": "dns", "name": "x.test", "qtype": ")" +
            c.qtype + R"(", "rcode": ")" + c.rcode + "\"}}}",
        "c.json", errors);
    CHECK(errors.str() == "");
    REQUIRE(cfg);
    CHECK(cfg->gslb.probes[0].dnsType == c.type);
    CHECK(cfg->gslb.probes[0].dnsRcode == c.rc);
  }
  ErrorList errors;
  auto cfg = config::parseConfig(
      "{" + kListen + R"(, "probes": {"pr": {"type": "dns", "name": "x.test"}}})", "c.json",
      errors);
  REQUIRE(cfg);
  CHECK(cfg->gslb.probes[0].dnsType == 1);   // A
  CHECK(cfg->gslb.probes[0].dnsRcode == 0);  // NOERROR
}
