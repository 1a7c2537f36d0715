// Type mnemonics and RFC 3597 TYPEnnn: numbers past 65535 are refused, not
// wrapped (ldns reads them with atoi: TYPE65537 was A). Used by explain's
// type=, probe qtypes in the config and geodnsctl explain.
#include <doctest/doctest.h>
// clang-format off
#include <stdbool.h>  // before ldns: FIELD-NOTES.md
#include <ldns/ldns.h>
// clang-format on

#include <string>

#include "config/config.h"
#include "core/wire/types.h"

using namespace geodns;

TEST_CASE("typeFromText: mnemonics, TYPEnnn in range, and everything else is 0") {
  struct Case {
    const char* text;
    std::uint16_t type;
  };
  const Case cases[] = {
      {"A", 1},         {"aaaa", 28},          {"TYPE1", 1},
      {"type28", 28},   {"TYPE65535", 65535},  {"TYPE65536", 0},
      {"TYPE65537", 0}, {"TYPE4294967297", 0}, {"TYPE0", 0},
      {"TYPE-1", 0},    {"TYPE1x", 0},         {"TYPE", 0},
      {"TYPE 1", 0},    {"TYPE+1", 0},         {"NOSUCHTYPE", 0},
      {"", 0},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.text));
    CHECK(dns::typeFromText(c.text) == c.type);
  }
}

TEST_CASE("a probe's qtype above 65535 is a config error at its JSON path") {
  const std::string json = R"({
    "listen": ["127.0.0.1:53"], "zones": [],
    "probes": {"d": {"type": "dns", "port": 53, "name": "x.test", "qtype": "TYPE65537"}}
  })";
  ErrorList errors;
  config::parseConfig(json, "g.json", errors);
  bool found = false;
  for (const auto& e : errors.all())
    found = found || (e.str().find("/probes/d/qtype") != std::string::npos &&
                      e.str().find("TYPE65537") != std::string::npos);
  CHECK_MESSAGE(found, errors.str());
}

// The table in core/wire/types.cc replaced ldns's: it must name every type ldns
// names, the same way, and read every one of those names back.
TEST_CASE("core's type mnemonics agree with ldns for every type ldns knows") {
  int named = 0;
  for (unsigned t = 1; t <= 65535; ++t) {
    const ldns_rr_descriptor* d = ldns_rr_descript(static_cast<std::uint16_t>(t));
    if (!d || !d->_name || std::string(d->_name).rfind("TYPE", 0) == 0) continue;
    ++named;
    CAPTURE(t);
    CHECK(dns::typeToText(static_cast<std::uint16_t>(t)) == d->_name);
    CHECK(dns::typeFromText(d->_name) == t);
  }
  CHECK(named >= 74);  // ldns 1.8.3
  CHECK(dns::typeToText(54) == "TYPE54");
  CHECK(dns::typeToText(65535) == "TYPE65535");
}
