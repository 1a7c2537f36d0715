#include <doctest/doctest.h>

#include <maxminddb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "geo/geo_map.h"
#include "geo/locator.h"

using namespace geodns;
using namespace geodns::geo;

namespace {
const std::string kData = std::string(GEODNS_TEST_DATA) + "/data/geoip/";

std::shared_ptr<Locator> open(std::vector<DatabaseSpec> specs, const DatabaseSpec* asn = nullptr) {
  ErrorList errors;
  auto l = Locator::open(specs, asn, errors);
  REQUIRE_MESSAGE(l, errors.str());
  return l;
}
IpAddress ip(const char* s) {
  return *IpAddress::parse(s);
}
DatabaseSpec db(const std::string& file) {
  DatabaseSpec s;
  s.file = kData + file;
  return s;
}
}  // namespace

struct LocCase {
  const char* what;
  const char* ip;
  bool found;
  const char* continent;
  const char* country;
  const char* subdivision;
  double lat, lon;  // NAN: no coordinates
  int prefix;
};

TEST_CASE("GeoIP2 layout: MaxMind City test database") {
  auto l = open({db("GeoIP2-City-Test.mmdb")});
  CHECK(l->databases()[0]->layout() == Layout::GeoIP2);
  const LocCase cases[] = {
      {"IPv4 in IPv6 tree, prefix -96", "81.2.69.142", true, "EU", "GB", "GB-ENG", 51.5142, -0.0931,
       31},
      {"US /29", "216.160.83.56", true, "NA", "US", "US-WA", 47.2513, -122.3149, 29},
      {"continent only", "2.3.3.1", true, "EU", "", "", NAN, NAN, 24},
      {"found, no geo", "214.1.1.1", true, "", "", "", NAN, NAN, 24},
      {"IPv6", "2001:218::1", true, "AS", "JP", "", 35.68536, 139.75309, 32},
      {"location without country", "2a02:d500::1", true, "EU", "", "", 48.69096, 9.14062, 29},
      {"v4-mapped looked up as IPv4", "::ffff:81.2.69.142", true, "EU", "GB", "GB-ENG", 51.5142,
       -0.0931, 31},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    Location loc;
    CHECK(l->locate(ip(c.ip), loc) == c.found);
    CHECK(std::string(loc.continent) == c.continent);
    CHECK(std::string(loc.country) == c.country);
    if (std::strlen(c.subdivision)) CHECK(std::string(loc.subdivision) == c.subdivision);
    CHECK(loc.hasCoords == !std::isnan(c.lat));
    if (loc.hasCoords) {
      CHECK(loc.lat == doctest::Approx(c.lat).epsilon(0.0001));
      CHECK(loc.lon == doctest::Approx(c.lon).epsilon(0.0001));
    }
    CHECK(loc.prefix == c.prefix);
    CHECK(loc.database == 0);
  }
}

TEST_CASE("misses report the unmatched block, never 0") {
  auto l = open({db("GeoIP2-City-Test.mmdb")});
  Location loc;
  CHECK_FALSE(l->locate(ip("8.8.8.8"), loc));
  CHECK(loc.prefix > 0);
  CHECK(loc.prefix <= 32);
  CHECK(loc.database == -1);
  CHECK_FALSE(l->locate(ip("2001:db8::1"), loc));
  CHECK(loc.prefix > 0);
}

TEST_CASE("flat layout (ip-location-db): float coordinates, continent derived from country") {
  auto l = open({db("flat-city-ipv4.mmdb"), db("flat-city-ipv6.mmdb")});
  CHECK(l->databases()[0]->layout() == Layout::Flat);
  CHECK(l->databases()[0]->ipVersion() == 4);
  const LocCase cases[] = {
      {"IPv4 file", "198.51.100.7", true, "EU", "DE", "", 50.1109, 8.6821, 24},
      {"IPv4 file, other net", "203.0.113.9", true, "AS", "JP", "", 35.6895, 139.6917, 24},
      {"IPv6 skips the IPv4-only file", "2001:db8:2::5", true, "AS", "JP", "", 35.6895, 139.6917,
       48},
      {"IPv6 /32 rest, split around the /48s", "2001:db8:99::1", true, "NA", "US", "", 37.751,
       -97.822, 41},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    Location loc;
    CHECK(l->locate(ip(c.ip), loc) == c.found);
    CHECK(std::string(loc.continent) == c.continent);
    CHECK(std::string(loc.country) == c.country);
    CHECK(loc.lat == doctest::Approx(c.lat).epsilon(0.0001));
    CHECK(loc.prefix == c.prefix);
  }
  Location loc;
  CHECK(l->locate(ip("2001:db8:2::5"), loc));
  CHECK(loc.database == 1);
}

TEST_CASE("field overrides and the generated GeoIP2 fixture") {
  DatabaseSpec spec = db("geodns-test-city.mmdb");
  spec.overrides.country = "registered_country.iso_code";
  auto l = open({spec});
  Location loc;
  CHECK(l->locate(ip("198.51.100.1"), loc));
  CHECK(std::string(loc.country) == "DE");
  CHECK(std::string(loc.subdivision) == "DE-HE");
  CHECK(l->locate(ip("192.0.2.200"), loc));  // 192.0.2.128/25: a record with no geo
  CHECK(loc.country[0] == 0);
  CHECK(loc.prefix == 25);
}

TEST_CASE("ASN database") {
  DatabaseSpec asn = db("GeoLite2-ASN-Test.mmdb");
  auto l = open({db("GeoIP2-City-Test.mmdb")}, &asn);
  CHECK(l->asnDatabase()->layout() == Layout::Asn);
  Location loc;
  CHECK(l->locate(ip("89.160.20.112"), loc));
  CHECK(loc.asn == 29518);
}

TEST_CASE("CIDR map overrides the database; longest prefix wins; stable block") {
  auto l = open({db("GeoIP2-City-Test.mmdb")});
  REQUIRE(l->addNet(*IpPrefix::parse("81.2.0.0/16"), 0));
  REQUIRE(l->addNet(*IpPrefix::parse("81.2.69.0/24"), 1));
  REQUIRE(l->addNet(*IpPrefix::parse("2001:db8::/32"), 2));
  CHECK_FALSE(l->addNet(*IpPrefix::parse("81.2.69.0/24"), 3));
  struct NetCase {
    const char* ip;
    int entry;
    int prefix;
  } cases[] = {
      {"81.2.69.142", 1, 24},  // more specific entry wins over the database
      {"81.2.70.1", 0, 23},  // /16 matched; 81.2.70.0/23 is the largest block free of the /24 entry
      {"81.2.200.1", 0, 17},
      {"2001:db8::1", 2, 32},
  };
  for (const auto& c : cases) {
    CAPTURE(c.ip);
    Location loc;
    CHECK(l->locate(ip(c.ip), loc));
    CHECK(loc.netEntry == c.entry);
    CHECK(loc.prefix == c.prefix);
    CHECK(loc.country[0] == 0);  // the map overrides the database entirely
  }
}

TEST_CASE("missing and corrupt databases are clear errors; optional ones are skipped") {
  ErrorList errors;
  CHECK_FALSE(Locator::open({db("nope.mmdb")}, nullptr, errors));
  CHECK(errors.str().find("nope.mmdb: cannot open geo database") != std::string::npos);
  ErrorList e2;
  CHECK_FALSE(Locator::open({db("GeoIP2-City-Test-Invalid-Node-Count.mmdb")}, nullptr, e2));
  CHECK(e2.str().find("invalid metadata") != std::string::npos);
  ErrorList e3;
  std::vector<std::string> skipped;
  DatabaseSpec opt = db("nope.mmdb");
  opt.optional = true;
  auto l = Locator::open({opt, db("GeoIP2-Country-Test.mmdb")}, nullptr, e3, &skipped);
  REQUIRE(l);
  CHECK(skipped.size() == 1);
  Location loc;
  CHECK(l->locate(ip("89.160.20.112"), loc));
  CHECK(std::string(loc.country) == "SE");
  CHECK_FALSE(loc.hasCoords);  // the Country database has no location
}

TEST_CASE("geo map: subdivision, country, continent, label, default") {
  GeoMap m;
  m.add(MatchKind::Subdivision, "US-CA", {1});
  m.add(MatchKind::Country, "US", {2});
  m.add(MatchKind::Continent, "EU", {3});
  m.add(MatchKind::Label, "0", {4});
  CHECK_FALSE(m.add(MatchKind::Country, "US", {9}));
  Location loc;
  MatchKind k;
  CHECK(m.match(loc, -1, &k) == nullptr);
  m.add(MatchKind::Default, "default", {5});
  std::strcpy(loc.country, "US");
  std::strcpy(loc.subdivision, "US-CA");
  CHECK((*m.match(loc, -1, &k))[0] == 1);
  CHECK(k == MatchKind::Subdivision);
  std::strcpy(loc.subdivision, "US-WA");
  CHECK((*m.match(loc, -1, &k))[0] == 2);
  Location eu;
  std::strcpy(eu.continent, "EU");
  std::strcpy(eu.country, "FR");
  CHECK((*m.match(eu, -1, &k))[0] == 3);
  CHECK(k == MatchKind::Continent);
  CHECK((*m.match(Location{}, 0, &k))[0] == 4);
  CHECK((*m.match(Location{}, -1, &k))[0] == 5);
  CHECK(k == MatchKind::Default);
}

TEST_CASE("great-circle distance") {
  CHECK(distanceKm(51.5074, -0.1278, 48.8566, 2.3522) ==
        doctest::Approx(343.5).epsilon(0.01));  // London-Paris
  CHECK(distanceKm(40.7128, -74.006, 35.6762, 139.6503) ==
        doctest::Approx(10850).epsilon(0.01));  // NYC-Tokyo
  CHECK(distanceKm(10, 10, 10, 10) == 0);
}

TEST_CASE("ECS scope: a nets entry inside the database network narrows the database's scope") {
  // The City test database answers 216.160.83.56/29 (US-WA). An operator entry
  // for 216.160.83.60/30 sits beside 216.160.83.56/30 inside that network, so
  // a database answer for .57 holds only for the /30 that is free of the entry:
  // scope /29 would let a resolver reuse it for .60..63, which the entry owns.
  auto l = open({db("GeoIP2-City-Test.mmdb")});
  REQUIRE(l->addNet(*IpPrefix::parse("216.160.83.60/30"), 0));
  struct ScopeCase {
    const char* ip;
    int entry;  // -1: answered by the database
    const char* subdivision;
    int prefix;
  } cases[] = {
      {"216.160.83.57", -1, "US-WA", 30},  // database, narrowed by the entry beside it
      {"216.160.83.61", 0, "", 30},        // the entry itself
      {"216.160.83.1", -1, "", 27},        // a miss away from the entry: the unmatched block
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.ip));
    Location loc;
    l->locate(ip(c.ip), loc);
    CHECK(loc.netEntry == c.entry);
    CHECK(std::string(loc.subdivision) == c.subdivision);
    CHECK(loc.prefix == c.prefix);
  }
  // Without the entry the database's own /29 holds.
  auto plain = open({db("GeoIP2-City-Test.mmdb")});
  Location loc;
  CHECK(plain->locate(ip("216.160.83.57"), loc));
  CHECK(loc.prefix == 29);
}

// Database reads the file where it lies (its own node decoder, for the
// location tries' walk of millions of nodes); libmaxminddb is the reference.
TEST_CASE("the mapped search tree reads node for node as libmaxminddb reads it") {
  for (const char* file :
       {"GeoIP2-City-Test.mmdb", "GeoIP2-Country-Test.mmdb", "GeoLite2-ASN-Test.mmdb",
        "flat-city-ipv4.mmdb", "flat-city-ipv6.mmdb", "geodns-test-city.mmdb"}) {
    CAPTURE(file);
    std::string err;
    auto d = Database::open(db(file), &err);
    REQUIRE_MESSAGE(d, err);
    MMDB_s m;
    REQUIRE(MMDB_open((kData + file).c_str(), MMDB_MODE_MMAP, &m) == MMDB_SUCCESS);
    const Database::Tree& t = d->walkTree();
    REQUIRE(t.nodes == m.metadata.node_count);
    std::size_t mismatches = 0, records = 0;
    for (std::uint32_t n = 0; n < t.nodes; ++n) {
      MMDB_search_node_s node;
      REQUIRE(MMDB_read_node(&m, n, &node) == MMDB_SUCCESS);
      for (int bit = 0; bit < 2; ++bit) {
        const std::uint8_t type = bit ? node.right_record_type : node.left_record_type;
        std::uint32_t want = Database::kWalkEmpty;
        if (type == MMDB_RECORD_TYPE_SEARCH_NODE)
          want = static_cast<std::uint32_t>(bit ? node.right_record : node.left_record);
        else if (type == MMDB_RECORD_TYPE_DATA) {
          want = Database::kWalkLeaf |
                 (bit ? node.right_record_entry.offset : node.left_record_entry.offset);
          ++records;
        }
        if (t.child(n, bit) != want) ++mismatches;
      }
    }
    CHECK(mismatches == 0);
    CHECK(records > 0);
    // Lookups: the same network (prefix) and the same record as libmaxminddb's.
    std::mt19937_64 rng(7);
    for (int i = 0; i < 4000; ++i) {
      const bool v6 = m.metadata.ip_version == 6 && (i & 1);
      char text[64];
      const std::uint64_t r = rng();
      if (v6)
        std::snprintf(text, sizeof text, "%x:%x:%x::%x", unsigned(0x2000 | (r & 0x1fff)),
                      unsigned(r >> 16 & 0xffff), unsigned(r >> 32 & 0xffff),
                      unsigned(r >> 48 & 0xffff));
      else
        std::snprintf(text, sizeof text, "%u.%u.%u.%u", unsigned(r & 0xff), unsigned(r >> 8 & 0xff),
                      unsigned(r >> 16 & 0xff), unsigned(r >> 24 & 0xff));
      CAPTURE(text);
      int gai = 0, rc = 0;
      const MMDB_lookup_result_s want = MMDB_lookup_string(&m, text, &gai, &rc);
      REQUIRE(gai == 0);
      REQUIRE(rc == MMDB_SUCCESS);
      Location loc;
      const auto got = d->lookup(ip(text), loc);
      CHECK((got == Database::Result::Found) == want.found_entry);
      // IPv4 in an IPv6 file: in IPv4 bits (0 when ::/96 is itself in an empty block).
      const int mask =
          !v6 && m.metadata.ip_version == 6 ? std::max(0, want.netmask - 96) : want.netmask;
      CHECK(int(loc.prefix) == mask);
      if (want.found_entry) {
        // The record: the offset walkRecord() decoded equals libmaxminddb's.
        Location again = d->walkRecord(Database::kWalkLeaf | want.entry.offset);
        CHECK(std::string(again.country) == loc.country);
        CHECK(again.asn == loc.asn);
        CHECK(again.lat == loc.lat);
      }
    }
    MMDB_close(&m);
  }
}

struct NodeCase {
  const char* what;
  std::uint8_t nodeBytes;
  std::vector<unsigned char> node;  // one node
  std::uint32_t left, right;        // raw records
};

// Record sizes 24, 28 and 32 (the test files are 24 and 28): raw values
// below the node count are nodes, the rest data pointers or empty.
TEST_CASE("search tree nodes of every record size decode") {
  const NodeCase cases[] = {
      {"24-bit", 6, {0x01, 0x02, 0x03, 0x0a, 0x0b, 0x0c}, 0x010203, 0x0a0b0c},
      {"28-bit: the middle byte's high nibble is the left record's",
       7,
       {0x01, 0x02, 0x03, 0xa5, 0x04, 0x05, 0x06},
       0x0a010203,
       0x05040506},
      {"32-bit", 8, {0x81, 0x02, 0x03, 0x04, 0x0f, 0x0e, 0x0d, 0x0c}, 0x81020304, 0x0f0e0d0c},
  };
  for (const NodeCase& c : cases) {
    CAPTURE(c.what);
    for (const std::uint32_t nodes : {1u, 0x0a010203u, 0x7fffffffu}) {
      CAPTURE(nodes);
      Database::Tree t;
      t.base = c.node.data();
      t.nodes = nodes;
      t.dataSize = 0x7ffffff0u;
      t.nodeBytes = c.nodeBytes;
      for (int bit = 0; bit < 2; ++bit) {
        const std::uint32_t raw = bit ? c.right : c.left;
        std::uint32_t want = Database::kWalkEmpty;
        if (raw < nodes)
          want = raw;
        else if (raw >= nodes + 16ull && raw - nodes - 16 < t.dataSize)
          want = Database::kWalkLeaf | (raw - nodes - 16);
        CHECK(t.child(0, bit) == want);
      }
    }
  }
  // A data pointer past the data section, or into the separator, reads as empty.
  const unsigned char node[6] = {0, 0, 20, 0, 0, 10};
  Database::Tree t{node, 2, 1, 6};
  CHECK(t.child(0, 0) == Database::kWalkEmpty);  // offset 2, past a 1-byte data section
  CHECK(t.child(0, 1) == Database::kWalkEmpty);  // 10: in the separator
}
