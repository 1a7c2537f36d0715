// Compiled decisions (gslb/compiled.h): the merge of location classes with
// equal outcomes into the widest aligned prefixes, as tables of named cases
// over operator nets and the fixture database (tests/data/geoip/README.md:
// 198.51.100.0/24 DE/EU, 192.0.2.0/24 US, 203.0.113.0/24 JP, 2001:db8::/32
// US, 2001:db8:1::/48 DE, 2001:db8:2::/48 JP, 2001:db8:ee::/48 EU only).
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/wire/dns.h"
#include "gslb/compiled.h"
#include "support/gslb_builder.h"

using namespace geodns;
using namespace geodns::gslb;

namespace {

const std::string kCityDb = std::string(GEODNS_TEST_DATA) + "/data/geoip/geodns-test-city.mmdb";

struct Net {
  const char* prefix;
  const char* label;
};

// Regions eu, us, jp; geo_map: label:eu and continent EU -> eu, label:us ->
// us, country JP -> jp, default -> us; one member each, probed (an up step).
struct Model {
  test::GslbBuilder b;
  std::uint32_t binding = 0;
  Model(bool withDb, const std::vector<Net>& nets)
      : b(withDb ? std::vector<std::string>{kCityDb} : std::vector<std::string>{}) {
    for (const Net& n : nets) b.net(n.prefix, n.label);
    const auto web = b.pool("web", 300);
    b.member(web, "eu", "198.51.100.1");
    b.member(web, "us", "192.0.2.1");
    b.member(web, "jp", "203.0.113.1");
    b.member(web, "eu", "2001:db8:1::1");
    b.member(web, "us", "2001:db8::1");
    const auto geo = b.policy("geo", {b.geoMap({{"label:eu", {"eu", "us"}},
                                                {"continent:EU", {"eu", "us"}},
                                                {"label:us", {"us", "eu"}},
                                                {"country:JP", {"jp", "us"}},
                                                {"default", {"us", "eu"}}}),
                                      test::GslbBuilder::up()});
    binding = b.bind("web", web, geo);
    b.compileLocations();
  }
};

PoolQuery queryFor(const std::string& client, std::uint8_t source, std::uint32_t binding,
                   std::uint16_t qtype = 1) {
  auto a = IpAddress::parse(client);
  REQUIRE(a);
  PoolQuery q;
  q.binding = binding;
  q.client = {a->masked(source), source, true};
  q.qtype = qtype;
  return q;
}

std::string regionOf(const Gslb& g, const PoolDecision& pd) {
  return pd.decision.chosen ? g.regions[pd.decision.chosen->region].name : "-";
}

}  // namespace

TEST_CASE("compiled: merge table (prefix, networks merged, region)") {
  struct Case {
    const char* name;
    bool db;
    std::vector<Net> nets;
    const char* client;
    int prefix;    // the compiled prefix around the client (bits of its family)
    int networks;  // located pieces merged into it
    const char* region;
  };
  const Case cases[] = {
      {"adjacent nets with one outcome merge into their parent",
       false,
       {{"10.0.0.0/25", "eu"}, {"10.0.0.128/25", "eu"}},
       "10.0.0.5",
       24,
       2,
       "eu"},
      {"adjacent nets with different outcomes stay apart",
       false,
       {{"10.0.0.0/25", "eu"}, {"10.0.0.128/25", "us"}},
       "10.0.0.5",
       25,
       1,
       "eu"},
      {"a hole between nets is its own block (default outcome)",
       false,
       {{"10.0.0.0/25", "eu"}, {"10.0.1.0/24", "eu"}},
       "10.0.0.200",
       25,
       0,
       "us"},
      {"a net beside a hole keeps its own prefix",
       false,
       {{"10.0.0.0/25", "eu"}, {"10.0.1.0/24", "eu"}},
       "10.0.0.5",
       25,
       1,
       "eu"},
      {"unmatched space takes the widest block of the default outcome",
       false,
       {{"10.0.0.0/8", "eu"}},
       "20.0.0.1",
       4,
       0,
       "us"},
      {"one outcome for a whole family is still /1, never /0",
       false,
       {{"2001:db8::/32", "eu"}},
       "200.1.1.1",
       1,
       0,
       "us"},
      {"a /0 net is the default; a more specific net cuts it",
       false,
       {{"0.0.0.0/0", "eu"}, {"10.0.0.0/8", "us"}},
       "200.1.1.1",
       1,
       1,
       "eu"},
      {"the more specific net inside a /0 net",
       false,
       {{"0.0.0.0/0", "eu"}, {"10.0.0.0/8", "us"}},
       "10.1.2.3",
       8,
       1,
       "us"},
      {"a net beside a database network with the same outcome merges with it",
       true,
       {{"198.51.101.0/24", "eu"}},
       "198.51.100.7",
       23,
       2,
       "eu"},
      {"a net overriding half a database network",
       true,
       {{"198.51.100.128/25", "us"}},
       "198.51.100.200",
       25,
       1,
       "us"},
      {"the database half beside the overriding net",
       true,
       {{"198.51.100.128/25", "us"}},
       "198.51.100.7",
       25,
       1,
       "eu"},
      {"database networks: a country inside a differently routed /32",
       true,
       {},
       "2001:db8:1::1",
       48,
       1,
       "eu"},
      {"database networks: a continent-only record", true, {}, "2001:db8:ee::1", 48, 1, "eu"},
      {"database network JP", true, {}, "203.0.113.9", 24, 1, "jp"},
      {"IPv4-mapped IPv6 is located as IPv4; its prefix in IPv6 bits",
       true,
       {{"198.51.101.0/24", "eu"}},
       "::ffff:198.51.100.7",
       96 + 23,
       2,
       "eu"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Model m(c.db, c.nets);
    auto view = m.b.view();
    auto compiled = compileDecisions(m.b.share(), view);
    const std::uint8_t full = IpAddress::parse(c.client)->bits();
    const PoolQuery q = queryFor(c.client, full, m.binding);
    PoolDecision pd;
    CompiledHit hit;
    REQUIRE(decideCompiled(*compiled, q, pd, &hit));
    CHECK(int(hit.prefix) == c.prefix);
    CHECK(int(hit.networks) == c.networks);
    CHECK(regionOf(m.b.gslb(), pd) == c.region);
    CHECK(int(pd.scope) == c.prefix);  // a full-length source: the scope is the prefix
    // The pipeline, run per query, agrees on the region.
    PoolDecision slow;
    decidePool(m.b.gslb(), q, view.get(), slow);
    CHECK(regionOf(m.b.gslb(), slow) == c.region);
  }
}

TEST_CASE("compiled: the IPv4-mapped block never merges into IPv6 neighbours") {
  Model m(true, {});
  auto compiled = compileDecisions(m.b.share(), m.b.view());
  // ::fffe:0:1 and ::1 are routed by default like everything unmatched in
  // IPv6; the block around them must stop short of ::ffff:0:0/96, whose
  // clients are IPv4 with their own answers.
  for (const char* client : {"::fffe:0:1", "::1", "::ffff:1:0:0"}) {
    CAPTURE(client);
    PoolDecision pd;
    CompiledHit hit;
    REQUIRE(decideCompiled(*compiled, queryFor(client, 128, m.binding), pd, &hit));
    const IpAddress a = *IpAddress::parse(client);
    const IpAddress mappedStart = *IpAddress::parse("::ffff:0:0");
    CHECK(a.masked(hit.prefix) != mappedStart.masked(hit.prefix));
  }
}

TEST_CASE("compiled: the scope is the compiled prefix capped at the source prefix") {
  Model m(false, {{"10.0.0.0/16", "eu"}, {"10.1.0.0/25", "eu"}});
  auto compiled = compileDecisions(m.b.share(), m.b.view());
  struct Case {
    const char* name;
    const char* client;
    std::uint8_t source;
    int scope;
  };
  const Case cases[] = {
      {"source /24 inside a /16 block: /16", "10.0.3.0", 24, 16},
      {"source /24 over a /25 block: capped at /24", "10.1.0.0", 24, 24},
      {"source /8 over a /16 block: /8", "10.0.0.0", 8, 8},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    PoolDecision pd;
    REQUIRE(decideCompiled(*compiled, queryFor(c.client, c.source, m.binding), pd));
    CHECK(int(pd.scope) == c.scope);
  }
  // Not from ECS: scope 0 on the wire, as decidePool().
  PoolQuery q = queryFor("10.0.3.1", 32, m.binding);
  q.client.fromEcs = false;
  PoolDecision pd;
  REQUIRE(decideCompiled(*compiled, q, pd));
  CHECK(pd.scope == 0);
}

TEST_CASE("compiled: health and drains change outcomes and scopes") {
  // Europe is eu's; everything else us's. Draining eu sends Europe to us
  // too: the block around a European client widens with the outcome.
  Model m(true, {});
  auto healthy = m.b.view();
  auto before = compileDecisions(m.b.share(), healthy);
  const PoolQuery q = queryFor("198.51.100.7", 32, m.binding);
  PoolDecision pd;
  CompiledHit hit;
  REQUIRE(decideCompiled(*before, q, pd, &hit));
  CHECK(regionOf(m.b.gslb(), pd) == "eu");
  CHECK(int(hit.prefix) == 24);

  auto drained = m.b.view();
  m.b.drainRegion(*drained, "eu");
  auto after = compileDecisions(m.b.share(), drained, before.get());
  CompiledHit hit2;
  REQUIRE(decideCompiled(*after, q, pd, &hit2));
  CHECK(regionOf(m.b.gslb(), pd) == "us");
  CHECK(int(hit2.prefix) < 24);

  // A member down in eu (the only one for IPv4): the up step drops eu.
  auto down = m.b.view();
  m.b.down(*down, "198.51.100.1", 30);
  auto afterDown = compileDecisions(m.b.share(), down, after.get());
  REQUIRE(decideCompiled(*afterDown, q, pd, &hit2));
  CHECK(regionOf(m.b.gslb(), pd) == "us");
  PoolDecision slow;
  decidePool(m.b.gslb(), q, down.get(), slow);
  CHECK(regionOf(m.b.gslb(), slow) == "us");
  CHECK(pd.ttl == slow.ttl);  // the TTL cap of the down member ranked ahead
  CHECK(pd.ttl == 30);

  // The same view again: nothing changed, every tree is reused.
  auto again = compileDecisions(m.b.share(), m.b.view(), before.get());
  CHECK(again->stats.reused == again->stats.trees);
  CHECK(again->stats.trees == 4);  // A and AAAA, IPv4 and IPv6 clients
  CHECK(afterDown->stats.reused < afterDown->stats.trees);
}

TEST_CASE("compiled: decisions that split the locations differently get their own trees") {
  test::GslbBuilder b({kCityDb});
  const auto web = b.pool("web", 300);
  b.member(web, "eu", "198.51.100.1");
  b.member(web, "us", "192.0.2.1");
  const auto byContinent =
      b.bind("c", web,
             b.policy("continent",
                      {b.geoMap({{"continent:EU", {"eu", "us"}}, {"default", {"us", "eu"}}})}));
  const auto byCountry = b.bind(
      "k", web,
      b.policy("country", {b.geoMap({{"country:US", {"us", "eu"}}, {"default", {"eu", "us"}}})}));
  b.compileLocations();
  auto c = compileDecisions(b.share(), nullptr);
  const auto& pc = c->policies[static_cast<std::size_t>(c->binding[byContinent])];
  const auto& pk = c->policies[static_cast<std::size_t>(c->binding[byCountry])];
  CHECK(*pc.keyOutcome != *pk.keyOutcome);
  CHECK(pc.trees[0] != pk.trees[0]);
  for (const auto& [bind, client, region] :
       std::vector<std::tuple<std::uint32_t, const char*, const char*>>{
           {byContinent, "198.51.100.7", "eu"},
           {byContinent, "192.0.2.7", "us"},
           {byCountry, "198.51.100.7", "eu"},
           {byCountry, "192.0.2.7", "us"},
           {byCountry, "203.0.113.7", "eu"},
           {byContinent, "203.0.113.7", "us"}}) {
    CAPTURE(std::string(client));
    PoolDecision pd;
    REQUIRE(decideCompiled(*c, queryFor(client, 24, bind), pd));
    CHECK(regionOf(*c->gslb, pd) == region);
  }
}

TEST_CASE("compiled: policies that do not use the location are not compiled") {
  test::GslbBuilder b;
  const auto web = b.pool("web");
  b.member(web, "eu", "198.51.100.1");
  const auto bind = b.bind("web", web, b.policy("first", {}));
  b.compileLocations();
  auto compiled = compileDecisions(b.share(), nullptr);
  PoolDecision pd;
  CHECK_FALSE(decideCompiled(*compiled, queryFor("10.0.0.1", 32, bind), pd));
}

TEST_CASE("compiled: bindings with the same pool and policy share one compiled policy") {
  test::GslbBuilder b({kCityDb});
  const auto web = b.pool("web", 300);
  b.member(web, "eu", "198.51.100.1");
  b.member(web, "us", "192.0.2.1");
  const auto web2 = b.pool("web2", 300);
  b.member(web2, "eu", "198.51.100.2");
  b.member(web2, "us", "192.0.2.2");
  const auto geo = b.policy("geo", {b.geoMap({{"continent:EU", {"eu", "us"}},
                                              {"default", {"us", "eu"}}})});
  const auto geo2 = b.policy("geo2", {b.geoMap({{"continent:EU", {"us", "eu"}},
                                                {"default", {"eu", "us"}}})});
  const auto a1 = b.bind("a1", web, geo);
  const auto a2 = b.bind("a2", web, geo);   // same pool, same policy as a1
  const auto p2 = b.bind("p2", web2, geo);  // another pool
  const auto q2 = b.bind("q2", web, geo2);  // another policy
  b.compileLocations();
  auto c = compileDecisions(b.share(), nullptr);
  CHECK(c->binding[a1] >= 0);
  CHECK(c->binding[a1] == c->binding[a2]);
  CHECK(c->binding[p2] != c->binding[a1]);
  CHECK(c->binding[q2] != c->binding[a1]);
  CHECK(c->binding[q2] != c->binding[p2]);
  CHECK(c->stats.trees == 3 * 4);  // (A, AAAA) x (IPv4, IPv6) per distinct pair
  // All three split the keys alike (Europe, the rest): one tree per family
  // and question type serves them, each with its own outcomes.
  CHECK(c->stats.distinct == 4);
  const auto treeOf = [&](std::uint32_t bind, int fam) {
    return c->policies[static_cast<std::size_t>(c->binding[bind])].trees[fam].get();
  };
  for (int fam = 0; fam < 2; ++fam) {
    CHECK(treeOf(a1, fam) == treeOf(p2, fam));
    CHECK(treeOf(a1, fam) == treeOf(q2, fam));
  }
  // And each answers with its own pool and policy: an EU client.
  for (const auto& [bind, region, address] :
       std::vector<std::tuple<std::uint32_t, const char*, const char*>>{
           {a1, "eu", "198.51.100.1"}, {a2, "eu", "198.51.100.1"},
           {p2, "eu", "198.51.100.2"}, {q2, "us", "192.0.2.1"}}) {
    CAPTURE(bind);
    PoolDecision pd;
    REQUIRE(decideCompiled(*c, queryFor("198.51.100.7", 24, bind), pd));
    CHECK(regionOf(*c->gslb, pd) == region);
    REQUIRE(pd.decision.picked >= 1);
    CHECK(pd.decision.members[0]->addr.str() == address);
  }
}

TEST_CASE("compiled: keys evaluated on two threads give the one-pass numbering and trees") {
  const std::string data = std::string(GEODNS_TEST_DATA) + "/data/geoip/";
  test::GslbBuilder b({data + "GeoIP2-City-Test.mmdb", kCityDb, data + "geodns-test-coarse.mmdb"});
  b.net("10.0.0.0/8", "eu");
  b.net("fc00::/7", "late");  // the walk meets it last: an outcome only the upper half has
  b.region("eu", 50.1, 8.7);
  b.region("us", 38.9, -77.0);
  b.region("jp", 35.7, 139.7);
  const auto web = b.pool("web", 300);
  b.member(web, "eu", "198.51.100.1").member(web, "us", "192.0.2.1");
  b.member(web, "jp", "203.0.113.1").member(web, "us", "2001:db8::1");
  b.member(web, "eu", "2001:db8:1::1").member(web, "jp", "2001:db8:2::1");
  // More regions than the fixtures' continents: each half of the keys
  // meets its outcomes in its own order.
  for (const auto& [r, lat, lon, v4, v6] :
       std::vector<std::tuple<const char*, double, double, const char*, const char*>>{
           {"au", -33.9, 151.2, "203.0.113.9", "2001:db8:3::1"},
           {"br", -23.5, -46.6, "192.0.2.9", "2001:db8:4::1"},
           {"ke", -1.3, 36.8, "198.51.100.9", "2001:db8:5::1"},
           {"se", 59.3, 18.1, "198.51.100.10", "2001:db8:6::1"}}) {
    b.region(r, lat, lon);
    b.member(web, r, v4).member(web, r, v6);
  }
  const auto near = b.bind("near", web, b.policy("near", {test::GslbBuilder::nearest()}));
  const auto geo = b.bind("geo", web,
                          b.policy("geo", {b.geoMap({{"label:late", {"se", "us"}},
                                                     {"continent:EU", {"eu", "us"}},
                                                     {"default", {"us", "jp"}}})}));
  b.compileLocations();
  auto one = compileDecisions(b.share(), nullptr, nullptr, SIZE_MAX);
  auto two = compileDecisions(b.share(), nullptr, nullptr, 2);  // every split evaluated in halves
  REQUIRE(one->policies.size() == two->policies.size());
  CHECK(one->stats.evaluated == two->stats.evaluated);
  for (const auto bind : {near, geo}) {
    for (const std::size_t qt : {0u, 1u}) {
      const auto i = static_cast<std::size_t>(one->binding[bind]) + qt;
      const CompiledPolicy& p1 = one->policies[i];
      const CompiledPolicy& p2 = two->policies[i];
      CAPTURE(bind);
      CAPTURE(qt);
      REQUIRE(p1.keyOutcome->size() > 8);
      CHECK(p1.outcomes.size() > 1);
      CHECK(*p1.keyOutcome == *p2.keyOutcome);
      CHECK(p1.outcomes == p2.outcomes);
      for (int fam = 0; fam < 2; ++fam) {
        CHECK(p1.trees[fam]->nodes == p2.trees[fam]->nodes);
        CHECK(p1.trees[fam]->root == p2.trees[fam]->root);
      }
    }
  }
}

TEST_CASE("compiled: pools alike share one evaluation; a difference in what decides does not") {
  // web and twin: the same regions, member counts and weights, other
  // addresses; `change` makes them differ (or not) in one input.
  struct Case {
    const char* name;
    bool shared;
    std::function<void(test::GslbBuilder&, health::HealthView&, std::uint32_t twin,
                       std::uint32_t spare)>
        change;
  };
  using B = test::GslbBuilder;
  using V = health::HealthView;
  const std::vector<Case> cases{
      {"alike, all up", true, [](B&, V&, std::uint32_t, std::uint32_t) {}},
      {"a region drained (both pools)", true,
       [](B& b, V& v, std::uint32_t, std::uint32_t) { b.drainRegion(v, "eu"); }},
      {"a twin member down", false,
       [](B& b, V& v, std::uint32_t, std::uint32_t) { b.down(v, "198.51.100.2"); }},
      {"a twin member in transition", false,
       [](B& b, V& v, std::uint32_t, std::uint32_t) {
         b.target(v, "192.0.2.2").steady = false;
         b.target(v, "192.0.2.2").changeInSec = 17;
       }},
      {"a twin member drained", false,
       [](B& b, V& v, std::uint32_t, std::uint32_t) { b.drainMember(v, "198.51.100.2"); }},
      {"a twin member's pushed load", false,
       [](B& b, V& v, std::uint32_t, std::uint32_t) { b.load(v, "198.51.100.2", 0.95); }},
      {"a twin member's probed latency", false,
       [](B& b, V& v, std::uint32_t, std::uint32_t) { b.target(v, "192.0.2.2").latencyMs = 80; }},
      {"the twin's min_healthy", false,
       [](B& b, V&, std::uint32_t twin, std::uint32_t) { b.poolAt(twin).minHealthy = 2; }},
      {"a twin member's weight 0", false,
       [](B& b, V&, std::uint32_t twin, std::uint32_t) {
         b.poolAt(twin).regions[0].v4[0].weight = 0;
       }},
      {"the twin's all_down rule and fallback pool", false,
       [](B& b, V&, std::uint32_t twin, std::uint32_t spare) {
         b.poolAt(twin).allDown = AllDown::Fallback;
         b.poolAt(twin).fallbackPool = static_cast<std::int32_t>(spare);
       }},
      {"the twin's active failover tier", false,
       [](B&, V& v, std::uint32_t twin, std::uint32_t) { v.activeTier[twin] = 1; }},
  };
  for (const Case& tc : cases) {
    const std::string name = tc.name;
    CAPTURE(name);
    test::GslbBuilder b({kCityDb});
    b.region("eu", 50.1, 8.7);
    b.region("us", 38.9, -77.0);
    std::uint32_t pools[2];
    const char* v4[2][2] = {{"198.51.100.1", "192.0.2.1"}, {"198.51.100.2", "192.0.2.2"}};
    const char* v6[2][2] = {{"2001:db8:1::1", "2001:db8::1"}, {"2001:db8:1::2", "2001:db8::2"}};
    for (int i = 0; i < 2; ++i) {
      pools[i] = b.pool(i == 0 ? "web" : "twin", 300);
      b.member(pools[i], "eu", v4[i][0]).member(pools[i], "us", v4[i][1]);
      b.member(pools[i], "eu", v6[i][0]).member(pools[i], "us", v6[i][1]);
      b.failover(pools[i], {"eu", "us"});
    }
    const auto spare = b.pool("spare", 60);
    b.member(spare, "us", "192.0.2.41");
    const auto geo =
        b.policy("geo", {b.geoMap({{"continent:EU", {"eu", "us"}}, {"default", {"us", "eu"}}}),
                         B::up(), B::step(StepKind::Latency), B::step(StepKind::ShedLoad)});
    const auto near = b.policy("near", {B::failoverStep(), B::nearest(), B::up()});
    std::vector<std::uint32_t> binds;
    for (const auto policy : {geo, near})
      for (const auto pool : pools)
        binds.push_back(b.bind("n" + std::to_string(binds.size()), pool, policy));
    b.compileLocations();
    auto view = b.view();
    tc.change(b, *view, pools[1], spare);
    auto c = compileDecisions(b.share(), view);
    CHECK(c->stats.shared == (tc.shared ? 2u : 0u));  // one per policy
    CHECK(c->stats.shapeMismatches == 0);
    // Whether shared or not, each binding decides as the pipeline does.
    for (const auto bind : binds)
      for (const char* client :
           {"198.51.100.7", "192.0.2.7", "203.0.113.7", "2001:db8:1::7", "2001:db8::7", "10.9.9.9"})
        for (const std::uint16_t qtype : {dns::toU16(dns::Type::A), dns::toU16(dns::Type::AAAA)}) {
          CAPTURE(bind);
          CAPTURE(client);
          CAPTURE(qtype);
          const PoolQuery q = queryFor(
              client, std::string(client).find(':') != std::string::npos ? 48 : 24, bind, qtype);
          PoolDecision slow, fast;
          decidePool(*c->gslb, q, view.get(), slow);
          REQUIRE(decideCompiled(*c, q, fast));
          CHECK(slow.outcome == fast.outcome);
          CHECK(slow.pool == fast.pool);
          CHECK(regionOf(*c->gslb, slow) == regionOf(*c->gslb, fast));
          CHECK(slow.decision.chosen == fast.decision.chosen);
          CHECK(slow.ttl == fast.ttl);
          CHECK(slow.decision.picked == fast.decision.picked);
        }
  }
}
