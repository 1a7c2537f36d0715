#include "zones/dnssec/sign_budget.h"

#include <algorithm>
#include <chrono>

namespace geodns::zones::dnssec {

SignBudget::SignBudget(std::uint32_t ratePerSecond, std::uint32_t burst,
                       const Clock& clock) noexcept
    : clock_(&clock),
      rate_(std::max<std::uint32_t>(ratePerSecond, 1)),
      burst_(std::max<std::uint32_t>(burst, 1)),
      intervalNs_(std::max<std::int64_t>(1000000000 / rate_, 1)),
      capacityNs_(intervalNs_ * burst_),
      tat_(nowNs() - capacityNs_) {}

std::int64_t SignBudget::nowNs() const noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_->now().time_since_epoch())
      .count();
}

bool SignBudget::tryTake() noexcept {
  const std::int64_t now = nowNs();
  std::int64_t tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    // Tokens beyond `burst` are not kept: time the bucket spent full is lost.
    const std::int64_t next = std::max(tat, now - capacityNs_) + intervalNs_;
    if (next > now) return false;
    // relaxed: the bucket publishes no other data; the CAS alone decides
    // which thread got the token.
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return true;
  }
}

}  // namespace geodns::zones::dnssec
