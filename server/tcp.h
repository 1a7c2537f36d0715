#pragma once
// DNS over TCP (RFC 7766): one epoll thread serves every TCP listener and
// connection, non-blocking, with 2-byte framing, pipelining, an idle timeout,
// a connection limit and back-pressure against clients that do not read.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/address.h"
#include "core/ip.h"
#include "server/serving.h"

namespace geodns::server {

int openTcpSocket(const SocketAddress& addr, std::string* err);

enum class AcceptResult {
  Accepted,   // `fd` is a new non-blocking, close-on-exec connection
  Empty,      // nothing waiting
  Failed,     // another error (in `error`)
  Shed,       // out of descriptors: one client was accepted and closed at once
  Exhausted,  // out of descriptors, and even shedding failed: stop polling a moment
};
// Accepts one connection from `listenFd`. When the process or the system is
// out of descriptors (EMFILE, ENFILE) or memory, the pending client would stay
// in the backlog and a level-triggered epoll would report the listener
// forever (a spinning thread): `spareFd` (an open /dev/null kept for this) is
// closed to accept and close that client, then reopened. ECONNABORTED and
// EINTR are retried.
AcceptResult acceptConnection(int listenFd, int& spareFd, int& fd, sockaddr_storage& peer,
                              int& error);

// The number of TCP connections that fits the descriptor limit `softLimit`
// with `openNow` descriptors in use, keeping a quarter of the limit (at least
// 64) for everything else (UDP sockets, the admin API, probes, RocksDB).
// Never below 8, never above `configured`.
std::size_t fitConnectionLimit(std::size_t configured, std::size_t softLimit, std::size_t openNow);

struct QueryCounters;
class QueryLogSink;
class NotifyInbox;

class TcpServer {
 public:
  TcpServer(std::vector<int> listenFds, const SnapshotHolder& snapshots,
            const std::atomic<bool>& stop, QueryCounters* counters = nullptr,
            QueryLogSink* queryLog = nullptr, NotifyInbox* inbox = nullptr);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  void start();
  void join();
  // For /metrics (any thread).
  std::uint64_t acceptErrors() const noexcept { return acceptErrors_.load(); }
  std::uint64_t refused() const noexcept { return refused_.load(); }
  // Connections allowed by the descriptor limit (set by start()).
  std::size_t fdConnectionCap() const noexcept { return fdCap_.load(); }

 private:
  struct Conn;
  void run();
  void drain(const ServingSnapshot* snap);
  void onReadable(Conn& c, const ServingSnapshot& snap);
  bool flush(Conn& c);
  void close(int fd);
  void updateInterest(Conn& c);
  void pumpTransfer(Conn& c);

  std::vector<int> listenFds_;
  const SnapshotHolder& snapshots_;
  const std::atomic<bool>& stop_;
  QueryCounters* counters_;
  QueryLogSink* queryLog_;
  NotifyInbox* inbox_;  // NOTIFYs from primaries go to the secondary controller (may be null)
  std::size_t limitFor(const ServingSnapshot& snap);
  void pauseListeners(bool paused);

  int epfd_ = -1;
  int spareFd_ = -1;
  bool listenersPaused_ = false;
  std::chrono::steady_clock::time_point resumeListeners_{};
  std::atomic<std::uint64_t> acceptErrors_{0}, refused_{0};
  std::atomic<std::size_t> fdCap_{SIZE_MAX};
  std::size_t warnedLimit_ = 0;
  std::vector<std::unique_ptr<Conn>> conns_;  // indexed by fd
  std::size_t open_ = 0;
  std::vector<std::uint8_t> scratch_;
  std::thread thread_;
};

}  // namespace geodns::server
