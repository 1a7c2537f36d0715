#pragma once
// HealthView: the health of every probed target, as the DNS workers see it.
// Built by the probe thread and published inside the ServingSnapshot; probe
// results never touch the query path directly.
#include <cstdint>
#include <vector>

#include "health/probe.h"

namespace geodns::health {

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

struct HealthView {
  // Indexed by the probe index of the GSLB config it was built for; `forConfig`
  // identifies that config so a view never applies to another generation.
  const void* forConfig = nullptr;
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
