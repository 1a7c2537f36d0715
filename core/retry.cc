#include "core/retry.h"

namespace geodns {

Duration RetrySchedule::waitAfter(const RetryPolicy& policy, std::uint32_t n) noexcept {
  Duration wait = policy.initial;
  for (std::uint32_t i = 1; i < n && wait < policy.max; ++i) wait *= policy.factor;
  return wait < policy.max ? wait : policy.max;
}

void RetrySchedule::sent(TimePoint now) noexcept {
  if (status_ != Status::Waiting || sent_ >= policy_.attempts) return;
  ++sent_;
  due_ = now + waitAfter(policy_, sent_);
}

}  // namespace geodns
