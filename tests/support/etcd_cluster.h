#pragma once
// Real etcd members on loopback for the etcd tests and the bench: each
// member gets its own ports and data directory under a temp dir, runs as a
// child of the test (killed with it: PR_SET_PDEATHSIG), and is stopped by
// its PID. Nothing here listens or connects beyond 127.0.0.1.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "health/cluster/etcd_client.h"

namespace geodns::test {

// The etcd binary: $GEODNS_ETCD, else /usr/bin/etcd, else etcd on PATH; ""
// when there is none.
inline std::string findProgram(const char* envVar, const char* name) {
  if (const char* e = std::getenv(envVar); e && *e) return std::filesystem::exists(e) ? e : "";
  const std::string usr = std::string("/usr/bin/") + name;
  if (std::filesystem::exists(usr)) return usr;
  if (const char* path = std::getenv("PATH")) {
    std::string p = path;
    std::size_t start = 0;
    while (start <= p.size()) {
      const std::size_t end = p.find(':', start);
      const std::string dir =
          p.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!dir.empty() && std::filesystem::exists(dir + "/" + name)) return dir + "/" + name;
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return "";
}

// Runs a program to completion (stdout/stderr to `log`); its exit status,
// or -1.
inline int runProgram(const std::vector<std::string>& argv, const std::string& log,
                      const std::vector<std::string>& env = {}) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A free TCP port on 127.0.0.1 (the kernel's pick; held until `release`).
class PortReservation {
 public:
  PortReservation() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port_ = ntohs(a.sin_port);
  }
  ~PortReservation() { release(); }
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class EtcdCluster {
 public:
  struct Options {
    int members = 1;
    // TLS on the client URLs (peers stay plain on loopback): server
    // certificate, and client certificates required and checked against ca.
    std::string certFile, keyFile, caFile;
    std::vector<std::string> extraArgs;  // e.g. {"--auth-token-ttl", "1"}
  };

  explicit EtcdCluster(Options o) : opt_(std::move(o)) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "geodns-etcd-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    std::vector<std::unique_ptr<PortReservation>> holds;
    for (int i = 0; i < opt_.members; ++i) {
      Member m;
      m.name = "m" + std::to_string(i);
      holds.push_back(std::make_unique<PortReservation>());
      m.clientPort = holds.back()->port();
      holds.push_back(std::make_unique<PortReservation>());
      m.peerPort = holds.back()->port();
      m.clientUrl = std::string(opt_.certFile.empty() ? "http" : "https") +
                    "://127.0.0.1:" + std::to_string(m.clientPort);
      m.peerUrl = "http://127.0.0.1:" + std::to_string(m.peerPort);
      members_.push_back(m);
    }
    // The ports are released just before etcd binds them.
  }

  ~EtcdCluster() {
    for (std::size_t i = 0; i < members_.size(); ++i) stop(i);
    std::error_code ec;
    if (std::getenv("GEODNS_KEEP_ETCD") == nullptr) std::filesystem::remove_all(dir_, ec);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Starts every member and waits (bounded) until each answers a read
  // through `probe` options (endpoint filled in per member). "" or why not.
  std::string start(const std::string& etcd, health::cluster::EtcdOptions probe = {},
                    std::chrono::seconds limit = std::chrono::seconds(30)) {
    etcd_ = etcd;
    for (std::size_t i = 0; i < members_.size(); ++i) launch(i, "new");
    return waitReady(probe, limit);
  }

  // Starts a stopped member again with its data.
  std::string restart(std::size_t i, health::cluster::EtcdOptions probe = {}) {
    launch(i, "existing");
    return waitReadyOne(i, probe, std::chrono::seconds(30));
  }

  void kill(std::size_t i) {
    auto& m = members_[i];
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    ::waitpid(m.pid, nullptr, 0);
    m.pid = -1;
  }
  void stop(std::size_t i) {
    auto& m = members_[i];
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGTERM);
    for (int t = 0; t < 100; ++t) {  // up to 5 s, then SIGKILL
      if (::waitpid(m.pid, nullptr, WNOHANG) == m.pid) {
        m.pid = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(i);
  }

  std::size_t size() const { return members_.size(); }
  const std::string& clientUrl(std::size_t i) const { return members_[i].clientUrl; }
  std::vector<std::string> clientUrls() const {
    std::vector<std::string> out;
    for (const auto& m : members_) out.push_back(m.clientUrl);
    return out;
  }
  pid_t pid(std::size_t i) const { return members_[i].pid; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string log(std::size_t i) const { return (dir_ / (members_[i].name + ".log")).string(); }

 private:
  struct Member {
    std::string name;
    int clientPort = 0, peerPort = 0;
    std::string clientUrl, peerUrl;
    pid_t pid = -1;
  };

  void launch(std::size_t i, const char* state) {
    const Member& m = members_[i];
    std::string initial;
    for (const auto& o : members_)
      initial += (initial.empty() ? "" : ",") + o.name + "=" + o.peerUrl;
    std::vector<std::string> argv = {etcd_,
                                     "--name",
                                     m.name,
                                     "--data-dir",
                                     (dir_ / m.name).string(),
                                     "--listen-client-urls",
                                     m.clientUrl,
                                     "--advertise-client-urls",
                                     m.clientUrl,
                                     "--listen-peer-urls",
                                     m.peerUrl,
                                     "--initial-advertise-peer-urls",
                                     m.peerUrl,
                                     "--initial-cluster",
                                     initial,
                                     "--initial-cluster-state",
                                     state,
                                     "--initial-cluster-token",
                                     "geodns-test-" + std::to_string(::getpid()),
                                     "--logger",
                                     "zap",
                                     "--log-level",
                                     "warn"};
    if (!opt_.certFile.empty()) {
      argv.insert(argv.end(), {"--cert-file", opt_.certFile, "--key-file", opt_.keyFile,
                               "--trusted-ca-file", opt_.caFile, "--client-cert-auth"});
    }
    argv.insert(argv.end(), opt_.extraArgs.begin(), opt_.extraArgs.end());
    const std::string logFile = log(i);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      const int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    members_[i].pid = pid;
  }

  std::string waitReady(const health::cluster::EtcdOptions& probe, std::chrono::seconds limit) {
    for (std::size_t i = 0; i < members_.size(); ++i) {
      std::string e = waitReadyOne(i, probe, limit);
      if (!e.empty()) return e;
    }
    return "";
  }

  std::string waitReadyOne(std::size_t i, health::cluster::EtcdOptions probe,
                           std::chrono::seconds limit) {
    probe.endpoints = {members_[i].clientUrl};
    probe.requestTimeout = std::chrono::milliseconds(1000);
    auto c = health::cluster::EtcdClient::create(probe, clock_);
    if (!c) return c.error().str();
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(members_[i].pid, nullptr, WNOHANG) == members_[i].pid) {
        members_[i].pid = -1;
        return members_[i].name + " exited; see " + log(i);
      }
      // A linearizable read needs a leader: this is "ready".
      auto r = c.value()->range(health::cluster::RangeRequest::single("/ready"));
      if (r.ok() || r.error().code == health::cluster::KvErrc::Unauthenticated) return "";
      last = r.error().str();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return members_[i].name + " not ready: " + last;
  }

  Options opt_;
  std::filesystem::path dir_;
  std::vector<Member> members_;
  std::string etcd_;
  SteadyClock clock_;
};

}  // namespace geodns::test
