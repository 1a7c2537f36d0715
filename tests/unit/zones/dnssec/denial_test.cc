// Denial records: type bitmaps (RFC 4034 s4.1.2), the successor name and the
// compact-denial NSEC (RFC 9824), NSEC3 hashes against known values (RFC 5155
// appendix A, and iterations 0 / empty salt per RFC 9276) and the white lies.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "core/wire/compress.h"
#include "unit/zones/dnssec/dnssec_test_util.h"
#include "zones/dnssec/denial.h"

using namespace geodns;
using namespace geodns::zones::dnssec;
namespace td = geodns::test::dnssec;
using td::Bytes;

namespace {

Bytes encode(const TypeSet& t) {
  std::uint8_t buf[9000];
  std::memset(buf, 0xEE, sizeof buf);  // garbage, so a missing write shows
  Writer w(buf, sizeof buf);
  REQUIRE(writeTypeBitmap(w, t));
  CHECK(typeBitmapSize(t) == w.size());
  return Bytes(buf, buf + w.size());
}

Bytes hex(const char* s) {
  Bytes out;
  for (std::size_t i = 0; s[i] && s[i + 1];) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(s + i, 2), nullptr, 16)));
    i += 2;
  }
  return out;
}

Bytes nameOf(const name::NameBuf& b) {
  return Bytes(b.data, b.data + b.len);
}

}  // namespace

TEST_CASE("denial: type bitmap encoding") {
  struct Case {
    const char* name;
    TypeSet types;
    const char* hexBytes;
  };
  const Case cases[] = {
      {"no types: no windows at all", {}, ""},
      {"A RRSIG NSEC", {1, 46, 47}, "00 06 40 00 00 00 00 03"},
      // RFC 4034 s4.3: "A MX RRSIG NSEC TYPE1234"
      {"RFC 4034 s4.3 example",
       {1, 15, 46, 47, 1234},
       "00 06 40 01 00 00 00 03 04 1b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
       "00 00 00 00 00 00 20"},
      {"NXNAME (128) ends window 0 at octet 16",
       {46, 47, 128},
       "00 11 00 00 00 00 00 03 00 00 00 00 00 00 00 00 00 00 80"},
      {"CAA (257) alone: window 1 only, window 0 absent", {257}, "01 01 40"},
      {"A and CAA: two windows in order", {257, 1}, "00 01 40 01 01 40"},
      {"windows 0 and 2, none for the empty window 1", {2, 512}, "00 01 20 02 01 80"},
      {"type 0 is the first bit", {0}, "00 01 80"},
      {"type 255 fills window 0",
       {255},
       "00 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
       "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01"},
      {"type 65535: window 255, 32 octets",
       {65535},
       "ff 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
       "00 00 00 01"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    const Bytes expected = hex(c.hexBytes);
    CHECK(encode(c.types) == expected);
    TypeSet back;
    REQUIRE(readTypeBitmap(expected, back));
    CHECK(back == c.types);
  }
}

TEST_CASE("denial: the bitmap agrees with ldns for an NSEC read from text") {
  const auto rr = td::parseRR("x.test. 1 IN NSEC y.test. A NS SOA MX AAAA RRSIG NSEC TYPE128 CAA");
  const Bytes next = td::wireName("y.test.");
  const Bytes bitmap(rr.rdata.begin() + static_cast<std::ptrdiff_t>(next.size()), rr.rdata.end());
  CHECK(encode(TypeSet{1, 2, 6, 15, 28, 46, 47, 128, 257}) == bitmap);
}

TEST_CASE("denial: malformed bitmaps are refused") {
  struct Case {
    const char* name;
    const char* hexBytes;
  };
  const Case cases[] = {
      {"window without length", "00"},
      {"length 0", "00 00"},
      {"length 33", "00 21 01"},
      {"truncated bitmap", "00 02 40"},
      {"trailing zero octet", "00 02 40 00"},
      {"windows out of order", "01 01 40 00 01 40"},
      {"the same window twice", "00 01 40 00 01 20"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    TypeSet t;
    CHECK_FALSE(readTypeBitmap(hex(c.hexBytes), t));
  }
  SUBCASE("a TypeSet holds at most kMax types") {
    TypeSet t;
    for (std::uint16_t i = 0; i < TypeSet::kMax; ++i) CHECK(t.add(i));
    CHECK(t.add(3));  // already there
    CHECK_FALSE(t.add(1000));
  }
}

TEST_CASE("denial: successor names (RFC 9824 next name, RFC 4471 for long names)") {
  auto longName = [](std::size_t firstLabel, std::uint8_t fill, std::size_t total) {
    // A first label of `firstLabel` octets of `fill`, then 'x' labels to reach `total` octets.
    Bytes n;
    n.push_back(static_cast<std::uint8_t>(firstLabel));
    n.insert(n.end(), firstLabel, fill);
    while (n.size() + 1 < total) {
      std::size_t len = std::min<std::size_t>(63, total - n.size() - 2);
      n.push_back(static_cast<std::uint8_t>(len));
      n.insert(n.end(), len, 'x');
    }
    n.push_back(0);
    REQUIRE(n.size() == total);
    return n;
  };
  struct Case {
    const char* name;
    Bytes input;
    Bytes expected;
  };
  std::vector<Case> cases = {
      {"a name with room: \\000 label in front", td::wireName("www.example.test."),
       td::wireName("\\000.www.example.test.")},
      {"the root", {0}, {1, 0, 0}},
  };
  {  // 254 octets: no room for a label, room for an octet in the first label
    Bytes in = longName(10, 'a', 254);
    Bytes out = in;
    out[0] = 11;
    out.insert(out.begin() + 11, 0);
    cases.push_back({"254 octets: a zero octet appended to the first label", in, out});
  }
  {  // 255 octets: increment the last octet of the first label
    Bytes in = longName(10, 'a', 255);
    Bytes out = in;
    out[10] = 'b';
    cases.push_back({"255 octets: last octet of the first label incremented", in, out});
  }
  {
    Bytes in = longName(10, '@', 255);
    Bytes out = in;
    out[10] = '[';
    cases.push_back({"'@' + 1 skips the upper-case letters", in, out});
  }
  {  // a 63-octet first label ending in 0xFF: increment the octet before it, drop the rest
    Bytes in = longName(63, 'a', 254);
    in[63] = 0xFF;
    Bytes out;
    out.push_back(62);
    out.insert(out.end(), in.begin() + 1, in.begin() + 62);
    out.push_back('b');
    out.insert(out.end(), in.begin() + 64, in.end());
    cases.push_back({"a full first label ending in 0xFF", in, out});
  }
  {  // a first label of only 0xFF: move to the next label up
    Bytes in = longName(63, 0xFF, 255);
    Bytes out(in.begin() + 64, in.end());
    out[out[0]] = 'y';
    cases.push_back({"a first label of 0xFF octets: the parent's label is incremented", in, out});
  }
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    name::NameBuf out;
    REQUIRE(successor(c.input, out));
    CHECK(nameOf(out) == c.expected);
  }
  SUBCASE("malformed names") {
    name::NameBuf out;
    const Bytes overrun = {5, 'a', 0};
    const Bytes noRoot = {1, 'a'};
    const Bytes pointer = {0xC0, 0x0C};
    CHECK_FALSE(successor(overrun, out));
    CHECK_FALSE(successor(noRoot, out));
    CHECK_FALSE(successor(pointer, out));
    CHECK_FALSE(successor({}, out));
  }
}

TEST_CASE("denial: compact NSEC RDATA (RFC 9824)") {
  struct Case {
    const char* name;
    const char* qname;
    TypeSet types;
    CompactKind kind;
    const char* expected;  // NSEC RDATA as text, parsed by ldns
  };
  const Case cases[] = {
      {"NODATA at a name with A and AAAA",
       "www.example.test.",
       {1, 28},
       CompactKind::NoData,
       "\\000.www.example.test. A AAAA RRSIG NSEC"},
      {"NODATA at an empty non-terminal",
       "ent.example.test.",
       {},
       CompactKind::NoData,
       "\\000.ent.example.test. RRSIG NSEC"},
      {"NODATA at the apex",
       "example.test.",
       {2, 6, 15, 48},
       CompactKind::NoData,
       "\\000.example.test. NS SOA MX RRSIG NSEC DNSKEY"},
      {"NXNAME: types at the name are ignored",
       "nope.example.test.",
       {1},
       CompactKind::NxName,
       "\\000.nope.example.test. RRSIG NSEC TYPE128"},
      {"NODATA with a type above 255",
       "caa.example.test.",
       {257},
       CompactKind::NoData,
       "\\000.caa.example.test. RRSIG NSEC CAA"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    std::uint8_t buf[512];
    std::memset(buf, 0xEE, sizeof buf);
    Writer w(buf, sizeof buf);
    REQUIRE(writeCompactNsecRdata(w, td::wireName(c.qname), c.types, c.kind));
    CHECK(Bytes(buf, buf + w.size()) == td::rdata("NSEC", c.expected));
  }
}

TEST_CASE("denial: a whole compact NSEC RR, compressed against the question") {
  std::uint8_t pkt[200];
  std::memset(pkt, 0xEE, sizeof pkt);
  Writer w(pkt, sizeof pkt);
  Compressor c;
  const Bytes qname = td::wireName("nope.example.test.");
  for (int i = 0; i < 12; ++i) w.u8(0);  // header
  REQUIRE(c.write(w, qname));
  w.u16(1);
  w.u16(1);
  const std::size_t at = w.size();
  REQUIRE(writeCompactNsec(w, c, qname, 300, {}, CompactKind::NxName));
  Bytes rr(pkt + at, pkt + w.size());
  Bytes expected = {0xC0, 12, 0, 47, 0, 1, 0, 0, 1, 44};
  const Bytes rd = td::rdata("NSEC", "\\000.nope.example.test. RRSIG NSEC TYPE128");
  expected.push_back(0);
  expected.push_back(static_cast<std::uint8_t>(rd.size()));
  expected.insert(expected.end(), rd.begin(), rd.end());
  CHECK(rr == expected);

  SUBCASE("no room: nothing written, writer and compressor rolled back") {
    Writer small(pkt, at + 20);
    small.truncate(0);
    for (std::size_t i = 0; i < at; ++i) small.u8(pkt[i]);
    CHECK_FALSE(writeCompactNsec(small, c, qname, 300, {}, CompactKind::NxName));
    CHECK(small.size() == at);
    CHECK(small.ok());
  }
}

TEST_CASE("denial: NSEC3 hashes against known values and ldns") {
  struct Case {
    const char* name;
    const char* owner;
    const char* salt;
    std::uint16_t iterations;
    const char* hash;
  };
  const Case cases[] = {
      // RFC 5155 appendix A (salt aabbccdd, 12 iterations).
      {"RFC 5155: example", "example.", "aabbccdd", 12, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"},
      {"RFC 5155: a.example", "a.example.", "aabbccdd", 12, "35mthgpgcu1qg68fab165klnsnk3dpvl"},
      {"RFC 5155: ns1.example", "ns1.example.", "aabbccdd", 12, "2t7b4g4vsa5smi47k61mv5bv1a22bojr"},
      {"RFC 5155: *.w.example", "*.w.example.", "aabbccdd", 12, "r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
      {"RFC 5155: x.y.w.example", "x.y.w.example.", "aabbccdd", 12,
       "2vptu5timamqttgl4luu9kg21e0aor3s"},
      // RFC 9276 parameters: 0 iterations, no salt.
      {"RFC 9276: example.test", "example.test.", "", 0, "jbas736chung3bb701jkjdhqkqlhvug7"},
      {"RFC 9276: www.example.test", "www.example.test.", "", 0,
       "v3n2r9chqlp7tdetolmmakfms81udcje"},
      {"RFC 9276: upper case hashes as lower case", "WWW.Example.TEST.", "", 0,
       "v3n2r9chqlp7tdetolmmakfms81udcje"},
      {"RFC 9276: *.example.test", "*.example.test.", "", 0, "6can7n9ison37dm8pil7ts42f3kfoo3n"},
      {"RFC 9276: the root", ".", "", 0, "bekjp7dgpvsjukll47bk43i3urmq4u2f"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    const Bytes salt = hex(c.salt);
    Nsec3Hash h;
    REQUIRE(nsec3Hash(td::wireName(c.owner), h, salt, c.iterations));
    char text[33] = {};
    base32hex(h, text);
    CHECK(std::string(text) == c.hash);
    std::string lower = c.owner;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    CHECK(td::ldnsNsec3Hash(lower, c.iterations, salt) == c.hash);
  }
}

TEST_CASE("denial: NSEC3 white lies (RFC 7129 appendix B)") {
  const Bytes zone = td::wireName("example.test.");
  auto hashOf = [](const char* n) {
    Nsec3Hash h;
    REQUIRE(nsec3Hash(td::wireName(n), h));
    return h;
  };
  auto text = [](const Nsec3Hash& h) {
    char t[33] = {};
    base32hex(h, t);
    return std::string(t);
  };

  SUBCASE("the bounds wrap modulo 2^160") {
    Nsec3Hash zero, ones;
    std::memset(ones.bytes, 0xFF, sizeof ones.bytes);
    CHECK(nsec3Prev(zero) == ones);
    CHECK(nsec3Next(ones) == zero);
    Nsec3Hash h = zero;
    h.bytes[19] = 0xFF;
    Nsec3Hash n = nsec3Next(h);
    CHECK(n.bytes[19] == 0);
    CHECK(n.bytes[18] == 1);
    CHECK(nsec3Prev(n) == h);
  }

  SUBCASE("NXDOMAIN: match the closest encloser, cover the next closer and the wildcard") {
    Nsec3Record recs[3];
    REQUIRE(nsec3NxDomain(td::wireName("a.b.nope.example.test."), zone, TypeSet{2, 6, 46}, recs) ==
            3);
    // Closest encloser: the apex, matched exactly, with its types.
    CHECK(recs[0].owner == hashOf("example.test."));
    CHECK(recs[0].next == nsec3Next(recs[0].owner));
    CHECK(recs[0].types == TypeSet{2, 6, 46});
    // Next closer name: nope.example.test, covered: owner < H < next.
    const Nsec3Hash nc = hashOf("nope.example.test.");
    CHECK(recs[1].owner == nsec3Prev(nc));
    CHECK(recs[1].next == nsec3Next(nc));
    CHECK(recs[1].types.empty());
    // Wildcard at the closest encloser, covered.
    const Nsec3Hash wc = hashOf("*.example.test.");
    CHECK(recs[2].owner == nsec3Prev(wc));
    CHECK(recs[2].next == nsec3Next(wc));
    // Written out: "<hash>.example.test. NSEC3 1 0 0 - <next> <types>", as ldns reads it.
    for (const auto& r : recs) {
      std::uint8_t buf[600];
      std::memset(buf, 0xEE, sizeof buf);
      Writer w(buf, sizeof buf);
      REQUIRE(writeNsec3Rdata(w, r));
      std::string types;
      for (auto t : r.types.types()) types += " TYPE" + std::to_string(t);
      CHECK(Bytes(buf, buf + w.size()) == td::rdata("NSEC3", "1 0 0 - " + text(r.next) + types));
      name::NameBuf owner;
      REQUIRE(nsec3OwnerName(r.owner, zone, owner));
      CHECK(nameOf(owner) == td::wireName(text(r.owner) + ".example.test."));
    }
  }

  SUBCASE("bad input: the closest encloser must be a proper ancestor") {
    Nsec3Record recs[3];
    CHECK(nsec3NxDomain(zone, zone, {}, recs) == 0);
    CHECK(nsec3NxDomain(td::wireName("www.other.test."), zone, {}, recs) == 0);
  }

  SUBCASE("a whole NSEC3 RR, owner compressed against the zone") {
    std::uint8_t pkt[300];
    Writer w(pkt, sizeof pkt);
    Compressor c;
    REQUIRE(c.write(w, zone));
    Nsec3Record r;
    REQUIRE(nsec3Match(td::wireName("www.example.test."), TypeSet{1, 46}, r));
    const std::size_t at = w.size();
    REQUIRE(writeNsec3(w, c, zone, 60, r));
    // 32-octet label, then a pointer to the zone at offset 0.
    CHECK(pkt[at] == 32);
    CHECK(std::string(reinterpret_cast<char*>(pkt + at + 1), 32) == text(r.owner));
    CHECK(pkt[at + 33] == 0xC0);
    CHECK(pkt[at + 34] == 0);
  }
}
