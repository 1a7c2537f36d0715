#pragma once
// The admin HTTP API (docs/admin-api.md): status, drains, failover, pushed
// load, explain, reload, audit, Prometheus metrics and health checks.
//
// Three parts, each callable on its own:
//  - tokens: the token file and constant-time matching, with scopes;
//  - the handlers behind cpp-httplib's router, reached through
//    AdminApi::handle() with the raw bytes of one request (no socket: tests
//    and the fuzz target use it);
//  - the HTTP front: one epoll thread accepts connections and reads each
//    request in full (a deadline for headers and body, a cap per client and
//    in total) before a worker runs it, so slow clients never hold a worker;
//    /healthz and /readyz are answered by that thread itself.
// Nothing here touches the DNS workers: changes reach them as snapshots
// published by the probe thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "health/store.h"
#include "server/admin_state.h"
#include "server/health_runner.h"
#include "server/metrics.h"
#include "server/serving.h"
#include "config/config.h"

namespace geodns::server {

struct ApiToken {
  enum class Scope { Read, Write };
  std::string name;    // identity written to the audit log
  std::string secret;  // never logged
  Scope scope = Scope::Write;
};

// Reads a token file: one token per line, "NAME:SECRET", "NAME:SECRET:SCOPE"
// (SCOPE "read" or "write"; without it "write") or a bare SECRET (named
// "token-LINE"); blank lines and "#" comments are skipped; a UTF-8 BOM and
// whitespace around fields are ignored. Names are UTF-8 without control
// characters; secrets are at least 16 visible ASCII characters, each secret
// once. Returns false with `err` ("file:line: ...").
bool loadTokens(const std::string& path, std::vector<ApiToken>& out, std::string* err);
// The same over text already read; `where` names it in errors.
bool parseTokens(std::string_view text, const std::string& where, std::vector<ApiToken>& out,
                 std::string* err);

// Constant-time comparison of a presented token against every secret.
const ApiToken* matchToken(const std::vector<ApiToken>& tokens, const std::string& presented);

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;
  std::uint64_t ticket = 0;  // publish ticket of the new snapshot (HealthRunner)
};

struct AdminDeps {
  SnapshotHolder* holder = nullptr;
  HealthRunner* runner = nullptr;
  AdminState* admin = nullptr;
  health::Store* store = nullptr;  // its condition shows in /readyz and /metrics; may be null
  Metrics* metrics = nullptr;
  Clock* clock = nullptr;
  std::function<ReloadOutcome()> reload;     // serialised with SIGHUP by the caller
  std::function<MetricsExtras()> extras;     // reload counters, start time, TCP counters
  const std::atomic<bool>* ready = nullptr;  // serving (and not stopping)
  // How long a change waits for the probe thread's publish before answering
  // ("published": false after it).
  Duration publishWait = std::chrono::seconds(5);
};

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

class AdminFront;
class AdminRouter;

class AdminApi {
 public:
  AdminApi(const config::AdminConfig& cfg, std::vector<ApiToken> tokens, AdminDeps deps,
           AdminLimits limits = {});
  ~AdminApi();
  // Binds and starts serving; false with `err` when the address cannot be bound.
  bool start(std::string* err);
  void stop();
  int port() const noexcept { return port_; }
  // Replaces the accepted tokens (on reload).
  void setTokens(std::vector<ApiToken> tokens);
  // Runs one complete request (its raw bytes) through the router as if it
  // came from `peer`, and returns the raw response. Any thread; no socket.
  std::string handle(std::string_view request, const std::string& peer = "127.0.0.1");
  const AdminFrontCounters& frontCounters() const noexcept { return counters_; }

 private:
  void routes();
  config::AdminConfig cfg_;
  AdminDeps deps_;
  AdminLimits limits_;
  mutable std::mutex tokensMu_;
  std::vector<ApiToken> tokens_;
  AdminFrontCounters counters_;
  std::unique_ptr<AdminRouter> router_;
  std::unique_ptr<AdminFront> front_;
  int port_ = 0;
};

}  // namespace geodns::server
