// The fleet's apply logic (issue 16 items 2, 3, 5): ControlView and PeerView
// as tables of events, then whole Fleet nodes against one FakeKvStore.
#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>

#include "health/admin_state.h"
#include "health/cluster/fleet.h"
#include "support/fake_kv_store.h"
#include "support/fakes.h"

using namespace geodns;
using namespace geodns::health;
using namespace geodns::health::cluster;
using geodns::test::FakeClock;
using geodns::test::FakeKvStore;
using namespace std::chrono_literals;

namespace {

const FleetKeys kKeys{"/g/"};

KeyValue kv(std::string key, std::string value, std::int64_t rev) {
  return {std::move(key), std::move(value), rev, rev, 1, 0};
}
WatchEvent put(std::string key, std::string value, std::int64_t rev) {
  return {WatchEvent::Type::Put, kv(std::move(key), std::move(value), rev), std::nullopt};
}
WatchEvent del(std::string key, std::int64_t rev) {
  return {WatchEvent::Type::Delete, kv(std::move(key), "", rev), std::nullopt};
}
OverrideRecord drain(const std::string& region, std::int64_t expires = 0) {
  return {"region_drain:" + region, "region_drain", region, "maint", 0, 100, expires, "ops"};
}
std::string drainKey(const std::string& region) {
  return kKeys.overrideKey("region_drain", region);
}
std::string shardValue(std::int64_t at, const std::string& tid, const char* state,
                       const char* latency = "null") {
  return std::string("{\"at\":") + std::to_string(at) + ",\"v\":{\"" + tid + "\":[\"" + state +
         "\",1," + latency + "]}}";
}

}  // namespace

TEST_CASE("control view: overrides and failover commands from a read and a watch") {
  struct Case {
    const char* name;
    std::vector<KeyValue> read;
    std::vector<WatchEvent> events;
    std::vector<std::string> want;  // record keys in force after the events
    std::uint64_t malformed = 0;
  };
  const std::string load = encodeOverride(
      {"member_load:192.0.2.1", "member_load", "192.0.2.1", "push", 0.5, 1, 2, "ops"});
  const std::vector<Case> cases = {
      {"a read alone",
       {kv(drainKey("eu"), encodeOverride(drain("eu")), 3)},
       {},
       {"region_drain:eu"}},
      {"a put adds",
       {},
       {put(drainKey("us"), encodeOverride(drain("us")), 6)},
       {"region_drain:us"}},
      {"a delete removes",
       {kv(drainKey("eu"), encodeOverride(drain("eu")), 3)},
       {del(drainKey("eu"), 6)},
       {}},
      {"an event already in the read is ignored",
       {kv(drainKey("eu"), encodeOverride(drain("eu")), 3)},
       {del(drainKey("eu"), 5)},
       {"region_drain:eu"}},
      {"a load and a drain",
       {},
       {put(kKeys.overrideKey("member_load", "192.0.2.1"), load, 6),
        put(drainKey("eu"), encodeOverride(drain("eu")), 7)},
       {"member_load:192.0.2.1", "region_drain:eu"}},
      {"a value that is not JSON is dropped and counted",
       {},
       {put(drainKey("eu"), "{not json", 6)},
       {},
       1},
      {"a value under another record's key is refused",
       {},
       {put(drainKey("us"), encodeOverride(drain("eu")), 6)},
       {},
       1},
      {"a bad value replacing a good one removes it",
       {kv(drainKey("eu"), encodeOverride(drain("eu")), 3)},
       {put(drainKey("eu"), "[]", 6)},
       {},
       1},
      {"an unknown kind is refused",
       {},
       {put(kKeys.overrideKey("pool_drain", "x"), R"({"kind":"pool_drain","target":"x"})", 6)},
       {},
       1},
      {"keys of a newer version under control/ are ignored",
       {},
       {put("/g/control/future/x", "{}", 6)},
       {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    ControlView v(kKeys);
    v.reset(c.read, 5);
    v.apply(c.events, 9);
    std::vector<std::string> got;
    for (const auto& [k, o] : v.overrides()) got.push_back(k);
    CHECK(got == c.want);
    CHECK(v.malformed() == c.malformed);
    CHECK(v.revision() == 8);
  }

  SUBCASE("failover commands carry their mod revision; a delete drops them") {
    ControlView v(kKeys);
    v.reset({}, 1);
    FailoverCommand fc{"web", true, "us", "test", "ops", 5, 0};
    v.apply({put(kKeys.failoverKey("web"), encodeFailover(fc), 4)}, 5);
    REQUIRE(v.failovers().count("web") == 1);
    CHECK(v.failovers().at("web").region == "us");
    CHECK(v.failovers().at("web").modRevision == 4);
    v.apply({del(kKeys.failoverKey("web"), 6)}, 7);
    CHECK(v.failovers().empty());
    FailoverCommand noRegion{"web", true, "", "test", "ops", 5, 0};
    v.apply({put(kKeys.failoverKey("web"), encodeFailover(noRegion), 8)}, 9);
    CHECK(v.failovers().empty());
    CHECK(v.malformed() == 1);
  }
}

TEST_CASE("peer view: nodes, verdicts by target, own keys ignored") {
  const std::string tid = targetIdOf("tcp 192.0.2.1:80");
  const unsigned shard = shardOf(tid);
  auto node = [](const std::string& n, std::int64_t probing = 0) {
    NodeInfo i;
    i.name = n;
    i.probingUnixMs = probing;
    return encodeNode(i);
  };
  PeerView v(kKeys, "a");
  v.resetNodes({kv(kKeys.nodeKey("a"), node("a"), 2), kv(kKeys.nodeKey("b"), node("b", 900), 3)});
  v.resetHealth({kv(kKeys.healthKey("a", shard), shardValue(10, tid, "down"), 2),
                 kv(kKeys.healthKey("b", shard), shardValue(500, tid, "up", "12.5"), 3)});
  CHECK(v.nodes().size() == 2);

  auto vs = v.verdicts(tid);
  REQUIRE(vs.size() == 1);  // a's own verdict is not a peer's
  CHECK(vs[0].node == "b");
  CHECK(vs[0].state == State::Up);
  CHECK(vs[0].latencyMs == 12.5);
  CHECK(vs[0].live);
  CHECK(vs[0].confirmedUnixMs == 900);  // the heartbeat is newer than the shard

  SUBCASE("a node whose key is gone is not live") {
    v.applyNodes({del(kKeys.nodeKey("b"), 4)});
    vs = v.verdicts(tid);
    REQUIRE(vs.size() == 1);
    CHECK_FALSE(vs[0].live);
  }
  SUBCASE("a deleted shard (lease expiry) drops its verdicts") {
    v.applyHealth({del(kKeys.healthKey("b", shard), 4)});
    CHECK(v.verdicts(tid).empty());
  }
  SUBCASE("a new shard value replaces the old one") {
    v.applyHealth({put(kKeys.healthKey("b", shard), shardValue(600, tid, "down"), 4)});
    vs = v.verdicts(tid);
    REQUIRE(vs.size() == 1);
    CHECK(vs[0].state == State::Down);
  }
  SUBCASE("malformed shards and keys are counted, not applied") {
    const std::vector<WatchEvent> bad = {
        put(kKeys.healthKey("c", shard), "nope", 4),
        put(kKeys.healthKey("c", shard), R"({"at":1,"v":{"x":["sideways",1,null]}})", 5),
        put("/g/health/c", "{}", 6),
        put("/g/health/c/99", "{}", 7),
        // a target filed under the wrong shard
        put(kKeys.healthKey("c", (shard + 1) % kShards), shardValue(1, tid, "down"), 8),
    };
    v.applyHealth(bad);
    CHECK(v.malformed() == 5);
    CHECK(v.verdicts(tid).size() == 1);
  }
}

namespace {

// Records what a Fleet applies; tests wait on it (bounded), never sleep.
struct Sink final : FleetSink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<OverrideRecord> overrides;
  std::vector<FailoverCommand> failovers;
  std::uint64_t peerChanges = 0;
  bool failApply = false;
  bool applyOverrides(const std::vector<OverrideRecord>& all) override {
    std::lock_guard lock(mu);
    if (failApply) return false;
    overrides = all;
    cv.notify_all();
    return true;
  }
  void applyFailover(const FailoverCommand& c) override {
    std::lock_guard lock(mu);
    failovers.push_back(c);
    cv.notify_all();
  }
  void peersChanged() override {
    std::lock_guard lock(mu);
    ++peerChanges;
    cv.notify_all();
  }
  template <class P>
  bool waitFor(P pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, pred);
  }
  std::vector<std::string> keys() {
    std::lock_guard lock(mu);
    std::vector<std::string> k;
    for (const auto& o : overrides) k.push_back(o.key);
    return k;
  }
};

FleetOptions options(const std::string& node) {
  FleetOptions o;
  o.keys = kKeys;
  o.node = node;
  o.site = "s-" + node;
  o.version = "test";
  o.verdictBatch = 2ms;
  o.backoffMin = 2ms;
  o.backoffMax = 20ms;
  return o;
}

// Bounded wait on a condition the Fleet's threads make true.
template <class P>
bool eventually(P pred) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}

}  // namespace

TEST_CASE("fleet: a drain written through one node is applied by every node") {
  FakeClock clock;
  FakeKvStore store(clock);
  Sink sa, sb;
  Fleet a(store, clock, options("a"), sa), b(store, clock, options("b"), sb);
  a.start();
  b.start();
  REQUIRE(eventually([&] { return a.status().nodes.size() == 2 && b.status().nodes.size() == 2; }));

  const WriteOutcome w = a.putOverride(drain("eu"), {0, "drain_region", "eu", "maint", "ops", ""});
  REQUIRE(w.ok);
  CHECK(a.waitApplied(w.revision, 5s));
  CHECK(sb.waitFor([&] { return sb.overrides.size() == 1; }));
  CHECK(sb.keys() == std::vector<std::string>{"region_drain:eu"});
  std::vector<std::string> behind;
  CHECK(a.waitAllApplied(w.revision, 5s, &behind));
  CHECK(behind.empty());

  // The audit record went in the same txn.
  auto audit = a.audit(10);
  REQUIRE(audit.ok());
  REQUIRE(audit->size() == 1);
  CHECK(audit->front().action == "drain_region");

  const WriteOutcome u =
      b.removeOverride("region_drain", "eu", {0, "undrain_region", "eu", "done", "ops", ""});
  REQUIRE(u.ok);
  CHECK(u.existed);
  CHECK(sa.waitFor([&] { return sa.overrides.empty(); }));
  const WriteOutcome again =
      b.removeOverride("region_drain", "eu", {0, "undrain_region", "eu", "done", "ops", ""});
  CHECK(again.ok);
  CHECK_FALSE(again.existed);

  SUBCASE("a failover command reaches every node once") {
    const WriteOutcome f = a.putFailover({"web", true, "us", "test", "ops", 0, 0},
                                         {0, "failover", "web", "test", "ops", ""});
    REQUIRE(f.ok);
    CHECK(sb.waitFor([&] { return sb.failovers.size() == 1; }));
    CHECK(b.waitApplied(f.revision, 5s));
    std::lock_guard lock(sb.mu);
    CHECK(sb.failovers[0].region == "us");
  }
  SUBCASE("a node that cannot apply locally does not report it applied") {
    {
      std::lock_guard lock(sb.mu);
      sb.failApply = true;
    }
    const WriteOutcome d = a.putOverride(drain("us"), {0, "drain_region", "us", "m", "ops", ""});
    REQUIRE(d.ok);
    CHECK_FALSE(a.waitAllApplied(d.revision, 200ms, &behind));
    CHECK(behind == std::vector<std::string>{"b"});
    {
      std::lock_guard lock(sb.mu);
      sb.failApply = false;  // the keeper retries
    }
    CHECK(a.waitAllApplied(d.revision, 5s, &behind));
  }
  a.stop();
  b.stop();
}

TEST_CASE("fleet: quorum over the nodes' published verdicts") {
  FakeClock clock;
  FakeKvStore store(clock);
  Sink sa, sb, sc;
  Fleet a(store, clock, options("a"), sa), b(store, clock, options("b"), sb),
      c(store, clock, options("c"), sc);
  a.start();
  b.start();
  c.start();
  const std::string key = "tcp 192.0.2.1:80";
  REQUIRE(eventually([&] { return a.status().nodes.size() == 3; }));

  // Only a's own view so far: its verdict alone.
  auto d = a.decide(key, State::Down, std::nullopt);
  CHECK(d.state == State::Down);
  CHECK(d.ownOnly);

  b.ownVerdict(key, State::Up, 10.0, 0);
  c.ownVerdict(key, State::Up, 30.0, 0);
  REQUIRE(eventually([&] { return a.vantages(key, State::Down, std::nullopt).size() == 3; }));
  d = a.decide(key, State::Down, std::nullopt);
  CHECK(d.state == State::Up);  // 2 of 3 see it up
  CHECK(d.voters == 3);
  CHECK(d.up == 2);
  CHECK(d.latencyMs == 20.0);  // no local measurement: the median of the up votes

  c.ownVerdict(key, State::Down, std::nullopt, 0);
  REQUIRE(
      eventually([&] { return a.decide(key, State::Down, std::nullopt).state == State::Down; }));

  // c leaves: its lease is revoked, its verdicts stop counting.
  c.stop();
  REQUIRE(eventually([&] { return a.status().nodes.size() == 2; }));
  d = a.decide(key, State::Down, std::nullopt);
  CHECK(d.voters == 2);
  CHECK(d.state == State::Up);  // 1 of 2 with fraction 0.5
  a.stop();
  b.stop();
}

TEST_CASE("fleet: fail static while the store is gone, catch up when it returns") {
  FakeClock clock;
  FakeKvStore store(clock);
  Sink sa, sb;
  Fleet a(store, clock, options("a"), sa), b(store, clock, options("b"), sb);
  a.start();
  b.start();
  REQUIRE(eventually([&] { return b.status().connected && b.status().nodes.size() == 2; }));
  const WriteOutcome w = a.putOverride(drain("eu"), {0, "drain_region", "eu", "m", "ops", ""});
  REQUIRE(w.ok);
  REQUIRE(b.waitApplied(w.revision, 5s));

  store.setAvailable(false);
  REQUIRE(eventually([&] { return !b.status().connected; }));
  // Writes fail; what was applied stays in force.
  CHECK_FALSE(a.putOverride(drain("us"), {0, "drain_region", "us", "m", "ops", ""}).ok);
  CHECK(sb.keys() == std::vector<std::string>{"region_drain:eu"});
  CHECK(b.status().appliedRevision == w.revision);
  CHECK(a.counters().errors.load() > 0);

  store.setAvailable(true);
  REQUIRE(eventually([&] { return b.status().connected; }));
  const WriteOutcome x = a.putOverride(drain("us"), {0, "drain_region", "us", "m", "ops", ""});
  REQUIRE(x.ok);
  CHECK(b.waitApplied(x.revision, 5s));
  CHECK(sb.keys() == std::vector<std::string>{"region_drain:eu", "region_drain:us"});
  a.stop();
  b.stop();
}

TEST_CASE("fleet: a node starting after compaction reads the state in full") {
  FakeClock clock;
  FakeKvStore store(clock);
  Sink sa;
  Fleet a(store, clock, options("a"), sa);
  // Written before the node starts, then compacted away: only a full read finds it.
  FleetOptions o = options("w");
  Sink sw;
  Fleet writer(store, clock, o, sw);
  const WriteOutcome w = writer.putOverride(drain("eu"), {0, "drain_region", "eu", "m", "ops", ""});
  REQUIRE(w.ok);
  REQUIRE(store.compact(store.revision()).ok());
  a.start();
  CHECK(a.waitApplied(w.revision, 5s));
  CHECK(sa.keys() == std::vector<std::string>{"region_drain:eu"});
  CHECK(a.counters().resyncs.load() >= 1);
  const WriteOutcome x =
      writer.removeOverride("region_drain", "eu", {0, "undrain_region", "eu", "m", "ops", ""});
  REQUIRE(x.ok);
  CHECK(a.waitApplied(x.revision, 5s));
  CHECK(sa.keys().empty());
  a.stop();
}

TEST_CASE("fleet: a lapsed override is removed from the store once, with an expire record") {
  FakeClock clock;
  FakeKvStore store(clock);
  Sink sa, sb;
  Fleet a(store, clock, options("a"), sa), b(store, clock, options("b"), sb);
  const std::int64_t now = clock.unixSeconds();
  const WriteOutcome w =
      a.putOverride(drain("eu", now + 60), {0, "drain_region", "eu", "m", "ops", ""});
  REQUIRE(w.ok);
  a.start();
  b.start();
  REQUIRE(a.waitApplied(w.revision, 5s));
  REQUIRE(b.waitApplied(w.revision, 5s));
  CHECK(sa.keys().size() == 1);
  clock.advance(61s);
  CHECK(sa.waitFor([&] { return sa.overrides.empty(); }));
  CHECK(sb.waitFor([&] { return sb.overrides.empty(); }));
  auto audit = a.audit(10);
  REQUIRE(audit.ok());
  std::size_t expires = 0;
  for (const auto& r : audit.value()) expires += r.action == "expire";
  CHECK(expires == 1);  // both nodes tried; the guard let one win
  a.stop();
  b.stop();
}

TEST_CASE("fleet: audit records older than the retention are deleted, hourly at most") {
  struct Case {
    const char* name;
    Duration retention;
    std::size_t keptAtStart;  // of the records 100 days and 1 day old
  };
  const Case cases[] = {
      {"90 days: the 100-day-old record goes", std::chrono::hours(24 * 90), 1},
      {"0: every record kept", Duration::zero(), 2},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    FakeClock clock;
    FakeKvStore store(clock);
    Sink sa;
    FleetOptions o = options("a");
    o.auditRetention = c.retention;
    Fleet a(store, clock, o, sa);
    const std::int64_t nowMs = clock.unixSeconds() * 1000;
    const std::int64_t day = 86400000;
    REQUIRE(
        a.putOverride(drain("old"), {nowMs - 100 * day, "drain_region", "old", "m", "ops", ""}).ok);
    REQUIRE(a.putOverride(drain("new"), {nowMs - day, "drain_region", "new", "m", "ops", ""}).ok);
    a.start();
    auto auditSize = [&] {
      auto r = a.audit(10);
      return r.ok() ? r.value().size() : std::size_t{99};
    };
    CHECK(eventually([&] { return auditSize() == c.keptAtStart; }));
    CHECK(eventually([&] { return a.counters().auditPruned.load() == 2 - c.keptAtStart; }));
    if (c.retention > Duration::zero()) {
      const auto remaining = a.audit(10).value();
      REQUIRE(remaining.size() == 1);
      CHECK(remaining[0].target == "new");
      // 90 days on, the other one is past the retention too: pruned within the hour.
      clock.advance(std::chrono::hours(24 * 89) + std::chrono::minutes(30));
      CHECK(eventually([&] { return auditSize() == 0; }));
      CHECK(eventually([&] { return a.counters().auditPruned.load() == 2; }));
    }
    a.stop();
  }
}

TEST_CASE("admin state: the shared overrides replace the local ones, kept in the store") {
  FakeClock clock;
  MemStore store;
  AdminState admin(store, clock);
  const std::int64_t now = clock.unixSeconds();
  struct Case {
    const char* name;
    std::vector<OverrideRecord> shared;
    std::vector<std::string> want;  // keys in force and in the store afterwards
    bool bumps;                     // the version moves (a republish)
  };
  const std::vector<Case> cases = {
      {"first state", {drain("eu"), drain("us")}, {"region_drain:eu", "region_drain:us"}, true},
      {"the same again changes nothing",
       {drain("eu"), drain("us")},
       {"region_drain:eu", "region_drain:us"},
       false},
      {"one removed", {drain("us")}, {"region_drain:us"}, true},
      {"a new reason replaces the record",
       {[] {
         auto d = drain("us");
         d.reason = "longer";
         return d;
       }()},
       {"region_drain:us"},
       true},
      {"a lapsed record is not put in force",
       {drain("us"), drain("ap", now - 1)},
       {"region_drain:us"},
       true},
      {"a record expiring later is", {drain("ap", now + 60)}, {"region_drain:ap"}, true},
      {"empty", {}, {}, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto before = admin.version();
    std::string err;
    REQUIRE(admin.replaceShared(c.shared, &err));
    std::vector<std::string> got, stored;
    for (const auto& o : admin.overrides()) got.push_back(o.key);
    std::vector<OverrideRecord> inStore;
    REQUIRE(store.allOverrides(inStore, &err));
    for (const auto& o : inStore) stored.push_back(o.key);
    CHECK(got == c.want);
    CHECK(stored == c.want);
    CHECK((admin.version() != before) == c.bumps);
  }
  SUBCASE("a store that refuses the write changes nothing") {
    REQUIRE(admin.replaceShared({drain("eu")}, nullptr));
    store.failAdmin = true;
    std::string err;
    CHECK_FALSE(admin.replaceShared({}, &err));
    CHECK(admin.overrides().size() == 1);
  }
}

TEST_CASE("fleet: a leader's failover decision round-trips through its key, timers included") {
  FailoverCommand d{"web",         false,         "us", "tier 0 below min_healthy",
                    "a",           1700000000000, 0,    true,
                    1699999990000, 1699999995000, 0};
  auto back = decodeFailover(encodeFailover(d));
  REQUIRE(back);
  CHECK(*back == d);
  struct Case {
    const char* name;
    const char* value;
  };
  const Case bad[] = {
      {"auto without a region", R"({"pool":"web","action":"auto","since_ms":1})"},
      {"negative timer", R"({"pool":"web","action":"auto","region":"us","bad_since_ms":-5})"},
      {"unknown action", R"({"pool":"web","action":"promote","region":"us"})"},
  };
  for (const auto& c : bad) {
    INFO(c.name);
    CHECK_FALSE(decodeFailover(c.value));
  }
}

TEST_CASE("fleet: one node leads failover decisions; a deposed leader cannot write") {
  FakeClock clock;
  FakeKvStore store(clock);
  Sink sa, sb;
  Fleet a(store, clock, options("a"), sa);
  a.start();
  REQUIRE(eventually([&] { return a.leading(); }));  // the first node campaigns and wins
  Fleet b(store, clock, options("b"), sb);
  b.start();
  REQUIRE(eventually([&] { return b.status().leader == "a" && b.status().nodes.size() == 2; }));
  CHECK_FALSE(b.leading());
  CHECK(a.status().leader == "a");

  FailoverCommand d;
  d.pool = "web";
  d.region = "us";
  d.reason = "tier 0 below min_healthy for promote_after";
  d.sinceMs = 1000;
  d.badSinceMs = 0;
  d.goodSinceMs = 500;
  AuditRecord audit{0, "auto_failover", "web", d.reason, "leader a", ""};
  const WriteOutcome w = a.putFailoverDecision(d, 0, &audit);
  REQUIRE_MESSAGE(w.ok, w.error);
  CHECK(sb.waitFor([&] { return sb.failovers.size() == 1; }));
  {
    std::lock_guard lock(sb.mu);
    CHECK(sb.failovers[0].automatic);
    CHECK(sb.failovers[0].region == "us");
    CHECK(sb.failovers[0].goodSinceMs == 500);
    CHECK(sb.failovers[0].identity == "a");
    CHECK(sb.failovers[0].modRevision == w.revision);
  }
  // Computed from a state that is no longer the key's: not written.
  CHECK_FALSE(a.putFailoverDecision(d, w.revision - 1, nullptr).ok);
  // A follower does not decide.
  CHECK_FALSE(b.putFailoverDecision(d, w.revision, nullptr).ok);
  // The operator's command wins over a decision computed before it.
  const WriteOutcome op = b.putFailover({"web", false, "", "back", "ops", 0, 0},
                                        {0, "failback", "web", "back", "ops", ""});
  REQUIRE(op.ok);
  CHECK_FALSE(a.putFailoverDecision(d, w.revision, nullptr).ok);
  CHECK(a.putFailoverDecision(d, op.revision, nullptr).ok);

  // Another node took `P/leader` (a's key deleted behind its back, as when
  // its lease lapsed while it was cut off): a's writes are fenced even though
  // it still believes it leads.
  auto del = store.deleteRange(DeleteRequest::single(kKeys.leader()));
  REQUIRE(del.ok());
  clock.advance(4s);  // b's next keep-alive round campaigns
  REQUIRE(eventually([&] { return b.leading(); }));
  auto now = store.range(RangeRequest::single(kKeys.failoverKey("web")));
  REQUIRE(now.ok());
  REQUIRE(now->kvs.size() == 1);
  const WriteOutcome fenced = a.putFailoverDecision(d, now->kvs[0].modRevision, nullptr);
  CHECK_FALSE(fenced.ok);
  CHECK(fenced.error.find("fenced") != std::string::npos);
  CHECK_FALSE(a.leading());  // the fenced write told it
  CHECK(a.status().leader == "b");
  CHECK(b.putFailoverDecision(d, now->kvs[0].modRevision, nullptr).ok);

  // The leader leaves (its lease revoked): the other node takes over at its
  // next keep-alive round.
  b.stop();
  clock.advance(4s);
  CHECK(eventually([&] { return a.leading(); }));
  a.stop();
}
