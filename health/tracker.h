#pragma once
// Tracker: the pure rise/fall state machine of one target, with a latency
// EWMA, the last load reading and staleness. Fed results and times; never
// reads a clock (tests drive it directly).
#include <optional>
#include <string>

#include "health/probe.h"

namespace geodns::health {

class Tracker {
 public:
  Tracker(const ProbeSpec& spec, TimePoint now);

  // Records one result at `now`; returns true when the state changed.
  bool onResult(const ProbeResult& r, TimePoint now);
  // No result for staleAfter intervals: the state becomes Unknown. True on change.
  bool tick(TimePoint now);

  State state() const noexcept { return state_; }
  TimePoint since() const noexcept { return since_; }
  unsigned consecutiveOk() const noexcept { return ok_; }
  unsigned consecutiveFail() const noexcept { return fail_; }
  double latencyMs() const noexcept { return latencyMs_; }  // EWMA of total time; 0 before any
  double connectMs() const noexcept { return connectMs_; }  // EWMA of connect time
  std::optional<double> load() const noexcept { return load_; }
  const std::string& lastError() const noexcept { return lastError_; }
  std::optional<TimePoint> lastResult() const noexcept { return last_; }

  // The earliest the state could flip from now: interval x checks left
  // (gdnsd's "TTL = time until health could change").
  Duration timeUntilPossibleChange() const noexcept;

  // Restores persisted state (control thread, before the first probe).
  // Staleness counts from `now`: the restored state gets staleAfter intervals
  // to be confirmed by a fresh probe.
  void restore(State s, TimePoint since, unsigned ok, unsigned fail, double latencyMs,
               std::optional<double> load, std::string lastError, TimePoint now);

  static constexpr double kEwmaAlpha = 0.3;

 private:
  const ProbeSpec* spec_;
  State state_;
  TimePoint since_;
  unsigned ok_ = 0, fail_ = 0;
  double latencyMs_ = 0;
  double connectMs_ = 0;
  std::optional<double> load_;
  std::string lastError_;
  std::optional<TimePoint> last_;
};

}  // namespace geodns::health
