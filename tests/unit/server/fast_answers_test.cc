// The precompiled path (server/fast_answers.h) against the general path: for
// every name of the test zones, names below and beside them, many types and
// the query shapes resolvers send, the two must give the same bytes, the same
// facts and the same parsed query. And the precompiled path must actually
// answer the common questions (static data, NODATA, NXDOMAIN, referrals, pool
// A/AAAA), or the comparison would prove nothing.
#include <doctest/doctest.h>

#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "core/wire/name.h"
#include "server/engine.h"
#include "server/fast_answers.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"
#include "support/temp_dir.h"

namespace geodns {
namespace {

using server::Outcome;
using server::QueryFacts;
using server::ServingSnapshot;
using server::Transport;

struct Variant {
  const char* what;
  bool edns;
  std::uint16_t udpSize;
  bool dnssecOk;
  bool ecs;
  bool cookie;
  Transport transport;
};
const Variant kVariants[] = {
    {"plain UDP", false, 0, false, false, false, Transport::Udp},
    {"EDNS 1232", true, 1232, false, false, false, Transport::Udp},
    {"EDNS 512 + DO", true, 512, true, false, false, Transport::Udp},
    {"EDNS + ECS /24", true, 4096, false, true, false, Transport::Udp},
    {"EDNS + cookie + ECS, DO", true, 1400, true, true, true, Transport::Udp},
    {"TCP, EDNS", true, 1232, false, false, false, Transport::Tcp},
    {"TCP plain", false, 0, false, false, false, Transport::Tcp},
};

const std::uint16_t kTypes[] = {1, 28, 2,  6,  5,  15, 16, 33,  12,  43,    48,    255,
                                0, 99, 65, 64, 47, 46, 50, 257, 252, 65534, 65280, 13};

// "a.B.c." style: every other letter uppercased (0x20 resolvers).
std::string mixCase(std::string s) {
  for (std::size_t i = 0; i < s.size(); i += 2)
    s[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[i])));
  return s;
}

struct Tally {
  std::size_t cases = 0, precompiled = 0, mismatches = 0;
};

// Asks both paths one question; CHECKs they agree; returns the fast facts.
QueryFacts compare(const ServingSnapshot& fast, const ServingSnapshot& general,
                   const std::string& name, std::uint16_t qtype, const Variant& v, Tally& t) {
  test::QuerySpec spec;
  spec.name = name;
  spec.qtype = qtype;
  spec.id = static_cast<std::uint16_t>(0x1000 + t.cases);
  spec.flags = (t.cases % 2) ? 0x0100 : 0x0110;  // RD, sometimes CD
  spec.edns = v.edns;
  spec.udpSize = v.udpSize;
  spec.dnssecOk = v.dnssecOk;
  if (v.cookie) spec.options = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  if (v.ecs) {
    auto e = test::ecsOption("198.51.100.77", 24);
    spec.options.insert(spec.options.end(), e.begin(), e.end());
  }
  const auto query = test::makeQuery(spec);
  const IpAddress source = *IpAddress::parse("203.0.113.9");
  std::vector<std::uint8_t> a(65535), b(65535);
  QueryFacts fa, fb;
  wire::ParsedQuery qa, qb;
  const std::size_t na = server::answer(fast, query, a, v.transport, source, &fa, &qa);
  const std::size_t nb = server::answer(general, query, b, v.transport, source, &fb, &qb);
  ++t.cases;
  if (fa.precompiled) ++t.precompiled;
  const bool same = na == nb && std::memcmp(a.data(), b.data(), na) == 0 &&
                    fa.outcome == fb.outcome && fa.rcode == fb.rcode && fa.qtype == fb.qtype &&
                    fa.edns == fb.edns && fa.truncated == fb.truncated && fa.dnssec == fb.dnssec &&
                    fa.gslb == fb.gslb && fa.ecsScope == fb.ecsScope && fa.binding == fb.binding &&
                    fa.pool == fb.pool && fa.region == fb.region && fa.answered == fb.answered &&
                    qa.id == qb.id && qa.flags == qb.flags && qa.qtype == qb.qtype &&
                    qa.qclass == qb.qclass && qa.edns == qb.edns && qa.udpSize == qb.udpSize &&
                    qa.dnssecOk == qb.dnssecOk && qa.ecs == qb.ecs &&
                    qa.ecsSource == qb.ecsSource && qa.ecsFamily == qb.ecsFamily &&
                    std::memcmp(qa.ecsAddress, qb.ecsAddress, 16) == 0 &&
                    qa.qname.span().size() == qb.qname.span().size() &&
                    std::memcmp(qa.qname.data, qb.qname.data, qa.qname.len) == 0 &&
                    qa.qnameRaw.len == qb.qnameRaw.len &&
                    std::memcmp(qa.qnameRaw.data, qb.qnameRaw.data, qa.qnameRaw.len) == 0;
  if (!same) {
    ++t.mismatches;
    if (t.mismatches <= 10)
      FAIL_CHECK(name << " type " << qtype << " (" << v.what << "): precompiled " << na
                      << " bytes, outcome " << int(fa.outcome) << ", fast=" << fa.precompiled
                      << "; general " << nb << " bytes, outcome " << int(fb.outcome));
  }
  return fa;
}

// `labels` labels of "a" in front of `name`.
std::string manyLabels(std::size_t labels, const std::string& name) {
  std::string s;
  for (std::size_t i = 0; i < labels; ++i) s += "a.";
  return s + name;
}

// Every name of every zone, a name below it, a name beside it, in mixed case,
// and `extra`.
Tally compareAll(const std::shared_ptr<const ServingSnapshot>& snap,
                 std::vector<std::string> names = {}) {
  REQUIRE(snap->fast);
  ServingSnapshot general = *snap;
  general.fast = nullptr;
  Tally t;
  for (const char* n : {"outside.invalid", "test", "."}) names.push_back(n);
  for (const auto& z : snap->zones->zones())
    for (const auto& node : z->nodes()) {
      const std::string n = name::toText(name::asSpan(node.name));
      names.push_back(n);
      names.push_back("nx." + n);
      names.push_back("a.b.c." + n);
      names.push_back(mixCase("Www.Deeper." + n));
    }
  for (const auto& n : names)
    for (std::uint16_t qtype : kTypes)
      for (const auto& v : kVariants) compare(*snap, general, n, qtype, v, t);
  return t;
}

QueryFacts ask(const ServingSnapshot& snap, const std::string& name, std::uint16_t qtype,
               bool dnssecOk = false) {
  test::QuerySpec spec;
  spec.name = name;
  spec.qtype = qtype;
  spec.edns = true;
  spec.dnssecOk = dnssecOk;
  const auto query = test::makeQuery(spec);
  std::vector<std::uint8_t> out(65535);
  QueryFacts f;
  server::answer(snap, query, out, Transport::Udp, *IpAddress::parse("203.0.113.9"), &f);
  return f;
}

TEST_CASE("precompiled answers equal the general path's, byte for byte: example.test and child") {
  auto snap = test::exampleSnapshot("ns-test-1");
  const Tally t = compareAll(snap);
  MESSAGE(t.cases << " questions, " << t.precompiled << " answered precompiled");
  CHECK(t.mismatches == 0);
  CHECK(t.precompiled > t.cases / 3);
}

TEST_CASE("precompiled answers equal the general path's: pools (gslb.test)") {
  auto snap = test::gslbSnapshot();
  const Tally t = compareAll(snap);
  MESSAGE(t.cases << " questions, " << t.precompiled << " answered precompiled");
  CHECK(t.mismatches == 0);
  CHECK(t.precompiled > t.cases / 3);
}

TEST_CASE(
    "precompiled answers equal the general path's: cuts, glue named like the question, ENTs") {
  test::TempDir dir;
  // Compression traps: a referral's NS target equal to names asked below the
  // cut, an SOA whose MNAME is a name of the zone, long names, a nested cut
  // below an empty non-terminal.
  auto snap = test::snapshotFromZone(
      dir, "t.test",
      "$ORIGIN t.test.\n@ SOA ns.t.test. host.t.test. 1 2 3 4 30\n@ NS ns\nns A 192.0.2.53\n"
      "sub NS www.sub\nsub NS ns\nwww.sub A 192.0.2.80\n"
      "a.b.c.d.deep NS ns.x.deep\nns.x.deep A 192.0.2.81\n"
      "mx MX 10 ns\nmx MX 20 mail.elsewhere.example.\n"
      "srv SRV 1 2 3 ns\nlong.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
      "TXT \"x\"\n");
  // The SOA's RNAME is no name of the zone; names with more labels than the
  // compression table holds (Compressor::kMaxEntries).
  const Tally t = compareAll(
      snap, {"host.t.test", "x.host.t.test", "HOST.t.test", "x.www.sub.t.test",
             manyLabels(60, "t.test"), manyLabels(100, "t.test"), manyLabels(120, "t.test"),
             manyLabels(100, "sub.t.test"), manyLabels(120, "sub.t.test"),
             manyLabels(100, "deep.t.test"), manyLabels(110, "mx.t.test")});
  MESSAGE(t.cases << " questions, " << t.precompiled << " answered precompiled");
  CHECK(t.mismatches == 0);
  CHECK(t.precompiled > t.cases / 3);
}

TEST_CASE("the precompiled path answers the common questions, the general path the rest") {
  auto ex = test::exampleSnapshot();
  auto gs = test::gslbSnapshot();
  struct Case {
    const char* name;
    const ServingSnapshot* snap;
    const char* qname;
    std::uint16_t qtype;
    bool precompiled;
    Outcome outcome;
  };
  const Case cases[] = {
      {"static A", ex.get(), "www.example.test", 1, true, Outcome::Answer},
      {"static A, mixed case", ex.get(), "wWw.ExAmple.TEST", 1, true, Outcome::Answer},
      {"NODATA", ex.get(), "www.example.test", 15, true, Outcome::NoData},
      {"NODATA at an empty non-terminal", ex.get(), "ent.example.test", 1, true, Outcome::NoData},
      {"NXDOMAIN", ex.get(), "nothing.example.test", 1, true, Outcome::NXDomain},
      {"NXDOMAIN two labels down", ex.get(), "a.nothing.example.test", 28, true, Outcome::NXDomain},
      {"referral at the cut", ex.get(), "sub.example.test", 1, true, Outcome::Referral},
      {"referral below the cut", ex.get(), "a.b.sub.example.test", 1, true, Outcome::Referral},
      {"CNAME chain, A", ex.get(), "chain.example.test", 1, true, Outcome::Answer},
      {"child zone apex", ex.get(), "child.example.test", 6, true, Outcome::Answer},
      {"wildcard: general", ex.get(), "x.wild.example.test", 1, false, Outcome::Answer},
      {"DS at a cut: general", ex.get(), "sub.example.test", 43, false, Outcome::Answer},
      {"ANY: general", ex.get(), "www.example.test", 255, false, Outcome::Answer},
      {"CNAME node, uncommon type: general", ex.get(), "alias.example.test", 99, false,
       Outcome::Answer},
      {"no zone: general", ex.get(), "example.org", 1, false, Outcome::Refused},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const QueryFacts f = ask(*c.snap, c.qname, c.qtype);
    CHECK(f.precompiled == c.precompiled);
    CHECK(int(f.outcome) == int(c.outcome));
  }
  // A pool's A and AAAA go the short way (no zone walk), decided per query.
  for (const auto& z : gs->zones->zones())
    for (const auto& node : z->nodes())
      if (node.binding >= 0) {
        const std::string n = name::toText(name::asSpan(node.name));
        CAPTURE(n);
        const QueryFacts f = ask(*gs, n, 1);
        CHECK(f.precompiled);
        CHECK(f.gslb);
        CHECK_FALSE(ask(*gs, n, 5).precompiled);  // CNAME at a pool: general
      }
}

TEST_CASE("a snapshot whose zones changed does not use another set's table") {
  auto a = test::exampleSnapshot();
  auto b = test::exampleSnapshot();
  ServingSnapshot mixed = *a;
  mixed.fast = b->fast;  // built for b's zones
  CHECK_FALSE(ask(mixed, "www.example.test", 1).precompiled);
  CHECK(ask(*a, "www.example.test", 1).precompiled);
}

TEST_CASE("above limits.precompiled_names names no table is built; 0 turns it off") {
  auto snap = test::exampleSnapshot();
  CHECK(snap->limits.precompiledNames == 250000);
  CHECK(snap->fast != nullptr);
  CHECK(server::FastAnswers::build(*snap, 3) == nullptr);
  CHECK(server::FastAnswers::build(*snap, 0) == nullptr);
  CHECK(server::FastAnswers::build(*snap, 250000) != nullptr);
  ServingSnapshot off = *snap;
  off.limits.precompiledNames = 0;
  server::buildFastAnswers(off);
  CHECK(off.fast == nullptr);
  CHECK_FALSE(ask(off, "www.example.test", 1).precompiled);
}

}  // namespace
}  // namespace geodns

namespace geodns {
namespace {
TEST_CASE("QueryFacts::reset() gives the default facts (memberCell aside)") {
  QueryFacts f;
  std::memset(static_cast<void*>(&f), 0x5A, sizeof f);
  f.reset();
  const QueryFacts d{};
  CHECK(f.outcome == d.outcome);
  CHECK(f.qtype == d.qtype);
  CHECK(f.rcode == d.rcode);
  CHECK(f.truncated == d.truncated);
  CHECK(f.dnssec == d.dnssec);
  CHECK(f.signFailed == d.signFailed);
  CHECK(f.signBudget == d.signBudget);
  CHECK(f.edns == d.edns);
  CHECK(f.precompiled == d.precompiled);
  CHECK(f.gslb == d.gslb);
  CHECK(f.ecsScope == d.ecsScope);
  CHECK(f.binding == d.binding);
  CHECK(f.allDown == d.allDown);
  CHECK(f.fellBack == d.fellBack);
  CHECK(f.pool == d.pool);
  CHECK(f.region == d.region);
  CHECK(f.answered == d.answered);
}
}  // namespace
}  // namespace geodns
