#include "server/process.h"

#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/address.h"
#include "core/log.h"

namespace geodns::server {

std::size_t countRecords(const ServingSnapshot& s) {
  std::size_t n = 0;
  for (const auto& z : s.zones->zones()) n += z->recordCount();
  return n;
}

namespace {

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

Process::Process(const Options& opt, config::ServerConfig cfg,
                 std::shared_ptr<const ServingSnapshot> snap, StartResources res)
    : opt_(opt),
      cfg_(std::move(cfg)),
      servedConfig_(std::make_shared<const config::ServerConfig>(cfg_)),
      snap_(std::move(snap)),
      runAs_(res.runAs),
      store_(std::move(res.store)),
      tokens_(std::move(res.tokens)),
      queryLog_(std::move(res.queryLog)),
      rng_(static_cast<std::uint64_t>(clock_.unixSeconds()) ^
           static_cast<std::uint64_t>(getpid())) {
  // Built before any thread can read it (/metrics); started only with secondary zones.
  secondary_ = std::make_unique<SecondaryThread>(clock_, secondaryRng_, inbox_,
                                                 [this] { republishZones(); });
}

Process::~Process() {
  stop();
}

bool Process::start() {
  const auto& hc = cfg_.gslb.health;
  // Operator overrides live in the state database; they apply even while the
  // API is switched off.
  if (store_) {
    admin_ = std::make_unique<health::AdminState>(*store_, clock_);
    if (!admin_->loadError().empty()) {  // never serve without the drains in force
      std::fprintf(stderr, "geodnsd: %s: cannot read the operator overrides: %s\n",
                   hc.database.c_str(), admin_->loadError().c_str());
      return false;
    }
  }
  healthRunner_ = std::make_unique<HealthRunner>(holder_, clock_, rng_, transport_, store_.get(),
                                                 std::chrono::seconds(hc.maxAgeSec));
  healthRunner_->attachAdmin(admin_.get());
  if (cfg_.cluster.enabled) {
    // The config requires the state database, so admin_ exists: the last
    // applied shared state is in it, and serving starts from it even when
    // etcd cannot be reached now (fail static).
    std::string err;
    if (admin_)
      fleet_ = FleetNode::create(cfg_.cluster, hc.quorum, clock_, *admin_, *healthRunner_, &err);
    if (!fleet_) {
      std::fprintf(stderr, "geodnsd: %s\n", admin_ ? err.c_str() : "cluster needs health.database");
      return false;
    }
    healthRunner_->attachFleet(&fleet_->fleet());
    transport_.setUserAgent("geodnsd-probe/0.1 (node " + cfg_.cluster.node + ")");
  }
  healthRunner_->prime(snap_);  // the first snapshot carries health before any query is answered
  metrics_.track(snap_->answers);

  if (!openListeners()) return false;

  // Everything that binds happens first, then --user drops root, and only then
  // do the threads start: no query is ever answered, and no probe sent, as root.
  running_ = true;  // from here stop() tears down whatever was started
  if (cfg_.admin.enabled && !startAdminApi()) {
    stop();
    return false;
  }
  if (runAs_) {
    std::string err;
    if (!dropPrivileges(*runAs_, &err)) {
      std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
      stop();
      return false;
    }
    GEODNS_LOG_INFO("running as user %s (uid %u)", opt_.user.c_str(),
                    static_cast<unsigned>(runAs_->uid));
  }
  if (queryLog_) queryLog_->start();
  for (auto& w : udp_) w->start();
  tcp_->start();
  healthRunner_->start();
  if (fleet_) fleet_->start();  // after the probe thread: applying waits for its publish
  notifier_ = std::make_unique<NotifierThread>(clock_, notifyRng_);
  notifier_->start();
  // A (re)started primary tells its secondaries (they compare serials).
  notifyChangedZones(notifier_->notifier(), nullptr, *snap_);
  startSecondaries(cfg_, *snap_);
  persistSerials(*snap_);
  ready_.store(true);
  std::string notifyErr;
  if (replaceConn_) {
    // We serve: the old process may stop reading (it answers what it holds).
    if (::send(replaceConn_.get(), "STOP", 4, MSG_NOSIGNAL) != 4)
      GEODNS_LOG_WARN("replace: cannot tell the old process to stop: %s", std::strerror(errno));
    replaceConn_.reset();
    // Under systemd the successor becomes the service's main process.
    if (!sdNotifyFromEnvironment("MAINPID=" + std::to_string(::getpid()) + "\nREADY=1", &notifyErr))
      GEODNS_LOG_WARN("sd_notify: %s", notifyErr.c_str());
  } else if (!sdNotifyFromEnvironment("READY=1", &notifyErr)) {
    GEODNS_LOG_WARN("sd_notify: %s", notifyErr.c_str());
  }
  if (!opt_.controlSocket.empty()) {
    std::string err;
    controlListen_ = listenUnix(opt_.controlSocket, &err);
    if (!controlListen_)
      GEODNS_LOG_ERROR("control socket: %s (no replace possible)", err.c_str());
    else
      controlThread_ = std::thread([this] { controlLoop(); });
  }
  std::string listening;
  for (const auto& l : cfg_.listen) listening += (listening.empty() ? "" : " ") + l;
  GEODNS_LOG_INFO(
      "ready: %zu zone(s), %zu record(s), %u UDP worker(s) per listener, listening on %s",
      snap_->zones->zones().size(), countRecords(*snap_), workers_, listening.c_str());
  // The load freed its parsed records, some in the second parse thread's
  // malloc arena, which glibc keeps: hand the pages back (1M records: 16 MB).
  trimAt_.store(clock_.unixSeconds() + 2);
  return true;
}

bool Process::openListeners() {
  // The rate-limit table is sized at start-up; limits follow reloads.
  if (cfg_.rrl.enabled) rrl_ = std::make_unique<Rrl>(cfg_.rrl.tableSize);
  workers_ = cfg_.workers ? cfg_.workers : std::max(1u, std::thread::hardware_concurrency());
  // Sockets bound by someone else: the process we replace, or systemd.
  std::vector<ListenSocket> taken;
  std::string err;
  if (opt_.replace) {
    if (opt_.controlSocket.empty()) {
      std::fprintf(stderr, "geodnsd: --replace needs --control-socket PATH\n");
      return false;
    }
    replaceConn_ = connectUnix(opt_.controlSocket, &err);
    if (!replaceConn_ ||
        !receiveSockets(replaceConn_.get(), taken, std::chrono::seconds(10), &err)) {
      std::fprintf(stderr, "geodnsd: replace: %s\n", err.c_str());
      return false;
    }
    GEODNS_LOG_INFO("replace: took %zu listening socket(s) from %s", taken.size(),
                    opt_.controlSocket.c_str());
  } else if (!listenFdsFromEnvironment(taken, &err)) {
    std::fprintf(stderr, "geodnsd: socket activation: %s\n", err.c_str());
    return false;
  } else if (!taken.empty()) {
    GEODNS_LOG_INFO("socket activation: %zu socket(s) from systemd", taken.size());
  }
  auto addUdp = [&](int fd, const std::string& name) {
    udp_.push_back(std::make_unique<UdpWorker>(
        fd, holder_, stop_, &metrics_.addWorker(Transport::Udp), rrl_.get(),
        queryLog_ ? &queryLog_->addWorker() : nullptr, &inbox_));
    listening_.push_back({fd, SocketKind::Udp, name});
  };
  for (const auto& l : cfg_.listen) {
    auto addr = parseHostPort(l, &err);
    if (!addr) {
      std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
      return false;
    }
    // Every UDP socket taken for this address is read (a socket nobody reads
    // would swallow its share of the SO_REUSEPORT group's queries).
    bool haveUdp = false, haveTcp = false;
    for (auto& t : taken) {
      if (!t.fd || t.address.str() != addr->str()) continue;
      if (t.kind == SocketKind::Udp) {
        configureUdpSocket(t.fd.get(), t.address);  // systemd's sockets lack our options
        addUdp(t.fd.release(), l);
        haveUdp = true;
      } else if (!haveTcp) {
        // The TCP thread accepts until EAGAIN: the listener must not block.
        ::fcntl(t.fd.get(), F_SETFL, ::fcntl(t.fd.get(), F_GETFL) | O_NONBLOCK);
        tcpFds_.push_back(t.fd.get());
        listening_.push_back({t.fd.release(), SocketKind::Tcp, l});
        haveTcp = true;
      }
    }
    for (unsigned w = 0; w < workers_ && !haveUdp; ++w) {
      int fd = openUdpSocket(*addr, &err);
      if (fd < 0) {
        std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
        return false;
      }
      addUdp(fd, l);
    }
    if (!haveTcp) {
      int tfd = openTcpSocket(*addr, &err);
      if (tfd < 0) {
        std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
        return false;
      }
      tcpFds_.push_back(tfd);
      listening_.push_back({tfd, SocketKind::Tcp, l});
    }
  }
  for (auto& t : taken)
    if (t.fd)
      GEODNS_LOG_WARN("%s socket %s is not a configured listener: closed", socketKindText(t.kind),
                      t.address.str().c_str());
  tcp_ = std::make_unique<TcpServer>(tcpFds_, holder_, stop_, &metrics_.addWorker(Transport::Tcp),
                                     queryLog_ ? &queryLog_->addWorker() : nullptr, &inbox_);
  return true;
}

void Process::controlLoop() {
  while (!stop_.load()) {
    std::string err;
    UniqueFd conn = acceptUnix(controlListen_.get(), std::chrono::milliseconds(200), &err);
    if (!conn) continue;
    std::vector<ListenSocket> out;
    for (const auto& l : listening_) {
      ListenSocket s;
      s.fd = UniqueFd(::fcntl(l.fd, F_DUPFD_CLOEXEC, 0));
      s.kind = l.kind;
      s.name = l.name;
      SocketKind kind;
      if (!s.fd || !describeSocket(s.fd.get(), kind, s.address, &err)) {
        GEODNS_LOG_ERROR("replace: cannot pass %s: %s", l.name.c_str(), err.c_str());
        continue;
      }
      out.push_back(std::move(s));
    }
    if (!sendSockets(conn.get(), out, &err)) {
      GEODNS_LOG_ERROR("replace: cannot hand the sockets over: %s", err.c_str());
      continue;
    }
    GEODNS_LOG_INFO("replace: %zu socket(s) handed to a successor; serving until it is ready",
                    out.size());
    // Until the successor serves (or goes away), this process keeps reading
    // the very same sockets: no query waits on nobody.
    char msg[16];
    ssize_t n = -1;
    const auto deadline = monotonicNow() + std::chrono::seconds(120);
    while (!stop_.load() && monotonicNow() < deadline) {
      pollfd p{conn.get(), POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      n = ::recv(conn.get(), msg, sizeof msg, 0);
      break;
    }
    if (n == 4 && std::memcmp(msg, "STOP", 4) == 0) {
      GEODNS_LOG_INFO("replace: the successor serves; stopping");
      ::kill(::getpid(), SIGTERM);  // the normal stop: drains TCP, then exits 0
      return;
    }
    GEODNS_LOG_WARN("replace: the successor went away before serving; still serving");
  }
}

bool Process::startAdminApi() {
  AdminDeps deps;
  deps.holder = &holder_;
  deps.runner = healthRunner_.get();
  deps.admin = admin_.get();
  deps.fleet = fleet_ ? &fleet_->fleet() : nullptr;
  deps.store = store_.get();
  deps.metrics = &metrics_;
  deps.clock = &clock_;
  deps.reload = [this] { return reload(); };
  const double started = static_cast<double>(clock_.unixSeconds());
  deps.extras = [this, started] {
    MetricsExtras x;
    x.reloads = reloads_.load();
    x.reloadFailures = reloadFailures_.load();
    x.startUnix = started;
    x.resilience.tcpAcceptErrors = tcp_->acceptErrors();
    x.resilience.tcpRefused = tcp_->refused();
    if (secondaryStarted_.load()) {
      const auto st = secondary_->stats();
      x.secondary.enabled = true;
      x.secondary.checks = st.checks;
      x.secondary.transfers = st.transfers;
      x.secondary.failures = st.failures;
      x.secondary.notifies = st.notifies;
      x.secondary.expired = st.expired;
      for (const auto& z : secondary_->zones())
        x.secondary.zones.push_back({z.origin, z.serial.has_value(), z.serial.value_or(0)});
    }
    x.resilience.tcpConnectionLimit = std::min<std::uint64_t>(
        tcp_->fdConnectionCap(), holder_.current()->limits.maxTcpConnections);
    return x;
  };
  deps.ready = &ready_;
  api_ = std::make_unique<AdminApi>(cfg_.admin, std::move(tokens_), deps);
  std::string err;
  if (!api_->start(&err)) {
    std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
    return false;
  }
  return true;
}

void Process::compileDeferred() {
  auto next = server::compileDeferred(*snap_);
  if (!next) return;
  std::lock_guard lock(reloadMu_);
  const auto served = holder_.current();
  if (served->gslb->configId != snap_->gslb->configId) return;  // a reload got there first
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t ticket = publish(next, served);
  // The probe thread compiles the decisions as it publishes.
  if (!healthRunner_->waitPublished(ticket, std::chrono::minutes(10))) {
    GEODNS_LOG_WARN("gslb: the compiled decisions were not published within 10 minutes");
    return;
  }
  trimAt_.store(clock_.unixSeconds() + 2);
  logCompiled(
      *holder_.current(),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  GEODNS_LOG_INFO("gslb: compiled decisions published");
}

ReloadOutcome Process::reload() {
  std::lock_guard lock(reloadMu_);
  ReloadOutcome out;
  ErrorList reloadErrors;
  const auto served = holder_.current();
  LoadedConfig nextLoaded = loadServing(opt_, reloadErrors, served.get());  // every error at once
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
    ++reloadFailures_;
    return out;
  }
  if (next->listen != cfg_.listen || next->workers != cfg_.workers ||
      next->admin.listen != cfg_.admin.listen || next->admin.enabled != cfg_.admin.enabled ||
      next->gslb.health.database != cfg_.gslb.health.database || (next->rrl.enabled && !rrl_))
    GEODNS_LOG_WARN(
        "reload: changes to listeners, workers, the admin listener, the state database or "
        "turning rrl on take effect only after a restart");
  {
    // The fleet is set up once: its etcd client, node name and quorum rule.
    const auto& a = next->cluster;
    const auto& b = cfg_.cluster;
    const auto& qa = next->gslb.health.quorum;
    const auto& qb = cfg_.gslb.health.quorum;
    if (a.enabled != b.enabled || a.etcd != b.etcd || a.prefix != b.prefix || a.node != b.node ||
        a.site != b.site || a.timeoutMs != b.timeoutMs || a.leaseTtlSec != b.leaseTtlSec ||
        a.tls.caFile != b.tls.caFile || a.tls.certFile != b.tls.certFile ||
        a.tls.keyFile != b.tls.keyFile || a.user != b.user || a.passwordFile != b.passwordFile ||
        qa.minUp != qb.minUp || qa.fraction != qb.fraction || qa.latency != qb.latency ||
        qa.staleAfterSec != qb.staleAfterSec)
      GEODNS_LOG_WARN(
          "reload: changes to \"cluster\" or \"health.quorum\" take effect only "
          "after a restart");
  }
  if (api_ && !nextTokens.empty()) api_->setTokens(std::move(nextTokens));
  out.ticket = publish(nextSnap, served);
  trimAt_.store(clock_.unixSeconds() + 2);
  out.ok = true;
  ++reloads_;
  servedConfig_ = std::make_shared<const config::ServerConfig>(std::move(*nextLoaded.config));
  startSecondaries(*servedConfig_, *nextSnap);
  persistSerials(*nextSnap);
  GEODNS_LOG_INFO("reloaded: %zu zone(s), %zu record(s)", nextSnap->zones->zones().size(),
                  countRecords(*nextSnap));
  return out;
}

std::uint64_t Process::publish(const std::shared_ptr<const ServingSnapshot>& nextSnap,
                               const std::shared_ptr<const ServingSnapshot>& served) {
  metrics_.track(nextSnap->answers);
  healthRunner_->submit(nextSnap);  // published with its health by the probe thread
  const std::uint64_t ticket = healthRunner_->requestPublish();
  // NOTIFY only once the new serial is served: a secondary asks for the SOA at once.
  if (notifier_) {
    if (!healthRunner_->waitPublished(ticket, std::chrono::seconds(5)))
      GEODNS_LOG_WARN("reload: the new snapshot was not published within 5 s; notifying anyway");
    notifyChangedZones(notifier_->notifier(), served.get(), *nextSnap);
  }
  return ticket;
}

void Process::startSecondaries(const config::ServerConfig& cfg, const ServingSnapshot& snap) {
  if (!secondaryStarted_.load()) {
    if (!hasSecondaryZones(cfg)) return;
    secondary_->start();
    secondaryStarted_.store(true);
  }
  secondary_->configure(cfg.zones, snap.keyring, snap.zones);
}

void Process::persistSerials(const ServingSnapshot& snap) {
  if (!store_ || !snap.zones) return;
  std::vector<health::ZoneSerialRecord> records;
  for (const auto& z : snap.zones->zones())
    records.push_back({z->origin(), z->serial(), z->contentHash()});
  std::string err;
  if (!store_->saveZoneSerials(records, &err))
    GEODNS_LOG_WARN(
        "cannot record the zones' serials (%s): a restart before the next reload "
        "starts \"increment\" and \"unixtime\" zones from their files' serials",
        err.c_str());
}

void Process::republishZones() {
  std::lock_guard lock(reloadMu_);
  const auto served = holder_.current();
  ErrorList errors;
  auto nextSnap = buildSnapshot(*servedConfig_, errors, served.get(), clock_.unixSeconds());
  if (!nextSnap) {
    for (const auto& e : errors.all()) GEODNS_LOG_ERROR("secondary: %s", e.str().c_str());
    GEODNS_LOG_ERROR(
        "secondary: the zones could not be loaded again; still serving the previous data");
    return;
  }
  publish(nextSnap, served);
  secondary_->configure(servedConfig_->zones, nextSnap->keyring, nextSnap->zones);
  GEODNS_LOG_INFO("secondary: published %zu zone(s), %zu record(s)",
                  nextSnap->zones->zones().size(), countRecords(*nextSnap));
}

void Process::maintain() {
  const auto current = holder_.current();
  const std::int64_t now = clock_.unixSeconds();
  // A reload peaks at two configs; glibc keeps the freed one's pages (the
  // RSS stayed at the peak: bench/big-gslb). Hand them back.
  if (const std::int64_t at = trimAt_.load(); at != 0 && now >= at) {
    trimAt_.store(0);
    ::malloc_trim(0);
  }
  if (!current || !current->zones || now < current->zones->refreshAt() || now < nextResignTry_)
    return;
  nextResignTry_ = now + 60;
  GEODNS_LOG_INFO(
      "re-signing: static signatures reached their refresh time; loading and "
      "signing the zones again");
  reload();
}

void Process::hangup() {
  if (queryLog_) queryLog_->reopen();
  reload();
}

void Process::stop() {
  if (!running_) return;
  running_ = false;
  ready_.store(false);
  if (api_) api_->stop();
  if (secondary_) secondary_->stop();  // a transfer in progress gives up within a second
  stop_.store(true);
  if (fleet_) fleet_->stop();  // leaves the fleet at once (lease revoked)
  healthRunner_->stop();
  if (notifier_) notifier_->stop();
  if (controlThread_.joinable()) controlThread_.join();
  tcp_->join();
  for (auto& w : udp_) w->join();
  if (queryLog_) queryLog_->stop();  // writes what the workers logged last
}

namespace {

sigset_t serveSignals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  return sigs;
}

}  // namespace

void blockServeSignals() {
  const sigset_t sigs = serveSignals();
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
}

int serve(const Options& opt, config::ServerConfig cfg, std::shared_ptr<const ServingSnapshot> snap,
          StartResources res) {
  // Signals are handled synchronously by this thread; no other thread takes
  // them (main() blocked them before any thread was started).
  blockServeSignals();
  const sigset_t sigs = serveSignals();
  signal(SIGPIPE, SIG_IGN);

  Process process(opt, std::move(cfg), std::move(snap), std::move(res));
  if (!process.start()) return 1;
  process.compileDeferred();
  for (;;) {
    timespec tick{1, 0};
    int sig = sigtimedwait(&sigs, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      GEODNS_LOG_INFO("stopping on signal %d", sig);
      break;
    }
    if (sig == SIGHUP) process.hangup();
    process.maintain();
  }
  // Shutdown is bounded: a stuck thread cannot keep the process alive.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(15));
    GEODNS_LOG_ERROR("shutdown did not finish within 15 s; exiting");
    std::_Exit(1);
  }).detach();
  process.stop();
  GEODNS_LOG_INFO("stopped");
  return 0;
}

}  // namespace geodns::server
