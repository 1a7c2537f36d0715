#pragma once
// FailoverController: active-passive rules per pool, as pure logic over
// region availability and time (tests drive it with a FakeClock). A standby
// is promoted when the active tier stays below min_healthy for promote_after;
// the primary comes back after failback_after of continuous health, or only
// by an operator (manual failback). An operator may also force any tier; a
// forced choice holds until failback() is called.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"

namespace geodns::health {

struct FailoverSpec {
  std::vector<std::uint16_t> tiers;  // region indices: [0] primary, then standbys by priority
  double minHealthy = 1;             // >= 1 a count, < 1 a fraction (of a region's members)
  Duration promoteAfter = std::chrono::seconds(30);
  Duration failbackAfter = std::chrono::seconds(300);
  bool manualFailback = false;
};

struct FailoverState {
  std::size_t active = 0;  // index into tiers
  TimePoint since{};
  std::string reason = "initial";
  bool forced = false;
  std::optional<TimePoint> activeBadSince;    // active tier below min_healthy since
  std::optional<TimePoint> primaryGoodSince;  // primary healthy since (while on a standby)
};

// What one region looks like to the controller.
struct RegionAvailability {
  std::size_t up = 0;
  std::size_t total = 0;
};

class FailoverController {
 public:
  explicit FailoverController(FailoverSpec spec, TimePoint now);

  // Feeds availability per region index; returns true when the active tier changed.
  bool update(std::span<const RegionAvailability> regions, TimePoint now);
  // Operator actions. `tier` indexes spec().tiers.
  void force(std::size_t tier, std::string reason, TimePoint now);
  void failback(std::string reason, TimePoint now);
  // Restores persisted state (start-up).
  void restore(std::size_t active, TimePoint since, std::string reason, bool forced);
  // Takes a whole state, timers included (a fleet's leader decided it): the
  // hold-down and failback periods continue from where they were.
  void restoreState(FailoverState state);

  const FailoverState& state() const noexcept { return state_; }
  const FailoverSpec& spec() const noexcept { return spec_; }
  std::uint16_t activeRegion() const noexcept { return spec_.tiers[state_.active]; }
  bool healthy(const RegionAvailability& r) const noexcept;

 private:
  FailoverSpec spec_;
  FailoverState state_;
};

}  // namespace geodns::health
