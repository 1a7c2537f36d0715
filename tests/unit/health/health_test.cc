#include <doctest/doctest.h>

#include "health/scheduler.h"
#include "health/tracker.h"
#include "support/fakes.h"

using namespace geodns;
using namespace geodns::health;
using geodns::test::FakeClock;
using geodns::test::FakeRng;
using geodns::test::FakeTransport;

namespace {
ProbeSpec spec(unsigned rise = 2, unsigned fall = 3, State initial = State::Up) {
  ProbeSpec s;
  s.kind = ProbeKind::Tcp;
  s.address = *IpAddress::parse("127.0.0.1");
  s.port = 8080;
  s.rise = rise;
  s.fall = fall;
  s.initial = initial;
  s.interval = std::chrono::seconds(1);
  s.jitter = 0;
  return s;
}
ProbeResult result(bool ok, double ms = 10) {
  ProbeResult r;
  r.ok = ok;
  r.totalMs = ms;
  if (!ok) r.error = "refused";
  return r;
}
}  // namespace

TEST_CASE("rise/fall timeline") {
  FakeClock clock;
  auto s = spec(2, 3);
  Tracker t(s, clock.now());
  struct Step {
    bool ok;
    State expect;
    bool changed;
  } steps[] = {
      {false, State::Up, false},  {false, State::Up, false},
      {false, State::Down, true},                               // fall = 3
      {true, State::Down, false}, {false, State::Down, false},  // a success alone is not enough
      {true, State::Down, false}, {true, State::Up, true},      // rise = 2
      {false, State::Up, false},  {true, State::Up, false},     // one failure forgiven
  };
  int i = 0;
  for (const auto& st : steps) {
    CAPTURE(i++);
    clock.advance(std::chrono::seconds(1));
    CHECK(t.onResult(result(st.ok), clock.now()) == st.changed);
    CHECK(t.state() == st.expect);
  }
}

TEST_CASE("latency EWMA and load") {
  FakeClock clock;
  auto s = spec();
  Tracker t(s, clock.now());
  ProbeResult r = result(true, 100);
  r.connectMs = 4;
  r.load = 0.5;
  t.onResult(r, clock.now());
  CHECK(t.latencyMs() == doctest::Approx(100));
  t.onResult(result(true, 200), clock.now());
  CHECK(t.latencyMs() == doctest::Approx(0.3 * 200 + 0.7 * 100));
  CHECK(t.connectMs() == doctest::Approx(0.3 * 0 + 0.7 * 4));  // its own average
  CHECK(*t.load() == doctest::Approx(0.5));  // kept until a new reading
  t.onResult(result(false), clock.now());
  CHECK(t.lastError() == "refused");
}

TEST_CASE("staleness turns the state unknown") {
  FakeClock clock;
  auto s = spec();
  s.staleAfter = 3;
  Tracker t(s, clock.now());
  t.onResult(result(true), clock.now());
  clock.advance(std::chrono::milliseconds(3500));
  CHECK_FALSE(t.tick(clock.now()));
  clock.advance(std::chrono::milliseconds(600));  // 3 intervals + the timeout have passed
  CHECK(t.tick(clock.now()));
  CHECK(t.state() == State::Unknown);
  CHECK_FALSE(t.tick(clock.now()));
}

TEST_CASE("time until the state could change") {
  FakeClock clock;
  auto s = spec(2, 3);
  Tracker t(s, clock.now());
  CHECK(t.timeUntilPossibleChange() == std::chrono::seconds(3));
  t.onResult(result(false), clock.now());
  CHECK(t.timeUntilPossibleChange() == std::chrono::seconds(2));
  t.onResult(result(false), clock.now());
  t.onResult(result(false), clock.now());
  CHECK(t.state() == State::Down);
  CHECK(t.timeUntilPossibleChange() == std::chrono::seconds(2));
  t.onResult(result(true), clock.now());
  CHECK(t.timeUntilPossibleChange() == std::chrono::seconds(1));
}

TEST_CASE("load readings") {
  CHECK(*parseLoad("0.25") == doctest::Approx(0.25));
  CHECK(*parseLoad("70%") == doctest::Approx(0.7));
  CHECK(*parseLoad("35/50") == doctest::Approx(0.7));
  CHECK(*parseLoad("3") == doctest::Approx(1.0));  // clamped
  CHECK_FALSE(parseLoad("busy"));
  CHECK_FALSE(parseLoad("1/0"));
  CHECK_FALSE(parseLoad("-0.5"));
}

TEST_CASE("scheduler: one probe per distinct target, on time, never overlapping") {
  FakeClock clock;
  FakeRng rng(0.0);  // first probes at once, no jitter
  FakeTransport transport(clock);
  Scheduler sched(clock, rng, transport);
  auto s = spec(1, 2);
  TargetId a = sched.add(s);
  CHECK(sched.add(s) == a);  // shared by key
  auto s2 = s;
  s2.port = 9090;
  TargetId b = sched.add(s2);
  CHECK(b != a);
  sched.step(Duration::zero());
  CHECK(transport.starts.size() == 2);
  // While a probe is in flight, the next due time does not start another.
  clock.advance(std::chrono::seconds(1));
  sched.step(Duration::zero());
  CHECK(transport.starts.size() == 2);
  transport.complete(a, false);
  transport.complete(b, true);
  sched.step(Duration::zero());
  clock.advance(std::chrono::seconds(1));
  sched.step(Duration::zero());
  CHECK(transport.starts.size() == 4);
}

TEST_CASE("scheduler: a target goes down within fall intervals and up within rise") {
  FakeClock clock;
  FakeRng rng(0.0);
  FakeTransport transport(clock);
  Scheduler sched(clock, rng, transport);
  std::vector<std::pair<TargetId, State>> changes;
  sched.onChange([&](TargetId id, const Tracker& t) { changes.push_back({id, t.state()}); });
  TargetId a = sched.add(spec(2, 3));
  int intervals = 0;
  for (; intervals < 10 && changes.empty(); ++intervals) {
    sched.step(Duration::zero());
    transport.complete(a, false);
    sched.step(Duration::zero());
    clock.advance(std::chrono::seconds(1));
  }
  CHECK(intervals == 3);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].second == State::Down);
  changes.clear();
  for (intervals = 0; intervals < 10 && changes.empty(); ++intervals) {
    sched.step(Duration::zero());
    transport.complete(a, true);
    sched.step(Duration::zero());
    clock.advance(std::chrono::seconds(1));
  }
  CHECK(intervals == 2);
  CHECK(changes[0].second == State::Up);
}

TEST_CASE("scheduler: jitter keeps probes within +/- jitter of the interval") {
  FakeClock clock;
  FakeRng rng(0.0);
  FakeTransport transport(clock);
  Scheduler sched(clock, rng, transport);
  auto s = spec();
  s.jitter = 0.2;
  TargetId a = sched.add(s);
  sched.step(Duration::zero());
  const TimePoint first = clock.now();
  transport.complete(a, true);
  rng.set(0.0);  // lowest jitter: 0.8 s
  sched.step(Duration::zero());
  CHECK(sched.nextDue() - first == std::chrono::milliseconds(800));
  clock.advance(std::chrono::milliseconds(800));
  rng.set(0.999999);  // highest: just under 1.2 s
  sched.step(Duration::zero());
  const auto gap = sched.nextDue() - clock.now();
  CHECK(gap > std::chrono::milliseconds(1199));
  CHECK(gap < std::chrono::milliseconds(1200));
}
