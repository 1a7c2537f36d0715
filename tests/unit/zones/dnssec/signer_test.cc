// The signer's pieces: canonical RDATA (names lowercased for the RFC 4034
// s6.2 types), canonical order, the Labels field, and every RRSIG field with
// an injected clock. Whether ldns accepts the signatures is checked in
// roundtrip_test.cc.
#include <doctest/doctest.h>

#include <algorithm>

#include "support/fakes.h"
#include "support/temp_dir.h"
#include "unit/zones/dnssec/dnssec_test_util.h"
#include "zones/dnssec/signer.h"

using namespace geodns;
using namespace geodns::zones::dnssec;
using geodns::test::TempDir;
namespace td = geodns::test::dnssec;
using td::Bytes;

TEST_CASE("signer: canonical RDATA lowercases names only where RFC 4034 s6.2 says") {
  struct Case {
    const char* name;
    const char* type;
    std::uint16_t typeCode;
    const char* input;
    const char* expected;  // presentation of the canonical RDATA
  };
  const Case cases[] = {
      {"NS", "NS", 2, "NS1.Example.TEST.", "ns1.example.test."},
      {"CNAME", "CNAME", 5, "WWW.Example.Test.", "www.example.test."},
      {"SOA both names", "SOA", 6, "NS.Example.TEST. Host.Example.TEST. 1 2 3 4 5",
       "ns.example.test. host.example.test. 1 2 3 4 5"},
      {"MX", "MX", 15, "10 Mail.EXAMPLE.test.", "10 mail.example.test."},
      {"SRV", "SRV", 33, "0 5 5060 SIP.Example.TEST.", "0 5 5060 sip.example.test."},
      {"NAPTR replacement", "NAPTR", 35,
       "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:Info@Example.TEST!\" _SIP._udp.Example.TEST.",
       "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:Info@Example.TEST!\" _sip._udp.example.test."},
      {"RP both names", "RP", 17, "Admin.Example.TEST. TXT.Example.TEST.",
       "admin.example.test. txt.example.test."},
      {"AFSDB", "AFSDB", 18, "1 AFS.Example.TEST.", "1 afs.example.test."},
      {"KX", "KX", 36, "1 KX.Example.TEST.", "1 kx.example.test."},
      {"DNAME", "DNAME", 39, "Other.TEST.", "other.test."},
      {"PTR", "PTR", 12, "Host.Example.TEST.", "host.example.test."},
      {"NSEC keeps its next name (RFC 6840 s5.1)", "NSEC", 47, "Next.Example.TEST. A RRSIG NSEC",
       "Next.Example.TEST. A RRSIG NSEC"},
      {"HINFO holds strings, not names", "HINFO", 13, "\"INTEL\" \"LINUX\"", "\"INTEL\" \"LINUX\""},
      {"TXT is untouched", "TXT", 16, "\"Hello World\"", "\"Hello World\""},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    Bytes rd = td::rdata(c.type, c.input);
    REQUIRE(canonicalizeRdata(c.typeCode, rd));
    CHECK(rd == td::rdata(c.type, c.expected));
  }
}

TEST_CASE("signer: malformed names inside RDATA are refused") {
  struct Case {
    const char* name;
    std::uint16_t type;
    Bytes rdata;
  };
  const Case cases[] = {
      {"empty CNAME", 5, {}},
      {"label runs past the end", 5, {3, 'a', 'b'}},
      {"compression pointer", 2, {0xC0, 0x0C}},
      {"trailing bytes after the name", 5, {1, 'a', 0, 7}},
      {"MX without a name", 15, {0, 10}},
      {"SOA missing its numbers", 6, {0, 0, 1, 2, 3}},
      {"SRV too short", 33, {0, 1, 0, 2}},
      {"NAPTR string overruns", 35, {0, 1, 0, 1, 9, 'x'}},
      {"A6 prefix over 128", 38, {129}},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    Bytes rd = c.rdata;
    CHECK_FALSE(canonicalizeRdata(c.type, rd));
  }
}

TEST_CASE("signer: canonical order of RDATA (RFC 4034 s6.3)") {
  struct Case {
    const char* name;
    const char* type;
    std::vector<std::string> input;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"A: octet order, not text order",
       "A",
       {"10.0.0.10", "10.0.0.9", "9.0.0.1", "10.0.0.1"},
       {"9.0.0.1", "10.0.0.1", "10.0.0.9", "10.0.0.10"}},
      {"AAAA",
       "AAAA",
       {"2001:db8::10", "2001:db8::1", "::1"},
       {"::1", "2001:db8::1", "2001:db8::10"}},
      {"TXT: the length octet sorts first, so shorter strings come first",
       "TXT",
       {"\"bb\"", "\"a\"", "\"ab\""},
       {"\"a\"", "\"ab\"", "\"bb\""}},
      {"MX: sorted after lowercasing, duplicates dropped",
       "MX",
       {"20 B.example.", "10 z.example.", "20 a.example.", "20 b.example."},
       {"10 z.example.", "20 a.example.", "20 b.example."}},
      {"a shorter RDATA that is a prefix sorts first",
       "TYPE65280",
       {"\\# 2 0102", "\\# 1 01", "\\# 2 0101"},
       {"\\# 1 01", "\\# 2 0101", "\\# 2 0102"}},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    std::vector<Bytes> in;
    for (const auto& s : c.input) in.push_back(td::rdata(c.type, s));
    std::vector<std::span<const std::uint8_t>> spans(in.begin(), in.end());
    const std::uint16_t type =
        td::parseRR(std::string("x. 1 IN ") + c.type + " " + c.input[0]).type;
    auto out = canonicalRdatas(type, spans);
    REQUIRE(out);
    std::vector<Bytes> expected;
    for (const auto& s : c.expected) expected.push_back(td::rdata(c.type, s));
    CHECK(*out == expected);
  }
}

TEST_CASE("signer: the Labels field (RFC 4034 s3.1.3)") {
  struct Case {
    const char* name;
    const char* owner;
    int labels;
  };
  const Case cases[] = {
      {"root", ".", 0},
      {"apex", "example.test.", 2},
      {"host", "www.example.test.", 3},
      {"wildcard owner drops the *", "*.example.test.", 2},
      {"only the leftmost * is the wildcard", "*.*.example.test.", 3},
      {"a * inside a label is no wildcard", "*a.example.test.", 3},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    CHECK(rrsigLabels(td::wireName(c.owner)) == c.labels);
  }
}

TEST_CASE("signer: RRSIG fields from the injected clock and the policy") {
  TempDir dir;
  const auto origin = *name::fromText("example.test");
  struct Case {
    const char* name;
    const char* algorithm;
    const char* owner;
    std::uint16_t type;
    std::uint32_t ttl;
    std::vector<std::string> rdatas;
    int labels;
  };
  const Case cases[] = {
      {"ECDSA A RRset",
       "ECDSAP256SHA256",
       "www.example.test.",
       1,
       300,
       {"192.0.2.1", "192.0.2.2"},
       3},
      {"Ed25519 wildcard TXT", "ED25519", "*.wild.example.test.", 16, 60, {"\"hi\""}, 3},
      {"Ed25519 apex MX, mixed-case owner",
       "ED25519",
       "Example.TEST.",
       15,
       3600,
       {"10 mx.example.test."},
       2},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    ErrorList errors;
    auto key = Key::load(td::generateKey(dir.path(), c.algorithm, "example.test"),
                         name::asSpan(origin), errors);
    REQUIRE_MESSAGE(key, errors.str());
    test::FakeClock clock;
    const SignPolicy policy{.validity_s = 86400, .refresh_s = 3600, .inceptionBackdate_s = 600};
    Signer signer(*key, policy, clock);
    const char* typeName = c.type == 1 ? "A" : c.type == 16 ? "TXT" : "MX";
    std::vector<Bytes> rd;
    for (const auto& s : c.rdatas) rd.push_back(td::rdata(typeName, s));
    std::vector<std::span<const std::uint8_t>> spans(rd.begin(), rd.end());
    const Bytes owner = td::wireName(c.owner);
    RRsetView view{.owner = owner, .type = c.type, .ttl = c.ttl, .rdatas = spans};

    const std::int64_t now = clock.unixSeconds();
    std::vector<std::uint8_t> sig;
    REQUIRE(signer.sign(view, sig) == SignStatus::Ok);
    auto f = parseRrsig(sig);
    REQUIRE(f);
    CHECK(f->typeCovered == c.type);
    CHECK(f->algorithm == key->algorithmNumber());
    CHECK(f->labels == c.labels);
    CHECK(f->originalTtl == c.ttl);
    CHECK(f->inception == static_cast<std::uint32_t>(now - 600));
    CHECK(f->expiration == static_cast<std::uint32_t>(now + 86400));
    CHECK(f->keyTag == key->keyTag());
    CHECK(f->signer == origin);
    CHECK(f->signature.size() == kSignatureSize);

    const SigningWindow w = signer.window();
    CHECK(w.refreshAt == now + 86400 - 3600);

    // The clock moves the window, nothing else.
    clock.advance(std::chrono::hours(2));
    REQUIRE(signer.sign(view, sig) == SignStatus::Ok);
    auto g = parseRrsig(sig);
    REQUIRE(g);
    CHECK(g->inception == f->inception + 7200);
    CHECK(g->expiration == f->expiration + 7200);
    CHECK(g->labels == f->labels);
  }
}

TEST_CASE("signer: the signed data is RRSIG RDATA then canonical RRs (RFC 4034 s3.1.8.1)") {
  TempDir dir;
  const auto origin = *name::fromText("example.test");
  ErrorList errors;
  auto key = Key::load(td::generateKey(dir.path(), "ED25519", "example.test"), name::asSpan(origin),
                       errors);
  REQUIRE(key);
  test::FakeClock clock;
  Signer signer(*key, {}, clock);
  const Bytes owner = td::wireName("WWW.Example.test.");
  const Bytes mx1 = td::rdata("MX", "20 B.Example.TEST.");
  const Bytes mx2 = td::rdata("MX", "10 a.example.test.");
  std::vector<std::span<const std::uint8_t>> spans{mx1, mx2};
  SigningWindow w{.inception = 0x01020304, .expiration = 0x05060708};
  std::vector<std::uint8_t> data;
  REQUIRE(signer.signedData({.owner = owner, .type = 15, .ttl = 0x0A0B0C0D, .rdatas = spans}, w,
                            data) == SignStatus::Ok);
  Bytes expected = {0,
                    15,
                    15,
                    3,
                    0x0A,
                    0x0B,
                    0x0C,
                    0x0D,
                    5,
                    6,
                    7,
                    8,
                    1,
                    2,
                    3,
                    4,
                    static_cast<std::uint8_t>(key->keyTag() >> 8),
                    static_cast<std::uint8_t>(key->keyTag())};
  expected.insert(expected.end(), origin.begin(), origin.end());
  const Bytes lowOwner = td::wireName("www.example.test.");
  for (const char* mx : {"10 a.example.test.", "20 b.example.test."}) {
    const Bytes rd = td::rdata("MX", mx);
    expected.insert(expected.end(), lowOwner.begin(), lowOwner.end());
    Bytes hdr = {0, 15, 0, 1, 0x0A, 0x0B, 0x0C, 0x0D, 0, static_cast<std::uint8_t>(rd.size())};
    expected.insert(expected.end(), hdr.begin(), hdr.end());
    expected.insert(expected.end(), rd.begin(), rd.end());
  }
  CHECK(data == expected);

  SUBCASE("bad input") {
    std::vector<std::uint8_t> sig;
    CHECK(signer.sign({.owner = owner, .type = 15, .ttl = 1, .rdatas = {}}, sig) ==
          SignStatus::EmptyRRset);
    const Bytes badOwner = {3, 'w', 'w'};
    CHECK(signer.sign({.owner = badOwner, .type = 15, .ttl = 1, .rdatas = spans}, sig) ==
          SignStatus::BadOwner);
    const Bytes badMx = {0, 1, 0xC0, 0x0C};
    std::vector<std::span<const std::uint8_t>> bad{badMx};
    CHECK(signer.sign({.owner = owner, .type = 15, .ttl = 1, .rdatas = bad}, sig) ==
          SignStatus::BadRdata);
  }
}

TEST_CASE("signer: windowAt wraps into 32-bit serial time and clamps the refresh point") {
  const SignPolicy p{.validity_s = 100, .refresh_s = 300, .inceptionBackdate_s = 10};
  SigningWindow w = windowAt(0x100000005LL, p);  // after 2106: modulo 2^32
  CHECK(w.inception == 0xFFFFFFFBu);
  CHECK(w.expiration == 105u);
  CHECK(w.refreshAt == 0x100000005LL);  // refresh longer than validity: refresh at once
}
