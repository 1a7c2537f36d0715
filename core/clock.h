#pragma once
// Time as a seam: only clock.cc reads the system clock; tests use FakeClock.
#include <chrono>
#include <cstdint>

namespace geodns {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const noexcept = 0;             // monotonic
  virtual std::int64_t unixSeconds() const noexcept = 0;  // wall clock, for records and logs
};

class SteadyClock final : public Clock {
 public:
  TimePoint now() const noexcept override;
  std::int64_t unixSeconds() const noexcept override;
};

// The monotonic clock, for code that keeps real deadlines of its own (the
// admin HTTP front's timeouts) rather than taking `now` from a Clock.
TimePoint monotonicNow() noexcept;

}  // namespace geodns
