#pragma once
// A budget on the signatures made on the query path (issue 14, "signing
// budget under floods"). A cache miss costs one signature, 21 us (ECDSA
// P-256) to 33 us (Ed25519) of CPU (docs/design/dnssec.md); a
// random-subdomain flood with DO makes every compact NXDOMAIN a miss. The
// budget caps those signatures at `rate` per second with bursts of `burst`;
// beyond it the engine answers UDP with TC=1 and signs nothing (the resolver
// retries over TCP, which rate-limits itself). Cache hits never consult it.
//
// One budget serves the whole process (every zone, every key, every worker),
// since what it bounds is the CPU of the process.
//
// A token bucket kept as one atomic (GCRA, the "virtual scheduling" form):
// `tat_` is the time at which the bucket would be empty again. A token is
// there when tat + interval <= now; taking it adds one interval. The bucket
// holds at most `burst` tokens: a tat older than now - burst * interval counts
// as that. An empty bucket costs a clock read and a load; a taken token one
// compare-and-swap. noexcept, no lock, no allocation.
#include <atomic>
#include <cstdint>

#include "core/clock.h"

namespace geodns::zones::dnssec {

class SignBudget {
 public:
  // `ratePerSecond` and `burst` > 0 (the config refuses 0 burst; a rate of 0
  // means no budget, i.e. no SignBudget at all). The interval between tokens
  // is 1 s / rate in whole nanoseconds. The bucket starts full. `clock` (its
  // monotonic now()) must outlive the budget.
  SignBudget(std::uint32_t ratePerSecond, std::uint32_t burst, const Clock& clock) noexcept;
  SignBudget(const SignBudget&) = delete;
  SignBudget& operator=(const SignBudget&) = delete;

  // Any thread: takes one token (one signature may be made) and returns
  // true, or returns false when the bucket is empty.
  bool tryTake() noexcept;

  std::uint32_t rate() const noexcept { return rate_; }
  std::uint32_t burst() const noexcept { return burst_; }

 private:
  std::int64_t nowNs() const noexcept;

  const Clock* clock_;
  std::uint32_t rate_;
  std::uint32_t burst_;
  std::int64_t intervalNs_;  // time that makes one token
  std::int64_t capacityNs_;  // burst * interval: the time that fills the bucket
  alignas(64) std::atomic<std::int64_t> tat_;
};

}  // namespace geodns::zones::dnssec
