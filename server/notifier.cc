#include "server/notifier.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/wire/name.h"
#include "server/serving.h"
#include "zones/notify.h"

namespace geodns::server {

namespace {

bool sameAddress(const SocketAddress& a, const SocketAddress& b) {
  return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
}

// Compares address and port only (sockaddr padding and flow info ignored).
bool samePeer(const SocketAddress& a, const SocketAddress& b) {
  return a.family() == b.family() && a.host() == b.host() && a.port() == b.port();
}

}  // namespace

// ---- UDP transport --------------------------------------------------------------------

UdpNotifyTransport::~UdpNotifyTransport() {
  if (fd4_ >= 0) ::close(fd4_);
  if (fd6_ >= 0) ::close(fd6_);
}

bool UdpNotifyTransport::send(const SocketAddress& to, std::span<const std::uint8_t> msg) {
  int& fd = to.family() == AF_INET6 ? fd6_ : fd4_;
  if (fd < 0) fd = ::socket(to.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  return ::sendto(fd, msg.data(), msg.size(), 0, to.sa(), to.length) ==
         static_cast<ssize_t>(msg.size());
}

std::size_t UdpNotifyTransport::receive(SocketAddress& from, std::span<std::uint8_t> buf,
                                        Duration wait) {
  pollfd fds[2];
  nfds_t n = 0;
  for (int fd : {fd4_, fd6_})
    if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
  if (n == 0) {  // nothing sent yet: just wait
    ::poll(nullptr, 0, static_cast<int>(std::max<long long>(0, ms)));
    return 0;
  }
  if (::poll(fds, n, static_cast<int>(std::max<long long>(0, ms))) <= 0) return 0;
  for (nfds_t i = 0; i < n; ++i) {
    if (!(fds[i].revents & POLLIN)) continue;
    from.length = sizeof from.storage;
    const ssize_t r = ::recvfrom(fds[i].fd, buf.data(), buf.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from.storage), &from.length);
    if (r > 0) return static_cast<std::size_t>(r);
  }
  return 0;
}

// ---- the logic ------------------------------------------------------------------------

struct Notifier::Entry {
  std::shared_ptr<const zones::ZoneSet> zones;  // keeps `zone` alive
  const zones::Zone* zone = nullptr;
  SocketAddress target;
  std::shared_ptr<const tsig::Keyring> keys;  // keeps `key` alive
  const tsig::Key* key = nullptr;
  std::uint16_t id = 0;
  std::vector<std::uint8_t> requestMac;  // of the last send, to verify a signed answer
  RetrySchedule schedule;
  bool done = false;
};

Notifier::Notifier(NotifyTransport& transport, const Clock& clock, Rng& rng, RetryPolicy policy)
    : transport_(transport), clock_(clock), rng_(rng), policy_(policy) {}

Notifier::~Notifier() = default;

void Notifier::zoneChanged(std::shared_ptr<const zones::ZoneSet> zones, const zones::Zone& zone,
                           const std::vector<SocketAddress>& targets,
                           std::shared_ptr<const tsig::Keyring> keys, const tsig::Key* key) {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.now();
  for (const auto& t : targets) {
    // A newer serial replaces what is pending for the same zone and target.
    std::erase_if(entries_, [&](const std::unique_ptr<Entry>& e) {
      return e->zone->origin() == zone.origin() && sameAddress(e->target, t);
    });
    auto e = std::unique_ptr<Entry>(
        new Entry{zones, &zone, t, keys, key, 0, {}, RetrySchedule(policy_, now), false});
    entries_.push_back(std::move(e));
  }
}

bool Notifier::sendOne(Entry& e, TimePoint now) {
  std::uint8_t buf[2048];
  Writer w(buf, sizeof buf);
  e.id = static_cast<std::uint16_t>(rng_.next());  // a new ID per send (RFC 5452 spirit)
  if (!zones::writeNotify(w, e.id, *e.zone)) return false;
  if (e.key) {
    auto signer = tsig::Signer::forRequest(*e.key);
    if (!signer.sign(w, static_cast<std::uint64_t>(clock_.unixSeconds()))) return false;
    e.requestMac.assign(signer.lastMac().begin(), signer.lastMac().end());
  }
  e.schedule.sent(now);
  ++stats_.sent;
  if (!transport_.send(e.target, {buf, w.size()}))
    GEODNS_LOG_LIMITED(Warn, "notify: cannot send to %s: %s", e.target.str().c_str(),
                       std::strerror(errno));
  return true;
}

TimePoint Notifier::step() {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.now();
  TimePoint next = TimePoint::max();
  for (auto& ep : entries_) {
    Entry& e = *ep;
    if (e.done) continue;
    if (e.schedule.status(now) == RetrySchedule::Status::GaveUp) {
      ++stats_.gaveUp;
      e.done = true;
      GEODNS_LOG_WARN("notify: %s gave no answer for zone %s after %u sends",
                      e.target.str().c_str(), name::toText(name::asSpan(e.zone->origin())).c_str(),
                      static_cast<unsigned>(e.schedule.sentCount()));
      continue;
    }
    if (e.schedule.shouldSend(now) && !sendOne(e, now)) {
      e.done = true;  // the message cannot be built: no retry helps
      continue;
    }
    next = std::min(next, e.schedule.due());
  }
  std::erase_if(entries_, [](const std::unique_ptr<Entry>& e) { return e->done; });
  return next;
}

void Notifier::onReply(const SocketAddress& from, std::span<const std::uint8_t> msg) {
  std::lock_guard lock(mu_);
  const std::uint64_t nowSec = static_cast<std::uint64_t>(clock_.unixSeconds());
  for (auto& ep : entries_) {
    Entry& e = *ep;
    if (e.done || e.schedule.sentCount() == 0 || !samePeer(e.target, from)) continue;
    const auto m = zones::matchNotifyReply(msg, e.id, name::asSpan(e.zone->origin()));
    if (m.match == zones::NotifyReply::Match::NotOurs) continue;
    if (e.key && m.match == zones::NotifyReply::Match::Ack) {
      tsig::ResponseVerifier v(*e.key, e.requestMac);
      if (v.verify(msg, nowSec) != tsig::ResponseVerifier::Result::Ok) continue;  // forged?
    }
    e.done = true;
    if (m.match == zones::NotifyReply::Match::Ack) {
      ++stats_.acked;
      GEODNS_LOG_INFO("notify: %s acknowledged zone %s serial %u", e.target.str().c_str(),
                      name::toText(name::asSpan(e.zone->origin())).c_str(),
                      static_cast<unsigned>(e.zone->serial()));
    } else {
      ++stats_.errors;
      GEODNS_LOG_WARN("notify: %s answered zone %s with rcode %u", e.target.str().c_str(),
                      name::toText(name::asSpan(e.zone->origin())).c_str(),
                      static_cast<unsigned>(m.rcode));
    }
    return;
  }
}

std::size_t Notifier::pending() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& e : entries_) n += e->done ? 0 : 1;
  return n;
}

Notifier::Stats Notifier::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

// ---- the thread -----------------------------------------------------------------------

NotifierThread::NotifierThread(const Clock& clock, Rng& rng) : notifier_(transport_, clock, rng) {}

NotifierThread::~NotifierThread() {
  stop();
}

void NotifierThread::start() {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "geodns-notify");
}

void NotifierThread::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void NotifierThread::run() {
  std::uint8_t buf[4096];
  while (!stop_.load()) {
    const TimePoint next = notifier_.step();
    // Wake at least every 100 ms: for stop(), and for zones changed meanwhile.
    Duration wait = std::chrono::milliseconds(100);
    const TimePoint now = monotonicNow();
    if (next != TimePoint::max() && next - now < wait) wait = std::max(Duration{}, next - now);
    SocketAddress from;
    const std::size_t n = transport_.receive(from, buf, wait);
    if (n > 0) notifier_.onReply(from, {buf, n});
  }
}

void notifyChangedZones(Notifier& n, const ServingSnapshot* prev, const ServingSnapshot& next) {
  for (const auto& zp : next.zones->zones()) {
    const zones::Zone& z = *zp;
    const auto* rules = next.rulesFor(name::asSpan(z.origin()));
    if (!rules || rules->notify.empty()) continue;
    const zones::Zone* before = prev ? prev->zones->findZone(name::asSpan(z.origin())) : nullptr;
    if (before && before->origin() == z.origin() && before->serial() == z.serial()) continue;
    const tsig::Key* key = nullptr;
    if (!rules->transfer.tsig.empty())
      if (auto kn = name::fromText(rules->transfer.tsig))
        key = next.keyring->find(name::asSpan(*kn));
    n.zoneChanged(next.zones, z, rules->notify, next.keyring, key);
  }
}

}  // namespace geodns::server
