// Round trip through an independent validator: a small zone with mixed-case
// names, unsorted RRs and a wildcard is signed with our signer (KSK + ZSK of
// ECDSA P-256, and an Ed25519 CSK), the compact-denial NSECs for a few names
// are made and signed, everything is written out in presentation form, read
// back by ldns and every RRSIG verified with ldns_verify_rrsig_keylist_time at
// the injected time.
#include <doctest/doctest.h>

#include <cstring>
#include <map>

#include "support/fakes.h"
#include "support/temp_dir.h"
#include "unit/zones/dnssec/dnssec_test_util.h"
#include "zones/dnssec/denial.h"
#include "zones/dnssec/signer.h"

using namespace geodns;
using namespace geodns::zones::dnssec;
namespace td = geodns::test::dnssec;
using td::Bytes;

namespace {

const char* const kZone[] = {
    "example.test. 3600 IN SOA ns1.example.test. Hostmaster.Example.TEST. 1 7200 3600 1209600 300",
    "example.test. 3600 IN NS ns1.example.test.",
    "example.test. 3600 IN NS NS2.Example.Test.",
    "example.test. 3600 IN MX 20 backup.example.test.",
    "example.test. 3600 IN MX 10 Mail.Example.TEST.",
    "WWW.Example.test. 300 IN A 192.0.2.10",
    "WWW.Example.test. 300 IN A 192.0.2.9",
    "WWW.Example.test. 300 IN A 198.51.100.1",
    "WWW.Example.test. 300 IN AAAA 2001:db8::1",
    "_sip._udp.example.test. 300 IN SRV 0 5 5060 SIP.Example.TEST.",
    "txt.example.test. 300 IN TXT \"b\"",
    "txt.example.test. 300 IN TXT \"ab\"",
    "txt.example.test. 300 IN TXT \"a\"",
    "alias.example.test. 300 IN CNAME WWW.Example.test.",
    "*.wild.example.test. 300 IN A 192.0.2.77",
    "sub.example.test. 3600 IN DS 12345 13 2 "
    "0e74a5ccbde5e8aef33f29524d259f88cb5d2ce91811dea155cf3490fffe3cbe",
};

struct RRset {
  Bytes owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<Bytes> rdatas;
  RRsetView view() {
    spans.assign(rdatas.begin(), rdatas.end());
    return {.owner = owner, .type = type, .ttl = ttl, .rdatas = spans};
  }
  std::vector<std::string> text(const Bytes& asOwner) const {
    std::vector<std::string> out;
    for (const auto& r : rdatas) out.push_back(td::presentation(asOwner, type, ttl, r));
    return out;
  }
  std::vector<std::span<const std::uint8_t>> spans = {};  // view()'s storage
};

std::vector<RRset> groupZone() {
  std::map<std::pair<Bytes, std::uint16_t>, RRset> sets;
  for (const char* line : kZone) {
    td::WireRR rr = td::parseRR(line);
    Bytes lower = rr.owner;
    name::toLower(lower.data(), lower.size());
    RRset& s = sets[{lower, rr.type}];
    s.owner = rr.owner;  // as written, mixed case kept
    s.type = rr.type;
    s.ttl = rr.ttl;
    s.rdatas.push_back(rr.rdata);
  }
  std::vector<RRset> out;
  for (auto& [k, v] : sets) out.push_back(v);
  return out;
}

// Signs `set` with `signer`, writes the RRSIG in presentation form and checks
// it with ldns against `dnskeys`. Returns ldns's verdict ("" = valid).
std::string signAndVerify(const Signer& signer, RRset& set, const std::vector<std::string>& dnskeys,
                          std::int64_t when, const Bytes* servedOwner = nullptr) {
  std::vector<std::uint8_t> sig;
  const SignStatus st = signer.sign(set.view(), sig);
  REQUIRE_MESSAGE(st == SignStatus::Ok, signStatusText(st));
  const Bytes& owner = servedOwner ? *servedOwner : set.owner;
  const std::string rrsig = td::presentation(owner, 46, set.ttl, sig);
  return td::verify(set.text(owner), rrsig, dnskeys, when);
}

}  // namespace

TEST_CASE("round trip: every RRSIG we make verifies with ldns") {
  test::TempDir dir;
  const auto originText = *name::fromText("example.test");
  const Bytes origin(originText.begin(), originText.end());
  struct Config {
    const char* name;
    std::vector<std::pair<const char*, bool>> keys;  // algorithm, KSK
  };
  const Config configs[] = {
      {"ECDSA P-256 KSK + ZSK", {{"ECDSAP256SHA256", true}, {"ECDSAP256SHA256", false}}},
      {"Ed25519 CSK", {{"ED25519", true}}},
  };
  for (const auto& cfg : configs) {
    INFO(std::string(cfg.name));
    std::vector<std::string> paths;
    for (auto [alg, ksk] : cfg.keys)
      paths.push_back(td::generateKey(dir.path(), alg, "example.test", ksk));
    ErrorList errors;
    auto keys = KeySet::load(origin, paths, errors);
    REQUIRE_MESSAGE(keys, errors.str());
    test::FakeClock clock;
    const SignPolicy policy{};
    const std::int64_t now = clock.unixSeconds();

    // The apex key RRsets, signed by the KSKs / CSKs.
    RRset dnskey{.owner = origin, .type = 48, .ttl = 3600, .rdatas = keys->dnskeyRdatas()};
    RRset cds{.owner = origin, .type = 59, .ttl = 3600, .rdatas = keys->cdsRdatas()};
    RRset cdnskey{.owner = origin, .type = 60, .ttl = 3600, .rdatas = keys->cdnskeyRdatas()};
    const std::vector<std::string> dnskeyText = dnskey.text(origin);
    for (const Key* k : keys->keySigningKeys()) {
      Signer s(*k, policy, clock);
      for (RRset* set : {&dnskey, &cds, &cdnskey}) {
        CAPTURE(set->type);
        CHECK(signAndVerify(s, *set, dnskeyText, now) == "");
      }
    }

    REQUIRE(!keys->zoneSigningKeys().empty());
    Signer zsk(*keys->zoneSigningKeys()[0], policy, clock);
    auto zone = groupZone();
    for (auto& set : zone) {
      INFO(name::toText(set.owner));
      CAPTURE(set.type);
      CHECK(signAndVerify(zsk, set, dnskeyText, now) == "");
    }

    SUBCASE("the wildcard's RRSIG verifies for an expanded name (Labels field)") {
      for (auto& set : zone) {
        if (set.owner != td::wireName("*.wild.example.test.")) continue;
        const Bytes expanded = td::wireName("a.b.wild.example.test.");
        CHECK(signAndVerify(zsk, set, dnskeyText, now, &expanded) == "");
      }
    }

    SUBCASE("compact denial NSECs verify") {
      struct Denial {
        const char* qname;
        TypeSet types;
        CompactKind kind;
      };
      const Denial denials[] = {
          {"www.example.test.", {1, 28}, CompactKind::NoData},
          {"nope.example.test.", {}, CompactKind::NxName},
          {"_udp.example.test.", {}, CompactKind::NoData},  // empty non-terminal
          {"example.test.", {2, 6, 15, 48, 59, 60}, CompactKind::NoData},
      };
      for (const auto& d : denials) {
        INFO(std::string(d.qname));
        const Bytes qname = td::wireName(d.qname);
        std::uint8_t buf[512];
        Writer w(buf, sizeof buf);
        REQUIRE(writeCompactNsecRdata(w, qname, d.types, d.kind));
        RRset nsec{.owner = qname, .type = 47, .ttl = 300, .rdatas = {Bytes(buf, buf + w.size())}};
        CHECK(signAndVerify(zsk, nsec, dnskeyText, now) == "");
      }
    }

    SUBCASE("the check is real: altered data, a wrong time and the wrong key fail") {
      std::vector<std::uint8_t> sig;
      RRset* a = nullptr;
      for (auto& set : zone)
        if (set.type == 1 && set.owner == td::wireName("WWW.Example.test.")) a = &set;
      REQUIRE(a);
      REQUIRE(zsk.sign(a->view(), sig) == SignStatus::Ok);
      const std::string rrsig = td::presentation(a->owner, 46, a->ttl, sig);
      CHECK(td::verify(a->text(a->owner), rrsig, dnskeyText, now) == "");
      RRset altered = *a;
      altered.rdatas[0][3] ^= 1;
      CHECK(td::verify(altered.text(a->owner), rrsig, dnskeyText, now) != "");
      CHECK(td::verify(a->text(a->owner), rrsig, dnskeyText, now + policy.validity_s + 1) != "");
      CHECK(td::verify(a->text(a->owner), rrsig, dnskeyText,
                       now - policy.inceptionBackdate_s - 1) != "");
      std::string otherPath = td::generateKey(dir.path(), "ED25519", "example.test");
      otherPath.replace(otherPath.size() - 8, 8, ".key");
      const std::string otherKey = td::readText(otherPath);
      CHECK(td::verify(a->text(a->owner), rrsig, {otherKey.substr(0, otherKey.find(';'))}, now) !=
            "");
    }
  }
}
