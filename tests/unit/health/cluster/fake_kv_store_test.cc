#include <doctest/doctest.h>

#include "support/fake_kv_store.h"
#include "support/fakes.h"
#include "support/kv_conformance.h"

using namespace geodns;
using namespace geodns::health::cluster;
using geodns::test::FakeClock;
using geodns::test::FakeKvStore;
using geodns::test::kvconf::WatchRecorder;
using namespace std::chrono_literals;

// The conformance suite: the same checks run against a real etcd in
// tests/etcd/etcd_client_test.cc.
TEST_CASE("fake kv store: conformance") {
  FakeClock clock;
  FakeKvStore s(clock);
  SUBCASE("put and range") {
    test::kvconf::putAndRange(s, "/t/put/");
  }
  SUBCASE("delete") {
    test::kvconf::deletes(s, "/t/del/");
  }
  SUBCASE("transactions") {
    test::kvconf::transactions(s, "/t/txn/");
  }
  SUBCASE("leases") {
    test::kvconf::leases(s, "/t/lease/");
  }
  SUBCASE("watch order") {
    test::kvconf::watchOrder(s, "/t/watch/");
  }
  SUBCASE("watch cancel") {
    test::kvconf::watchCancel(s, "/t/cancel/");
  }
  SUBCASE("compaction") {
    test::kvconf::compaction(s, "/t/compact/");
  }
  CHECK(s.runningWatches() == 0);
}

TEST_CASE("fake kv store: a fresh store is at revision 1") {
  FakeClock clock;
  FakeKvStore s(clock);
  CHECK(s.revision() == 1);
  auto r = s.put({"k", "v", 0, false});
  REQUIRE(r.ok());
  CHECK(r->revision == 2);
}

TEST_CASE("fake kv store: leases expire on the injected clock") {
  FakeClock clock;
  FakeKvStore s(clock);
  auto g = s.leaseGrant(10);
  REQUIRE(g.ok());
  REQUIRE(s.put({"/n/a", "1", g->id, false}).ok());
  REQUIRE(s.put({"/n/b", "2", g->id, false}).ok());
  REQUIRE(s.put({"/n/c", "3", 0, false}).ok());
  WatchRecorder rec(s, WatchRequest::prefix("/n/", 0));
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));
  const std::int64_t before = s.revision();

  clock.advance(9s);
  s.expireLeases();
  CHECK(s.range(RangeRequest::prefix("/n/"))->count == 3);
  REQUIRE(s.leaseKeepAlive(g->id).ok());  // renews for another 10 s
  clock.advance(9s);
  s.expireLeases();
  CHECK(s.range(RangeRequest::prefix("/n/"))->count == 3);
  clock.advance(1s);  // exactly the TTL after the keep-alive
  s.expireLeases();
  auto left = s.range(RangeRequest::prefix("/n/"));
  REQUIRE(left.ok());
  REQUIRE(left->kvs.size() == 1);
  CHECK(left->kvs[0].key == "/n/c");
  CHECK(s.revision() == before + 1);  // both keys in one revision, as etcd's revoke
  CHECK(s.liveLeases() == 0);
  auto ka = s.leaseKeepAlive(g->id);
  REQUIRE_FALSE(ka.ok());
  CHECK(ka.error().code == KvErrc::NotFound);

  REQUIRE(rec.waitEvents(2));
  for (const auto& e : rec.events()) {
    CHECK(e.type == WatchEvent::Type::Delete);
    CHECK(e.kv.modRevision == before + 1);
  }
}

TEST_CASE("fake kv store: every call notices an expired lease, not just expireLeases") {
  FakeClock clock;
  FakeKvStore s(clock);
  auto g = s.leaseGrant(5);
  REQUIRE(g.ok());
  REQUIRE(s.put({"k", "v", g->id, false}).ok());
  clock.advance(5s);
  CHECK(s.range(RangeRequest::single("k"))->kvs.empty());
}

TEST_CASE("fake kv store: overwriting a key moves it off its lease") {
  FakeClock clock;
  FakeKvStore s(clock);
  auto g = s.leaseGrant(5);
  REQUIRE(g.ok());
  REQUIRE(s.put({"k", "v", g->id, false}).ok());
  REQUIRE(s.put({"k", "w", 0, false}).ok());
  clock.advance(6s);
  s.expireLeases();
  auto kv = s.range(RangeRequest::single("k"));
  REQUIRE(kv->kvs.size() == 1);
  CHECK(kv->kvs[0].value == "w");
}

TEST_CASE("fake kv store: a broken stream resumes without loss or repeat") {
  FakeClock clock;
  FakeKvStore s(clock);
  WatchRecorder rec(s, WatchRequest::prefix("/p/", 0));
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));
  REQUIRE(s.put({"/p/1", "a", 0, false}).ok());
  REQUIRE(rec.waitEvents(1));
  s.breakWatches();
  REQUIRE(s.put({"/p/2", "b", 0, false}).ok());
  REQUIRE(rec.waitEvents(2));
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Created, 2));
  REQUIRE(s.put({"/p/3", "c", 0, false}).ok());
  REQUIRE(rec.waitEvents(3));
  const auto ev = rec.events();
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].kv.key == "/p/1");
  CHECK(ev[1].kv.key == "/p/2");
  CHECK(ev[2].kv.key == "/p/3");
  std::size_t reconnecting = 0;
  for (const auto& u : rec.updates()) reconnecting += u.kind == WatchUpdate::Kind::Reconnecting;
  CHECK(reconnecting == 1);
}

TEST_CASE("fake kv store: unavailable ends watches and fails calls; a resumed watch catches up") {
  FakeClock clock;
  FakeKvStore s(clock);
  std::int64_t resumeAt = 0;
  {
    WatchRecorder rec(s, WatchRequest::prefix("/p/", 0));
    REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));
    REQUIRE(s.put({"/p/1", "a", 0, false}).ok());
    REQUIRE(rec.waitEvents(1));
    s.setAvailable(false);
    REQUIRE(rec.waitEnded());
    auto res = rec.result();
    REQUIRE_FALSE(res->ok());
    CHECK(res->error().code == KvErrc::Unavailable);
    const auto ups = rec.updates();
    CHECK(ups.back().kind == WatchUpdate::Kind::Reconnecting);
    resumeAt = ups.back().nextRevision;
  }
  auto p = s.put({"/p/2", "b", 0, false});
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == KvErrc::Unavailable);
  CHECK_FALSE(s.range(RangeRequest::single("/p/1")).ok());

  s.setAvailable(true);
  REQUIRE(s.put({"/p/2", "b", 0, false}).ok());
  WatchRecorder again(s, WatchRequest::prefix("/p/", resumeAt));
  REQUIRE(again.waitEvents(1));
  CHECK(again.events()[0].kv.key == "/p/2");
  CHECK(again.events().size() == 1);
}

TEST_CASE("fake kv store: progress notifications") {
  FakeClock clock;
  FakeKvStore s(clock);
  REQUIRE(s.put({"/other", "x", 0, false}).ok());
  WatchRecorder rec(s, WatchRequest::prefix("/p/", 0));
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));
  REQUIRE(s.put({"/other", "y", 0, false}).ok());  // outside the watched prefix
  s.sendProgress();
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Progress));
  const auto ups = rec.updates();
  CHECK(ups.back().headerRevision == s.revision());
  CHECK(ups.back().nextRevision == s.revision() + 1);
  CHECK(rec.events().empty());
}

TEST_CASE("fake kv store: injected failures") {
  FakeClock clock;
  FakeKvStore s(clock);
  SUBCASE("refused: nothing applied") {
    s.failNext({KvErrc::Unavailable, "injected", 0, false});
    auto r = s.put({"k", "v", 0, false});
    REQUIRE_FALSE(r.ok());
    CHECK(s.range(RangeRequest::single("k"))->kvs.empty());
  }
  SUBCASE("answer lost after the commit") {
    s.failNext({KvErrc::Unavailable, "injected", 0, true}, 1, true);
    auto r = s.put({"k", "v", 0, false});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().maybeApplied);
    CHECK(s.range(RangeRequest::single("k"))->kvs.size() == 1);
  }
  SUBCASE("count") {
    s.failNext({KvErrc::Unavailable, "injected", 0, false}, 2);
    CHECK_FALSE(s.range(RangeRequest::single("k")).ok());
    CHECK_FALSE(s.range(RangeRequest::single("k")).ok());
    CHECK(s.range(RangeRequest::single("k")).ok());
  }
}

TEST_CASE("fake kv store: a canceled token ends the next watch at once") {
  FakeClock clock;
  FakeKvStore s(clock);
  WatchCancel c;
  c.cancel();
  int calls = 0;
  auto r = s.watch(
      WatchRequest::prefix("/p/", 0), [&](const WatchUpdate&) { ++calls; }, c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == KvErrc::Canceled);
  CHECK(calls <= 1);  // at most the Created
}
