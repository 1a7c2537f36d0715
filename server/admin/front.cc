#include "server/admin/front.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/log.h"
#include "server/admin/router.h"
#include "server/admin/text.h"
#include "server/tcp.h"

namespace geodns::server {

using admin::iequals;
using admin::trim;

namespace {

using SteadyTime = TimePoint;

// The parts of a request head the front needs (it does not interpret more).
struct Head {
  std::size_t length = 0;  // bytes up to and including the blank line
  std::size_t contentLength = 0;
  bool chunked = false;
  bool badLength = false;
  bool expectContinue = false;
  std::size_t expectFrom = 0, expectTo = 0;  // the Expect line, removed before routing
  bool healthCheck = false;                  // GET /healthz or /readyz
};

// Finds the end of the head in `in`; false while it is incomplete.
bool parseHead(const std::string& in, Head& h) {
  std::size_t pos = 0;
  bool first = true;
  bool sawLength = false;
  for (;;) {
    const std::size_t nl = in.find('\n', pos);
    if (nl == std::string::npos) return false;
    std::string_view line(in.data() + pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() && !first) {
      h.length = nl + 1;
      return true;
    }
    if (first) {
      // "GET /readyz HTTP/1.1": the two endpoints answered on the front's thread.
      const std::size_t sp = line.find(' ');
      if (sp != std::string_view::npos && line.substr(0, sp) == "GET") {
        std::string_view target = line.substr(sp + 1);
        target = target.substr(0, target.find(' '));
        target = target.substr(0, target.find('?'));
        h.healthCheck = target == "/healthz" || target == "/readyz";
      }
      first = false;
      if (line.empty()) {  // no request line at all
        h.length = nl + 1;
        return true;
      }
    } else {
      const std::size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        const std::string_view name = trim(line.substr(0, colon));
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "Content-Length")) {
          std::size_t n = 0;
          auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
          if (ec != std::errc() || p != value.data() + value.size() ||
              (sawLength && n != h.contentLength))
            h.badLength = true;
          h.contentLength = n;
          sawLength = true;
        } else if (iequals(name, "Transfer-Encoding")) {
          h.chunked = true;
        } else if (iequals(name, "Expect") && iequals(value, "100-continue")) {
          h.expectContinue = true;
          h.expectFrom = pos;
          h.expectTo = nl + 1;
        }
      }
    }
    pos = nl + 1;
  }
}

}  // namespace

class AdminFront::Impl {
 public:
  Impl(const AdminLimits& limits, unsigned threads, AdminFrontCounters& counters, Handler handler)
      : limits_(limits),
        threads_(std::max(1u, threads)),
        counters_(counters),
        handler_(std::move(handler)) {}
  ~Impl() {
    stop();
    if (listenFd_ >= 0) ::close(listenFd_);
    if (epfd_ >= 0) ::close(epfd_);
    if (wakeFd_ >= 0) ::close(wakeFd_);
    if (spareFd_ >= 0) ::close(spareFd_);
  }

  // Returns the bound port, or -1 with `err`.
  int bind(const SocketAddress& addr, std::string* err) {
    listenFd_ = openTcpSocket(addr, err);
    if (listenFd_ < 0) return -1;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&ss), &len);
    return ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }

  void start() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    spareFd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    watch(listenFd_, kListenerId, EPOLLIN, EPOLL_CTL_ADD);
    watch(wakeFd_, kWakeId, EPOLLIN, EPOLL_CTL_ADD);
    for (unsigned i = 0; i < threads_; ++i) {
      workers_.emplace_back([this] { work(); });
      pthread_setname_np(workers_.back().native_handle(), "geodns-admin-w");
    }
    loop_ = std::thread([this] { run(); });
    pthread_setname_np(loop_.native_handle(), "geodns-admin");
  }

  void stop() {
    if (!loop_.joinable()) return;
    stopping_.store(true);
    wake();
    loop_.join();
    {
      std::lock_guard lock(mu_);
      stopWorkers_ = true;
    }
    jobsCv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    for (auto& [id, c] : conns_) ::close(c->fd);
    conns_.clear();
  }

 private:
  static constexpr std::uint64_t kListenerId = 0, kWakeId = 1;
  enum class State { Reading, Working, Writing, Lingering };
  struct Conn {
    std::uint64_t id = 0;
    int fd = -1;
    std::string peer;
    State state = State::Reading;
    std::string in, out;
    std::size_t outPos = 0;
    SteadyTime deadline;
    bool idle = false;     // between requests (keep-alive): the deadline is idleTimeout
    bool counted = false;  // holds a slot in perClient_
    bool keepAlive = false;
    bool sent100 = false;
    bool registered = false;  // in epoll
    bool peerDone = false;    // the client shut down its side
    std::size_t served = 0;
  };
  struct Job {
    std::uint64_t id;
    std::string request, peer;
    bool close;
  };
  struct Done {
    std::uint64_t id;
    std::string response;
    bool keepAlive;
  };

  void watch(int fd, std::uint64_t id, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    ::epoll_ctl(epfd_, op, fd, &ev);
  }
  void wake() {
    const std::uint64_t one = 1;
    if (wakeFd_ >= 0 && ::write(wakeFd_, &one, sizeof one) < 0) {
      // The counter is already non-zero: the loop wakes anyway.
    }
  }

  void work() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        jobsCv_.wait(lock, [&] { return stopWorkers_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      bool keepAlive = false;
      std::string response = handler_(job.request, job.peer, job.close, &keepAlive);
      {
        std::lock_guard lock(mu_);
        done_.push_back({job.id, std::move(response), keepAlive});
      }
      wake();
    }
  }

  void run() {
    epoll_event events[64];
    auto lastSweep = monotonicNow();
    while (!stopping_.load()) {
      const int n = ::epoll_wait(epfd_, events, 64, 100);
      for (int i = 0; i < n; ++i) {
        const std::uint64_t id = events[i].data.u64;
        if (id == kListenerId) {
          acceptAll();
        } else if (id == kWakeId) {
          std::uint64_t v;
          while (::read(wakeFd_, &v, sizeof v) > 0) {
          }
          finishJobs();
        } else if (auto it = conns_.find(id); it != conns_.end()) {
          onEvent(*it->second, events[i].events);
        }
      }
      const auto now = monotonicNow();
      if (now - lastSweep >= std::chrono::milliseconds(100)) {
        lastSweep = now;
        sweep(now);
      }
    }
  }

  void acceptAll() {
    for (;;) {
      sockaddr_storage peer{};
      int fd = -1, error = 0;
      switch (acceptConnection(listenFd_, spareFd_, fd, peer, error)) {
        case AcceptResult::Accepted:
          break;
        case AcceptResult::Empty:
          return;
        case AcceptResult::Failed:
          GEODNS_LOG_LIMITED(Error, "admin: accept failed: %s", std::strerror(error));
          return;
        case AcceptResult::Shed:
          // Out of descriptors: the spare one let us accept and close the
          // client, so it is not left waiting in the backlog.
          ++counters_.acceptErrors;
          GEODNS_LOG_LIMITED(Error, "admin: accept failed (%s): closed the connection",
                             std::strerror(error));
          continue;
        case AcceptResult::Exhausted:
          // Not even that: the listener rests instead of waking us in a loop.
          ++counters_.acceptErrors;
          GEODNS_LOG_LIMITED(Error, "admin: accept failed (%s): pausing the listener",
                             std::strerror(error));
          watch(listenFd_, kListenerId, 0, EPOLL_CTL_MOD);
          listenerPausedUntil_ = monotonicNow() + std::chrono::milliseconds(100);
          return;
      }
      const std::string ip = IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&peer)).str();
      const auto now = monotonicNow();
      auto c = std::make_unique<Conn>();
      c->id = nextId_++;
      c->fd = fd;
      c->peer = ip;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Conn& conn = *c;
      conns_[c->id] = std::move(c);
      if (open_ >= limits_.maxConnections) {
        ++counters_.refusedTotal;
        GEODNS_LOG_LIMITED(Warn, "admin: %zu connections open: refusing %s", open_, ip.c_str());
        refuse(conn, 503, "Service Unavailable", "too many connections to the admin API", now);
        continue;
      }
      std::size_t& mine = perClient_[ip];
      if (mine >= limits_.maxPerClient) {
        ++counters_.refusedPerClient;
        GEODNS_LOG_LIMITED(Warn, "admin: %zu connections open from %s: refusing another", mine,
                           ip.c_str());
        refuse(conn, 429, "Too Many Requests", "too many connections from this address", now);
        continue;
      }
      ++mine;
      ++open_;
      conn.counted = true;
      conn.state = State::Reading;
      conn.deadline = now + limits_.requestDeadline;
      setInterest(conn, EPOLLIN | EPOLLRDHUP);
    }
  }

  // What epoll reports for `c`; 0 takes it out of epoll altogether (a
  // connection whose request is with a worker must not report a hang-up in
  // a loop).
  void setInterest(Conn& c, std::uint32_t events) {
    if (events == 0) {
      if (c.registered) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
      c.registered = false;
      return;
    }
    watch(c.fd, c.id, events, c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
    c.registered = true;
  }

  void close(Conn& c) {
    if (c.registered) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    if (c.counted) {
      --open_;
      auto it = perClient_.find(c.peer);
      if (it != perClient_.end() && --it->second == 0) perClient_.erase(it);
    }
    conns_.erase(c.id);  // destroys c
  }

  // An answer of the front's own (a refusal, a timeout, a malformed
  // request): sent, then the connection is drained briefly before closing so
  // that the client reads it instead of a reset.
  void refuse(Conn& c, int status, const char* reason, const std::string& message, SteadyTime now) {
    c.out = cannedAdminResponse(status, reason, message);
    c.outPos = 0;
    c.keepAlive = false;
    if (conns_.size() > 2 * limits_.maxConnections) {
      // Flooded: no lingering, one try at the answer and gone.
      if (::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
      }
      return close(c);
    }
    c.state = State::Writing;
    c.deadline = now + std::chrono::seconds(1);
    setInterest(c, EPOLLOUT);
    flush(c, now);
  }

  void onEvent(Conn& c, std::uint32_t ev) {
    const auto now = monotonicNow();
    switch (c.state) {
      case State::Reading:
        return read(c, now);
      case State::Writing:
        if (ev & (EPOLLERR | EPOLLHUP)) return close(c);
        return flush(c, now);
      case State::Lingering: {
        char buf[4096];
        ssize_t r;
        while ((r = ::recv(c.fd, buf, sizeof buf, 0)) > 0) {
        }
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) close(c);
        return;
      }
      case State::Working:
        return;  // the answer is written when the worker is done
    }
  }

  void read(Conn& c, SteadyTime now) {
    char buf[16384];
    for (;;) {
      const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
      if (r > 0) {
        if (c.idle) {
          c.idle = false;
          c.deadline = now + limits_.requestDeadline;
        }
        c.in.append(buf, static_cast<std::size_t>(r));
        if (c.in.size() > limits_.maxHeaderBytes + limits_.maxBodyBytes) break;
        continue;
      }
      if (r == 0) {
        // The client is done sending (a half-close): answer what is here, if
        // a whole request is, then close.
        c.peerDone = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return close(c);
      break;
    }
    const std::uint64_t id = c.id;
    dispatch(c, now);
    auto it = conns_.find(id);
    if (it != conns_.end() && it->second->peerDone && it->second->state == State::Reading)
      close(*it->second);  // nothing complete to answer, and nothing more will come
  }

  // A whole request in `in`: to a worker (or answered here); otherwise wait.
  void dispatch(Conn& c, SteadyTime now) {
    Head h;
    if (!parseHead(c.in, h)) {
      if (c.in.size() > limits_.maxHeaderBytes) {
        ++counters_.rejected;
        refuse(c, 431, "Request Header Fields Too Large", "the request head is too large", now);
      }
      return;
    }
    if (h.chunked) {
      ++counters_.rejected;
      return refuse(c, 411, "Length Required", "send the body with Content-Length", now);
    }
    if (h.badLength) {
      ++counters_.rejected;
      return refuse(c, 400, "Bad Request", "malformed Content-Length", now);
    }
    if (h.length > limits_.maxHeaderBytes) {
      ++counters_.rejected;
      return refuse(c, 431, "Request Header Fields Too Large", "the request head is too large",
                    now);
    }
    if (h.contentLength > limits_.maxBodyBytes) {
      ++counters_.rejected;
      return refuse(c, 413, "Payload Too Large", "the body is too large", now);
    }
    if (c.in.size() < h.length + h.contentLength) {
      if (h.expectContinue && !c.sent100) {
        c.sent100 = true;
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (::send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL) < 0) {
          // The client will send the body anyway after its own wait.
        }
      }
      return;
    }
    std::string request = c.in.substr(0, h.length + h.contentLength);
    c.in.erase(0, h.length + h.contentLength);
    if (h.expectContinue) request.erase(h.expectFrom, h.expectTo - h.expectFrom);
    c.sent100 = false;
    ++c.served;
    const bool close = c.served >= limits_.maxRequestsPerConnection || c.peerDone;
    c.state = State::Working;
    setInterest(c, 0);
    if (h.healthCheck) {
      // Answered on this thread: workers busy with slow handlers (a reload,
      // a publish wait) do not delay an orchestrator's probe.
      bool keepAlive = false;
      std::string response = handler_(request, c.peer, close, &keepAlive);
      return respond(c, std::move(response), keepAlive, now);
    }
    {
      std::lock_guard lock(mu_);
      jobs_.push_back({c.id, std::move(request), c.peer, close});
    }
    jobsCv_.notify_one();
  }

  void finishJobs() {
    std::deque<Done> done;
    {
      std::lock_guard lock(mu_);
      done.swap(done_);
    }
    const auto now = monotonicNow();
    for (auto& d : done) {
      auto it = conns_.find(d.id);
      if (it == conns_.end()) continue;
      respond(*it->second, std::move(d.response), d.keepAlive, now);
    }
  }

  void respond(Conn& c, std::string response, bool keepAlive, SteadyTime now) {
    c.out = std::move(response);
    c.outPos = 0;
    c.keepAlive = keepAlive;
    c.state = State::Writing;
    c.deadline = now + limits_.writeDeadline;
    setInterest(c, EPOLLOUT);
    flush(c, now);
  }

  void flush(Conn& c, SteadyTime now) {
    while (c.outPos < c.out.size()) {
      const ssize_t w =
          ::send(c.fd, c.out.data() + c.outPos, c.out.size() - c.outPos, MSG_NOSIGNAL);
      if (w > 0) {
        c.outPos += static_cast<std::size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;  // EPOLLOUT brings us back
      } else {
        return close(c);
      }
    }
    c.out.clear();
    c.outPos = 0;
    if (!c.keepAlive) {
      // Drain what the client still sends for a moment, so it reads our
      // answer rather than a reset.
      ::shutdown(c.fd, SHUT_WR);
      c.state = State::Lingering;
      c.deadline = now + std::chrono::seconds(1);
      setInterest(c, EPOLLIN | EPOLLRDHUP);
      return;
    }
    c.state = State::Reading;
    c.idle = true;
    c.deadline = now + limits_.idleTimeout;
    setInterest(c, EPOLLIN | EPOLLRDHUP);
    if (!c.in.empty()) {  // pipelined: the next request may be here already
      c.idle = false;
      c.deadline = now + limits_.requestDeadline;
      dispatch(c, now);
    }
  }

  void sweep(SteadyTime now) {
    if (listenerPausedUntil_ && now >= *listenerPausedUntil_) {
      listenerPausedUntil_.reset();
      watch(listenFd_, kListenerId, EPOLLIN, EPOLL_CTL_MOD);
    }
    std::vector<std::uint64_t> late;
    for (const auto& [id, c] : conns_)
      if (c->state != State::Working && now >= c->deadline) late.push_back(id);
    for (std::uint64_t id : late) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      Conn& c = *it->second;
      if (c.state == State::Reading && !c.idle) {
        ++counters_.timeouts;
        GEODNS_LOG_LIMITED(
            Warn, "admin: request from %s not complete within %llds: closing", c.peer.c_str(),
            static_cast<long long>(
                std::chrono::duration_cast<std::chrono::seconds>(limits_.requestDeadline).count()));
        refuse(c, 408, "Request Timeout", "the request did not arrive in time", now);
      } else {
        close(c);  // idle keep-alive, a response nobody reads, a lingering close
      }
    }
  }

  AdminLimits limits_;
  unsigned threads_;
  AdminFrontCounters& counters_;
  Handler handler_;
  int listenFd_ = -1, epfd_ = -1, wakeFd_ = -1, spareFd_ = -1;
  std::optional<SteadyTime> listenerPausedUntil_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns_;  // loop thread only
  std::unordered_map<std::string, std::size_t> perClient_;          // loop thread only
  std::size_t open_ = 0;
  std::uint64_t nextId_ = 2;
  std::atomic<bool> stopping_{false};
  std::thread loop_;
  std::vector<std::thread> workers_;
  std::mutex mu_;  // jobs_, done_, stopWorkers_
  std::condition_variable jobsCv_;
  std::deque<Job> jobs_;
  std::deque<Done> done_;
  bool stopWorkers_ = false;
};

AdminFront::AdminFront(const AdminLimits& limits, unsigned threads, AdminFrontCounters& counters,
                       Handler handler)
    : impl_(std::make_unique<Impl>(limits, threads, counters, std::move(handler))) {}

AdminFront::~AdminFront() = default;

int AdminFront::bind(const SocketAddress& addr, std::string* err) {
  return impl_->bind(addr, err);
}

void AdminFront::start() {
  impl_->start();
}

void AdminFront::stop() {
  impl_->stop();
}

}  // namespace geodns::server
