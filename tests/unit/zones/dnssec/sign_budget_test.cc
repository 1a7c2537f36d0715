// The signing budget (issue 14): a token bucket moved by a FakeClock (no
// sleep), taken from by many threads at once, and its place in the signature
// cache's miss path (a hit never takes a token; an empty bucket signs nothing).
#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/fakes.h"
#include "support/temp_dir.h"
#include "unit/zones/dnssec/dnssec_test_util.h"
#include "zones/dnssec/sig_cache.h"
#include "zones/dnssec/sign_budget.h"

using namespace geodns;
using namespace geodns::zones::dnssec;
namespace td = geodns::test::dnssec;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

namespace {

// Move the clock by `advance`, then try `attempts` times: `granted` succeed.
struct Step {
  Duration advance;
  int attempts;
  int granted;
};
struct BucketCase {
  const char* name;
  std::uint32_t rate;
  std::uint32_t burst;
  std::vector<Step> steps;
};

int take(SignBudget& b, int attempts) {
  int got = 0;
  for (int i = 0; i < attempts; ++i) got += b.tryTake() ? 1 : 0;
  return got;
}

}  // namespace

TEST_CASE("sign budget: a token bucket on an injected clock") {
  const BucketCase cases[] = {
      {"starts full: exactly the burst, then nothing", 10, 5, {{{}, 8, 5}, {{}, 3, 0}}},
      {"refills one token per 1/rate s, and not before",
       10,
       5,
       {{{}, 5, 5}, {milliseconds(99), 1, 0}, {milliseconds(1), 2, 1}, {milliseconds(250), 3, 2}}},
      {"an idle bucket holds at most the burst", 1000, 20, {{{}, 20, 20}, {seconds(60), 50, 20}}},
      {"a burst below the rate", 2000, 100, {{{}, 150, 100}, {milliseconds(10), 30, 20}}},
      {"a burst above the rate", 2, 10, {{{}, 12, 10}, {seconds(1), 5, 2}}},
      {"a partial interval is kept, not lost",
       4,
       1,
       {{{}, 1, 1},
        {milliseconds(200), 1, 0},
        {milliseconds(50), 1, 1},
        {milliseconds(249), 1, 0}}},
      {"a rate that does not divide a second (1/3 s per token)",
       3,
       1,
       {{{}, 1, 1}, {nanoseconds(333333332), 1, 0}, {nanoseconds(1), 1, 1}}},
      {"rate 1, burst 1: one per second",
       1,
       1,
       {{{}, 3, 1}, {seconds(1), 3, 1}, {seconds(3), 3, 1}}},
      {"the highest rate: 1 us per token", 1000000, 1, {{{}, 2, 1}, {microseconds(5), 10, 1}}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    test::FakeClock clock;
    SignBudget budget(c.rate, c.burst, clock);
    CHECK(budget.rate() == c.rate);
    CHECK(budget.burst() == c.burst);
    int i = 0;
    for (const auto& s : c.steps) {
      CAPTURE(i++);
      clock.advance(s.advance);
      CHECK(take(budget, s.attempts) == s.granted);
    }
  }
}

TEST_CASE("sign budget: many threads at once never take more than there is") {
  test::FakeClock clock;
  constexpr std::uint32_t kRate = 5000, kBurst = 3000;
  SignBudget budget(kRate, kBurst, clock);
  constexpr int kThreads = 4, kAttempts = 4000;  // 16000 attempts for 3000 tokens
  auto race = [&] {
    std::atomic<int> granted{0};
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&] {
        start.arrive_and_wait();
        granted.fetch_add(take(budget, kAttempts));
      });
    for (auto& t : threads) t.join();
    return granted.load();
  };
  CHECK(race() == static_cast<int>(kBurst));
  clock.advance(milliseconds(100));  // 500 tokens
  CHECK(race() == 500);
  // Lost updates show only when threads overlap: race a full bucket again and
  // again (a load-then-store bucket got caught in 2 of 3 single rounds).
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    clock.advance(seconds(10));  // full again, not 50000
    CHECK(race() == static_cast<int>(kBurst));
  }
}

TEST_CASE("sign budget in the cache's miss path: hits are free, an empty bucket signs nothing") {
  test::TempDir dir;
  const auto origin = *name::fromText("example.test");
  ErrorList errors;
  auto key = Key::load(td::generateKey(dir.path(), "ED25519", "example.test"), name::asSpan(origin),
                       errors);
  REQUIRE_MESSAGE(key, errors.str());
  test::FakeClock clock;
  Signer signer(*key, {}, clock);
  SigCache cache;
  auto reader = cache.reader();
  SignBudget budget(2, 2, clock);  // two signatures, then one per 500 ms

  const auto owner = [](int i) {
    return *name::fromText("h" + std::to_string(i) + ".example.test");
  };
  const std::vector<std::uint8_t> rdata = {192, 0, 2, 1};
  const std::span<const std::uint8_t> rdatas[] = {rdata};
  std::vector<std::string> owners;
  for (int i = 0; i < 4; ++i) owners.push_back(owner(i));
  auto view = [&](int i) {
    return RRsetView{.owner = name::asSpan(owners[static_cast<std::size_t>(i)]),
                     .type = 1,
                     .ttl = 300,
                     .rdatas = rdatas};
  };

  struct Ask {
    const char* what;
    int rrset;
    Duration advance;
    SignOutcome outcome;
  };
  const Ask asks[] = {
      {"first miss: signed (token 1)", 0, {}, SignOutcome::Signed},
      {"second miss: signed (token 2)", 1, {}, SignOutcome::Signed},
      {"third miss: the bucket is empty", 2, {}, SignOutcome::OverBudget},
      {"a hit with the bucket empty", 0, {}, SignOutcome::Hit},
      {"the other hit, still empty", 1, {}, SignOutcome::Hit},
      {"500 ms later: one token", 2, milliseconds(500), SignOutcome::Signed},
      {"and the next miss is refused again", 3, {}, SignOutcome::OverBudget},
      {"what was signed over budget is now a hit", 2, {}, SignOutcome::Hit},
  };
  std::uint64_t signs = 0;
  for (const auto& a : asks) {
    CAPTURE(std::string(a.what));
    clock.advance(a.advance);
    std::uint8_t out[256];
    std::fill(std::begin(out), std::end(out), std::uint8_t{0xEE});
    const SignResult r = cache.lookupOrSign(reader, signer, view(a.rrset), out, &budget);
    CHECK(r.outcome == a.outcome);
    if (a.outcome == SignOutcome::Signed) ++signs;
    CHECK(cache.stats().signs == signs);
    if (a.outcome == SignOutcome::OverBudget) {
      CHECK(r.length == 0);
      CHECK(out[0] == 0xEE);  // nothing written
    } else {
      REQUIRE(r.length > 0);
      CHECK(parseRrsig({out, r.length})->keyTag == key->keyTag());
    }
  }
  // Without a budget (TCP) a miss signs whatever the bucket holds.
  std::uint8_t out[256];
  CHECK(cache.lookupOrSign(reader, signer, view(3), out).outcome == SignOutcome::Signed);
}
