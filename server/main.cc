// geodnsd: wiring only. Parses the command line, builds the first snapshot,
// opens sockets, starts the workers and handles signals.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/address.h"
#include "core/log.h"
#include "core/rng.h"
#include "health/curl_transport.h"
#include "health/store.h"
#include "server/admin_api.h"
#include "server/admin_state.h"
#include "server/cli.h"
#include "server/ctl.h"
#include "server/explain.h"
#include "server/health_runner.h"
#include "server/metrics.h"
#include "server/query_log.h"
#include "server/rrl.h"
#include "server/serving.h"
#include "server/startup.h"
#include "server/tcp.h"
#include "server/udp.h"

using namespace geodns;
using namespace geodns::server;

namespace {

void printErrors(const ErrorList& errors) {
  for (const auto& e : errors.all()) std::fprintf(stderr, "geodnsd: %s\n", e.str().c_str());
}

std::size_t countRecords(const ServingSnapshot& s) {
  std::size_t n = 0;
  for (const auto& z : s.zones->zones()) n += z->recordCount();
  return n;
}

// Switches every thread to `pw`'s uid, gid and no supplementary groups.
bool dropPrivileges(const RunAs& pw, std::string* err) {
  if (::geteuid() != 0) {
    if (::geteuid() == pw.uid) return true;
    *err = "--user needs root to switch users";
    return false;
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(pw.gid) != 0 || ::setuid(pw.uid) != 0) {
    *err = "cannot switch to user " + pw.name + ": " + std::strerror(errno);
    return false;
  }
  if (::setuid(0) == 0) {  // must not be able to get root back
    *err = "privileges were not dropped";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // `geodnsctl ...` (a link to this binary) and `geodnsd ctl ...` talk to the admin API.
  const std::string self = argv[0] ? argv[0] : "";
  if (self.size() >= 9 && self.compare(self.size() - 9, 9, "geodnsctl") == 0)
    return runCtl(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == "ctl") return runCtl(argc - 1, argv + 1);
  ErrorList argErrors;
  Options opt = parseArgs(argc, argv, argErrors);
  if (!argErrors.empty()) {
    printErrors(argErrors);
    return 2;
  }
  if (opt.command == Command::Help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (opt.command == Command::Version) {
    std::puts("geodnsd 0.1.0");
    return 0;
  }
  log::Level level = log::Level::Info;
  if (!opt.logLevel.empty() && !log::parseLevel(opt.logLevel.c_str(), level)) {
    std::fprintf(stderr, "geodnsd: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  log::Format format = log::Format::Logfmt;
  if (!opt.logFormat.empty() && !log::parseFormat(opt.logFormat.c_str(), format)) {
    std::fprintf(stderr, "geodnsd: --log-format must be logfmt or json\n");
    return 2;
  }
  log::setLevel(level);
  log::setFormat(format);

  // Steps 2 and 3 of the start-up checks (server/startup.h): every error of
  // the config, its zones and its geo data, in one run.
  ErrorList errors;
  LoadedConfig loaded = loadServing(opt, errors);
  const auto& cfg = loaded.config;
  // The config's "log" applies where the command line said nothing.
  if (cfg && opt.logLevel.empty() && cfg->log.level) log::setLevel(*cfg->log.level);
  if (cfg && opt.logFormat.empty() && cfg->log.format) log::setFormat(*cfg->log.format);
  std::shared_ptr<const ServingSnapshot> snap = loaded.snapshot;
  const bool starting = opt.command == Command::Serve || opt.command == Command::CheckConfig;
  // check-config makes every check the server makes before it serves, and a
  // server whose config is broken reports those too: one run lists them all.
  // Only a server with a clean config takes its resources (StartMode::Serve).
  StartResources res;
  if (cfg && starting)
    prepareStart(*cfg, opt,
                 snap && opt.command == Command::Serve ? StartMode::Serve : StartMode::Check, res,
                 errors);
  if (!snap || !errors.empty()) {
    printErrors(errors);
    std::fprintf(stderr, "geodnsd: %zu error(s); nothing served\n", errors.size());
    return 1;
  }
  if (opt.command == Command::Explain) {
    ExplainRequest req;
    req.name = opt.name;
    req.type = opt.type;
    req.json = opt.json;
    std::string err;
    auto client = IpPrefix::parse(opt.client, &err, true);
    auto resolver = IpAddress::parse(opt.resolver);
    if (opt.name.empty() || !client || !resolver) {
      std::fprintf(stderr, "geodnsd explain: needs --name NAME and --client IP[/PREFIX]%s%s\n",
                   err.empty() ? "" : ": ", err.c_str());
      return 2;
    }
    req.client = *client;
    req.clientIsEcs = opt.client.find('/') != std::string::npos;
    req.resolver = *resolver;
    // With a state database, explain decides with the health it records
    // (opened read-only: works beside a running server).
    std::shared_ptr<const ServingSnapshot> explained = snap;
    if (!cfg->gslb.health.database.empty()) {
      std::string serr;
      if (auto st = health::openRocksStore(cfg->gslb.health.database, cfg->gslb.health.history,
                                           true, &serr)) {
        auto withHealth = std::make_shared<ServingSnapshot>(*snap);
        std::string herr;
        withHealth->health = healthFromStore(*st, *snap->gslb, &herr);
        if (!withHealth->health) {
          std::fprintf(stderr, "geodnsd explain: state database %s: %s\n",
                       cfg->gslb.health.database.c_str(), herr.c_str());
          return 1;
        }
        explained = withHealth;
      }
    }
    bool ok = false;
    std::string report = explain(*explained, req, ok);
    std::fputs(report.c_str(), ok ? stdout : stderr);
    return ok ? 0 : 2;
  }
  if (opt.command == Command::Status) {
    const auto& hc = cfg->gslb.health;
    if (hc.database.empty()) {
      std::fprintf(stderr, "geodnsd status: the config has no health.database\n");
      return 1;
    }
    std::string err;
    auto st = health::openRocksStore(hc.database, hc.history, true, &err);
    if (!st) {
      std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
      return 1;
    }
    std::fputs(statusReport(*st, *snap, opt.json).c_str(), stdout);
    return 0;
  }
  if (opt.command == Command::CheckConfig) {
    std::printf("config OK: %zu zone(s), %zu record(s)\n", snap->zones->zones().size(),
                countRecords(*snap));
    return 0;
  }

  // Signals are handled synchronously by this thread; workers never see them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  SnapshotHolder holder;
  SteadyClock clock;
  SplitMixRng rng(static_cast<std::uint64_t>(clock.unixSeconds()) ^
                  static_cast<std::uint64_t>(getpid()));
  health::CurlProbeTransport transport;
  // Resources taken by prepareStart; privileges are dropped once every socket is bound.
  const std::optional<RunAs> runAs = res.runAs;
  std::unique_ptr<health::Store> store = std::move(res.store);
  std::vector<ApiToken> tokens = std::move(res.tokens);
  std::unique_ptr<QueryLog> queryLog = std::move(res.queryLog);
  const auto& hc = cfg->gslb.health;
  // Operator overrides live in the state database; they apply even while the
  // API is switched off.
  std::unique_ptr<AdminState> admin;
  if (store) {
    admin = std::make_unique<AdminState>(*store, clock);
    if (!admin->loadError().empty()) {  // never serve without the drains in force
      std::fprintf(stderr, "geodnsd: %s: cannot read the operator overrides: %s\n",
                   hc.database.c_str(), admin->loadError().c_str());
      return 1;
    }
  }
  HealthRunner healthRunner(holder, clock, rng, transport, store.get(),
                            std::chrono::seconds(hc.maxAgeSec));
  healthRunner.attachAdmin(admin.get());
  healthRunner.prime(snap);  // the first snapshot carries health before any query is answered
  Metrics metrics;
  metrics.track(snap->answers);
  std::atomic<bool> stop{false};
  std::atomic<bool> ready{false};

  // The rate-limit table is sized at start-up; limits follow reloads.
  std::unique_ptr<Rrl> rrl;
  if (cfg->rrl.enabled) rrl = std::make_unique<Rrl>(cfg->rrl.tableSize);
  unsigned workers =
      cfg->workers ? cfg->workers : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<UdpWorker>> udp;
  std::vector<int> tcpFds;
  for (const auto& l : cfg->listen) {
    std::string err;
    auto addr = parseHostPort(l, &err);
    for (unsigned w = 0; w < workers && addr; ++w) {
      int fd = openUdpSocket(*addr, &err);
      if (fd < 0) {
        std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
        return 1;
      }
      udp.push_back(std::make_unique<UdpWorker>(fd, holder, stop,
                                                &metrics.addWorker(Transport::Udp), rrl.get(),
                                                queryLog ? &queryLog->addWorker() : nullptr));
    }
    int tfd = openTcpSocket(*addr, &err);
    if (tfd < 0) {
      std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
      return 1;
    }
    tcpFds.push_back(tfd);
  }
  TcpServer tcp(tcpFds, holder, stop, &metrics.addWorker(Transport::Tcp),
                queryLog ? &queryLog->addWorker() : nullptr);

  // Reloads (SIGHUP and the API) run one at a time; all-or-nothing.
  std::mutex reloadMu;
  std::atomic<std::uint64_t> reloads{0}, reloadFailures{0};
  std::unique_ptr<AdminApi> api;
  auto reload = [&]() -> ReloadOutcome {
    std::lock_guard lock(reloadMu);
    ReloadOutcome out;
    ErrorList reloadErrors;
    LoadedConfig nextLoaded = loadServing(opt, reloadErrors);  // every error in one reply
    const auto& next = nextLoaded.config;
    std::shared_ptr<const ServingSnapshot> nextSnap = nextLoaded.snapshot;
    std::vector<ApiToken> nextTokens;
    std::string tokenErr;
    if (next && next->admin.enabled && !next->admin.tokenFile.empty() &&
        !loadTokens(next->admin.tokenFile, nextTokens, &tokenErr))
      reloadErrors.add(next->admin.tokenFileWhere.empty() ? "admin" : next->admin.tokenFileWhere,
                       tokenErr);
    if (!nextSnap || !reloadErrors.empty()) {
      for (const auto& e : reloadErrors.all()) {
        GEODNS_LOG_ERROR("reload: %s", e.str().c_str());
        out.errors.push_back(e.str());
      }
      GEODNS_LOG_ERROR("reload failed with %zu error(s); still serving the previous data",
                       reloadErrors.size());
      ++reloadFailures;
      return out;
    }
    if (next->listen != cfg->listen || next->workers != cfg->workers ||
        next->admin.listen != cfg->admin.listen || next->admin.enabled != cfg->admin.enabled ||
        next->gslb.health.database != cfg->gslb.health.database || (next->rrl.enabled && !rrl))
      GEODNS_LOG_WARN(
          "reload: changes to listeners, workers, the admin listener, the state database or "
          "turning rrl on take effect only after a restart");
    if (api && !nextTokens.empty()) api->setTokens(std::move(nextTokens));
    metrics.track(nextSnap->answers);
    healthRunner.submit(nextSnap);  // published with its health by the probe thread
    out.ticket = healthRunner.requestPublish();
    out.ok = true;
    ++reloads;
    GEODNS_LOG_INFO("reloaded: %zu zone(s), %zu record(s)", nextSnap->zones->zones().size(),
                    countRecords(*nextSnap));
    return out;
  };

  if (queryLog) queryLog->start();
  for (auto& w : udp) w->start();
  tcp.start();
  healthRunner.start();
  if (cfg->admin.enabled) {
    AdminDeps deps;
    deps.holder = &holder;
    deps.runner = &healthRunner;
    deps.admin = admin.get();
    deps.store = store.get();
    deps.metrics = &metrics;
    deps.clock = &clock;
    deps.reload = reload;
    const double started = static_cast<double>(clock.unixSeconds());
    deps.extras = [&reloads, &reloadFailures, started, &tcp, &holder] {
      MetricsExtras x;
      x.reloads = reloads.load();
      x.reloadFailures = reloadFailures.load();
      x.startUnix = started;
      x.resilience.tcpAcceptErrors = tcp.acceptErrors();
      x.resilience.tcpRefused = tcp.refused();
      x.resilience.tcpConnectionLimit = std::min<std::uint64_t>(
          tcp.fdConnectionCap(), holder.current()->limits.maxTcpConnections);
      return x;
    };
    deps.ready = &ready;
    api = std::make_unique<AdminApi>(cfg->admin, std::move(tokens), deps);
    std::string err;
    if (!api->start(&err)) {
      std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
      stop.store(true);
      healthRunner.stop();
      tcp.join();
      for (auto& w : udp) w->join();
      return 1;
    }
  }
  if (runAs) {
    std::string err;
    if (!dropPrivileges(*runAs, &err)) {
      std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
      ready.store(false);
      if (api) api->stop();
      stop.store(true);
      healthRunner.stop();
      tcp.join();
      for (auto& w : udp) w->join();
      return 1;
    }
    GEODNS_LOG_INFO("running as user %s (uid %u)", opt.user.c_str(),
                    static_cast<unsigned>(runAs->uid));
  }
  ready.store(true);
  std::string listening;
  for (const auto& l : cfg->listen) listening += (listening.empty() ? "" : " ") + l;
  GEODNS_LOG_INFO(
      "ready: %zu zone(s), %zu record(s), %u UDP worker(s) per listener, listening on %s",
      snap->zones->zones().size(), countRecords(*snap), workers, listening.c_str());

  for (;;) {
    timespec tick{1, 0};
    int sig = sigtimedwait(&sigs, nullptr, &tick);
    if (sig == SIGHUP) {
      if (queryLog) queryLog->reopen();
      reload();
    } else if (sig == SIGTERM || sig == SIGINT) {
      GEODNS_LOG_INFO("stopping on signal %d", sig);
      break;
    }
  }
  ready.store(false);
  // Shutdown is bounded: a stuck thread cannot keep the process alive.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(15));
    GEODNS_LOG_ERROR("shutdown did not finish within 15 s; exiting");
    std::_Exit(1);
  }).detach();
  if (api) api->stop();
  stop.store(true);
  healthRunner.stop();
  tcp.join();
  for (auto& w : udp) w->join();
  if (queryLog) queryLog->stop();  // writes what the workers logged last
  GEODNS_LOG_INFO("stopped");
  return 0;
}
