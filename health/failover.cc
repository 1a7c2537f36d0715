#include "health/failover.h"

namespace geodns::health {

FailoverController::FailoverController(FailoverSpec spec, TimePoint now) : spec_(std::move(spec)) {
  if (spec_.tiers.empty()) spec_.tiers.push_back(0);
  state_.since = now;
}

bool FailoverController::healthy(const RegionAvailability& r) const noexcept {
  if (r.total == 0) return false;
  const double need =
      spec_.minHealthy >= 1 ? spec_.minHealthy : spec_.minHealthy * static_cast<double>(r.total);
  return r.up > 0 && static_cast<double>(r.up) >= need;
}

bool FailoverController::update(std::span<const RegionAvailability> regions, TimePoint now) {
  auto at = [&](std::size_t tier) -> RegionAvailability {
    const std::uint16_t region = spec_.tiers[tier];
    return region < regions.size() ? regions[region] : RegionAvailability{};
  };
  if (state_.forced) return false;  // an operator's choice holds until failback()

  // Failback to the primary after failback_after of continuous health.
  if (state_.active != 0) {
    if (healthy(at(0))) {
      if (!state_.primaryGoodSince) state_.primaryGoodSince = now;
      if (!spec_.manualFailback && now - *state_.primaryGoodSince >= spec_.failbackAfter) {
        state_.active = 0;
        state_.since = now;
        state_.reason = "primary healthy for failback_after";
        state_.activeBadSince.reset();
        state_.primaryGoodSince.reset();
        return true;
      }
    } else {
      state_.primaryGoodSince.reset();
    }
  }

  // Promotion: the active tier below min_healthy for promote_after.
  if (healthy(at(state_.active))) {
    state_.activeBadSince.reset();
    return false;
  }
  if (!state_.activeBadSince) state_.activeBadSince = now;
  if (now - *state_.activeBadSince < spec_.promoteAfter) return false;
  for (std::size_t t = state_.active + 1; t < spec_.tiers.size(); ++t) {
    if (!healthy(at(t))) continue;
    state_.active = t;
    state_.since = now;
    state_.reason = "tier " + std::to_string(t - 1) + " below min_healthy for promote_after";
    state_.activeBadSince.reset();
    state_.primaryGoodSince.reset();
    return true;
  }
  return false;  // nothing healthier to promote: stay
}

void FailoverController::force(std::size_t tier, std::string reason, TimePoint now) {
  if (tier >= spec_.tiers.size()) return;
  state_.active = tier;
  state_.since = now;
  state_.reason = std::move(reason);
  state_.forced = true;
  state_.activeBadSince.reset();
  state_.primaryGoodSince.reset();
}

void FailoverController::failback(std::string reason, TimePoint now) {
  state_.active = 0;
  state_.since = now;
  state_.reason = std::move(reason);
  state_.forced = false;
  state_.activeBadSince.reset();
  state_.primaryGoodSince.reset();
}

void FailoverController::restore(std::size_t active, TimePoint since, std::string reason,
                                 bool forced) {
  state_.active = active < spec_.tiers.size() ? active : 0;
  state_.since = since;
  state_.reason = std::move(reason);
  state_.forced = forced;
}

void FailoverController::restoreState(FailoverState state) {
  if (state.active >= spec_.tiers.size()) state.active = 0;
  state_ = std::move(state);
}

}  // namespace geodns::health
