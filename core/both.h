#pragma once
// Two independent jobs on the two cores: `a` on the calling thread, `b` on a
// second one. The control side's big compiles (the location tries of both
// families, their decision trees, a nearest step's evaluations) split this
// way.
#include <functional>
#include <future>
#include <system_error>
#include <utility>

namespace geodns {

// Starts `job` on a new thread (std::async). Tests pass one that fails.
struct AsyncSpawn {
  std::future<void> operator()(std::function<void()> job) const {
    return std::async(std::launch::async, std::move(job));
  }
};

// Runs `a` here and `b` on a second thread and returns when both are done.
// When no thread can be started (std::system_error: a thread or pids limit),
// both run here, `a` then `b`: slower, never a failed compile. An exception
// from either job propagates, after `b` has finished.
template <class A, class B, class Spawn = AsyncSpawn>
void bothAtOnce(A&& a, B&& b, const Spawn& spawn = Spawn{}) {
  std::future<void> second;
  try {
    second = spawn([&b] { b(); });
  } catch (const std::system_error&) {
    a();
    b();
    return;
  }
  a();  // if it throws, `second`'s destructor waits for b
  second.get();
}

}  // namespace geodns
