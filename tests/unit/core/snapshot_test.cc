#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/snapshot.h"

using namespace geodns;

namespace {
struct Tracked {
  int value;
  std::atomic<int>* freed;
  ~Tracked() { freed->fetch_add(1); }
};
}  // namespace

TEST_CASE("readers see new generations; the publisher frees retired snapshots") {
  std::atomic<int> freed{0};
  Snapshot<Tracked> s;
  s.publish(std::make_shared<const Tracked>(Tracked{1, &freed}));
  freed = 0;  // the temporary Tracked above was destroyed once
  Snapshot<Tracked>::Reader reader(s);
  CHECK(reader.refresh()->value == 1);
  s.publish(std::make_shared<const Tracked>(Tracked{2, &freed}));
  freed = 0;
  CHECK(s.retiredCount() == 1);  // the reader still holds generation 1
  CHECK(reader.get()->value == 1);
  CHECK(reader.refresh()->value == 2);
  CHECK(freed == 0);  // the worker let go, but did not free it
  s.collect();
  CHECK(freed == 1);  // freed by the publisher
  CHECK(s.retiredCount() == 0);
}

TEST_CASE("concurrent readers never see a torn snapshot") {
  struct Pair {
    int a, b;
  };
  Snapshot<Pair> s;
  s.publish(std::make_shared<const Pair>(Pair{0, 0}));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      Snapshot<Pair>::Reader r(s);
      while (!stop) {
        const Pair* p = r.refresh();
        if (p->a != p->b) ++bad;
      }
    });
  for (int i = 1; i <= 2000; ++i) s.publish(std::make_shared<const Pair>(Pair{i, i}));
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(bad == 0);
}
