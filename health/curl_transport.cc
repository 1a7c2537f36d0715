#include "health/curl_transport.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <nlohmann/json.hpp>
#include <string>

#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "core/wire/query_builder.h"

namespace geodns::health {

namespace {

constexpr std::size_t kMaxBody = 64 * 1024;

struct HttpProbe {
  TargetId id = 0;
  const ProbeSpec* spec = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* resolve = nullptr;
  std::string body;
  std::string loadHeaderValue;
  char error[CURL_ERROR_SIZE] = {};
};

// DNS and TCP-connect probes run on plain non-blocking sockets whose
// descriptors join curl's poll: cheaper than a curl handle per connect.
struct SocketProbe {
  TargetId id = 0;
  const ProbeSpec* spec = nullptr;
  int fd = -1;
  bool tcp = false;
  std::uint16_t qid = 0;
  TimePoint started;
  TimePoint deadline;
};

socklen_t toSockaddr(const IpAddress& a, std::uint16_t port, sockaddr_storage& ss) {
  ss = {};
  if (a.family == 6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, a.bytes, 16);
    return sizeof(sockaddr_in6);
  }
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  std::memcpy(&in->sin_addr, a.bytes, 4);
  return sizeof(sockaddr_in);
}

std::size_t onBody(char* data, std::size_t size, std::size_t n, void* user) {
  auto* p = static_cast<HttpProbe*>(user);
  const std::size_t len = size * n;
  if (p->body.size() < kMaxBody) p->body.append(data, std::min(len, kMaxBody - p->body.size()));
  return len;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t n, void* user) {
  auto* p = static_cast<HttpProbe*>(user);
  const std::size_t len = size * n;
  const std::string& want = p->spec->loadHeader;
  if (!want.empty() && len > want.size() + 1 && strncasecmp(data, want.c_str(), want.size()) == 0 &&
      data[want.size()] == ':') {
    std::string v(data + want.size() + 1, len - want.size() - 1);
    v.erase(0, v.find_first_not_of(" \t"));
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
    p->loadHeaderValue = v;
  }
  return len;
}

std::string hostForUrl(const IpAddress& a) {
  return a.family == 6 ? "[" + a.str() + "]" : a.str();
}

}  // namespace

namespace {
const Clock& defaultClock() {
  static const SteadyClock clock;
  return clock;
}
}  // namespace

struct CurlProbeTransport::Impl {
  explicit Impl(const Clock& c) : clock(c) {}
  const Clock& clock;  // timeouts and probe times (monotonic)
  CURLM* multi = nullptr;
  std::list<HttpProbe> http;  // stable addresses: curl keeps pointers into them
  std::list<SocketProbe> sockets;
  std::uint16_t nextQid = 1;
  std::string userAgentHeader = "User-Agent: geodnsd-probe/0.1";

  void finishHttp(HttpProbe& p, CURLcode code, std::vector<ProbeResult>& out);
  void startDns(TargetId id, const ProbeSpec& spec);
  void startTcp(TargetId id, const ProbeSpec& spec);
};

CurlProbeTransport::CurlProbeTransport() : CurlProbeTransport(defaultClock()) {}

void CurlProbeTransport::setUserAgent(std::string userAgent) {
  impl_->userAgentHeader = "User-Agent: " + userAgent;
}

CurlProbeTransport::CurlProbeTransport(const Clock& clock) : impl_(std::make_unique<Impl>(clock)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  impl_->multi = curl_multi_init();
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
}

CurlProbeTransport::~CurlProbeTransport() {
  for (auto& p : impl_->http) {
    curl_multi_remove_handle(impl_->multi, p.easy);
    curl_easy_cleanup(p.easy);
    curl_slist_free_all(p.headers);
    curl_slist_free_all(p.resolve);
  }
  for (auto& d : impl_->sockets)
    if (d.fd >= 0) ::close(d.fd);
  curl_multi_cleanup(impl_->multi);
}

std::size_t CurlProbeTransport::running() const noexcept {
  return impl_->http.size() + impl_->sockets.size();
}

void CurlProbeTransport::start(TargetId id, const ProbeSpec& spec) {
  if (spec.kind == ProbeKind::Dns) return impl_->startDns(id, spec);
  if (spec.kind == ProbeKind::Tcp) return impl_->startTcp(id, spec);
  HttpProbe& p = impl_->http.emplace_back();
  p.id = id;
  p.spec = &spec;
  p.easy = curl_easy_init();
  CURL* e = p.easy;
  // From here on: HTTP or HTTPS.
  const std::string scheme = spec.kind == ProbeKind::Https ? "https" : "http";
  std::string host = hostForUrl(spec.address);
  if (!spec.host.empty()) {
    // Connect to the probed address but speak to the named host (Host header and SNI).
    host = spec.host;
    p.resolve = curl_slist_append(
        nullptr, (spec.host + ":" + std::to_string(spec.port) + ":" + spec.address.str()).c_str());
    curl_easy_setopt(e, CURLOPT_RESOLVE, p.resolve);
  }
  const std::string url = scheme + "://" + host + ":" + std::to_string(spec.port) + spec.path;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, &p);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p.error);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
      e, CURLOPT_TIMEOUT_MS,
      static_cast<long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(spec.timeout).count()));
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");  // probes go straight to their target
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (spec.method == "HEAD")
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (spec.method != "GET")
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, spec.method.c_str());
  p.headers = curl_slist_append(p.headers, impl_->userAgentHeader.c_str());
  for (const auto& h : spec.headers) p.headers = curl_slist_append(p.headers, h.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, p.headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &p);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &p);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, spec.tlsVerify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, spec.tlsVerify ? 2L : 0L);
  curl_multi_add_handle(impl_->multi, e);
}

void CurlProbeTransport::Impl::finishHttp(HttpProbe& p, CURLcode code,
                                          std::vector<ProbeResult>& out) {
  ProbeResult r;
  r.target = p.id;
  curl_off_t connectUs = 0, totalUs = 0;
  curl_easy_getinfo(p.easy, CURLINFO_CONNECT_TIME_T, &connectUs);
  curl_easy_getinfo(p.easy, CURLINFO_TOTAL_TIME_T, &totalUs);
  r.connectMs = static_cast<double>(connectUs) / 1000.0;
  r.totalMs = static_cast<double>(totalUs) / 1000.0;
  const ProbeSpec& s = *p.spec;
  if (code != CURLE_OK) {
    r.error = p.error[0] ? p.error : curl_easy_strerror(code);
  } else {
    long status = 0;
    curl_easy_getinfo(p.easy, CURLINFO_RESPONSE_CODE, &status);
    bool statusOk = false;
    for (const auto& [lo, hi] : s.expectStatus)
      statusOk = statusOk || (status >= lo && status <= hi);
    if (!statusOk) {
      r.error = "HTTP status " + std::to_string(status);
    } else if (!s.bodyContains.empty() && p.body.find(s.bodyContains) == std::string::npos) {
      r.error = "body does not contain '" + s.bodyContains + "'";
    } else {
      r.ok = true;
    }
    if (!s.loadHeader.empty()) {
      r.load = parseLoad(p.loadHeaderValue);
    } else if (!s.loadJsonPointer.empty()) {
      auto j = nlohmann::json::parse(p.body, nullptr, false);
      try {
        if (!j.is_discarded()) {
          const auto& v = j.at(nlohmann::json::json_pointer(s.loadJsonPointer));
          if (v.is_number())
            r.load = parseLoad(std::to_string(v.get<double>()));
          else if (v.is_string())
            r.load = parseLoad(v.get<std::string>());
        }
      } catch (const nlohmann::json::exception&) {  // no such member: no reading
      }
    }
  }
  out.push_back(std::move(r));
}

void CurlProbeTransport::Impl::startTcp(TargetId id, const ProbeSpec& spec) {
  SocketProbe d;
  d.id = id;
  d.spec = &spec;
  d.tcp = true;
  d.started = clock.now();
  d.deadline = d.started + spec.timeout;
  sockaddr_storage ss;
  const socklen_t len = toSockaddr(spec.address, spec.port, ss);
  d.fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (d.fd >= 0 && ::connect(d.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 &&
      errno != EINPROGRESS) {
    ::close(d.fd);  // refused at once: reported on the next collect()
    d.fd = -1;
    d.deadline = d.started;
  }
  sockets.push_back(d);
}

void CurlProbeTransport::Impl::startDns(TargetId id, const ProbeSpec& spec) {
  SocketProbe d;
  d.id = id;
  d.spec = &spec;
  d.qid = nextQid++;
  d.started = clock.now();
  d.deadline = d.started + spec.timeout;
  std::uint8_t q[dns::kMinUdpPayload];
  auto qname = name::fromText(spec.dnsName);
  std::size_t qlen = 0;
  if (qname) {
    wire::QuerySpec qs;
    qs.id = d.qid;
    qs.flags = 0;  // no recursion desired: ask the server itself
    qs.qname = name::asSpan(*qname);
    qs.qtype = spec.dnsType;
    qlen = wire::buildQuery(qs, q);
  }
  sockaddr_storage ss;
  const socklen_t len = toSockaddr(spec.address, spec.port, ss);
  d.fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (d.fd < 0 || qlen == 0 || ::connect(d.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::send(d.fd, q, qlen, 0) < 0) {
    if (d.fd >= 0) ::close(d.fd);
    d.fd = -1;
    d.deadline = d.started;  // fails on the next collect()
  }
  sockets.push_back(d);
}

void CurlProbeTransport::wakeup() noexcept {
  curl_multi_wakeup(impl_->multi);
}

void CurlProbeTransport::collect(std::vector<ProbeResult>& out, Duration maxWait) {
  Impl& m = *impl_;
  // DNS and TCP sockets join curl's poll as extra descriptors.
  std::vector<curl_waitfd> extra;
  for (const auto& d : m.sockets)
    if (d.fd >= 0)
      extra.push_back({d.fd, static_cast<short>(d.tcp ? CURL_WAIT_POLLOUT : CURL_WAIT_POLLIN), 0});
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(maxWait).count();
  const auto now0 = m.clock.now();
  for (const auto& d : m.sockets)
    wait = std::min<long long>(
        wait,
        std::max<long long>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(d.deadline - now0).count()));
  int running = 0;
  curl_multi_perform(m.multi, &running);
  curl_multi_poll(m.multi, extra.data(), static_cast<unsigned>(extra.size()),
                  static_cast<int>(wait), nullptr);
  curl_multi_perform(m.multi, &running);
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(m.multi, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    HttpProbe* p = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &p);
    m.finishHttp(*p, msg->data.result, out);
    curl_multi_remove_handle(m.multi, p->easy);
    curl_easy_cleanup(p->easy);
    curl_slist_free_all(p->headers);
    curl_slist_free_all(p->resolve);
    m.http.remove_if([p](const HttpProbe& x) { return &x == p; });
  }
  const auto now = m.clock.now();
  for (auto it = m.sockets.begin(); it != m.sockets.end();) {
    ProbeResult r;
    r.target = it->id;
    bool done = false;
    if (it->fd >= 0 && it->tcp) {
      pollfd pfd{it->fd, POLLOUT, 0};
      if (::poll(&pfd, 1, 0) == 1) {  // connected, or failed
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        ::getsockopt(it->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        r.totalMs = r.connectMs =
            std::chrono::duration<double, std::milli>(now - it->started).count();
        r.ok = soerr == 0;
        if (!r.ok) r.error = std::string("connect: ") + std::strerror(soerr);
        done = true;
      }
    } else if (it->fd >= 0) {
      std::uint8_t buf[4096];
      ssize_t n;
      while ((n = ::recv(it->fd, buf, sizeof buf, 0)) >= 0) {
        if (n < 12 || ((buf[0] << 8) | buf[1]) != it->qid || !(buf[2] & 0x80))
          continue;  // not our answer
        const int rcode = buf[3] & 0x0F;
        r.totalMs = r.connectMs =
            std::chrono::duration<double, std::milli>(now - it->started).count();
        const int answers = (buf[6] << 8) | buf[7];
        r.ok = rcode == it->spec->dnsRcode && (!it->spec->dnsExpectAnswer || answers > 0);
        if (rcode != it->spec->dnsRcode)
          r.error = "DNS rcode " + std::to_string(rcode);
        else if (!r.ok)
          r.error = "DNS answer has no records";
        done = true;
        break;
      }
    }
    if (!done && now >= it->deadline) {
      r.error = it->tcp ? (it->fd < 0 ? "connect refused" : "connect timeout")
                        : (it->fd < 0 ? "cannot send the DNS query" : "DNS timeout");
      done = true;
    }
    if (done) {
      if (it->fd >= 0) ::close(it->fd);
      out.push_back(std::move(r));
      it = m.sockets.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace geodns::health
