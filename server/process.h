#pragma once
// The serving process: start (every resource in order, privileges dropped
// last), reload (SIGHUP and the admin API: serialised, all-or-nothing) and
// one stop sequence, used by a normal stop and by every start that fails
// half-way. main.cc only parses the command and dispatches to serve().
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/clock.h"
#include "core/rng.h"
#include "health/admin_state.h"
#include "health/curl_transport.h"
#include "health/store.h"
#include "server/admin/api.h"
#include "server/cli.h"
#include "server/fleet_node.h"
#include "server/handoff.h"
#include "server/health_runner.h"
#include "server/metrics.h"
#include "server/notifier.h"
#include "server/query_log.h"
#include "server/rrl.h"
#include "server/secondary.h"
#include "server/serving.h"
#include "server/startup.h"
#include "server/tcp.h"
#include "server/udp.h"

namespace geodns::server {

// Records in all zones of a snapshot (for log lines and check-config).
std::size_t countRecords(const ServingSnapshot& s);

class Process {
 public:
  // `opt` must outlive the process (reloads read the same files again);
  // `res` is what prepareStart opened in Serve mode.
  Process(const Options& opt, config::ServerConfig cfg, std::shared_ptr<const ServingSnapshot> snap,
          StartResources res);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Opens the DNS sockets, starts the workers, the probe thread and the admin
  // API, then drops privileges. False after printing why ("geodnsd: ...");
  // whatever started has been stopped again then. Call once, from the thread
  // that blocked the signals (the threads started here inherit the mask).
  bool start();
  // Right after start(), on the signal thread: the geo compile the start-up
  // snapshot deferred (limits.defer_geo_compile_nodes), published like a
  // reload unless a reload published a newer config first.
  void compileDeferred();
  // Loads config, zones, geo data and tokens again; publishes only when all
  // of it is clean. One at a time (SIGHUP and POST /v1/reload).
  ReloadOutcome reload();
  // SIGHUP: reopens the query log, then reloads.
  void hangup();
  // Once a second from the signal thread: when the static signatures of a
  // signed zone reach their refresh time (signature expiration - refresh_s),
  // loads and signs everything again and publishes it (a reload). A failed
  // attempt is retried a minute later; the old signatures keep serving.
  void maintain();
  // Not ready any more, then the admin API, the DNS workers, the probe
  // thread, and the query log last (it writes what the workers logged).
  // Idempotent.
  void stop();

 private:
  bool openListeners();
  bool startAdminApi();
  // The running side of a replace: hands the sockets to a successor, stops
  // this process (SIGTERM to itself) once the successor says it serves.
  void controlLoop();
  // Publishes a built snapshot (with its health, by the probe thread) and
  // sends NOTIFYs for changed serials; the publish ticket. Under reloadMu_.
  std::uint64_t publish(const std::shared_ptr<const ServingSnapshot>& nextSnap,
                        const std::shared_ptr<const ServingSnapshot>& served);
  // Secondary zones: starts the controller when `cfg` has any, and hands it
  // the zones of `snap`. Under reloadMu_ (or at start).
  void startSecondaries(const config::ServerConfig& cfg, const ServingSnapshot& snap);
  // The controller transferred a zone (or one expired): builds the zones
  // again from the config served now (not the file: only a reload reads it).
  void republishZones();
  // Records the serial each zone of `snap` is served with in the state
  // database (a restart goes on from it: zones/load.h PersistedSerials).
  void persistSerials(const ServingSnapshot& snap);

  const Options& opt_;
  const config::ServerConfig cfg_;
  // The config served now (cfg_ at start, then each successful reload's).
  std::shared_ptr<const config::ServerConfig> servedConfig_;
  std::shared_ptr<const ServingSnapshot> snap_;
  const std::optional<RunAs> runAs_;
  std::unique_ptr<health::Store> store_;
  std::vector<ApiToken> tokens_;
  std::unique_ptr<QueryLog> queryLog_;

  SnapshotHolder holder_;
  SteadyClock clock_;
  SplitMixRng rng_;
  health::CurlProbeTransport transport_;
  std::unique_ptr<health::AdminState> admin_;
  std::unique_ptr<HealthRunner> healthRunner_;
  std::unique_ptr<FleetNode> fleet_;  // config "cluster" only; stopped before the runner
  Metrics metrics_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ready_{false};
  std::unique_ptr<Rrl> rrl_;
  unsigned workers_ = 1;
  std::vector<std::unique_ptr<UdpWorker>> udp_;
  std::vector<int> tcpFds_;
  std::unique_ptr<TcpServer> tcp_;
  std::unique_ptr<AdminApi> api_;
  SplitMixRng notifyRng_{static_cast<std::uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull};
  std::unique_ptr<NotifierThread> notifier_;
  NotifyInbox inbox_;  // NOTIFYs the workers accepted from primaries
  SplitMixRng secondaryRng_{static_cast<std::uint64_t>(::getpid()) * 0xD1B54A32D192ED03ull};
  std::unique_ptr<SecondaryThread> secondary_;  // its thread runs with secondary zones only
  std::atomic<bool> secondaryStarted_{false};
  // Replace and socket activation (server/handoff.h).
  struct Listening {
    int fd;
    SocketKind kind;
    std::string name;
  };
  std::vector<Listening> listening_;  // every DNS socket this process reads, for a successor
  UniqueFd replaceConn_;              // --replace: the connection to the process we replace
  UniqueFd controlListen_;            // --control-socket
  std::thread controlThread_;         // NOTIFY out to secondaries (its own Rng: own thread)

  std::mutex reloadMu_;
  std::atomic<std::uint64_t> reloads_{0}, reloadFailures_{0};
  // When (unix seconds) maintain() hands the heap's free pages back to the
  // system: a few seconds after a publish that replaced a config (the old
  // one is freed once the workers moved on); 0 = nothing pending.
  std::atomic<std::int64_t> trimAt_{0};
  bool running_ = false;  // threads started; stop() has work to do
  std::int64_t nextResignTry_ = 0;
};

// Blocks SIGHUP/SIGTERM/SIGINT in the calling thread, so that every thread
// it starts afterwards inherits the mask. `geodnsd serve` calls it first thing
// in main(): libraries start threads during the load (RocksDB's background
// pool opens with the state database), and a thread that leaves SIGTERM
// unblocked takes the signal's default action (the whole process dies at
// once, no clean stop) whenever the signal thread is not in sigtimedwait.
void blockServeSignals();

// `geodnsd serve`: blocks SIGHUP/SIGTERM/SIGINT, starts the process, handles
// signals on this thread until SIGTERM or SIGINT, stops. Exit status.
int serve(const Options& opt, config::ServerConfig cfg, std::shared_ptr<const ServingSnapshot> snap,
          StartResources res);

}  // namespace geodns::server
