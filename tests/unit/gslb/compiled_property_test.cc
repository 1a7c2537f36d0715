// Property test of the compiled decisions (gslb/compiled.h), its own ctest
// (unit-compiled-property): for 1,000,000 random addresses per family the
// compiled tree and the per-query pipeline (decidePool) give the same
// answer (outcome, pool, region, TTL, and members for first-pick policies),
// and the compiled prefix never covers an address whose region differs (a
// second random address inside it is decided by the pipeline and compared).
// Half the addresses are uniform, half are drawn inside the location
// blocks of the databases and nets (so the few located networks are hit as
// often as the vast unmatched space), some IPv6 ones are IPv4-mapped.
// Reproducible: a fixed seed (printed on failure).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/wire/dns.h"
#include "gslb/compiled.h"
#include "support/gslb_builder.h"

using namespace geodns;
using namespace geodns::gslb;

namespace {

const std::string kData = std::string(GEODNS_TEST_DATA) + "/data/geoip/";

struct Rng {
  std::uint64_t s;
  std::uint64_t next() noexcept {  // splitmix64
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

// `a` with the bits from `prefix` on replaced by random ones.
IpAddress randomize(IpAddress a, unsigned prefix, Rng& rng) {
  for (unsigned i = prefix; i < a.bits(); i += 64) {
    std::uint64_t r = rng.next();
    for (unsigned j = i; j < a.bits() && j < i + 64; ++j, r >>= 1) {
      const std::uint8_t bit = static_cast<std::uint8_t>(0x80u >> (j % 8));
      a.bytes[j / 8] =
          static_cast<std::uint8_t>((r & 1) ? (a.bytes[j / 8] | bit) : (a.bytes[j / 8] & ~bit));
    }
  }
  return a;
}

// Every block of a location trie, as (address, prefix).
void blocks(const geo::LocationTrie& t, std::uint32_t v, IpAddress at, unsigned depth,
            std::vector<std::pair<IpAddress, unsigned>>& out) {
  if (v & geo::LocationTrie::kLeaf) {
    out.push_back({at, depth});
    return;
  }
  for (unsigned b = 0; b < 2; ++b) {
    IpAddress child = at;
    if (b)
      child.bytes[depth / 8] =
          static_cast<std::uint8_t>(child.bytes[depth / 8] | (0x80u >> (depth % 8)));
    blocks(t, t.nodes[std::size_t{v} * 2 + b], child, depth + 1, out);
  }
}

struct Model {
  test::GslbBuilder b{
      std::vector<std::string>{kData + "geodns-test-city.mmdb", kData + "GeoIP2-City-Test.mmdb"}};
  Model() {
    b.net("10.0.0.0/8", "eu");
    b.net("10.1.0.0/16", "us");
    b.net("89.160.0.0/12", "us");  // over networks of the MaxMind fixture
    b.net("2001:db8:5::/48", "eu");
    b.region("eu", 50.1, 8.7);
    b.region("us", 38.9, -77.0);
    b.region("jp", 35.7, 139.7);
    const auto web = b.pool("web", 300, 2);
    b.member(web, "eu", "198.51.100.1").member(web, "eu", "198.51.100.2");
    b.member(web, "us", "192.0.2.1").member(web, "us", "192.0.2.2");
    b.member(web, "jp", "203.0.113.1");
    b.member(web, "eu", "2001:db8:1::1").member(web, "us", "2001:db8::1");
    // A pool alike web (other addresses): its decisions are web's, renamed
    // (gslb::poolShape), and the degraded view degrades it alike.
    const auto twin = b.pool("twin", 300, 2);
    b.member(twin, "eu", "198.51.100.101").member(twin, "eu", "198.51.100.102");
    b.member(twin, "us", "192.0.2.101").member(twin, "us", "192.0.2.102");
    b.member(twin, "jp", "203.0.113.101");
    b.member(twin, "eu", "2001:db8:1::101").member(twin, "us", "2001:db8::101");
    const auto spare = b.pool("spare", 60);
    b.poolAt(spare).allDown = AllDown::NoData;
    b.member(spare, "us", "192.0.2.41").member(spare, "jp", "203.0.113.41");
    const auto fb = b.pool("fb", 120);
    b.poolAt(fb).allDown = AllDown::Fallback;
    b.poolAt(fb).fallbackPool = static_cast<std::int32_t>(spare);
    b.member(fb, "eu", "198.51.100.31").member(fb, "jp", "203.0.113.31");
    const auto map = [&](bool fence) {
      return b.geoMap({{"label:eu", {"eu", "us"}},
                       {"label:us", {"us", "eu"}},
                       {"continent:EU", {"eu", "us", "jp"}},
                       {"continent:AS", {"jp", "us"}},
                       {"country:SE", {"jp", "eu"}},
                       {"country:US", {"us"}},
                       {"default", {"us", "eu", "jp"}}},
                      fence);
    };
    const auto geo = b.policy("geo", {map(false), test::GslbBuilder::up()});
    const auto near = b.policy("near", {test::GslbBuilder::nearest(), test::GslbBuilder::up()});
    const auto weighted =
        b.policy("weighted", {map(false), test::GslbBuilder::up(), test::GslbBuilder::weighted()});
    const auto blind = b.policy("blind", {map(false)});
    b.bind("geo", web, geo);
    b.bind("near", web, near);
    b.bind("weighted", web, weighted);
    b.bind("fenced-fb", fb, b.policy("fenced", {map(true), test::GslbBuilder::up()}));
    b.bind("blind", web, blind);
    b.bind("twin-geo", twin, geo);
    b.bind("twin-near", twin, near);
    b.bind("twin-weighted", twin, weighted);
    b.bind("twin-blind", twin, blind);
    b.compileLocations();
  }
};

std::string regionName(const Gslb& g, const PoolDecision& pd) {
  return pd.decision.chosen ? g.regions[pd.decision.chosen->region].name : "-";
}

void check(const Model& m, const std::shared_ptr<const health::HealthView>& view, int family,
           std::size_t n, std::uint64_t seed) {
  const Gslb& g = const_cast<Model&>(m).b.gslb();
  auto compiled = compileDecisions(const_cast<Model&>(m).b.share(), view);
  const geo::LocationTrie& trie = *g.locationTries[family == 4 ? 0 : 1];
  std::vector<std::pair<IpAddress, unsigned>> located;
  IpAddress zero{};
  zero.family = static_cast<std::uint8_t>(family);
  blocks(trie, trie.root, zero, 0, located);
  REQUIRE(located.size() > 1);
  Rng rng{seed};
  std::size_t mismatches = 0, scopeViolations = 0, compiledCount = 0;
  // With a trace the pipeline locates from the databases (Locator::locate),
  // not from the location tries the compiled trees were merged from: the
  // reference stays independent of them.
  auto trace = std::make_unique<Trace>();
  for (std::size_t i = 0; i < n; ++i) {
    IpAddress a = zero;
    const std::uint64_t r = rng.next();
    if (r & 1) {
      a = randomize(zero, 0, rng);
    } else {
      const auto& [at, depth] = located[(r >> 8) % located.size()];
      a = randomize(at, depth, rng);
    }
    if (family == 6 && (r >> 1) % 16 == 0) {  // IPv4-mapped
      std::memset(a.bytes, 0, 10);
      a.bytes[10] = a.bytes[11] = 0xff;
    }
    PoolQuery q;
    q.binding = static_cast<std::uint32_t>((r >> 40) % g.bindings.size());
    q.qtype = (r >> 50) & 1 ? dns::toU16(dns::Type::AAAA) : dns::toU16(dns::Type::A);
    q.client = {a, a.bits(), true};
    PoolDecision slow, fast;
    decidePool(g, q, view.get(), slow, &(*trace = Trace{}));
    CompiledHit hit;
    if (!decideCompiled(*compiled, q, fast, &hit)) {
      ++mismatches;  // every binding here orders by location: all compiled
      continue;
    }
    ++compiledCount;
    const bool same = slow.outcome == fast.outcome && slow.pool == fast.pool &&
                      slow.decision.chosen == fast.decision.chosen && slow.ttl == fast.ttl &&
                      slow.poolAllDown == fast.poolAllDown && slow.fellBack == fast.fellBack;
    bool sameMembers = slow.decision.picked == fast.decision.picked;
    const Policy& policy = g.policies[g.bindings[q.binding].policy];
    if (policy.pick == config::PickRule::First)
      for (std::uint8_t k = 0; sameMembers && k < slow.decision.picked; ++k)
        sameMembers = slow.decision.members[k] == fast.decision.members[k];
    if (!same || !sameMembers) {
      if (++mismatches <= 5)
        MESSAGE("mismatch at " << a.str() << " binding " << g.bindings[q.binding].name << ": "
                               << regionName(g, slow) << " vs " << regionName(g, fast));
    }
    // An address inside the compiled prefix gets the same answer region.
    const IpAddress other = randomize(a, hit.prefix, rng);
    PoolQuery q2 = q;
    q2.client.address = other;
    PoolDecision slow2;
    decidePool(g, q2, view.get(), slow2, &(*trace = Trace{}));
    if (slow2.outcome != slow.outcome || slow2.decision.chosen != slow.decision.chosen ||
        slow2.pool != slow.pool || slow2.ttl != slow.ttl) {
      if (++scopeViolations <= 5)
        MESSAGE("prefix " << a.masked(hit.prefix).str() << "/" << int(hit.prefix) << " covers "
                          << other.str() << " (" << regionName(g, slow2) << ") and " << a.str()
                          << " (" << regionName(g, slow) << ")");
    }
    if (hit.prefix == 0) ++scopeViolations;  // never scope 0 while the answer depends on location
  }
  CAPTURE(seed);
  // The twin's four bindings took web's decisions, and every sampled key
  // agreed (a disagreement is a gslb::poolShape() bug).
  CHECK(compiled->stats.shared == 4);
  CHECK(compiled->stats.shapeMismatches == 0);
  CHECK(compiledCount == n);
  CHECK(mismatches == 0);
  CHECK(scopeViolations == 0);
}

}  // namespace

TEST_CASE("compiled decisions agree with the pipeline over 1M random addresses per family") {
  Model m;
  // Under health: a region drained, an eu member down and in transition,
  // eu's only IPv6 member down,
  // the fb pool's eu member down (fallback), a us member in transition.
  auto view = m.b.view();
  m.b.down(*view, "198.51.100.2", 40);
  m.b.down(*view, "198.51.100.31", 25);
  m.b.target(*view, "192.0.2.2").steady = false;
  m.b.target(*view, "192.0.2.2").changeInSec = 17;
  m.b.down(*view, "2001:db8:1::1", 33);  // eu has no IPv6 member up: ranked ahead, caps TTLs
  m.b.drainRegion(*view, "jp");
  // The twin degraded alike (so still shared).
  m.b.down(*view, "198.51.100.102", 40);
  m.b.target(*view, "192.0.2.102").steady = false;
  m.b.target(*view, "192.0.2.102").changeInSec = 17;
  m.b.down(*view, "2001:db8:1::101", 33);
  const std::shared_ptr<const health::HealthView> unhealthy = view;
  const std::shared_ptr<const health::HealthView> healthy = m.b.view();
  SUBCASE("IPv4, degraded") {
    check(m, unhealthy, 4, 1000000, 0x13);
  }
  SUBCASE("IPv6, degraded") {
    check(m, unhealthy, 6, 1000000, 0x14);
  }
  SUBCASE("IPv4, healthy") {
    check(m, healthy, 4, 200000, 0x15);
  }
  SUBCASE("IPv6, healthy") {
    check(m, healthy, 6, 200000, 0x16);
  }
  SUBCASE("no health view") {
    check(m, nullptr, 4, 200000, 0x17);
  }
}
