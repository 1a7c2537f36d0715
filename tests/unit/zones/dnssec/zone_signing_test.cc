// A signed zone as the server loads it (zones::loadZones with "dnssec"): keys
// checked with their JSON place, every authoritative RRset signed at the
// injected clock's now, DNSKEY/CDS/CDNSKEY at the apex signed by the KSK,
// DS at a cut signed, NS and glue at a cut not, wildcards left to online
// signing; every RRSIG verified by ldns. Online signatures are refreshed once
// the clock reaches the refresh time.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/wire/dns.h"
#include "support/fakes.h"
#include "support/temp_dir.h"
#include "unit/zones/dnssec/dnssec_test_util.h"
#include "zones/dnssec/signer.h"
#include "zones/load.h"
#include "zones/signing.h"
#include "zones/zone.h"

using namespace geodns;
namespace td = geodns::test::dnssec;
using geodns::test::FakeClock;
using geodns::test::TempDir;

namespace {

constexpr const char* kZoneText = R"($ORIGIN example.test.
$TTL 300
@        SOA ns1 hostmaster 1 3600 600 86400 60
@        NS  ns1
ns1      A   192.0.2.1
www      A   192.0.2.10
www      TXT "hello"
*.wild   A   192.0.2.7
sub      NS  ns.sub
sub      DS  12345 13 2 0e74a5ccbde5e8aef33f29524d259f88cb5d2ce91811dea155cf3490fffe3cbe
ns.sub   A   192.0.2.53
)";

std::uint16_t T(dns::Type t) {
  return dns::toU16(t);
}

struct Fixture {
  TempDir dir;
  std::string ksk = td::generateKey(dir.path(), "ECDSAP256SHA256", "example.test", true);
  std::string zsk = td::generateKey(dir.path(), "ECDSAP256SHA256", "example.test", false);
  std::string zoneFile = dir.write("example.zone", kZoneText);

  config::ServerConfig cfg(std::vector<std::string> keys, std::string zoneText = kZoneText) {
    config::ServerConfig c;
    config::ZoneSpec spec;
    spec.origin = "example.test";
    spec.file = dir.write("z" + std::to_string(++files) + ".zone", zoneText);
    spec.where = "c.json /zones/0";
    config::DnssecConfig d;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      d.keys.push_back(keys[i]);
      d.keyWhere.push_back("c.json /zones/0/dnssec/keys/" + std::to_string(i));
    }
    d.validity_s = 86400;
    d.refresh_s = 21600;
    d.where = "c.json /zones/0/dnssec";
    spec.dnssec = d;
    c.zones.push_back(spec);
    return c;
  }
  int files = 0;
};

std::vector<std::string> rrsetText(const zones::Node& node, const zones::RRset& set,
                                   std::span<const std::uint8_t> owner) {
  std::vector<std::string> out;
  const auto* base = reinterpret_cast<const std::uint8_t*>(set.bytes.data());
  for (const auto& rd : set.rrs)
    out.push_back(td::presentation(owner, set.type, set.ttl, {base + rd.offset, rd.length}));
  (void)node;
  return out;
}

}  // namespace

TEST_CASE("zone signing: every authoritative RRset signed, NS and glue at a cut not") {
  Fixture f;
  FakeClock clock;
  const std::int64_t now = clock.unixSeconds();
  ErrorList errors;
  auto zs = zones::loadZones(f.cfg({f.ksk, f.zsk}), errors, nullptr, 0, &clock);
  REQUIRE_MESSAGE(zs, errors.str());
  const zones::Zone& z = *zs->zones()[0];
  REQUIRE(z.signing());
  const auto& keys = z.signing()->keys();
  REQUIRE(keys.size() == 2);
  const std::uint16_t kskTag = keys.key(0).sep() ? keys.key(0).keyTag() : keys.key(1).keyTag();
  const std::uint16_t zskTag = keys.key(0).sep() ? keys.key(1).keyTag() : keys.key(0).keyTag();

  const zones::RRset* dnskey = z.apex().find(T(dns::Type::DNSKEY));
  REQUIRE(dnskey);
  CHECK(dnskey->rrs.size() == 2);
  const auto apexName = name::asSpan(z.origin());
  const std::vector<std::string> dnskeyText = rrsetText(z.apex(), *dnskey, apexName);
  CHECK(z.apex().find(T(dns::Type::CDS)));  // RFC 7344: for the KSK only
  CHECK(z.apex().find(T(dns::Type::CDS))->rrs.size() == 1);
  CHECK(z.apex().find(T(dns::Type::CDNSKEY))->rrs.size() == 1);

  struct Case {
    const char* owner;
    dns::Type type;
    int sigs;  // -1: wildcard (signed online)
    bool byKsk;
  };
  const Case cases[] = {
      {"example.test", dns::Type::SOA, 1, false},
      {"example.test", dns::Type::NS, 1, false},
      {"example.test", dns::Type::DNSKEY, 1, true},
      {"example.test", dns::Type::CDS, 1, true},
      {"example.test", dns::Type::CDNSKEY, 1, true},
      {"ns1.example.test", dns::Type::A, 1, false},
      {"www.example.test", dns::Type::A, 1, false},
      {"www.example.test", dns::Type::TXT, 1, false},
      {"*.wild.example.test", dns::Type::A, -1, false},
      {"sub.example.test", dns::Type::NS, 0, false},
      {"sub.example.test", dns::Type::DS, 1, false},
      {"ns.sub.example.test", dns::Type::A, 0, false},
  };
  for (const auto& c : cases) {
    INFO((std::string(c.owner) + " type " + std::to_string(T(c.type))));
    const auto owner = *name::fromText(c.owner);
    const zones::Node* node = z.find(name::asSpan(owner));
    REQUIRE(node);
    const zones::RRset* set = node->find(T(c.type));
    REQUIRE(set);
    CHECK(set->wildcard == (c.sigs < 0));
    if (c.sigs <= 0) {
      CHECK(set->sigs().rrs.empty());
      continue;
    }
    REQUIRE(set->sigs().rrs.size() == static_cast<std::size_t>(c.sigs));
    const auto* base = reinterpret_cast<const std::uint8_t*>(set->sigs().bytes.data());
    const std::span<const std::uint8_t> sig{base + set->sigs().rrs[0].offset,
                                            set->sigs().rrs[0].length};
    auto fields = zones::dnssec::parseRrsig(sig);
    REQUIRE(fields);
    CHECK(fields->typeCovered == T(c.type));
    CHECK(fields->keyTag == (c.byKsk ? kskTag : zskTag));
    CHECK(fields->originalTtl == set->ttl);
    CHECK(fields->inception == static_cast<std::uint32_t>(now - 3600));
    CHECK(fields->expiration == static_cast<std::uint32_t>(now + 86400));
    const std::string rrsig =
        td::presentation(name::asSpan(owner), T(dns::Type::RRSIG), set->ttl, sig);
    CHECK_MESSAGE(
        td::verify(rrsetText(*node, *set, name::asSpan(owner)), rrsig, dnskeyText, now) == "",
        rrsig);
  }
  CHECK(z.refreshAt() == now + 86400 - 21600);
  CHECK(zs->refreshAt() == z.refreshAt());  // when the server signs again
  zones::ZoneSet unsigned_;
  CHECK(unsigned_.refreshAt() == INT64_MAX);
}

TEST_CASE("zone signing: bad keys and generated records are refused with their place") {
  Fixture f;
  FakeClock clock;
  const std::string other = td::generateKey(f.dir.path(), "ECDSAP256SHA256", "other.test", true);
  const std::string rsa = td::generateKey(f.dir.path(), "RSASHA256", "example.test", true, 1024);
  const std::string expired =
      f.dir.write("Kexpired.private", td::readText(f.ksk) + "Inactive: 20200101000000\n");
  f.dir.write("Kexpired.key", td::readText(f.ksk.substr(0, f.ksk.size() - 8) + ".key"));
  struct Case {
    const char* name;
    std::vector<std::string> keys;
    std::string zone;
    const char* where;
    const char* expect;
  };
  const Case cases[] = {
      {"missing file",
       {f.ksk, f.dir.path().string() + "/Knope.private"},
       kZoneText,
       "c.json /zones/0/dnssec/keys/1",
       "cannot read"},
      {"another zone's key",
       {other, f.zsk},
       kZoneText,
       "c.json /zones/0/dnssec/keys/0",
       "other.test"},
      {"algorithm 8", {rsa}, kZoneText, "c.json /zones/0/dnssec/keys/0", "algorithm"},
      {"expired",
       {expired, f.zsk},
       kZoneText,
       "c.json /zones/0/dnssec",
       "inactive since 2020-01-01"},
      {"the same key twice",
       {f.ksk, f.ksk},
       kZoneText,
       "c.json /zones/0/dnssec/keys/1",
       "the same key"},
      {"DNSKEY in the file",
       {f.ksk, f.zsk},
       std::string(kZoneText) + "@ DNSKEY 256 3 13 " + "AAAA\n",
       ".zone:",
       "made by the server"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    ErrorList errors;
    CHECK_FALSE(zones::loadZones(f.cfg(c.keys, c.zone), errors, nullptr, 0, &clock));
    CHECK_MESSAGE(errors.str().find(c.where) != std::string::npos, errors.str());
    CHECK_MESSAGE(errors.str().find(c.expect) != std::string::npos, errors.str());
  }
}

TEST_CASE("online signatures: cached until the refresh time, then signed again") {
  Fixture f;
  FakeClock clock;
  ErrorList errors;
  auto zs = zones::loadZones(f.cfg({f.ksk, f.zsk}), errors, nullptr, 0, &clock);
  REQUIRE_MESSAGE(zs, errors.str());
  const auto& online = zs->zones()[0]->signing()->online();
  REQUIRE(online.size() == 1);
  auto& cache = *online[0].cache;
  const auto& signer = *online[0].signer;
  const auto owner = *name::fromText("x.wild.example.test");
  const std::uint8_t addr[] = {192, 0, 2, 7};
  const std::span<const std::uint8_t> rd{addr, 4};
  zones::dnssec::RRsetView v;
  v.owner = name::asSpan(owner);
  v.type = T(dns::Type::A);
  v.ttl = 300;
  v.rdatas = {&rd, 1};
  std::uint8_t out[512];
  auto reader = cache.tryReader();
  REQUIRE(reader.valid());
  const std::int64_t t0 = clock.unixSeconds();
  const std::size_t n0 = cache.lookupOrSign(reader, signer, v, out).length;
  REQUIRE(n0 > 0);
  CHECK(zones::dnssec::parseRrsig({out, n0})->inception == static_cast<std::uint32_t>(t0 - 3600));
  CHECK(cache.stats().signs == 1);
  // Before the refresh time: a hit, no new signature.
  clock.advance(std::chrono::seconds(86400 - 21600 - 1));
  CHECK(cache.lookup(reader, v, clock.unixSeconds(), out) == n0);
  CHECK(cache.lookupOrSign(reader, signer, v, out).length == n0);
  CHECK(cache.stats().signs == 1);
  // At the refresh time the entry is stale: signed again, with a new window.
  clock.advance(std::chrono::seconds(1));
  CHECK(cache.lookup(reader, v, clock.unixSeconds(), out) == 0);
  const std::size_t n1 = cache.lookupOrSign(reader, signer, v, out).length;
  REQUIRE(n1 > 0);
  CHECK(cache.stats().signs == 2);
  auto fields = zones::dnssec::parseRrsig({out, n1});
  CHECK(fields->inception == static_cast<std::uint32_t>(clock.unixSeconds() - 3600));
  CHECK(fields->expiration == static_cast<std::uint32_t>(clock.unixSeconds() + 86400));
}
