#pragma once
// The admin HTTP API (docs/admin-api.md): status, drains, failover, pushed
// load, explain, reload, audit, Prometheus metrics and health checks.
//
// Its parts, each callable on its own (all under server/admin/):
//  - tokens.h: the token file and constant-time matching, with scopes;
//  - router.h: cpp-httplib's parser and routes over the raw bytes of one
//    request, reached through AdminApi::handle() (no socket: tests and the
//    fuzz target use it); one handler file per resource (status, drains,
//    failover, load, explain, reload, audit, metrics), sharing handler.h;
//  - front.h: the HTTP front (epoll, limits, deadlines, worker threads);
//  - api.cc (this class): authentication, /healthz, /readyz, the wiring.
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

#include "config/config.h"
#include "core/clock.h"
#include "health/admin_state.h"
#include "health/cluster/fleet.h"
#include "health/store.h"
#include "server/admin/front.h"
#include "server/admin/tokens.h"
#include "server/health_runner.h"
#include "server/metrics.h"
#include "server/serving.h"

namespace geodns::server {

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;
  std::uint64_t ticket = 0;  // publish ticket of the new snapshot (HealthRunner)
};

struct AdminDeps {
  SnapshotHolder* holder = nullptr;
  HealthRunner* runner = nullptr;
  health::AdminState* admin = nullptr;
  // A fleet node: operator changes go to etcd and come back through its
  // watch (null: a single node, changes go to `admin` directly).
  health::cluster::Fleet* fleet = nullptr;
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
