// Incoming transfers (zones/xfr_in.h): the queries a secondary sends, the
// primary's SOA answer, an AXFR stream read back into a zone file (round trip
// through our own AXFR writer), every way a stream is refused, and the atomic
// file replace.
#include <doctest/doctest.h>

// clang-format off
#include <stdbool.h>  // must precede ldns (FIELD-NOTES.md)
#include <ldns/ldns.h>
// clang-format on

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "zones/transfer.h"
#include "zones/xfr_in.h"
#include "zones/zone.h"
#include "zones/zone_file.h"

using namespace geodns;
using geodns::test::TempDir;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint16_t kId = 0x2A2A;
constexpr std::uint16_t kAXFR = 252, kSOA = 6;
const char* const kSoa = "in.test. 300 IN SOA ns.in.test. h.in.test. 5 3600 600 86400 300";
const char* const kSoa6 = "in.test. 300 IN SOA ns.in.test. h.in.test. 6 3600 600 86400 300";

std::string wireName(const char* text) {
  return *name::fromText(text);
}

// A response message as a primary would send it, made by ldns (an independent writer).
struct Msg {
  std::vector<std::string> answers;
  std::uint16_t id = kId;
  bool question = true;
  const char* qname = "in.test.";
  ldns_rr_type qtype = LDNS_RR_TYPE_AXFR;
  bool qr = true;
  bool aa = true;
  bool tc = false;
  ldns_pkt_rcode rcode = LDNS_RCODE_NOERROR;
};

Bytes build(const Msg& m) {
  ldns_pkt* p = ldns_pkt_new();
  ldns_pkt_set_id(p, m.id);
  ldns_pkt_set_qr(p, m.qr);
  ldns_pkt_set_aa(p, m.aa);
  ldns_pkt_set_tc(p, m.tc);
  ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
  ldns_pkt_set_rcode(p, m.rcode);
  if (m.question) {
    ldns_rr* q = ldns_rr_new();
    ldns_rr_set_owner(q, ldns_dname_new_frm_str(m.qname));
    ldns_rr_set_type(q, m.qtype);
    ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
    ldns_rr_set_question(q, true);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
  }
  for (const auto& a : m.answers) {
    ldns_rr* rr = nullptr;
    REQUIRE_MESSAGE(ldns_rr_new_frm_str(&rr, a.c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK, a);
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
  }
  std::uint8_t* wire = nullptr;
  std::size_t len = 0;
  REQUIRE(ldns_pkt2wire(&wire, p, &len) == LDNS_STATUS_OK);
  Bytes out(wire, wire + len);
  std::free(wire);
  ldns_pkt_free(p);
  return out;
}

// A later message of a stream: no question.
Msg later(std::vector<std::string> answers) {
  Msg m;
  m.answers = std::move(answers);
  m.question = false;
  return m;
}

Bytes question(const char* qname, std::uint16_t qtype) {
  const std::string n = wireName(qname);
  Bytes q(n.begin(), n.end());
  q.push_back(static_cast<std::uint8_t>(qtype >> 8));
  q.push_back(static_cast<std::uint8_t>(qtype));
  q.push_back(0);
  q.push_back(1);
  return q;
}

// A zone file's records as comparable lines (owner, class, TTL, type, RDATA bytes).
std::multiset<std::string> records(const std::vector<zones::ParsedRR>& rrs) {
  std::multiset<std::string> out;
  for (const auto& rr : rrs) out.insert(std::to_string(rr.rrclass) + " " + zones::rrToText(rr));
  return out;
}

const char* const kRoundTripZone =
    "$ORIGIN rt.test.\n$TTL 300\n"
    "@ 3600 SOA ns1 hostmaster 2024060101 3600 600 86400 300\n"
    "@ NS ns1\n@ NS ns2.other.test.\n@ MX 10 mail\n@ MX 20 mx.other.test.\n"
    "ns1 A 192.0.2.1\nns1 AAAA 2001:db8::1\nmail A 192.0.2.2\n"
    "www 60 CNAME @\nalias CNAME target.other.test.\n"
    "txt TXT \"hello world\" \"a \\\"quoted\\\" string; not a comment\"\n"
    "_sip._tcp SRV 0 5 5060 sip\nsip A 192.0.2.3\n"
    "sub NS ns.sub\nsub NS ns.other.test.\nns.sub A 192.0.2.53\nns.sub AAAA 2001:db8::53\n"
    "odd\\.label\\032x TXT \"escaped\"\n"
    "\\(paren\\) A 192.0.2.9\n"
    "caa CAA 0 issue \"ca.example.net\"\n"
    "unknown TYPE65280 \\# 3 abcdef\n";

}  // namespace

TEST_CASE("xfr_in: writeXfrQuery writes the header and question a primary expects") {
  std::uint8_t buf[64];
  std::fill(std::begin(buf), std::end(buf), std::uint8_t{0xAA});  // a missing write shows
  Writer w(buf, sizeof buf);
  REQUIRE(zones::writeXfrQuery(w, 0x1234, name::asSpan(wireName("rt.test")), kAXFR));
  const Bytes want = {0x12, 0x34, 0, 0,   0,   1,   0,   0, 0, 0,     0, 0, 2,
                      'r',  't',  4, 't', 'e', 's', 't', 0, 0, kAXFR, 0, 1};
  CHECK(Bytes(buf, buf + w.size()) == want);

  // The server side reads it as a transfer request.
  zones::XfrQuery q;
  REQUIRE(zones::parseXfrQuery({buf, w.size()}, q) == zones::XfrParse::Ok);
  CHECK(q.request.id == 0x1234);
  CHECK(q.request.flags == 0);
  CHECK(q.qtype == kAXFR);
  CHECK(q.qclass == 1);
  CHECK(name::asView(q.zone.span()) == wireName("rt.test"));
  CHECK_FALSE(q.request.edns);

  SUBCASE("an SOA query: a plain query, not a transfer") {
    Writer s(buf, sizeof buf);
    REQUIRE(zones::writeXfrQuery(s, 7, name::asSpan(wireName("rt.test")), kSOA));
    CHECK(buf[s.size() - 3] == kSOA);
    CHECK(zones::parseXfrQuery({buf, s.size()}, q) == zones::XfrParse::NotTransfer);
  }
  SUBCASE("too small a buffer fails") {
    Writer tiny(buf, 20);
    CHECK_FALSE(zones::writeXfrQuery(tiny, 7, name::asSpan(wireName("rt.test")), kAXFR));
  }
}

TEST_CASE("xfr_in: readSoaAnswer takes the serial only from a proper answer") {
  auto soa = [](std::vector<std::string> answers) {
    Msg m;
    m.answers = std::move(answers);
    m.qtype = LDNS_RR_TYPE_SOA;
    return m;
  };
  struct Case {
    const char* name;
    Bytes msg;
    std::optional<std::uint32_t> serial;
    const char* error;
  };
  Msg wrongId = soa({kSoa});
  wrongId.id = kId + 1;
  Msg noAa = soa({kSoa});
  noAa.aa = false;
  Msg refused = soa({});
  refused.rcode = LDNS_RCODE_REFUSED;
  refused.aa = false;
  Msg notQr = soa({kSoa});
  notQr.qr = false;
  Msg otherQ = soa({kSoa});
  otherQ.qname = "other.test.";
  Msg axfrQ = soa({kSoa});
  axfrQ.qtype = LDNS_RR_TYPE_AXFR;
  Bytes garbage = build(soa({kSoa}));
  garbage.resize(garbage.size() - 5);
  const Case cases[] = {
      {"the answer", build(soa({kSoa})), 5, ""},
      {"the answer after an A and an SOA of another name",
       build(soa({"in.test. 300 IN A 192.0.2.1",
                  "sub.in.test. 300 IN SOA ns.in.test. h.in.test. 9 1 1 1 1", kSoa6})),
       6, ""},
      {"the name in upper case", build(soa({"IN.TEST. 300 IN SOA a. b. 77 1 1 1 1"})), 77, ""},
      {"another ID", build(wrongId), std::nullopt, "not our query's"},
      {"QR clear", build(notQr), std::nullopt, "QR clear"},
      {"AA clear", build(noAa), std::nullopt, "AA clear"},
      {"REFUSED", build(refused), std::nullopt, "primary answered REFUSED"},
      {"a question for another name", build(otherQ), std::nullopt, "not ours"},
      {"a question for AXFR", build(axfrQ), std::nullopt, "not ours"},
      {"an SOA of another name only",
       build(soa({"other.test. 300 IN SOA ns.in.test. h.in.test. 5 1 1 1 1"})), std::nullopt,
       "no SOA for in.test."},
      {"no SOA", build(soa({"in.test. 300 IN A 192.0.2.1"})), std::nullopt, "no SOA"},
      {"cut short", garbage, std::nullopt, "malformed"},
      {"five bytes", Bytes{0x2A, 0x2A, 0x84, 0, 0}, std::nullopt, "truncated header"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    std::string err = "unchanged";
    const auto serial = zones::readSoaAnswer(c.msg, kId, name::asSpan(wireName("in.test")), &err);
    CHECK(serial == c.serial);
    if (!c.serial) CHECK_MESSAGE(err.find(c.error) != std::string::npos, err);
  }
}

TEST_CASE("xfr_in: an AXFR written by axfrMessages reads back to the same zone") {
  TempDir dir;
  std::string text = kRoundTripZone;
  for (int i = 0; i < 30; ++i)
    text += "h" + std::to_string(i) + " A 10.0.0." + std::to_string(i) + "\n";
  const std::string path = dir.write("rt.zone", text);
  ErrorList errors;
  auto source = zones::parseZoneFile(path, "rt.test", errors);
  REQUIRE_MESSAGE(errors.empty(), errors.str());
  auto zone = zones::Zone::compile("rt.test", source, errors);
  REQUIRE_MESSAGE(zone, errors.str());

  const Bytes q = question("rt.test", kAXFR);
  zones::XfrRequest req;
  req.id = 0x7777;
  req.question = q;
  zones::XfrOptions opt;
  opt.maxMessage = 512;  // several messages, each with its own compression
  std::string err;
  const auto msgs = zones::axfrMessages(*zone, req, {}, opt, &err);
  REQUIRE_MESSAGE(msgs.size() >= 3, err);

  zones::AxfrReader reader(name::asSpan(wireName("rt.test")), 0x7777);
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    CAPTURE(i);
    const auto st = reader.feed(msgs[i]);
    REQUIRE_MESSAGE(st == (i + 1 == msgs.size() ? zones::AxfrReader::State::Done
                                                : zones::AxfrReader::State::More),
                    reader.error());
  }
  CHECK(reader.state() == zones::AxfrReader::State::Done);
  CHECK(reader.serial() == 2024060101u);
  CHECK(reader.recordCount() == source.size());
  CHECK(reader.ignored() == 0);

  const std::string out = reader.zoneText("from 192.0.2.1\nserial 2024060101");
  CHECK(out.rfind("; from 192.0.2.1\n; serial 2024060101\n$ORIGIN rt.test.\n", 0) == 0);
  const std::string back = dir.write("back.zone", out);
  auto again = zones::parseZoneFile(back, "rt.test", errors);
  REQUIRE_MESSAGE(errors.empty(), errors.str() << "\n" << out);
  CHECK(records(again) == records(source));
  // And it compiles to a zone with the same SOA serial.
  auto zone2 = zones::Zone::compile("rt.test", again, errors);
  REQUIRE_MESSAGE(zone2, errors.str());

  SUBCASE("maxRecords equal to the zone's size is enough") {
    zones::AxfrReader exact(name::asSpan(wireName("rt.test")), 0x7777, source.size());
    for (const auto& m : msgs) exact.feed(m);
    CHECK_MESSAGE(exact.state() == zones::AxfrReader::State::Done, exact.error());
  }
}

TEST_CASE("xfr_in: a one-message transfer, an empty middle message, dropped out-of-zone owners") {
  const std::string origin = wireName("in.test");
  struct Case {
    const char* name;
    std::vector<Msg> msgs;
    std::size_t records, ignored;
  };
  Msg second = later({"www.in.test. 300 IN A 192.0.2.1"});
  second.question = true;  // a later message may repeat the question
  const Case cases[] = {
      {"one message", {Msg{{kSoa, "in.test. 300 IN NS ns.in.test.", kSoa}}}, 2, 0},
      {"the SOA alone, then the closing SOA", {Msg{{kSoa}}, later({kSoa})}, 1, 0},
      {"an empty message in the middle",
       {Msg{{kSoa}}, later({}), later({"a.in.test. 300 IN A 192.0.2.1"}), later({kSoa})},
       2,
       0},
      {"a later message repeating the question", {Msg{{kSoa}}, second, later({kSoa})}, 2, 0},
      {"out-of-zone owners dropped and counted",
       {Msg{{kSoa, "x.other.test. 300 IN A 192.0.2.1", "test. 300 IN NS ns.in.test.",
             "a.in.test. 300 IN A 192.0.2.2", "other.test. 300 IN SOA a. b. 1 1 1 1 1", kSoa}}},
       2,
       3},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    zones::AxfrReader r(name::asSpan(origin), kId);
    for (std::size_t i = 0; i < c.msgs.size(); ++i)
      CHECK_MESSAGE(
          r.feed(build(c.msgs[i])) == (i + 1 == c.msgs.size() ? zones::AxfrReader::State::Done
                                                              : zones::AxfrReader::State::More),
          r.error());
    CHECK(r.serial() == 5);
    CHECK(r.recordCount() == c.records);
    CHECK(r.ignored() == c.ignored);
  }
}

TEST_CASE("xfr_in: every stream the reader refuses, with the reason") {
  const std::string origin = wireName("in.test");
  auto with = [](Msg m, auto change) {
    change(m);
    return build(m);
  };
  const Msg full{{kSoa, "a.in.test. 300 IN A 192.0.2.1", kSoa}};
  const Bytes start = build(Msg{{kSoa, "a.in.test. 300 IN A 192.0.2.1"}});
  Bytes cut = build(full);
  cut.resize(cut.size() - 3);
  Bytes lying = build(Msg{{kSoa}});
  lying[7] = 2;  // ANCOUNT 2, one record present
  struct Case {
    const char* name;
    std::vector<Bytes> msgs;
    const char* error;
    std::size_t maxRecords = 20'000'000;
  };
  const Case cases[] = {
      {"another ID", {with(full, [](Msg& m) { m.id = 1; })}, "is not our query's"},
      {"another ID in a later message",
       {start, with(later({kSoa}), [](Msg& m) { m.id = 1; })},
       "message 2: ID 1"},
      {"QR clear", {with(full, [](Msg& m) { m.qr = false; })}, "QR clear"},
      {"REFUSED",
       {with(Msg{}, [](Msg& m) { m.rcode = LDNS_RCODE_REFUSED; })},
       "primary answered REFUSED"},
      {"NOTAUTH",
       {with(Msg{}, [](Msg& m) { m.rcode = LDNS_RCODE_NOTAUTH; })},
       "primary answered NOTAUTH"},
      {"TC set", {with(full, [](Msg& m) { m.tc = true; })}, "TC set"},
      {"no question in the first message",
       {with(full, [](Msg& m) { m.question = false; })},
       "QDCOUNT 0"},
      {"a question for another zone",
       {with(full, [](Msg& m) { m.qname = "other.test."; })},
       "not ours"},
      {"a question for a name below the zone",
       {with(full, [](Msg& m) { m.qname = "a.in.test."; })},
       "not ours"},
      {"a question of type SOA",
       {with(full, [](Msg& m) { m.qtype = LDNS_RR_TYPE_SOA; })},
       "not ours"},
      {"a later message with another question",
       {start, with(later({kSoa}),
                    [](Msg& m) {
                      m.question = true;
                      m.qname = "other.test.";
                    })},
       "message 2: the question"},
      {"the first record not an SOA",
       {build(Msg{{"in.test. 300 IN NS ns.in.test.", kSoa, kSoa}})},
       "does not start with the zone's SOA"},
      {"the first SOA of another owner",
       {build(Msg{{"sub.in.test. 300 IN SOA ns.in.test. h.in.test. 5 3600 600 86400 300", kSoa}})},
       "does not start with the zone's SOA"},
      {"the first SOA out of the zone",
       {build(Msg{{"other.test. 300 IN SOA ns.in.test. h.in.test. 5 3600 600 86400 300"}})},
       "does not start with the zone's SOA"},
      {"a record of class CH",
       {build(Msg{{kSoa, "a.in.test. 0 CH TXT \"x\"", kSoa}})},
       "class 3, not IN"},
      {"an SOA of class CH first",
       {build(Msg{{"in.test. 0 CH SOA ns.in.test. h.in.test. 5 3600 600 86400 300"}})},
       "class 3, not IN"},
      {"the closing SOA with another serial",
       {start, build(later({kSoa6}))},
       "closing SOA (serial 6) differs from the first (serial 5)"},
      {"the closing SOA with another TTL",
       {start, build(later({"in.test. 30 IN SOA ns.in.test. h.in.test. 5 3600 600 86400 300"}))},
       "differs from the first"},
      {"an SOA below the apex",
       {start, build(later({"sub.in.test. 300 IN SOA a. b. 5 3600 600 86400 300"}))},
       "SOA below the apex"},
      {"a record after the closing SOA in its message",
       {build(Msg{{kSoa, kSoa, "b.in.test. 300 IN A 192.0.2.1"}})},
       "records after the closing SOA"},
      {"a message after the end",
       {build(full), build(later({kSoa}))},
       "message after the end of the transfer"},
      {"more records than allowed", {build(full)}, "more than 1 records", 1},
      {"dropped records count toward the cap",
       {build(Msg{
           {kSoa, "a.other.test. 300 IN A 192.0.2.1", "b.other.test. 300 IN A 192.0.2.1", kSoa}})},
       "more than 2 records",
       2},
      {"a message cut short", {cut}, "malformed message"},
      {"ANCOUNT larger than the records", {lying}, "malformed message"},
      {"a header only, five bytes", {Bytes{0x2A, 0x2A, 0x84, 0, 0}}, "truncated header"},
      {"nothing", {Bytes{}}, "truncated header"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    zones::AxfrReader r(name::asSpan(origin), kId, c.maxRecords);
    zones::AxfrReader::State st = zones::AxfrReader::State::More;
    for (const auto& m : c.msgs) st = r.feed(m);
    CHECK(st == zones::AxfrReader::State::Failed);
    CHECK(r.state() == zones::AxfrReader::State::Failed);
    CHECK_MESSAGE(r.error().find(c.error) != std::string::npos, r.error());
    // Failed stays failed, with the first reason.
    const std::string first = r.error();
    CHECK(r.feed(build(later({kSoa}))) == zones::AxfrReader::State::Failed);
    CHECK(r.error() == first);
  }
}

TEST_CASE("xfr_in: writeFileAtomically replaces a file whole, or leaves it alone") {
  TempDir dir;
  const std::string path = (dir.path() / "zone.txt").string();
  auto read = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  auto entries = [](const std::filesystem::path& d) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(d))
      names.push_back(e.path().filename().string());
    return names;
  };
  std::string err;
  REQUIRE_MESSAGE(zones::writeFileAtomically(path, "first\n", &err), err);
  CHECK(read(path) == "first\n");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);

  REQUIRE(::chmod(path.c_str(), 0640) == 0);
  const std::string big(300000, 'z');  // more than one write() may take
  REQUIRE_MESSAGE(zones::writeFileAtomically(path, big, &err), err);
  CHECK(read(path) == big);
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);  // the replaced file's mode is kept
  CHECK(entries(dir.path()) == std::vector<std::string>{"zone.txt"});  // no temporary left

  const std::string missing = (dir.path() / "no-such-dir" / "zone.txt").string();
  err.clear();
  CHECK_FALSE(zones::writeFileAtomically(missing, "x", &err));
  CHECK_MESSAGE(err.find(missing) != std::string::npos, err);
  CHECK_MESSAGE(err.find("No such file or directory") != std::string::npos, err);

  // A directory where the file should be: the rename fails and the temporary goes.
  const std::string asDir = (dir.path() / "sub").string();
  std::filesystem::create_directories(dir.path() / "sub" / "inner");
  CHECK_FALSE(zones::writeFileAtomically(asDir, "x", &err));
  CHECK_MESSAGE(err.find("cannot rename") != std::string::npos, err);
  auto left = entries(dir.path());
  std::sort(left.begin(), left.end());
  CHECK(left == std::vector<std::string>{"sub", "zone.txt"});

  // A relative path: written in the current directory.
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  CHECK_MESSAGE(zones::writeFileAtomically("relative.txt", "r", &err), err);
  std::filesystem::current_path(cwd);
  CHECK(read((dir.path() / "relative.txt").string()) == "r");
}
