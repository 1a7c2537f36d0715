// core/wire: the query builder, the parser and the response writer, without
// any zone or server.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/wire/dns.h"
#include "core/wire/query.h"
#include "core/wire/query_builder.h"
#include "core/wire/response.h"

using namespace geodns;

namespace {

struct BuiltCase {
  const char* what;
  wire::QuerySpec spec;
  wire::ParseVerdict verdict;
  std::size_t length;  // of the built query
};

}  // namespace

TEST_CASE("buildQuery output parses back to what was asked") {
  const auto www = *name::fromText("www.example.test");  // 18 bytes of wire
  static const std::uint8_t v4[] = {192, 0, 2, 0};
  static const std::uint8_t v6[] = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x00};
  auto spec = [&](auto&& f) {
    wire::QuerySpec s;
    s.id = 0x1234;
    s.qname = name::asSpan(www);
    f(s);
    return s;
  };
  const BuiltCase cases[] = {
      {"plain A", spec([](wire::QuerySpec&) {}), wire::ParseVerdict::Ok, 12 + 18 + 4},
      {"TXT with RD", spec([](wire::QuerySpec& s) {
         s.qtype = dns::toU16(dns::Type::TXT);
         s.flags = dns::kFlagRD;
       }),
       wire::ParseVerdict::Ok, 12 + 18 + 4},
      {"EDNS, DO", spec([](wire::QuerySpec& s) {
         s.edns = true;
         s.dnssecOk = true;
         s.udpSize = 4096;
       }),
       wire::ParseVerdict::Ok, 12 + 18 + 4 + 11},
      {"ECS IPv4 /24", spec([](wire::QuerySpec& s) {
         s.edns = true;
         s.ecs = true;
         s.ecsFamily = wire::kEcsFamilyIpv4;
         s.ecsSource = 24;
         s.ecsAddress = v4;
       }),
       wire::ParseVerdict::Ok, 12 + 18 + 4 + 11 + 8 + 3},
      {"ECS IPv6 /48", spec([](wire::QuerySpec& s) {
         s.edns = true;
         s.ecs = true;
         s.ecsFamily = wire::kEcsFamilyIpv6;
         s.ecsSource = 48;
         s.ecsAddress = v6;
       }),
       wire::ParseVerdict::Ok, 12 + 18 + 4 + 11 + 8 + 6},
      {"ECS /0", spec([](wire::QuerySpec& s) {
         s.edns = true;
         s.ecs = true;
         s.ecsFamily = wire::kEcsFamilyIpv4;
       }),
       wire::ParseVerdict::Ok, 12 + 18 + 4 + 11 + 8},
      {"NOTIFY opcode", spec([](wire::QuerySpec& s) {
         s.flags = static_cast<std::uint16_t>(static_cast<unsigned>(dns::Opcode::Notify) << 11);
       }),
       wire::ParseVerdict::Ok, 12 + 18 + 4},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    std::vector<std::uint8_t> buf(512, 0xEE);  // garbage: a missing write shows
    const std::size_t n = wire::buildQuery(c.spec, buf);
    CHECK(n == c.length);
    wire::ParsedQuery q;
    REQUIRE(wire::parseQuery({buf.data(), n}, q) == c.verdict);
    CHECK(q.id == c.spec.id);
    CHECK(q.flags == c.spec.flags);
    CHECK(q.haveQuestion);
    CHECK(q.qname.span().size() == c.spec.qname.size());
    CHECK(std::memcmp(q.qname.data, c.spec.qname.data(), c.spec.qname.size()) == 0);
    CHECK(q.qtype == c.spec.qtype);
    CHECK(q.qclass == c.spec.qclass);
    CHECK(q.edns == c.spec.edns);
    if (c.spec.edns) {
      CHECK(q.udpSize == c.spec.udpSize);
      CHECK(q.dnssecOk == c.spec.dnssecOk);
    }
    CHECK(q.ecs == c.spec.ecs);
    if (c.spec.ecs) {
      CHECK(q.ecsFamily == c.spec.ecsFamily);
      CHECK(q.ecsSource == c.spec.ecsSource);
      const std::size_t len = (c.spec.ecsSource + 7u) / 8u;
      // A /0 source has no address bytes (and an empty vector's data() may be null,
      // which memcmp must not get even for 0 bytes: UBSan stops on it).
      if (len > 0) CHECK(std::memcmp(q.ecsAddress, c.spec.ecsAddress.data(), len) == 0);
    }
  }
}

TEST_CASE("buildQuery refuses what does not fit") {
  const auto www = *name::fromText("www.example.test");
  static const std::uint8_t v4[] = {192, 0, 2};
  struct Case {
    const char* what;
    std::size_t room;
    std::uint8_t ecsSource;
  } cases[] = {
      {"buffer shorter than the question", 20, 0},
      {"buffer one byte short", 12 + 18 + 4 - 1, 0},
      {"ECS address shorter than its prefix", 512, 32},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    wire::QuerySpec s;
    s.qname = name::asSpan(www);
    if (c.ecsSource) {
      s.edns = s.ecs = true;
      s.ecsFamily = wire::kEcsFamilyIpv4;
      s.ecsSource = c.ecsSource;
      s.ecsAddress = v4;
    }
    std::vector<std::uint8_t> buf(c.room);
    CHECK(wire::buildQuery(s, buf) == 0);
  }
}

namespace {

// The stored-RRset shape Response::add() takes (zones::RRset without zones).
struct TestRdata {
  std::uint32_t offset = 0;
  std::uint16_t length = 0;
  std::uint8_t nameCount = 0;
  std::uint16_t namePos[2] = {0, 0};
};
struct TestSet {
  std::uint16_t type = dns::toU16(dns::Type::A);
  std::uint32_t ttl = 300;
  std::string bytes;
  std::vector<TestRdata> rrs;
};

TestSet addresses(int n) {
  TestSet s;
  for (int i = 0; i < n; ++i) {
    TestRdata rd;
    rd.offset = static_cast<std::uint32_t>(s.bytes.size());
    rd.length = 4;
    s.bytes += std::string("\xC0\x00\x02", 3) + static_cast<char>(i);
    s.rrs.push_back(rd);
  }
  return s;
}

std::uint16_t at16(const std::vector<std::uint8_t>& b, std::size_t i) {
  return static_cast<std::uint16_t>((b[i] << 8) | b[i + 1]);
}

}  // namespace

TEST_CASE("Response: counts per section, RRsets whole, TC, extended rcode in the OPT") {
  const auto www = *name::fromText("www.example.test");
  struct Case {
    const char* what;
    bool edns;
    std::size_t limit;
    int answers, additional;  // RRs offered (each 16 bytes with a pointer owner)
    dns::Rcode rcode;
    std::uint16_t an, ar;  // counts in the header (ar includes the OPT)
    bool tc;
    std::uint8_t extRcode;  // OPT TTL high byte
  } cases[] = {
      {"all fits", false, 512, 2, 1, dns::Rcode::NoError, 2, 1, false, 0},
      {"additional dropped silently", false, 12 + 22 + 2 * 16 + 8, 2, 1, dns::Rcode::NoError, 2, 0,
       false, 0},
      {"answer cut whole with TC", false, 12 + 22 + 16, 2, 0, dns::Rcode::NoError, 0, 0, true, 0},
      {"OPT space is kept", true, 12 + 22 + 2 * 16 + 11, 2, 1, dns::Rcode::NoError, 2, 1, false, 0},
      {"BADVERS: upper bits in the OPT", true, 512, 0, 0, dns::Rcode::BadVers, 0, 1, false, 1},
      {"REFUSED", true, 512, 0, 0, dns::Rcode::Refused, 0, 1, false, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    wire::QuerySpec spec;
    spec.qname = name::asSpan(www);
    spec.edns = c.edns;
    std::vector<std::uint8_t> qbuf(512);
    qbuf.resize(wire::buildQuery(spec, qbuf));
    wire::ParsedQuery q;
    REQUIRE(wire::parseQuery(qbuf, q) == wire::ParseVerdict::Ok);
    std::vector<std::uint8_t> out(1024, 0xEE);
    wire::Response resp(out, c.limit, q);
    resp.header(q);
    resp.question(q);
    const wire::Owner owner{true, q.qname.span()};
    if (c.answers) resp.addRequired(dns::Section::Answer, owner, addresses(c.answers));
    if (c.additional) resp.add(dns::Section::Additional, owner, addresses(c.additional));
    const std::size_t n = resp.finish(c.rcode, true, false);
    REQUIRE(n > 0);
    CHECK(n <= c.limit);
    out.resize(n);
    CHECK((out[3] & 0x0F) == (dns::toU16(c.rcode) & 0x0F));
    CHECK(at16(out, 6) == c.an);
    CHECK(at16(out, 8) == 0);
    CHECK(at16(out, 10) == c.ar);
    CHECK(((at16(out, 2) & dns::kFlagTC) != 0) == c.tc);
    CHECK(resp.truncated() == c.tc);
    if (c.edns) {  // the OPT is the last record: root, type, size, TTL, rdlength
      REQUIRE(n >= 12 + 11);
      CHECK(at16(out, n - 10) == dns::toU16(dns::Type::OPT));
      CHECK(out[n - 6] == c.extRcode);
    }
  }
}
