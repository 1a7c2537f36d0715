// EtcdClient against real etcd members started on loopback (Debian's
// etcd-server): the KvStore conformance suite, lease expiry, endpoint
// failover, a watch that outlives the leader it was reading from, a member
// that loses its leader, compaction, user/password auth and TLS.
// Exits 77 (reported by ctest as skipped, never as passed) when etcd is
// not installed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "health/cluster/etcd_client.h"
#include "support/etcd_cluster.h"
#include "support/kv_conformance.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::health::cluster;
using geodns::test::EtcdCluster;
using geodns::test::kvconf::WatchRecorder;
using namespace std::chrono_literals;

namespace {

std::string gEtcd;
std::string gEtcdctl;
SteadyClock gClock;

std::unique_ptr<EtcdClient> client(EtcdOptions o) {
  auto c = EtcdClient::create(std::move(o), gClock);
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().str()));
  return std::move(c.value());
}

EtcdOptions endpoints(std::vector<std::string> eps) {
  EtcdOptions o;
  o.endpoints = std::move(eps);
  return o;
}

// One plain single-member etcd shared by the tests that need nothing special.
EtcdCluster& single() {
  static std::unique_ptr<EtcdCluster> c = [] {
    // Progress notifications every 500 ms instead of etcd's 10 minutes, so
    // the test can see them.
    auto e = std::make_unique<EtcdCluster>(EtcdCluster::Options{
        1, {}, {}, {}, {"--experimental-watch-progress-notify-interval", "500ms"}});
    const std::string err = e->start(gEtcd);
    REQUIRE_MESSAGE(err.empty(), err);
    return e;
  }();
  return *c;
}

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("etcd: conformance of the client against a real member") {
  auto c = client(endpoints({single().clientUrl(0)}));
  SUBCASE("put and range") {
    test::kvconf::putAndRange(*c, "/t/put/");
  }
  SUBCASE("delete") {
    test::kvconf::deletes(*c, "/t/del/");
  }
  SUBCASE("transactions") {
    test::kvconf::transactions(*c, "/t/txn/");
  }
  SUBCASE("leases") {
    test::kvconf::leases(*c, "/t/lease/");
  }
  SUBCASE("watch order") {
    test::kvconf::watchOrder(*c, "/t/watch/");
  }
  SUBCASE("compaction") {
    test::kvconf::compaction(*c, "/t/compact/");
  }
}

TEST_CASE("etcd: cancel ends a watch from another thread within 100 ms") {
  auto c = client(endpoints({single().clientUrl(0)}));
  const auto took = test::kvconf::watchCancel(*c, "/t/cancel/");
  MESSAGE("watch returned " << took.count() << " ms after cancel()");
  CHECK(took < 100ms);
}

TEST_CASE("etcd: progress notifications move the resume point past other keys' writes") {
  auto c = client(endpoints({single().clientUrl(0)}));
  WatchRecorder rec(*c, WatchRequest::prefix("/t/progress/", 0));
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));
  const std::int64_t elsewhere = test::kvconf::putRev(*c, "/t/not-progress", "x");
  // Wait for a progress update that covers the write elsewhere.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::optional<WatchUpdate> seen;
  for (std::size_t n = 1; !seen && std::chrono::steady_clock::now() < deadline; ++n) {
    REQUIRE(rec.waitKind(WatchUpdate::Kind::Progress, n));
    for (const auto& u : rec.updates())
      if (u.kind == WatchUpdate::Kind::Progress && u.headerRevision >= elsewhere) seen = u;
  }
  REQUIRE(seen);
  CHECK(seen->nextRevision == seen->headerRevision + 1);
  CHECK(rec.events().empty());
}

TEST_CASE("etcd: lease expiry deletes the key, seen by a watch") {
  auto c = client(endpoints({single().clientUrl(0)}));
  auto g = c->leaseGrant(1);  // etcd raises it to its minimum (about 2 s)
  REQUIRE(g.ok());
  const std::int64_t r = test::kvconf::putRev(*c, "/t/expire/node", "alive", g->id);
  WatchRecorder rec(*c, WatchRequest::prefix("/t/expire/", r + 1));
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(rec.waitEvents(1, 15s));
  MESSAGE("lease of " << g->ttlSeconds << " s: key deleted after " << msSince(t0) << " ms");
  const auto ev = rec.events();
  CHECK(ev[0].type == WatchEvent::Type::Delete);
  CHECK(ev[0].kv.key == "/t/expire/node");
  CHECK_FALSE(test::kvconf::get(*c, "/t/expire/node"));
  auto ka = c->leaseKeepAlive(g->id);
  REQUIRE_FALSE(ka.ok());
  CHECK(ka.error().code == KvErrc::NotFound);
}

TEST_CASE("etcd: a keep-alive holds a lease past its TTL") {
  auto c = client(endpoints({single().clientUrl(0)}));
  auto g = c->leaseGrant(2);
  REQUIRE(g.ok());
  test::kvconf::putRev(*c, "/t/keep/node", "alive", g->id);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(g->ttlSeconds + 1);
  while (std::chrono::steady_clock::now() < until) {
    auto ka = c->leaseKeepAlive(g->id);
    REQUIRE_MESSAGE(ka.ok(), (ka.ok() ? "" : ka.error().str()));
    std::this_thread::sleep_for(500ms);  // the keep-alive period, a third of the TTL or less
  }
  CHECK(test::kvconf::get(*c, "/t/keep/node"));
  REQUIRE(c->leaseRevoke(g->id).ok());
}

TEST_CASE("etcd: endpoints fail over on connection errors") {
  // A port nothing listens on (reserved, then released).
  std::string dead;
  {
    test::PortReservation p;
    dead = "http://127.0.0.1:" + std::to_string(p.port());
  }
  auto c = client(endpoints({dead, single().clientUrl(0)}));
  const std::int64_t r = test::kvconf::putRev(*c, "/t/failover/k", "v");
  CHECK(r > 0);
  CHECK(c->stats().failovers == 1);
  CHECK(c->preferredEndpoint() == 1);
  test::kvconf::putRev(*c, "/t/failover/k", "w");  // sticks to the one that answered
  CHECK(c->stats().failovers == 1);

  auto none = client(endpoints({dead}));
  const auto t0 = std::chrono::steady_clock::now();
  auto r2 = none->range(RangeRequest::single("/t/failover/k"));
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code == KvErrc::Unavailable);
  CHECK_FALSE(r2.error().maybeApplied);
  CHECK(msSince(t0) < 1000);
  // A refused connection never reached etcd: a write can say so.
  auto w = none->put({"/t/failover/k", "x", 0, false});
  REQUIRE_FALSE(w.ok());
  CHECK_FALSE(w.error().maybeApplied);
}

namespace {

// A loopback server that accepts a connection, reads the request and hangs
// up without answering: the request reached "etcd" and the answer was lost.
class HangUpServer {
 public:
  HangUpServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    thread_ = std::thread([this] {
      while (true) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        char buf[4096];
        (void)::recv(c, buf, sizeof buf, 0);
        ++accepted_;
        ::close(c);
      }
    });
  }
  ~HangUpServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  const std::string& url() const { return url_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  std::string url_;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("etcd: a write whose answer is lost is not repeated elsewhere; a read is") {
  HangUpServer lost;
  auto c = client(endpoints({lost.url(), single().clientUrl(0)}));
  auto w = c->put({"/t/lost/k", "v", 0, false});
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().code == KvErrc::Unavailable);
  CHECK(w.error().maybeApplied);
  CHECK(lost.accepted() >= 1);
  auto direct = client(endpoints({single().clientUrl(0)}));
  CHECK_FALSE(test::kvconf::get(*direct, "/t/lost/k"));  // not sent to the second endpoint

  auto r = c->range(RangeRequest::single("/t/lost/k"));
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
  CHECK(c->stats().failovers == 1);
  CHECK(c->preferredEndpoint() == 1);
}

TEST_CASE("etcd: options are checked, every problem at once") {
  EtcdOptions o;
  o.endpoints = {"ftp://127.0.0.1:1", "http://user:pw@127.0.0.1:2379", "http://127.0.0.1:2379/v3"};
  o.certFile = "/x.pem";
  o.user = "geo";
  auto c = EtcdClient::create(o, gClock);
  REQUIRE_FALSE(c.ok());
  const std::string& m = c.error().message;
  CHECK(m.find("endpoint 0") != std::string::npos);
  CHECK(m.find("user info") != std::string::npos);
  CHECK(m.find("path") != std::string::npos);
  CHECK(m.find("certificate needs its key") != std::string::npos);
  CHECK(m.find("without a password") != std::string::npos);
  CHECK(m.find("pw@") == std::string::npos);  // a password in a URL is not echoed
}

TEST_CASE("etcd: a 3-member cluster; the watch outlives the leader it read from") {
  EtcdCluster cl(EtcdCluster::Options{
      3, {}, {}, {}, {"--heartbeat-interval", "50", "--election-timeout", "500"}});
  const std::string err = cl.start(gEtcd);
  REQUIRE_MESSAGE(err.empty(), err);

  // Find the leader, and watch through it first.
  auto probe = client(endpoints(cl.clientUrls()));
  std::size_t leader = 0;
  {
    std::uint64_t leaderId = 0;
    std::vector<std::uint64_t> ids(3);
    for (std::size_t i = 0; i < 3; ++i) {
      auto s = probe->memberStatus(i);
      REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().str()));
      ids[i] = s->memberId;
      if (s->leader) leaderId = s->leader;
    }
    for (std::size_t i = 0; i < 3; ++i)
      if (ids[i] == leaderId) leader = i;
  }
  const std::size_t f1 = (leader + 1) % 3, f2 = (leader + 2) % 3;
  EtcdOptions wo = endpoints({cl.clientUrl(leader), cl.clientUrl(f1), cl.clientUrl(f2)});
  wo.watchReconnectBudget = 15s;
  auto watcher = client(wo);
  EtcdOptions writerOpts = endpoints({cl.clientUrl(f1), cl.clientUrl(f2)});
  writerOpts.requestTimeout = 1000ms;
  auto writer = client(writerOpts);

  const std::int64_t r0 = test::kvconf::putRev(*writer, "/t/kill/seed", "0");
  WatchRecorder rec(*watcher, WatchRequest::prefix("/t/kill/", r0 + 1));
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));

  // Each key is created once: a retried write is guarded by "absent", so an
  // answer lost in the election cannot write twice.
  constexpr int kKeys = 60;
  std::atomic<int> written{0};
  std::atomic<int> retries{0};
  std::thread w([&] {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (int i = 0; i < kKeys && std::chrono::steady_clock::now() < deadline;) {
      char key[32];
      std::snprintf(key, sizeof key, "/t/kill/k%03d", i);
      TxnRequest t;
      t.compare = {Compare::absent(key)};
      t.success = {PutRequest{key, std::to_string(i), 0, false}};
      auto r = writer->txn(t);
      if (!r.ok()) {
        ++retries;
        std::this_thread::sleep_for(50ms);
        continue;
      }
      written = ++i;
      std::this_thread::sleep_for(10ms);
    }
  });
  // Kill the member the watch is reading from (the leader) in mid-stream.
  REQUIRE(rec.waitEvents(20, 20s));
  {
    auto s = probe->memberStatus(leader);
    if (s.ok() && s->leader != s->memberId)
      MESSAGE("leadership moved before the kill; the watched member is killed anyway");
  }
  const auto killedAt = std::chrono::steady_clock::now();
  cl.kill(leader);
  w.join();
  REQUIRE(written == kKeys);
  REQUIRE(rec.waitEvents(kKeys, 20s));
  MESSAGE("after the kill: " << retries.load() << " write retries, all " << kKeys << " events "
                             << msSince(killedAt) << " ms later; watch reconnects "
                             << watcher->stats().watchReconnects);

  const auto ev = rec.events();
  REQUIRE(ev.size() == static_cast<std::size_t>(kKeys));  // no duplicates
  for (int i = 0; i < kKeys; ++i) {
    CAPTURE(i);
    char key[32];
    std::snprintf(key, sizeof key, "/t/kill/k%03d", i);
    CHECK(ev[static_cast<std::size_t>(i)].kv.key == key);
    CHECK(ev[static_cast<std::size_t>(i)].type == WatchEvent::Type::Put);
    if (i > 0)
      CHECK(ev[static_cast<std::size_t>(i)].kv.modRevision >
            ev[static_cast<std::size_t>(i - 1)].kv.modRevision);
  }
  CHECK(watcher->stats().watchReconnects >= 1);
  bool sawReconnecting = false;
  for (const auto& u : rec.updates()) sawReconnecting |= u.kind == WatchUpdate::Kind::Reconnecting;
  CHECK(sawReconnecting);
  CHECK(watcher->preferredEndpoint() != 0);
  rec.stop();

  {
    INFO("a member cut off from its quorum ends the watch instead of going quiet");
    // Two members left; kill one more: the last has no leader. A watch
    // through it must not stay open and silent (the "hasleader" metadata).
    EtcdOptions lo = endpoints({cl.clientUrl(f1)});
    lo.watchReconnectBudget = 1500ms;
    lo.requestTimeout = 500ms;
    auto lonely = client(lo);
    WatchRecorder quiet(*lonely, WatchRequest::prefix("/t/kill/", 0));
    REQUIRE(quiet.waitKind(WatchUpdate::Kind::Created));
    const auto t0 = std::chrono::steady_clock::now();
    cl.kill(f2);
    REQUIRE(quiet.waitEnded(20s));
    auto res = quiet.result();
    REQUIRE_FALSE(res->ok());
    CHECK(res->error().code == KvErrc::Unavailable);
    MESSAGE("leaderless member: watch ended "
            << msSince(t0) << " ms after the quorum was lost: " << res->error().str());
    // Reads fail too, within the request timeout (a linearizable read
    // needs a leader; etcd would wait for one for 7 s).
    const auto t1 = std::chrono::steady_clock::now();
    auto r = lonely->range(RangeRequest::single("/t/kill/seed"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == KvErrc::Unavailable);
    MESSAGE("leaderless read failed after " << msSince(t1) << " ms: " << r.error().str());
    CHECK(msSince(t1) < 2000);
  }
}

namespace {

int etcdctl(const EtcdCluster& cl, std::vector<std::string> args) {
  std::vector<std::string> argv = {gEtcdctl, "--endpoints=" + cl.clientUrl(0)};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::runProgram(argv, (cl.dir() / "etcdctl.log").string());
}

}  // namespace

TEST_CASE("etcd: user/password auth, token expiry, permissions") {
  REQUIRE_MESSAGE(!gEtcdctl.empty(), "etcdctl not found (Debian etcd-client)");
  // Tokens expire after 1 s idle, so the test can see the client renew one.
  EtcdCluster cl(EtcdCluster::Options{1, {}, {}, {}, {"--auth-token-ttl", "1"}});
  const std::string err = cl.start(gEtcd);
  REQUIRE_MESSAGE(err.empty(), err);
  const std::string secret = "s3cret-Pa55";
  REQUIRE(etcdctl(cl, {"user", "add", "root:rootpw-x"}) == 0);
  REQUIRE(etcdctl(cl, {"user", "add", "geo:" + secret}) == 0);
  REQUIRE(etcdctl(cl, {"role", "add", "geodns"}) == 0);
  REQUIRE(etcdctl(cl, {"role", "grant-permission", "geodns", "--prefix=true", "readwrite",
                       "/geodns/"}) == 0);
  REQUIRE(etcdctl(cl, {"user", "grant-role", "geo", "geodns"}) == 0);
  REQUIRE(etcdctl(cl, {"auth", "enable"}) == 0);

  EtcdOptions o = endpoints({cl.clientUrl(0)});
  o.user = "geo";
  o.password = secret;
  auto a = client(o);
  auto b = client(o);
  test::kvconf::putRev(*a, "/geodns/x", "1");
  CHECK(a->stats().authentications == 1);
  CHECK(test::kvconf::get(*b, "/geodns/x")->value == "1");

  {
    INFO("without credentials etcd refuses");
    auto anon = client(endpoints({cl.clientUrl(0)}));
    auto r = anon->range(RangeRequest::single("/geodns/x"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == KvErrc::Unauthenticated);
  }
  {
    INFO("a wrong password is refused, and never echoed");
    EtcdOptions bad = o;
    bad.password = "Wr0ng-Secret-xyz";
    auto c = client(bad);
    auto r = c->put({"/geodns/x", "2", 0, false});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == KvErrc::Unauthenticated);
    CHECK(r.error().str().find("Wr0ng-Secret-xyz") == std::string::npos);
    CHECK(r.error().str().find("geo") != std::string::npos);
  }
  {
    INFO("outside the role's prefix: permission denied, for calls and watches");
    auto r = a->put({"/elsewhere", "x", 0, false});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == KvErrc::PermissionDenied);
    WatchRecorder rec(*a, WatchRequest::prefix("/elsewhere/", 0));
    REQUIRE(rec.waitEnded());
    REQUIRE_FALSE(rec.result()->ok());
    CHECK(rec.result()->error().code == KvErrc::PermissionDenied);
  }
  {
    INFO("expired tokens are renewed, for calls and for a new watch");
    const auto authA = a->stats().authentications;
    const auto authB = b->stats().authentications;
    // Both clients hold a token; leave them idle past the TTL (etcd sweeps
    // expired simple tokens once a second).
    std::this_thread::sleep_for(3s);
    WatchRecorder rec(*b, WatchRequest::prefix("/geodns/", 0));
    REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));
    CHECK(b->stats().authentications == authB + 1);
    const std::int64_t r = test::kvconf::putRev(*a, "/geodns/y", "2");
    CHECK(a->stats().authentications == authA + 1);
    REQUIRE(rec.waitEvents(1));
    CHECK(rec.events()[0].kv.modRevision == r);
  }
}

namespace {

// A CA, a server certificate for 127.0.0.1 and a client certificate, with
// openssl; "" or what failed.
std::string makeCerts(const std::filesystem::path& d) {
  const std::string openssl = test::findProgram("GEODNS_OPENSSL", "openssl");
  if (openssl.empty()) return "openssl not found";
  const std::string log = (d / "openssl.log").string();
  {
    // clientAuth too: etcd 3.4's JSON gateway dials its own gRPC server
    // with the server certificate, which --client-cert-auth then checks.
    std::ofstream(d / "server.ext")
        << "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n";
    std::ofstream(d / "client.ext") << "extendedKeyUsage=clientAuth\n";
  }
  auto p = [&](const char* f) { return (d / f).string(); };
  const std::vector<std::vector<std::string>> steps = {
      {openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"), "-subj", "/CN=geodns test CA",
       "-days", "2"},
      {openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=127.0.0.1"},
      {openssl, "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
       "-CAcreateserial", "-out", p("server.pem"), "-days", "2", "-extfile", p("server.ext")},
      {openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", p("client.key"), "-out", p("client.csr"), "-subj", "/CN=geodnsd"},
      {openssl, "x509", "-req", "-in", p("client.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
       "-CAcreateserial", "-out", p("client.pem"), "-days", "2", "-extfile", p("client.ext")},
  };
  for (const auto& s : steps)
    if (test::runProgram(s, log) != 0) return "openssl " + s[1] + " failed; see " + log;
  return "";
}

}  // namespace

TEST_CASE("etcd: TLS with a client certificate") {
  test::TempDir certs;
  const std::string err = makeCerts(certs.path());
  REQUIRE_MESSAGE(err.empty(), err);
  auto f = [&](const char* n) { return (certs.path() / n).string(); };
  EtcdCluster cl(EtcdCluster::Options{1, f("server.pem"), f("server.key"), f("ca.pem"), {}});
  EtcdOptions o = endpoints({});
  o.caFile = f("ca.pem");
  o.certFile = f("client.pem");
  o.keyFile = f("client.key");
  const std::string started = cl.start(gEtcd, o);
  REQUIRE_MESSAGE(started.empty(), started);
  REQUIRE(cl.clientUrl(0).rfind("https://", 0) == 0);

  o.endpoints = {cl.clientUrl(0)};
  auto c = client(o);
  test::kvconf::putRev(*c, "/t/tls/k", "v");
  CHECK(test::kvconf::get(*c, "/t/tls/k")->value == "v");
  WatchRecorder rec(*c, WatchRequest::prefix("/t/tls/", 0));
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));
  test::kvconf::putRev(*c, "/t/tls/k", "w");
  REQUIRE(rec.waitEvents(1));
  rec.stop();

  {
    INFO("a server the CA did not sign is refused");
    EtcdOptions noCa = o;
    noCa.caFile = f("client.pem");  // not the CA
    auto bad = client(noCa);
    auto r = bad->range(RangeRequest::single("/t/tls/k"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == KvErrc::Unavailable);
  }
  {
    INFO("without a client certificate etcd refuses the connection");
    EtcdOptions anon = o;
    anon.certFile.clear();
    anon.keyFile.clear();
    auto bad = client(anon);
    auto r = bad->range(RangeRequest::single("/t/tls/k"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == KvErrc::Unavailable);
  }
}

int main(int argc, char** argv) {
  gEtcd = test::findProgram("GEODNS_ETCD", "etcd");
  gEtcdctl = test::findProgram("GEODNS_ETCDCTL", "etcdctl");
  if (gEtcd.empty()) {
    std::printf("SKIPPED: etcd not found (install Debian etcd-server, or set GEODNS_ETCD)\n");
    return 77;
  }
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
