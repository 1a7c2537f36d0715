#include "server/admin_api.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "core/address.h"
#include "core/log.h"
#include "server/explain.h"
#include "server/tcp.h"

namespace geodns::server {
namespace {

using json = nlohmann::ordered_json;
constexpr std::int64_t kMaxExpirySec = 366LL * 86400;

// Never throws: a string that is not UTF-8 (it should not get this far) is
// replaced rather than turning an answer into a 500.
std::string dumpJson(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dumpJson(body), "application/json");
}

void fail(httplib::Response& res, int status, const std::string& msg,
          const std::string& field = {}) {
  json j = {{"error", msg}};
  j["field"] = field.empty() ? json(nullptr) : json(field);
  reply(res, status, j);
}

bool validUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;  // continuation bytes
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

bool hasControl(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// Visible ASCII only: what a secret may hold and a bearer token may present.
bool visibleAscii(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return !s.empty();
}

// The JSON object body of a POST ({} when empty). False after answering 400.
bool body(const httplib::Request& req, httplib::Response& res, json& out,
          std::initializer_list<const char*> allowed) {
  if (req.body.empty()) {
    out = json::object();
    return true;
  }
  out = json::parse(req.body, nullptr, false);
  if (out.is_discarded() || !out.is_object()) {
    fail(res, 400, "the body must be a JSON object (UTF-8)");
    return false;
  }
  for (auto it = out.begin(); it != out.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (!ok) {
      fail(res, 400, "unknown field '" + it.key() + "'", it.key());
      return false;
    }
  }
  return true;
}

// Reasons are logged and audited as given: no control characters (NUL, line
// breaks, escapes) that would make the log line and the record differ.
bool reasonOf(const json& b, httplib::Response& res, std::string& out, bool required) {
  if (!b.contains("reason")) {
    if (required) fail(res, 400, "a reason is required", "reason");
    return !required;
  }
  if (!b["reason"].is_string() || b["reason"].get<std::string>().empty() ||
      b["reason"].get<std::string>().size() > 1024) {
    fail(res, 400, "reason must be a non-empty string of at most 1024 bytes", "reason");
    return false;
  }
  if (hasControl(b["reason"].get<std::string>())) {
    fail(res, 400, "reason must not contain control characters", "reason");
    return false;
  }
  out = b["reason"].get<std::string>();
  return true;
}

bool secondsOf(const json& b, const char* key, httplib::Response& res, std::int64_t& out,
               std::int64_t max) {
  if (!b.contains(key)) return true;
  const json& v = b[key];
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > max) {
    fail(res, 400, std::string(key) + " must be an integer between 1 and " + std::to_string(max),
         key);
    return false;
  }
  out = v.get<std::int64_t>();
  return true;
}

json overrideJson(const health::OverrideRecord& o) {
  json j = {{"kind", o.kind},
            {"target", o.target},
            {"reason", o.reason},
            {"created", o.createdUnix},
            {"identity", o.identity}};
  j["expires"] = o.expiresUnix ? json(o.expiresUnix) : json(nullptr);
  if (o.kind == "member_load") j["load"] = o.value;
  return j;
}

// The longest TTL any pool containing the region (or member) answers with:
// after it, resolvers have let go of answers given before a change.
std::uint32_t maxTtlFor(const gslb::Gslb& g, const std::string& kind, const std::string& target) {
  std::uint32_t ttl = 0;
  const std::int32_t region = kind == "region" ? g.regionIndex(target) : -1;
  const std::int32_t member = kind == "member" ? g.memberIndex(target) : -1;
  for (const gslb::Pool& p : g.pools)
    for (const gslb::PoolRegion& pr : p.regions) {
      bool hit = region >= 0 && pr.region == static_cast<geo::RegionId>(region);
      for (const auto* ms : {&pr.v4, &pr.v6})
        for (const gslb::Member& m : *ms)
          hit = hit || (member >= 0 && m.id == static_cast<std::uint32_t>(member));
      if (hit) ttl = std::max(ttl, p.ttl);
    }
  return ttl;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

// ---- tokens ----

bool parseTokens(std::string_view text, const std::string& where, std::vector<ApiToken>& out,
                 std::string* err) {
  out.clear();
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a BOM from an editor
  std::unordered_map<std::string, int> seen;                       // secret -> line
  int n = 0;
  auto bad = [&](const std::string& why) {
    if (err) *err = where + ":" + std::to_string(n) + ": " + why;
    out.clear();
    return false;
  };
  while (!text.empty()) {
    ++n;
    const std::size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.front() == '#') continue;
    ApiToken t;
    std::vector<std::string_view> fields;
    for (std::size_t from = 0;;) {
      const std::size_t colon = line.find(':', from);
      fields.push_back(
          trim(line.substr(from, colon == std::string_view::npos ? colon : colon - from)));
      if (colon == std::string_view::npos) break;
      from = colon + 1;
    }
    if (fields.size() > 3)
      return bad("too many ':' (expected NAME:SECRET or NAME:SECRET:read|write)");
    if (fields.size() == 1) {
      t.name = "token-" + std::to_string(n);
      t.secret = std::string(fields[0]);
    } else {
      t.name = std::string(fields[0]);
      t.secret = std::string(fields[1]);
    }
    if (fields.size() == 3) {
      if (fields[2] == "read")
        t.scope = ApiToken::Scope::Read;
      else if (fields[2] == "write")
        t.scope = ApiToken::Scope::Write;
      else
        return bad("unknown scope '" + std::string(fields[2]) + "' (read or write)");
    }
    if (t.name.empty()) return bad("a token needs a name before ':'");
    if (!validUtf8(t.name) || hasControl(t.name))
      return bad("the token name is not UTF-8 text without control characters");
    if (t.secret.size() < 16) return bad("a token needs a name and a secret of at least 16 bytes");
    if (!visibleAscii(t.secret))
      return bad("a secret holds visible ASCII characters only (no spaces or control characters)");
    if (auto [it, fresh] = seen.emplace(t.secret, n); !fresh)
      return bad("the same secret as line " + std::to_string(it->second) +
                 ": two names for one secret make the audit ambiguous");
    out.push_back(std::move(t));
  }
  if (out.empty()) {
    if (err) *err = where + ": no token in the admin token file";
    return false;
  }
  return true;
}

bool loadTokens(const std::string& path, std::vector<ApiToken>& out, std::string* err) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    *err = path + ": is a directory, not an admin token file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *err = path + ": cannot read the admin token file: " + std::strerror(errno);
    return false;
  }
  if (st.st_mode & 0077)
    GEODNS_LOG_WARN("admin: %s is readable by group or others; chmod 600 it", path.c_str());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    *err = path + ": cannot read the admin token file";
    return false;
  }
  return parseTokens(text.str(), path, out, err);
}

const ApiToken* matchToken(const std::vector<ApiToken>& tokens, const std::string& presented) {
  const ApiToken* found = nullptr;
  for (const ApiToken& t : tokens) {  // every token is compared: timing says nothing
    unsigned char diff = t.secret.size() != presented.size();
    const std::size_t n = std::max(t.secret.size(), presented.size());
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned char a = i < t.secret.size() ? static_cast<unsigned char>(t.secret[i]) : 0;
      const unsigned char b = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      diff |= static_cast<unsigned char>(a ^ b);
    }
    if (diff == 0 && !found) found = &t;
  }
  return found;
}

// ---- the router: cpp-httplib's request parser and routes over bytes in memory ----

namespace {

// One buffered request in, the response appended to `out`.
class MemoryStream final : public httplib::Stream {
 public:
  MemoryStream(std::string_view in, std::string& out, const std::string& peer)
      : in_(in), out_(out), peer_(peer) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_;
    port = 0;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "";
    port = 0;
  }
  // Below FD_SETSIZE: httplib answers 500 to a stream whose socket is above it.
  socket_t socket() const override { return 0; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  std::string& out_;
  const std::string& peer_;
};

std::string cannedResponse(int status, const char* reason, const std::string& message) {
  const std::string body = dumpJson({{"error", message}, {"field", nullptr}});
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// The request without its Range headers: no endpoint serves parts, and
// cpp-httplib would otherwise cut any answer, errors included, into
// multipart/byteranges (found by fuzz_admin_api).
bool isRangeLine(std::string_view line) {
  const std::size_t colon = line.find(':');
  return colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), "Range");
}

std::string_view withoutRange(std::string_view request, std::string& scratch) {
  // Head lines after the request line, up to the blank line.
  std::vector<std::pair<std::size_t, std::size_t>> drop;
  std::size_t from = request.find('\n');
  while (from != std::string_view::npos && ++from < request.size()) {
    const std::size_t nl = request.find('\n', from);
    const std::size_t end = nl == std::string_view::npos ? request.size() : nl + 1;
    const std::string_view line =
        trim(request.substr(from, end - from - (nl != std::string_view::npos)));
    if (line.empty()) break;
    if (isRangeLine(line)) drop.push_back({from, end});
    from = nl;
  }
  if (drop.empty()) return request;
  scratch.clear();
  std::size_t at = 0;
  for (const auto& [b, e] : drop) {
    scratch.append(request.substr(at, b - at));
    at = e;
  }
  scratch.append(request.substr(at));
  return scratch;
}

}  // namespace

class AdminRouter final : public httplib::Server {
 public:
  // One request through httplib's parser and the routes; `keepAlive` says
  // whether the connection may carry another.
  std::string handle(std::string_view request, const std::string& peer, bool close,
                     bool* keepAlive) {
    std::string out, scratch;
    MemoryStream strm(withoutRange(request, scratch), out, peer);
    bool closed = false;
    bool ok = false;
    try {
      ok = process_request(strm, close, closed, nullptr);
    } catch (const std::exception& e) {  // the parser itself, not a handler
      GEODNS_LOG_LIMITED(Error, "admin: request failed: %s", e.what());
      out = cannedResponse(500, "Internal Server Error", "internal error");
      ok = false;
    }
    if (out.empty()) {  // nothing parsable (e.g. an empty request)
      out = cannedResponse(400, "Bad Request", "malformed request");
      ok = false;
    }
    if (keepAlive) *keepAlive = ok && !close && !closed;
    return out;
  }
};

// ---- the HTTP front: accept, read whole requests, run them, write answers ----

namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

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

class AdminFront {
 public:
  using Handler = std::function<std::string(std::string_view, const std::string&, bool, bool*)>;

  AdminFront(const AdminLimits& limits, unsigned threads, AdminFrontCounters& counters,
             Handler handler)
      : limits_(limits),
        threads_(std::max(1u, threads)),
        counters_(counters),
        handler_(std::move(handler)) {}
  ~AdminFront() {
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
    auto lastSweep = std::chrono::steady_clock::now();
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
      const auto now = std::chrono::steady_clock::now();
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
          listenerPausedUntil_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
          return;
      }
      const std::string ip = IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&peer)).str();
      const auto now = std::chrono::steady_clock::now();
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
    c.out = cannedResponse(status, reason, message);
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
    const auto now = std::chrono::steady_clock::now();
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
    const auto now = std::chrono::steady_clock::now();
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

// ---- AdminApi ----

AdminApi::AdminApi(const config::AdminConfig& cfg, std::vector<ApiToken> tokens, AdminDeps deps,
                   AdminLimits limits)
    : cfg_(cfg),
      deps_(std::move(deps)),
      limits_(limits),
      tokens_(std::move(tokens)),
      router_(std::make_unique<AdminRouter>()) {
  routes();
}

AdminApi::~AdminApi() {
  stop();
}

void AdminApi::setTokens(std::vector<ApiToken> tokens) {
  std::lock_guard lock(tokensMu_);
  tokens_ = std::move(tokens);
}

std::string AdminApi::handle(std::string_view request, const std::string& peer) {
  return router_->handle(request, peer, true, nullptr);
}

bool AdminApi::start(std::string* err) {
  auto addr = parseHostPort(cfg_.listen, err);
  if (!addr) return false;
  const IpAddress ip = IpAddress::fromSockaddr(addr->sa());
  const bool loopback = ip.family == 4 ? ip.bytes[0] == 127 : addr->host() == "::1";
  if (!loopback)
    GEODNS_LOG_WARN("admin: listening on %s, which is not a loopback address", cfg_.listen.c_str());
  front_ = std::make_unique<AdminFront>(
      limits_, cfg_.threads, counters_,
      [this](std::string_view request, const std::string& peer, bool close, bool* keepAlive) {
        return router_->handle(request, peer, close, keepAlive);
      });
  std::string why;
  port_ = front_->bind(*addr, &why);
  if (port_ <= 0) {
    *err = "admin API: cannot bind " + cfg_.listen + ": " + why;
    front_.reset();
    return false;
  }
  front_->start();
  GEODNS_LOG_INFO("admin API on %s:%d", addr->host().c_str(), port_);
  return true;
}

void AdminApi::stop() {
  if (front_) front_->stop();
}

// ---- routes ----

namespace {

// The bearer token of a request. Only visible ASCII after "Bearer ": a NUL
// or trailing junk is refused here, never compared (cpp-httplib's
// get_header_value() would cut the value at a NUL and accept the prefix).
enum class Auth { Ok, Missing, Malformed };
Auth bearerOf(const httplib::Request& req, std::string& token) {
  const auto range = req.headers.equal_range("Authorization");
  if (range.first == range.second) return Auth::Missing;
  if (std::next(range.first) != range.second) return Auth::Malformed;  // two of them
  const std::string& v = range.first->second;
  if (v.size() < 7 || !iequals(std::string_view(v).substr(0, 7), "Bearer ")) return Auth::Missing;
  std::string_view t = std::string_view(v).substr(7);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  if (!visibleAscii(t)) return Auth::Malformed;
  token = std::string(t);
  return Auth::Ok;
}

const char* statusText(int status) {
  switch (status) {
    case 400:
      return "malformed request";
    case 404:
      return "no such endpoint";
    case 405:
      return "method not allowed";
    case 413:
      return "the body is too large";
    case 414:
      return "the request target is too long";
    case 416:
      return "bad range";
    default:
      return status >= 500 ? "internal error" : "request refused";
  }
}

}  // namespace

void AdminApi::routes() {
  httplib::Server& s = *router_;
  s.set_payload_max_length(limits_.maxBodyBytes);
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) fail(res, res.status, statusText(res.status));
  });
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        GEODNS_LOG_LIMITED(Error, "admin: request failed: %s", what.c_str());
        fail(res, 500, "internal error");
      });
  // Bytes that are not UTF-8 in the path or the query: 400 before any
  // handler sees them (they would end up in JSON answers and logs).
  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!validUtf8(req.path)) {
      fail(res, 400, "the path is not valid UTF-8");
      return httplib::Server::HandlerResponse::Handled;
    }
    for (const auto& [k, v] : req.params)
      if (!validUtf8(k) || !validUtf8(v)) {
        fail(res, 400, "a query parameter is not valid UTF-8", validUtf8(k) ? k : "");
        return httplib::Server::HandlerResponse::Handled;
      }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Unauthenticated: liveness and readiness for orchestrators. Ready means
  // DNS is being served; a state database that fails shows in the detail
  // but does not make a serving node unready (restarting it would not help).
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}});
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = deps_.ready && deps_.ready->load();
    json j = {{"ready", ready}};
    // The state database's condition, once it has something to report.
    const health::StoreStatus st = deps_.store ? deps_.store->status() : health::StoreStatus{};
    if (!st.writable || st.errors > 0) {
      json d = {{"writable", st.writable}, {"errors_total", st.errors}};
      if (!st.error.empty()) d["last_error"] = st.error;
      j["state_store"] = d;
    }
    reply(res, ready ? 200 : 503, j);
  });

  // Everything else needs "Authorization: Bearer TOKEN"; changes need a
  // token with the write scope.
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, const ApiToken&)>;
  auto authed = [this](ApiToken::Scope needs, Handler h) {
    return [this, needs, h](const httplib::Request& req, httplib::Response& res) {
      std::string presented;
      switch (bearerOf(req, presented)) {
        case Auth::Missing:
          res.set_header("WWW-Authenticate", "Bearer realm=\"geodnsd\"");
          return fail(res, 401, "missing bearer token");
        case Auth::Malformed:
          res.set_header("WWW-Authenticate", "Bearer realm=\"geodnsd\", error=\"invalid_request\"");
          return fail(res, 401, "malformed Authorization header");
        case Auth::Ok:
          break;
      }
      ApiToken who;
      {
        std::lock_guard lock(tokensMu_);
        const ApiToken* t = matchToken(tokens_, presented);
        if (!t) return fail(res, 403, "token not accepted");
        who = *t;
      }
      if (needs == ApiToken::Scope::Write && who.scope != ApiToken::Scope::Write)
        return fail(res, 403,
                    "token '" + who.name + "' may only read; this call needs a write token");
      h(req, res, who);
    };
  };
  constexpr auto kRead = ApiToken::Scope::Read;
  constexpr auto kWrite = ApiToken::Scope::Write;

  s.Get("/metrics",
        authed(kRead, [this](const httplib::Request&, httplib::Response& res, const ApiToken&) {
          auto snap = deps_.holder->current();
          MetricsExtras x = deps_.extras ? deps_.extras() : MetricsExtras{};
          x.failovers = deps_.runner->failoverCounts();
          if (deps_.admin) x.adminActions = deps_.admin->actionCounts();
          for (const auto& f : deps_.runner->failoverStates())
            x.activeRegions.push_back({f.pool, f.activeRegion});
          ResilienceExtras& r = x.resilience;
          if (deps_.store) {
            const health::StoreStatus st = deps_.store->status();
            r.hasStore = true;
            r.storeWritable = st.writable;
            r.storeErrors = st.errors;
            r.storeRecoveries = st.recoveries;
          }
          r.adminRefusedPerClient = counters_.refusedPerClient.load();
          r.adminRefusedTotal = counters_.refusedTotal.load();
          r.adminTimeouts = counters_.timeouts.load();
          r.adminAcceptErrors = counters_.acceptErrors.load();
          r.adminRejected = counters_.rejected.load();
          res.set_content(deps_.metrics->render(*snap, x), "text/plain; version=0.0.4");
        }));
  s.Get("/v1/status",
        authed(kRead, [this](const httplib::Request&, httplib::Response& res, const ApiToken&) {
          auto snap = deps_.holder->current();
          const gslb::Gslb& g = *snap->gslb;
          const health::HealthView* hv =
              snap->health && snap->health->config == g.configId ? snap->health.get() : nullptr;
          std::map<std::string, health::FailoverRecord> fo;
          for (const auto& f : deps_.runner->failoverStates()) fo[f.pool] = f;
          std::map<std::string, health::OverrideRecord> byKey;
          for (const auto& o : deps_.admin->overrides()) byKey[o.key] = o;
          json pools = json::array();
          for (const gslb::Pool& p : g.pools) {
            json jp = {{"name", p.name}, {"ttl", p.ttl}};
            // The TTL answers carry now (health may shorten it): per region,
            // for clients that rank it first; the pool's is the longest.
            const bool capped = healthCapsTtl(g, static_cast<std::size_t>(&p - g.pools.data()));
            std::uint32_t longest = 0;
            if (auto it = fo.find(p.name); it != fo.end() && p.failover)
              jp["failover"] = {{"active_region", it->second.activeRegion},
                                {"since", it->second.sinceUnix},
                                {"reason", it->second.reason},
                                {"forced", it->second.forced}};
            json regions = json::array();
            for (const gslb::PoolRegion& pr : p.regions) {
              const std::string& rn = g.regions[pr.region].name;
              json jr = {{"name", rn}};
              const std::uint32_t ttlNow =
                  capped
                      ? regionAnswerTtl(g, p, static_cast<std::size_t>(&pr - p.regions.data()), hv)
                      : p.ttl;
              jr["answer_ttl_s"] = ttlNow;
              longest = std::max(longest, ttlNow);
              auto d = byKey.find(AdminState::key("region_drain", rn));
              jr["drained"] = d != byKey.end();
              if (d != byKey.end()) jr["drain"] = overrideJson(d->second);
              if (!pr.cname.empty()) jr["cname"] = name::toText(name::asSpan(pr.cname));
              json members = json::array();
              for (const auto* ms : {&pr.v4, &pr.v6})
                for (const gslb::Member& m : *ms) {
                  const std::string& mn = g.memberNames[m.id];
                  json jm = {{"address", mn}, {"weight", m.weight}};
                  const health::TargetHealth* th =
                      hv && m.target >= 0 && static_cast<std::size_t>(m.target) < hv->targets.size()
                          ? &hv->targets[static_cast<std::size_t>(m.target)]
                          : nullptr;
                  jm["probed"] = m.target >= 0;
                  jm["state"] = th ? health::stateName(th->state) : "not probed";
                  jm["up"] = th ? th->up : true;
                  jm["latency_ms"] = th && th->latencyMs > 0 ? json(th->latencyMs) : json(nullptr);
                  double load = th && th->load >= 0 ? th->load : -1;
                  std::string loadSource = load >= 0 ? "probe" : "none";
                  auto pushed = byKey.find(AdminState::key("member_load", mn));
                  if (pushed != byKey.end()) {
                    load = pushed->second.value;
                    loadSource = "pushed";
                    jm["load_expires"] = pushed->second.expiresUnix;
                  }
                  jm["load"] = load >= 0 ? json(load) : json(nullptr);
                  jm["load_source"] = loadSource;
                  auto md = byKey.find(AdminState::key("member_drain", mn));
                  const bool drained = md != byKey.end() || d != byKey.end();
                  jm["drained"] = drained;
                  if (md != byKey.end()) jm["drain"] = overrideJson(md->second);
                  // capacity_weighted's weight without shed_load watermarks.
                  const double eff = drained || !(th ? th->up : true)
                                         ? 0.0
                                         : m.weight * (load >= 0 ? std::max(0.0, 1.0 - load) : 1.0);
                  jm["effective_weight"] = eff;
                  members.push_back(jm);
                }
              jr["members"] = members;
              regions.push_back(jr);
            }
            jp["regions"] = regions;
            jp["answer_ttl_s"] = longest;
            pools.push_back(jp);
          }
          json overrides = json::array();
          for (const auto& [k, o] : byKey) {
            json jo = overrideJson(o);
            if (o.kind != "member_load") {
              const std::uint32_t ttl =
                  maxTtlFor(g, o.kind == "region_drain" ? "region" : "member", o.target);
              jo["answer_ttl_s"] = ttl;
              jo["resolvers_moved_by"] = o.createdUnix + ttl;  // when caches have let go
            }
            overrides.push_back(jo);
          }
          reply(res, 200,
                {{"generation", snap->generation}, {"pools", pools}, {"overrides", overrides}});
        }));

  // Drains and undrains of regions and members.
  for (const char* what : {"region", "member"}) {
    for (bool drain : {true, false}) {
      const std::string kindName = std::string(what);
      const std::string pattern =
          std::string("/v1/") + what + "s/([^/]+)/" + (drain ? "drain" : "undrain");
      s.Post(pattern,
             authed(kWrite, [this, kindName, drain](const httplib::Request& req,
                                                    httplib::Response& res, const ApiToken& who) {
               auto snap = deps_.holder->current();
               const gslb::Gslb& g = *snap->gslb;
               std::string target = req.matches[1];
               if (kindName == "region") {
                 if (g.regionIndex(target) < 0) return fail(res, 404, "no region '" + target + "'");
               } else {
                 const std::int32_t m = g.memberIndex(target);
                 if (m < 0) return fail(res, 404, "no member with address '" + target + "'");
                 target = g.memberNames[static_cast<std::size_t>(m)];
               }
               json b;
               if (!body(req, res, b,
                         drain ? std::initializer_list<const char*>{"reason", "expires_in_s"}
                               : std::initializer_list<const char*>{"reason"}))
                 return;
               std::string reason;
               std::int64_t expiresIn = 0;
               if (!reasonOf(b, res, reason, true)) return;
               if (drain && !secondsOf(b, "expires_in_s", res, expiresIn, kMaxExpirySec)) return;
               const std::string kind = kindName + "_drain";
               const std::string key = AdminState::key(kind, target);
               const std::int64_t now = deps_.clock->unixSeconds();
               health::AuditRecord audit{
                   0, (drain ? "drain_" : "undrain_") + kindName, target, reason, who.name, ""};
               std::string err;
               bool changed = true;
               health::OverrideRecord rec{
                   key, kind, target, reason, 0, now, expiresIn ? now + expiresIn : 0, who.name};
               if (drain) {
                 if (expiresIn) audit.detail = json{{"expires", now + expiresIn}}.dump();
                 if (!deps_.admin->put(rec, audit, &err))
                   return fail(res, 503, "not recorded (state database): " + err);
               } else if (!deps_.admin->remove(key, audit, &changed, &err)) {
                 return fail(res, 503, "not recorded (state database): " + err);
               }
               GEODNS_LOG_INFO("admin: %s %s %s by %s: %s", drain ? "drain" : "undrain",
                               kindName.c_str(), target.c_str(), who.name.c_str(), reason.c_str());
               const bool published =
                   deps_.runner->waitPublished(deps_.runner->requestPublish(), deps_.publishWait);
               const std::uint32_t ttl = maxTtlFor(g, kindName, target);
               json out = {{"ok", true},
                           {"action", audit.action},
                           {"target", target},
                           {"changed", changed},
                           {"published", published},
                           {"answer_ttl_s", ttl},
                           {"resolvers_moved_by", now + ttl}};
               if (drain) out["override"] = overrideJson(rec);
               reply(res, 200, out);
             }));
    }
  }

  s.Post(R"(/v1/members/([^/]+)/load)",
         authed(kWrite, [this](const httplib::Request& req, httplib::Response& res,
                               const ApiToken& who) {
           auto snap = deps_.holder->current();
           const gslb::Gslb& g = *snap->gslb;
           const std::int32_t m = g.memberIndex(req.matches[1]);
           if (m < 0)
             return fail(res, 404, "no member with address '" + std::string(req.matches[1]) + "'");
           const std::string target = g.memberNames[static_cast<std::size_t>(m)];
           json b;
           if (!body(req, res, b, {"load", "ttl_s", "reason"})) return;
           if (!b.contains("load") || !b["load"].is_number() || b["load"].get<double>() < 0 ||
               b["load"].get<double>() > 1)
             return fail(res, 400, "load must be a number in [0, 1]", "load");
           std::int64_t ttl = 60;
           if (!secondsOf(b, "ttl_s", res, ttl, 86400)) return;
           std::string reason = "pushed load";
           if (!reasonOf(b, res, reason, false)) return;
           const std::int64_t now = deps_.clock->unixSeconds();
           const double load = b["load"].get<double>();
           health::OverrideRecord rec{AdminState::key("member_load", target),
                                      "member_load",
                                      target,
                                      reason,
                                      load,
                                      now,
                                      now + ttl,
                                      who.name};
           std::string err;
           if (!deps_.admin->put(rec,
                                 {0, "load_member", target, reason, who.name,
                                  json{{"load", load}, {"ttl_s", ttl}}.dump()},
                                 &err))
             return fail(res, 503, "not recorded (state database): " + err);
           GEODNS_LOG_INFO("admin: load %.3f for member %s for %llds by %s", load, target.c_str(),
                           static_cast<long long>(ttl), who.name.c_str());
           const bool published =
               deps_.runner->waitPublished(deps_.runner->requestPublish(), deps_.publishWait);
           reply(res, 200,
                 {{"ok", true},
                  {"target", target},
                  {"load", load},
                  {"expires", now + ttl},
                  {"published", published}});
         }));

  for (bool force : {true, false}) {
    s.Post(std::string(R"(/v1/pools/([^/]+)/)") + (force ? "failover" : "failback"),
           authed(kWrite, [this, force](const httplib::Request& req, httplib::Response& res,
                                        const ApiToken& who) {
             auto snap = deps_.holder->current();
             const gslb::Gslb& g = *snap->gslb;
             const std::string poolName = req.matches[1];
             const gslb::Pool* pool = nullptr;
             for (const gslb::Pool& p : g.pools)
               if (p.name == poolName) pool = &p;
             if (!pool) return fail(res, 404, "no pool '" + poolName + "'");
             if (!pool->failover)
               return fail(res, 409, "pool '" + poolName + "' has no failover rule");
             json b;
             if (!body(req, res, b,
                       force ? std::initializer_list<const char*>{"region", "reason"}
                             : std::initializer_list<const char*>{"reason"}))
               return;
             std::string region;
             if (force) {
               if (!b.contains("region") || !b["region"].is_string())
                 return fail(res, 400, "region (a string) is required", "region");
               region = b["region"].get<std::string>();
               bool tier = false;
               for (auto t : pool->failover->tiers)
                 tier = tier || g.regions[pool->regions[t].region].name == region;
               if (!tier)
                 return fail(
                     res, 400,
                     "region '" + region + "' is not a failover tier of pool '" + poolName + "'",
                     "region");
             }
             std::string reason;
             if (!reasonOf(b, res, reason, true)) return;
             const std::string tagged = reason + " (by " + who.name + ")";
             // The probe thread applies it and writes its audit record in the
             // same step, so concurrent commands are audited in the order in
             // which they took effect; it publishes before we answer.
             const health::AuditRecord audit{
                 0,        force ? "failover" : "failback",
                 poolName, reason,
                 who.name, force ? json{{"region", region}}.dump() : ""};
             auto done = force ? deps_.runner->forceFailover(poolName, region, tagged, audit)
                               : deps_.runner->failback(poolName, tagged, audit);
             const bool published =
                 deps_.runner->waitPublished(deps_.runner->requestPublish(), deps_.publishWait);
             if (done.wait_for(published ? Duration::zero() : deps_.publishWait) !=
                 std::future_status::ready)
               return fail(res, 503,
                           "the command was not applied in time; check /v1/status before retrying");
             const HealthRunner::CommandResult r = done.get();
             using Result = HealthRunner::CommandResult::Outcome;
             if (r.outcome == Result::NotRecorded)
               return fail(res, 503, "not recorded (state database): " + r.error);
             if (r.outcome == Result::NoSuchPool) return fail(res, 409, r.error);
             GEODNS_LOG_INFO("admin: %s pool %s%s%s by %s: %s", force ? "failover" : "failback",
                             poolName.c_str(), force ? " to " : "", region.c_str(),
                             who.name.c_str(), reason.c_str());
             json out = {{"ok", true}, {"pool", poolName}, {"published", published}};
             for (const auto& f : deps_.runner->failoverStates())
               if (f.pool == poolName)
                 out["failover"] = {{"active_region", f.activeRegion},
                                    {"since", f.sinceUnix},
                                    {"reason", f.reason},
                                    {"forced", f.forced}};
             reply(res, 200, out);
           }));
  }

  s.Get("/v1/explain",
        authed(kRead, [this](const httplib::Request& req, httplib::Response& res, const ApiToken&) {
          if (!req.has_param("name")) return fail(res, 400, "name is required", "name");
          if (!req.has_param("client"))
            return fail(res, 400, "client (IP or IP/PREFIX) is required", "client");
          ExplainRequest er;
          er.name = req.get_param_value("name");
          er.type = req.has_param("type") ? req.get_param_value("type") : "A";
          er.json = true;
          std::string err;
          const std::string client = req.get_param_value("client");
          auto prefix = IpPrefix::parse(client, &err, true);
          if (!prefix) return fail(res, 400, "client: " + err, "client");
          er.client = *prefix;
          er.clientIsEcs = client.find('/') != std::string::npos;
          const std::string resolver =
              req.has_param("resolver") ? req.get_param_value("resolver") : "127.0.0.1";
          auto r = IpAddress::parse(resolver);
          if (!r) return fail(res, 400, "resolver must be an IP address", "resolver");
          er.resolver = *r;
          auto snap = deps_.holder->current();
          bool ok = false;
          std::string out = explain(*snap, er, ok);
          if (!ok) {
            while (!out.empty() && out.back() == '\n') out.pop_back();
            return fail(res, 400, out, out.rfind("unknown type", 0) == 0 ? "type" : "name");
          }
          res.set_content(out, "application/json");
        }));

  s.Post("/v1/reload", authed(kWrite, [this](const httplib::Request& req, httplib::Response& res,
                                             const ApiToken& who) {
           json b;
           if (!body(req, res, b, {"reason"})) return;
           std::string reason = "reload";
           if (!reasonOf(b, res, reason, false)) return;
           if (!deps_.reload) return fail(res, 503, "reload is not available");
           ReloadOutcome r = deps_.reload();
           bool published = false;
           if (r.ok) published = deps_.runner->waitPublished(r.ticket, deps_.publishWait);
           std::string err;
           if (deps_.admin)
             deps_.admin->record({0, r.ok ? "reload" : "reload_failed", "config", reason, who.name,
                                  json{{"errors", r.errors}}.dump()},
                                 &err);
           if (!r.ok)
             return reply(res, 422,
                          {{"error", "reload failed; the previous config keeps serving"},
                           {"field", nullptr},
                           {"errors", r.errors}});
           reply(res, 200,
                 {{"ok", true},
                  {"generation", deps_.holder->current()->generation},
                  {"published", published}});
         }));

  s.Get("/v1/audit",
        authed(kRead, [this](const httplib::Request& req, httplib::Response& res, const ApiToken&) {
          std::size_t limit = 100;
          if (req.has_param("limit")) {
            const std::string v = req.get_param_value("limit");
            std::size_t n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > 10000)
              return fail(res, 400, "limit must be an integer between 1 and 10000", "limit");
            limit = n;
          }
          std::vector<health::AuditRecord> records;
          std::string err;
          if (!deps_.admin->audit(limit, records, &err))
            return fail(res, 503, "the audit log cannot be read (state database): " + err);
          json entries = json::array();
          for (const auto& a : records) {
            json e = {{"time_ms", a.unixMs},
                      {"action", a.action},
                      {"target", a.target},
                      {"reason", a.reason},
                      {"identity", a.identity}};
            if (!a.detail.empty()) {
              auto d = json::parse(a.detail, nullptr, false);
              if (!d.is_discarded()) e["detail"] = d;
            }
            entries.push_back(e);
          }
          reply(res, 200, {{"entries", entries}});
        }));
}

}  // namespace geodns::server
