#pragma once
// UDP listeners: one SO_REUSEPORT socket per (listener, worker), each served
// by its own thread with recvmmsg/sendmmsg batches. The query path allocates
// nothing: buffers are made once per worker.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/address.h"
#include "server/serving.h"

namespace geodns::server {

// Opens a UDP socket bound to `addr` with SO_REUSEPORT (and IPV6_V6ONLY for
// IPv6, packet-info for wildcard addresses). Returns -1 and sets *err.
// The options geodnsd sets on its UDP sockets besides SO_REUSEPORT (packet
// info on wildcards, buffers, the receive timeout that lets a worker notice a
// stop): for sockets bound elsewhere (systemd) too.
void configureUdpSocket(int fd, const SocketAddress& addr);
int openUdpSocket(const SocketAddress& addr, std::string* err);

// How long a UDP worker waits before its next recvmmsg, so that datagrams
// gather in the socket and one wake-up and one recvmmsg/sendmmsg pair serve
// more of them (adaptive batching, no busy polling). `n` datagrams came in
// the last batch, `gapNs` after the one before it: the rate just seen. No
// wait when the batch was full (the queue is not empty), when at that rate
// fewer than one more datagram would come during the longest wait (sparse
// traffic: waiting would only add latency), or when `maxWaitNs` is 0.
// Otherwise the time the rest of a full batch takes to arrive at that rate,
// at most `maxWaitNs`.
constexpr std::int64_t udpBatchWaitNs(std::size_t n, std::int64_t gapNs, std::size_t batch,
                                      std::int64_t maxWaitNs) noexcept {
  if (maxWaitNs <= 0 || n == 0 || n >= batch || gapNs <= 0) return 0;
  const auto count = static_cast<std::int64_t>(n);
  if (count * maxWaitNs < gapNs) return 0;  // less than one datagram per longest wait
  const std::int64_t fill = gapNs / count * static_cast<std::int64_t>(batch - n);
  return fill < maxWaitNs ? fill : maxWaitNs;
}

struct QueryCounters;
class Rrl;
class QueryLogSink;
class NotifyInbox;

class UdpWorker {
 public:
  static constexpr std::size_t kBatch = 32;
  // `counters` (may be null) is this worker's own: only its thread writes it.
  // `rrl` (may be null) is shared by all workers; the snapshot says whether
  // it is on and with which limits.
  UdpWorker(int fd, const SnapshotHolder& snapshots, const std::atomic<bool>& stop,
            QueryCounters* counters = nullptr, Rrl* rrl = nullptr, QueryLogSink* queryLog = nullptr,
            NotifyInbox* inbox = nullptr);
  ~UdpWorker();
  UdpWorker(const UdpWorker&) = delete;
  UdpWorker& operator=(const UdpWorker&) = delete;

  void start();
  void join();
  std::uint64_t queries() const noexcept { return queries_.load(std::memory_order_relaxed); }

 private:
  void run() noexcept;
  struct Buffers;
  int fd_;
  const SnapshotHolder& snapshots_;
  const std::atomic<bool>& stop_;
  QueryCounters* counters_;
  Rrl* rrl_;
  QueryLogSink* queryLog_;
  NotifyInbox* inbox_;  // NOTIFYs from primaries go to the secondary controller (may be null)
  std::uint32_t slipCounter_ = 0;
  std::unique_ptr<Buffers> buf_;
  std::thread thread_;
  std::atomic<std::uint64_t> queries_{0};
};

}  // namespace geodns::server
