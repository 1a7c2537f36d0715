#include <doctest/doctest.h>

#include "server/udp.h"

using geodns::server::udpBatchWaitNs;

TEST_CASE("a UDP worker waits for a fuller batch only under steady load") {
  constexpr std::size_t kBatch = 32;
  constexpr std::int64_t us = 1000;
  struct Case {
    const char* name;
    std::size_t n;       // datagrams in the last batch
    std::int64_t gapNs;  // since the batch before it
    std::int64_t maxWaitNs;
    std::int64_t want;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"waiting switched off", 3, 60 * us, 0, 0},
           {"a full batch: more are queued, no wait", kBatch, 60 * us, 200 * us, 0},
           {"nothing received (timeout)", 0, 60 * us, 200 * us, 0},
           {"the first batch (no gap yet)", 3, 0, 200 * us, 0},
           {"sparse: one datagram in 1 ms, under one per longest wait", 1, 1000 * us, 200 * us, 0},
           {"just sparse enough to skip: 1 per 200.001 us", 1, 200 * us + 1, 200 * us, 0},
           {"one per longest wait: waits the longest", 1, 200 * us, 200 * us, 200 * us},
           {"40k qps, 2.5 a batch: the batch would fill in 740 us, capped", 2, 50 * us, 200 * us,
            200 * us},
           {"1M qps: the rest of the batch comes in 28 us", 4, 4 * us, 200 * us, 28 * us},
           {"31 of 32: one more is due in 1 us", 31, 31 * us, 200 * us, 1 * us},
       }) {
    CAPTURE(c.name);
    CHECK(udpBatchWaitNs(c.n, c.gapNs, kBatch, c.maxWaitNs) == c.want);
  }
}
