#pragma once
// DNS over TCP (RFC 7766): one epoll thread serves every TCP listener and
// connection, non-blocking, with 2-byte framing, pipelining, an idle timeout,
// a connection limit and back-pressure against clients that do not read.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/address.h"
#include "core/ip.h"
#include "server/serving.h"

namespace geodns::server {

int openTcpSocket(const SocketAddress& addr, std::string* err);

struct QueryCounters;
class QueryLogSink;

class TcpServer {
 public:
  TcpServer(std::vector<int> listenFds, const SnapshotHolder& snapshots,
            const std::atomic<bool>& stop, QueryCounters* counters = nullptr,
            QueryLogSink* queryLog = nullptr);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  void start();
  void join();

 private:
  struct Conn;
  void run();
  void drain(const ServingSnapshot* snap);
  void onReadable(Conn& c, const ServingSnapshot& snap);
  bool flush(Conn& c);
  void close(int fd);
  void updateInterest(Conn& c);

  std::vector<int> listenFds_;
  const SnapshotHolder& snapshots_;
  const std::atomic<bool>& stop_;
  QueryCounters* counters_;
  QueryLogSink* queryLog_;
  int epfd_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;  // indexed by fd
  std::size_t open_ = 0;
  std::vector<std::uint8_t> scratch_;
  std::thread thread_;
};

}  // namespace geodns::server
