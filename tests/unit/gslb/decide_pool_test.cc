// decidePool(): the whole pool decision (steps, drains, fences, all_down,
// fallback, TTL capping, ECS scope), fed through the real engine and through
// explain for the same cases; both must give the expected answer, and agree.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/engine.h"
#include "server/explain.h"
#include "server/metrics.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;

namespace {

// Regions us, eu, jp; the fixture database places 198.51.100.0/24 in DE (EU),
// 192.0.2.0/24 in the US and 203.0.113.0/24 in JP.
const char* kConfig = R"({
  "listen": ["127.0.0.1:53"],
  "zones": [{"origin": "d.test", "file": "ZONE"}],
  "geo": {"databases": [{"file": "GEOIP/geodns-test-city.mmdb"}]},
  "regions": {"us": {}, "eu": {}, "jp": {}},
  "probes": {"web": {"type": "tcp", "port": 80}},
  "health": {"min_ttl": 3},
  "pools": {
    "web": {"ttl": 30, "probe": "web", "max_answers": 2, "all_down": "nodata", "regions": {
              "us": {"members": [{"address": "192.0.2.10"}, {"address": "192.0.2.11"}]},
              "eu": {"members": [{"address": "198.51.100.10"}, {"address": "198.51.100.11"}]},
              "jp": {"members": [{"address": "203.0.113.10"}]}}},
    "one": {"ttl": 30, "probe": "web", "regions": {
              "eu": {"members": [{"address": "198.51.100.60"}, {"address": "198.51.100.61"}]},
              "us": {"members": [{"address": "192.0.2.60"}]}}},
    "sf":  {"ttl": 30, "probe": "web", "all_down": "servfail", "regions": {
              "eu": {"members": [{"address": "198.51.100.20"}]},
              "us": {"members": [{"address": "192.0.2.20"}]}}},
    "fb":  {"ttl": 30, "probe": "web", "all_down": "fallback", "fallback_pool": "spare", "regions": {
              "eu": {"members": [{"address": "198.51.100.30"}]},
              "us": {"members": [{"address": "192.0.2.30"}]}}},
    "spare": {"ttl": 20, "probe": "web", "all_down": "nodata", "regions": {
              "eu": {"members": [{"address": "198.51.100.40"}]},
              "us": {"members": [{"address": "192.0.2.40"}]}}},
    "open": {"ttl": 30, "probe": "web", "regions": {
              "eu": {"members": [{"address": "198.51.100.50"}]},
              "us": {"members": [{"address": "192.0.2.50"}]}}},
    "fo":  {"ttl": 30, "regions": {
              "eu": {"members": [{"address": "198.51.100.70"}]},
              "us": {"members": [{"address": "192.0.2.70"}]}},
            "failover": {"primary": "eu", "standby": ["us"]}},
    "names": {"ttl": 60, "all_down": "nodata", "regions": {
              "eu": {"cname": "eu.cdn.example"}, "us": {"cname": "us.cdn.example"}}}
  },
  "policies": {
    "geo": {"steps": [
      {"step": "geo_map", "map": {"continent:EU": ["eu", "us"], "country:US": ["us", "eu"],
                                  "continent:AS": ["jp", "us"], "default": ["us"]}},
      {"step": "up"}, {"step": "weighted"}]},
    "fenced": {"steps": [
      {"step": "geo_map", "fence": true,
       "map": {"continent:EU": ["eu"], "country:US": ["us"], "default": ["us"]}},
      {"step": "up"}, {"step": "weighted"}]},
    "loose": {"steps": [
      {"step": "geo_map", "map": {"continent:EU": ["eu"], "country:US": ["us"], "default": ["us"]}},
      {"step": "up"}, {"step": "weighted"}]},
    "active": {"steps": [{"step": "failover"}, {"step": "first_n", "n": 1}]},
    "first": {"steps": [
      {"step": "geo_map", "map": {"continent:EU": ["eu", "us"], "default": ["us", "eu"]}},
      {"step": "up"}]}
  },
  "bindings": [
    {"name": "www.d.test", "pool": "web", "policy": "geo"},
    {"name": "fenced.d.test", "pool": "web", "policy": "fenced"},
    {"name": "loose.d.test", "pool": "web", "policy": "loose"},
    {"name": "one.d.test", "pool": "one", "policy": "first"},
    {"name": "sf.d.test", "pool": "sf", "policy": "fenced"},
    {"name": "fb.d.test", "pool": "fb", "policy": "fenced"},
    {"name": "open.d.test", "pool": "open", "policy": "fenced"},
    {"name": "cdn.d.test", "pool": "names", "policy": "fenced"},
    {"name": "fo.d.test", "pool": "fo", "policy": "active"}
  ]
})";

// Health of one case: probed addresses that are down, or up but failing
// checks (in transition); everything else steadily up. Drains as the admin
// API makes them.
struct Health {
  std::vector<const char*> down = {}, failing = {}, drainedRegions = {}, drainedMembers = {};
};
constexpr std::uint32_t kSteadyIn = 15, kFailingIn = 7, kDownIn = 4;  // changeInSec

std::string configText() {
  std::string text = kConfig;
  const std::string dir = std::string(GEODNS_TEST_DATA) + "/data/geoip";
  text.replace(text.find("GEOIP"), 5, dir);
  return text;
}

struct Fixture {
  test::TempDir dir;
  std::shared_ptr<const ServingSnapshot> base;
  Fixture() { base = test::snapshotFromJson(dir, "d.test", configText()); }
  std::int32_t target(const char* addr) const {
    const auto& probes = base->gslb->probes;
    for (std::size_t i = 0; i < probes.size(); ++i)
      if (probes[i].address.str() == addr) return static_cast<std::int32_t>(i);
    FAIL("no probe for " << addr);
    return -1;
  }
  std::shared_ptr<const ServingSnapshot> with(const Health& h) const {
    const gslb::Gslb& g = *base->gslb;
    auto hv = std::make_shared<health::HealthView>();
    hv->config = g.configId;
    hv->targets.resize(g.probes.size());
    for (auto& t : hv->targets) {
      t.state = health::State::Up;
      t.up = t.steady = true;
      t.changeInSec = kSteadyIn;
    }
    for (const char* a : h.failing) {
      auto& t = hv->targets[static_cast<std::size_t>(target(a))];
      t.steady = false;
      t.changeInSec = kFailingIn;
    }
    for (const char* a : h.down) {
      auto& t = hv->targets[static_cast<std::size_t>(target(a))];
      t.state = health::State::Down;
      t.up = t.steady = false;
      t.changeInSec = kDownIn;
    }
    for (const char* r : h.drainedRegions)
      gslb::applyOverride(*hv, g, {"", "region_drain", r, "", 0, 0, 0, ""});
    for (const char* m : h.drainedMembers)
      gslb::applyOverride(*hv, g, {"", "member_drain", m, "", 0, 0, 0, ""});
    auto s = std::make_shared<ServingSnapshot>(*base);
    s->health = hv;
    return s;
  }
};

// What a client got: from the wire (engine) or from explain's JSON.
struct Got {
  int rcode = -1;
  std::vector<std::string> records;  // addresses or the CNAME target, in answer order
  std::string region;                // "" = none
  std::uint32_t ttl = 0;             // of the answer records (0: none)
  int scope = -1;
};

const char* kEu = "198.51.100.7/24";
const char* kUs = "192.0.2.7/24";

Got fromEngine(const ServingSnapshot& snap, const char* name, std::uint16_t qtype,
               const char* client) {
  auto prefix = *IpPrefix::parse(client, nullptr, true);
  // The id explain uses, so the weighted pick is the same.
  auto q = test::makeQuery({.name = name,
                            .qtype = qtype,
                            .id = 0x4558,
                            .options = test::ecsOption(prefix.addr.str().c_str(), prefix.length)});
  std::vector<std::uint8_t> out(4096);
  QueryFacts facts;
  auto n = answer(snap, q, out, Transport::Udp, *IpAddress::parse("127.0.0.1"), &facts);
  auto r = test::parseResponse({out.data(), n});
  Got g;
  g.rcode = r.rcode();
  for (const auto& rr : r.sections[0]) {
    g.records.push_back(test::rdataText(rr));
    g.ttl = rr.ttl;
  }
  if (facts.region >= 0) g.region = snap.gslb->regions[static_cast<std::size_t>(facts.region)].name;
  g.scope = r.ecsScope();
  return g;
}

Got fromExplain(const ServingSnapshot& snap, const char* name, std::uint16_t qtype,
                const char* client) {
  ExplainRequest req;
  req.name = name;
  req.type = qtype == 28 ? "AAAA" : qtype == 5 ? "CNAME" : "A";
  req.client = *IpPrefix::parse(client, nullptr, true);
  req.clientIsEcs = true;
  req.resolver = *IpAddress::parse("127.0.0.1");
  req.json = true;
  bool ok = false;
  auto j = nlohmann::json::parse(explain(snap, req, ok));
  REQUIRE(ok);
  Got g;
  g.rcode = j["rcode"] == "SERVFAIL" ? 2 : 0;
  if (j["outcome"] == "answer") {
    if (j.contains("cname"))
      g.records.push_back(j["cname"].get<std::string>());
    else
      for (const auto& m : j["members"]) g.records.push_back(m["address"].get<std::string>());
    g.ttl = j["ttl"].get<std::uint32_t>();
  }
  if (!j["chosen_region"].is_null()) g.region = j["chosen_region"].get<std::string>();
  g.scope = j["ecs_scope"].get<int>();
  return g;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

using V = std::vector<std::string>;

struct Case {
  const char* what;
  const char* name;
  const char* client;
  Health health;
  int rcode;
  V records;  // sorted
  const char* region;
  std::uint32_t ttl;  // of answer records; 0 for negative answers
  int scope;
  std::uint16_t qtype = 1;
};

}  // namespace

TEST_CASE("decidePool: the engine and explain give the same decision, case by case") {
  Fixture f;
  const V euWeb{"198.51.100.10", "198.51.100.11"}, usWeb{"192.0.2.10", "192.0.2.11"};
  const Case cases[] = {
      // TTLs (item 15): the pool's while nothing involved is in transition.
      {"steady: the pool's ttl", "www.d.test", kEu, {}, 0, euWeb, "eu", 30, 24},
      {"a member of the answer failing checks: capped",
       "www.d.test",
       kEu,
       {.failing = {"198.51.100.10"}},
       0,
       euWeb,
       "eu",
       kFailingIn,
       24},
      {"the region ranked ahead is down: capped, so clients come back",
       "www.d.test",
       kEu,
       {.down = {"198.51.100.10", "198.51.100.11"}},
       0,
       usWeb,
       "us",
       kDownIn,
       24},
      {"a region ranked behind is down: not capped",
       "www.d.test",
       kUs,
       {.down = {"198.51.100.10", "198.51.100.11"}},
       0,
       usWeb,
       "us",
       30,
       24},
      {"a member of the region left out of the answer is down: not capped",
       "one.d.test",
       kEu,
       {.down = {"198.51.100.61"}},
       0,
       V{"198.51.100.60"},
       "eu",
       30,
       24},
      {"the one member answered is failing: capped",
       "one.d.test",
       kEu,
       {.failing = {"198.51.100.60"}},
       0,
       V{"198.51.100.60"},
       "eu",
       kFailingIn,
       24},
      {"a member drain keeps the pool's ttl",
       "www.d.test",
       kEu,
       {.drainedMembers = {"198.51.100.10"}},
       0,
       V{"198.51.100.11"},
       "eu",
       30,
       24},
      {"a region drain without a fence: the next region of the list",
       "www.d.test",
       kEu,
       {.drainedRegions = {"eu"}},
       0,
       usWeb,
       "us",
       30,
       24},
      // Negative answers keep the scope of the location decision (item 8).
      {"all down, all_down nodata: NODATA with the client's scope",
       "www.d.test",
       kEu,
       {.down = {"198.51.100.10", "198.51.100.11", "192.0.2.10", "192.0.2.11", "203.0.113.10"}},
       0,
       V{},
       "",
       0,
       24},
      {"the fenced region down, all_down servfail: SERVFAIL with the scope",
       "sf.d.test",
       kEu,
       {.down = {"198.51.100.20"}},
       2,
       V{},
       "",
       0,
       24},
      {"servfail pool, US client unaffected",
       "sf.d.test",
       kUs,
       {.down = {"198.51.100.20"}},
       0,
       V{"192.0.2.20"},
       "us",
       30,
       24},
      // Fences (item 12).
      {"fence: drains leave the EU client no region: all_down (nodata), scoped",
       "fenced.d.test",
       kEu,
       {.drainedRegions = {"eu"}},
       0,
       V{},
       "",
       0,
       24},
      {"no fence: the same drain moves the EU client to the pool's other regions",
       "loose.d.test",
       kEu,
       {.drainedRegions = {"eu"}},
       0,
       usWeb,
       "us",
       30,
       24},
      {"fence: a US client is not affected by the EU drain",
       "fenced.d.test",
       kUs,
       {.drainedRegions = {"eu"}},
       0,
       usWeb,
       "us",
       30,
       24},
      {"fence + fail_open: the drained region inside the fence answers",
       "open.d.test",
       kEu,
       {.drainedRegions = {"eu"}},
       0,
       V{"198.51.100.50"},
       "eu",
       30,
       24},
      {"fence on a CNAME pool: NODATA with the scope",
       "cdn.d.test",
       kEu,
       {.drainedRegions = {"eu"}},
       0,
       V{},
       "",
       0,
       24},
      {"CNAME pool, steady", "cdn.d.test", kUs, {}, 0, V{"us.cdn.example."}, "us", 60, 24},
      // The fallback pool (item 9: explain follows it).
      {"fallback: the spare pool answers with its ttl",
       "fb.d.test",
       kEu,
       {.down = {"198.51.100.30"}},
       0,
       V{"198.51.100.40"},
       "eu",
       20,
       24},
      {"fallback pool down too: it fails open, capped",
       "fb.d.test",
       kEu,
       {.down = {"198.51.100.30", "198.51.100.40"}},
       0,
       V{"198.51.100.40"},
       "eu",
       kDownIn,
       24},
      {"fallback under a fence: the spare's drained region fails open",
       "fb.d.test",
       kEu,
       {.drainedRegions = {"eu"}},
       0,
       V{"198.51.100.40"},
       "eu",
       20,
       24},
      {"CNAME asked of an address pool: NODATA", "www.d.test", kEu, {}, 0, V{}, "eu", 0, 24, 5},
  };
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    auto snap = f.with(c.health);
    const Got e = fromEngine(*snap, c.name, c.qtype, c.client);
    CHECK(e.rcode == c.rcode);
    CHECK(sorted(e.records) == c.records);
    CHECK(e.region == c.region);
    CHECK(e.ttl == c.ttl);
    CHECK(e.scope == c.scope);
    const Got x = fromExplain(*snap, c.name, c.qtype, c.client);
    CHECK(x.rcode == e.rcode);
    CHECK(x.records == e.records);  // same members, same order
    CHECK(x.region == e.region);
    CHECK(x.ttl == e.ttl);
    CHECK(x.scope == e.scope);
  }
}

TEST_CASE("explain beside a server: drains, expiry and failover from the state database") {
  Fixture f;
  const gslb::Gslb& g = *f.base->gslb;
  health::MemStore store;
  const std::int64_t now = 1700000000;
  auto drain = [&](const char* kind, const char* target, std::int64_t expires) {
    health::OverrideRecord o{
        std::string(kind) + ":" + target, kind, target, "test", 0, now - 10, expires, "ops"};
    std::string err;
    REQUIRE(store.commitAdmin({o}, {}, {}, &err));
  };
  auto ask = [&](const char* name, const char* client) {
    auto snap = std::make_shared<ServingSnapshot>(*f.base);
    snap->health = healthFromStore(store, g, now);
    return fromExplain(*snap, name, 1, client);
  };
  // Nothing recorded: targets start in their initial state (up, steady), as
  // in the server, so answers keep the pool's TTL.
  CHECK(ask("www.d.test", kEu).region == "eu");
  CHECK(ask("www.d.test", kEu).ttl == 30);
  CHECK(ask("fo.d.test", kEu).region == "eu");  // the primary
  store.saveFailover({"fo", "us", now - 5, "test", true});
  CHECK(ask("fo.d.test", kEu).region == "us");  // the recorded active tier, as the server has it
  drain("region_drain", "eu", 0);
  CHECK(ask("www.d.test", kEu).region == "us");
  CHECK(ask("fenced.d.test", kEu).records.empty());  // fenced: NODATA
  drain("member_drain", "192.0.2.10", now - 1);      // expired: not applied
  CHECK(sorted(ask("www.d.test", kEu).records) == V{"192.0.2.10", "192.0.2.11"});
  drain("member_drain", "192.0.2.11", now + 60);  // still in force
  CHECK(ask("www.d.test", kEu).records == V{"192.0.2.10"});
  // Target state: a failing member caps the TTL as in the server.
  health::TargetRecord rec;
  rec.key = g.probes[static_cast<std::size_t>(f.target("192.0.2.10"))].key();
  rec.state = health::State::Up;
  rec.fail = 1;
  store.saveTarget(rec);
  auto got = ask("www.d.test", kEu);
  CHECK(got.ttl < 30);
  CHECK(got.ttl >= 3);
}

TEST_CASE("clientFor: ECS when the policy uses it and the prefix is not 0") {
  Fixture f;
  const gslb::Gslb& g = *f.base->gslb;
  const IpAddress resolver = *IpAddress::parse("203.0.113.53");
  const std::uint8_t v4[] = {198, 51, 100, 0};
  gslb::Policy noEcs = g.policies[0];
  noEcs.ecs = false;
  struct C {
    const char* what;
    const gslb::Policy* policy;
    std::uint16_t family;
    std::uint8_t source;
    const char* address;
    bool fromEcs;
  } cases[] = {
      {"ECS /24", &g.policies[0], 1, 24, "198.51.100.0", true},
      {"no ECS", &g.policies[0], 0, 0, "203.0.113.53", false},
      {"source prefix 0", &g.policies[0], 1, 0, "203.0.113.53", false},
      {"policy without ECS", &noEcs, 1, 24, "203.0.113.53", false},
  };
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    gslb::Client cl = clientFor(*c.policy, resolver, c.family, c.source, v4);
    CHECK(cl.address.str() == c.address);
    CHECK(cl.fromEcs == c.fromEcs);
    CHECK(cl.sourcePrefix == (c.fromEcs ? c.source : 32));
  }
}

TEST_CASE("counters: all-down answers and fallbacks count unanswered; records count by member") {
  Fixture f;
  Metrics metrics;
  QueryCounters& w1 = metrics.addWorker(Transport::Udp);
  metrics.track(f.base->answers);
  QueryCounters& w2 = metrics.addWorker(Transport::Tcp);  // after track: gets its row too
  QueryCounters loose;                                    // not registered: the shared row
  auto run = [&](const ServingSnapshot& s, const char* name, const char* client, QueryCounters& c) {
    auto prefix = *IpPrefix::parse(client, nullptr, true);
    auto q = test::makeQuery(
        {.name = name, .options = test::ecsOption(prefix.addr.str().c_str(), prefix.length)});
    std::vector<std::uint8_t> out(4096);
    QueryFacts facts;
    answer(s, q, out, Transport::Udp, *IpAddress::parse("127.0.0.1"), &facts);
    countQuery(s, facts, c);
    return facts;
  };
  auto allDown = f.with({.down = {"198.51.100.10", "198.51.100.11", "192.0.2.10", "192.0.2.11",
                                  "203.0.113.10", "198.51.100.20", "198.51.100.30"}});
  CHECK(run(*allDown, "www.d.test", kEu, w1).allDown);  // NODATA
  run(*allDown, "sf.d.test", kEu, w2);                  // SERVFAIL
  run(*allDown, "sf.d.test", kEu, loose);               // SERVFAIL
  auto fb = run(*allDown, "fb.d.test", kEu, w1);        // the spare pool answers
  CHECK(fb.fellBack);
  run(*f.with({}), "one.d.test", kEu, w2);  // 198.51.100.60, file order
  run(*f.with({}), "one.d.test", kEu, w1);
  auto text = metrics.render(*f.base, {});
  auto has = [&](const std::string& line) {
    CAPTURE(line);
    CHECK(text.find(line + "\n") != std::string::npos);
  };
  has("geodns_pool_unanswered_total{pool=\"web\"} 1");
  has("geodns_pool_unanswered_total{pool=\"sf\"} 2");
  has("geodns_pool_unanswered_total{pool=\"fb\"} 1");
  has("geodns_pool_answers_total{pool=\"spare\",region=\"eu\"} 1");
  has("geodns_pool_unanswered_total{pool=\"spare\"} 0");
  has("geodns_member_answers_total{pool=\"spare\",region=\"eu\",member=\"198.51.100.40\"} 1");
  has("geodns_member_answers_total{pool=\"one\",region=\"eu\",member=\"198.51.100.60\"} 2");
  // A member never answered has no line.
  CHECK(
      text.find("geodns_member_answers_total{pool=\"one\",region=\"eu\",member=\"198.51.100.61") ==
      std::string::npos);
}

TEST_CASE("regionAnswerTtl and healthCapsTtl: the TTLs /v1/status reports") {
  Fixture f;
  const gslb::Gslb& g = *f.base->gslb;
  auto poolNamed = [&](const char* n) -> std::size_t {
    for (std::size_t i = 0; i < g.pools.size(); ++i)
      if (g.pools[i].name == n) return i;
    FAIL("no pool " << n);
    return 0;
  };
  const gslb::Pool& one = g.pools[poolNamed("one")];  // eu: 198.51.100.60, .61; us: 192.0.2.60
  struct C {
    const char* what;
    Health health;
    std::uint32_t eu;
  } cases[] = {
      {"steady", {}, 30},
      {"an up member failing checks", {.failing = {"198.51.100.61"}}, kFailingIn},
      {"a down member is not in the answer", {.down = {"198.51.100.61"}}, 30},
      {"all down: the answer fails open, capped",
       {.down = {"198.51.100.60", "198.51.100.61"}},
       kDownIn},
  };
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    auto snap = f.with(c.health);
    CHECK(gslb::regionAnswerTtl(g, one, 0, snap->health.get()) == c.eu);
    CHECK(gslb::regionAnswerTtl(g, one, 1, snap->health.get()) == 30);
  }
  CHECK(gslb::regionAnswerTtl(g, one, 0, nullptr) == 30);  // no health yet
  CHECK(gslb::healthCapsTtl(g, poolNamed("web")));
  CHECK(gslb::healthCapsTtl(g, poolNamed("spare")));  // a fallback: the policy of the pool it backs
  CHECK_FALSE(gslb::healthCapsTtl(g, poolNamed("fo")));     // failover + first_n: no up step
  CHECK_FALSE(gslb::healthCapsTtl(g, poolNamed("names")));  // CNAME pool
}
