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

TEST_CASE("no flapping: a target flapping every interval causes at most one promotion per hold-down") {
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
