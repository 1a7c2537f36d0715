#pragma once
// NOTIFY out (RFC 1996): when a reload changes a zone's SOA serial, each of
// the zone's "notify" targets is told, and told again with backoff
// (core/retry.h: 2 s doubling to 60 s, 6 sends) until it acknowledges. A newer
// serial for the same zone and target replaces the pending one. Signed with
// the zone's transfer key when it has one (the secondary then checks it).
//
// `Notifier` is the logic, driven by an injected clock and transport (unit
// tests step it by hand); `NotifierThread` runs it on its own control-side
// thread with a real UDP transport. Never on the query path.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/address.h"
#include "core/clock.h"
#include "core/retry.h"
#include "core/rng.h"
#include "core/wire/tsig.h"
#include "zones/zone.h"

namespace geodns::server {

// Where NOTIFY messages go and answers come from (a seam: FakeNotifyTransport in tests).
class NotifyTransport {
 public:
  virtual ~NotifyTransport() = default;
  // Sends one datagram; false on a local error (counted, retried on schedule).
  virtual bool send(const SocketAddress& to, std::span<const std::uint8_t> msg) = 0;
  // Waits at most `wait` for one datagram; its length (0: none) and source.
  virtual std::size_t receive(SocketAddress& from, std::span<std::uint8_t> buf, Duration wait) = 0;
};

// UDP sockets (one per family, opened on first use), non-blocking, close-on-exec.
class UdpNotifyTransport final : public NotifyTransport {
 public:
  UdpNotifyTransport() = default;
  ~UdpNotifyTransport() override;
  UdpNotifyTransport(const UdpNotifyTransport&) = delete;
  UdpNotifyTransport& operator=(const UdpNotifyTransport&) = delete;
  bool send(const SocketAddress& to, std::span<const std::uint8_t> msg) override;
  std::size_t receive(SocketAddress& from, std::span<std::uint8_t> buf, Duration wait) override;

 private:
  int fd4_ = -1, fd6_ = -1;
};

class Notifier {
 public:
  struct Stats {
    std::uint64_t sent = 0;
    std::uint64_t acked = 0;
    std::uint64_t errors = 0;  // answered with an error rcode: not retried
    std::uint64_t gaveUp = 0;  // never acknowledged within the schedule
  };

  Notifier(NotifyTransport& transport, const Clock& clock, Rng& rng, RetryPolicy policy = {});
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // `zone` (held alive by `zones`) has a new serial: notify each of `targets`,
  // signing with `key` (held alive by `keys`; null: unsigned). Any thread.
  void zoneChanged(std::shared_ptr<const zones::ZoneSet> zones, const zones::Zone& zone,
                   const std::vector<SocketAddress>& targets,
                   std::shared_ptr<const tsig::Keyring> keys, const tsig::Key* key);
  // Sends every NOTIFY due now, drops finished ones; returns when the next is
  // due (TimePoint::max() when nothing is pending).
  TimePoint step();
  // A datagram from `from`: an acknowledgement ends that target's schedule.
  void onReply(const SocketAddress& from, std::span<const std::uint8_t> msg);

  std::size_t pending() const;
  Stats stats() const;

 private:
  struct Entry;
  bool sendOne(Entry& e, TimePoint now);

  NotifyTransport& transport_;
  const Clock& clock_;
  Rng& rng_;
  RetryPolicy policy_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  Stats stats_;
};

// Runs a Notifier with a UdpNotifyTransport on a thread ("geodns-notify").
class NotifierThread {
 public:
  NotifierThread(const Clock& clock, Rng& rng);
  ~NotifierThread();
  void start();
  void stop();  // pending NOTIFYs are dropped (secondaries refresh on their own)
  Notifier& notifier() noexcept { return notifier_; }

 private:
  void run();
  UdpNotifyTransport transport_;
  Notifier notifier_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Each zone of `next` whose serial differs from the same zone in `prev` (or
// that is new), with its notify targets from `rules` of `nextSnap`: hands them
// to `n`. Control thread, at each publish.
struct ServingSnapshot;
void notifyChangedZones(Notifier& n, const ServingSnapshot* prev, const ServingSnapshot& next);

}  // namespace geodns::server
