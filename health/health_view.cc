#include "health/health_view.h"

#include <cmath>

namespace geodns::health {

TargetHealth targetHealth(const ProbeSpec& spec, State s, unsigned ok, unsigned fail,
                          double latencyMs, double load) noexcept {
  TargetHealth h;
  h.state = s;
  h.up = countsAsUp(s, spec);
  h.changeInSec = static_cast<std::uint32_t>(
      std::ceil(std::chrono::duration<double>(timeUntilPossibleChange(spec, s, ok, fail)).count()));
  h.steady = s == State::Up && fail == 0;
  h.latencyMs = static_cast<float>(latencyMs);
  h.load = load >= 0 ? static_cast<float>(load) : -1.0f;
  return h;
}

}  // namespace geodns::health
