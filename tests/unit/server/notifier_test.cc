// NOTIFY out (server/notifier.h): sent to every target, retried with backoff
// until acknowledged, given up after the schedule, an error answer ends it,
// a newer serial replaces a pending one, answers matched by source, ID and
// question, and TSIG-signed both ways. A fake transport and a FakeClock: no
// sleeping, no sockets.
#include <doctest/doctest.h>

#include <deque>
#include <vector>

#include "server/notifier.h"
#include "support/engine_fixture.h"
#include "support/fakes.h"
#include "support/temp_dir.h"
#include "zones/notify.h"

using namespace geodns;
using namespace geodns::server;

namespace {

using Bytes = std::vector<std::uint8_t>;

struct FakeNotifyTransport final : NotifyTransport {
  struct Sent {
    SocketAddress to;
    Bytes msg;
  };
  std::vector<Sent> sent;
  bool send(const SocketAddress& to, std::span<const std::uint8_t> msg) override {
    sent.push_back({to, Bytes(msg.begin(), msg.end())});
    return true;
  }
  std::size_t receive(SocketAddress&, std::span<std::uint8_t>, Duration) override { return 0; }
  std::size_t sentTo(const SocketAddress& a) const {
    std::size_t n = 0;
    for (const auto& s : sent) n += s.to.str() == a.str() ? 1 : 0;
    return n;
  }
};

SocketAddress addr(const char* text) {
  std::string err;
  return *parseHostPort(text, &err);
}

// The answer a secondary gives: the request with QR set (and `rcode`).
Bytes answerTo(const Bytes& request, std::uint8_t rcode = 0) {
  Bytes a = request;
  a[2] |= 0x80;
  a[3] = static_cast<std::uint8_t>((a[3] & 0xF0) | rcode);
  return a;
}

struct Fixture {
  test::TempDir dir;
  std::shared_ptr<const ServingSnapshot> snap = test::snapshotFromZone(
      dir, "n.test", "$ORIGIN n.test.\n@ SOA ns h 42 2 3 4 30\n@ NS ns\nns A 192.0.2.53\n");
  const zones::Zone& zone = *snap->zones->zones()[0];
  test::FakeClock clock;
  test::FakeRng rng{0.25};
  FakeNotifyTransport transport;
  RetryPolicy policy;  // 2 s doubling to 60 s, 6 sends
  Notifier n{transport, clock, rng, policy};
  SocketAddress a = addr("127.0.0.1:5301"), b = addr("[::1]:5302");
};

}  // namespace

TEST_CASE("notify: each target gets a NOTIFY with the zone's SOA") {
  Fixture f;
  f.n.zoneChanged(f.snap->zones, f.zone, {f.a, f.b}, nullptr, nullptr);
  f.n.step();
  REQUIRE(f.transport.sent.size() == 2);
  for (const auto& s : f.transport.sent) {
    zones::NotifyRequest req;
    REQUIRE(zones::readNotify(s.msg, req));
    CHECK(name::toText(req.zone.span()) == "n.test.");
    REQUIRE(req.serial);
    CHECK(*req.serial == 42);
  }
  CHECK(f.n.pending() == 2);
}

TEST_CASE("notify: retried with backoff until acknowledged") {
  Fixture f;
  f.n.zoneChanged(f.snap->zones, f.zone, {f.a, f.b}, nullptr, nullptr);
  f.n.step();
  struct Step {
    const char* what;
    int advanceMs;
    std::size_t sentToA, sentToB;
  };
  const Step steps[] = {
      {"not yet due", 1999, 1, 1},
      {"2 s: the first retry", 1, 2, 2},
      {"4 s more: the second", 4000, 3, 3},
  };
  for (const auto& s : steps) {
    CAPTURE(std::string(s.what));
    f.clock.advance(std::chrono::milliseconds(s.advanceMs));
    f.n.step();
    CHECK(f.transport.sentTo(f.a) == s.sentToA);
    CHECK(f.transport.sentTo(f.b) == s.sentToB);
  }
  // B acknowledges the last NOTIFY it got; only A is retried from now on.
  Bytes lastB;
  for (const auto& s : f.transport.sent)
    if (s.to.str() == f.b.str()) lastB = s.msg;
  f.n.onReply(f.b, answerTo(lastB));
  CHECK(f.n.stats().acked == 1);
  f.clock.advance(std::chrono::seconds(8));
  f.n.step();
  CHECK(f.transport.sentTo(f.a) == 4);
  CHECK(f.transport.sentTo(f.b) == 3);
  CHECK(f.n.pending() == 1);
}

TEST_CASE("notify: an unanswered target is given up after the schedule") {
  Fixture f;
  f.n.zoneChanged(f.snap->zones, f.zone, {f.a}, nullptr, nullptr);
  for (int i = 0; i < 200; ++i) {  // 200 s in 1 s steps
    f.n.step();
    f.clock.advance(std::chrono::seconds(1));
  }
  CHECK(f.transport.sentTo(f.a) == f.policy.attempts);
  CHECK(f.n.stats().gaveUp == 1);
  CHECK(f.n.pending() == 0);
  CHECK(f.n.step() == TimePoint::max());
}

TEST_CASE("notify: answers that are not an acknowledgement") {
  struct Case {
    const char* what;
    bool fromOtherAddress;
    bool otherId;
    std::uint8_t rcode;
    std::size_t pendingAfter;
    std::uint64_t errors;
  };
  const Case cases[] = {
      {"from another address: ignored", true, false, 0, 1, 0},
      {"another ID: ignored", false, true, 0, 1, 0},
      {"REFUSED: stops, counted as an error", false, false, 5, 0, 1},
      {"NOTAUTH: stops, counted as an error", false, false, 9, 0, 1},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    Fixture f;
    f.n.zoneChanged(f.snap->zones, f.zone, {f.a}, nullptr, nullptr);
    f.n.step();
    Bytes reply = answerTo(f.transport.sent.back().msg, c.rcode);
    if (c.otherId) reply[1] ^= 1;
    f.n.onReply(c.fromOtherAddress ? addr("127.0.0.2:5301") : f.a, reply);
    CHECK(f.n.pending() == c.pendingAfter);
    CHECK(f.n.stats().errors == c.errors);
    CHECK(f.n.stats().acked == 0);
  }
}

TEST_CASE("notify: a newer serial replaces the pending NOTIFY for the same target") {
  Fixture f;
  f.n.zoneChanged(f.snap->zones, f.zone, {f.a}, nullptr, nullptr);
  f.n.step();
  f.n.zoneChanged(f.snap->zones, f.zone, {f.a}, nullptr, nullptr);
  CHECK(f.n.pending() == 1);
  f.n.step();  // the new one is due at once
  CHECK(f.transport.sentTo(f.a) == 2);
}

TEST_CASE("notify: signed with the zone's key; only a verified answer acknowledges") {
  Fixture f;
  std::string err;
  auto key = tsig::makeKey("k", "hmac-sha256", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy", &err);
  REQUIRE(key);
  auto ring = std::make_shared<tsig::Keyring>();
  REQUIRE(ring->add(*key, &err));
  const tsig::Key* k = ring->find(name::asSpan(*name::fromText("k")));
  f.n.zoneChanged(f.snap->zones, f.zone, {f.a}, ring, k);
  f.n.step();
  const Bytes request = f.transport.sent.back().msg;
  const auto check =
      tsig::verifyRequest(request, *ring, static_cast<std::uint64_t>(f.clock.unixSeconds()));
  REQUIRE(check.verdict == tsig::Verdict::Ok);  // the secondary can verify it

  // An unsigned answer is not trusted.
  zones::NotifyRequest parsed;
  REQUIRE(zones::readNotify(request, parsed));
  std::uint8_t buf[512];
  Writer w(buf, sizeof buf);
  // The answer: header with QR and the question, signed with the request's MAC.
  const std::size_t qEnd = 12 + parsed.zone.len + 4;
  w.bytes({request.data(), qEnd});
  w.patch16(2, static_cast<std::uint16_t>(((request[2] | 0x80) << 8) | (request[3] & 0xF0)));
  w.patch16(6, 0);
  w.patch16(10, 0);
  const Bytes unsignedAnswer(buf, buf + w.size());
  f.n.onReply(f.a, unsignedAnswer);
  CHECK(f.n.pending() == 1);
  auto signer = tsig::Signer::forResponse(*k, check.mac.span());
  REQUIRE(signer.sign(w, static_cast<std::uint64_t>(f.clock.unixSeconds())));
  f.n.onReply(f.a, Bytes(buf, buf + w.size()));
  CHECK(f.n.pending() == 0);
  CHECK(f.n.stats().acked == 1);
}
