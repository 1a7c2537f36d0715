#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/both.h"

using namespace geodns;

namespace {
// A spawn that cannot start a thread, as under a pids limit.
struct NoThreads {
  std::future<void> operator()(std::function<void()>) const {
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
  }
};
}  // namespace

TEST_CASE("bothAtOnce: both jobs run, the second on its own thread") {
  std::thread::id here = std::this_thread::get_id(), ranA, ranB;
  bothAtOnce([&] { ranA = std::this_thread::get_id(); },
             [&] { ranB = std::this_thread::get_id(); });
  CHECK(ranA == here);
  CHECK(ranB != here);
  CHECK(ranB != std::thread::id{});
}

TEST_CASE("bothAtOnce: without threads both run here, a then b") {
  std::vector<char> order;
  std::thread::id here = std::this_thread::get_id(), ranB;
  bothAtOnce([&] { order.push_back('a'); },
             [&] {
               order.push_back('b');
               ranB = std::this_thread::get_id();
             },
             NoThreads{});
  CHECK(order == std::vector<char>{'a', 'b'});
  CHECK(ranB == here);
}

TEST_CASE("bothAtOnce: an exception propagates after the second job has finished") {
  std::atomic<bool> bDone{false};
  CHECK_THROWS_AS(bothAtOnce([] { throw std::runtime_error("a failed"); },
                             [&] {
                               std::this_thread::sleep_for(std::chrono::milliseconds(50));
                               bDone = true;
                             }),
                  std::runtime_error);
  CHECK(bDone);
  CHECK_THROWS_AS(bothAtOnce([] {}, [] { throw std::runtime_error("b failed"); }),
                  std::runtime_error);
}
