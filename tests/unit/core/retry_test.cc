#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/retry.h"

using namespace geodns;
using std::chrono::seconds;

namespace {

// Drives a schedule second by second: sends whenever due, acknowledges at
// `ackAt` (never when negative), and records the send times and the time the
// schedule settled.
struct Run {
  std::vector<long> sends;
  RetrySchedule::Status end = RetrySchedule::Status::Waiting;
  long endAt = -1;
};
Run drive(const RetryPolicy& p, long ackAt, long horizon = 1000) {
  const TimePoint t0{std::chrono::hours(1)};
  RetrySchedule s(p, t0);
  Run run;
  for (long t = 0; t <= horizon; ++t) {
    const TimePoint now = t0 + seconds(t);
    if (t == ackAt) s.acknowledged();
    if (s.shouldSend(now)) {
      run.sends.push_back(t);
      s.sent(now);
    }
    if (s.status(now) != RetrySchedule::Status::Waiting) {
      run.end = s.status(now);
      run.endAt = t;
      break;
    }
  }
  return run;
}

}  // namespace

TEST_CASE("RetrySchedule: backoff, cap, give up after the last attempt, stop on ack") {
  using S = RetrySchedule::Status;
  const RetryPolicy rfc;  // 2 s doubling to 60 s, 6 sends
  RetryPolicy small;
  small.initial = seconds(1);
  small.max = seconds(5);
  small.factor = 3;
  small.attempts = 4;
  RetryPolicy once;
  once.attempts = 1;
  once.initial = seconds(10);
  struct Case {
    const char* name;
    RetryPolicy policy;
    long ackAt;
    std::vector<long> sends;
    S end;
    long endAt;
  };
  const Case cases[] = {
      {"no answer: 2, 4, 8, 16, 32 s waits, then the last wait",
       rfc,
       -1,
       {0, 2, 6, 14, 30, 62},
       S::GaveUp,
       62 + 60},
      {"factor 3 capped at 5 s", small, -1, {0, 1, 4, 9}, S::GaveUp, 14},
      {"acknowledged after the second send", rfc, 3, {0, 2}, S::Acknowledged, 3},
      {"acknowledged before any retry", rfc, 1, {0}, S::Acknowledged, 1},
      {"one attempt only", once, -1, {0}, S::GaveUp, 10},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    const Run r = drive(c.policy, c.ackAt);
    CHECK(r.sends == c.sends);
    CHECK(r.end == c.end);
    CHECK(r.endAt == c.endAt);
  }
}

TEST_CASE("RetrySchedule: waits, and what it does off schedule") {
  const RetryPolicy p;
  CHECK(RetrySchedule::waitAfter(p, 1) == seconds(2));
  CHECK(RetrySchedule::waitAfter(p, 5) == seconds(32));
  CHECK(RetrySchedule::waitAfter(p, 6) == seconds(60));
  CHECK(RetrySchedule::waitAfter(p, 1000) == seconds(60));  // no overflow past the cap

  const TimePoint t0{std::chrono::hours(1)};
  RetrySchedule s(p, t0 + seconds(5));
  CHECK_FALSE(s.shouldSend(t0));  // not due yet
  CHECK(s.due() == t0 + seconds(5));
  CHECK(s.shouldSend(t0 + seconds(5)));
  s.sent(t0 + seconds(7));  // sent late: the wait counts from the real send
  CHECK(s.due() == t0 + seconds(9));
  CHECK_FALSE(s.shouldSend(t0 + seconds(8)));
  s.acknowledged();
  CHECK_FALSE(s.shouldSend(t0 + seconds(100)));
  s.sent(t0 + seconds(100));  // ignored once acknowledged
  CHECK(s.sentCount() == 1);
  CHECK(s.status(t0 + seconds(1000)) == RetrySchedule::Status::Acknowledged);
}
