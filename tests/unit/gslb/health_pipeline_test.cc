// The `up` step, min_healthy, every all_down mode and TTL capping, driven by
// hand-made HealthViews through the real engine.
#include <doctest/doctest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "health/admin_state.h"
#include "health/store.h"
#include "server/engine.h"
#include "server/fleet_node.h"
#include "server/health_runner.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;

namespace {

const char* kConfig = R"({
  "listen": ["127.0.0.1:53"],
  "zones": [{"origin": "h.test", "file": "ZONE"}],
  "regions": {"a": {}, "b": {}},
  "probes": {
    "web": {"type": "http", "port": 8080, "path": "/health", "interval_ms": 2000, "rise": 2, "fall": 3},
    "tcp": {"type": "tcp", "port": 443, "interval_ms": 1000},
    "strict": {"type": "tcp", "port": 9, "interval_ms": 1000, "stale_after": 2, "unknown_as": "down"},
    "lenient": {"type": "tcp", "port": 10, "interval_ms": 1000, "stale_after": 2}
  },
  "health": {"min_ttl": 3},
  "pools": {
    "open":  {"ttl": 60, "probe": "web", "max_answers": 4, "regions": {
               "a": {"members": [{"address": "192.0.2.1"}, {"address": "192.0.2.2"}, {"address": "192.0.2.3"}]},
               "b": {"members": [{"address": "198.51.100.1"}]}}},
    "half":  {"ttl": 60, "probe": "web", "min_healthy": 0.5, "max_answers": 4, "all_down": "nodata", "regions": {
               "a": {"members": [{"address": "192.0.2.1"}, {"address": "192.0.2.2"}, {"address": "192.0.2.3"}]},
               "b": {"members": [{"address": "198.51.100.1"}]}}},
    "sf":    {"ttl": 60, "probe": "web", "all_down": "servfail", "regions": {
               "a": {"members": [{"address": "192.0.2.1"}]}}},
    "fb":    {"ttl": 60, "probe": "web", "all_down": "fallback", "fallback_pool": "spare", "regions": {
               "a": {"members": [{"address": "192.0.2.1"}]}}},
    "spare": {"ttl": 20, "regions": {"b": {"members": [{"address": "203.0.113.9"}]}}},
    "fb2":   {"ttl": 60, "probe": "web", "all_down": "fallback", "fallback_pool": "spare2", "regions": {
               "a": {"members": [{"address": "192.0.2.1"}]}}},
    "spare2": {"ttl": 15, "probe": "web", "all_down": "servfail", "regions": {
               "b": {"members": [{"address": "198.51.100.1"}]}}},
    "stale": {"ttl": 60, "max_answers": 2, "regions": {
               "a": {"members": [{"address": "192.0.2.60", "probe": "strict"}, {"address": "192.0.2.61", "probe": "lenient"}]}}},
    "probed-elsewhere": {"ttl": 60, "regions": {"a": {"members": [
               {"address": "192.0.2.50", "probe": "tcp", "target": "10.9.9.9"}]}}}
  },
  "policies": {"health": {"steps": [{"step": "up"}]}, "blind": {"steps": []}},
  "bindings": [
    {"name": "open.h.test", "pool": "open", "policy": "health"},
    {"name": "half.h.test", "pool": "half", "policy": "health"},
    {"name": "sf.h.test", "pool": "sf", "policy": "health"},
    {"name": "fb.h.test", "pool": "fb", "policy": "health"},
    {"name": "fb2.h.test", "pool": "fb2", "policy": "health"},
    {"name": "blind.h.test", "pool": "open", "policy": "blind"},
    {"name": "pe.h.test", "pool": "probed-elsewhere", "policy": "health"},
    {"name": "stale.h.test", "pool": "stale", "policy": "health"}
  ]
})";

struct Fixture {
  test::TempDir dir;
  std::shared_ptr<const ServingSnapshot> base;
  Fixture() { base = test::snapshotFromJson(dir, "h.test", kConfig); }
  // Index of the probe for address `a` (the web probe shares targets across pools).
  std::int32_t target(const char* addr) const {
    const auto& probes = base->gslb->probes;
    for (std::size_t i = 0; i < probes.size(); ++i)
      if (probes[i].address.str() == addr) return static_cast<std::int32_t>(i);
    return -1;
  }
  // A snapshot whose view marks `down` addresses down; changeIn for all
  // targets. `config`: the config the view claims to be for (default: base's).
  std::shared_ptr<const ServingSnapshot> with(std::vector<const char*> down,
                                              std::uint32_t changeIn = 100,
                                              std::optional<health::ConfigId> config = {}) const {
    auto hv = std::make_shared<health::HealthView>();
    hv->config = config ? *config : base->gslb->configId;
    hv->targets.resize(base->gslb->probes.size());
    for (auto& t : hv->targets) {
      t.state = health::State::Up;
      t.up = true;
      t.changeInSec = changeIn;
    }
    for (const char* a : down) {
      auto i = target(a);
      REQUIRE(i >= 0);
      hv->targets[static_cast<std::size_t>(i)].up = false;
      hv->targets[static_cast<std::size_t>(i)].state = health::State::Down;
    }
    auto s = std::make_shared<ServingSnapshot>(*base);
    attachHealth(*s, hv);  // as the probe thread publishes it
    return s;
  }
};

struct Answer {
  std::uint16_t rcode;
  std::vector<std::string> addrs;
  std::uint32_t ttl = 0;
  QueryFacts facts;
};

Answer ask(const ServingSnapshot& snap, const char* name) {
  std::vector<std::uint8_t> out(4096);
  auto q = test::makeQuery({.name = name});
  Answer a;
  auto n = answer(snap, q, out, Transport::Udp, *IpAddress::parse("127.0.0.1"), &a.facts);
  auto r = test::parseResponse({out.data(), n});
  a.rcode = r.rcode();
  for (const auto& rr : r.sections[0]) {
    a.addrs.push_back(test::rdataText(rr));
    a.ttl = rr.ttl;
  }
  return a;
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("the up step drops down members and regions") {
  Fixture f;
  CHECK(ask(*f.with({}), "open.h.test").addrs == V{"192.0.2.1", "192.0.2.2", "192.0.2.3"});
  CHECK(ask(*f.with({"192.0.2.2"}), "open.h.test").addrs == V{"192.0.2.1", "192.0.2.3"});
  // Region a entirely down: spill to b.
  CHECK(ask(*f.with({"192.0.2.1", "192.0.2.2", "192.0.2.3"}), "open.h.test").addrs ==
        V{"198.51.100.1"});
  // Without an up step, health is not looked at.
  CHECK(ask(*f.with({"192.0.2.1"}), "blind.h.test").addrs ==
        V{"192.0.2.1", "192.0.2.2", "192.0.2.3"});
  // No health view yet: everything counts as up.
  CHECK(ask(*f.base, "open.h.test").addrs.size() == 3);
}

TEST_CASE("min_healthy as a fraction: a region with too few members up is skipped") {
  Fixture f;
  // 2 of 3 up >= 0.5: region a stays, answering its healthy members.
  CHECK(ask(*f.with({"192.0.2.1"}), "half.h.test").addrs == V{"192.0.2.2", "192.0.2.3"});
  // 1 of 3 up < 0.5 x 3: region a is unavailable, b answers.
  CHECK(ask(*f.with({"192.0.2.1", "192.0.2.2"}), "half.h.test").addrs == V{"198.51.100.1"});
}

TEST_CASE("all_down modes") {
  Fixture f;
  auto allDown = f.with({"192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.1"});
  SUBCASE("fail_open answers as if all were up") {
    auto a = ask(*allDown, "open.h.test");
    CHECK(a.addrs == V{"192.0.2.1", "192.0.2.2", "192.0.2.3"});
    CHECK_FALSE(a.facts.allDown);  // degraded but answered: counted as fail-open by the caller
  }
  // Unanswered queries are counted for their pool (geodns_pool_unanswered_total).
  auto poolIndex = [&](const char* name) {
    const auto& pools = f.base->gslb->pools;
    for (std::size_t i = 0; i < pools.size(); ++i)
      if (pools[i].name == name) return static_cast<std::int32_t>(i);
    return -1;
  };
  SUBCASE("nodata") {
    auto a = ask(*allDown, "half.h.test");
    CHECK(a.rcode == 0);
    CHECK(a.addrs.empty());
    CHECK(a.facts.allDown);
    CHECK(a.facts.pool == poolIndex("half"));
    CHECK(a.facts.region == -1);
  }
  SUBCASE("servfail") {
    auto a = ask(*allDown, "sf.h.test");
    CHECK(a.rcode == 2);
    CHECK(a.facts.allDown);
    CHECK(a.facts.pool == poolIndex("sf"));
    CHECK(a.facts.region == -1);
  }
  SUBCASE("fallback to another pool") {
    auto a = ask(*allDown, "fb.h.test");
    CHECK(a.addrs == V{"203.0.113.9"});
    CHECK(a.ttl == 20);  // the fallback pool's TTL
  }
  SUBCASE("fallback pool down too: it fails open (no chain, no SERVFAIL of its own)") {
    auto a = ask(*allDown, "fb2.h.test");
    CHECK(a.rcode == 0);
    CHECK(a.addrs == V{"198.51.100.1"});
    CHECK(a.ttl == 15);
  }
}

TEST_CASE("TTL capped by the time until health could change, never below min_ttl") {
  Fixture f;
  CHECK(ask(*f.with({}, 100), "open.h.test").ttl == 60);  // pool TTL is the ceiling
  CHECK(ask(*f.with({}, 12), "open.h.test").ttl == 12);
  CHECK(ask(*f.with({}, 1), "open.h.test").ttl == 3);    // health.min_ttl
  CHECK(ask(*f.with({}, 1), "blind.h.test").ttl == 60);  // not health-dependent
}

TEST_CASE("a view built for another config generation is ignored") {
  Fixture f;
  // A view built for another compiled config (a reload's) is not attached.
  CHECK(ask(*f.with({"192.0.2.1"}, 100, gslb::nextConfigId()), "open.h.test").addrs.size() == 3);
  CHECK(ask(*f.with({"192.0.2.1"}, 100, health::ConfigId::None), "open.h.test").addrs.size() == 3);
  CHECK(ask(*f.with({"192.0.2.1"}), "open.h.test").addrs.size() == 2);  // its own config's is
}

TEST_CASE("probes: one per distinct target, shared across pools; probed address may differ") {
  Fixture f;
  // web probe on 192.0.2.1..3 and 198.51.100.1 shared by four pools, plus the tcp,
  // strict and lenient probes.
  CHECK(f.base->gslb->probes.size() == 7);
  auto t = f.target("10.9.9.9");
  REQUIRE(t >= 0);
  CHECK(f.base->gslb->probes[static_cast<std::size_t>(t)].kind == health::ProbeKind::Tcp);
  CHECK(f.base->gslb->probes[static_cast<std::size_t>(t)].port == 443);
  CHECK(ask(*f.with({"10.9.9.9"}), "pe.h.test").addrs ==
        V{"192.0.2.50"});  // fail-open: only member
}

#include "health/store.h"
#include "server/health_runner.h"
#include "support/fakes.h"

TEST_CASE("persisted state is restored before the first answer, unless too old") {
  Fixture f;
  test::FakeClock clock;
  test::FakeRng rng;
  test::FakeTransport transport(clock);
  health::MemStore store;
  const auto& spec = f.base->gslb->probes[static_cast<std::size_t>(f.target("192.0.2.1"))];
  health::TargetRecord rec;
  rec.key = spec.key();
  rec.state = health::State::Down;
  rec.fail = 5;
  rec.lastError = "HTTP status 503";
  rec.sinceUnix = clock.unixSeconds() - 30;
  rec.updatedUnix = clock.unixSeconds() - 2;
  store.saveTarget(rec);

  SUBCASE("fresh state: the member is down from the start") {
    SnapshotHolder holder;
    HealthRunner runner(holder, clock, rng, transport, &store, std::chrono::seconds(60));
    runner.prime(f.base);
    auto snap = holder.current();
    CHECK(ask(*snap, "open.h.test").addrs == V{"192.0.2.2", "192.0.2.3"});
    // The restored state is not stale at once, even though it changed 30 s ago.
    auto& t = runner.scheduler().tracker(static_cast<health::TargetId>(f.target("192.0.2.1")));
    CHECK_FALSE(t.tick(clock.now()));
    CHECK(t.state() == health::State::Down);
  }
  SUBCASE("state older than max_age is discarded: initial state (up)") {
    SnapshotHolder holder;
    HealthRunner runner(holder, clock, rng, transport, &store, std::chrono::seconds(1));
    runner.prime(f.base);
    CHECK(ask(*holder.current(), "open.h.test").addrs.size() == 3);
  }
}

TEST_CASE("RocksDB store: save, load, bounded history, read-only beside a writer, lock errors") {
  test::TempDir d;
  const std::string path = (d.path() / "state").string();
  std::string err;
  auto s = health::openRocksStore(path, 3, false, &err);
  REQUIRE_MESSAGE(s, err);
  health::TargetRecord r;
  r.key = "http|127.0.0.1|80|x";
  r.state = health::State::Down;
  r.sinceUnix = 1700000000;
  r.fail = 4;
  r.latencyMs = 12.5;
  r.load = 0.25;
  r.lastError = "HTTP status 500";
  r.updatedUnix = 1700000100;
  s->saveTarget(r);
  for (int i = 0; i < 5; ++i)
    s->appendHistory(r.key, {1700000000000LL + i, i % 2 == 0, 1.0 * i, ""});
  auto back = s->loadTarget(r.key);
  REQUIRE(back);
  CHECK(back->state == health::State::Down);
  CHECK(back->fail == 4);
  CHECK(back->load == doctest::Approx(0.25));
  CHECK(back->lastError == "HTTP status 500");
  std::vector<health::HistoryEntry> h;
  REQUIRE(s->history(r.key, h, &err));
  CHECK(h.size() == 3);  // bounded
  CHECK(h.back().unixMs == 1700000000004LL);
  // A second writer is refused with RocksDB's reason (the LOCK file).
  std::string err2;
  CHECK_FALSE(health::openRocksStore(path, 3, false, &err2));
  CHECK(err2.find("cannot open the health state database") != std::string::npos);
  // `geodnsd status` reads beside the running server.
  auto ro = health::openRocksStore(path, 3, true, &err);
  REQUIRE_MESSAGE(ro, err);
  std::vector<health::TargetRecord> all;
  REQUIRE(ro->allTargets(all, &err));
  CHECK(all.size() == 1);
  // A corrupt database is an error, not a crash.
  s.reset();
  ro.reset();
  d.write("state/CURRENT", "garbage\n");
  std::string err3;
  CHECK_FALSE(health::openRocksStore(path, 3, false, &err3));
  CHECK_FALSE(err3.empty());
}

TEST_CASE("stale targets: unknown counts as up, or down when unknown_as says so") {
  Fixture f;
  test::FakeClock clock;
  test::FakeRng rng(0.0);
  test::FakeTransport transport(clock);  // never answers: every target goes stale
  SnapshotHolder holder;
  HealthRunner runner(holder, clock, rng, transport);
  runner.prime(f.base);
  CHECK(ask(*holder.current(), "stale.h.test").addrs == V{"192.0.2.60", "192.0.2.61"});
  for (int i = 0; i < 40; ++i) {  // 4 s in 100 ms turns
    clock.advance(std::chrono::milliseconds(100));
    runner.turn(Duration::zero());
  }
  auto strict = runner.scheduler().tracker(static_cast<health::TargetId>(f.target("192.0.2.60")));
  CHECK(strict.state() == health::State::Unknown);
  CHECK(ask(*holder.current(), "stale.h.test").addrs == V{"192.0.2.61"});
}

namespace {
// A transport whose collect() waits its whole maxWait unless woken, as
// curl_multi_poll does.
class WaitingTransport final : public health::ProbeTransport {
 public:
  void start(health::TargetId, const health::ProbeSpec&) override {}
  void collect(std::vector<health::ProbeResult>&, Duration maxWait) override {
    std::unique_lock lock(mu_);
    waiting_ = maxWait >= std::chrono::seconds(1);  // an idle wait, not a turn's poll
    cv_.notify_all();
    cv_.wait_for(lock, maxWait, [&] { return woken_; });
    woken_ = waiting_ = false;
    ++turns_;
    cv_.notify_all();
  }
  void wakeup() noexcept override {
    std::lock_guard lock(mu_);
    woken_ = true;
    cv_.notify_all();
  }
  // Until the probe thread is in a collect() that nothing has woken: what
  // the test asks next can only be served by a wakeup.
  void awaitIdle() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return waiting_ && !woken_; });
  }
  std::size_t turns() {
    std::lock_guard lock(mu_);
    return turns_;
  }
  // Whether the probe thread finished `n` collect()s within `timeout`.
  bool awaitTurns(std::size_t n, Duration timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return turns_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false, waiting_ = false;
  std::size_t turns_ = 0;
};
}  // namespace

TEST_CASE(
    "the probe thread turns at once for a publish request, a command, a fleet peer change or a "
    "stop") {
  // A reload, a drain or a deferred compile is published on the probe
  // thread's next turn; that turn must not wait for the idle wait (here a
  // minute; 100 ms in production, the whole of a start-up compile's spread).
  // No probes, so nothing but a wakeup ends the probe thread's wait.
  test::TempDir dir;
  const auto base = test::snapshotFromJson(dir, "q.test", R"({
    "listen": ["127.0.0.1:53"], "zones": [{"origin": "q.test", "file": "ZONE"}],
    "regions": {"a": {}},
    "pools": {"p": {"ttl": 60, "regions": {"a": {"members": [{"address": "192.0.2.1"}]}}}},
    "policies": {"blind": {"steps": []}},
    "bindings": [{"name": "p.q.test", "pool": "p", "policy": "blind"}]})");
  SteadyClock clock;
  test::FakeRng rng(0.0);
  WaitingTransport transport;
  SnapshotHolder holder;
  HealthRunner runner(holder, clock, rng, transport);
  runner.setIdleWait(std::chrono::minutes(1));
  runner.prime(base);
  runner.start();
  transport.awaitIdle();
  CHECK(runner.waitPublished(runner.requestPublish(), std::chrono::seconds(10)));
  transport.awaitIdle();
  auto done = runner.failback("p", "test");
  CHECK(done.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  // A fleet peer's verdict changed: the fleet's watch thread wakes the
  // probe thread, which reads the peers on every turn.
  health::MemStore store;
  health::AdminState admin(store, clock);
  config::ClusterConfig cluster;
  cluster.etcd = {"http://127.0.0.1:9"};  // never contacted: the fleet is not started
  cluster.node = "n1";
  std::string err;
  auto node = FleetNode::create(cluster, {}, clock, admin, runner, &err);
  REQUIRE_MESSAGE(node, err);
  transport.awaitIdle();
  std::size_t turns = transport.turns();
  node->peersChanged();
  CHECK(transport.awaitTurns(turns + 1, std::chrono::seconds(10)));
  transport.awaitIdle();
  turns = transport.turns();
  runner.wake();
  CHECK(transport.awaitTurns(turns + 1, std::chrono::seconds(10)));
  transport.awaitIdle();
  const auto stopping = std::async(std::launch::async, [&] { runner.stop(); });
  CHECK(stopping.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
}
