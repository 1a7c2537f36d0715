#pragma once
// The admin API's HTTP front: one epoll thread accepts connections and reads
// each request in full (a deadline for headers and body, a cap per client
// and in total) before a worker runs it, so slow clients never hold a
// worker; /healthz and /readyz are run on that thread itself.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/address.h"
#include "core/clock.h"

namespace geodns::server {

// The HTTP front's limits (fixed; docs/admin-api.md).
struct AdminLimits {
  std::size_t maxConnections = 256;  // open at once; more are answered 503 and closed
  std::size_t maxPerClient = 16;     // open at once from one IP address; more get 429
  Duration requestDeadline = std::chrono::seconds(10);  // first byte to last of a request
  Duration idleTimeout = std::chrono::seconds(5);       // keep-alive wait for the next request
  Duration writeDeadline = std::chrono::seconds(10);    // to send a response
  std::size_t maxHeaderBytes = 16 * 1024;
  std::size_t maxBodyBytes = 64 * 1024;
  std::size_t maxRequestsPerConnection = 100;
};

// Counters of the HTTP front (for /metrics).
struct AdminFrontCounters {
  std::atomic<std::uint64_t> refusedPerClient{0}, refusedTotal{0}, timeouts{0}, acceptErrors{0},
      rejected{0};
};

class AdminFront {
 public:
  // Runs one complete request: (raw bytes, peer address, close after it,
  // out: may the connection carry another) -> the raw response.
  using Handler = std::function<std::string(std::string_view, const std::string&, bool, bool*)>;

  AdminFront(const AdminLimits& limits, unsigned threads, AdminFrontCounters& counters,
             Handler handler);
  ~AdminFront();
  AdminFront(const AdminFront&) = delete;
  AdminFront& operator=(const AdminFront&) = delete;
  // Returns the bound port, or -1 with `err`.
  int bind(const SocketAddress& addr, std::string* err);
  // Starts the epoll thread and `threads` workers.
  void start();
  // Joins them and closes every connection; safe to call twice.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace geodns::server
