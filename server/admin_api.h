#pragma once
// The admin HTTP API (docs/admin-api.md): status, drains, failover, pushed
// load, explain, reload, audit, Prometheus metrics and health checks.
// cpp-httplib on its own threads; it never touches the DNS workers: changes
// reach them as snapshots published by the probe thread.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "server/admin_state.h"
#include "server/health_runner.h"
#include "server/metrics.h"
#include "server/serving.h"
#include "zones/config.h"

namespace httplib {
class Server;
}

namespace geodns::server {

struct ApiToken {
  std::string name;    // identity written to the audit log
  std::string secret;  // never logged
};

// Reads a token file: one token per line, "NAME:SECRET" or a bare SECRET
// (named "token-LINE"); blank lines and "#" comments are skipped. Secrets
// must be at least 16 bytes. Returns false with `err` ("file:line: ...").
bool loadTokens(const std::string& path, std::vector<ApiToken>& out, std::string* err);

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
  Metrics* metrics = nullptr;
  Clock* clock = nullptr;
  std::function<ReloadOutcome()> reload;     // serialised with SIGHUP by the caller
  std::function<MetricsExtras()> extras;     // reload counters, start time
  const std::atomic<bool>* ready = nullptr;  // serving (and not stopping)
};

class AdminApi {
 public:
  AdminApi(const zones::AdminConfig& cfg, std::vector<ApiToken> tokens, AdminDeps deps);
  ~AdminApi();
  // Binds and starts serving; false with `err` when the address cannot be bound.
  bool start(std::string* err);
  void stop();
  int port() const noexcept { return port_; }
  // Replaces the accepted tokens (on reload).
  void setTokens(std::vector<ApiToken> tokens);

 private:
  void routes();
  zones::AdminConfig cfg_;
  AdminDeps deps_;
  mutable std::mutex tokensMu_;
  std::vector<ApiToken> tokens_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace geodns::server
