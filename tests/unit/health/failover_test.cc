#include <doctest/doctest.h>

#include <vector>

#include "health/failover.h"
#include "support/fakes.h"

using namespace geodns;
using namespace geodns::health;
using geodns::test::FakeClock;

namespace {
FailoverSpec spec(bool manual = false) {
  FailoverSpec s;
  s.tiers = {0, 1, 2};
  s.minHealthy = 1;
  s.promoteAfter = std::chrono::seconds(10);
  s.failbackAfter = std::chrono::seconds(60);
  s.manualFailback = manual;
  return s;
}
std::vector<RegionAvailability> avail(bool a, bool b, bool c = true) {
  return {{a ? 1u : 0u, 1}, {b ? 1u : 0u, 1}, {c ? 1u : 0u, 1}};
}
}  // namespace

TEST_CASE("promote after promote_after below min_healthy, fail back after failback_after") {
  FakeClock clock;
  FailoverController f(spec(), clock.now());
  CHECK(f.activeRegion() == 0);
  // Below from the first observation on; promoted once 10 s have passed since.
  for (int s = 0; s < 10; ++s) {
    clock.advance(std::chrono::seconds(1));
    CHECK_FALSE(f.update(avail(false, true), clock.now()));
  }
  clock.advance(std::chrono::seconds(1));
  CHECK(f.update(avail(false, true), clock.now()));
  CHECK(f.activeRegion() == 1);
  CHECK(f.state().reason.find("below min_healthy") != std::string::npos);
  // Primary back, but not for long enough.
  for (int s = 0; s < 60; ++s) {
    clock.advance(std::chrono::seconds(1));
    CHECK_FALSE(f.update(avail(true, true), clock.now()));
  }
  clock.advance(std::chrono::seconds(1));
  CHECK(f.update(avail(true, true), clock.now()));
  CHECK(f.activeRegion() == 0);
}

TEST_CASE(
    "no flapping: a target flapping every interval causes at most one promotion per hold-down") {
  FakeClock clock;
  FailoverController f(spec(), clock.now());
  int changes = 0;
  for (int s = 0; s < 600; ++s) {  // 10 minutes, the primary flips every second
    clock.advance(std::chrono::seconds(1));
    if (f.update(avail(s % 2 == 0, true), clock.now())) ++changes;
  }
  CHECK(changes == 0);  // never below min_healthy for 10 s in a row
  // Down for good: one promotion; then flapping keeps it on the standby
  // (never healthy for failback_after in a row).
  for (int s = 0; s < 20; ++s) {
    clock.advance(std::chrono::seconds(1));
    if (f.update(avail(false, true), clock.now())) ++changes;
  }
  for (int s = 0; s < 600; ++s) {
    clock.advance(std::chrono::seconds(1));
    if (f.update(avail(s % 2 == 0, true), clock.now())) ++changes;
  }
  CHECK(changes == 1);
  CHECK(f.activeRegion() == 1);
}

TEST_CASE("cascade to the next healthy tier; stay when nothing is healthier") {
  FakeClock clock;
  FailoverController f(spec(), clock.now());
  for (int s = 0; s < 11; ++s) {
    clock.advance(std::chrono::seconds(1));
    f.update(avail(false, false, true), clock.now());
  }
  CHECK(f.activeRegion() == 2);  // tier 1 is down too
  FailoverController g(spec(), clock.now());
  for (int s = 0; s < 30; ++s) {
    clock.advance(std::chrono::seconds(1));
    CHECK_FALSE(g.update(avail(false, false, false), clock.now()));
  }
  CHECK(g.activeRegion() == 0);
}

TEST_CASE("manual failback and operator overrides") {
  FakeClock clock;
  FailoverController f(spec(true), clock.now());
  for (int s = 0; s < 11; ++s) {
    clock.advance(std::chrono::seconds(1));
    f.update(avail(false, true), clock.now());
  }
  CHECK(f.activeRegion() == 1);
  for (int s = 0; s < 600; ++s) {
    clock.advance(std::chrono::seconds(1));
    CHECK_FALSE(f.update(avail(true, true), clock.now()));  // failback: manual
  }
  f.failback("operator: primary fixed", clock.now());
  CHECK(f.activeRegion() == 0);
  // A forced tier holds whatever health says, until failback.
  f.force(2, "operator: maintenance", clock.now());
  for (int s = 0; s < 100; ++s) {
    clock.advance(std::chrono::seconds(1));
    CHECK_FALSE(f.update(avail(true, true, false), clock.now()));
  }
  CHECK(f.activeRegion() == 2);
  CHECK(f.state().forced);
  f.failback("operator", clock.now());
  CHECK_FALSE(f.state().forced);
}

TEST_CASE("min_healthy as a fraction") {
  FakeClock clock;
  auto s = spec();
  s.minHealthy = 0.5;
  FailoverController f(s, clock.now());
  CHECK(f.healthy({2, 4}));
  CHECK_FALSE(f.healthy({1, 4}));
  CHECK_FALSE(f.healthy({0, 0}));
}

TEST_CASE("restoreState: a hold-down or failback period continues from where it was") {
  struct Case {
    const char* name;
    std::size_t active;
    int badAgoS;   // < 0: no hold-down running
    int goodAgoS;  // < 0: no failback period running
    std::vector<RegionAvailability> regions;
    int afterS;
    std::size_t want;
  };
  const Case cases[] = {
      {"hold-down 7 s old: promoted 3 s later", 0, 7, -1, avail(false, true), 3, 1},
      {"hold-down 7 s old: not yet 2 s later", 0, 7, -1, avail(false, true), 2, 0},
      {"no hold-down restored: a new one starts", 0, -1, -1, avail(false, true), 3, 0},
      {"failback period 55 s old: back 5 s later", 1, -1, 55, avail(true, true), 5, 0},
      {"failback period 55 s old: not yet 4 s later", 1, -1, 55, avail(true, true), 4, 1},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    FakeClock clock;
    FailoverController f(spec(), clock.now());
    FailoverState st;
    st.active = c.active;
    st.since = clock.now() - std::chrono::seconds(100);
    st.reason = "restored";
    if (c.badAgoS >= 0) st.activeBadSince = clock.now() - std::chrono::seconds(c.badAgoS);
    if (c.goodAgoS >= 0) st.primaryGoodSince = clock.now() - std::chrono::seconds(c.goodAgoS);
    f.restoreState(st);
    CHECK(f.activeRegion() == c.active);
    f.update(c.regions, clock.now());
    clock.advance(std::chrono::seconds(c.afterS));
    f.update(c.regions, clock.now());
    CHECK(f.activeRegion() == c.want);
  }
}
