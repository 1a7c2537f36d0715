#include "server/tcp.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/clock.h"
#include "core/log.h"
#include "server/engine.h"
#include "server/metrics.h"
#include "server/query_log.h"
#include "server/secondary.h"
#include "server/xfr_out.h"

namespace geodns::server {

namespace {
constexpr std::size_t kMaxPendingOut = 256 * 1024;  // stop reading past this (back-pressure)
using Clock = std::chrono::steady_clock;
}  // namespace

int openTcpSocket(const SocketAddress& addr, std::string* err) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, addr.sa(), addr.length) != 0 || ::listen(fd, 1024) != 0) {
    *err = "bind/listen tcp " + addr.str() + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

AcceptResult acceptConnection(int listenFd, int& spareFd, int& fd, sockaddr_storage& peer,
                              int& error) {
  for (;;) {
    socklen_t len = sizeof peer;
    fd =
        ::accept4(listenFd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return AcceptResult::Accepted;
    error = errno;
    if (error == EINTR || error == ECONNABORTED || error == EPROTO) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) return AcceptResult::Empty;
    if (error != EMFILE && error != ENFILE && error != ENOBUFS && error != ENOMEM)
      return AcceptResult::Failed;
    if (spareFd >= 0) {
      ::close(spareFd);
      spareFd = -1;
      socklen_t l = sizeof peer;
      const int shed = ::accept4(listenFd, reinterpret_cast<sockaddr*>(&peer), &l, SOCK_CLOEXEC);
      if (shed >= 0) ::close(shed);
      spareFd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      fd = -1;
      if (shed >= 0) return AcceptResult::Shed;
    }
    return AcceptResult::Exhausted;
  }
}

std::size_t fitConnectionLimit(std::size_t configured, std::size_t softLimit, std::size_t openNow) {
  const std::size_t reserve = std::max<std::size_t>(64, softLimit / 4);
  const std::size_t room = softLimit > openNow + reserve ? softLimit - openNow - reserve : 0;
  return std::min(configured, std::max<std::size_t>(8, room));
}

namespace {

std::size_t openDescriptors() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

}  // namespace

struct TcpServer::Conn {
  int fd = -1;
  std::vector<std::uint8_t> in;   // unparsed bytes
  std::vector<std::uint8_t> out;  // framed responses not yet written
  std::size_t outPos = 0;
  Clock::time_point lastActive;
  std::uint64_t served = 0;
  bool wantWrite = false;
  bool reading = true;
  bool closing = false;  // close once `out` is flushed
  IpAddress peer;
  // A zone transfer being streamed: its next messages are made only as the
  // client reads (back-pressure), and later queries wait until it ends.
  std::unique_ptr<XfrSession> xfr;
};

TcpServer::TcpServer(std::vector<int> listenFds, const SnapshotHolder& snapshots,
                     const std::atomic<bool>& stop, QueryCounters* counters, QueryLogSink* queryLog,
                     NotifyInbox* inbox)
    : listenFds_(std::move(listenFds)),
      snapshots_(snapshots),
      stop_(stop),
      counters_(counters),
      queryLog_(queryLog),
      inbox_(inbox),
      scratch_(65535) {}

TcpServer::~TcpServer() {
  join();
  for (auto& c : conns_)
    if (c) ::close(c->fd);
  for (int fd : listenFds_) ::close(fd);
  if (epfd_ >= 0) ::close(epfd_);
  if (spareFd_ >= 0) ::close(spareFd_);
}

void TcpServer::start() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  spareFd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    fdCap_.store(
        fitConnectionLimit(SIZE_MAX, static_cast<std::size_t>(rl.rlim_cur), openDescriptors()));
  limitFor(*snapshots_.current());  // warns now if the configured limit does not fit
  for (int fd : listenFds_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  }
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "geodns-tcp");
}

void TcpServer::join() {
  if (thread_.joinable()) thread_.join();
}

// max_tcp_connections, or fewer when the descriptor limit leaves no room for
// that many (logged once per configured value).
std::size_t TcpServer::limitFor(const ServingSnapshot& snap) {
  const std::size_t configured = snap.limits.maxTcpConnections;
  const std::size_t cap = fdCap_.load();
  if (configured > cap && warnedLimit_ != configured) {
    warnedLimit_ = configured;
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    GEODNS_LOG_WARN(
        "tcp: max_tcp_connections %zu does not fit the descriptor limit (RLIMIT_NOFILE %llu): "
        "using %zu; raise the limit (ulimit -n, LimitNOFILE=) to allow more",
        configured, static_cast<unsigned long long>(rl.rlim_cur), cap);
  }
  return std::min(configured, cap);
}

void TcpServer::pauseListeners(bool paused) {
  for (int l : listenFds_) {
    epoll_event ev{};
    ev.events = paused ? 0u : static_cast<std::uint32_t>(EPOLLIN);
    ev.data.fd = l;
    ::epoll_ctl(epfd_, EPOLL_CTL_MOD, l, &ev);
  }
  listenersPaused_ = paused;
  if (paused) resumeListeners_ = Clock::now() + std::chrono::milliseconds(100);
}

void TcpServer::close(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= conns_.size() || !conns_[fd]) return;
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  conns_[fd].reset();
  --open_;
}

void TcpServer::updateInterest(Conn& c) {
  epoll_event ev{};
  ev.events = (c.reading ? EPOLLIN : 0u) | (c.wantWrite ? EPOLLOUT : 0u) | EPOLLRDHUP;
  ev.data.fd = c.fd;
  ::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
}

// Writes what it can; false when the connection failed.
bool TcpServer::flush(Conn& c) {
  while (c.outPos < c.out.size()) {
    ssize_t w = ::send(c.fd, c.out.data() + c.outPos, c.out.size() - c.outPos, MSG_NOSIGNAL);
    if (w > 0) {
      c.outPos += static_cast<std::size_t>(w);
      c.lastActive = Clock::now();
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return false;
    }
  }
  if (c.outPos == c.out.size()) {
    c.out.clear();
    c.outPos = 0;
  }
  return true;
}

// Appends the transfer's next messages while the output buffer has room.
void TcpServer::pumpTransfer(Conn& c) {
  while (c.xfr && c.out.size() < kMaxPendingOut) {
    const auto m = c.xfr->next();
    if (m.empty()) {
      if (c.xfr->failed()) c.closing = true;  // the secondary must not take half a zone
      c.xfr.reset();
      break;
    }
    c.out.push_back(static_cast<std::uint8_t>(m.size() >> 8));
    c.out.push_back(static_cast<std::uint8_t>(m.size()));
    c.out.insert(c.out.end(), m.begin(), m.end());
  }
}

void TcpServer::onReadable(Conn& c, const ServingSnapshot& snap) {
  std::uint8_t buf[16384];
  bool eof = false;
  for (;;) {
    ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
    if (r > 0) {
      c.in.insert(c.in.end(), buf, buf + r);
      c.lastActive = Clock::now();
      if (c.in.size() > 4 * 65537) break;  // process before reading more
      continue;
    }
    if (r == 0)
      eof = true;
    else if (errno == EINTR)
      continue;
    else if (errno != EAGAIN && errno != EWOULDBLOCK)
      eof = true;
    break;
  }
  // Answer every complete frame (pipelining, RFC 7766 s6.2.1.1).
  std::size_t pos = 0;
  const std::uint32_t maxQueries = snap.limits.tcpMaxQueriesPerConnection;
  while (c.in.size() - pos >= 2 && c.out.size() < kMaxPendingOut && !c.closing && !c.xfr) {
    std::size_t len = (std::size_t{c.in[pos]} << 8) | c.in[pos + 1];
    if (c.in.size() - pos - 2 < len) break;
    QueryFacts facts;
    wire::ParsedQuery query;
    std::size_t rlen = answer(snap, {c.in.data() + pos + 2, len}, scratch_, Transport::Tcp, c.peer,
                              &facts, &query);
    if (counters_) countQuery(snap, facts, *counters_);
    if (queryLog_) queryLog_->offer(snap, query, facts, c.peer, Transport::Tcp);
    if (facts.outcome == Outcome::Notify && inbox_) inbox_->post(query.qname.span());
    if (facts.outcome == Outcome::Transfer) {
      std::size_t streaming = 0;  // transfers in progress (only counted when one is asked for)
      for (const auto& other : conns_) streaming += other && other->xfr ? 1 : 0;
      XfrStart x =
          startTransfer(snapshots_.current(), {c.in.data() + pos + 2, len}, c.peer,
                        static_cast<std::uint64_t>(SteadyClock().unixSeconds()), streaming);
      pos += 2 + len;
      if (x.session) {
        c.xfr = std::move(x.session);
        pumpTransfer(c);
      } else {
        c.out.push_back(static_cast<std::uint8_t>(x.reply.size() >> 8));
        c.out.push_back(static_cast<std::uint8_t>(x.reply.size()));
        c.out.insert(c.out.end(), x.reply.begin(), x.reply.end());
      }
      if (maxQueries && ++c.served >= maxQueries) c.closing = true;
      continue;
    }
    pos += 2 + len;
    if (rlen > 0) {
      c.out.push_back(static_cast<std::uint8_t>(rlen >> 8));
      c.out.push_back(static_cast<std::uint8_t>(rlen));
      c.out.insert(c.out.end(), scratch_.begin(),
                   scratch_.begin() + static_cast<std::ptrdiff_t>(rlen));
    }
    if (maxQueries && ++c.served >= maxQueries) c.closing = true;
  }
  c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(pos));
  if (!flush(c)) return close(c.fd);
  if (eof) c.closing = true;
  if (c.closing && c.out.empty() && !c.xfr) return close(c.fd);
  // Back-pressure: a client that does not read its answers gets no more reads.
  c.reading = !c.closing && c.out.size() < kMaxPendingOut;
  c.wantWrite = !c.out.empty();
  updateInterest(c);
}

void TcpServer::run() {
  epoll_event events[64];
  auto lastSweep = Clock::now();
  SnapshotHolder::Reader reader(snapshots_);
  while (!stop_.load(std::memory_order_relaxed)) {
    int n = ::epoll_wait(epfd_, events, 64, 100);
    const ServingSnapshot* snap = reader.refresh();
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      bool isListener = false;
      for (int l : listenFds_) isListener = isListener || l == fd;
      if (isListener) {
        const std::size_t limit = limitFor(*snap);
        for (;;) {
          sockaddr_storage peer{};
          int cfd = -1, error = 0;
          const AcceptResult r = acceptConnection(fd, spareFd_, cfd, peer, error);
          if (r == AcceptResult::Empty) break;
          if (r == AcceptResult::Failed) {
            GEODNS_LOG_LIMITED(Error, "tcp: accept failed: %s", std::strerror(error));
            break;
          }
          if (r == AcceptResult::Shed || r == AcceptResult::Exhausted) {
            // Out of descriptors. Shed: that client was closed at once (it
            // retries, or asks another server). Exhausted: the listeners rest
            // 100 ms instead of waking this thread in a loop.
            acceptErrors_.fetch_add(1, std::memory_order_relaxed);
            GEODNS_LOG_LIMITED(
                Error, "tcp: accept failed (%s): %s", std::strerror(error),
                r == AcceptResult::Shed ? "closed the connection" : "pausing the listeners");
            if (r == AcceptResult::Exhausted) {
              pauseListeners(true);
              break;
            }
            continue;
          }
          if (open_ >= limit) {
            refused_.fetch_add(1, std::memory_order_relaxed);
            GEODNS_LOG_LIMITED(Warn, "tcp: %zu connections open (max_tcp_connections): refusing",
                               open_);
            ::close(cfd);  // over the limit: refuse by closing at once
            continue;
          }
          int one = 1;
          ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (static_cast<std::size_t>(cfd) >= conns_.size())
            conns_.resize(static_cast<std::size_t>(cfd) + 64);
          auto c = std::make_unique<Conn>();
          c->fd = cfd;
          c->lastActive = Clock::now();
          c->peer = IpAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&peer));
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.fd = cfd;
          ::epoll_ctl(epfd_, EPOLL_CTL_ADD, cfd, &ev);
          conns_[cfd] = std::move(c);
          ++open_;
        }
        continue;
      }
      if (static_cast<std::size_t>(fd) >= conns_.size() || !conns_[fd]) continue;
      Conn& c = *conns_[fd];
      if (events[i].events & EPOLLERR) {
        close(fd);
        continue;
      }
      if (events[i].events & EPOLLOUT) {
        if (!flush(c)) {
          close(fd);
          continue;
        }
        if (c.xfr) {  // a transfer: the next messages, now that the client reads
          pumpTransfer(c);
          if (!flush(c)) {
            close(fd);
            continue;
          }
          if (c.xfr || !c.out.empty()) {
            c.wantWrite = !c.out.empty();
            updateInterest(c);
            continue;
          }
        }
        if (c.out.empty() && c.closing) {
          close(fd);
          continue;
        }
        // Drained: resume reading, and answer anything already buffered.
        if (c.out.empty())
          onReadable(c, *snap);
        else
          updateInterest(c);
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) onReadable(c, *snap);
    }
    auto now = Clock::now();
    if (listenersPaused_ && now >= resumeListeners_) pauseListeners(false);
    if (now - lastSweep >= std::chrono::milliseconds(100)) {
      lastSweep = now;
      const auto idle = std::chrono::milliseconds(snap->limits.tcpIdleTimeoutMs);
      for (auto& c : conns_)
        if (c && now - c->lastActive > idle) close(c->fd);
    }
  }
  drain(reader.refresh());
}

// Stopping: accept nothing more, answer the queries already received, send
// every pending answer (for at most kDrainTime), then close.
void TcpServer::drain(const ServingSnapshot* snap) {
  constexpr auto kDrainTime = std::chrono::seconds(2);
  for (int l : listenFds_) {
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, l, nullptr);
    ::close(l);
  }
  listenFds_.clear();
  for (auto& c : conns_) {
    if (!c) continue;
    onReadable(*c, *snap);  // may close it
    if (!c) continue;
    c->closing = true;
    if (c->out.empty() && !c->xfr) close(c->fd);
  }
  const auto deadline = Clock::now() + kDrainTime;
  epoll_event events[64];
  while (open_ > 0 && Clock::now() < deadline) {
    int n = ::epoll_wait(epfd_, events, 64, 50);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (static_cast<std::size_t>(fd) >= conns_.size() || !conns_[fd]) continue;
      Conn& c = *conns_[fd];
      if ((events[i].events & EPOLLERR) || !flush(c)) {
        close(fd);
        continue;
      }
      pumpTransfer(c);  // a transfer in progress gets the drain time to finish
      if (!flush(c) || (c.out.empty() && !c.xfr)) close(fd);
    }
  }
  for (auto& c : conns_)
    if (c) close(c->fd);
}

}  // namespace geodns::server
