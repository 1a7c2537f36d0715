#include "server/secondary.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/log.h"
#include "core/wire/dns.h"
#include "core/wire/types.h"
#include "zones/load.h"
#include "zones/serial.h"
#include "zones/xfr_in.h"
#include "zones/zone_file.h"

namespace geodns::server {

namespace {

constexpr std::uint16_t kSoa = 6;
constexpr std::uint16_t kAxfr = 252;

std::string errnoText(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// Waits for `events` on fd until `deadline`; false on timeout, error or cancel.
bool waitFd(int fd, short events, TimePoint deadline, const std::atomic<bool>* cancel) {
  for (;;) {
    if (cancel && cancel->load()) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - monotonicNow());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

// ---- TCP transport ----------------------------------------------------------------------

bool TcpXfrTransport::exchange(const SocketAddress& primary, std::span<const std::uint8_t> request,
                               const std::function<bool(std::span<const std::uint8_t>)>& onMessage,
                               Duration idle, std::string* err) {
  Fd s;
  s.fd = ::socket(primary.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return *err = errnoText("socket"), false;
  TimePoint deadline = monotonicNow() + idle;
  if (::connect(s.fd, primary.sa(), primary.length) != 0) {
    if (errno != EINPROGRESS) return *err = errnoText("connect"), false;
    if (!waitFd(s.fd, POLLOUT, deadline, cancel_)) return *err = "connect: timed out", false;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) return *err = std::string("connect: ") + std::strerror(soerr), false;
  }
  std::vector<std::uint8_t> out;
  out.reserve(request.size() + 2);
  out.push_back(static_cast<std::uint8_t>(request.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(request.size()));
  out.insert(out.end(), request.begin(), request.end());
  for (std::size_t sent = 0; sent < out.size();) {
    const ssize_t n = ::send(s.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return *err = errnoText("send"), false;
    if (!waitFd(s.fd, POLLOUT, deadline, cancel_)) return *err = "send: timed out", false;
  }
  std::vector<std::uint8_t> in;
  std::size_t pos = 0;
  std::uint8_t buf[16384];
  for (;;) {
    // Every complete message in the buffer first.
    while (in.size() - pos >= 2) {
      const std::size_t len = (std::size_t{in[pos]} << 8) | in[pos + 1];
      if (in.size() - pos - 2 < len) break;
      const bool more = onMessage({in.data() + pos + 2, len});
      pos += 2 + len;
      if (!more) return true;
    }
    in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(pos));
    pos = 0;
    deadline = monotonicNow() + idle;  // progress resets the idle timer
    const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n > 0) {
      in.insert(in.end(), buf, buf + n);
      continue;
    }
    if (n == 0) return *err = "connection closed by the primary", false;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return *err = errnoText("recv"), false;
    if (!waitFd(s.fd, POLLIN, deadline, cancel_))
      return *err = "timed out waiting for the primary", false;
  }
}

// ---- NOTIFY inbox -------------------------------------------------------------------------

void NotifyInbox::post(name::Span zone) {
  {
    std::lock_guard lock(mu_);
    // Bounded: a primary repeating itself cannot grow this.
    if (zones_.size() < 256)
      zones_.emplace_back(reinterpret_cast<const char*>(zone.data()), zone.size());
  }
  cv_.notify_one();
}

void NotifyInbox::take(std::vector<std::string>& out) {
  std::lock_guard lock(mu_);
  for (auto& z : zones_) out.push_back(std::move(z));
  zones_.clear();
}

void NotifyInbox::waitUntil(TimePoint deadline) {
  std::unique_lock lock(mu_);
  // steady_clock: TimePoint is its time_point.
  cv_.wait_until(lock, deadline, [this] { return !zones_.empty() || woken_; });
  woken_ = false;
}

void NotifyInbox::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

// ---- the controller -----------------------------------------------------------------------

struct SecondaryController::Zone {
  config::ZoneSpec spec;
  std::string originWire;
  const tsig::Key* key = nullptr;
  std::optional<std::uint32_t> serial;  // served, or written and being published
  zones::SoaTimers timers{0, 3600, 600, 604800, 3600};
  std::int64_t lastSuccess = 0;  // unix seconds: the copy's mtime
  TimePoint next{};
  std::optional<TimePoint> lastCheck;  // the last successful check in this process
  std::uint32_t noDataWait = kMinInterval;
  bool expired = false;
  bool notified = false;
  bool failing = false;  // the last refresh failed (logged once per change)
};

SecondaryController::SecondaryController(XfrTransport& transport, const Clock& clock, Rng& rng,
                                         std::function<void()> publish)
    : transport_(transport), clock_(clock), rng_(rng), publish_(std::move(publish)) {}

SecondaryController::~SecondaryController() = default;

namespace {
std::uint32_t clampInterval(std::uint32_t s) {
  return std::clamp(s, SecondaryController::kMinInterval, SecondaryController::kMaxInterval);
}
}  // namespace

void SecondaryController::configure(const std::vector<config::ZoneSpec>& specs,
                                    std::shared_ptr<const tsig::Keyring> keys,
                                    const zones::ZoneSet& served) {
  keys_ = std::move(keys);
  std::vector<std::unique_ptr<Zone>> next;
  const TimePoint now = clock_.now();
  for (const auto& spec : specs) {
    if (!spec.secondary()) continue;
    const auto wire = name::fromText(spec.origin);
    if (!wire) continue;
    std::unique_ptr<Zone> z;
    for (auto& old : zones_)
      if (old && old->originWire == *wire) z = std::move(old);
    if (!z) {
      z = std::make_unique<Zone>();
      z->originWire = *wire;
      z->next = now;  // a new zone (or a restart) asks its primary at once
      struct stat st {};
      if (::stat(spec.file.c_str(), &st) == 0) z->lastSuccess = st.st_mtime;
    }
    z->spec = spec;
    z->key = nullptr;
    if (!spec.primaryTsig.empty() && keys_)
      if (const auto k = name::fromText(spec.primaryTsig)) z->key = keys_->find(name::asSpan(*k));
    const zones::Zone* zone = served.findZone(name::asSpan(*wire));
    if (zone && zone->origin() == *wire) {
      z->serial = zone->serial();
      z->timers = zones::soaTimers(*zone);
      z->expired = false;
      // The timers of the copy just published (a transfer) set the next check.
      if (z->lastCheck && !z->failing)
        z->next = *z->lastCheck + std::chrono::seconds(clampInterval(z->timers.refresh));
    } else if (!z->expired) {
      // Not served: no copy yet, a copy that did not load, or expired at load.
      z->serial.reset();
    }
    next.push_back(std::move(z));
  }
  zones_ = std::move(next);
}

void SecondaryController::notify(name::Span zone) {
  for (auto& z : zones_)
    if (name::asSpan(z->originWire).size() == zone.size() &&
        std::equal(zone.begin(), zone.end(),
                   reinterpret_cast<const std::uint8_t*>(z->originWire.data()))) {
      z->notified = true;
      ++stats_.notifies;
      GEODNS_LOG_INFO("zone %s (secondary): NOTIFY from a primary: checking now",
                      z->spec.origin.c_str());
    }
}

TimePoint SecondaryController::step() {
  TimePoint next = TimePoint::max();
  bool publish = false;
  for (auto& zp : zones_) {
    Zone& z = *zp;
    const TimePoint now = clock_.now();
    // Expire (RFC 1035 4.3.5): no successful refresh for EXPIRE seconds.
    if (z.serial && !z.expired &&
        clock_.unixSeconds() >= z.lastSuccess + static_cast<std::int64_t>(z.timers.expire)) {
      z.expired = true;
      z.serial.reset();
      ++stats_.expired;
      publish = true;
      GEODNS_LOG_ERROR(
          "zone %s (secondary): expired: no successful refresh for %u s; answering SERVFAIL",
          z.spec.origin.c_str(), static_cast<unsigned>(z.timers.expire));
    }
    if (z.notified || now >= z.next) {
      z.notified = false;
      publish = refresh(z, now) || publish;
    }
    next = std::min(next, z.next);
  }
  if (publish && publish_) publish_();
  return next;
}

bool SecondaryController::refresh(Zone& z, TimePoint now) {
  std::string why;
  for (const auto& primary : z.spec.primaries) {
    std::string err;
    const Attempt a = tryPrimary(z, primary, &err);
    if (a == Attempt::Failed) {
      why += (why.empty() ? "" : "; ") + primary.str() + ": " + err;
      continue;
    }
    z.lastSuccess = clock_.unixSeconds();
    z.lastCheck = now;
    z.noDataWait = kMinInterval;
    z.next = now + std::chrono::seconds(clampInterval(z.timers.refresh));
    if (z.failing)
      GEODNS_LOG_INFO("zone %s (secondary): refresh works again", z.spec.origin.c_str());
    z.failing = false;
    if (a == Attempt::UpToDate) {
      // The copy's mtime says when we last knew it current: expiry after a restart.
      if (::utimensat(AT_FDCWD, z.spec.file.c_str(), nullptr, 0) != 0)
        GEODNS_LOG_LIMITED(Warn, "zone %s (secondary): cannot touch %s: %s", z.spec.origin.c_str(),
                           z.spec.file.c_str(), std::strerror(errno));
      return false;
    }
    return true;  // Transferred: publish
  }
  ++stats_.failures;
  std::uint32_t wait;
  if (z.serial) {
    wait = clampInterval(z.timers.retry);
  } else {
    wait = z.noDataWait;
    z.noDataWait = std::min(kNoDataRetryMax, z.noDataWait * 2);
  }
  z.next = now + std::chrono::seconds(wait);
  if (!z.failing)
    GEODNS_LOG_WARN("zone %s (secondary): refresh failed (%s); retrying in %u s",
                    z.spec.origin.c_str(), why.c_str(), static_cast<unsigned>(wait));
  else
    GEODNS_LOG_LIMITED(Warn, "zone %s (secondary): refresh failed again (%s)",
                       z.spec.origin.c_str(), why.c_str());
  z.failing = true;
  return false;
}

SecondaryController::Attempt SecondaryController::tryPrimary(Zone& z, const SocketAddress& primary,
                                                             std::string* err) {
  if (!z.spec.primaryTsig.empty() && !z.key) {
    *err = "key '" + z.spec.primaryTsig + "' is not loaded";
    return Attempt::Failed;
  }
  const auto theirs = askSerial(z, primary, err);
  if (!theirs) return Attempt::Failed;
  ++stats_.checks;
  if (z.serial && zones::compareSerial(*z.serial, *theirs) != zones::SerialOrder::Less)
    return Attempt::UpToDate;
  if (!transfer(z, primary, err)) return Attempt::Failed;
  return Attempt::Transferred;
}

namespace {
// A query of ours, signed when `key` is set; the signer keeps the request MAC.
bool buildQuery(std::vector<std::uint8_t>& buf, std::uint16_t id, name::Span origin,
                std::uint16_t qtype, const tsig::Key* key, std::uint64_t now,
                std::optional<tsig::Signer>& signer) {
  buf.assign(512, 0);
  Writer w(buf.data(), buf.size());
  if (!zones::writeXfrQuery(w, id, origin, qtype)) return false;
  if (key) {
    signer = tsig::Signer::forRequest(*key);
    if (!signer->sign(w, now)) return false;
  }
  buf.resize(w.size());
  return true;
}

const char* verifierText(tsig::ResponseVerifier::Result r) {
  using R = tsig::ResponseVerifier::Result;
  switch (r) {
    case R::Ok:
      return "ok";
    case R::Unsigned:
      return "unsigned answer";
    case R::FormErr:
      return "malformed or missing TSIG";
    case R::BadKey:
      return "TSIG with another key";
    case R::BadSig:
      return "TSIG does not verify";
    case R::BadTime:
      return "TSIG time out of range";
    case R::PeerError:
      return "the primary reports a TSIG error";
    case R::TooManyUnsigned:
      return "too many unsigned messages";
  }
  return "?";
}
}  // namespace

std::optional<std::uint32_t> SecondaryController::askSerial(Zone& z, const SocketAddress& primary,
                                                            std::string* err) {
  const auto id = static_cast<std::uint16_t>(rng_.next());
  const auto now = static_cast<std::uint64_t>(clock_.unixSeconds());
  std::vector<std::uint8_t> q;
  std::optional<tsig::Signer> signer;
  if (!buildQuery(q, id, name::asSpan(z.originWire), kSoa, z.key, now, signer)) {
    *err = "cannot build the SOA query";
    return std::nullopt;
  }
  std::optional<std::uint32_t> serial;
  std::string why = "no answer";
  auto onMessage = [&](std::span<const std::uint8_t> msg) {
    if (signer) {
      tsig::ResponseVerifier v(*z.key, signer->lastMac());
      const auto r = v.verify(msg, now);
      if (r != tsig::ResponseVerifier::Result::Ok) {
        why = std::string("SOA answer: ") + verifierText(r);
        return false;
      }
    }
    serial = zones::readSoaAnswer(msg, id, name::asSpan(z.originWire), &why);
    if (!serial) why = "SOA answer: " + why;
    return false;  // one message
  };
  std::string terr;
  if (!transport_.exchange(primary, q, onMessage, kIdle, &terr)) {
    *err = "SOA query: " + terr;
    return std::nullopt;
  }
  if (!serial) *err = why;
  return serial;
}

bool SecondaryController::transfer(Zone& z, const SocketAddress& primary, std::string* err) {
  const auto id = static_cast<std::uint16_t>(rng_.next());
  const auto now = static_cast<std::uint64_t>(clock_.unixSeconds());
  std::vector<std::uint8_t> q;
  std::optional<tsig::Signer> signer;
  if (!buildQuery(q, id, name::asSpan(z.originWire), kAxfr, z.key, now, signer)) {
    *err = "cannot build the AXFR query";
    return false;
  }
  std::optional<tsig::ResponseVerifier> verifier;
  if (signer) verifier.emplace(*z.key, signer->lastMac());
  zones::AxfrReader reader(name::asSpan(z.originWire), id);
  std::string why;
  auto onMessage = [&](std::span<const std::uint8_t> msg) {
    if (verifier) {
      const auto r = verifier->verify(msg, now);
      if (r != tsig::ResponseVerifier::Result::Ok &&
          r != tsig::ResponseVerifier::Result::Unsigned) {
        why = std::string("AXFR: ") + verifierText(r);
        return false;
      }
    }
    return reader.feed(msg) == zones::AxfrReader::State::More;
  };
  std::string terr;
  const bool ok = transport_.exchange(primary, q, onMessage, kIdle, &terr);
  if (!why.empty()) return *err = why, false;
  if (reader.state() == zones::AxfrReader::State::Failed)
    return *err = "AXFR: " + reader.error(), false;
  if (!ok) return *err = "AXFR: " + terr, false;
  if (reader.state() != zones::AxfrReader::State::Done) return *err = "AXFR: incomplete", false;
  if (verifier && !verifier->complete())
    return *err = "AXFR: the last message is not signed", false;
  char when[32] = "";
  const std::time_t t = static_cast<std::time_t>(clock_.unixSeconds());
  std::tm tm{};
  if (::gmtime_r(&t, &tm)) std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const std::string header = "Transferred by geodnsd from " + primary.str() + " at " + when +
                             ", serial " + std::to_string(reader.serial()) + ", " +
                             std::to_string(reader.recordCount()) + " records.\n" +
                             "geodnsd replaces this file at each transfer: do not edit it.";
  // Checked before it replaces the copy: a zone this server would not load
  // (CNAME beside other data, no NS, ...) must not turn a served zone into
  // SERVFAIL; the current copy keeps serving and the next refresh retries.
  const std::string incoming = z.spec.file + ".incoming";
  std::string werr;
  if (!zones::writeFileAtomically(incoming, reader.zoneText(header), &werr))
    return *err = "cannot keep the copy: " + werr, false;
  {
    ErrorList problems;
    auto rrs = zones::parseZoneRecords(incoming, z.spec.origin, problems);
    if (problems.empty()) zones::Zone::compile(z.spec.origin, std::move(rrs), problems);
    if (!problems.empty()) {
      ::unlink(incoming.c_str());
      return *err =
                 "AXFR: serial " + std::to_string(reader.serial()) +
                 " does not load here, keeping the current copy: " + problems.all().front().str(),
             false;
    }
  }
  if (::rename(incoming.c_str(), z.spec.file.c_str()) != 0) {
    const int e = errno;
    ::unlink(incoming.c_str());
    return *err = "cannot keep the copy: rename " + incoming + ": " + std::strerror(e), false;
  }
  ++stats_.transfers;
  const std::string dropped =
      reader.ignored() ? ", " + std::to_string(reader.ignored()) + " out of zone dropped" : "";
  GEODNS_LOG_INFO("zone %s (secondary): transferred serial %u (%zu records%s) from %s%s",
                  z.spec.origin.c_str(), static_cast<unsigned>(reader.serial()),
                  reader.recordCount(), dropped.c_str(), primary.str().c_str(),
                  z.key ? " (TSIG)" : "");
  z.serial = reader.serial();
  z.expired = false;
  return true;
}

std::vector<SecondaryController::ZoneView> SecondaryController::zones() const {
  std::vector<ZoneView> out;
  for (const auto& z : zones_) out.push_back({z->spec.origin, z->serial, z->expired, z->next});
  return out;
}

// ---- the thread ---------------------------------------------------------------------------

SecondaryThread::SecondaryThread(const Clock& clock, Rng& rng, NotifyInbox& inbox,
                                 std::function<void()> publish)
    : controller_(transport_, clock, rng, [this] { publishWanted_ = true; }),
      publish_(std::move(publish)),
      inbox_(inbox) {}

SecondaryThread::~SecondaryThread() {
  stop();
}

void SecondaryThread::configure(const std::vector<config::ZoneSpec>& zones,
                                std::shared_ptr<const tsig::Keyring> keys,
                                std::shared_ptr<const zones::ZoneSet> served) {
  {
    std::lock_guard lock(mu_);
    pending_ = Pending{zones, std::move(keys), std::move(served)};
  }
  inbox_.wake();
}

void SecondaryThread::start() {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "geodns-xfrin");
}

void SecondaryThread::stop() {
  stop_.store(true);
  inbox_.wake();
  if (thread_.joinable()) thread_.join();
}

SecondaryController::Stats SecondaryThread::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<SecondaryController::ZoneView> SecondaryThread::zones() const {
  std::lock_guard lock(mu_);
  return views_;
}

void SecondaryThread::run() {
  std::vector<std::string> notified;
  while (!stop_.load()) {
    {
      std::optional<Pending> p;
      {
        std::lock_guard lock(mu_);
        p.swap(pending_);
      }
      if (p) controller_.configure(p->zones, std::move(p->keys), *p->served);
    }
    notified.clear();
    inbox_.take(notified);
    for (const auto& z : notified) controller_.notify(name::asSpan(z));
    const TimePoint next = controller_.step();
    {
      std::lock_guard lock(mu_);
      stats_ = controller_.stats();
      views_ = controller_.zones();
    }
    if (publishWanted_) {
      publishWanted_ = false;
      if (publish_) publish_();  // calls configure(): pending_ is applied next round
    }
    // Wake at least every second: for stop() and for expiry.
    inbox_.waitUntil(std::min(next, monotonicNow() + std::chrono::seconds(1)));
  }
}

bool hasSecondaryZones(const config::ServerConfig& cfg) {
  for (const auto& z : cfg.zones)
    if (z.secondary()) return true;
  return false;
}

}  // namespace geodns::server
