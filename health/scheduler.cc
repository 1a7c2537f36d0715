#include "health/scheduler.h"

#include <algorithm>

namespace geodns::health {

Scheduler::Scheduler(Clock& clock, Rng& rng, ProbeTransport& transport)
    : clock_(clock), rng_(rng), transport_(transport) {}

TargetId Scheduler::add(const ProbeSpec& spec) {
  auto key = spec.key();
  if (auto it = byKey_.find(key); it != byKey_.end()) return it->second;
  const TargetId id = static_cast<TargetId>(targets_.size());
  const TimePoint now = clock_.now();
  targets_.push_back(std::make_unique<Target>(spec, now));
  byKey_.emplace(std::move(key), id);
  // Spread first probes over one interval so thousands of targets do not fire at once.
  const auto offset = std::chrono::duration_cast<Duration>(spec.interval * rng_.uniform());
  due_.push({now + offset, id});
  return id;
}

Duration Scheduler::jittered(const ProbeSpec& spec) {
  const double f = 1.0 + spec.jitter * (2.0 * rng_.uniform() - 1.0);  // [1-j, 1+j)
  return std::chrono::duration_cast<Duration>(spec.interval * std::max(0.0, f));
}

TimePoint Scheduler::nextDue() const {
  return due_.empty() ? TimePoint::max() : due_.top().at;
}

void Scheduler::step(Duration maxWait) {
  TimePoint now = clock_.now();
  while (!due_.empty() && due_.top().at <= now + kGranularity) {
    const Due d = due_.top();
    due_.pop();
    Target& t = *targets_[d.id];
    if (!t.running) {  // a slow probe is never overlapped by the next one
      t.running = true;
      ++inFlight_;
      transport_.start(d.id, t.spec);
    }
    due_.push({d.at + jittered(t.spec), d.id});
  }
  Duration wait = maxWait;
  if (!due_.empty()) wait = std::max(kGranularity, std::min(wait, due_.top().at - now));
  if (maxWait < wait) wait = maxWait;
  results_.clear();
  transport_.collect(results_, wait);
  now = clock_.now();
  for (const auto& r : results_) {
    if (r.target >= targets_.size()) continue;
    Target& t = *targets_[r.target];
    if (t.running) {
      t.running = false;
      --inFlight_;
    }
    if (onResult_) onResult_(r.target, r);
    if (t.tracker.onResult(r, now) && onChange_) onChange_(r.target, t.tracker);
  }
  if (now - lastStaleCheck_ >= kStaleCheckEvery) {
    lastStaleCheck_ = now;
    for (TargetId id = 0; id < targets_.size(); ++id)
      if (targets_[id]->tracker.tick(now) && onChange_) onChange_(id, targets_[id]->tracker);
  }
}

}  // namespace geodns::health
