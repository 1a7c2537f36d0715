#pragma once
// Counters for /metrics. The query path only bumps relaxed atomics that its
// own thread writes (one QueryCounters per worker thread, and that worker's
// row of each config's AnswerCounters); everything else is read at scrape
// time.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "server/engine.h"

namespace geodns::server {

// Query types counted by name; others are "other".
inline constexpr std::uint16_t kCountedQtypes[] = {1,  2,  5,  6,  12, 15, 16,  28,
                                                   33, 35, 43, 48, 64, 65, 255, 257};
inline constexpr std::size_t kQtypeSlots = std::size(kCountedQtypes) + 1;
inline constexpr std::size_t kRcodeSlots = 24;  // 0..22 by value, 23 = other

inline constexpr std::size_t kNoSlot = static_cast<std::size_t>(-1);

// One per worker thread; only that thread writes.
struct QueryCounters {
  std::atomic<std::uint64_t> rcode[kRcodeSlots] = {};
  std::atomic<std::uint64_t> qtype[kQtypeSlots] = {};
  std::atomic<std::uint64_t> dropped{0}, truncated{0}, ecs{0};
  std::atomic<std::uint64_t> rrlDropped{0}, rrlSlipped{0};
  std::atomic<std::uint64_t> dnssec{0}, signFailures{0}, signBudgetExhausted{0};
  // UDP only: recvmmsg calls that returned datagrams, the datagrams they
  // returned, and sendmmsg calls (batch size = datagrams / batches); the
  // waits for a fuller batch (limits.udp_batch_wait_us).
  std::atomic<std::uint64_t> udpBatches{0}, udpDatagrams{0}, udpSendCalls{0}, udpBatchWaits{0};
  Transport transport = Transport::Udp;
  std::size_t slot = kNoSlot;  // its row in every AnswerCounters (Metrics::addWorker)

  void record(const QueryFacts& f) noexcept;
};

// A (pool, region, member) answer counter's labels.
using MemberCellName = gslb::MemberCell;

// Totals by name, summed over rows and config generations.
struct AnswerTotals {
  std::map<std::pair<std::string, std::string>, std::uint64_t> byRegion;  // (pool, region)
  std::map<std::string, std::uint64_t> unanswered;                        // by pool
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> byMember;
};

// Answers by pool and region, queries a pool left unanswered, and records by
// member, for one config generation. Each worker writes its own row
// (single-writer: a plain load and store, no locked add); a counter without
// a row (more workers than kMaxRows, or one not registered with Metrics)
// shares one row with locked adds.
class AnswerCounters {
 public:
  AnswerCounters(std::vector<std::string> pools, std::vector<std::string> regions,
                 std::vector<MemberCellName> members);
  // Control thread: a row for worker `slot`, before the worker can see this
  // config (idempotent).
  void addRow(std::size_t slot);
  // Worker threads: one query's pool facts. `bindingPool` is the pool of the
  // name's binding (counted unanswered when it fell back).
  void count(std::size_t slot, const QueryFacts& f, std::int32_t bindingPool) noexcept;
  void addTo(AnswerTotals& out) const;

 private:
  using Cell = std::atomic<std::uint64_t>;
  static constexpr std::size_t kMaxRows = 512;
  Cell* newRow() const;
  std::vector<std::string> pools_, regions_;
  std::vector<MemberCellName> members_;
  std::size_t regionCells_;  // pools x (regions + 1: the last column counts unanswered)
  std::size_t cells_;        // regionCells_ + one per member cell
  std::unique_ptr<std::atomic<Cell*>[]> rows_;  // by worker slot; null until addRow
  std::mutex mu_;                               // guards owned_
  std::vector<std::unique_ptr<Cell[]>> owned_;
  std::unique_ptr<Cell[]> shared_;
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
// A fleet node's view of etcd (config "cluster" only).
struct ClusterExtras {
  bool enabled = false;
  bool connected = false;
  std::int64_t appliedRevision = 0;
  std::int64_t storeRevision = 0;
  std::uint64_t errors = 0, writes = 0, watchEvents = 0, watchBytes = 0, resyncs = 0;
  std::size_t nodes = 0;
};

// Secondary zones (config "primary" only): the controller's counters and
// each zone's state.
struct SecondaryExtras {
  bool enabled = false;
  std::uint64_t checks = 0, transfers = 0, failures = 0, notifies = 0, expired = 0;
  struct Zone {
    std::string origin;
    bool available = false;  // a copy is served (not missing, not expired)
    std::uint32_t serial = 0;
  };
  std::vector<Zone> zones;
};

struct MetricsExtras {
  std::map<std::string, std::uint64_t> failovers;                  // by pool
  std::map<std::string, std::uint64_t> adminActions;               // by action
  std::vector<std::pair<std::string, std::string>> activeRegions;  // pool -> region
  std::uint64_t reloads = 0, reloadFailures = 0;
  double startUnix = 0;
  ResilienceExtras resilience;
  ClusterExtras cluster;
  SecondaryExtras secondary;
};

class Metrics {
 public:
  // Control thread, before the workers start.
  QueryCounters& addWorker(Transport t);
  // Each config generation's answer counters (start-up and every reload),
  // before the snapshot that holds them is published: every worker added so
  // far gets its row (later workers get theirs in addWorker).
  void track(std::shared_ptr<AnswerCounters> counters);
  std::string render(const ServingSnapshot& snap, const MetricsExtras& extras);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<QueryCounters>> workers_;
  std::vector<std::shared_ptr<AnswerCounters>> live_;
  AnswerTotals retired_;
  void foldRetired();
};

}  // namespace geodns::server
