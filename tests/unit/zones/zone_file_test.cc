#include <doctest/doctest.h>

#include "support/temp_dir.h"
#include "zones/zone_file.h"

using namespace geodns;
using namespace std::string_literals;
using geodns::test::TempDir;

TEST_CASE("parses $ORIGIN, $TTL, relative names and RFC 3597 types") {
  TempDir d;
  auto f = d.write("z.zone",
                   "$TTL 120\n"
                   "@ SOA ns h 1 2 3 4 5\n"
                   "@ NS ns\n"
                   "ns A 192.0.2.1\n"
                   "$ORIGIN sub.z.test.\n"
                   "www 30 AAAA 2001:db8::1\n"
                   "u TYPE65000 \\# 2 abcd\n"
                   "m MX 10 Mail.Z.Test.\n");
  ErrorList errors;
  auto rrs = zones::parseZoneFile(f, "z.test", errors);
  REQUIRE(errors.empty());
  REQUIRE(rrs.size() == 6);
  CHECK(rrs[0].type == 6);
  CHECK(rrs[0].ttl == 120);
  CHECK(rrs[0].nameCount == 2);  // SOA: MNAME and RNAME are compressible names
  CHECK(rrs[3].owner == "\3www\3sub\1z\4test\0"s);
  CHECK(rrs[3].ttl == 30);
  CHECK(rrs[4].type == 65000);
  CHECK(rrs[4].rdata == "\xab\xcd");
  CHECK(rrs[5].rdata.substr(2) == "\4mail\1z\4test\0"s);  // lowercased
  CHECK(rrs[5].namePos[0] == 2);
  CHECK(rrs[1].where() == f + ":3");
}

TEST_CASE("every syntax error is reported with file:line and parsing goes on") {
  TempDir d;
  auto f = d.write("z.zone",
                   "$ORIGIN z.test.\n"
                   "a A 192.0.2.1\n"
                   "b A 300.0.0.1\n"
                   "c A 192.0.2.3\n"
                   "d BOGUSTYPE x\n"
                   "e AAAA ::1\n");
  ErrorList errors;
  auto rrs = zones::parseZoneFile(f, "z.test", errors);
  REQUIRE(errors.size() == 2);
  CHECK(errors.all()[0].where == f + ":3");
  CHECK(errors.all()[1].where == f + ":5");
  CHECK(rrs.size() == 3);  // a, c, e
}

TEST_CASE("$INCLUDE is relative to the including file, with an optional origin") {
  TempDir d;
  d.write("inc/hosts", "www A 192.0.2.9\n");
  d.write("inc/other", "x A 192.0.2.10\n");
  auto f = d.write("inc/main.zone",
                   "$ORIGIN z.test.\n"
                   "$INCLUDE hosts\n"
                   "$INCLUDE other o.z.test.\n"
                   "after A 192.0.2.11\n"
                   "$INCLUDE missing\n");
  ErrorList errors;
  auto rrs = zones::parseZoneFile(f, "z.test", errors);
  REQUIRE(rrs.size() == 3);
  CHECK(rrs[0].owner == "\3www\1z\4test\0"s);
  CHECK(rrs[1].owner == "\1x\1o\1z\4test\0"s);
  CHECK(rrs[2].owner == "\5after\1z\4test\0"s);
  REQUIRE(errors.size() == 1);
  CHECK(errors.all()[0].message.find("cannot open") != std::string::npos);
}

TEST_CASE("a missing file is an error naming it") {
  ErrorList errors;
  zones::parseZoneFile("/nonexistent/zone", "z.test", errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors.all()[0].where == "/nonexistent/zone");
}
