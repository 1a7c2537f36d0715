// Outgoing transfers as the TCP server runs them (server/xfr_out.h): the
// checks in their order (TSIG, zone apex, the zone's ACL and key), the
// messages of the stream, each signed, and the records at GSLB-bound names.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/wire/query_builder.h"
#include "server/xfr_out.h"
#include "support/engine_fixture.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;

namespace {

using Bytes = std::vector<std::uint8_t>;
constexpr std::uint64_t kNow = 1800000000;
constexpr const char* kSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy";

// One zone, xfr.test, served with the "transfer" block `transfer` (JSON, or "" for none).
std::shared_ptr<const ServingSnapshot> snapWith(const test::TempDir& dir,
                                                const std::string& transfer) {
  const std::string key = dir.write("k.key", kSecret);
  const std::string other = dir.write("o.key", "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==");
  return test::snapshotFromJson(
      dir, "xfr.test",
      R"({"listen": ["127.0.0.1:53"], "tsig_keys": {"k": {"algorithm": "hmac-sha256", "secret_file": ")" +
          key + R"("}, "other": {"algorithm": "hmac-sha512", "secret_file": ")" + other +
          R"("}}, "zones": [{"origin": "xfr.test", "file": "ZONE")" +
          (transfer.empty() ? "" : ", \"transfer\": " + transfer) + "}]}");
}

tsig::Key keyOf(const char* name, const char* alg, const char* secret) {
  std::string err;
  auto k = tsig::makeKey(name, alg, secret, &err);
  REQUIRE_MESSAGE(k, err);
  return *k;
}

struct Request {
  Bytes wire;
  Bytes mac;  // of the request, when signed
};

// An AXFR (or IXFR with `serial`) for `zone`, with EDNS, signed with `key` when given.
Request request(const char* zone, std::uint16_t qtype, const tsig::Key* key,
                std::uint32_t ixfrSerial = 0) {
  Bytes buf(4096);
  const auto qname = *name::fromText(zone);
  wire::QuerySpec spec;
  spec.id = 0x1234;
  spec.qname = name::asSpan(qname);
  spec.qtype = qtype;
  spec.edns = true;
  std::size_t len = wire::buildQuery(spec, buf);
  if (qtype == 251) {  // IXFR: the client's SOA in the authority section, before the OPT
    Bytes q(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
    // Rebuild: header, question, SOA, OPT.
    const std::size_t qend = 12 + qname.size() + 4;
    Bytes out(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(qend));
    out[9] = 1;  // NSCOUNT
    out.insert(out.end(), {0xC0, 0x0C, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0});
    for (int i = 0; i < 4; ++i)
      out.push_back(static_cast<std::uint8_t>(ixfrSerial >> (24 - 8 * i)));
    out.insert(out.end(), 16, 0);
    out.insert(out.end(), q.begin() + static_cast<std::ptrdiff_t>(qend), q.end());
    std::copy(out.begin(), out.end(), buf.begin());
    len = out.size();
  }
  Request r;
  Writer w(buf.data(), buf.size(), len);
  if (key) {
    auto signer = tsig::Signer::forRequest(*key);
    REQUIRE(signer.sign(w, kNow));
    r.mac.assign(signer.lastMac().begin(), signer.lastMac().end());
  }
  r.wire.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size()));
  return r;
}

std::vector<Bytes> drain(XfrSession& s) {
  std::vector<Bytes> out;
  for (auto m = s.next(); !m.empty(); m = s.next()) out.emplace_back(m.begin(), m.end());
  return out;
}

std::uint16_t rcodeOf(const Bytes& m) {
  return m[3] & 0xF;
}
std::uint16_t count(const Bytes& m, int at) {
  return static_cast<std::uint16_t>((m[static_cast<std::size_t>(at)] << 8) |
                                    m[static_cast<std::size_t>(at) + 1]);
}

const IpAddress kInside = *IpAddress::parse("127.0.0.1");
const IpAddress kOutside = *IpAddress::parse("192.0.2.7");

}  // namespace

TEST_CASE("transfer: refused or failed requests get one message, in the order of the checks") {
  const tsig::Key k = keyOf("k", "hmac-sha256", kSecret);
  const tsig::Key wrongSecret = keyOf("k", "hmac-sha256", "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==");
  const tsig::Key unknown = keyOf("nobody", "hmac-sha256", kSecret);
  const tsig::Key other = keyOf("other", "hmac-sha512", "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==");
  struct Case {
    const char* what;
    std::string transfer;
    const char* zone;
    const tsig::Key* key;
    IpAddress peer;
    std::uint16_t rcode;
    int tsigError;  // -1: no TSIG in the answer; else the error it carries
  };
  const Case cases[] = {
      {"no transfer block: REFUSED", "", "xfr.test", nullptr, kInside, 5, -1},
      {"outside the ACL: REFUSED", R"({"allow": ["127.0.0.0/8"]})", "xfr.test", nullptr, kOutside,
       5, -1},
      {"negated entry first: REFUSED", R"({"allow": ["!127.0.0.1", "any"]})", "xfr.test", nullptr,
       kInside, 5, -1},
      {"key required, request unsigned: REFUSED", R"({"allow": ["any"], "tsig": "k"})", "xfr.test",
       nullptr, kInside, 5, -1},
      {"key required, signed with another known key: REFUSED, signed",
       R"({"allow": ["any"], "tsig": "k"})", "xfr.test", &other, kInside, 5, 0},
      {"signed but outside the ACL: REFUSED, signed", R"({"allow": ["10.0.0.0/8"], "tsig": "k"})",
       "xfr.test", &k, kInside, 5, 0},
      {"unknown key: NOTAUTH + BADKEY", R"({"allow": ["any"], "tsig": "k"})", "xfr.test", &unknown,
       kInside, 9, 17},
      {"wrong secret: NOTAUTH + BADSIG", R"({"allow": ["any"], "tsig": "k"})", "xfr.test",
       &wrongSecret, kInside, 9, 16},
      {"not a zone apex: REFUSED", R"({"allow": ["any"]})", "ns.xfr.test", nullptr, kInside, 5, -1},
      {"not our zone: REFUSED", R"({"allow": ["any"]})", "example.org", nullptr, kInside, 5, -1},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    test::TempDir dir;
    auto snap = snapWith(dir, c.transfer);
    const Request req = request(c.zone, 252, c.key);
    XfrStart x = startTransfer(snap, req.wire, c.peer, kNow);
    CHECK_FALSE(x.session);
    REQUIRE(x.reply.size() >= 12);
    CHECK(rcodeOf(x.reply) == c.rcode);
    CHECK(x.rcode == c.rcode);
    CHECK(count(x.reply, 0) == 0x1234);
    CHECK((x.reply[2] & 0x80) != 0);                          // QR
    CHECK(count(x.reply, 4) == 1);                            // the question
    CHECK(count(x.reply, 6) == 0);                            // no records
    CHECK(count(x.reply, 10) == (c.tsigError >= 0 ? 2 : 1));  // OPT (+ TSIG)
    if (c.tsigError >= 0) {
      // The TSIG is last; its error is 6 bytes from the end (error, other len 0).
      const std::size_t n = x.reply.size();
      CHECK(((x.reply[n - 4] << 8) | x.reply[n - 3]) == c.tsigError);
    }
    if (c.tsigError == 0) {  // signed with the request's key: the client can verify it
      tsig::ResponseVerifier v(*c.key, req.mac);
      CHECK(v.verify(x.reply, kNow) == tsig::ResponseVerifier::Result::Ok);
    }
  }
}

TEST_CASE("transfer: an allowed AXFR streams the zone, SOA first and last") {
  test::TempDir dir;
  auto snap = snapWith(dir, R"({"allow": ["127.0.0.1", "::1"]})");
  XfrStart x = startTransfer(snap, request("xfr.test", 252, nullptr).wire, kInside, kNow);
  REQUIRE(x.session);
  const auto msgs = drain(*x.session);
  REQUIRE(msgs.size() == 1);
  CHECK(rcodeOf(msgs[0]) == 0);
  CHECK((msgs[0][2] & 0x04) != 0);  // AA
  CHECK(count(msgs[0], 6) == 4);    // SOA, NS, A, SOA
  CHECK(count(msgs[0], 10) == 1);   // OPT, as the request had one
}

TEST_CASE("transfer: with TSIG every message is signed and verifies (RFC 8945 5.3.1)") {
  test::TempDir dir;
  // A zone large enough for several messages.
  std::string zone = "$ORIGIN big.test.\n@ SOA ns h 7 2 3 4 30\n@ NS ns\nns A 192.0.2.53\n";
  for (int i = 0; i < 3000; ++i)
    zone += "host" + std::to_string(i) + " TXT \"" + std::string(40, 'x') + "\"\n";
  const std::string key = dir.write("k.key", kSecret);
  config::ServerConfig cfg;
  ErrorList errors;
  const std::string zf = dir.write("big.zone", zone);
  auto parsed = config::parseConfig(
      R"({"listen": ["127.0.0.1:53"], "tsig_keys": {"k": {"algorithm": "hmac-sha256", "secret_file": ")" +
          key + R"("}}, "zones": [{"origin": "big.test", "file": ")" + zf +
          R"(", "transfer": {"allow": ["any"], "tsig": "k"}}]})",
      "big.json", errors);
  REQUIRE_MESSAGE(parsed, errors.str());
  auto snap = buildSnapshot(*parsed, errors);
  REQUIRE_MESSAGE(snap, errors.str());
  const tsig::Key k = keyOf("k", "hmac-sha256", kSecret);
  const Request req = request("big.test", 252, &k);
  XfrStart x = startTransfer(snap, req.wire, kInside, kNow);
  REQUIRE(x.session);
  const auto msgs = drain(*x.session);
  REQUIRE(msgs.size() >= 3);
  tsig::ResponseVerifier v(k, req.mac);
  std::size_t records = 0;
  for (const auto& m : msgs) {
    CHECK(v.verify(m, kNow) == tsig::ResponseVerifier::Result::Ok);  // each one signed
    records += count(m, 6);
  }
  CHECK(v.complete());
  CHECK(records == 3000 + 4);
}

TEST_CASE("transfer: IXFR is answered AXFR-style, or with the SOA alone when current") {
  test::TempDir dir;
  auto snap = snapWith(dir, R"({"allow": ["any"]})");  // the zone's serial is 1
  struct Case {
    const char* what;
    std::uint32_t clientSerial;
    std::uint16_t answers;
  };
  const Case cases[] = {
      {"client behind: the whole zone", 0, 4},
      {"client current: the SOA", 1, 1},
      {"client ahead: the SOA", 5, 1},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    XfrStart x =
        startTransfer(snap, request("xfr.test", 251, nullptr, c.clientSerial).wire, kInside, kNow);
    REQUIRE(x.session);
    const auto msgs = drain(*x.session);
    REQUIRE(msgs.size() == 1);
    CHECK(count(msgs[0], 6) == c.answers);
  }
}

TEST_CASE("transfer: GSLB-bound names carry the answer for a client with no location") {
  auto snap = test::gslbSnapshot();
  const zones::Zone* zone = snap->zones->zones()[0].get();
  const auto bound = zones::boundNodes(*zone);
  REQUIRE_FALSE(bound.empty());
  const auto extras = boundAnswers(*snap, *zone);
  // Every bound name gets records (the gslb fixture's pools all answer).
  for (const zones::Node* n : bound) {
    bool found = false;
    for (const auto& e : extras) found = found || e.owner == n->name;
    CAPTURE(name::toText(name::asSpan(n->name)));
    CHECK(found);
  }
  for (const auto& e : extras) {
    CHECK(!e.rrset.rrs.empty());
    CHECK((e.rrset.type == 1 || e.rrset.type == 28 || e.rrset.type == 5));
  }
}

TEST_CASE("transfer: limits.max_transfers caps the streams in progress") {
  test::TempDir dir;
  auto snap = snapWith(dir, R"({"allow": ["127.0.0.1"]})");
  REQUIRE(snap->limits.maxTransfers == 10);  // the default
  struct Case {
    const char* what;
    std::size_t inProgress;
    bool streams;
  };
  const Case cases[] = {
      {"none in progress", 0, true},
      {"one below the limit", 9, true},
      {"at the limit: REFUSED", 10, false},
      {"above the limit: REFUSED", 11, false},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    XfrStart x =
        startTransfer(snap, request("xfr.test", 252, nullptr).wire, kInside, kNow, c.inProgress);
    CHECK(bool(x.session) == c.streams);
    if (!c.streams) CHECK(x.rcode == 5);
  }
  // Not counted against clients who may not transfer at all: they are refused by the ACL first.
  XfrStart outside = startTransfer(snap, request("xfr.test", 252, nullptr).wire, kOutside, kNow, 0);
  CHECK(outside.rcode == 5);
}
