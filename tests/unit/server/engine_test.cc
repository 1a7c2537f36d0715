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

TEST_CASE("the question is copied byte for byte (0x20) and answers point at it") {
  for (const char* name : {"wWw.ExAmPlE.tEsT", "Some.WILD.example.test", "ALIAS.example.test"}) {
    CAPTURE(std::string(name));
    auto q = makeQuery({.name = name});
    auto r = ask({.name = name});
    REQUIRE(r.resp.ok);
    REQUIRE(r.len > q.size() + 2);
    std::vector<std::uint8_t> out(65535, 0xEE);
    const std::size_t len = answer(snap(), q, out, Transport::Udp);
    REQUIRE(len == r.len);
    CHECK(std::equal(q.begin() + 12, q.end(), out.begin() + 12));  // case kept
    CHECK(out[q.size()] == 0xC0);    // the first answer's owner: a pointer
    CHECK(out[q.size() + 1] == 12);  // ... to the question
  }
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

// Malformed and odd messages: each case gets a fresh output buffer full of
// garbage and only the returned length counts, so a dropped message can never
// pass on an earlier case's response.
struct Raw {
  std::size_t len;
  test::ParsedResponse resp;
  std::vector<std::uint8_t> bytes;  // the first `len` bytes of the output
};

Raw answerRaw(std::span<const std::uint8_t> msg, Transport t = Transport::Udp,
              const ServingSnapshot& s = snap()) {
  std::vector<std::uint8_t> out(65535, 0xEE);
  Raw r{};
  r.len = answer(s, msg, out, t);
  r.bytes.assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r.len));
  r.resp = parseResponse(r.bytes);
  return r;
}

std::size_t questionBytes(const QuerySpec& spec) {
  return makeQuery(spec).size() - 12;  // a query without EDNS: header + question
}

TEST_CASE("header checks") {
  SUBCASE("QR=1 is dropped") {
    auto q = makeQuery({.flags = 0x8000});
    CHECK(answerRaw(q).len == 0);
  }
  SUBCASE("short messages are dropped") {
    for (std::size_t n : {0, 1, 2, 11}) {
      CAPTURE(n);
      auto q = makeQuery({});
      CHECK(answerRaw(std::span(q).first(n)).len == 0);
    }
  }
  SUBCASE("opcodes other than QUERY get NOTIMP with the opcode echoed") {
    for (int op : {1, 2, 15}) {
      CAPTURE(op);
      auto r = answerRaw(makeQuery({.flags = static_cast<std::uint16_t>(op << 11)}));
      REQUIRE(r.len >= 12);
      REQUIRE(r.resp.ok);
      CHECK(r.resp.id == 0x4242);
      CHECK(r.resp.rcode() == 4);
      CHECK(((r.resp.flags >> 11) & 0xF) == op);
    }
  }
  SUBCASE("RD is copied, RA never set") {
    auto r = ask({.flags = 0x0100});
    CHECK((r.resp.flags & 0x0100) != 0);
    CHECK((r.resp.flags & 0x0080) == 0);
  }
}

TEST_CASE("class CH: version.bind and id.server when configured, REFUSED otherwise") {
  static auto withId = test::exampleSnapshot("ns1.geodns.test");
  struct ChCase {
    const char* what;
    const ServingSnapshot* snap;
    const char* name;
    std::uint16_t qtype;
    std::uint16_t rcode;
    const char* txt;  // expected TXT string; null: no answer
  };
  const ChCase cases[] = {
      {"version.bind", &snap(), "version.bind", 16, 0, "geodnsd-test"},
      {"version.server", &snap(), "version.server", 16, 0, "geodnsd-test"},
      {"id.server unset", &snap(), "id.server", 16, 5, nullptr},
      {"hostname.bind unset", &snap(), "hostname.bind", 16, 5, nullptr},
      {"id.server", withId.get(), "id.server", 16, 0, "ns1.geodns.test"},
      {"ID.Server, case-blind", withId.get(), "ID.Server", 16, 0, "ns1.geodns.test"},
      {"hostname.bind", withId.get(), "hostname.bind", 16, 0, "ns1.geodns.test"},
      {"id.server ANY", withId.get(), "id.server", 255, 0, "ns1.geodns.test"},
      {"id.server A", withId.get(), "id.server", 1, 5, nullptr},
      {"other CH name", withId.get(), "authors.bind", 16, 5, nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    auto r = answerRaw(makeQuery({.name = c.name, .qtype = c.qtype, .qclass = 3}), Transport::Udp,
                       *c.snap);
    REQUIRE(r.resp.ok);
    CHECK(r.resp.rcode() == c.rcode);
    if (!c.txt) {
      CHECK(r.resp.sections[0].empty());
      continue;
    }
    REQUIRE(r.resp.sections[0].size() == 1);
    const auto& rr = r.resp.sections[0][0];
    CHECK(rr.rrclass == 3);
    CHECK(rr.type == 16);
    const std::string want = c.txt;
    REQUIRE(rr.rdata.size() == want.size() + 1);
    CHECK(std::string(rr.rdata.begin() + 1, rr.rdata.end()) == want);
  }
  CHECK(ask({.name = "www.example.test", .qclass = 4}).resp.rcode() == 5);
}

TEST_CASE("QDCOUNT != 1 and broken sections are FORMERR") {
  const std::size_t question = questionBytes({});
  struct FormErrCase {
    const char* what;
    std::vector<std::uint8_t> msg;
    std::size_t len;  // expected response length
    std::uint16_t qd;
  };
  std::vector<FormErrCase> cases;
  {
    auto q = makeQuery({});
    q.resize(12);
    q[5] = 0;  // QDCOUNT 0: a bare header
    cases.push_back({"QDCOUNT 0", q, 12, 0});
  }
  {
    auto q = makeQuery({});
    q[5] = 2;  // QDCOUNT 2, only one question present
    cases.push_back({"QDCOUNT 2", q, 12, 0});
  }
  {
    auto q = makeQuery({});
    auto second = std::vector<std::uint8_t>(q.begin() + 12, q.end());
    q.insert(q.end(), second.begin(), second.end());
    q[5] = 2;  // two whole questions
    cases.push_back({"two questions", q, 12, 0});
  }
  {
    auto q = makeQuery({.edns = true});
    q[7] = 1;  // ANCOUNT 1: the OPT is read as an answer RR, then ARCOUNT has nothing left
    cases.push_back({"ANCOUNT without the record", q, 12 + question, 1});
  }
  {
    auto q = makeQuery({});
    q.push_back(0);  // a trailing byte where the question ends is fine...
    q[11] = 1;       // ...but ARCOUNT 1 makes it a truncated record
    cases.push_back({"truncated additional record", q, 12 + question, 1});
  }
  {
    auto q = makeQuery({.edns = true});
    q[q.size() - 11] = 1;  // OPT owner not the root
    cases.push_back({"OPT owner not root", q, 12 + question, 1});
  }
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    for (Transport t : {Transport::Udp, Transport::Tcp}) {
      auto r = answerRaw(c.msg, t);
      REQUIRE(r.len == c.len);
      REQUIRE(r.resp.ok);
      CHECK(r.resp.id == 0x4242);
      CHECK((r.resp.flags & 0x8000) != 0);  // QR
      CHECK(r.resp.rcode() == 1);
      CHECK(r.resp.qd == c.qd);
      CHECK_FALSE(r.resp.hasOpt);  // the OPT was not accepted
    }
  }
}

TEST_CASE("two OPT records are FORMERR, without an OPT in the response") {
  auto q = makeQuery({.edns = true});
  const std::uint8_t opt[] = {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0};
  q.insert(q.end(), std::begin(opt), std::end(opt));
  q[11] = 2;
  auto r = answerRaw(q);
  REQUIRE(r.len == 12 + questionBytes({}));
  CHECK(r.resp.rcode() == 1);
  CHECK_FALSE(r.resp.hasOpt);
}

TEST_CASE("EDNS sizes under 512 mean 512 (RFC 6891 s6.2.5)") {
  // Responses of 100..512 bytes: asked with a smaller size they are sent
  // whole, exactly as with 512.
  for (const QuerySpec& base :
       {QuerySpec{.name = "a.sub.example.test"}, QuerySpec{.name = "example.test", .qtype = 15},
        QuerySpec{.name = "_sip._udp.example.test", .qtype = 33}}) {
    CAPTURE(base.name);
    QuerySpec at512 = base;
    at512.edns = true;
    at512.udpSize = 512;
    auto full = answerRaw(makeQuery(at512));
    REQUIRE(full.len > 100);
    CHECK_FALSE(full.resp.tc());
    for (std::uint16_t size : std::initializer_list<std::uint16_t>{0, 1, 100, 511}) {
      CAPTURE(size);
      QuerySpec small = at512;
      small.udpSize = size;
      auto r = answerRaw(makeQuery(small));
      CHECK(r.bytes == full.bytes);
    }
  }
}

namespace {

// A pool of 16 IPv4 and 16 IPv6 members, all answered (max_answers 16), bound
// to a name long enough that the 16 AAAA records do not fit in 512 bytes.
const std::string kLongLabel(50, 'x');

std::string bigPoolConfig() {
  std::string v4, v6;
  for (int i = 1; i <= 16; ++i) {
    v4 += std::string(i > 1 ? "," : "") + "{\"address\": \"192.0.2." + std::to_string(i) + "\"}";
    v6 += std::string(i > 1 ? "," : "") + "{\"address\": \"2001:db8::" + std::to_string(i) + "\"}";
  }
  return R"({"listen": ["127.0.0.1:53"], "zones": [{"origin": "tc.test", "file": "ZONE"}],
    "regions": {"a": {}},
    "pools": {"many": {"ttl": 60, "max_answers": 16, "regions": {"a": {"members": [)" +
         v4 + "," + v6 + R"(]}}}},
    "policies": {"all": {"steps": []}},
    "bindings": [{"name": ")" +
         kLongLabel + R"(.tc.test", "pool": "many", "policy": "all"}]})";
}

}  // namespace

TEST_CASE("a pool answer that does not fit is cut whole with TC=1, never an empty NOERROR") {
  test::TempDir dir;
  auto pool = test::snapshotFromJson(dir, "tc.test", bigPoolConfig());
  const std::string name = kLongLabel + ".tc.test";
  struct TcCase {
    const char* what;
    std::uint16_t qtype;
    bool edns;
    std::uint16_t udpSize;
    Transport transport;
    bool tc;
    std::size_t records;
    std::size_t maxLen;
  };
  const TcCase cases[] = {
      {"AAAA, no EDNS: 524 bytes > 512", 28, false, 0, Transport::Udp, true, 0, 512},
      {"AAAA, EDNS 512", 28, true, 512, Transport::Udp, true, 0, 512},
      {"AAAA, EDNS under 512 is 512", 28, true, 200, Transport::Udp, true, 0, 512},
      {"AAAA, EDNS 1232", 28, true, 1232, Transport::Udp, false, 16, 1232},
      {"AAAA over TCP", 28, false, 0, Transport::Tcp, false, 16, 65535},
      {"A (16 x 16 bytes) fits in 512", 1, false, 0, Transport::Udp, false, 16, 512},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    QueryFacts facts;
    std::vector<std::uint8_t> out(65535, 0xEE);
    auto q = makeQuery({.name = name, .qtype = c.qtype, .edns = c.edns, .udpSize = c.udpSize});
    const std::size_t len = answer(*pool, q, out, c.transport, {}, &facts);
    auto r = parseResponse({out.data(), len});
    REQUIRE(r.ok);
    CHECK(len <= c.maxLen);
    CHECK(r.rcode() == 0);
    CHECK(r.tc() == c.tc);
    CHECK(facts.truncated == c.tc);
    CHECK(r.sections[0].size() == c.records);
    CHECK(r.hasOpt == c.edns);
  }
}

TEST_CASE("referral glue that does not fit sets TC (RFC 9471); TCP carries all of it") {
  std::string zone =
      "$ORIGIN glue.test.\n$TTL 300\n@ SOA ns h 1 2 3 4 30\n@ NS ns\nns A 192.0.2.53\n";
  for (int i = 10; i < 22; ++i) {
    const std::string ns = "ns" + std::to_string(i) + ".big";
    zone += "big NS " + ns + "\n" + ns + " A 192.0.2." + std::to_string(i) + "\n" + ns +
            " AAAA 2001:db8::" + std::to_string(i) + "\n";
  }
  test::TempDir dir;
  auto glue = test::snapshotFromZone(dir, "glue.test", zone);
  struct GlueCase {
    const char* what;
    bool edns;
    Transport transport;
    bool tc;
  };
  const GlueCase cases[] = {
      {"UDP 512: 12 NS fit, 24 glue records do not", false, Transport::Udp, true},
      {"EDNS 1232: everything fits", true, Transport::Udp, false},
      {"TCP: everything", false, Transport::Tcp, false},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    QueryFacts facts;
    std::vector<std::uint8_t> out(65535, 0xEE);
    auto q = makeQuery({.name = "www.big.glue.test", .edns = c.edns});
    const std::size_t len = answer(*glue, q, out, c.transport, {}, &facts);
    auto r = parseResponse({out.data(), len});
    REQUIRE(r.ok);
    CHECK(facts.outcome == Outcome::Referral);
    CHECK_FALSE(r.aa());
    CHECK(r.tc() == c.tc);
    CHECK(r.sections[1].size() == 12);  // the NS RRset itself always fits here
    if (!c.tc) CHECK(r.sections[2].size() == 24);
    if (c.transport == Transport::Udp) CHECK(len <= (c.edns ? 1232u : 512u));
  }
}
