// decidePool() over a model built in code (tests/support/gslb_builder.h): a
// table of named cases, each a client, a binding and a health view, and what
// the decision must be. decide_pool_test.cc covers the same rules through
// JSON, the engine and explain; this one pins the pipeline itself.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "gslb/gslb.h"
#include "support/gslb_builder.h"

using namespace geodns;
using namespace geodns::gslb;

namespace {

// Regions eu, us, jp. Clients: 198.51.100.7 is labelled eu, 192.0.2.7 us,
// 203.0.113.7 has no label (geo_map's default).
struct Model {
  test::GslbBuilder b;
  Model() {
    b.net("198.51.100.0/24", "eu");
    b.net("192.0.2.0/24", "us");

    const auto web = b.pool("web", 30, 2);  // all_down: fail_open
    b.member(web, "eu", "198.51.100.1").member(web, "eu", "198.51.100.2");
    b.member(web, "us", "192.0.2.1").member(web, "us", "192.0.2.2");
    b.member(web, "jp", "203.0.113.1");
    const auto nd = b.pool("nd", 30);
    b.poolAt(nd).allDown = AllDown::NoData;
    b.member(nd, "eu", "198.51.100.11").member(nd, "us", "192.0.2.11");
    const auto sf = b.pool("sf", 30);
    b.poolAt(sf).allDown = AllDown::ServFail;
    b.member(sf, "eu", "198.51.100.21").member(sf, "us", "192.0.2.21");
    const auto spare = b.pool("spare", 20);
    b.poolAt(spare).allDown = AllDown::NoData;
    b.member(spare, "eu", "198.51.100.41").member(spare, "us", "192.0.2.41");
    const auto fb = b.pool("fb", 30);
    b.poolAt(fb).allDown = AllDown::Fallback;
    b.poolAt(fb).fallbackPool = static_cast<std::int32_t>(spare);
    b.member(fb, "eu", "198.51.100.31").member(fb, "us", "192.0.2.31");
    const auto fo = b.pool("fo", 30);
    b.member(fo, "eu", "198.51.100.51").member(fo, "us", "192.0.2.51");
    b.member(fo, "jp", "203.0.113.51");
    b.failover(fo, {"eu", "us"});
    const auto pick = b.pool("pick", 30);  // weights 1 and 1,000,000
    b.member(pick, "eu", "198.51.100.61", 1).member(pick, "eu", "198.51.100.62", 1000000);
    const auto cap = b.pool("cap", 30, 2);
    b.member(cap, "eu", "198.51.100.71").member(cap, "eu", "198.51.100.72");

    const auto geoMap = [&](bool fence = false) {
      return fence ? b.geoMap({{"label:eu", {"eu"}}, {"default", {"us"}}}, true)
                   : b.geoMap({{"label:eu", {"eu", "us"}},
                               {"label:us", {"us", "eu"}},
                               {"default", {"jp", "us"}}});
    };
    const auto geo = b.policy("geo", {geoMap(), test::GslbBuilder::up()});
    const auto blind = b.policy("blind", {geoMap()});  // no up step: health ignored
    const auto fenced = b.policy("fenced", {geoMap(true), test::GslbBuilder::up()});
    const auto active =
        b.policy("active", {test::GslbBuilder::failoverStep(), test::GslbBuilder::firstN(1)});
    const auto activeUp =
        b.policy("active_up", {test::GslbBuilder::failoverStep(), test::GslbBuilder::up()});
    const auto first = b.policy("first", {});
    const auto weighted = b.policy("weighted", {test::GslbBuilder::weighted()});
    const auto capacity = b.policy("capacity", {test::GslbBuilder::capacity()});
    const auto weightedUp =
        b.policy("weighted_up", {test::GslbBuilder::up(), test::GslbBuilder::weighted()});

    b.bind("web", web, geo);
    b.bind("web-blind", web, blind);
    b.bind("web-fenced", web, fenced);
    b.bind("nd", nd, geo);
    b.bind("sf", sf, geo);
    b.bind("fb", fb, geo);
    b.bind("fo", fo, active);
    b.bind("fo-up", fo, activeUp);
    b.bind("pick-first", pick, first);
    b.bind("pick-weighted", pick, weighted);
    b.bind("cap-weighted", cap, weighted);
    b.bind("cap-capacity", cap, capacity);
    b.bind("cap-weighted-up", cap, weightedUp);
  }
};

struct Case {
  const char* name;
  const char* binding;
  const char* client;
  std::function<void(const test::GslbBuilder&, health::HealthView&)> health;  // may be empty
  PoolOutcome outcome;
  const char* pool;                  // the pool that answered
  const char* region;                // the chosen region; nullptr: none
  std::vector<std::string> members;  // sorted
  bool allDown = false, failedOpen = false, drained = false, fellBack = false;
  std::uint32_t ttl = 0;  // 0: the answering pool's
};

using Health = std::function<void(const test::GslbBuilder&, health::HealthView&)>;
Health down(std::vector<const char*> addrs, std::uint32_t changeIn = 100) {
  return [=](const test::GslbBuilder& b, health::HealthView& v) {
    for (const char* a : addrs) b.down(v, a, changeIn);
  };
}

const std::vector<Case> kCases = {
    // ---- geo_map order ----
    {"geo_map: an eu client gets eu",
     "web",
     "198.51.100.7",
     {},
     PoolOutcome::Answer,
     "web",
     "eu",
     {"198.51.100.1", "198.51.100.2"}},
    {"geo_map: a us client gets us",
     "web",
     "192.0.2.7",
     {},
     PoolOutcome::Answer,
     "web",
     "us",
     {"192.0.2.1", "192.0.2.2"}},
    {"geo_map: an unlabelled client gets the default list",
     "web",
     "203.0.113.7",
     {},
     PoolOutcome::Answer,
     "web",
     "jp",
     {"203.0.113.1"}},
    {"geo_map + up: eu down moves an eu client to its next region",
     "web",
     "198.51.100.7",
     down({"198.51.100.1", "198.51.100.2"}),
     PoolOutcome::Answer,
     "web",
     "us",
     {"192.0.2.1", "192.0.2.2"}},
    {"up: a down member is not answered",
     "web",
     "198.51.100.7",
     down({"198.51.100.1"}),
     PoolOutcome::Answer,
     "web",
     "eu",
     {"198.51.100.2"}},
    {"no up step: down members are answered",
     "web-blind",
     "198.51.100.7",
     down({"198.51.100.1", "198.51.100.2"}),
     PoolOutcome::Answer,
     "web",
     "eu",
     {"198.51.100.1", "198.51.100.2"}},
    // ---- drains ----
    {"drain: a drained region moves the client to its next region",
     "web",
     "198.51.100.7",
     [](const test::GslbBuilder& b, health::HealthView& v) { b.drainRegion(v, "eu"); },
     PoolOutcome::Answer,
     "web",
     "us",
     {"192.0.2.1", "192.0.2.2"},
     false,
     false,
     true},
    {"drain: every listed region drained moves to the pool's other regions",
     "web",
     "203.0.113.7",
     [](const test::GslbBuilder& b, health::HealthView& v) {
       b.drainRegion(v, "jp");
       b.drainRegion(v, "us");
     },
     PoolOutcome::Answer,
     "web",
     "eu",
     {"198.51.100.1", "198.51.100.2"},
     false,
     false,
     true},
    {"drain: a drained member is not answered",
     "web",
     "198.51.100.7",
     [](const test::GslbBuilder& b, health::HealthView& v) { b.drainMember(v, "198.51.100.2"); },
     PoolOutcome::Answer,
     "web",
     "eu",
     {"198.51.100.1"}},
    {"drain: a fence holds the client; fail_open then ignores the drain",
     "web-fenced",
     "198.51.100.7",
     [](const test::GslbBuilder& b, health::HealthView& v) { b.drainRegion(v, "eu"); },
     PoolOutcome::Answer,
     "web",
     "eu",
     {"198.51.100.1", "198.51.100.2"},
     true,
     true,
     true},
    // ---- all_down ----
    {"all_down fail_open: every member down answers them all",
     "web",
     "198.51.100.7",
     down({"198.51.100.1", "198.51.100.2", "192.0.2.1", "192.0.2.2", "203.0.113.1"}),
     PoolOutcome::Answer,
     "web",
     "eu",
     {"198.51.100.1", "198.51.100.2"},
     true,
     true},
    {"all_down nodata",
     "nd",
     "198.51.100.7",
     down({"198.51.100.11", "192.0.2.11"}),
     PoolOutcome::NoData,
     "nd",
     nullptr,
     {},
     true},
    {"all_down nodata: one region up still answers",
     "nd",
     "198.51.100.7",
     down({"198.51.100.11"}),
     PoolOutcome::Answer,
     "nd",
     "us",
     {"192.0.2.11"}},
    {"all_down servfail",
     "sf",
     "198.51.100.7",
     down({"198.51.100.21", "192.0.2.21"}),
     PoolOutcome::ServFail,
     "sf",
     nullptr,
     {},
     true},
    // ---- fallback pool ----
    {"all_down fallback: the fallback pool answers",
     "fb",
     "198.51.100.7",
     down({"198.51.100.31", "192.0.2.31"}),
     PoolOutcome::Answer,
     "spare",
     "eu",
     {"198.51.100.41"},
     false,
     false,
     false,
     true},
    {"fallback pool down too: it fails open",
     "fb",
     "192.0.2.7",
     down({"198.51.100.31", "192.0.2.31", "198.51.100.41", "192.0.2.41"}),
     PoolOutcome::Answer,
     "spare",
     "us",
     {"192.0.2.41"},
     true,
     true,
     false,
     true},
    {"fallback: not used while the pool has a region up",
     "fb",
     "198.51.100.7",
     down({"198.51.100.31"}),
     PoolOutcome::Answer,
     "fb",
     "us",
     {"192.0.2.31"}},
    // ---- pick rules ----
    {"first: no weighted step picks in config order",
     "pick-first",
     "198.51.100.7",
     {},
     PoolOutcome::Answer,
     "pick",
     "eu",
     {"198.51.100.61"}},
    {"weighted: the heavy member wins",
     "pick-weighted",
     "198.51.100.7",
     {},
     PoolOutcome::Answer,
     "pick",
     "eu",
     {"198.51.100.62"}},
    {"weighted: load is not looked at",
     "cap-weighted",
     "198.51.100.7",
     [](const test::GslbBuilder& b, health::HealthView& v) { b.load(v, "198.51.100.72", 1.0); },
     PoolOutcome::Answer,
     "cap",
     "eu",
     {"198.51.100.71", "198.51.100.72"}},
    {"capacity: a fully loaded member gets nothing",
     "cap-capacity",
     "198.51.100.7",
     [](const test::GslbBuilder& b, health::HealthView& v) { b.load(v, "198.51.100.72", 1.0); },
     PoolOutcome::Answer,
     "cap",
     "eu",
     {"198.51.100.71"}},
    {"capacity: a down member gets nothing, even without an up step",
     "cap-capacity",
     "198.51.100.7",
     down({"198.51.100.72"}),
     PoolOutcome::Answer,
     "cap",
     "eu",
     {"198.51.100.71"}},
    {"weighted without up: a down member is still answered",
     "cap-weighted",
     "198.51.100.7",
     down({"198.51.100.72"}),
     PoolOutcome::Answer,
     "cap",
     "eu",
     {"198.51.100.71", "198.51.100.72"}},
    {"up + weighted: a down member is not picked",
     "cap-weighted-up",
     "198.51.100.7",
     down({"198.51.100.72"}),
     PoolOutcome::Answer,
     "cap",
     "eu",
     {"198.51.100.71"}},
    // ---- failover tiers ----
    {"failover: the primary tier answers",
     "fo",
     "192.0.2.7",
     {},
     PoolOutcome::Answer,
     "fo",
     "eu",
     {"198.51.100.51"}},
    {"failover: the active tier answers",
     "fo",
     "198.51.100.7",
     [](const test::GslbBuilder&, health::HealthView& v) { v.activeTier[5] = 1; },
     PoolOutcome::Answer,
     "fo",
     "us",
     {"192.0.2.51"}},
    {"failover: regions outside the rule are never answered",
     "fo-up",
     "198.51.100.7",
     down({"198.51.100.51", "192.0.2.51"}),
     PoolOutcome::Answer,
     "fo",
     "eu",
     {"198.51.100.51"},
     true,
     true},
    {"failover + up: a dead active tier passes to the next tier",
     "fo-up",
     "198.51.100.7",
     down({"198.51.100.51"}),
     PoolOutcome::Answer,
     "fo",
     "us",
     {"192.0.2.51"}},
    // ---- TTL ----
    {"ttl: capped by a region in transition ranked ahead",
     "web",
     "198.51.100.7",
     down({"198.51.100.1", "198.51.100.2"}, 7),
     PoolOutcome::Answer,
     "web",
     "us",
     {"192.0.2.1", "192.0.2.2"},
     false,
     false,
     false,
     false,
     7},
    {"ttl: never below min_ttl",
     "web",
     "198.51.100.7",
     down({"198.51.100.1", "198.51.100.2"}, 1),
     PoolOutcome::Answer,
     "web",
     "us",
     {"192.0.2.1", "192.0.2.2"},
     false,
     false,
     false,
     false,
     5},
};

}  // namespace

TEST_CASE("decidePool on a model built in code: a table of cases") {
  Model m;
  const Gslb& g = m.b.gslb();
  for (const Case& c : kCases) {
    INFO(c.name);
    std::uint32_t binding = 0;
    while (binding < g.bindings.size() && g.bindings[binding].name != c.binding) ++binding;
    REQUIRE(binding < g.bindings.size());
    auto view = m.b.view();
    if (c.health) c.health(m.b, *view);
    PoolQuery q;
    q.binding = binding;
    const Policy& policy = g.policies[g.bindings[binding].policy];
    q.client = clientFor(policy, *IpAddress::parse(c.client), 0, 0, nullptr);
    q.qtype = 1;
    const std::uint8_t qname[] = {3, 'w', 'w', 'w', 0};
    q.qname = qname;
    PoolDecision out;
    decidePool(g, q, view.get(), out);

    CHECK(outcomeName(out.outcome) == std::string(outcomeName(c.outcome)));
    REQUIRE(out.pool >= 0);
    CHECK(g.pools[static_cast<std::size_t>(out.pool)].name == c.pool);
    const Decision& d = out.decision;
    if (c.region) {
      REQUIRE(d.chosen);
      CHECK(g.regions[d.chosen->region].name == c.region);
    } else {
      CHECK(d.picked == 0);
    }
    std::vector<std::string> members;
    for (std::uint8_t i = 0; i < d.picked; ++i) members.push_back(d.members[i]->addr.str());
    std::sort(members.begin(), members.end());
    CHECK(members == c.members);
    CHECK(d.allDown == c.allDown);
    CHECK(d.failedOpen == c.failedOpen);
    CHECK(d.drained == c.drained);
    CHECK(out.fellBack == c.fellBack);
    const std::uint32_t ttl = c.ttl ? c.ttl : g.pools[static_cast<std::size_t>(out.pool)].ttl;
    CHECK(out.ttl == ttl);
  }
}

TEST_CASE("decidePool on a model built in code: a view is as good as the publish that checked it") {
  // The generation is checked once, by attachHealth (server/health_runner.h);
  // each compiled config gets its own id, and a view carries the one it was
  // built for.
  Model a, b;
  CHECK(a.b.gslb().configId != b.b.gslb().configId);
  CHECK(a.b.view()->config == a.b.gslb().configId);
  CHECK(a.b.gslb().configId != health::ConfigId::None);
}

TEST_CASE("the step table: every kind has a name, a step function and its rules") {
  for (const auto& info : config::kSteps) {
    CAPTURE(info.name);
    CHECK(config::stepFromName(info.name) == info.kind);
    Policy p;
    p.steps.push_back(test::GslbBuilder::step(info.kind));
    finishPolicy(p);
    CHECK(p.usesLocation == info.usesLocation);
    CHECK(p.pick == info.pick);
  }
  // The strongest pick rule of a policy's steps wins, in any order.
  Policy p;
  p.steps = {test::GslbBuilder::capacity(), test::GslbBuilder::weighted(), test::GslbBuilder::up()};
  finishPolicy(p);
  CHECK(p.pick == config::PickRule::Capacity);
  CHECK(!p.usesLocation);
}
