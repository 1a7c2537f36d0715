// Wire conformance of the engine (issue 10, items 1-7): EDNS on every response
// to an EDNS query, CNAME into a delegation, ANY at a CNAME, QCLASS ANY, meta
// QTYPEs and transfers, NOTIFY/UPDATE, TSIG with an unknown key. Each case is
// a query built byte by byte; the output buffer is pre-filled with garbage and
// the response is walked to its exact end. The expected values are what NSD
// 4.6 and Knot 3.2 answer (tests/integration/test_conformance.py compares
// the three servers on the same zones).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/wire/tsig.h"
#include "server/engine.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, TXT = 16, AAAA = 28, OPT = 41,
                        TKEY = 249, TSIG = 250, IXFR = 251, AXFR = 252, MAILB = 253, MAILA = 254,
                        ANY = 255;
constexpr std::uint16_t kNotify = 4 << 11, kUpdate = 5 << 11;

// ---- building messages ----
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
Bytes header(std::uint16_t flags = 0, std::uint16_t qd = 1, std::uint16_t an = 0,
             std::uint16_t ns = 0, std::uint16_t ar = 0, std::uint16_t id = 0x4242) {
  Bytes b;
  for (std::uint16_t v : {id, flags, qd, an, ns, ar}) put16(b, v);
  return b;
}
Bytes wireName(const std::string& text) {
  auto n = name::fromText(text);
  REQUIRE(n);
  return {n->begin(), n->end()};
}
Bytes question(const std::string& name, std::uint16_t qtype = A, std::uint16_t qclass = 1) {
  Bytes b = wireName(name);
  put16(b, qtype);
  put16(b, qclass);
  return b;
}
Bytes opt(Bytes options = {}, std::uint8_t version = 0, std::uint16_t flags = 0) {
  Bytes b = {0};
  put16(b, OPT);
  put16(b, 1232);
  put16(b, version);  // extended rcode 0, version
  put16(b, flags);
  put16(b, static_cast<std::uint16_t>(options.size()));
  b.insert(b.end(), options.begin(), options.end());
  return b;
}
// An ECS option with raw fields, so malformed ones can be built.
Bytes ecs(std::uint16_t family, std::uint8_t source, std::uint8_t scope, Bytes address) {
  Bytes b;
  put16(b, 8);
  put16(b, static_cast<std::uint16_t>(4 + address.size()));
  put16(b, family);
  b.push_back(source);
  b.push_back(scope);
  b.insert(b.end(), address.begin(), address.end());
  return b;
}
// A TSIG RR (RFC 8945 4.2) as a client signing with `key` would send it.
struct TsigSpec {
  Bytes owner = wireName("unknown-key");
  std::string algorithm = "hmac-sha256";
  std::uint64_t time = 0x00006b0feabbULL;
  std::uint16_t fudge = 300;
  std::uint16_t macSize = 32;
  std::uint16_t originalId = 0x4242;
  std::uint16_t rrClass = 255;
  int rdlenDelta = 0;  // to build a TSIG whose RDLENGTH does not match its fields
};
Bytes tsigRR(const TsigSpec& s = {}) {
  Bytes rdata = wireName(s.algorithm);
  put16(rdata, static_cast<std::uint16_t>(s.time >> 32));
  put16(rdata, static_cast<std::uint16_t>(s.time >> 16));
  put16(rdata, static_cast<std::uint16_t>(s.time));
  put16(rdata, s.fudge);
  put16(rdata, s.macSize);
  rdata.insert(rdata.end(), s.macSize, 0xAB);
  put16(rdata, s.originalId);
  put16(rdata, 0);  // error
  put16(rdata, 0);  // other len
  Bytes b = s.owner;
  put16(b, TSIG);
  put16(b, s.rrClass);
  put16(b, 0);
  put16(b, 0);
  put16(b, static_cast<std::uint16_t>(static_cast<int>(rdata.size()) + s.rdlenDelta));
  b.insert(b.end(), rdata.begin(), rdata.end());
  return b;
}
// A plain A record for the answer/authority/additional sections.
Bytes aRecord(const std::string& owner) {
  Bytes b = wireName(owner);
  for (std::uint16_t v :
       {A, std::uint16_t{1}, std::uint16_t{0}, std::uint16_t{60}, std::uint16_t{4}})
    put16(b, v);
  b.insert(b.end(), {192, 0, 2, 1});
  return b;
}

// ---- reading responses ----
// Where a well-formed message ends (header, questions, every RR), or nullopt.
std::optional<std::size_t> messageEnd(std::span<const std::uint8_t> m) {
  Reader r(m);
  r.skip(4);
  const std::uint16_t qd = r.u16();
  const std::uint32_t rrs = std::uint32_t{r.u16()} + r.u16() + r.u16();
  name::NameBuf nb;
  for (std::uint16_t i = 0; i < qd; ++i) {
    if (!name::read(r, nb, false)) return std::nullopt;
    r.skip(4);
  }
  for (std::uint32_t i = 0; i < rrs; ++i) {
    if (!name::read(r, nb, false)) return std::nullopt;
    r.skip(8);
    r.skip(r.u16());
  }
  if (!r.ok()) return std::nullopt;
  return r.pos();
}

// The (possibly compressed) name in the RDATA of the first answer record.
std::string firstAnswerTarget(std::span<const std::uint8_t> m) {
  Reader r(m, 12);
  name::NameBuf nb;
  if (!name::read(r, nb, false)) return "?";
  r.skip(4);
  if (!name::read(r, nb, false)) return "?";
  r.skip(10);
  if (!name::read(r, nb, false)) return "?";
  return name::toText(nb.span());
}

struct DecodedTsig {
  std::string key, algorithm;
  std::uint16_t rrClass = 0;
  std::uint32_t ttl = 0;
  std::uint64_t time = 0;
  std::uint16_t fudge = 0, macSize = 0, originalId = 0, error = 0, otherLen = 0;
  bool exact = false;  // the fields fill RDLENGTH exactly
};
DecodedTsig decodeTsig(const test::ParsedRR& rr) {
  DecodedTsig t;
  t.key = rr.owner;
  t.rrClass = rr.rrclass;
  t.ttl = rr.ttl;
  Reader r(rr.rdata);
  name::NameBuf alg;
  if (!name::read(r, alg, false)) return t;
  t.algorithm = name::toText(alg.span());
  const std::uint64_t hi = r.u16();
  t.time = (hi << 32) | r.u32();
  t.fudge = r.u16();
  t.macSize = r.u16();
  r.skip(t.macSize);
  t.originalId = r.u16();
  t.error = r.u16();
  t.otherLen = r.u16();
  r.skip(t.otherLen);
  t.exact = r.ok() && r.remaining() == 0;
  return t;
}

// ---- the zones ----
std::shared_ptr<const ServingSnapshot> conformanceSnapshot() {
  config::ServerConfig cfg;
  cfg.listen = {"127.0.0.1:53"};
  const std::string dir = std::string(GEODNS_TEST_DATA) + "/integration/zones/";
  cfg.zones = {{"conformance.test", dir + "conformance.test.zone", ""},
               {"example.test", dir + "example.test.zone", ""}};
  ErrorList errors;
  auto snap = server::buildSnapshot(cfg, errors);
  if (!snap) throw std::runtime_error("conformance zones failed: " + errors.str());
  return snap;
}
const ServingSnapshot& snap() {
  static auto s = conformanceSnapshot();
  return *s;
}

// A pool whose only member is down and whose all_down is servfail.
std::shared_ptr<const ServingSnapshot> servfailSnapshot(const test::TempDir& dir) {
  auto base = test::snapshotFromJson(dir, "sf.test", R"({
    "listen": ["127.0.0.1:53"],
    "zones": [{"origin": "sf.test", "file": "ZONE"}],
    "regions": {"a": {}},
    "probes": {"web": {"type": "tcp", "port": 80, "interval_ms": 1000}},
    "pools": {"sf": {"ttl": 60, "probe": "web", "all_down": "servfail", "regions": {
               "a": {"members": [{"address": "192.0.2.1"}]}}}},
    "policies": {"health": {"steps": [{"step": "up"}]}},
    "bindings": [{"name": "www.sf.test", "pool": "sf", "policy": "health"}]
  })");
  auto hv = std::make_shared<health::HealthView>();
  hv->config = base->gslb->configId;
  hv->targets.resize(base->gslb->probes.size());
  for (auto& t : hv->targets) {
    t.state = health::State::Down;
    t.up = false;
    t.changeInSec = 100;
  }
  auto s = std::make_shared<ServingSnapshot>(*base);
  s->health = hv;
  return s;
}

enum class Via { Both, Udp, Tcp };

struct Expect {
  std::uint16_t rcode = 0;  // with the OPT's extended bits
  bool aa = false;
  bool question = true;  // the question echoed byte for byte
  bool opt = false;
  std::vector<std::uint16_t> answer = {};
  std::vector<std::uint16_t> authority = {};
  std::vector<std::uint16_t> additional = {};  // without the OPT
  Outcome outcome = Outcome::Answer;
  bool tc = false;
};

struct Case {
  std::string what;
  Bytes query;
  Expect expect;
  Via via = Via::Both;
};

struct Result {
  std::size_t len = 0;
  test::ParsedResponse resp;
  QueryFacts facts;
  Bytes wire;
};

Result ask(const ServingSnapshot& s, const Bytes& query, Transport t) {
  static std::vector<std::uint8_t> out(65535);
  std::fill(out.begin(), out.end(), 0xEE);  // garbage shows a missing write
  Result r;
  r.len = answer(s, query, out, t, *IpAddress::parse("192.0.2.200"), &r.facts);
  r.wire.assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r.len));
  r.resp = test::parseResponse(r.wire);
  return r;
}

std::vector<std::uint16_t> types(const std::vector<test::ParsedRR>& s) {
  std::vector<std::uint16_t> t;
  for (const auto& rr : s) t.push_back(rr.type);
  return t;
}

// Bytes of the question section of a query with QDCOUNT 1.
Bytes questionBytes(const Bytes& query) {
  Reader r(query, 12);
  name::NameBuf nb;
  name::read(r, nb, false);
  r.skip(4);
  return {query.begin() + 12, query.begin() + static_cast<std::ptrdiff_t>(r.pos())};
}

void check(const ServingSnapshot& s, const Case& c) {
  const std::string& what = c.what;
  CAPTURE(what);
  for (Transport t : {Transport::Udp, Transport::Tcp}) {
    if ((c.via == Via::Udp && t != Transport::Udp) || (c.via == Via::Tcp && t != Transport::Tcp))
      continue;
    std::string transport = t == Transport::Udp ? "udp" : "tcp";
    CAPTURE(transport);
    const Result r = ask(s, c.query, t);
    REQUIRE(r.len >= 12);
    REQUIRE(r.resp.ok);
    CHECK(messageEnd(r.wire) == r.len);  // no garbage or missing bytes at the end
    CHECK(r.resp.id == 0x4242);
    CHECK((r.resp.flags & 0x8000) != 0);
    CHECK(((r.resp.flags >> 11) & 0xF) == ((c.query[2] >> 3) & 0xF));  // opcode echoed
    const std::uint16_t rcode = static_cast<std::uint16_t>(
        r.resp.rcode() | (r.resp.hasOpt ? (r.resp.optTtl >> 24) << 4 : 0));
    CHECK(rcode == c.expect.rcode);
    CHECK(r.facts.rcode == c.expect.rcode);
    CHECK(r.resp.aa() == c.expect.aa);
    CHECK(r.resp.tc() == c.expect.tc);
    CHECK(r.resp.hasOpt == c.expect.opt);
    if (c.expect.question) {
      CHECK(r.resp.qd == 1);
      const Bytes q = questionBytes(c.query);
      CHECK(Bytes(r.wire.begin() + 12,
                  r.wire.begin() + 12 +
                      static_cast<std::ptrdiff_t>(std::min(q.size(), r.len - 12))) == q);
    } else {
      CHECK(r.resp.qd == 0);
    }
    CHECK(types(r.resp.sections[0]) == c.expect.answer);
    CHECK(types(r.resp.sections[1]) == c.expect.authority);
    CHECK(types(r.resp.sections[2]) == c.expect.additional);
    CHECK(r.facts.outcome == c.expect.outcome);
    if (r.resp.hasOpt) CHECK(r.resp.ecsScope() == -1);  // no case here gets an ECS echo
  }
}

const std::string kWww = "www.conformance.test";

}  // namespace

TEST_CASE("item 1: error responses to an EDNS query carry an OPT; the question when read") {
  const Bytes goodEcs = ecs(1, 24, 0, {198, 51, 100});
  const Case cases[] = {
      {"FORMERR: QDCOUNT 0 with an OPT",
       cat({header(0, 0, 0, 0, 1), opt()}),
       {.rcode = 1, .question = false, .opt = true, .outcome = Outcome::FormErr}},
      {"FORMERR: QDCOUNT 2 with an OPT: OPT, no question",
       cat({header(0, 2, 0, 0, 1), question(kWww), question(kWww), opt()}),
       {.rcode = 1, .question = false, .opt = true, .outcome = Outcome::FormErr}},
      {"FORMERR: ECS source prefix longer than IPv4",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt(ecs(1, 33, 0, {10, 0, 0, 0, 0}))}),
       {.rcode = 1, .opt = true, .outcome = Outcome::FormErr}},
      {"FORMERR: ECS unknown family",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt(ecs(3, 8, 0, {10}))}),
       {.rcode = 1, .opt = true, .outcome = Outcome::FormErr}},
      {"FORMERR: ECS address shorter than its prefix",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt(ecs(1, 24, 0, {10, 0}))}),
       {.rcode = 1, .opt = true, .outcome = Outcome::FormErr}},
      {"FORMERR: ECS address longer than its prefix",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt(ecs(1, 8, 0, {10, 0}))}),
       {.rcode = 1, .opt = true, .outcome = Outcome::FormErr}},
      {"FORMERR: ECS bits set beyond the prefix",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt(ecs(1, 23, 0, {10, 0, 1}))}),
       {.rcode = 1, .opt = true, .outcome = Outcome::FormErr}},
      {"FORMERR: ECS option shorter than its fixed part",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt({0, 8, 0, 2, 0, 1})}),
       {.rcode = 1, .opt = true, .outcome = Outcome::FormErr}},
      {"FORMERR: two ECS options (the first is not echoed)",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt(cat({goodEcs, goodEcs}))}),
       {.rcode = 1, .opt = true, .outcome = Outcome::FormErr}},
      {"FORMERR: a second OPT: question, no OPT (as Knot)",
       cat({header(0, 1, 0, 0, 2), question(kWww), opt(), opt()}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"FORMERR: option runs past the OPT RDATA: the OPT is not parsable",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt({0xFD, 0xE9, 0, 30, 'a', 'b', 'c'})}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"FORMERR: OPT owner not the root",
       cat({header(0, 1, 0, 0, 1), question(kWww), Bytes{1, 'a'}, opt()}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"FORMERR: ANCOUNT 1 swallows the OPT: question, no OPT",
       cat({header(0, 1, 1, 0, 1), question(kWww), opt()}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"FORMERR: an OPT in the answer section (NSD, Knot)",
       cat({header(0, 1, 1, 0, 0), question(kWww), opt()}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"FORMERR: an OPT in the authority section",
       cat({header(0, 1, 0, 1, 1), question(kWww), opt(), opt()}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"FORMERR: a record after the OPT breaks off: no OPT (Knot)",
       cat({header(0, 1, 0, 0, 2), question(kWww), opt(), Bytes{0, 0, 1}}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"FORMERR: unreadable question: header only",
       cat({header(0, 1, 0, 0, 1), Bytes{0xC0, 0x0C, 0, 1, 0, 1}, opt()}),
       {.rcode = 1, .question = false, .outcome = Outcome::FormErr}},
      {"other records in the additional section do not hide the OPT",
       cat({header(0, 1, 0, 0, 2), question(kWww), aRecord("x.example"), opt()}),
       {.rcode = 0, .aa = true, .opt = true, .answer = {A}, .outcome = Outcome::Answer}},
      {"NOTIMP: opcode IQUERY with an OPT",
       cat({header(1 << 11, 1, 0, 0, 1), question(kWww), opt()}),
       {.rcode = 4, .opt = true, .outcome = Outcome::NotImp}},
      {"NOTIMP: opcode STATUS with an OPT",
       cat({header(2 << 11, 1, 0, 0, 1), question(kWww), opt()}),
       {.rcode = 4, .opt = true, .outcome = Outcome::NotImp}},
      {"NOTIMP: opcode 15, QDCOUNT 0, with an OPT",
       cat({header(15 << 11, 0, 0, 0, 1), opt()}),
       {.rcode = 4, .question = false, .opt = true, .outcome = Outcome::NotImp}},
      {"NOTIMP: opcode 15 whose sections do not parse: header only",
       cat({header(15 << 11, 1, 0, 0, 1), Bytes{0xC0, 0x0C}}),
       {.rcode = 4, .question = false, .outcome = Outcome::NotImp}},
      {"NOTIMP before a bad ECS",
       cat({header(2 << 11, 1, 0, 0, 1), question(kWww), opt(ecs(3, 8, 0, {10}))}),
       {.rcode = 4, .opt = true, .outcome = Outcome::NotImp}},
      {"BADVERS before the options of that version are judged (NSD)",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt(ecs(1, 33, 0, {10, 0, 0, 0, 0}), 1)}),
       {.rcode = 16, .opt = true, .outcome = Outcome::BadVers}},
      {"BADVERS with a valid ECS: OPT without ECS echo",
       cat({header(0, 1, 0, 0, 1), question(kWww), opt(goodEcs, 1)}),
       {.rcode = 16, .opt = true, .outcome = Outcome::BadVers}},
      {"REFUSED outside every zone",
       cat({header(0, 1, 0, 0, 1), question("www.example.org"), opt()}),
       {.rcode = 5, .opt = true, .outcome = Outcome::Refused}},
      {"REFUSED for a class we do not serve",
       cat({header(0, 1, 0, 0, 1), question(kWww, A, 4), opt()}),
       {.rcode = 5, .opt = true, .outcome = Outcome::Refused}},
      {"REFUSED: NOTIFY (no secondary)",
       cat({header(kNotify, 1, 0, 0, 1), question("conformance.test", SOA), opt()}),
       {.rcode = 5, .opt = true, .outcome = Outcome::Refused}},
      {"NOTAUTH: UPDATE",
       cat({header(kUpdate, 1, 0, 0, 1), question("conformance.test", SOA), opt()}),
       {.rcode = 9, .opt = true, .outcome = Outcome::NotAuth}},
      {"no OPT in the query, none in the FORMERR",
       header(0, 0),
       {.rcode = 1, .question = false, .outcome = Outcome::FormErr}},
  };
  for (const auto& c : cases) check(snap(), c);
}

TEST_CASE("item 1: SERVFAIL of a pool carries an OPT and the question") {
  test::TempDir dir;
  auto s = servfailSnapshot(dir);
  check(*s, {"SERVFAIL: all_down servfail",
             cat({header(0, 1, 0, 0, 1), question("www.sf.test"), opt()}),
             {.rcode = 2, .opt = true, .outcome = Outcome::ServFail}});
}

TEST_CASE("item 1: a malformed ECS answer keeps the DO bit and advertises our size") {
  const Bytes q =
      cat({header(0, 1, 0, 0, 1), question(kWww), opt(ecs(1, 33, 0, {10, 0, 0, 0, 0}), 0, 0x8000)});
  auto r = ask(snap(), q, Transport::Udp);
  REQUIRE(r.resp.hasOpt);
  CHECK(r.resp.rcode() == 1);
  CHECK((r.resp.optTtl & 0x8000) != 0);
  CHECK(r.resp.optPayload == snap().limits.maxUdpPayload);
}

TEST_CASE("item 2: a CNAME into a delegation answers with the CNAMEs and the referral") {
  const Case cases[] = {
      {"CNAME below the cut",
       cat({header(), question("todeleg.conformance.test", A)}),
       {.aa = true, .answer = {CNAME}, .authority = {NS, NS}, .additional = {A, AAAA}}},
      {"CNAME to the cut itself",
       cat({header(), question("tocut.conformance.test", A)}),
       {.aa = true, .answer = {CNAME}, .authority = {NS, NS}, .additional = {A, AAAA}}},
      {"two CNAMEs, then the cut",
       cat({header(), question("twohops.conformance.test", AAAA)}),
       {.aa = true, .answer = {CNAME, CNAME}, .authority = {NS, NS}, .additional = {A, AAAA}}},
      {"with EDNS",
       cat({header(0, 1, 0, 0, 1), question("todeleg.conformance.test", TXT), opt()}),
       {.aa = true,
        .opt = true,
        .answer = {CNAME},
        .authority = {NS, NS},
        .additional = {A, AAAA}}},
      {"QTYPE CNAME: the CNAME alone",
       cat({header(), question("todeleg.conformance.test", CNAME)}),
       {.aa = true, .answer = {CNAME}}},
      {"a query below the cut is still a plain referral",
       cat({header(), question("host.sub.conformance.test", A)}),
       {.authority = {NS, NS}, .additional = {A, AAAA}, .outcome = Outcome::Referral}},
  };
  for (const auto& c : cases) check(snap(), c);
  // The referral names the cut and the glue its in-zone server.
  auto r = ask(snap(), cat({header(), question("twohops.conformance.test", A)}), Transport::Udp);
  REQUIRE(r.resp.sections[1].size() == 2);
  CHECK(r.resp.sections[0][1].owner == "todeleg.conformance.test.");
  CHECK(r.resp.sections[1][0].owner == "sub.conformance.test.");
  CHECK(r.resp.sections[2][0].owner == "ns.sub.conformance.test.");
}

TEST_CASE("item 3: QTYPE ANY at a CNAME returns the CNAME, not chased") {
  const Case cases[] = {
      {"alias ANY",
       cat({header(), question("alias.conformance.test", ANY)}),
       {.aa = true, .answer = {CNAME}}},
      {"chain ANY",
       cat({header(), question("chain.conformance.test", ANY)}),
       {.aa = true, .answer = {CNAME}}},
      {"CNAME into a delegation, ANY",
       cat({header(), question("todeleg.conformance.test", ANY)}),
       {.aa = true, .answer = {CNAME}}},
      {"ANY at a name with data: one RRset",
       cat({header(), question(kWww, ANY)}),
       {.aa = true, .answer = {A}}},
  };
  for (const auto& c : cases) check(snap(), c);
  auto r = ask(snap(), cat({header(), question("chain.conformance.test", ANY)}), Transport::Udp);
  REQUIRE(r.resp.sections[0].size() == 1);
  CHECK(firstAnswerTarget(r.wire) == "alias.conformance.test.");
}

TEST_CASE("item 4: QCLASS ANY is answered from the IN data") {
  const Case cases[] = {
      {"data", cat({header(), question(kWww, A, ANY)}), {.aa = true, .answer = {A}}},
      {"QTYPE and QCLASS ANY",
       cat({header(), question(kWww, ANY, ANY)}),
       {.aa = true, .answer = {A}}},
      {"CNAME chased",
       cat({header(), question("alias.conformance.test", A, ANY)}),
       {.aa = true, .answer = {CNAME, A}}},
      {"NXDOMAIN with the SOA (Knot; NSD leaves it out)",
       cat({header(), question("nope.conformance.test", A, ANY)}),
       {.rcode = 3, .aa = true, .authority = {SOA}, .outcome = Outcome::NXDomain}},
      {"NODATA",
       cat({header(), question(kWww, 15, ANY)}),
       {.aa = true, .authority = {SOA}, .outcome = Outcome::NoData}},
      {"referral",
       cat({header(), question("host.sub.conformance.test", A, ANY)}),
       {.authority = {NS, NS}, .additional = {A, AAAA}, .outcome = Outcome::Referral}},
      {"outside every zone: REFUSED",
       cat({header(0, 1, 0, 0, 1), question("www.example.org", A, ANY), opt()}),
       {.rcode = 5, .opt = true, .outcome = Outcome::Refused}},
  };
  for (const auto& c : cases) check(snap(), c);
  // Records are in class IN; the question keeps class ANY.
  auto r = ask(snap(), cat({header(), question("alias.conformance.test", A, ANY)}), Transport::Udp);
  REQUIRE(r.resp.sections[0].size() == 2);
  for (const auto& rr : r.resp.sections[0]) CHECK(rr.rrclass == 1);
  r = ask(snap(), cat({header(), question("nope.conformance.test", A, ANY)}), Transport::Udp);
  REQUIRE(r.resp.sections[1].size() == 1);
  CHECK(r.resp.sections[1][0].rrclass == 1);
}

TEST_CASE("item 5: meta and obsolete QTYPEs look up like any type; AXFR over UDP is NOTIMP") {
  std::vector<Case> cases;
  for (std::uint16_t t : {OPT, MAILA, MAILB, TKEY, TSIG}) {
    const std::string what = "qtype " + std::to_string(t);
    cases.push_back({what,
                     cat({header(), question(kWww, t)}),
                     {.aa = true, .authority = {SOA}, .outcome = Outcome::NoData}});
    cases.push_back({what,
                     cat({header(), question("nope.conformance.test", t)}),
                     {.rcode = 3, .aa = true, .authority = {SOA}, .outcome = Outcome::NXDomain}});
    cases.push_back({what,
                     cat({header(0, 1, 0, 0, 1), question("alias.conformance.test", t), opt()}),
                     {.aa = true, .opt = true, .answer = {CNAME}, .authority = {SOA}}});
    cases.push_back(
        {what,
         cat({header(), question("host.sub.conformance.test", t)}),
         {.authority = {NS, NS}, .additional = {A, AAAA}, .outcome = Outcome::Referral}});
    cases.push_back({what,
                     cat({header(), question("www.example.org", t)}),
                     {.rcode = 5, .outcome = Outcome::Refused}});
  }
  cases.push_back({"AXFR over UDP: NOTIMP (NSD, Knot)",
                   cat({header(0, 1, 0, 0, 1), question("conformance.test", AXFR), opt()}),
                   {.rcode = 4, .opt = true, .outcome = Outcome::NotImp},
                   Via::Udp});
  cases.push_back({"AXFR over UDP outside every zone: NOTIMP",
                   cat({header(), question("example.org", AXFR)}),
                   {.rcode = 4, .outcome = Outcome::NotImp},
                   Via::Udp});
  cases.push_back({"IXFR over UDP: TC=1, to TCP where transfers are answered",
                   cat({header(0, 1, 0, 0, 1), question("conformance.test", IXFR), opt()}),
                   {.opt = true, .outcome = Outcome::NoData, .tc = true},
                   Via::Udp});
  for (const auto& c : cases) check(snap(), c);
  // Over TCP the engine writes nothing: the TCP server streams the transfer
  // or refuses it (server/xfr_out.h, tests/unit/server/xfr_out_test.cc).
  for (const std::uint16_t t : {AXFR, IXFR}) {
    CAPTURE(t);
    const Result r =
        ask(snap(), cat({header(0, 1, 0, 0, 1), question("conformance.test", t), opt()}),
            Transport::Tcp);
    CHECK(r.len == 0);
    CHECK(r.facts.outcome == Outcome::Transfer);
  }
}

TEST_CASE("item 6: NOTIFY is REFUSED (no secondary), UPDATE NOTAUTH, with the question and OPT") {
  const Case cases[] = {
      {"NOTIFY for a served zone",
       cat({header(kNotify, 1, 0, 0, 1), question("conformance.test", SOA), opt()}),
       {.rcode = 5, .opt = true, .outcome = Outcome::Refused}},
      {"NOTIFY for another zone",
       cat({header(kNotify, 1, 0, 0, 1), question("example.org", SOA), opt()}),
       {.rcode = 5, .opt = true, .outcome = Outcome::Refused}},
      {"NOTIFY without EDNS: no OPT",
       cat({header(kNotify), question("conformance.test", SOA)}),
       {.rcode = 5, .outcome = Outcome::Refused}},
      {"NOTIFY with an answer section (the new SOA)",
       cat({header(kNotify, 1, 1, 0, 1), question("conformance.test", SOA),
            aRecord("conformance.test"), opt()}),
       {.rcode = 5, .opt = true, .outcome = Outcome::Refused}},
      {"UPDATE for a served zone",
       cat({header(kUpdate, 1, 0, 1, 1), question("conformance.test", SOA),
            aRecord("new.conformance.test"), opt()}),
       {.rcode = 9, .opt = true, .outcome = Outcome::NotAuth}},
      {"UPDATE without EDNS",
       cat({header(kUpdate), question("conformance.test", SOA)}),
       {.rcode = 9, .outcome = Outcome::NotAuth}},
      {"NOTIFY with QDCOUNT 0: FORMERR with OPT (Knot)",
       cat({header(kNotify, 0, 0, 0, 1), opt()}),
       {.rcode = 1, .question = false, .opt = true, .outcome = Outcome::FormErr}},
      {"UPDATE with a bad ECS: FORMERR with OPT",
       cat({header(kUpdate, 1, 0, 0, 1), question("conformance.test", SOA),
            opt(ecs(3, 8, 0, {10}))}),
       {.rcode = 1, .opt = true, .outcome = Outcome::FormErr}},
  };
  for (const auto& c : cases) check(snap(), c);
}

TEST_CASE("item 7: a TSIG with a key we do not know is NOTAUTH + BADKEY, not an answer") {
  const Bytes signedQ = cat({header(0, 1, 0, 0, 1), question(kWww), tsigRR()});
  const Bytes signedEdns = cat({header(0, 1, 0, 0, 2), question(kWww), opt(), tsigRR()});
  // The key name compressed against the question's "conformance.test".
  const Bytes compressedKey =
      cat({header(0, 1, 0, 0, 1), question(kWww), tsigRR({.owner = {3, 'k', 'e', 'y', 0xC0, 16}})});
  const Case cases[] = {
      {"signed query", signedQ, {.rcode = 9, .additional = {TSIG}, .outcome = Outcome::BadKey}},
      {"signed EDNS query: OPT, then TSIG last",
       signedEdns,
       {.rcode = 9, .opt = true, .additional = {TSIG}, .outcome = Outcome::BadKey}},
      {"compressed key name",
       compressedKey,
       {.rcode = 9, .additional = {TSIG}, .outcome = Outcome::BadKey}},
      {"TSIG class IN is accepted (Knot)",
       cat({header(0, 1, 0, 0, 1), question(kWww), tsigRR({.rrClass = 1})}),
       {.rcode = 9, .additional = {TSIG}, .outcome = Outcome::BadKey}},
      {"unknown algorithm, empty MAC",
       cat({header(0, 1, 0, 0, 1), question(kWww), tsigRR({.algorithm = "x.y", .macSize = 0})}),
       {.rcode = 9, .additional = {TSIG}, .outcome = Outcome::BadKey}},
      {"outside every zone: still BADKEY (NSD; Knot says REFUSED)",
       cat({header(0, 1, 0, 0, 1), question("www.example.org"), tsigRR()}),
       {.rcode = 9, .additional = {TSIG}, .outcome = Outcome::BadKey}},
      {"AXFR over UDP: BADKEY (NSD; Knot says NOTIMP)",
       cat({header(0, 1, 0, 0, 1), question("conformance.test", AXFR), tsigRR()}),
       {.rcode = 9, .additional = {TSIG}, .outcome = Outcome::BadKey}},
      {"NOTIFY signed: BADKEY (RFC 8945 5.2.2)",
       cat({header(kNotify, 1, 0, 0, 1), question("conformance.test", SOA), tsigRR()}),
       {.rcode = 9, .additional = {TSIG}, .outcome = Outcome::BadKey}},
      {"TSIG before the OPT: FORMERR, no OPT (RFC 8945 5.1; Knot)",
       cat({header(0, 1, 0, 0, 2), question(kWww), tsigRR(), opt()}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"two TSIGs: FORMERR",
       cat({header(0, 1, 0, 0, 2), question(kWww), tsigRR(), tsigRR()}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"TSIG in the answer section: FORMERR",
       cat({header(0, 1, 1, 0, 0), question(kWww), tsigRR()}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"TSIG in the authority section: FORMERR",
       cat({header(0, 1, 0, 1, 1), question(kWww), tsigRR(), opt()}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"TSIG RDATA shorter than its fields: FORMERR",
       cat({header(0, 1, 0, 0, 1), question(kWww), tsigRR({.rdlenDelta = -4}), Bytes(4, 0)}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"TSIG RDATA longer than its fields: FORMERR",
       cat({header(0, 1, 0, 0, 1), question(kWww), tsigRR({.rdlenDelta = 3}), Bytes(3, 0)}),
       {.rcode = 1, .outcome = Outcome::FormErr}},
      {"TSIG with a bad ECS: FORMERR with OPT first (Knot)",
       cat({header(0, 1, 0, 0, 2), question(kWww), opt(ecs(3, 8, 0, {10})), tsigRR()}),
       {.rcode = 1, .opt = true, .outcome = Outcome::FormErr}},
      {"TSIG with EDNS version 1: BADVERS first",
       cat({header(0, 1, 0, 0, 2), question(kWww), opt({}, 1), tsigRR()}),
       {.rcode = 16, .opt = true, .outcome = Outcome::BadVers}},
      {"TSIG with QDCOUNT 0: FORMERR",
       cat({header(0, 0, 0, 0, 1), tsigRR()}),
       {.rcode = 1, .question = false, .outcome = Outcome::FormErr}},
  };
  for (const auto& c : cases) check(snap(), c);

  SUBCASE("the TSIG RR copies the request's fields (RFC 8945 5.2.2, 5.3.2)") {
    for (const Bytes* q : {&signedQ, &signedEdns, &compressedKey}) {
      for (Transport t : {Transport::Udp, Transport::Tcp}) {
        auto r = ask(snap(), *q, t);
        REQUIRE(r.resp.sections[2].size() == 1);
        const auto tsig = decodeTsig(r.resp.sections[2][0]);
        CHECK(tsig.exact);
        CHECK(tsig.key == (q == &compressedKey ? "key.conformance.test." : "unknown-key."));
        CHECK(tsig.rrClass == 255);
        CHECK(tsig.ttl == 0);
        CHECK(tsig.algorithm == "hmac-sha256.");
        CHECK(tsig.time == 0x00006b0feabbULL);
        CHECK(tsig.fudge == 300);
        CHECK(tsig.macSize == 0);
        CHECK(tsig.originalId == 0x4242);
        CHECK(tsig.error == 17);
        CHECK(tsig.otherLen == 0);
        // The TSIG is the last record of the message.
        CHECK(r.wire.size() >= 2);
        CHECK(messageEnd(r.wire) == r.len);
      }
    }
  }
  SUBCASE("original ID and time come from the TSIG, not the header") {
    auto r = ask(snap(),
                 cat({header(0, 1, 0, 0, 1), question(kWww),
                      tsigRR({.time = 0x0001'2345'6789ULL, .fudge = 7, .originalId = 0x1111})}),
                 Transport::Udp);
    REQUIRE(r.resp.sections[2].size() == 1);
    const auto tsig = decodeTsig(r.resp.sections[2][0]);
    CHECK(tsig.originalId == 0x1111);
    CHECK(tsig.time == 0x0001'2345'6789ULL);
    CHECK(tsig.fudge == 7);
  }
  SUBCASE("a TSIG too big for 512 bytes over UDP: TC=1, no TSIG; complete over TCP") {
    std::string longName, longKey;
    for (int i = 0; i < 3; ++i) longName += std::string(63, static_cast<char>('a' + i)) + ".";
    longName += "conformance.test";
    for (int i = 0; i < 3; ++i) longKey += std::string(63, 'k') + ".";
    const Bytes q = cat({header(0, 1, 0, 0, 1), question(longName),
                         tsigRR({.owner = wireName(longKey), .algorithm = longKey})});
    auto r = ask(snap(), q, Transport::Udp);
    CHECK(r.len <= 512);
    CHECK(r.resp.tc());
    CHECK(r.resp.rcode() == 9);
    CHECK(r.resp.sections[2].empty());
    CHECK(messageEnd(r.wire) == r.len);
    r = ask(snap(), q, Transport::Tcp);
    CHECK_FALSE(r.resp.tc());
    CHECK(types(r.resp.sections[2]) == std::vector<std::uint16_t>{TSIG});
  }
}

// A TSIG whose MAC SIZE says 200 while RDATA holds 32 bytes of MAC.
Bytes macTooLong() {
  Bytes rr = tsigRR();
  const std::size_t at = wireName("unknown-key").size() + 10 + wireName("hmac-sha256").size() + 8;
  rr[at] = 0;
  rr[at + 1] = 200;
  return rr;
}

TEST_CASE("tsig codec: read and writeUnsigned round trip") {
  const Bytes rr = tsigRR({.time = 0xABCD'1234'5678ULL, .fudge = 9, .originalId = 0x7777});
  const Bytes msg = cat({header(0, 1, 0, 0, 1), question(kWww), rr});
  Reader r(msg, msg.size() - rr.size());
  tsig::Record rec;
  REQUIRE(tsig::read(r, rec));
  CHECK(r.remaining() == 0);
  CHECK(name::toText(rec.key.span()) == "unknown-key.");
  CHECK(name::toText(rec.algorithm.span()) == "hmac-sha256.");
  CHECK(rec.timeSigned == 0xABCD'1234'5678ULL);
  CHECK(rec.fudge == 9);
  CHECK(rec.mac.size() == 32);
  CHECK(rec.originalId == 0x7777);
  CHECK(rec.error == 0);
  CHECK(rec.other.empty());

  std::vector<std::uint8_t> out(tsig::unsignedSize(rec), 0xEE);
  Writer w(out.data(), out.size());
  REQUIRE(tsig::writeUnsigned(w, rec, 18, 42));
  CHECK(w.size() == out.size());
  Writer small(out.data(), out.size() - 1);
  CHECK_FALSE(tsig::writeUnsigned(small, rec, 18, 42));

  struct Bad {
    const char* what;
    Bytes rr;
  };
  const Bad bad[] = {
      {"not a TSIG", aRecord("x.test")},
      {"RDATA runs past the message", Bytes(rr.begin(), rr.end() - 1)},
      {"RDLENGTH short", tsigRR({.rdlenDelta = -1})},
      {"MAC size past RDATA", macTooLong()},
  };
  for (const auto& b : bad) {
    CAPTURE(b.what);
    Reader br(b.rr);
    tsig::Record x;
    CHECK_FALSE(tsig::read(br, x));
  }
}
