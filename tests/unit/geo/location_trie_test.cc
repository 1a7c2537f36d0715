// The location tries (geo/location_trie.h) against Locator::locate, at the
// edges of every network of every database: each database's own pieces, in
// orders where an earlier database's record must hold over a later one's
// networks and where a later one's must fill an earlier one's gaps, with and
// without operator nets on top.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "geo/location_trie.h"
#include "geo/locator.h"

using namespace geodns;
using namespace geodns::geo;

namespace {

const std::string kTrieData = std::string(GEODNS_TEST_DATA) + "/data/geoip/";

// Every leaf block (record or empty) of `db`'s tree for `family`: its first
// address and prefix length.
void leafBlocks(const Database& db, int family, std::uint32_t v, IpAddress at, unsigned depth,
                std::vector<std::pair<IpAddress, unsigned>>& out) {
  const unsigned bits = family == 4 ? 32 : 128;
  if (v >= Database::kWalkLeaf || depth == bits) {
    out.emplace_back(at, depth);
    return;
  }
  for (int b = 0; b < 2; ++b) {
    IpAddress child = at;
    if (b) child.bytes[depth / 8] |= static_cast<std::uint8_t>(0x80u >> (depth % 8));
    leafBlocks(db, family, db.walkChild(v, b), child, depth + 1, out);
  }
}

IpAddress lastOf(IpAddress a, unsigned prefix) {
  for (unsigned b = prefix; b < a.bits(); ++b)
    a.bytes[b / 8] |= static_cast<std::uint8_t>(0x80u >> (b % 8));
  return a;
}

}  // namespace

TEST_CASE("location tries locate like the databases at every network's edges") {
  struct Case {
    const char* name;
    std::vector<const char*> files;
    bool nets;
  };
  const Case cases[] = {
      {"test city first",
       {"geodns-test-city.mmdb", "GeoIP2-City-Test.mmdb", "flat-city-ipv4.mmdb",
        "flat-city-ipv6.mmdb"},
       false},
      {"flat first (its records hold over the city test's)",
       {"flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb", "GeoIP2-City-Test.mmdb",
        "geodns-test-city.mmdb"},
       false},
      {"country test first, city test fills",
       {"GeoIP2-Country-Test.mmdb", "GeoIP2-City-Test.mmdb"},
       false},
      {"city test first, country test fills",
       {"GeoIP2-City-Test.mmdb", "GeoIP2-Country-Test.mmdb"},
       true},
      {"coarse networks after: they fill the gaps around the finer ones",
       {"geodns-test-city.mmdb", "geodns-test-coarse.mmdb"},
       false},
      {"coarse networks first: they hold over the finer ones",
       {"geodns-test-coarse.mmdb", "flat-city-ipv4.mmdb", "geodns-test-city.mmdb"},
       false},
      {"coarse after, with nets",
       {"flat-city-ipv6.mmdb", "geodns-test-city.mmdb", "geodns-test-coarse.mmdb"},
       true},
      {"all, with nets",
       {"GeoIP2-City-Test.mmdb", "geodns-test-city.mmdb", "flat-city-ipv4.mmdb",
        "GeoIP2-Country-Test.mmdb", "flat-city-ipv6.mmdb"},
       true},
  };
  std::mt19937_64 rng(5);
  for (const Case& c : cases) {
    INFO(std::string(c.name));
    std::vector<DatabaseSpec> specs;
    for (const char* f : c.files) {
      DatabaseSpec spec;
      spec.file = kTrieData + f;
      specs.push_back(spec);
    }
    ErrorList errors;
    auto locator = Locator::open(specs, nullptr, errors);
    REQUIRE_MESSAGE(locator, errors.str());
    if (c.nets) {
      std::int32_t entry = 0;
      for (const char* p : {"81.2.69.128/26", "89.160.0.0/12", "2.125.160.216/29", "10.0.0.0/8",
                            "2001:218::/32", "2a02:cf40::/29", "::ffff:81.2.69.0/120"})
        locator->addNet(*IpPrefix::parse(p), entry++);
    }
    for (const int family : {4, 6}) {
      std::vector<std::pair<IpAddress, unsigned>> blocks;
      for (const auto& db : locator->databases()) {
        const std::uint32_t root = db->walkRoot(family);
        if (root == Database::kWalkEmpty) continue;
        IpAddress zero;
        zero.family = static_cast<std::uint8_t>(family);
        leafBlocks(*db, family, root, zero, 0, blocks);
      }
      REQUIRE(blocks.size() > 20);
      for (const bool coords : {false, true}) {
        const auto trie = compileLocationTrie(*locator, family, coords);
        std::size_t compared = 0;
        for (const auto& [first, prefix] : blocks) {
          IpAddress middle = first;
          for (unsigned b = prefix; b < first.bits(); ++b)
            if (rng() & 1) middle.bytes[b / 8] |= static_cast<std::uint8_t>(0x80u >> (b % 8));
          for (const IpAddress& a : {first, middle, lastOf(first, prefix)}) {
            if (a.family == 6 && a.isV4Mapped()) continue;  // located as IPv4
            CAPTURE(a.str());
            CAPTURE(coords);
            Location want;
            locator->locate(a, want);
            const LocationTrie::Hit got = trie->lookup(a);
            REQUIRE(got.location);
            CHECK(got.location->found == want.found);
            CHECK(std::string(got.location->country) == want.country);
            CHECK(std::string(got.location->subdivision) == want.subdivision);
            CHECK(std::string(got.location->continent) == want.continent);
            CHECK(got.location->netEntry == want.netEntry);
            CHECK(got.location->hasCoords == (coords && want.hasCoords));
            if (coords && want.hasCoords) {
              CHECK(got.location->lat == want.lat);
              CHECK(got.location->lon == want.lon);
            }
            CHECK(int(got.prefix) <= int(want.prefix));
            ++compared;
          }
        }
        CHECK(compared > 60);
      }
    }
  }
}
