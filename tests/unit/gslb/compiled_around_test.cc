// compileDecisionsAround() (gslb/compiled.h), what `geodnsd explain` uses on
// a Gslb without location tries: for one client, the compiled prefix and
// the networks it merged equal those of the whole compiled tree
// (compileDecisions() over the same databases, tries built), and the
// decision equals the tree's and the per-query pipeline's. Databases: the
// fixtures of tests/data/geoip/README.md (generated city file, MaxMind's
// GeoIP2-City-Test, the flat IPv4 file), with operator nets over and beside
// their networks.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/wire/dns.h"
#include "gslb/compiled.h"
#include "support/gslb_builder.h"

using namespace geodns;
using namespace geodns::gslb;

namespace {

const std::string kData = std::string(GEODNS_TEST_DATA) + "/data/geoip/";

std::vector<std::string> databases() {
  return {kData + "geodns-test-city.mmdb", kData + "GeoIP2-City-Test.mmdb",
          kData + "flat-city-ipv4.mmdb"};
}

// One model, built twice: with location tries (the server), and without
// (explain).
struct Model {
  test::GslbBuilder b;
  std::vector<std::uint32_t> bindings;
  explicit Model(bool onDemand) : b(databases(), onDemand) {
    b.net("10.0.0.0/8", "eu");
    b.net("10.1.0.0/16", "us");
    b.net("89.160.0.0/12", "us");    // over networks of the MaxMind fixture
    b.net("198.51.101.0/24", "eu");  // beside the DE network: one outcome, they merge
    b.net("2001:db8:5::/48", "eu");
    b.region("eu", 50.1, 8.7);
    b.region("us", 38.9, -77.0);
    b.region("jp", 35.7, 139.7);
    const auto web = b.pool("web", 300, 2);
    b.member(web, "eu", "198.51.100.1").member(web, "eu", "198.51.100.2");
    b.member(web, "us", "192.0.2.1").member(web, "us", "192.0.2.2");
    b.member(web, "jp", "203.0.113.1");
    b.member(web, "eu", "2001:db8:1::1").member(web, "us", "2001:db8::1");
    const auto map = [&] {
      return b.geoMap({{"label:eu", {"eu", "us"}},
                       {"label:us", {"us", "eu"}},
                       {"continent:EU", {"eu", "us", "jp"}},
                       {"continent:AS", {"jp", "us"}},
                       {"country:SE", {"jp", "eu"}},
                       {"country:US", {"us"}},
                       {"default", {"us", "eu", "jp"}}});
    };
    using B = test::GslbBuilder;
    bindings.push_back(b.bind("geo", web, b.policy("geo", {map(), B::up()})));
    bindings.push_back(b.bind("near", web, b.policy("near", {B::nearest(), B::up()})));
    bindings.push_back(
        b.bind("weighted", web, b.policy("weighted", {map(), B::up(), B::weighted()})));
    bindings.push_back(b.bind("blind", web, b.policy("blind", {map()})));
    if (!onDemand) b.compileLocations();
  }
  // A view for this model: healthy, or with region eu drained.
  std::shared_ptr<const health::HealthView> view(bool drainEu) {
    auto v = b.view();
    if (drainEu) b.drainRegion(*v, "eu");
    return v;
  }
};

const std::string kQname("\3www\0", 5);

PoolQuery queryFor(const IpAddress& a, std::uint32_t binding, std::uint16_t qtype) {
  PoolQuery q;
  q.binding = binding;
  q.client = {a, a.bits(), true};
  q.qtype = qtype;
  q.qname = name::asSpan(kQname);  // seeds the weighted pick
  return q;
}

std::string regionOf(const Gslb& g, const PoolDecision& pd) {
  return pd.decision.chosen ? g.regions[pd.decision.chosen->region].name : "-";
}

std::string membersOf(const PoolDecision& pd) {
  std::string s;
  for (std::uint8_t i = 0; i < pd.decision.picked; ++i)
    s += pd.decision.members[i]->addr.str() + " ";
  return s;
}

struct Both {
  Model full{false}, around{true};
  std::shared_ptr<const health::HealthView> fullView, aroundView;
  std::shared_ptr<const CompiledDecisions> compiled;
  explicit Both(bool drainEu)
      : fullView(full.view(drainEu)),
        aroundView(around.view(drainEu)),
        compiled(compileDecisions(full.b.share(), fullView)) {}

  // Everything the explain of `a` shows, from both sides.
  void check(const IpAddress& a, std::uint32_t binding, std::uint16_t qtype,
             CompiledHit* out = nullptr) {
    const PoolQuery q = queryFor(a, binding, qtype);
    PoolDecision fromTree, fromAround, slow;
    CompiledHit treeHit, aroundHit;
    REQUIRE(decideCompiled(*compiled, q, fromTree, &treeHit));
    auto local = compileDecisionsAround(around.b.share(), aroundView, q);
    CHECK(local->around.exact);
    REQUIRE(decideCompiled(*local, q, fromAround, &aroundHit));
    CHECK(int(aroundHit.prefix) == int(treeHit.prefix));
    CHECK(aroundHit.networks == treeHit.networks);
    const Gslb& gf = full.b.gslb();
    const Gslb& ga = around.b.gslb();
    CHECK(regionOf(ga, fromAround) == regionOf(gf, fromTree));
    CHECK(fromAround.outcome == fromTree.outcome);
    CHECK(fromAround.pool == fromTree.pool);
    CHECK(fromAround.ttl == fromTree.ttl);
    CHECK(int(fromAround.scope) == int(fromTree.scope));
    CHECK(membersOf(fromAround) == membersOf(fromTree));
    // The uncompiled pipeline (locating through the databases read on
    // demand) chooses the same region and outcome.
    decidePool(ga, q, aroundView.get(), slow);
    CHECK(regionOf(ga, slow) == regionOf(ga, fromAround));
    CHECK(slow.outcome == fromAround.outcome);
    CHECK(slow.ttl == fromAround.ttl);
    if (out) *out = aroundHit;
  }
};

}  // namespace

TEST_CASE("explain: the compiled prefix around one client equals the compiled tree's") {
  struct Case {
    const char* name;
    const char* client;
    int prefix;    // geo binding, healthy, A: the compiled prefix (-1: not asserted)
    int networks;  // ...and the networks it merged
  };
  const Case cases[] = {
      {"IPv4 in a database network (DE) merged with the nets beside it", "198.51.100.7", 23, 2},
      {"IPv4 in a database network (JP)", "203.0.113.9", 24, 1},
      {"IPv4 in MaxMind's GB networks", "81.2.69.160", -1, -1},
      {"IPv4 under a net over database networks: merges with the unmatched space around",
       "89.160.20.112", 5, 1},
      {"IPv4 in a more specific net inside a net", "10.1.2.3", 16, 1},
      {"IPv4 in the outer net beside it", "10.200.0.1", 9, 1},
      {"IPv4 unmatched: the widest block of the default outcome", "20.0.0.1", -1, -1},
      {"IPv4 found without geo fields", "192.0.2.200", -1, -1},
      {"IPv6 in a database network (DE)", "2001:db8:1::1", 48, 1},
      {"IPv6 continent-only record", "2001:db8:ee::1", 48, 1},
      {"IPv6 in an operator net", "2001:db8:5::1", -1, -1},
      {"IPv6 in MaxMind's networks", "2001:218::1", -1, -1},
      {"IPv6 unmatched", "3000::1", -1, -1},
      {"IPv6 just below the IPv4-mapped block", "::fffe:0:1", -1, -1},
      {"IPv6 through the 6to4 alias of the IPv4 space", "2002:c633:6407::1", -1, -1},
      {"IPv4-mapped: located as IPv4, prefix in IPv6 bits", "::ffff:198.51.100.7", 96 + 23, 2},
      {"IPv4-mapped unmatched", "::ffff:20.0.0.1", -1, -1},
  };
  Both healthy(false), drained(true);
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    const IpAddress a = *IpAddress::parse(c.client);
    for (Both* both : {&healthy, &drained})
      for (std::uint32_t binding : healthy.full.bindings)
        for (std::uint16_t qtype : {dns::toU16(dns::Type::A), dns::toU16(dns::Type::AAAA)}) {
          CAPTURE(binding);
          CAPTURE(qtype);
          CAPTURE(both == &drained);
          CompiledHit hit;
          both->check(a, binding, qtype, &hit);
          if (c.prefix >= 0 && both == &healthy && binding == 0 && qtype == 1) {
            CHECK(int(hit.prefix) == c.prefix);
            CHECK(int(hit.networks) == c.networks);
          }
        }
  }
}

namespace {

// An address inside every leaf of a compiled tree: its first one and its
// last, in turn (a client's walk starts at either edge of its block).
void leafAddresses(const CompiledTree& t, std::uint32_t v, IpAddress at, unsigned depth,
                   std::vector<IpAddress>& out) {
  if (v & CompiledTree::kLeaf) {
    if (t.leaves[v & ~CompiledTree::kLeaf].outcome == CompiledTree::kNoOutcome) return;
    if (out.size() % 2)
      for (unsigned i = depth; i < at.bits(); ++i)
        at.bytes[i / 8] = static_cast<std::uint8_t>(at.bytes[i / 8] | (0x80u >> (i % 8)));
    out.push_back(at);
    return;
  }
  for (unsigned b = 0; b < 2; ++b) {
    IpAddress child = at;
    if (b)
      child.bytes[depth / 8] =
          static_cast<std::uint8_t>(child.bytes[depth / 8] | (0x80u >> (depth % 8)));
    leafAddresses(t, t.nodes[std::size_t{v} * 2 + b], child, depth + 1, out);
  }
}

}  // namespace

TEST_CASE("explain: every compiled prefix of the fixtures is found around its clients") {
  // Every leaf of every tree (binding, question family, client family),
  // healthy: the local walk finds each leaf exactly.
  Both both(false);
  std::size_t checked = 0;
  for (std::uint32_t binding : both.full.bindings)
    for (std::uint16_t qtype : {dns::toU16(dns::Type::A), dns::toU16(dns::Type::AAAA)})
      for (int fam = 0; fam < 2; ++fam) {
        const CompiledPolicy& cp =
            both.compiled->policies[static_cast<std::size_t>(both.compiled->binding[binding]) +
                                    (qtype == 1 ? 0 : 1)];
        IpAddress zero{};
        zero.family = static_cast<std::uint8_t>(fam == 0 ? 4 : 6);
        std::vector<IpAddress> addrs;
        leafAddresses(*cp.trees[fam], cp.trees[fam]->root, zero, 0, addrs);
        for (const IpAddress& a : addrs) {
          CAPTURE(a.str());
          CAPTURE(binding);
          CAPTURE(qtype);
          both.check(a, binding, qtype);
          ++checked;
        }
      }
  CHECK(checked > 100);
}

TEST_CASE("explain: a bounded walk says so, and stays inside the compiled prefix") {
  Both both(false);
  // 198.51.100.7: its /24 (DE) merges with the net beside it into a /23.
  const PoolQuery q = queryFor(*IpAddress::parse("198.51.100.7"), both.full.bindings[0], 1);
  PoolDecision pd;
  CompiledHit tree, bounded;
  REQUIRE(decideCompiled(*both.compiled, q, pd, &tree));
  CHECK(int(tree.prefix) == 23);
  // A bound the client's own path uses up: only its own network is known.
  auto local = compileDecisionsAround(both.around.b.share(), both.aroundView, q, 1);
  CHECK_FALSE(local->around.exact);
  REQUIRE(decideCompiled(*local, q, pd, &bounded));
  CHECK(int(bounded.prefix) == 24);  // the compiled prefix is this one or wider
  CHECK(bounded.networks == 1);
  CHECK(regionOf(both.around.b.gslb(), pd) == "eu");
  auto unbounded = compileDecisionsAround(both.around.b.share(), both.aroundView, q);
  CHECK(unbounded->around.exact);
  CHECK(unbounded->around.nodes > 24);
}

TEST_CASE("explain: only the asked binding and client are compiled around") {
  Both both(false);
  const PoolQuery q = queryFor(*IpAddress::parse("198.51.100.7"), both.full.bindings[0], 1);
  auto local = compileDecisionsAround(both.around.b.share(), both.aroundView, q);
  PoolDecision pd;
  CHECK(decideCompiled(*local, q, pd));
  // Another client, another question family, another binding: not compiled
  // here (the caller runs the pipeline).
  CHECK_FALSE(decideCompiled(*local, queryFor(*IpAddress::parse("203.0.113.9"), 0, 1), pd));
  CHECK_FALSE(decideCompiled(*local, queryFor(*IpAddress::parse("198.51.100.7"), 0, 28), pd));
  CHECK_FALSE(decideCompiled(*local, queryFor(*IpAddress::parse("2001:db8:1::1"), 0, 1), pd));
  CHECK_FALSE(decideCompiled(*local, queryFor(*IpAddress::parse("198.51.100.7"), 1, 1), pd));
  // A policy that does not use the location: nothing compiled.
  test::GslbBuilder b(databases(), true);
  const auto web = b.pool("web");
  b.member(web, "eu", "198.51.100.1");
  const auto first = b.bind("web", web, b.policy("first", {}));
  auto none = compileDecisionsAround(b.share(), nullptr,
                                     queryFor(*IpAddress::parse("198.51.100.7"), first, 1));
  CHECK_FALSE(decideCompiled(*none, queryFor(*IpAddress::parse("198.51.100.7"), first, 1), pd));
}

// Serving locates from the location tries (Gslb::locate); explain and
// Gslbs without tries from the databases (Locator::locate). Both must give
// the same location; the trie's block is the database network or wider.
TEST_CASE("the location tries locate like the databases; their block is as wide or wider") {
  Model full(false), around(true);
  const gslb::Gslb& g = full.b.gslb();
  const geo::Locator& la = *around.b.gslb().locator;
  REQUIRE(g.locationTries[0]);
  CHECK_FALSE(around.b.gslb().locationTries[0]);
  std::vector<IpAddress> clients;
  for (const char* client :
       {"198.51.100.7", "192.0.2.200", "81.2.69.160", "89.160.20.112", "175.16.199.1", "8.8.8.8",
        "100.64.1.1", "2001:db8:1::1", "2001:218::1", "2a02:cf40::1", "::ffff:81.2.69.160",
        "2002:c633:6407::1", "3000::1", "10.1.2.3"})
    clients.push_back(*IpAddress::parse(client));
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20000; ++i) {
    IpAddress a;
    a.family = i % 3 == 0 ? 6 : 4;
    for (auto& b : a.bytes) b = static_cast<std::uint8_t>(rng());
    if (a.family == 6 && i % 2) a.bytes[0] = 0x20;  // inside 2000::/8, where the data is
    clients.push_back(a);
  }
  std::size_t wider = 0;
  for (const IpAddress& a : clients) {
    CAPTURE(a.str());
    for (const bool detail : {false, true}) {
      CAPTURE(detail);
      geo::Location x, y;
      CHECK(g.locate(a, x, detail) == la.locate(a, y));
      CHECK(x.found == y.found);
      CHECK(std::string(x.continent) == y.continent);
      CHECK(std::string(x.country) == y.country);
      CHECK(std::string(x.subdivision) == y.subdivision);
      CHECK(x.hasCoords == y.hasCoords);
      CHECK(x.lat == y.lat);
      CHECK(x.lon == y.lon);
      CHECK(x.netEntry == y.netEntry);
      CHECK(int(x.prefix) <= int(y.prefix));
      if (detail) {
        CHECK(x.database == y.database);
        CHECK(x.asn == y.asn);
      } else if (x.prefix < y.prefix) {
        ++wider;
      }
      // The trie's prefix is its block's (in IPv4 bits for a mapped address):
      // the block's last address locates the same.
      geo::Location z;
      const IpAddress v = a.isV4Mapped() ? a.v4FromMapped() : a;
      IpAddress last = v.masked(x.prefix);
      for (unsigned b = x.prefix; b < v.bits(); ++b)
        last.bytes[b / 8] |= static_cast<std::uint8_t>(0x80u >> (b % 8));
      la.locate(last, z);
      CHECK(std::string(z.country) == x.country);
      CHECK(z.netEntry == x.netEntry);
    }
  }
  CHECK(wider > 0);  // merged blocks exist in this data
}
