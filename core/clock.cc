#include "core/clock.h"

namespace geodns {

TimePoint monotonicNow() noexcept {
  return std::chrono::steady_clock::now();
}

TimePoint SteadyClock::now() const noexcept {
  return monotonicNow();
}

std::int64_t SteadyClock::unixSeconds() const noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace geodns
