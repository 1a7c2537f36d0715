// The engine over a signed zone: pool answers pre-warmed at snapshot build are
// served from the signature cache without signing on the worker.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/wire/types.h"
#include "server/engine.h"
#include "server/metrics.h"
#include "server/serving.h"
#include "support/dns_test_util.h"
#include "support/fakes.h"
#include "support/temp_dir.h"
#include "zones/dnssec/denial.h"
#include "zones/signing.h"

using namespace geodns;

namespace {
std::string keygen(const test::TempDir& dir, const char* args) {
  const std::string cmd = "cd '" + dir.path().string() + "' && ldns-keygen " + args;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[256] = {};
  const bool got = std::fgets(buf, sizeof buf, p) != nullptr;
  REQUIRE(::pclose(p) == 0);
  REQUIRE(got);
  std::string base(buf);
  while (!base.empty() && (base.back() == '\n' || base.back() == '\r')) base.pop_back();
  return (dir.path() / base).string() + ".private";
}
}  // namespace

TEST_CASE("signed zone: pool answers are pre-warmed at snapshot build, served without signing") {
  test::TempDir dir;
  const std::string csk = keygen(dir, "-a ED25519 -k s.test");
  const std::string zone = dir.write("s.zone",
                                     "$ORIGIN s.test.\n@ SOA ns h 1 2 3 4 30\n@ NS ns\n"
                                     "ns A 192.0.2.53\nalias CNAME WWW\n");
  ErrorList errors;
  auto cfg = config::parseConfig(R"({
    "listen": ["127.0.0.1:53"],
    "zones": [{"origin": "s.test", "file": ")" +
                                     zone + R"(", "dnssec": {"keys": [")" + csk +
                                     R"("]}}],
    "geo": {"nets": {"10.1.0.0/16": {"label": "eu"}, "10.2.0.0/16": {"label": "ap"}}},
    "regions": {"us": {}, "eu": {}, "ap": {}},
    "pools": {"web": {"ttl": 30, "max_answers": 2, "regions": {
               "eu": {"members": [{"address": "198.51.100.1"}, {"address": "198.51.100.2"},
                                  {"address": "198.51.100.3"}]},
               "us": {"members": [{"address": "192.0.2.1"}, {"address": "2001:db8::1"}]},
               "ap": {"members": [{"address": "203.0.113.1"}]}}}},
    "policies": {"geo": {"steps": [{"step": "geo_map",
                 "map": {"label:eu": ["eu"], "label:ap": ["ap"], "default": ["us"]}}]}},
    "bindings": [{"name": "WWW.s.test", "pool": "web", "policy": "geo"}]
  })",
                                 "s.json", errors);
  REQUIRE_MESSAGE(cfg, errors.str());
  auto snap = server::buildSnapshot(*cfg, errors);
  REQUIRE_MESSAGE(snap, errors.str());
  const auto& online = snap->zones->zones()[0]->signing()->online();
  REQUIRE(online.size() == 1);
  // eu: 3 singles + 3 pairs; us: 1 A + 1 AAAA; ap: 1.
  CHECK(online[0].cache->stats().entries == 9);
  CHECK(online[0].cache->stats().signs == 0);

  std::vector<std::uint8_t> out(65535);
  const IpAddress source = *IpAddress::parse("192.0.2.77");
  server::QueryCounters counters;
  struct Case {
    const char* name;
    std::uint16_t qtype;
    const char* ecs;
  };
  const Case cases[] = {{"www.s.test", 1, "10.1.0.0"},
                        {"WWW.S.TEST", 1, "10.2.0.0"},
                        {"www.s.test", 1, "10.9.0.0"},
                        {"www.s.test", 28, "10.9.0.0"},
                        {"alias.s.test", 1, "10.1.0.0"}};
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    auto q = test::makeQuery({.name = c.name,
                              .qtype = c.qtype,
                              .edns = true,
                              .dnssecOk = true,
                              .options = test::ecsOption(c.ecs, 24)});
    server::QueryFacts facts;
    const std::size_t n = server::answer(*snap, q, out, server::Transport::Udp, source, &facts);
    REQUIRE(n > 0);
    CHECK(facts.outcome == server::Outcome::Answer);
    CHECK_FALSE(facts.signFailed);
    CHECK(facts.dnssec);
    counters.record(facts);
    const auto msg = test::parseResponse({out.data(), n});
    REQUIRE(msg.ok);
    bool rrsig = false;
    for (const auto& rr : msg.sections[0]) rrsig = rrsig || rr.type == 46;
    CHECK(rrsig);
  }
  CHECK(online[0].cache->stats().signs == 0);  // every pool answer was a cache hit
  CHECK(counters.dnssec.load() == std::size(cases));
  CHECK(counters.signFailures.load() == 0);
  // Without DO: not counted, no RRSIG.
  server::QueryFacts facts;
  auto q = test::makeQuery({.name = "www.s.test", .edns = true});
  REQUIRE(server::answer(*snap, q, out, server::Transport::Udp, source, &facts) > 0);
  CHECK_FALSE(facts.dnssec);
}

namespace {
// "<base32hex(H(name))>.<zone>" as the parsed response prints owners.
std::string hashedOwner(const char* nameText, const char* zone, int delta = 0) {
  auto nm = name::fromText(nameText);
  REQUIRE(nm);
  zones::dnssec::Nsec3Hash h;
  REQUIRE(zones::dnssec::nsec3Hash(name::asSpan(*nm), h));
  if (delta < 0) h = zones::dnssec::nsec3Prev(h);
  char b32[32];
  zones::dnssec::base32hex(h, b32);
  return std::string(b32, 32) + "." + zone;
}
// "<owner> <type> <type>...": an NSEC3 as the table below writes it.
std::string nsec3Line(const std::string& owner, const zones::dnssec::TypeSet& types) {
  std::string s = owner;
  for (auto t : types.types()) s += " " + dns::typeToText(t);
  return s;
}
}  // namespace

TEST_CASE("signed zone, NSEC3 white lies: each negative answer carries the records that prove it") {
  test::TempDir dir;
  const std::string csk = keygen(dir, "-a ECDSAP256SHA256 -k n.test");
  const std::string zone = dir.write(
      "n.zone",
      "$ORIGIN n.test.\n@ SOA ns h 1 2 3 4 30\n@ NS ns\nns A 192.0.2.53\na.b A 192.0.2.1\n"
      "*.w TXT x\ncut NS ns.elsewhere.\ndscut NS ns.elsewhere.\n"
      "dscut DS 12345 13 2 "
      "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
      "gone CNAME nowhere\n");
  ErrorList errors;
  auto cfg = config::parseConfig(R"({"listen": ["127.0.0.1:53"],
    "zones": [{"origin": "n.test", "file": ")" +
                                     zone + R"(", "dnssec": {"keys": [")" + csk +
                                     R"("], "denial": "nsec3"}}]})",
                                 "n.json", errors);
  REQUIRE_MESSAGE(cfg, errors.str());
  auto snap = server::buildSnapshot(*cfg, errors);
  REQUIRE_MESSAGE(snap, errors.str());

  // One expected NSEC3: its owner and its bitmap.
  struct Nsec3 {
    std::string owner;
    const char* types;
  };
  struct Case {
    const char* name;
    const char* qname;
    std::uint16_t qtype;
    std::uint16_t rcode;
    bool referral;
    std::vector<Nsec3> nsec3;
  };
  const char* apexTypes = "NS SOA RRSIG DNSKEY NSEC3PARAM CDS CDNSKEY";
  const Case cases[] = {
      {"NXDOMAIN: closest encloser matched, next closer and wildcard covered",
       "nx.n.test",
       1,
       3,
       false,
       {{hashedOwner("n.test", "n.test."), apexTypes},
        {hashedOwner("nx.n.test", "n.test.", -1), ""},
        {hashedOwner("*.n.test", "n.test.", -1), ""}}},
      {"NXDOMAIN below an empty non-terminal",
       "deep.x.b.n.test",
       1,
       3,
       false,
       {{hashedOwner("b.n.test", "n.test."), ""},
        {hashedOwner("x.b.n.test", "n.test.", -1), ""},
        {hashedOwner("*.b.n.test", "n.test.", -1), ""}}},
      {"NXDOMAIN for the wildcard's own name: covered once",
       "*.n.test",
       1,
       3,
       false,
       {{hashedOwner("n.test", "n.test."), apexTypes},
        {hashedOwner("*.n.test", "n.test.", -1), ""}}},
      {"NXDOMAIN at the end of a CNAME chain: about the target",
       "gone.n.test",
       1,
       3,
       false,
       {{hashedOwner("n.test", "n.test."), apexTypes},
        {hashedOwner("nowhere.n.test", "n.test.", -1), ""},
        {hashedOwner("*.n.test", "n.test.", -1), ""}}},
      {"NODATA: the name matched, its types and RRSIG",
       "ns.n.test",
       28,
       0,
       false,
       {{hashedOwner("ns.n.test", "n.test."), "A RRSIG"}}},
      {"NODATA at an empty non-terminal: an empty bitmap",
       "b.n.test",
       1,
       0,
       false,
       {{hashedOwner("b.n.test", "n.test."), ""}}},
      {"NODATA under a wildcard: the name asked, the wildcard's types",
       "q.w.n.test",
       1,
       0,
       false,
       {{hashedOwner("q.w.n.test", "n.test."), "TXT RRSIG"}}},
      {"DS asked at an insecure cut: NS only, nothing signed there",
       "cut.n.test",
       43,
       0,
       false,
       {{hashedOwner("cut.n.test", "n.test."), "NS"}}},
      {"referral to an insecure cut: the cut matched, NS without DS",
       "x.cut.n.test",
       1,
       0,
       true,
       {{hashedOwner("cut.n.test", "n.test."), "NS"}}},
      {"referral to a secure cut: the DS, no NSEC3", "x.dscut.n.test", 1, 0, true, {}},
  };
  std::vector<std::uint8_t> out(65535);
  const IpAddress source = *IpAddress::parse("192.0.2.77");
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    auto q = test::makeQuery({.name = c.qname, .qtype = c.qtype, .edns = true, .dnssecOk = true});
    server::QueryFacts facts;
    const std::size_t n = server::answer(*snap, q, out, server::Transport::Udp, source, &facts);
    REQUIRE(n > 0);
    CHECK_FALSE(facts.signFailed);
    const auto msg = test::parseResponse({out.data(), n});
    REQUIRE(msg.ok);
    CHECK(msg.rcode() == c.rcode);
    CHECK(msg.aa() == !c.referral);
    std::vector<std::string> got, sigsOver, want;
    for (const auto& rr : msg.sections[1]) {
      if (rr.type == zones::dnssec::kTypeNsec3) {
        // 1 0 0 -, a 20-octet next hash, then the bitmap.
        REQUIRE(rr.rdata.size() >= 26);
        CHECK(rr.rdata[0] == 1);
        CHECK(rr.rdata[1] == 0);
        CHECK(rr.rdata[2] == 0);
        CHECK(rr.rdata[3] == 0);
        CHECK(rr.rdata[4] == 0);
        CHECK(rr.rdata[5] == 20);
        CHECK(rr.ttl == 30);  // min(SOA TTL, MINIMUM), RFC 9077
        zones::dnssec::TypeSet types;
        CHECK(zones::dnssec::readTypeBitmap({rr.rdata.data() + 26, rr.rdata.size() - 26}, types));
        got.push_back(nsec3Line(rr.owner, types));
      }
      if (rr.type == 46 && rr.rdata.size() >= 2 && (rr.rdata[0] << 8 | rr.rdata[1]) == 50)
        sigsOver.push_back(rr.owner);
      CHECK(rr.type != 47);  // no NSEC beside NSEC3
    }
    for (const auto& e : c.nsec3) want.push_back(*e.types ? e.owner + " " + e.types : e.owner);
    std::string shown;
    for (const auto& g : got) shown += g + "\n";
    CHECK_MESSAGE(got == want, shown);
    std::vector<std::string> owners;
    for (const auto& e : c.nsec3) owners.push_back(e.owner);
    CHECK(sigsOver == owners);  // each NSEC3 signed, right after it
  }

  // The apex publishes NSEC3PARAM 1 0 0 - (RFC 9276), signed.
  auto q = test::makeQuery({.name = "n.test", .qtype = 51, .edns = true, .dnssecOk = true});
  const std::size_t n = server::answer(*snap, q, out, server::Transport::Udp, source);
  const auto msg = test::parseResponse({out.data(), n});
  REQUIRE(msg.ok);
  REQUIRE(msg.sections[0].size() == 2);
  CHECK(msg.sections[0][0].rdata == std::vector<std::uint8_t>{1, 0, 0, 0, 0});
  CHECK(msg.sections[0][1].type == 46);
}

namespace {
// Compact denial makes one NSEC per name, so each distinct NXDOMAIN with DO is
// a cache miss: one signature (one key, a CSK).
bool hasRrsig(const test::ParsedResponse& m) {
  for (const auto& s : m.sections)
    for (const auto& rr : s)
      if (rr.type == 46) return true;
  return false;
}
}  // namespace

TEST_CASE("signing budget: beyond it a UDP miss is TC=1 without records; TCP and hits still sign") {
  test::TempDir dir;
  const std::string csk = keygen(dir, "-a ECDSAP256SHA256 -k s.test");
  const std::string zone = dir.write("s.zone",
                                     "$ORIGIN s.test.\n@ SOA ns h 1 2 3 4 30\n@ NS ns\n"
                                     "ns A 192.0.2.53\n*.wild A 192.0.2.7\n");
  constexpr int kBudget = 3;
  ErrorList errors;
  auto cfg = config::parseConfig(R"({
    "listen": ["127.0.0.1:53"],
    "limits": {"max_signatures_per_second": 3},
    "zones": [{"origin": "s.test", "file": ")" +
                                     zone + R"(", "dnssec": {"keys": [")" + csk +
                                     R"("]}}],
    "geo": {"nets": {"10.1.0.0/16": {"label": "eu"}}},
    "regions": {"us": {}},
    "pools": {"web": {"ttl": 30, "regions": {"us": {"members": [{"address": "192.0.2.1"}]}}}},
    "policies": {"p": {"steps": [{"step": "geo_map", "map": {"default": ["us"]}}]}},
    "bindings": [{"name": "www.s.test", "pool": "web", "policy": "p"}]
  })",
                                 "s.json", errors);
  REQUIRE_MESSAGE(cfg, errors.str());
  REQUIRE(cfg->limits.maxSignaturesPerSecond == kBudget);
  REQUIRE(cfg->limits.signatureBurst == kBudget);  // the burst defaults to the rate
  test::FakeClock clock;
  auto snap = server::buildSnapshot(*cfg, errors, nullptr, 0, &clock);
  REQUIRE_MESSAGE(snap, errors.str());
  REQUIRE(snap->signBudget);
  const auto& cache = *snap->zones->zones()[0]->signing()->online()[0].cache;
  const auto signsAtStart = cache.stats().signs;

  std::vector<std::uint8_t> out(65535);
  const IpAddress source = *IpAddress::parse("192.0.2.77");
  server::QueryCounters counters;
  struct Ask {
    const char* what;
    const char* name;
    std::uint16_t qtype;
    server::Transport transport;
    Duration advance;
    bool overBudget;  // TC=1, nothing but the question (and the OPT)
  };
  using server::Transport;
  const Ask asks[] = {
      {"miss 1 of 3", "a.s.test", 1, Transport::Udp, {}, false},
      {"miss 2 of 3", "b.s.test", 1, Transport::Udp, {}, false},
      {"miss 3 of 3", "c.s.test", 1, Transport::Udp, {}, false},
      {"the (N+1)th distinct NXDOMAIN over UDP", "d.s.test", 1, Transport::Udp, {}, true},
      {"a wildcard expansion (a miss) over UDP", "x.wild.s.test", 1, Transport::Udp, {}, true},
      {"the same NXDOMAIN over TCP signs anyway", "d.s.test", 1, Transport::Tcp, {}, false},
      {"now a hit over UDP, budget still empty", "d.s.test", 1, Transport::Udp, {}, false},
      {"an earlier NXDOMAIN: a hit", "A.S.TEST", 1, Transport::Udp, {}, false},
      {"a pre-warmed pool answer: a hit", "www.s.test", 1, Transport::Udp, {}, false},
      {"a static RRset needs no online signature", "ns.s.test", 1, Transport::Udp, {}, false},
      {"1/3 s later: one more token", "e.s.test", 1, Transport::Udp, std::chrono::milliseconds(334),
       false},
      {"and none after it", "f.s.test", 1, Transport::Udp, {}, true},
  };
  std::uint64_t exhausted = 0;
  for (const auto& a : asks) {
    INFO(std::string(a.what));
    clock.advance(a.advance);
    auto q = test::makeQuery({.name = a.name, .qtype = a.qtype, .edns = true, .dnssecOk = true});
    server::QueryFacts facts;
    const std::size_t n = server::answer(*snap, q, out, a.transport, source, &facts);
    REQUIRE(n > 0);
    counters.record(facts);
    const auto msg = test::parseResponse({out.data(), n});
    REQUIRE(msg.ok);
    CHECK(facts.signBudget == a.overBudget);
    CHECK_FALSE(facts.signFailed);
    CHECK(msg.tc() == a.overBudget);
    CHECK(msg.hasOpt);
    CHECK(hasRrsig(msg) == !a.overBudget);
    if (a.overBudget) {
      ++exhausted;
      CHECK(msg.sections[0].empty());
      CHECK(msg.sections[1].empty());
      CHECK(msg.sections[2].empty());
      CHECK(n == q.size());  // the query's header, question and OPT: nothing more
      CHECK(facts.truncated);
    } else {
      CHECK(msg.sections[0].size() + msg.sections[1].size() >= 2);
    }
  }
  CHECK(counters.signBudgetExhausted.load() == exhausted);
  // 3 + TCP + 1 after the refill; nothing was signed for an answer sent TC.
  CHECK(cache.stats().signs - signsAtStart == kBudget + 2);
}

TEST_CASE("signing budget: 0 is no limit; a reload with the same limit keeps the bucket") {
  test::TempDir dir;
  const std::string csk = keygen(dir, "-a ED25519 -k s.test");
  const std::string zone = dir.write("s.zone", "$ORIGIN s.test.\n@ SOA ns h 1 2 3 4 30\n@ NS ns\n");
  auto config = [&](const char* limits) {
    ErrorList errors;
    auto cfg = config::parseConfig(std::string(R"({"listen": ["127.0.0.1:53"], "limits": )") +
                                       limits + R"(, "zones": [{"origin": "s.test", "file": ")" +
                                       zone + R"(", "dnssec": {"keys": [")" + csk + R"("]}}]})",
                                   "s.json", errors);
    REQUIRE_MESSAGE(cfg, errors.str());
    return cfg;
  };
  test::FakeClock clock;
  ErrorList errors;
  auto unlimited = server::buildSnapshot(*config(R"({"max_signatures_per_second": 0})"), errors,
                                         nullptr, 0, &clock);
  REQUIRE_MESSAGE(unlimited, errors.str());
  CHECK_FALSE(unlimited->signBudget);
  std::vector<std::uint8_t> out(65535);
  for (int i = 0; i < 50; ++i) {
    auto q = test::makeQuery(
        {.name = "n" + std::to_string(i) + ".s.test", .edns = true, .dnssecOk = true});
    server::QueryFacts facts;
    REQUIRE(server::answer(*unlimited, q, out, server::Transport::Udp, {}, &facts) > 0);
    CHECK_FALSE(facts.signBudget);
  }

  auto first = server::buildSnapshot(*config(R"({"max_signatures_per_second": 10})"), errors,
                                     nullptr, 0, &clock);
  REQUIRE_MESSAGE(first, errors.str());
  auto same = server::buildSnapshot(*config(R"({"max_signatures_per_second": 10})"), errors,
                                    first.get(), 0, &clock);
  auto other =
      server::buildSnapshot(*config(R"({"max_signatures_per_second": 10, "signature_burst": 20})"),
                            errors, same.get(), 0, &clock);
  REQUIRE_MESSAGE((same && other), errors.str());
  CHECK(same->signBudget == first->signBudget);  // a reload does not refill the bucket
  REQUIRE(other->signBudget);
  CHECK(other->signBudget != first->signBudget);
  CHECK(other->signBudget->burst() == 20);
}

TEST_CASE("signed zone: the precompiled path answers without DO only, the same bytes") {
  test::TempDir dir;
  const std::string csk = keygen(dir, "-a ECDSAP256SHA256 -k p.test");
  const std::string zone = dir.write(
      "p.zone",
      "$ORIGIN p.test.\n@ SOA ns h 1 2 3 4 30\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.1\n"
      "cut NS ns.elsewhere.\n");
  ErrorList errors;
  auto cfg = config::parseConfig(R"({"listen": ["127.0.0.1:53"],
    "zones": [{"origin": "p.test", "file": ")" +
                                     zone + R"(", "dnssec": {"keys": [")" + csk + R"("]}}]})",
                                 "p.json", errors);
  REQUIRE_MESSAGE(cfg, errors.str());
  auto snap = server::buildSnapshot(*cfg, errors);
  REQUIRE_MESSAGE(snap, errors.str());
  REQUIRE(snap->fast);
  server::ServingSnapshot general = *snap;
  general.fast = nullptr;
  struct Case {
    const char* qname;
    std::uint16_t qtype;
  };
  const Case cases[] = {{"www.p.test", 1},   {"WWW.p.test", 28}, {"nx.p.test", 1},
                        {"a.cut.p.test", 1}, {"p.test", 6},      {"p.test", 48}};
  for (const auto& c : cases)
    for (bool dnssecOk : {false, true}) {
      CAPTURE(c.qname);
      CAPTURE(dnssecOk);
      test::QuerySpec spec;
      spec.name = c.qname;
      spec.qtype = c.qtype;
      spec.edns = true;
      spec.dnssecOk = dnssecOk;
      const auto q = test::makeQuery(spec);
      std::vector<std::uint8_t> a(65535), b(65535);
      server::QueryFacts fa, fb;
      const std::size_t na = server::answer(*snap, q, a, server::Transport::Udp, {}, &fa);
      const std::size_t nb = server::answer(general, q, b, server::Transport::Udp, {}, &fb);
      CHECK(na == nb);
      CHECK(std::vector<std::uint8_t>(a.begin(), a.begin() + na) ==
            std::vector<std::uint8_t>(b.begin(), b.begin() + nb));
      // DO in a signed zone needs RRSIGs and denial: never precompiled;
      // DNSKEY is signing data: always the general path.
      CHECK(fa.precompiled == (!dnssecOk && c.qtype != 48));
      CHECK(fa.dnssec == dnssecOk);
    }
}
