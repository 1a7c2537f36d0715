// Proves the UDP query path allocates nothing: counts every operator new
// while answering a batch of varied queries (answers, NXDOMAIN, referrals,
// CNAME chains, wildcards, truncation, EDNS, errors).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "server/engine.h"
#include "server/metrics.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"
#include "support/fakes.h"

namespace {
std::atomic<long> gAllocations{0};
}

namespace geodns::test {
// Answers every query of `batch` 50 times over UDP from `source` and returns
// the bytes written (the caller counts the allocations around it).
std::size_t answerRounds(const server::ServingSnapshot& snap,
                         const std::vector<std::vector<std::uint8_t>>& batch,
                         std::vector<std::uint8_t>& out, const IpAddress& source) {
  std::size_t bytes = 0;
  for (int round = 0; round < 50; ++round)
    for (const auto& q : batch)
      bytes += server::answer(snap, q, out, server::Transport::Udp, source);
  return bytes;
}
}  // namespace geodns::test

// These replacements pair malloc with free on purpose; GCC's optimizer flags
// the inlined pairing of new/free as a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The nothrow forms too (std::stable_sort's temporary buffer uses them): if
// they stayed the runtime's, the frees above would release memory another
// allocator handed out, which AddressSanitizer rightly reports.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace geodns;

TEST_CASE("answering a batch of queries performs zero heap allocations") {
  auto snap = test::exampleSnapshot();
  std::vector<std::vector<std::uint8_t>> batch;
  const test::QuerySpec specs[] = {
      {.name = "www.example.test"},
      {.name = "WWW.EXAMPLE.TEST", .qtype = 28, .edns = true, .dnssecOk = true},
      {.name = "nope.example.test"},
      {.name = "chain.example.test"},
      {.name = "x.wild.example.test", .qtype = 16},
      {.name = "q.cwild.example.test"},
      {.name = "a.sub.example.test"},
      {.name = "sub.example.test", .qtype = 43},
      {.name = "example.test", .qtype = 15},
      {.name = "big.example.test", .qtype = 16},
      {.name = "big.example.test", .qtype = 16, .edns = true, .udpSize = 4096},
      {.name = "www.example.org"},
      {.name = "version.bind", .qtype = 16, .qclass = 3},
      {.name = "www.example.test", .edns = true, .version = 1},
      {.name = "www.example.test", .qtype = 255},
      {.name = "www.example.test", .flags = 4 << 11},
      {.name = "www.example.test", .flags = 5 << 11, .edns = true},
      {.name = "alias.example.test", .qclass = 255},
      {.name = "alias.example.test", .qtype = 255},
      {.name = "www.example.test", .qtype = 254},
      {.name = "example.test", .qtype = 252, .edns = true},
      {.name = "www.example.test", .edns = true, .options = test::ecsOption("10.0.0.0", 33, 1)},
  };
  for (const auto& s : specs) batch.push_back(test::makeQuery(s));
  {  // signed with an unknown TSIG key: NOTAUTH + BADKEY
    auto q = test::makeQuery({.name = "www.example.test"});
    const std::uint8_t tsig[] = {
        3, 'k', 'e',  'y',  0, 0, 250, 0, 255, 0, 0, 0, 0,
        0, 21,                                               // key., TSIG ANY, TTL 0, RDLENGTH
        3, 'a', 'l',  'g',  0, 0, 0,   0, 1,   0, 2, 1, 44,  // alg., time signed, fudge
        0, 0,   0x42, 0x42, 0, 0, 0,   0};  // MAC size 0, original id, error, other
    q.insert(q.end(), std::begin(tsig), std::end(tsig));
    q[11] = 1;
    batch.push_back(q);
  }
  std::vector<std::uint8_t> out(65535);
  server::QueryFacts facts;  // the signed query takes the BADKEY path
  server::answer(*snap, batch.back(), out, server::Transport::Udp, {}, &facts);
  CHECK(facts.outcome == server::Outcome::BadKey);
  server::SnapshotHolder holder;
  holder.publish(snap);
  server::SnapshotHolder::Reader reader(holder);
  reader
      .refresh();  // the first refresh copies a shared_ptr: no allocation either, but do it outside

  const long before = gAllocations.load();
  std::size_t bytes = 0;
  for (int round = 0; round < 100; ++round) {
    const server::ServingSnapshot* s = reader.refresh();
    for (const auto& q : batch) bytes += server::answer(*s, q, out, server::Transport::Udp);
  }
  const long after = gAllocations.load();
  CHECK(bytes > 0);
  CHECK(after - before == 0);
  // The counter itself works: an allocation outside the query path is seen.
  auto* probe = new std::vector<int>(10);
  delete probe;
  CHECK(gAllocations.load() > after);
}

TEST_CASE("GSLB answers (mmdb lookups, CIDR maps, pipelines, ECS) allocate nothing") {
  auto snap = test::gslbSnapshot();
  std::vector<std::vector<std::uint8_t>> batch;
  const char* names[] = {"www.gslb.test",   "near.gslb.test", "noecs.gslb.test",
                         "plain.gslb.test", "two.gslb.test",  "a.cdn.gslb.test"};
  const char* nets[] = {"198.51.100.0", "203.0.113.0", "10.1.0.0",
                        "172.16.0.0",   "8.8.8.0",     "100.64.0.0"};
  for (const char* n : names)
    for (const char* e : nets) {
      batch.push_back(test::makeQuery({.name = n, .options = test::ecsOption(e, 24)}));
      batch.push_back(test::makeQuery(
          {.name = n, .qtype = 28, .options = test::ecsOption("2001:db8:1::", 48)}));
    }
  batch.push_back(test::makeQuery({.name = "www.gslb.test"}));
  std::vector<std::uint8_t> out(65535);
  const IpAddress source = *IpAddress::parse("192.0.2.77");
  server::answer(*snap, batch[0], out, server::Transport::Udp, source);  // warm up
  const long before = gAllocations.load();
  CHECK(test::answerRounds(*snap, batch, out, source) > 0);
  CHECK(gAllocations.load() - before == 0);
}

TEST_CASE("all_down, fallback, fences, drains and the answer counters allocate nothing") {
  test::TempDir dir;
  auto base = test::snapshotFromJson(dir, "a.test", R"({
    "listen": ["127.0.0.1:53"],
    "zones": [{"origin": "a.test", "file": "ZONE"}],
    "geo": {"nets": {"10.1.0.0/16": {"label": "eu"}, "10.2.0.0/16": {"label": "us"}}},
    "regions": {"us": {}, "eu": {}},
    "probes": {"web": {"type": "tcp", "port": 80}},
    "pools": {
      "nd": {"ttl": 30, "probe": "web", "all_down": "nodata", "max_answers": 2, "regions": {
               "eu": {"members": [{"address": "198.51.100.1"}, {"address": "198.51.100.2"}]},
               "us": {"members": [{"address": "192.0.2.1"}]}}},
      "sf": {"ttl": 30, "probe": "web", "all_down": "servfail", "regions": {
               "eu": {"members": [{"address": "198.51.100.3"}]}}},
      "fb": {"ttl": 30, "probe": "web", "all_down": "fallback", "fallback_pool": "spare", "regions": {
               "eu": {"members": [{"address": "198.51.100.4"}]}}},
      "spare": {"ttl": 20, "probe": "web", "regions": {
               "eu": {"members": [{"address": "198.51.100.5"}]}, "us": {"members": [{"address": "192.0.2.5"}]}}}
    },
    "policies": {
      "fenced": {"steps": [{"step": "geo_map", "fence": true,
                            "map": {"label:eu": ["eu"], "label:us": ["us"], "default": ["us"]}},
                           {"step": "up"}, {"step": "weighted"}]},
      "loose": {"steps": [{"step": "geo_map", "map": {"label:eu": ["eu"], "default": ["us"]}},
                          {"step": "up"}]}
    },
    "bindings": [
      {"name": "nd.a.test", "pool": "nd", "policy": "fenced"},
      {"name": "loose.a.test", "pool": "nd", "policy": "loose"},
      {"name": "sf.a.test", "pool": "sf", "policy": "fenced"},
      {"name": "fb.a.test", "pool": "fb", "policy": "fenced"}
    ]
  })");
  // Region eu drained, one member failing checks, the fb and sf members down.
  auto view = std::make_shared<health::HealthView>();
  const gslb::Gslb& g = *base->gslb;
  view->config = g.configId;
  view->targets.resize(g.probes.size());
  for (std::size_t i = 0; i < g.probes.size(); ++i) {
    auto& t = view->targets[i];
    const std::string a = g.probes[i].address.str();
    t.up = t.steady = a != "198.51.100.3" && a != "198.51.100.4";
    t.state = t.up ? health::State::Up : health::State::Down;
    t.changeInSec = 3;
    if (a == "192.0.2.1") t.steady = false;
  }
  gslb::applyOverride(*view, g, {"", "region_drain", "eu", "", 0, 0, 0, ""});
  auto snap = std::make_shared<server::ServingSnapshot>(*base);
  snap->health = view;
  // The compiled decisions under this view (the engine's path for these
  // bindings), as the health runner publishes them.
  server::compileSnapshot(*snap, base->compiled.get());
  REQUIRE(server::compiledFor(*snap));

  std::vector<std::vector<std::uint8_t>> batch;
  for (const char* n : {"nd.a.test", "loose.a.test", "sf.a.test", "fb.a.test"})
    for (const char* e : {"10.1.0.0", "10.2.0.0"})
      batch.push_back(test::makeQuery({.name = n, .options = test::ecsOption(e, 24)}));
  server::Metrics metrics;
  server::QueryCounters& counters = metrics.addWorker(server::Transport::Udp);
  metrics.track(snap->answers);
  std::vector<std::uint8_t> out(65535);
  const IpAddress source = *IpAddress::parse("192.0.2.77");
  server::QueryFacts facts;
  server::answer(*snap, batch[0], out, server::Transport::Udp, source, &facts);  // warm up
  server::countQuery(*snap, facts, counters);
  int rcodes[16] = {};
  const long before = gAllocations.load();
  for (int round = 0; round < 50; ++round)
    for (const auto& q : batch) {
      server::answer(*snap, q, out, server::Transport::Udp, source, &facts);
      server::countQuery(*snap, facts, counters);
      ++rcodes[facts.rcode & 15];
    }
  CHECK(gAllocations.load() - before == 0);
  CHECK(rcodes[0] > 0);  // answers and NODATA
  CHECK(rcodes[2] > 0);  // SERVFAIL
}

namespace {
// ldns-keygen in `dir`; the path of the .private file (the test fails without the tool).
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

TEST_CASE("DO answers from a signed zone allocate nothing once their signatures are cached") {
  for (const char* denial : {"compact", "nsec3"}) {
    INFO("denial " << denial);
    test::TempDir dir;
    const std::string ksk = keygen(dir, "-a ECDSAP256SHA256 -k s.test");
    const std::string zsk = keygen(dir, "-a ECDSAP256SHA256 s.test");
    const std::string zone = dir.write("s.zone", R"($ORIGIN s.test.
$TTL 300
@ SOA ns h 1 2 3 4 30
@ NS ns
ns A 192.0.2.53
static A 192.0.2.1
alias CNAME www
*.wild A 192.0.2.7
sec NS ns.sec
sec DS 12345 13 2 0e74a5ccbde5e8aef33f29524d259f88cb5d2ce91811dea155cf3490fffe3cbe
ns.sec A 192.0.2.54
open NS ns.open
ns.open A 192.0.2.55
)");
    ErrorList errors;
    auto cfg = config::parseConfig(R"({
    "listen": ["127.0.0.1:53"],
    "zones": [{"origin": "s.test", "file": ")" +
                                       zone + R"(",
               "dnssec": {"keys": [")" +
                                       ksk + R"(", ")" + zsk + R"("], "denial": ")" + denial +
                                       R"("}}],
    "geo": {"nets": {"10.1.0.0/16": {"label": "eu"}, "10.2.0.0/16": {"label": "us"}}},
    "regions": {"us": {}, "eu": {}},
    "pools": {"web": {"ttl": 30, "max_answers": 2, "regions": {
               "eu": {"members": [{"address": "198.51.100.1"}, {"address": "198.51.100.2"}]},
               "us": {"members": [{"address": "192.0.2.1"}, {"address": "2001:db8::1"}]}}}},
    "policies": {"geo": {"steps": [{"step": "geo_map", "map": {"label:eu": ["eu"], "default": ["us"]}}]}},
    "bindings": [{"name": "www.s.test", "pool": "web", "policy": "geo"}]
  })",
                                   "s.json", errors);
    REQUIRE_MESSAGE(cfg, errors.str());
    auto snap = server::buildSnapshot(*cfg, errors);
    REQUIRE_MESSAGE(snap, errors.str());

    std::vector<std::vector<std::uint8_t>> batch;
    auto add = [&](const char* name, std::uint16_t qtype, std::vector<std::uint8_t> options = {}) {
      batch.push_back(test::makeQuery(
          {.name = name, .qtype = qtype, .edns = true, .dnssecOk = true, .options = options}));
    };
    add("static.s.test", 1);   // static answer + RRSIG
    add("s.test", 48);         // DNSKEY + KSK RRSIG
    add("x.wild.s.test", 1);   // wildcard, signed online at the name
    add("nope.s.test", 1);     // NXDOMAIN: SOA + RRSIG + NSEC (or 3 NSEC3) + RRSIGs
    add("static.s.test", 28);  // NODATA
    add("a.sec.s.test", 1);    // referral with DS
    add("a.open.s.test", 1);   // referral, NSEC (NSEC3) proving no DS
    add("alias.s.test", 1, test::ecsOption("10.1.0.0", 24));  // CNAME into a pool
    for (const char* e : {"10.1.0.0", "10.2.0.0", "10.3.0.0"}) {
      add("www.s.test", 1, test::ecsOption(e, 24));  // geo answers + online RRSIG
      add("www.s.test", 28, test::ecsOption(e, 24));
      add("www.s.test", 16, test::ecsOption(e, 24));  // NODATA at a pool name
    }
    std::vector<std::uint8_t> out(65535);
    const IpAddress source = *IpAddress::parse("192.0.2.77");
    // The first round signs (misses allocate); afterwards everything is a hit.
    std::size_t signedAnswers = 0;
    for (const auto& q : batch) {
      server::QueryFacts facts;
      REQUIRE(server::answer(*snap, q, out, server::Transport::Udp, source, &facts) > 0);
      CHECK_FALSE(facts.signFailed);
      const std::uint16_t an = static_cast<std::uint16_t>(out[6] << 8 | out[7]);
      const std::uint16_t ns = static_cast<std::uint16_t>(out[8] << 8 | out[9]);
      if (an + ns >= 2) ++signedAnswers;
    }
    CHECK(signedAnswers == batch.size());
    const long before = gAllocations.load();
    CHECK(test::answerRounds(*snap, batch, out, source) > 0);
    CHECK(gAllocations.load() - before == 0);
  }
}

TEST_CASE("a random-subdomain flood beyond the signing budget allocates nothing") {
  test::TempDir dir;
  const std::string csk = keygen(dir, "-a ECDSAP256SHA256 -k s.test");
  const std::string zone = dir.write("s.zone", "$ORIGIN s.test.\n@ SOA ns h 1 2 3 4 30\n@ NS ns\n");
  ErrorList errors;
  auto cfg = config::parseConfig(R"({"listen": ["127.0.0.1:53"],
    "limits": {"max_signatures_per_second": 1},
    "zones": [{"origin": "s.test", "file": ")" +
                                     zone + R"(", "dnssec": {"keys": [")" + csk + R"("]}}]})",
                                 "s.json", errors);
  REQUIRE_MESSAGE(cfg, errors.str());
  test::FakeClock clock;  // never moves: the one token is spent by the first query
  auto snap = server::buildSnapshot(*cfg, errors, nullptr, 0, &clock);
  REQUIRE_MESSAGE(snap, errors.str());
  std::vector<std::vector<std::uint8_t>> flood;
  for (int i = 0; i < 500; ++i)
    flood.push_back(test::makeQuery(
        {.name = "r" + std::to_string(i) + ".s.test", .edns = true, .dnssecOk = true}));
  std::vector<std::uint8_t> out(65535);
  const IpAddress source = *IpAddress::parse("192.0.2.77");
  server::QueryFacts facts;
  REQUIRE(server::answer(*snap, flood[0], out, server::Transport::Udp, source, &facts) > 0);
  CHECK_FALSE(facts.signBudget);  // signed: the token
  const long before = gAllocations.load();
  int overBudget = 0;
  for (std::size_t i = 1; i < flood.size(); ++i) {
    server::answer(*snap, flood[i], out, server::Transport::Udp, source, &facts);
    overBudget += facts.signBudget ? 1 : 0;
  }
  CHECK(gAllocations.load() - before == 0);
  CHECK(overBudget == static_cast<int>(flood.size()) - 1);
}
