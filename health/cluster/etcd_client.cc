#include "health/cluster/etcd_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

#include "core/log.h"

namespace geodns::health::cluster {

namespace {

// ---- RAII over curl ----

struct EasyDeleter {
  void operator()(CURL* h) const noexcept { curl_easy_cleanup(h); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;

struct MultiDeleter {
  void operator()(CURLM* m) const noexcept { curl_multi_cleanup(m); }
};
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// An easy handle attached to a multi handle for as long as this lives.
class MultiAttachment {
 public:
  MultiAttachment(CURLM* m, CURL* e) : m_(m), e_(e) { curl_multi_add_handle(m_, e_); }
  ~MultiAttachment() { curl_multi_remove_handle(m_, e_); }
  MultiAttachment(const MultiAttachment&) = delete;
  MultiAttachment& operator=(const MultiAttachment&) = delete;

 private:
  CURLM* m_;
  CURL* e_;
};

// Clears a WatchCancel's waker before the multi handle it wakes is freed.
class WakerGuard {
 public:
  WakerGuard(WatchCancel& c, CURLM* m) : c_(c) {
    c_.setWaker([m] { curl_multi_wakeup(m); });
  }
  ~WakerGuard() { c_.clearWaker(); }
  WakerGuard(const WakerGuard&) = delete;
  WakerGuard& operator=(const WakerGuard&) = delete;

 private:
  WatchCancel& c_;
};

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// ---- body sinks ----

struct Sink {
  std::string body;
  std::size_t max = 0;
  bool overflow = false;
};

std::size_t onWrite(char* data, std::size_t size, std::size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  const std::size_t len = size * n;
  if (s->body.size() + len > s->max) {
    s->overflow = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  s->body.append(data, len);
  return len;
}

// The watch stream: whole JSON objects are cut out as they arrive; an error
// status's body is kept whole instead.
struct StreamSink {
  CURL* easy = nullptr;
  etcdjson::JsonObjectSplitter splitter;
  std::vector<std::string> objects;
  std::string errorBody;
  std::size_t max = 0;
  bool bad = false;
  explicit StreamSink(std::size_t maxObject) : splitter(maxObject), max(maxObject) {}
};

std::size_t onStreamWrite(char* data, std::size_t size, std::size_t n, void* user) {
  auto* s = static_cast<StreamSink*>(user);
  const std::size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    if (s->errorBody.size() + len > s->max) return 0;
    s->errorBody.append(data, len);
    return len;
  }
  if (!s->splitter.feed(std::string_view(data, len), s->objects)) {
    s->bad = true;
    return 0;
  }
  return len;
}

// Connect-level failures: the request cannot have reached etcd.
bool notSent(CURLcode code, CURL* easy) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return true;
    case CURLE_OPERATION_TIMEDOUT: {
      long sent = 0;
      curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent);
      return sent == 0;
    }
    default:
      return false;
  }
}

// Checks one endpoint URL: http(s)://host[:port][/], nothing else.
std::string checkEndpoint(std::string& url) {
  const bool https = url.rfind("https://", 0) == 0;
  if (!https && url.rfind("http://", 0) != 0) return "must start with http:// or https://";
  const std::size_t hostStart = https ? 8 : 7;
  std::size_t end = url.find('/', hostStart);
  if (end != std::string::npos && end + 1 != url.size()) return "must not have a path";
  if (end != std::string::npos) url.pop_back();
  const std::string authority = url.substr(hostStart);
  if (authority.empty()) return "has no host";
  if (authority.find('@') != std::string::npos)
    return "must not hold user info (use the auth options)";
  if (authority.find_first_of("?# ") != std::string::npos) return "has characters a host cannot";
  return {};
}

KvError unavailable(std::string msg, bool maybeApplied = false) {
  return {KvErrc::Unavailable, std::move(msg), 0, maybeApplied};
}

}  // namespace

// ---- the client ----

struct EtcdClient::Impl {
  EtcdOptions opt;
  const Clock& clock;

  std::mutex poolMu;
  std::vector<EasyPtr> pool;  // idle easy handles, each with its connection cache

  std::atomic<std::size_t> preferred{0};

  std::mutex authMu;  // held across an authenticate call: one at a time
  std::string token;
  std::uint64_t tokenGen = 0;

  std::atomic<std::uint64_t> requests{0}, failovers{0}, authentications{0}, watchReconnects{0};

  Impl(EtcdOptions o, const Clock& c) : opt(std::move(o)), clock(c) {}

  EasyPtr acquire() {
    {
      std::lock_guard lock(poolMu);
      if (!pool.empty()) {
        EasyPtr h = std::move(pool.back());
        pool.pop_back();
        return h;
      }
    }
    return EasyPtr(curl_easy_init());
  }
  void release(EasyPtr h) {
    std::lock_guard lock(poolMu);
    if (pool.size() < 8) pool.push_back(std::move(h));
  }

  // Options common to unary requests and watches.
  void setCommon(CURL* h, const std::string& url, const std::string& body, curl_slist* headers) {
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt.connectTimeout.count()));
    // Only our endpoints, never a proxy from the environment, no redirects.
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!opt.caFile.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opt.caFile.c_str());
    if (!opt.certFile.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, opt.certFile.c_str());
    if (!opt.keyFile.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, opt.keyFile.c_str());
  }

  static SlistPtr headers(const std::string& tok, bool requireLeader) {
    curl_slist* l = curl_slist_append(nullptr, "Content-Type: application/json");
    l = curl_slist_append(l, "Expect:");  // no 100-continue round trip
    if (!tok.empty()) l = curl_slist_append(l, ("Authorization: " + tok).c_str());
    // grpc-gateway turns Grpc-Metadata-* headers into gRPC metadata; etcd
    // ends a "hasleader" stream when its member loses the leader.
    if (requireLeader) l = curl_slist_append(l, "Grpc-Metadata-hasleader: true");
    return SlistPtr(l);
  }

  struct Reply {
    CURLcode code = CURLE_OK;
    long status = 0;
    std::string body;
    bool sent = false;      // the request may have reached etcd
    bool overflow = false;  // the answer exceeded maxResponseBytes
    std::string curlError;
  };

  Reply post(std::size_t ep, const char* path, const std::string& body, const std::string& tok) {
    Reply r;
    EasyPtr h = acquire();
    if (!h) {
      r.code = CURLE_FAILED_INIT;
      r.curlError = "curl_easy_init failed";
      return r;
    }
    curl_easy_reset(h.get());
    const std::string url = opt.endpoints[ep] + path;
    SlistPtr hdrs = headers(tok, false);
    Sink sink;
    sink.max = opt.maxResponseBytes;
    char err[CURL_ERROR_SIZE] = {};
    setCommon(h.get(), url, body, hdrs.get());
    curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(opt.requestTimeout.count()));
    curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, &onWrite);
    curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h.get(), CURLOPT_ERRORBUFFER, err);
    ++requests;
    r.code = curl_easy_perform(h.get());
    curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &r.status);
    r.sent = r.code == CURLE_OK || !notSent(r.code, h.get());
    r.overflow = sink.overflow;
    r.body = std::move(sink.body);
    if (r.code != CURLE_OK) r.curlError = err[0] ? err : curl_easy_strerror(r.code);
    curl_easy_setopt(h.get(), CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, nullptr);
    release(std::move(h));
    return r;
  }

  // The current token (authenticating first when there is none) and its
  // generation, or an error. Without a user: empty token, generation 0.
  KvResult<std::pair<std::string, std::uint64_t>> currentToken() {
    if (opt.user.empty()) return std::pair<std::string, std::uint64_t>{};
    std::lock_guard lock(authMu);
    if (token.empty()) {
      auto t = authenticate();
      if (!t) return t.error();
      token = std::move(t.value());
      ++tokenGen;
    }
    return std::pair{token, tokenGen};
  }

  void invalidateToken(std::uint64_t gen) {
    std::lock_guard lock(authMu);
    if (gen == tokenGen) token.clear();
  }

  // /v3/auth/authenticate on each endpoint in turn. Caller holds authMu.
  KvResult<std::string> authenticate() {
    const std::string body = etcdjson::encodeAuthenticate(opt.user, opt.password);
    const std::size_t n = opt.endpoints.size();
    const std::size_t first = preferred.load();
    std::string last;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t ep = (first + i) % n;
      Reply r = post(ep, "/v3/auth/authenticate", body, {});
      if (r.code != CURLE_OK) {
        last = opt.endpoints[ep] + ": " + r.curlError;
        ++failovers;
        continue;
      }
      if (r.status != 200) {
        KvError e = etcdjson::decodeError(r.status, r.body);
        if (e.code == KvErrc::Unavailable) {
          last = opt.endpoints[ep] + ": " + e.message;
          ++failovers;
          continue;
        }
        // etcd's message says "invalid user ID or password"; it never
        // echoes either.
        if (e.code == KvErrc::InvalidArgument) e.code = KvErrc::Unauthenticated;
        e.message = "authenticate as '" + opt.user + "': " + e.message;
        return e;
      }
      auto tok = etcdjson::decodeAuthToken(r.body);
      if (tok) {
        ++authentications;
        preferred.store(ep);
      }
      return tok;
    }
    return unavailable("authenticate: no endpoint answered (" + last + ")");
  }

  // One unary call with failover and re-authentication; the 200 body.
  KvResult<std::string> call(const char* path, const std::string& body, bool idempotent) {
    const std::size_t n = opt.endpoints.size();
    const std::size_t first = preferred.load();
    bool reauthed = false;
    std::string last;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t ep = (first + i) % n;
      auto tok = currentToken();
      if (!tok) return tok.error();
      Reply r = post(ep, path, body, tok->first);
      if (r.overflow) {
        return KvError{KvErrc::Protocol,
                       std::string(path) + ": answer larger than " +
                           std::to_string(opt.maxResponseBytes) + " bytes",
                       0, false};
      }
      if (r.code != CURLE_OK) {
        last = opt.endpoints[ep] + ": " + r.curlError;
        if (r.sent && !idempotent)
          return unavailable(std::string(path) + ": " + last + "; the write may have been applied",
                             true);
        GEODNS_LOG_LIMITED(Warn, "etcd endpoint %s failed (%s); trying the next",
                           opt.endpoints[ep].c_str(), r.curlError.c_str());
        ++failovers;
        continue;
      }
      if (r.status == 200) {
        preferred.store(ep);
        return std::move(r.body);
      }
      KvError e = etcdjson::decodeError(r.status, r.body);
      if (e.code == KvErrc::Unauthenticated && !opt.user.empty() && !reauthed) {
        // The token expired or the member restarted: once more, same endpoint.
        reauthed = true;
        invalidateToken(tok->second);
        --i;
        continue;
      }
      if (e.code == KvErrc::Unavailable) {
        last = opt.endpoints[ep] + ": " + e.message;
        if (!idempotent) {
          // "no leader" is refused before proposing; anything else (a
          // timeout, a leader change) may have committed.
          const bool refused = e.message.find("no leader") != std::string::npos;
          if (!refused) {
            e.message = std::string(path) + ": " + last;
            e.maybeApplied = true;
            return e;
          }
        }
        ++failovers;
        continue;
      }
      e.message = std::string(path) + ": " + e.message;
      return e;
    }
    return unavailable(std::string(path) + ": no endpoint answered (last: " + last + ")");
  }

  template <class T, class Decode>
  KvResult<T> unary(const char* path, const std::string& body, bool idempotent, Decode decode) {
    auto r = call(path, body, idempotent);
    if (!r) return r.error();
    return decode(r.value());
  }

  // ---- watch ----

  enum class StreamEnd : std::uint8_t { Canceled, Compacted, Broken, AuthRejected, Fatal };
  struct StreamResult {
    StreamEnd end = StreamEnd::Broken;
    KvError error;
    bool established = false;  // the server confirmed the watch
    bool delivered = false;    // events or progress came through it
    TimePoint establishedAt{};
  };

  // One stream on one endpoint, until it ends. `next` and `lastEventRev`
  // advance with what was delivered; `everEstablished` counts reconnections.
  StreamResult runStream(std::size_t ep, const WatchRequest& req, std::int64_t& next,
                         std::int64_t& lastEventRev, bool& everEstablished, const std::string& tok,
                         const WatchHandler& handler, WatchCancel& cancel) {
    StreamResult out;
    MultiPtr multi(curl_multi_init());
    EasyPtr easy(curl_easy_init());
    if (!multi || !easy) {
      out.end = StreamEnd::Fatal;
      out.error = {KvErrc::Unavailable, "curl init failed", 0, false};
      return out;
    }
    const std::string url = opt.endpoints[ep] + "/v3/watch";
    const std::string body = etcdjson::encodeWatchCreate(req, next);
    SlistPtr hdrs = headers(tok, true);
    StreamSink sink(opt.maxResponseBytes);
    sink.easy = easy.get();
    char err[CURL_ERROR_SIZE] = {};
    setCommon(easy.get(), url, body, hdrs.get());
    curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, &onStreamWrite);
    curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(easy.get(), CURLOPT_ERRORBUFFER, err);
    // A peer that vanishes without a reset is found by TCP keepalives.
    curl_easy_setopt(easy.get(), CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy.get(), CURLOPT_TCP_KEEPIDLE, 10L);
    curl_easy_setopt(easy.get(), CURLOPT_TCP_KEEPINTVL, 5L);
    ++requests;

    WakerGuard waker(cancel, multi.get());
    MultiAttachment attach(multi.get(), easy.get());
    int running = 1;
    while (true) {
      if (cancel.canceled()) {
        out.end = StreamEnd::Canceled;
        return out;
      }
      curl_multi_perform(multi.get(), &running);

      for (auto& obj : sink.objects) {
        auto msg = etcdjson::decodeWatchMessage(obj);
        if (!msg) {
          out.end = StreamEnd::Fatal;
          out.error = msg.error();
          return out;
        }
        auto& m = msg.value();
        if (m.streamError) {
          out.error = *m.streamError;
          out.end = m.streamError->code == KvErrc::Unavailable       ? StreamEnd::Broken
                    : m.streamError->code == KvErrc::Unauthenticated ? StreamEnd::AuthRejected
                                                                     : StreamEnd::Fatal;
          return out;
        }
        if (m.canceled) {
          if (m.compactRevision > 0) {
            out.end = StreamEnd::Compacted;
            out.error = {KvErrc::Compacted,
                         "watch from revision " + std::to_string(next) + ": compacted",
                         m.compactRevision, false};
            return out;
          }
          // etcd cancels a watch it does not permit, and one whose token
          // it no longer accepts ("rpc error: code = Unauthenticated desc =
          // etcdserver: invalid auth token"); the reason is only text.
          const std::string& why = m.cancelReason;
          const bool denied = why.find("permission denied") != std::string::npos;
          const bool unauth = why.find("Unauthenticated") != std::string::npos ||
                              why.find("invalid auth token") != std::string::npos;
          out.end = denied || unauth ? StreamEnd::AuthRejected : StreamEnd::Broken;
          out.error = {denied   ? KvErrc::PermissionDenied
                       : unauth ? KvErrc::Unauthenticated
                                : KvErrc::Unavailable,
                       "watch canceled by etcd: " + why, 0, false};
          return out;
        }
        WatchUpdate u;
        u.headerRevision = m.headerRevision;
        if (m.created) {
          out.established = true;
          out.establishedAt = clock.now();
          preferred.store(ep);
          if (everEstablished) ++watchReconnects;
          everEstablished = true;
          if (next == 0) next = m.headerRevision + 1;
          u.kind = WatchUpdate::Kind::Created;
        } else if (m.events.empty()) {
          // Progress: etcd sends it only to watchers that are in sync.
          u.kind = WatchUpdate::Kind::Progress;
          next = std::max(next, m.headerRevision + 1);
        } else {
          u.kind = WatchUpdate::Kind::Events;
          for (auto& e : m.events) {
            // A resumed stream starts after the last delivered revision;
            // this only guards against a server that repeats itself.
            if (e.kv.modRevision <= lastEventRev) continue;
            u.events.push_back(std::move(e));
          }
          if (u.events.empty()) continue;
          lastEventRev = u.events.back().kv.modRevision;
          next = std::max(next, lastEventRev + 1);
        }
        u.nextRevision = next;
        if (u.kind != WatchUpdate::Kind::Created) out.delivered = true;
        handler(u);
      }
      sink.objects.clear();

      int left = 0;
      while (CURLMsg* cm = curl_multi_info_read(multi.get(), &left)) {
        if (cm->msg != CURLMSG_DONE) continue;
        const CURLcode code = cm->data.result;
        long status = 0;
        curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
        if (sink.bad) {
          out.end = StreamEnd::Fatal;
          out.error = {KvErrc::Protocol, "watch stream is not a sequence of JSON objects", 0,
                       false};
        } else if (status != 0 && status != 200) {
          out.error = etcdjson::decodeError(status, sink.errorBody);
          out.end = out.error.code == KvErrc::Unavailable       ? StreamEnd::Broken
                    : out.error.code == KvErrc::Unauthenticated ? StreamEnd::AuthRejected
                                                                : StreamEnd::Fatal;
        } else if (code != CURLE_OK) {
          out.end = StreamEnd::Broken;
          out.error = unavailable(opt.endpoints[ep] + ": " +
                                  (err[0] ? std::string(err) : curl_easy_strerror(code)));
        } else {
          out.end = StreamEnd::Broken;
          out.error = unavailable(opt.endpoints[ep] + ": watch stream ended");
        }
        return out;
      }
      // Sleeps until data arrives, or cancel() wakes it, or a second passes.
      curl_multi_poll(multi.get(), nullptr, 0, 1000, nullptr);
    }
  }

  KvResult<Unit> watch(const WatchRequest& req, const WatchHandler& handler, WatchCancel& cancel) {
    const std::size_t n = opt.endpoints.size();
    std::int64_t next = req.startRevision;
    std::int64_t lastEventRev = req.startRevision > 0 ? req.startRevision - 1 : 0;
    std::size_t ep = preferred.load();
    TimePoint budgetFrom = clock.now();
    Duration backoff = std::chrono::milliseconds(50);
    std::size_t failedInRound = 0;
    bool reauthed = false;
    bool everEstablished = false;
    std::string last;
    while (true) {
      if (cancel.canceled()) return KvError{KvErrc::Canceled, "watch canceled", 0, false};
      auto tok = currentToken();
      if (!tok) {
        if (tok.error().code != KvErrc::Unavailable) return tok.error();
        last = tok.error().message;
      } else {
        StreamResult s =
            runStream(ep, req, next, lastEventRev, everEstablished, tok->first, handler, cancel);
        switch (s.end) {
          case StreamEnd::Canceled:
            return KvError{KvErrc::Canceled, "watch canceled", 0, false};
          case StreamEnd::Compacted:
            return s.error;
          case StreamEnd::Fatal:
            return s.error;
          case StreamEnd::AuthRejected:
            if (!opt.user.empty() && !reauthed) {
              reauthed = true;
              invalidateToken(tok->second);
              continue;  // same endpoint, fresh token
            }
            return s.error;
          case StreamEnd::Broken:
            break;
        }
        last = s.error.message;
        if (s.established) {
          // A stream that worked and broke: a fresh budget for finding the
          // next one. One that etcd accepted and dropped at once (no event,
          // no progress, under a second) does not count as working, or a
          // member that keeps doing so would be retried forever.
          const bool worked =
              s.delivered || clock.now() - s.establishedAt >= std::chrono::seconds(1);
          if (worked) {
            reauthed = false;
            budgetFrom = clock.now();
            backoff = std::chrono::milliseconds(50);
            failedInRound = 0;
          }
          WatchUpdate u;
          u.kind = WatchUpdate::Kind::Reconnecting;
          u.nextRevision = next;
          u.detail = last;
          handler(u);
        }
      }
      if (clock.now() - budgetFrom > opt.watchReconnectBudget) {
        return unavailable("watch: no endpoint for " +
                           std::to_string(opt.watchReconnectBudget.count()) + " ms (last: " + last +
                           "); resume from revision " + std::to_string(next));
      }
      GEODNS_LOG_LIMITED(Warn, "etcd watch via %s: %s; trying the next endpoint",
                         opt.endpoints[ep].c_str(), last.c_str());
      ++failovers;
      ep = (ep + 1) % n;
      if (++failedInRound >= n) {
        failedInRound = 0;
        if (cancel.waitFor(backoff)) return KvError{KvErrc::Canceled, "watch canceled", 0, false};
        backoff = std::min<Duration>(backoff * 2, std::chrono::seconds(1));
      }
    }
  }
};

EtcdClient::EtcdClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdClient::~EtcdClient() = default;

KvResult<std::unique_ptr<EtcdClient>> EtcdClient::create(EtcdOptions options, const Clock& clock) {
  std::string problems;
  auto problem = [&](const std::string& p) { problems += (problems.empty() ? "" : "; ") + p; };
  if (options.endpoints.empty()) problem("no endpoints");
  for (std::size_t i = 0; i < options.endpoints.size(); ++i) {
    const std::string why = checkEndpoint(options.endpoints[i]);
    // A URL with user info may hold a password: quoted only without one.
    const bool quotable = options.endpoints[i].find('@') == std::string::npos;
    if (!why.empty())
      problem("endpoint " + std::to_string(i) +
              (quotable ? " '" + options.endpoints[i] + "' " : " ") + why);
  }
  if (options.requestTimeout.count() <= 0) problem("request timeout must be positive");
  if (options.connectTimeout.count() <= 0) problem("connect timeout must be positive");
  if (options.certFile.empty() != options.keyFile.empty())
    problem("a client certificate needs its key, and a key its certificate");
  if (!options.user.empty() && options.password.empty()) problem("user without a password");
  if (options.user.empty() && !options.password.empty()) problem("password without a user");
  if (options.maxResponseBytes < 1024) problem("maxResponseBytes below 1024");
  if (!problems.empty()) return KvError{KvErrc::InvalidArgument, problems, 0, false};
  globalInit();
  return std::unique_ptr<EtcdClient>(
      new EtcdClient(std::make_unique<Impl>(std::move(options), clock)));
}

KvResult<RangeResponse> EtcdClient::range(const RangeRequest& r) {
  return impl_->unary<RangeResponse>("/v3/kv/range", etcdjson::encodeRange(r), true,
                                     etcdjson::decodeRange);
}

KvResult<PutResponse> EtcdClient::put(const PutRequest& r) {
  return impl_->unary<PutResponse>("/v3/kv/put", etcdjson::encodePut(r), false,
                                   etcdjson::decodePut);
}

KvResult<DeleteResponse> EtcdClient::deleteRange(const DeleteRequest& r) {
  return impl_->unary<DeleteResponse>("/v3/kv/deleterange", etcdjson::encodeDelete(r), false,
                                      etcdjson::decodeDelete);
}

KvResult<TxnResponse> EtcdClient::txn(const TxnRequest& r) {
  // A transaction that only reads may be repeated on another endpoint.
  auto readOnly = [](const std::vector<TxnOp>& ops) {
    return std::all_of(ops.begin(), ops.end(),
                       [](const TxnOp& op) { return std::holds_alternative<RangeRequest>(op); });
  };
  return impl_->unary<TxnResponse>("/v3/kv/txn", etcdjson::encodeTxn(r),
                                   readOnly(r.success) && readOnly(r.failure), etcdjson::decodeTxn);
}

KvResult<LeaseGrant> EtcdClient::leaseGrant(std::int64_t ttlSeconds) {
  if (ttlSeconds <= 0)
    return KvError{KvErrc::InvalidArgument, "lease TTL must be positive", 0, false};
  // Repeating a grant whose answer was lost leaves an unused lease that
  // expires by itself: harmless, so it may fail over.
  return impl_->unary<LeaseGrant>("/v3/lease/grant", etcdjson::encodeLeaseGrant(ttlSeconds), true,
                                  etcdjson::decodeLeaseGrant);
}

KvResult<LeaseGrant> EtcdClient::leaseKeepAlive(std::int64_t id) {
  return impl_->unary<LeaseGrant>("/v3/lease/keepalive", etcdjson::encodeLeaseId(id), true,
                                  etcdjson::decodeKeepAlive);
}

KvResult<Unit> EtcdClient::leaseRevoke(std::int64_t id) {
  auto r = impl_->call("/v3/lease/revoke", etcdjson::encodeLeaseId(id), true);
  if (!r) return r.error();
  return Unit{};
}

KvResult<std::int64_t> EtcdClient::compact(std::int64_t revision) {
  return impl_->unary<std::int64_t>("/v3/kv/compaction", etcdjson::encodeCompact(revision), true,
                                    etcdjson::decodeHeaderRevision);
}

KvResult<Unit> EtcdClient::watch(const WatchRequest& r, const WatchHandler& handler,
                                 WatchCancel& cancel) {
  return impl_->watch(r, handler, cancel);
}

KvResult<etcdjson::MemberStatus> EtcdClient::memberStatus(std::size_t endpoint) {
  if (endpoint >= impl_->opt.endpoints.size())
    return KvError{KvErrc::InvalidArgument, "no such endpoint", 0, false};
  auto tok = impl_->currentToken();
  if (!tok) return tok.error();
  auto r = impl_->post(endpoint, "/v3/maintenance/status", "{}", tok->first);
  if (r.code != CURLE_OK) return unavailable(impl_->opt.endpoints[endpoint] + ": " + r.curlError);
  if (r.status != 200) return etcdjson::decodeError(r.status, r.body);
  return etcdjson::decodeStatus(r.body);
}

EtcdStats EtcdClient::stats() const {
  return {impl_->requests.load(), impl_->failovers.load(), impl_->authentications.load(),
          impl_->watchReconnects.load()};
}

std::size_t EtcdClient::preferredEndpoint() const {
  return impl_->preferred.load();
}

}  // namespace geodns::health::cluster
