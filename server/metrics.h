#pragma once
// Counters for /metrics. The query path only bumps relaxed atomics it owns
// (one QueryCounters per worker thread) or shards of a per-config
// AnswerCounters; everything else is read at scrape time.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "server/engine.h"

namespace geodns::server {

// Query types counted by name; others are "other".
inline constexpr std::uint16_t kCountedQtypes[] = {1,  2,  5,  6,  12, 15, 16,  28,
                                                   33, 35, 43, 48, 64, 65, 255, 257};
inline constexpr std::size_t kQtypeSlots = std::size(kCountedQtypes) + 1;
inline constexpr std::size_t kRcodeSlots = 24;  // 0..22 by value, 23 = other

// One per worker thread; only that thread writes.
struct QueryCounters {
  std::atomic<std::uint64_t> rcode[kRcodeSlots] = {};
  std::atomic<std::uint64_t> qtype[kQtypeSlots] = {};
  std::atomic<std::uint64_t> dropped{0}, truncated{0}, ecs{0};
  std::atomic<std::uint64_t> rrlDropped{0}, rrlSlipped{0};
  Transport transport = Transport::Udp;

  void record(const QueryFacts& f) noexcept;
};

// Answers by pool and region for one config generation. Workers share it, so
// it is sharded by thread to keep them off each other's cache lines.
class AnswerCounters {
 public:
  AnswerCounters(std::vector<std::string> pools, std::vector<std::string> regions);
  void add(std::int32_t pool, std::int32_t region, bool allDown) noexcept;
  // (pool, region) -> count; region "" = no region (all down, NODATA).
  void addTo(std::map<std::pair<std::string, std::string>, std::uint64_t>& out,
             std::map<std::string, std::uint64_t>& allDown) const;

 private:
  static constexpr std::size_t kShards = 4;
  std::vector<std::string> pools_, regions_;
  std::size_t cells_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> shards_[kShards];
};

// Counts one query (worker threads; allocation-free).
void countQuery(const ServingSnapshot& snap, const QueryFacts& f, QueryCounters& c) noexcept;

// Degraded paths outside the query path: the state database, TCP accept
// and the admin API's front (rendered after everything else).
struct ResilienceExtras {
  bool hasStore = false;  // a state database is configured
  bool storeWritable = true;
  std::uint64_t storeErrors = 0, storeRecoveries = 0;
  std::uint64_t tcpAcceptErrors = 0, tcpRefused = 0, tcpConnectionLimit = 0;
  std::uint64_t adminRefusedPerClient = 0, adminRefusedTotal = 0, adminTimeouts = 0,
                adminAcceptErrors = 0, adminRejected = 0;
};

// What /metrics shows beyond the counters it owns.
struct MetricsExtras {
  std::map<std::string, std::uint64_t> failovers;                  // by pool
  std::map<std::string, std::uint64_t> adminActions;               // by action
  std::vector<std::pair<std::string, std::string>> activeRegions;  // pool -> region
  std::uint64_t reloads = 0, reloadFailures = 0;
  double startUnix = 0;
  ResilienceExtras resilience;
};

class Metrics {
 public:
  // Control thread, before the workers start.
  QueryCounters& addWorker(Transport t);
  // Each config generation's answer counters (start-up and every reload).
  void track(std::shared_ptr<AnswerCounters> counters);
  std::string render(const ServingSnapshot& snap, const MetricsExtras& extras);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<QueryCounters>> workers_;
  std::vector<std::shared_ptr<AnswerCounters>> live_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> retired_;
  std::map<std::string, std::uint64_t> retiredAllDown_;
  void foldRetired();
};

}  // namespace geodns::server
