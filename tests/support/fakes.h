#pragma once
// Fakes for the seams: a clock tests move by hand, a fixed random sequence,
// and a probe transport that records starts and delivers scripted results.
#include <deque>
#include <vector>

#include "core/clock.h"
#include "core/rng.h"
#include "health/scheduler.h"

namespace geodns::test {

class FakeClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return now_; }
  std::int64_t unixSeconds() const noexcept override {
    return 1700000000 +
           std::chrono::duration_cast<std::chrono::seconds>(now_.time_since_epoch()).count();
  }
  void advance(Duration d) noexcept { now_ += d; }

 private:
  TimePoint now_{std::chrono::hours(1)};
};

class FakeRng final : public Rng {
 public:
  explicit FakeRng(double value = 0.5) : value_(value) {}
  std::uint64_t next() noexcept override {
    return static_cast<std::uint64_t>(value_ * 9007199254740992.0) << 11;  // uniform() == value_
  }
  void set(double v) noexcept { value_ = v; }

 private:
  double value_;
};

class FakeTransport final : public health::ProbeTransport {
 public:
  struct Start {
    health::TargetId id;
    TimePoint at;
  };
  explicit FakeTransport(const Clock& clock) : clock_(clock) {}
  void start(health::TargetId id, const health::ProbeSpec&) override {
    starts.push_back({id, clock_.now()});
  }
  void collect(std::vector<health::ProbeResult>& out, Duration) override {
    while (!pending.empty()) {
      out.push_back(pending.front());
      pending.pop_front();
    }
  }
  // Completes the last started probe of `id`.
  void complete(health::TargetId id, bool ok, double ms = 10,
                std::optional<double> load = std::nullopt) {
    health::ProbeResult r;
    r.target = id;
    r.ok = ok;
    r.totalMs = ms;
    r.load = load;
    if (!ok) r.error = "scripted failure";
    pending.push_back(r);
  }
  std::vector<Start> starts;
  std::deque<health::ProbeResult> pending;

 private:
  const Clock& clock_;
};

}  // namespace geodns::test
