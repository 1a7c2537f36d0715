#pragma once
// HealthView: the health of every probed target, as the DNS workers see it.
// Built by the probe thread and published inside the ServingSnapshot; probe
// results never touch the query path directly.
#include <cstdint>
#include <vector>

#include "health/probe.h"

namespace geodns::health {

// The health of one target as answers see it.
struct TargetHealth {
  State state = State::Unknown;
  bool up = true;                 // Up, or Unknown (fail open while data is missing)
  std::uint32_t changeInSec = 0;  // earliest the state could flip (interval x checks left)
  // Up with no failed check since it came up: health cannot change before
  // failures are seen, so answers through it keep the pool's TTL. Down,
  // unknown and failing targets are in transition and cap TTLs.
  bool steady = false;
  float latencyMs = 0;
  float load = -1;  // -1: no reading
};

// A target's TargetHealth from its rise/fall state: `up` by countsAsUp(),
// `changeInSec` by timeUntilPossibleChange() rounded up to whole seconds,
// `steady` when up with no failed check. `load` < 0: no reading. The probe
// thread (from its trackers) and explain (from the state database) both
// build their views with it.
TargetHealth targetHealth(const ProbeSpec& spec, State s, unsigned ok, unsigned fail,
                          double latencyMs, double load) noexcept;

// The TTL of an answer whose health could change in `changeInSec` seconds:
// the pool's `ttl` when that is no sooner, else `changeInSec` but never below
// `minTtl` (nor above `ttl`).
constexpr std::uint32_t cappedTtl(std::uint32_t ttl, std::uint32_t changeInSec,
                                  std::uint32_t minTtl) noexcept {
  if (changeInSec >= ttl) return ttl;
  const std::uint32_t floor = minTtl < ttl ? minTtl : ttl;
  return changeInSec > floor ? changeInSec : floor;
}

// Identifies one compiled GSLB config (gslb::Gslb::configId); None matches none.
enum class ConfigId : std::uint64_t { None = 0 };

struct HealthView {
  // Indexed by the probe index of the GSLB config it was built for; `config`
  // names that config, so a view is never applied to another generation
  // (checked once when a snapshot is assembled, not per query).
  ConfigId config = ConfigId::None;
  std::vector<TargetHealth> targets;
  // Per pool (index in the config): the active failover tier, -1 = none.
  std::vector<std::int16_t> activeTier;
  // Operator overrides (admin API). By region id and member id of that
  // config; empty when there are none.
  std::vector<std::uint8_t> regionDrained;
  std::vector<std::uint8_t> memberDrained;
  std::vector<float> memberLoad;  // pushed load in [0,1]; -1 none (probe load applies)
};

}  // namespace geodns::health
