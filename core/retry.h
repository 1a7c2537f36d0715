#pragma once
// A retry schedule with exponential backoff that gives up after a number of
// attempts: NOTIFY to a secondary until it acknowledges (RFC 1996 3.6), and
// later the secondary's SOA/AXFR retries. A value type whose every method
// takes `now` from the caller's injected clock, so tests step through it by
// hand; it sleeps, reads no clock and sends nothing itself.
#include <chrono>
#include <cstdint>

#include "core/clock.h"

namespace geodns {

struct RetryPolicy {
  Duration initial = std::chrono::seconds(2);  // the wait after the first send
  Duration max = std::chrono::seconds(60);     // the longest wait (RFC 1996 3.6 suggests 60 s)
  std::uint32_t factor = 2;                    // each wait is the previous one times this
  std::uint32_t attempts = 6;                  // sends in all: the first and 5 retries (RFC 1996)
};

class RetrySchedule {
 public:
  enum class Status : std::uint8_t { Waiting, Acknowledged, GaveUp };

  // The first send is due at `start`.
  RetrySchedule(const RetryPolicy& policy, TimePoint start) noexcept
      : policy_(policy), due_(start) {}

  // True when a send is due at `now` (the caller sends, then calls sent()).
  bool shouldSend(TimePoint now) const noexcept {
    return status_ == Status::Waiting && sent_ < policy_.attempts && now >= due_;
  }
  // Records a send at `now`; the next is due after the backoff wait (or, after
  // the last attempt, the schedule gives up then).
  void sent(TimePoint now) noexcept;
  // The peer answered: nothing more is sent.
  void acknowledged() noexcept { status_ = Status::Acknowledged; }

  // Waiting, Acknowledged, or GaveUp once the last attempt's wait ran out.
  Status status(TimePoint now) const noexcept {
    if (status_ == Status::Waiting && sent_ >= policy_.attempts && now >= due_)
      return Status::GaveUp;
    return status_;
  }
  // When the next thing happens (a send, or giving up): for the caller's timer.
  TimePoint due() const noexcept { return due_; }
  std::uint32_t sentCount() const noexcept { return sent_; }

  // The wait after send number `n` (1-based): initial * factor^(n-1), capped at max.
  static Duration waitAfter(const RetryPolicy& policy, std::uint32_t n) noexcept;

 private:
  RetryPolicy policy_;
  TimePoint due_;
  std::uint32_t sent_ = 0;
  Status status_ = Status::Waiting;
};

}  // namespace geodns
