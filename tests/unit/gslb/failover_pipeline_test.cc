// Active-passive failover through the probe thread's logic (HealthRunner,
// turned by hand on a FakeClock) and the engine: promotion after the
// hold-down, failback, operator force, persistence across a restart.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "health/store.h"
#include "server/engine.h"
#include "server/health_runner.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"
#include "support/fakes.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;

namespace {

const char* kConfig = R"({
  "listen": ["127.0.0.1:53"],
  "zones": [{"origin": "f.test", "file": "ZONE"}],
  "regions": {"primary": {}, "standby": {}},
  "probes": {"p": {"type": "tcp", "port": 80, "interval_ms": 1000, "rise": 1, "fall": 1, "jitter": 0}},
  "pools": {
    "ap": {"ttl": 60, "probe": "p", "regions": {
             "primary": {"members": [{"address": "192.0.2.1"}]},
             "standby": {"members": [{"address": "198.51.100.1"}]}},
           "failover": {"primary": "primary", "standby": ["standby"], "promote_after_s": 5, "failback_after_s": 20}}
  },
  "policies": {"strict": {"steps": [{"step": "failover"}, {"step": "first_n", "n": 1}]},
               "healthy": {"steps": [{"step": "failover"}, {"step": "up"}, {"step": "first_n", "n": 1}]}},
  "bindings": [{"name": "ap.f.test", "pool": "ap", "policy": "strict"},
               {"name": "apup.f.test", "pool": "ap", "policy": "healthy"}]
})";

std::string answerOf(const ServingSnapshot& snap, const char* name = "ap.f.test") {
  std::vector<std::uint8_t> out(4096);
  auto q = test::makeQuery({.name = name});
  auto n = answer(snap, q, out, Transport::Udp, *IpAddress::parse("127.0.0.1"));
  auto r = test::parseResponse({out.data(), n});
  return r.sections[0].empty() ? "" : test::rdataText(r.sections[0][0]);
}

struct Rig {
  test::TempDir dir;
  std::shared_ptr<const ServingSnapshot> base;
  test::FakeClock clock;
  test::FakeRng rng{0.0};
  test::FakeTransport transport{clock};
  Rig() { base = test::snapshotFromJson(dir, "f.test", kConfig); }
  // One second of probing: every started probe completes with `primaryOk`
  // for 192.0.2.1 and ok for the standby.
  void second(HealthRunner& runner, bool primaryOk) {
    for (int i = 0; i < 10; ++i) {
      clock.advance(std::chrono::milliseconds(100));
      runner.turn(Duration::zero());
      for (const auto& s : transport.starts) {
        const bool isPrimary = runner.scheduler().spec(s.id).address.str() == "192.0.2.1";
        transport.complete(s.id, isPrimary ? primaryOk : true);
      }
      transport.starts.clear();
      runner.turn(Duration::zero());
    }
  }
};

}  // namespace

TEST_CASE("primary down: promoted after promote_after, failed back after failback_after") {
  Rig rig;
  SnapshotHolder holder;
  health::MemStore store;
  HealthRunner runner(holder, rig.clock, rig.rng, rig.transport, &store);
  runner.prime(rig.base);
  rig.second(runner, true);
  CHECK(answerOf(*holder.current()) == "192.0.2.1");
  int seconds = 0;
  while (answerOf(*holder.current()) == "192.0.2.1" && seconds < 30) {
    rig.second(runner, false);
    ++seconds;
  }
  CHECK(answerOf(*holder.current()) == "198.51.100.1");
  CHECK(seconds >= 5);  // not before the hold-down
  CHECK(seconds <= 7);  // ... and soon after it (fall = 1, probes every second)
  auto rec = store.loadFailover("ap");
  REQUIRE(rec);
  CHECK(rec->activeRegion == "standby");
  // The primary comes back: the standby keeps answering for failback_after.
  seconds = 0;
  while (answerOf(*holder.current()) == "198.51.100.1" && seconds < 60) {
    rig.second(runner, true);
    ++seconds;
  }
  CHECK(seconds >= 20);
  CHECK(seconds <= 22);
  CHECK(answerOf(*holder.current()) == "192.0.2.1");
}

TEST_CASE("operator force and failback; the active region survives a restart") {
  Rig rig;
  health::MemStore store;
  {
    SnapshotHolder holder;
    HealthRunner runner(holder, rig.clock, rig.rng, rig.transport, &store);
    runner.prime(rig.base);
    runner.forceFailover("ap", "standby", "maintenance");
    rig.second(runner, true);
    CHECK(answerOf(*holder.current()) == "198.51.100.1");
    for (int i = 0; i < 40; ++i) rig.second(runner, true);  // forced: health does not move it back
    CHECK(answerOf(*holder.current()) == "198.51.100.1");
    auto states = runner.failoverStates();
    REQUIRE(states.size() == 1);
    CHECK(states[0].forced);
    CHECK(states[0].reason == "maintenance");
  }
  {
    // A new process: restored from the store before the first answer.
    SnapshotHolder holder;
    HealthRunner runner(holder, rig.clock, rig.rng, rig.transport, &store);
    runner.prime(rig.base);
    CHECK(answerOf(*holder.current()) == "198.51.100.1");
    runner.failback("ap", "maintenance done");
    rig.second(runner, true);
    CHECK(answerOf(*holder.current()) == "192.0.2.1");
    CHECK_FALSE(store.loadFailover("ap")->forced);
  }
}

TEST_CASE("failover + up: a dead active region is skipped at once, before the hold-down ends") {
  Rig rig;
  SnapshotHolder holder;
  health::MemStore store;
  HealthRunner runner(holder, rig.clock, rig.rng, rig.transport, &store);
  runner.prime(rig.base);
  rig.second(runner, true);
  CHECK(answerOf(*holder.current(), "apup.f.test") == "192.0.2.1");
  // Two seconds down (fall 1): far inside promote_after (5 s).
  rig.second(runner, false);
  rig.second(runner, false);
  CHECK(answerOf(*holder.current(), "apup.f.test") == "198.51.100.1");  // up drops the primary
  CHECK(answerOf(*holder.current(), "ap.f.test") == "192.0.2.1");       // without up: still primary
  auto states = runner.failoverStates();
  REQUIRE(states.size() == 1);
  CHECK(states[0].activeRegion == "primary");  // no promotion yet
  // Back before the hold-down ended: the primary answers again at once.
  rig.second(runner, true);
  CHECK(answerOf(*holder.current(), "apup.f.test") == "192.0.2.1");
  CHECK(runner.failoverStates()[0].activeRegion == "primary");
}
