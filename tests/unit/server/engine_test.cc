#include <doctest/doctest.h>

#include <array>
#include <vector>

#include "server/engine.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"

using namespace geodns;
using namespace geodns::server;
using geodns::test::makeQuery;
using geodns::test::parseResponse;
using geodns::test::QuerySpec;

namespace {

const ServingSnapshot& snap() {
  static auto s = geodns::test::exampleSnapshot();
  return *s;
}

struct Result {
  std::size_t len;
  test::ParsedResponse resp;
  QueryFacts facts;
};

Result ask(const QuerySpec& spec, Transport t = Transport::Udp) {
  static std::vector<std::uint8_t> out(65535);
  std::fill(out.begin(), out.end(), 0xEE);  // garbage shows a missing write
  auto q = makeQuery(spec);
  Result r{};
  r.len = answer(snap(), q, out, t, {}, &r.facts);
  r.resp = parseResponse({out.data(), r.len});
  return r;
}

std::vector<std::uint16_t> types(const std::vector<test::ParsedRR>& s) {
  std::vector<std::uint16_t> t;
  for (const auto& rr : s) t.push_back(rr.type);
  return t;
}

}  // namespace

struct LookupCase {
  const char* what;
  const char* name;
  std::uint16_t qtype;
  std::uint16_t rcode;
  bool aa;
  std::vector<std::uint16_t> answer;
  std::vector<std::uint16_t> authority;
  Outcome outcome;
};

TEST_CASE("lookup semantics") {
  const std::uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, MX = 15, TXT = 16, AAAA = 28, DS = 43;
  const LookupCase cases[] = {
      {"exact", "www.example.test", A, 0, true, {A}, {}, Outcome::Answer},
      {"case-insensitive", "WWW.Example.TEST", AAAA, 0, true, {AAAA}, {}, Outcome::Answer},
      {"nxdomain", "nope.example.test", A, 3, true, {}, {SOA}, Outcome::NXDomain},
      {"nodata", "www.example.test", MX, 0, true, {}, {SOA}, Outcome::NoData},
      {"empty non-terminal", "ent.example.test", A, 0, true, {}, {SOA}, Outcome::NoData},
      {"cname chain", "chain.example.test", A, 0, true, {CNAME, CNAME, A}, {}, Outcome::Answer},
      {"cname to nodata", "alias.example.test", MX, 0, true, {CNAME}, {SOA}, Outcome::Answer},
      {"cname loop", "loop1.example.test", A, 0, true, {CNAME, CNAME}, {}, Outcome::Answer},
      {"cname out of zone", "external.example.test", A, 0, true, {CNAME}, {}, Outcome::Answer},
      {"cname to nxdomain", "tonx.example.test", A, 3, true, {CNAME}, {SOA}, Outcome::NXDomain},
      {"wildcard", "a.wild.example.test", TXT, 0, true, {TXT}, {}, Outcome::Answer},
      {"wildcard deep", "a.b.wild.example.test", A, 0, true, {A}, {}, Outcome::Answer},
      {"wildcard nodata", "a.wild.example.test", MX, 0, true, {}, {SOA}, Outcome::NoData},
      {"no wildcard below existing",
       "x.host.wild.example.test",
       A,
       3,
       true,
       {},
       {SOA},
       Outcome::NXDomain},
      {"wildcard cname", "z.cwild.example.test", A, 0, true, {CNAME, A}, {}, Outcome::Answer},
      {"referral", "a.sub.example.test", A, 0, false, {}, {NS, NS}, Outcome::Referral},
      {"referral at cut", "sub.example.test", NS, 0, false, {}, {NS, NS}, Outcome::Referral},
      {"DS at cut", "sub.example.test", DS, 0, true, {DS}, {}, Outcome::Answer},
      {"DS below cut is a referral",
       "x.sub.example.test",
       DS,
       0,
       false,
       {},
       {NS, NS},
       Outcome::Referral},
      {"DS of loaded child from parent",
       "child.example.test",
       DS,
       0,
       true,
       {DS},
       {},
       Outcome::Answer},
      {"child zone answers", "www.child.example.test", A, 0, true, {A}, {}, Outcome::Answer},
      {"child apex SOA", "child.example.test", SOA, 0, true, {SOA}, {}, Outcome::Answer},
      {"outside every zone", "www.example.org", A, 5, false, {}, {}, Outcome::Refused},
      {"ANY is one RRset", "www.example.test", 255, 0, true, {A}, {}, Outcome::Answer},
      {"ANY at empty name", "ent.example.test", 255, 0, true, {}, {SOA}, Outcome::NoData},
      {"IXFR refused", "example.test", 251, 5, false, {}, {}, Outcome::Refused},
      {"qtype OPT", "example.test", 41, 0, true, {}, {SOA}, Outcome::NoData},
  };
  for (const auto& c : cases) {
    std::string what = c.what;
    CAPTURE(what);
    for (Transport t : {Transport::Udp, Transport::Tcp}) {
      auto r = ask({.name = c.name, .qtype = c.qtype}, t);
      REQUIRE(r.resp.ok);
      CHECK(r.resp.id == 0x4242);
      CHECK(r.resp.rcode() == c.rcode);
      CHECK(r.resp.aa() == c.aa);
      CHECK(types(r.resp.sections[0]) == c.answer);
      CHECK(types(r.resp.sections[1]) == c.authority);
      CHECK(r.facts.outcome == c.outcome);
    }
  }
}

TEST_CASE("wildcard answers carry the query name as owner") {
  auto r = ask({.name = "Some.Wild.example.test", .qtype = 1});
  REQUIRE(r.resp.sections[0].size() == 1);
  CHECK(r.resp.sections[0][0].owner == "some.wild.example.test.");
}

TEST_CASE("negative answers use min(SOA TTL, MINIMUM)") {
  CHECK(ask({.name = "nope.example.test"}).resp.sections[1][0].ttl == 300);
  CHECK(ask({.name = "nope.child.example.test"}).resp.sections[1][0].ttl == 60);
}

TEST_CASE("additional section: glue for referrals, addresses for MX/SRV/NS") {
  auto r = ask({.name = "a.sub.example.test"});
  CHECK(types(r.resp.sections[2]) == std::vector<std::uint16_t>{1, 28});
  r = ask({.name = "example.test", .qtype = 15});
  CHECK(types(r.resp.sections[2]) == std::vector<std::uint16_t>{1, 28});
  r = ask({.name = "_sip._udp.example.test", .qtype = 33});
  CHECK(types(r.resp.sections[2]) == std::vector<std::uint16_t>{1});
  r = ask({.name = "example.test", .qtype = 2});
  CHECK(r.resp.sections[2].size() == 2);
}

TEST_CASE("EDNS: OPT echoed with our size, DO copied, BADVERS, payload floor") {
  auto r = ask({.edns = true, .udpSize = 4096, .dnssecOk = true});
  CHECK(r.resp.hasOpt);
  CHECK(r.resp.optPayload == 1232);
  CHECK((r.resp.optTtl & 0x8000) != 0);
  r = ask({.edns = true, .version = 1});
  CHECK(r.resp.hasOpt);
  CHECK(r.resp.rcode() == 0);
  CHECK((r.resp.optTtl >> 24) == 1);  // extended rcode 16 = BADVERS
  CHECK(r.facts.outcome == Outcome::BadVers);
  r = ask({});
  CHECK_FALSE(r.resp.hasOpt);
  r = ask({.name = "big.example.test", .qtype = 16, .edns = true, .udpSize = 100});
  CHECK(r.len <= 512);
  CHECK(r.resp.tc());
  CHECK(r.resp.hasOpt);  // OPT always fits: its space is reserved
}

TEST_CASE("truncation cuts at RRset boundaries; TCP is complete") {
  auto r = ask({.name = "bigalias.example.test", .qtype = 16});
  CHECK(r.len <= 512);
  CHECK(r.resp.tc());
  CHECK(types(r.resp.sections[0]) == std::vector<std::uint16_t>{5});
  r = ask({.name = "bigalias.example.test", .qtype = 16}, Transport::Tcp);
  CHECK_FALSE(r.resp.tc());
  CHECK(r.resp.sections[0].size() == 31);
  r = ask({.name = "big.example.test", .qtype = 16, .edns = true, .udpSize = 1000});
  CHECK(r.len <= 1000);
  CHECK(r.resp.tc());
}

TEST_CASE("header checks") {
  SUBCASE("QR=1 is dropped") {
    auto q = makeQuery({.flags = 0x8000});
    std::array<std::uint8_t, 512> out{};
    CHECK(answer(snap(), q, out, Transport::Udp) == 0);
  }
  SUBCASE("short messages are dropped") {
    std::array<std::uint8_t, 11> q{};
    std::array<std::uint8_t, 512> out{};
    CHECK(answer(snap(), q, out, Transport::Udp) == 0);
  }
  SUBCASE("opcodes other than QUERY get NOTIMP with the opcode echoed") {
    for (int op : {1, 2, 15}) {
      auto r = ask({.flags = static_cast<std::uint16_t>(op << 11)});
      CHECK(r.resp.rcode() == 4);
      CHECK(((r.resp.flags >> 11) & 0xF) == op);
    }
  }
  SUBCASE("RD is copied, RA never set") {
    auto r = ask({.flags = 0x0100});
    CHECK((r.resp.flags & 0x0100) != 0);
    CHECK((r.resp.flags & 0x0080) == 0);
  }
  SUBCASE("class CH: configured version.bind, REFUSED otherwise") {
    auto r = ask({.name = "version.bind", .qtype = 16, .qclass = 3});
    CHECK(r.resp.rcode() == 0);
    REQUIRE(r.resp.sections[0].size() == 1);
    CHECK(r.resp.sections[0][0].rrclass == 3);
    CHECK(ask({.name = "id.server", .qtype = 16, .qclass = 3}).resp.rcode() == 5);
    CHECK(ask({.name = "www.example.test", .qclass = 4}).resp.rcode() == 5);
  }
}

TEST_CASE("QDCOUNT != 1 and broken sections are FORMERR") {
  std::array<std::uint8_t, 512> out{};
  auto q = makeQuery({});
  q[5] = 2;  // QDCOUNT 2, only one question present
  auto len = answer(snap(), q, out, Transport::Udp);
  REQUIRE(len >= 12);
  CHECK((out[3] & 0xF) == 1);
  q = makeQuery({});
  q[5] = 0;
  len = answer(snap(), std::span(q).first(12), out, Transport::Udp);
  CHECK((out[3] & 0xF) == 1);
  CHECK(out[5] == 0);  // no question echoed
  q = makeQuery({.edns = true});
  q[7] = 1;  // ANCOUNT 1: the OPT is read as an answer RR, then ARCOUNT has nothing left
  len = answer(snap(), q, out, Transport::Udp);
  CHECK((out[3] & 0xF) == 1);
}

TEST_CASE("two OPT records are FORMERR") {
  auto q = makeQuery({.edns = true});
  const std::uint8_t opt[] = {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0};
  q.insert(q.end(), std::begin(opt), std::end(opt));
  q[11] = 2;
  std::array<std::uint8_t, 512> out{};
  REQUIRE(answer(snap(), q, out, Transport::Udp) > 0);
  CHECK((out[3] & 0xF) == 1);
}
