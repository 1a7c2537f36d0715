#pragma once
// Scheduler: runs probes on time. Owns one Tracker per distinct target (one
// probe however many pools use it), a due-heap, and a ProbeTransport that
// does the I/O. Clock, Rng and transport are injected, so tests fire probes
// and deliver results by hand and move a FakeClock instead of sleeping.
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/rng.h"
#include "health/probe.h"
#include "health/tracker.h"

namespace geodns::health {

class ProbeTransport {
 public:
  virtual ~ProbeTransport() = default;
  // Starts a probe without blocking; its result arrives through collect().
  virtual void start(TargetId id, const ProbeSpec& spec) = 0;
  // Waits up to `maxWait` for completions and appends them to `out`.
  virtual void collect(std::vector<ProbeResult>& out, Duration maxWait) = 0;
  // Any thread: a collect() that is waiting returns now, or, when none is,
  // the next one returns without waiting (the loop has work that is not a
  // probe: a snapshot to publish, an operator's command).
  virtual void wakeup() noexcept {}
};

class Scheduler {
 public:
  using ChangeFn = std::function<void(TargetId, const Tracker&)>;
  Scheduler(Clock& clock, Rng& rng, ProbeTransport& transport);

  // Adds a target or returns the existing one with the same ProbeSpec::key().
  TargetId add(const ProbeSpec& spec);
  std::size_t size() const noexcept { return targets_.size(); }
  const ProbeSpec& spec(TargetId id) const { return targets_[id]->spec; }
  const Tracker& tracker(TargetId id) const { return targets_[id]->tracker; }
  Tracker& tracker(TargetId id) { return targets_[id]->tracker; }

  // Called for every state change (probe thread).
  void onChange(ChangeFn fn) { onChange_ = std::move(fn); }
  // Called for every result (persistence, metrics).
  void onResult(std::function<void(TargetId, const ProbeResult&)> fn) { onResult_ = std::move(fn); }

  // One turn of the loop: start every probe that is due, wait up to `maxWait`
  // (less if a probe falls due sooner) for results, apply them, check staleness.
  void step(Duration maxWait);
  // Time of the next due probe (for tests).
  TimePoint nextDue() const;
  std::size_t inFlight() const noexcept { return inFlight_; }

  // Probes falling due within this window start together, so thousands of
  // targets cost a few wake-ups per second rather than one each.
  static constexpr Duration kGranularity = std::chrono::milliseconds(10);
  // Staleness is checked at most this often (it is measured in intervals).
  static constexpr Duration kStaleCheckEvery = std::chrono::milliseconds(100);

 private:
  struct Target {
    ProbeSpec spec;
    Tracker tracker;
    bool running = false;
    Target(const ProbeSpec& s, TimePoint now) : spec(s), tracker(spec, now) {}
  };
  struct Due {
    TimePoint at;
    TargetId id;
    bool operator>(const Due& o) const { return at > o.at; }
  };
  Duration jittered(const ProbeSpec& spec);

  Clock& clock_;
  Rng& rng_;
  ProbeTransport& transport_;
  std::vector<std::unique_ptr<Target>> targets_;
  std::unordered_map<std::string, TargetId> byKey_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  std::size_t inFlight_ = 0;
  TimePoint lastStaleCheck_{};
  std::vector<ProbeResult> results_;
  ChangeFn onChange_;
  std::function<void(TargetId, const ProbeResult&)> onResult_;
};

}  // namespace geodns::health
