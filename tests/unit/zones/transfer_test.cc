// AXFR out (RFC 5936): the messages of a transfer are read back with ldns (an
// independent parser) and compared with the zone file as ldns reads it.
#include <doctest/doctest.h>

// ldns/common.h redefines `false` in C++ unless stdbool.h came first (FIELD-NOTES.md).
// clang-format off
#include <stdbool.h>  // must precede ldns
#include <ldns/ldns.h>
// clang-format on

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/wire/tsig.h"
#include "support/temp_dir.h"
#include "zones/transfer.h"
#include "zones/zone.h"

using namespace geodns;
using geodns::test::TempDir;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint16_t kAXFR = 252, kIXFR = 251, kSOA = 6;

// A zone with every kind of data a transfer must carry: apex NS/MX, in-zone
// and out-of-zone NS targets, a delegation with DS and glue, a CNAME, a
// wildcard, SRV, and enough records to need several 64 KB messages (and a
// TXT RRset too large for one small message).
std::string zoneText(int hosts, int bigTxt) {
  std::string z =
      "$ORIGIN xfr.test.\n$TTL 300\n"
      "@ SOA ns1 hostmaster 2024010101 3600 600 86400 300\n"
      "@ NS ns1\n@ NS ns2.other.test.\n@ MX 10 mail\n"
      "ns1 A 192.0.2.1\nns1 AAAA 2001:db8::1\nmail A 192.0.2.2\n"
      "www CNAME @\n*.wild TXT \"wildcard\"\n"
      "_sip._udp SRV 0 5 5060 sip\nsip A 192.0.2.3\n"
      "sub NS ns.sub\nsub NS ns.other.test.\n"
      "sub DS 12345 13 2 "
      "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
      "ns.sub A 192.0.2.53\nns.sub AAAA 2001:db8::53\n"
      "geo TXT \"static data beside the pool\"\n";
  for (int i = 0; i < hosts; ++i)
    z += "h" + std::to_string(i) + " A 10." + std::to_string(i / 65536) + "." +
         std::to_string((i / 256) % 256) + "." + std::to_string(i % 256) + "\n";
  for (int i = 0; i < bigTxt; ++i)
    z += "big TXT \"" + std::to_string(i) + std::string(90, 'x') + "\"\n";
  return z;
}

struct Fixture {
  TempDir dir;
  std::string path;
  std::unique_ptr<zones::Zone> zone;

  explicit Fixture(const std::string& text, std::vector<zones::BoundName> bound = {}) {
    path = dir.write("xfr.test.zone", text);
    ErrorList errors;
    auto rrs = zones::parseZoneFile(path, "xfr.test", errors);
    zone = zones::Zone::compile("xfr.test", std::move(rrs), errors, bound);
    REQUIRE_MESSAGE(errors.empty(), errors.str());
    REQUIRE(zone);
  }
};

std::string wireName(const char* text) {
  return *name::fromText(text);
}

Bytes question(const char* qname, std::uint16_t qtype) {
  std::string n = *name::fromText(qname);
  Bytes q(n.begin(), n.end());
  q.push_back(static_cast<std::uint8_t>(qtype >> 8));
  q.push_back(static_cast<std::uint8_t>(qtype));
  q.push_back(0);
  q.push_back(1);
  return q;
}

std::string rrText(ldns_rr* rr) {
  ldns_rr2canonical(rr);
  char* s = ldns_rr2str(rr);
  std::string out(s);
  std::free(s);
  return out;
}

// The zone file as ldns reads it, one canonical text line per record.
std::multiset<std::string> fileRecords(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  REQUIRE(f);
  ldns_zone* z = nullptr;
  int line = 0;
  const ldns_status st = ldns_zone_new_frm_fp_l(&z, f, nullptr, 300, LDNS_RR_CLASS_IN, &line);
  std::fclose(f);
  REQUIRE_MESSAGE(st == LDNS_STATUS_OK, ldns_get_errorstr_by_id(st) << " line " << line);
  std::multiset<std::string> out;
  out.insert(rrText(ldns_zone_soa(z)));
  ldns_rr_list* rrs = ldns_zone_rrs(z);
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(rrs); ++i)
    out.insert(rrText(ldns_rr_list_rr(rrs, i)));
  ldns_zone_deep_free(z);
  return out;
}

struct Parsed {
  std::vector<std::string> records;  // every answer RR of every message, in order
  std::vector<std::size_t> perMessage;
};

// Reads the messages back with ldns and checks the RFC 5936 2.2 header rules.
Parsed readBack(const std::vector<Bytes>& msgs, std::uint16_t id, bool rd, std::size_t maxSize,
                bool expectOpt = false) {
  Parsed p;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    CAPTURE(i);
    const Bytes& m = msgs[i];
    CHECK(m.size() <= maxSize);
    ldns_pkt* pkt = nullptr;
    REQUIRE(ldns_wire2pkt(&pkt, m.data(), m.size()) == LDNS_STATUS_OK);
    CHECK(ldns_pkt_id(pkt) == id);
    CHECK(ldns_pkt_qr(pkt));
    CHECK(ldns_pkt_aa(pkt));
    CHECK_FALSE(ldns_pkt_tc(pkt));
    CHECK(ldns_pkt_rd(pkt) == rd);
    CHECK_FALSE(ldns_pkt_ra(pkt));
    CHECK_FALSE(ldns_pkt_ad(pkt));
    CHECK_FALSE(ldns_pkt_cd(pkt));
    CHECK(ldns_pkt_get_opcode(pkt) == LDNS_PACKET_QUERY);
    CHECK(ldns_pkt_get_rcode(pkt) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_qdcount(pkt) == (i == 0 ? 1 : 0));  // the question in the first only
    CHECK(ldns_pkt_nscount(pkt) == 0);
    CHECK(ldns_pkt_edns(pkt) == (expectOpt && i == 0));
    ldns_rr_list* an = ldns_pkt_answer(pkt);
    p.perMessage.push_back(ldns_rr_list_rr_count(an));
    for (std::size_t k = 0; k < ldns_rr_list_rr_count(an); ++k)
      p.records.push_back(rrText(ldns_rr_list_rr(an, k)));
    ldns_pkt_free(pkt);
  }
  return p;
}

// The transferred records as a multiset, after checking the SOA brackets them.
std::multiset<std::string> transferred(const Parsed& p) {
  REQUIRE(p.records.size() >= 2);
  const std::string soa = p.records.front();
  CHECK(soa.find("\tSOA\t") != std::string::npos);
  CHECK(p.records.back() == soa);
  CHECK(std::count(p.records.begin(), p.records.end(), soa) == 2);  // first and last only
  return std::multiset<std::string>(p.records.begin(), p.records.end() - 1);
}

zones::XfrOptions sized(std::size_t maxMessage) {
  zones::XfrOptions o;
  o.maxMessage = maxMessage;
  return o;
}

zones::XfrRequest request(const Bytes& q, std::uint16_t id = 0xBEEF, std::uint16_t flags = 0) {
  zones::XfrRequest r;
  r.id = id;
  r.flags = flags;
  r.question = q;
  return r;
}

}  // namespace

TEST_CASE("AXFR: every record of the zone, SOA first and last, in 64 KB messages") {
  struct Case {
    const char* name;
    int hosts, bigTxt;
    std::size_t maxMessage;
    std::size_t minMessages;
  };
  const Case cases[] = {
      {"a small zone in one message", 0, 0, 65535, 1},
      {"5000 hosts need two messages of 64 KB", 5000, 0, 65535, 2},
      {"512-byte messages: a TXT RRset spans many", 50, 40, 512, 10},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    Fixture f(zoneText(c.hosts, c.bigTxt));
    const Bytes q = question("XFR.test", kAXFR);  // the question is echoed as sent
    zones::XfrOptions opt;
    opt.maxMessage = c.maxMessage;
    std::string err;
    auto msgs = zones::axfrMessages(*f.zone, request(q, 0xBEEF, 0x0100), {}, opt, &err);
    REQUIRE_MESSAGE(!msgs.empty(), err);
    CHECK(msgs.size() >= c.minMessages);
    // The question as the client wrote it, right after the header.
    CHECK(Bytes(msgs[0].begin() + 12, msgs[0].begin() + 12 + static_cast<long>(q.size())) == q);
    const Parsed p = readBack(msgs, 0xBEEF, true, c.maxMessage);
    CHECK(transferred(p) == fileRecords(f.path));
    for (std::size_t n : p.perMessage) CHECK(n > 0);
    // Compression: the first record's owner (the apex) points at the question.
    CHECK(msgs[0][12 + q.size()] == 0xC0);
    CHECK(msgs[0][12 + q.size() + 1] == 12);
  }
}

TEST_CASE("AXFR: bound names carry the records the caller supplies") {
  std::vector<zones::BoundName> bound = {{wireName("geo.xfr.test"), 0, "test"},
                                         {wireName("alias.xfr.test"), 1, "test"},
                                         {wireName("deep.bound.xfr.test"), 2, "test"}};
  Fixture f(zoneText(10, 0), bound);
  const auto nodes = zones::boundNodes(*f.zone);
  REQUIRE(nodes.size() == 3);

  auto a = [](const char* text) {
    auto addr = *IpAddress::parse(text);
    return std::string(reinterpret_cast<const char*>(addr.bytes), addr.size());
  };
  std::vector<zones::ExtraRRset> extras;
  extras.push_back(
      {wireName("geo.xfr.test"), zones::makeRRset(1, 30, {a("192.0.2.10"), a("192.0.2.11")})});
  extras.push_back({wireName("geo.xfr.test"), zones::makeRRset(28, 30, {a("2001:db8::10")})});
  extras.push_back(
      {wireName("alias.xfr.test"), zones::makeRRset(5, 60, {wireName("www.xfr.test")})});
  extras.push_back({wireName("deep.bound.xfr.test"), zones::makeRRset(1, 30, {a("192.0.2.12")})});

  const Bytes q = question("xfr.test", kAXFR);
  std::string err;
  auto msgs = zones::axfrMessages(*f.zone, request(q), extras, {}, &err);
  REQUIRE_MESSAGE(!msgs.empty(), err);
  auto expect = fileRecords(f.path);
  for (const char* line :
       {"geo.xfr.test.\t30\tIN\tA\t192.0.2.10\n", "geo.xfr.test.\t30\tIN\tA\t192.0.2.11\n",
        "geo.xfr.test.\t30\tIN\tAAAA\t2001:db8::10\n",
        "alias.xfr.test.\t60\tIN\tCNAME\twww.xfr.test.\n",
        "deep.bound.xfr.test.\t30\tIN\tA\t192.0.2.12\n"})
    expect.insert(line);
  CHECK(transferred(readBack(msgs, 0xBEEF, false, 65535)) == expect);
  // The CNAME target is compressed against an earlier name.
  const std::string cnameTarget = wireName("www.xfr.test");
  CHECK(std::search(msgs[0].begin(), msgs[0].end(), cnameTarget.begin(), cnameTarget.end()) ==
        msgs[0].end());

  struct Bad {
    const char* name;
    zones::ExtraRRset extra;
    const char* error;
  };
  const Bad bad[] = {
      {"a name not bound",
       {wireName("www.xfr.test"), zones::makeRRset(1, 30, {a("192.0.2.1")})},
       "not a bound name"},
      {"outside the zone",
       {wireName("geo.other.test"), zones::makeRRset(1, 30, {a("192.0.2.1")})},
       "not a bound name"},
      {"an SOA",
       {wireName("geo.xfr.test"), zones::makeRRset(6, 30, {std::string(22, '\0')})},
       "cannot hold"},
      {"a type the zone file has there",
       {wireName("geo.xfr.test"), zones::makeRRset(16, 30, {"\x01x"})},
       "second RRset"},
      {"a second A RRset",
       {wireName("geo.xfr.test"), zones::makeRRset(1, 30, {a("192.0.2.9")})},
       "second RRset"},
      {"a CNAME beside data",
       {wireName("geo.xfr.test"), zones::makeRRset(5, 30, {wireName("x.test")})},
       "stand alone"},
      {"an empty RRset", {wireName("deep.bound.xfr.test"), zones::makeRRset(28, 30, {})}, "empty"},
  };
  for (const auto& b : bad) {
    CAPTURE(std::string(b.name));
    auto list = extras;
    list.push_back(b.extra);
    zones::AxfrStream s(*f.zone, request(q), list, {});
    CHECK(s.failed());
    CHECK(s.error().find(b.error) != std::string::npos);
    CHECK(s.next().empty());
  }
}

TEST_CASE("AXFR: every message signed with TSIG verifies in order") {
  Fixture f(zoneText(6000, 0));
  tsig::Key key;
  key.name = wireName("xfr-key");
  key.algorithm = tsig::Algorithm::HmacSha256;
  key.secret = Bytes(32, 7);
  const std::uint8_t requestMac[32] = {1, 2, 3};
  auto signer = tsig::Signer::forResponse(key, requestMac);
  zones::XfrOptions opt;
  opt.maxMessage = 16384;
  opt.signReserve = signer.reserve();
  opt.sign = [&](Writer& w) { return signer.sign(w, 1800000000); };
  const Bytes q = question("xfr.test", kAXFR);
  std::string err;
  auto msgs = zones::axfrMessages(*f.zone, request(q), {}, opt, &err);
  REQUIRE_MESSAGE(msgs.size() >= 5, err);
  CHECK(signer.signedCount() == msgs.size());
  tsig::ResponseVerifier v(key, requestMac);
  for (const auto& m : msgs) CHECK(v.verify(m, 1800000000) == tsig::ResponseVerifier::Result::Ok);
  CHECK(v.complete());
  // ldns reads them (TSIG as the last additional record) and the data is whole.
  std::vector<Bytes> plain;
  for (const auto& m : msgs) {
    CHECK(m.size() <= 16384);
    std::size_t at = 0;
    REQUIRE(tsig::locate(m, at) == tsig::Placement::Last);
    Bytes p(m.begin(), m.begin() + static_cast<long>(at));
    p[11] = 0;  // ARCOUNT without the TSIG
    plain.push_back(p);
  }
  CHECK(transferred(readBack(plain, 0xBEEF, false, 16384)) == fileRecords(f.path));

  SUBCASE("a signer that fails stops the stream") {
    zones::XfrOptions o2 = opt;
    int calls = 0;
    o2.sign = [&](Writer&) { return ++calls < 3; };
    zones::AxfrStream s(*f.zone, request(q), {}, o2);
    CHECK_FALSE(s.next().empty());
    CHECK_FALSE(s.next().empty());
    CHECK(s.next().empty());
    CHECK(s.failed());
    CHECK(s.error().find("signing message 3") != std::string::npos);
  }
}

TEST_CASE("AXFR: EDNS, IXFR, the single-SOA answer and records too large") {
  Fixture f(zoneText(20, 0));
  SUBCASE("an OPT in the first message when the client sent one") {
    const Bytes q = question("xfr.test", kAXFR);
    auto r = request(q);
    r.edns = true;
    std::string err;
    auto msgs = zones::axfrMessages(*f.zone, r, {}, sized(600), &err);
    REQUIRE(msgs.size() > 1);
    CHECK(transferred(readBack(msgs, 0xBEEF, false, 600, true)) == fileRecords(f.path));
  }
  SUBCASE("IXFR answered AXFR-style, with its own question") {
    const Bytes q = question("xfr.test", kIXFR);
    std::string err;
    auto msgs = zones::axfrMessages(*f.zone, request(q), {}, {}, &err);
    REQUIRE(msgs.size() == 1);
    CHECK(Bytes(msgs[0].begin() + 12, msgs[0].begin() + 12 + static_cast<long>(q.size())) == q);
    CHECK(transferred(readBack(msgs, 0xBEEF, false, 65535)) == fileRecords(f.path));
  }
  SUBCASE("a current IXFR client gets the SOA alone") {
    const Bytes q = question("xfr.test", kIXFR);
    auto s = zones::AxfrStream::soaOnly(*f.zone, request(q), {});
    auto m = s.next();
    REQUIRE_FALSE(m.empty());
    CHECK(s.done());
    CHECK(s.next().empty());
    const Parsed p = readBack({Bytes(m.begin(), m.end())}, 0xBEEF, false, 65535);
    REQUIRE(p.records.size() == 1);
    CHECK(p.records[0].find("\tSOA\t") != std::string::npos);
    CHECK(p.records[0].find("2024010101") != std::string::npos);
  }
  SUBCASE("a record larger than a message fails the stream") {
    Fixture big(zoneText(0, 0) + "huge TXT " + [] {
      std::string s;
      for (int i = 0; i < 10; ++i) s += "\"" + std::string(200, 'y') + "\" ";
      return s;
    }() + "\n");
    const Bytes q = question("xfr.test", kAXFR);
    zones::AxfrStream s(*big.zone, request(q), {}, sized(1024));
    for (int i = 0; i < 100 && !s.next().empty(); ++i) {
    }
    CHECK(s.failed());
    CHECK(s.error().find("huge.xfr.test. TXT does not fit") != std::string::npos);
  }
}

TEST_CASE("parseXfrQuery: what a transfer request holds") {
  // IXFR with the client's SOA (serial 41) in the authority section, by ldns.
  auto build = [](const char* qname, ldns_rr_type type, const char* authority, bool edns) {
    ldns_pkt* pkt = ldns_pkt_query_new(ldns_dname_new_frm_str(qname), type, LDNS_RR_CLASS_IN, 0);
    ldns_pkt_set_id(pkt, 0x4242);
    if (authority) {
      ldns_rr* rr = nullptr;
      REQUIRE(ldns_rr_new_frm_str(&rr, authority, 0, nullptr, nullptr) == LDNS_STATUS_OK);
      ldns_pkt_push_rr(pkt, LDNS_SECTION_AUTHORITY, rr);
    }
    if (edns) ldns_pkt_set_edns_udp_size(pkt, 1232);
    std::uint8_t* wire = nullptr;
    std::size_t len = 0;
    REQUIRE(ldns_pkt2wire(&wire, pkt, &len) == LDNS_STATUS_OK);
    Bytes out(wire, wire + len);
    std::free(wire);
    ldns_pkt_free(pkt);
    return out;
  };
  const char* soa = "xfr.test. 300 IN SOA ns1.xfr.test. h.xfr.test. 41 1 2 3 4";
  struct Case {
    const char* name;
    Bytes msg;
    zones::XfrParse status;
    std::uint16_t qtype;
    std::optional<std::uint32_t> serial;
    bool edns;
  };
  Bytes response = build("xfr.test.", LDNS_RR_TYPE_AXFR, nullptr, false);
  response[2] |= 0x80;
  Bytes twoQuestions = build("xfr.test.", LDNS_RR_TYPE_AXFR, nullptr, false);
  twoQuestions[5] = 2;
  const Bytes axfr = build("Xfr.Test.", LDNS_RR_TYPE_AXFR, nullptr, false);
  const Case cases[] = {
      {"AXFR", axfr, zones::XfrParse::Ok, kAXFR, std::nullopt, false},
      {"AXFR with EDNS", build("xfr.test.", LDNS_RR_TYPE_AXFR, nullptr, true), zones::XfrParse::Ok,
       kAXFR, std::nullopt, true},
      {"IXFR with its SOA", build("xfr.test.", LDNS_RR_TYPE_IXFR, soa, false), zones::XfrParse::Ok,
       kIXFR, 41u, false},
      {"IXFR without its SOA", build("xfr.test.", LDNS_RR_TYPE_IXFR, nullptr, false),
       zones::XfrParse::FormErr, kIXFR, std::nullopt, false},
      {"a query for A", build("xfr.test.", LDNS_RR_TYPE_A, nullptr, false),
       zones::XfrParse::NotTransfer, 1, std::nullopt, false},
      {"a response", response, zones::XfrParse::NotTransfer, 0, std::nullopt, false},
      {"two questions", twoQuestions, zones::XfrParse::FormErr, 0, std::nullopt, false},
      {"cut in the question", Bytes(axfr.begin(), axfr.end() - 2), zones::XfrParse::FormErr, 0,
       std::nullopt, false},
      {"cut in the SOA",
       [&] {
         Bytes m = build("xfr.test.", LDNS_RR_TYPE_IXFR, soa, false);
         m.resize(m.size() - 3);
         return m;
       }(),
       zones::XfrParse::FormErr, kIXFR, std::nullopt, false},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    zones::XfrQuery out;
    CHECK(zones::parseXfrQuery(c.msg, out) == c.status);
    if (c.status != zones::XfrParse::Ok) continue;
    CHECK(out.qtype == c.qtype);
    CHECK(out.ixfrSerial == c.serial);
    CHECK(out.request.edns == c.edns);
    CHECK(out.request.id == 0x4242);
    CHECK(name::toText(out.zone.span()) == "xfr.test.");  // lowercase
    CHECK(out.request.question.size() == 10 + 4);         // as sent, case kept
    CHECK(out.request.question.data() == c.msg.data() + 12);
  }
}
