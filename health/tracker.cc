#include "health/tracker.h"

namespace geodns::health {

Tracker::Tracker(const ProbeSpec& spec, TimePoint now)
    : spec_(&spec), state_(spec.initial), since_(now) {}

bool Tracker::onResult(const ProbeResult& r, TimePoint now) {
  last_ = now;
  if (r.ok) {
    ++ok_;
    fail_ = 0;
    lastError_.clear();
    auto ewma = [](double avg, double x) {
      return avg == 0 ? x : kEwmaAlpha * x + (1 - kEwmaAlpha) * avg;
    };
    latencyMs_ = ewma(latencyMs_, r.totalMs);
    connectMs_ = ewma(connectMs_, r.connectMs);
    if (r.load) load_ = r.load;
  } else {
    ++fail_;
    ok_ = 0;
    lastError_ = r.error;
  }
  State next = state_;
  if (state_ != State::Up && ok_ >= spec_->rise)
    next = State::Up;
  else if (state_ != State::Down && fail_ >= spec_->fall)
    next = State::Down;
  if (next == state_) return false;
  state_ = next;
  since_ = now;
  return true;
}

bool Tracker::tick(TimePoint now) {
  if (state_ == State::Unknown) return false;
  const TimePoint ref = last_ ? *last_ : since_;
  if (now - ref < spec_->interval * spec_->staleAfter + spec_->timeout) return false;
  state_ = State::Unknown;
  since_ = now;
  ok_ = fail_ = 0;
  lastError_ = "no result for " + std::to_string(spec_->staleAfter) + " intervals";
  return true;
}

Duration Tracker::timeUntilPossibleChange() const noexcept {
  return health::timeUntilPossibleChange(*spec_, state_, ok_, fail_);
}

void Tracker::restore(State s, TimePoint since, unsigned ok, unsigned fail, double latencyMs,
                      std::optional<double> load, std::string lastError, TimePoint now) {
  last_ = now;
  state_ = s;
  since_ = since;
  ok_ = ok;
  fail_ = fail;
  latencyMs_ = latencyMs;
  load_ = load;
  lastError_ = std::move(lastError);
}

}  // namespace geodns::health
