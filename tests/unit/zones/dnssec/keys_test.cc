// Key loading: good keys of both algorithms made by ldns-keygen at test time,
// cross-checked against ldns (key tag, DS) and the files themselves, and bad
// key files that must be refused with an error naming the file.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"
#include "unit/zones/dnssec/dnssec_test_util.h"
#include "zones/dnssec/keys.h"

using namespace geodns;
using namespace geodns::zones::dnssec;
using geodns::test::TempDir;
namespace td = geodns::test::dnssec;

namespace {

std::string keyPathOf(const std::string& privatePath) {
  return privatePath.substr(0, privatePath.size() - 8) + ".key";
}

// The DNSKEY line of a .key file (ldns-keygen adds a trailing comment).
std::string dnskeyLine(const std::string& privatePath) {
  std::string text = td::readText(keyPathOf(privatePath));
  return text.substr(0, text.find(';'));
}

// Without std::regex: GCC 12 warns falsely (-Wmaybe-uninitialized) inside
// <regex> in the asan preset's optimised build.
std::string replaceOnce(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}
std::string dropLine(const std::string& s, const std::string& prefix) {
  const auto at = s.find(prefix);
  REQUIRE(at != std::string::npos);
  return s.substr(0, at) + s.substr(s.find('\n', at) + 1);
}

const std::string kZone = "example.test";
const auto kOrigin = *name::fromText(kZone);

}  // namespace

TEST_CASE("keys: good ldns-keygen keys of both algorithms load with the right attributes") {
  TempDir dir;
  struct Case {
    const char* name;
    const char* algorithm;
    bool ksk;
    Algorithm expected;
  };
  const Case cases[] = {
      {"ECDSA P-256 ZSK", "ECDSAP256SHA256", false, Algorithm::EcdsaP256Sha256},
      {"ECDSA P-256 KSK", "ECDSAP256SHA256", true, Algorithm::EcdsaP256Sha256},
      {"Ed25519 ZSK", "ED25519", false, Algorithm::Ed25519},
      {"Ed25519 KSK", "ED25519", true, Algorithm::Ed25519},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    std::string path = td::generateKey(dir.path(), c.algorithm, kZone, c.ksk);
    ErrorList errors;
    auto key = Key::load(path, name::asSpan(kOrigin), errors);
    REQUIRE_MESSAGE(key, errors.str());
    CHECK(errors.empty());
    CHECK(key->algorithm() == c.expected);
    CHECK(key->sep() == c.ksk);
    CHECK(key->flags() == (c.ksk ? 257 : 256));
    CHECK(key->owner() == kOrigin);
    CHECK(key->path() == path);

    // The DNSKEY RDATA is the .key file's record, byte for byte.
    const std::string line = dnskeyLine(path);
    td::WireRR fromFile = td::parseRR(line);
    CHECK(td::Bytes(key->dnskeyRdata().begin(), key->dnskeyRdata().end()) == fromFile.rdata);

    // Key tag: ldns agrees, and so does the tag ldns-keygen put in the file name.
    CHECK(key->keyTag() == td::ldnsKeyTag(line));
    // "K<zone>.+<alg>+<tag>.private"
    const std::string file = std::filesystem::path(path).filename().string();
    const auto plus = file.rfind(".+");
    REQUIRE(plus != std::string::npos);
    REQUIRE(file.size() == plus + 2 + 3 + 1 + 5 + 8);
    CHECK(std::stoi(file.substr(plus + 2, 3)) == static_cast<int>(c.expected));
    CHECK(std::stoi(file.substr(plus + 6, 5)) == key->keyTag());

    // DS (SHA-256) as ldns computes it; the CDS RDATA is the same bytes.
    CHECK(td::Bytes(key->dsRdata().begin(), key->dsRdata().end()) == td::ldnsDsRdata(line));
    REQUIRE(key->dsRdata().size() == 4 + 32);
    CHECK(key->dsRdata()[3] == kDigestSha256);

    // A signature works and has the fixed size of both algorithms.
    std::uint8_t sig[kSignatureSize + 8];
    const std::uint8_t msg[] = {1, 2, 3};
    CHECK(key->sign(msg, sig) == kSignatureSize);
    CHECK(key->sign(msg, std::span<std::uint8_t>(sig, 10)) == 0);
  }
}

TEST_CASE("keys: the DS matches the .ds file ldns-keygen writes for a KSK") {
  TempDir dir;
  for (const char* alg : {"ECDSAP256SHA256", "ED25519"}) {
    INFO(std::string(alg));
    std::string path = td::generateKey(dir.path(), alg, kZone, true);
    std::string dsPath = path.substr(0, path.size() - 8) + ".ds";
    REQUIRE(std::filesystem::exists(dsPath));
    std::string dsText = td::readText(dsPath);
    td::WireRR ds = td::parseRR(dsText.substr(0, dsText.find(';')));
    ErrorList errors;
    auto key = Key::load(path, name::asSpan(kOrigin), errors);
    REQUIRE_MESSAGE(key, errors.str());
    CHECK(td::Bytes(key->dsRdata().begin(), key->dsRdata().end()) == ds.rdata);
  }
}

TEST_CASE("keys: bad key files are refused with an error that names the file") {
  TempDir dir;
  const std::string good = td::generateKey(dir.path(), "ECDSAP256SHA256", kZone);
  const std::string other = td::generateKey(dir.path(), "ECDSAP256SHA256", kZone);
  const std::string rsa = td::generateKey(dir.path(), "RSASHA256", kZone, false, 1024);

  // A copy of `good` under another name, edited by `edit`.
  int copies = 0;
  auto variant = [&](const std::string& privateText, const std::string& keyText) {
    std::string base = (dir.path() / ("Kvariant" + std::to_string(++copies))).string();
    dir.write(std::filesystem::path(base + ".private").filename().string(), privateText);
    dir.write(std::filesystem::path(base + ".key").filename().string(), keyText);
    return base + ".private";
  };
  const std::string goodPrivate = td::readText(good);
  const std::string goodKey = td::readText(keyPathOf(good));

  struct Case {
    const char* name;
    std::string path;
    std::string origin;
    std::string file;  // the file the error must name
    const char* message;
  };
  std::string noPrivate = variant("", goodKey);
  std::filesystem::remove(noPrivate);
  std::string noKey = variant(goodPrivate, "");
  std::filesystem::remove(keyPathOf(noKey));
  std::string publicOnly = variant(dropLine(goodPrivate, "PrivateKey:"), goodKey);
  std::string mismatched = variant(goodPrivate, td::readText(keyPathOf(other)));
  std::string rsaAsEcdsa = variant(td::readText(rsa), goodKey);
  std::string notZoneKey = variant(goodPrivate, replaceOnce(goodKey, "DNSKEY\t256", "DNSKEY\t0"));
  std::string badTime = variant(goodPrivate + "Activate: 2024130100000\n", goodKey);

  const Case cases[] = {
      {"wrong owner", good, "other.test", keyPathOf(good), "does not match the zone other.test."},
      {"unsupported algorithm (RSASHA256)", rsa, kZone, keyPathOf(rsa),
       "algorithm 8 (RSASHA256) is not supported"},
      {"missing .private", noPrivate, kZone, noPrivate, "cannot read: No such file"},
      {"missing .key", noKey, kZone, keyPathOf(noKey), "cannot read: No such file"},
      {"public half named instead of the private", keyPathOf(good), kZone, keyPathOf(good),
       "public half of a key pair"},
      {"not a .private name", dir.path().string() + "/Kx.txt", kZone,
       dir.path().string() + "/Kx.txt", "must end in .private"},
      {"public-only .private (no PrivateKey line)", publicOnly, kZone, publicOnly,
       "no usable private key"},
      {"private half of another key", mismatched, kZone, mismatched,
       "does not match the public key"},
      {"private algorithm differs from the .key", rsaAsEcdsa, kZone, rsaAsEcdsa,
       "algorithm 8 (RSASHA256) is not supported"},
      {"DNSKEY without the zone-key flag", notZoneKey, kZone, keyPathOf(notZoneKey),
       "zone-key bit"},
      {"malformed timing metadata", badTime, kZone, badTime, "Activate: bad time"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    ErrorList errors;
    auto origin = *name::fromText(c.origin);
    auto key = Key::load(c.path, name::asSpan(origin), errors);
    CHECK_FALSE(key);
    REQUIRE(errors.size() == 1);
    CHECK(errors.all()[0].where == c.file);
    CHECK_MESSAGE(errors.all()[0].message.find(c.message) != std::string::npos,
                  errors.all()[0].message);
  }

  SUBCASE("a config place puts the file into the message") {
    ErrorList errors;
    auto origin = *name::fromText("other.test");
    CHECK_FALSE(
        Key::load(good, name::asSpan(origin), errors, "geodnsd.json /zones/0/dnssec/keys/0"));
    REQUIRE(errors.size() == 1);
    CHECK(errors.all()[0].where == "geodnsd.json /zones/0/dnssec/keys/0");
    CHECK(errors.all()[0].message.find(keyPathOf(good)) == 0);
  }
}

TEST_CASE("keys: roles per algorithm, CDS/CDNSKEY for KSKs and CSKs") {
  TempDir dir;
  const std::string zsk13 = td::generateKey(dir.path(), "ECDSAP256SHA256", kZone, false);
  const std::string ksk13 = td::generateKey(dir.path(), "ECDSAP256SHA256", kZone, true);
  const std::string zsk15 = td::generateKey(dir.path(), "ED25519", kZone, false);
  const std::string ksk15 = td::generateKey(dir.path(), "ED25519", kZone, true);
  struct Case {
    const char* name;
    std::vector<std::string> paths;
    std::vector<KeyRole> roles;
  };
  const Case cases[] = {
      {"a lone SEP key is a CSK", {ksk13}, {KeyRole::Csk}},
      {"a lone non-SEP key is a CSK", {zsk15}, {KeyRole::Csk}},
      {"KSK + ZSK of one algorithm", {ksk13, zsk13}, {KeyRole::Ksk, KeyRole::Zsk}},
      {"SEP and non-SEP of different algorithms are two CSKs",
       {ksk13, zsk15},
       {KeyRole::Csk, KeyRole::Csk}},
      {"two algorithms, each a KSK + ZSK",
       {zsk15, ksk13, zsk13, ksk15},
       {KeyRole::Zsk, KeyRole::Ksk, KeyRole::Zsk, KeyRole::Ksk}},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    ErrorList errors;
    auto set = KeySet::load(name::asSpan(kOrigin), c.paths, errors);
    REQUIRE_MESSAGE(set, errors.str());
    REQUIRE(set->size() == c.roles.size());
    std::size_t kskOrCsk = 0, zskOrCsk = 0;
    for (std::size_t i = 0; i < set->size(); ++i) {
      CHECK(set->role(i) == c.roles[i]);
      kskOrCsk += c.roles[i] != KeyRole::Zsk;
      zskOrCsk += c.roles[i] != KeyRole::Ksk;
    }
    CHECK(set->keySigningKeys().size() == kskOrCsk);
    CHECK(set->zoneSigningKeys().size() == zskOrCsk);
    CHECK(set->dnskeyRdatas().size() == c.paths.size());
    // CDS/CDNSKEY (RFC 7344) only for the keys the parent's DS should point at.
    auto cds = set->cdsRdatas();
    auto cdnskey = set->cdnskeyRdatas();
    REQUIRE(cds.size() == kskOrCsk);
    REQUIRE(cdnskey.size() == kskOrCsk);
    std::size_t j = 0;
    for (std::size_t i = 0; i < set->size(); ++i) {
      if (set->role(i) == KeyRole::Zsk) continue;
      const Key& k = set->key(i);
      CHECK(cds[j] == std::vector<std::uint8_t>(k.dsRdata().begin(), k.dsRdata().end()));
      CHECK(cdnskey[j] ==
            std::vector<std::uint8_t>(k.dnskeyRdata().begin(), k.dnskeyRdata().end()));
      ++j;
    }
  }

  SUBCASE("the same key twice, and every bad key, reported at once") {
    ErrorList errors;
    auto other = *name::fromText("other.test");
    CHECK_FALSE(
        KeySet::load(name::asSpan(kOrigin), {ksk13, ksk13, "/nonexistent/K.private"}, errors));
    REQUIRE(errors.size() == 2);
    CHECK(errors.all()[0].message.find("the same key as") != std::string::npos);
    CHECK(errors.all()[1].where == "/nonexistent/K.key");
    ErrorList none;
    CHECK_FALSE(KeySet::load(name::asSpan(other), {}, none, "geodnsd.json /zones/0/dnssec"));
    CHECK(none.size() == 1);
  }
}

TEST_CASE("keys: BIND timing metadata refuses expired and not yet active keys") {
  TempDir dir;
  const std::string base = td::generateKey(dir.path(), "ED25519", kZone, true);
  const std::string text = td::readText(base);
  const std::string keyText = td::readText(keyPathOf(base));
  // 2023-11-14 22:13:20 UTC
  const std::int64_t now = 1700000000;
  struct Case {
    const char* name;
    const char* extra;
    const char* error;  // nullptr: accepted
  };
  const Case cases[] = {
      {"no metadata", "", nullptr},
      {"active since the past", "Created: 20200101000000\nActivate: 20200101000000\n", nullptr},
      {"inactive in the future", "Inactive: 20300101000000\n", nullptr},
      {"inactive since the past", "Inactive: 20231114221320\n",
       "inactive since 2023-11-14 22:13:20"},
      {"deleted", "Inactive: 20200101000000\nDelete: 20210101000000\n", "deleted at 2021-01-01"},
      {"not active yet", "Activate: 20231114221321\n", "not active until 2023-11-14 22:13:21"},
      {"published before it is active", "Publish: 20200101000000\nActivate: 20200102000000\n",
       nullptr},
      {"published and active at once", "Publish: 20200101000000\nActivate: 20200101000000\n",
       nullptr},
      {"published after it is active", "Publish: 20200102000000\nActivate: 20200101000000\n",
       "published (2020-01-02 00:00:00 UTC, Publish:) after it becomes active"},
      {"not published yet", "Publish: 20231114221321\n",
       "not to be published until 2023-11-14 22:13:21"},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    const std::string stem = "Ktiming" + std::to_string(++n);
    const std::string path = dir.write(stem + ".private", text + c.extra);
    dir.write(stem + ".key", keyText);
    ErrorList errors;
    auto set = KeySet::load(name::asSpan(kOrigin), {path}, errors);
    REQUIRE_MESSAGE(set, errors.str());
    set->checkTiming(now, errors);
    if (!c.error) {
      CHECK_MESSAGE(errors.empty(), errors.str());
      continue;
    }
    REQUIRE(errors.size() == 1);
    CHECK(errors.all()[0].where == path);
    CHECK_MESSAGE(errors.all()[0].message.find(c.error) != std::string::npos,
                  errors.all()[0].message);
  }
}

TEST_CASE("keys: keyTag follows RFC 4034 appendix B") {
  // RDATA from RFC 4034 s5.4's example DNSKEY (dskey.example.com., tag 60485).
  const auto rr = td::parseRR(
      "dskey.example.com. 86400 IN DNSKEY 256 3 5 ( AQOeiiR0GOMYkDshWoSKz9Xz"
      "fwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvx"
      "egXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/r"
      "ljwvFw== )");
  CHECK(keyTag(rr.rdata) == 60485);
}
