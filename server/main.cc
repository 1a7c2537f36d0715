// geodnsd: wiring only. Parses the command line, builds the first snapshot,
// opens sockets, starts the workers and handles signals.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "core/address.h"
#include "core/log.h"
#include "core/rng.h"
#include "health/curl_transport.h"
#include "health/store.h"
#include "server/cli.h"
#include "server/explain.h"
#include "server/health_runner.h"
#include "server/serving.h"
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

}  // namespace

int main(int argc, char** argv) {
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
  log::Level level;
  if (!log::parseLevel(opt.logLevel.c_str(), level)) {
    std::fprintf(stderr, "geodnsd: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  log::setLevel(level);

  ErrorList errors;
  auto cfg = resolveConfig(opt, errors);
  std::shared_ptr<const ServingSnapshot> snap;
  if (cfg) snap = buildSnapshot(*cfg, errors);
  if (!snap) {
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
        withHealth->health = healthFromStore(*st, *snap->gslb);
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
  std::unique_ptr<health::Store> store;
  const auto& hc = cfg->gslb.health;
  if (!hc.database.empty()) {
    std::string err;
    store = health::openRocksStore(hc.database, hc.history, false, &err);
    if (!store) {
      std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
      return 1;
    }
  }
  HealthRunner healthRunner(holder, clock, rng, transport, store.get(),
                            std::chrono::seconds(hc.maxAgeSec));
  healthRunner.prime(snap);  // the first snapshot carries health before any query is answered
  std::atomic<bool> stop{false};

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
      udp.push_back(std::make_unique<UdpWorker>(fd, holder, stop));
    }
    int tfd = openTcpSocket(*addr, &err);
    if (tfd < 0) {
      std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
      return 1;
    }
    tcpFds.push_back(tfd);
  }
  TcpServer tcp(tcpFds, holder, stop);
  for (auto& w : udp) w->start();
  tcp.start();
  healthRunner.start();
  std::string listening;
  for (const auto& l : cfg->listen) listening += (listening.empty() ? "" : " ") + l;
  GEODNS_LOG_INFO(
      "ready: %zu zone(s), %zu record(s), %u UDP worker(s) per listener, listening on %s",
      snap->zones->zones().size(), countRecords(*snap), workers, listening.c_str());

  for (;;) {
    timespec tick{1, 0};
    int sig = sigtimedwait(&sigs, nullptr, &tick);
    if (sig == SIGHUP) {
      ErrorList reloadErrors;
      auto next = resolveConfig(opt, reloadErrors);
      std::shared_ptr<const ServingSnapshot> nextSnap;
      if (next) nextSnap = buildSnapshot(*next, reloadErrors);
      if (!nextSnap) {
        for (const auto& e : reloadErrors.all()) GEODNS_LOG_ERROR("reload: %s", e.str().c_str());
        GEODNS_LOG_ERROR("reload failed with %zu error(s); still serving the previous data",
                         reloadErrors.size());
        continue;
      }
      if (next->listen != cfg->listen || next->workers != cfg->workers)
        GEODNS_LOG_WARN("reload: listener and worker changes take effect only after a restart");
      healthRunner.submit(nextSnap);  // published with its health by the probe thread
      GEODNS_LOG_INFO("reloaded: %zu zone(s), %zu record(s)", nextSnap->zones->zones().size(),
                      countRecords(*nextSnap));
    } else if (sig == SIGTERM || sig == SIGINT) {
      GEODNS_LOG_INFO("stopping on signal %d", sig);
      break;
    }
  }
  stop.store(true);
  healthRunner.stop();
  tcp.join();
  for (auto& w : udp) w->join();
  GEODNS_LOG_INFO("stopped");
  return 0;
}
