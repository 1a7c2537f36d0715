#pragma once
// Secondary mode (issue 15 item 3): zones taken from a primary by AXFR
// (RFC 5936) and kept fresh by the SOA's timers (RFC 1035 4.3.5) and by the
// primary's NOTIFY (RFC 1996).
//
// For each zone with "primary", the controller asks a primary for the SOA
// when the refresh timer runs out (or a NOTIFY arrived); when the primary's
// serial is ahead of the one served (RFC 1982), or nothing is served yet, it
// transfers the zone, writes it to the zone's "file" atomically (the copy a
// restart serves before its first transfer) and asks the owner to publish it.
// A failed refresh is retried after the SOA's retry; when no refresh has
// succeeded for the SOA's expire, the zone is published as expired (SERVFAIL,
// zones/load.h). The copy's mtime is the time of the last successful refresh,
// so expiry survives a restart. With a TSIG key every query is signed and
// every answer verified (RFC 8945 5.3.1).
//
// `SecondaryController` is the logic over an injected clock and transport
// (unit tests step it by hand); `SecondaryThread` runs it on its own control
// thread ("geodns-xfrin") with a real TCP transport. Never on the query path.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/address.h"
#include "core/clock.h"
#include "core/rng.h"
#include "core/wire/name.h"
#include "core/wire/tsig.h"
#include "zones/zone.h"

namespace geodns::server {

// How the controller reaches a primary (a seam: FakeXfrTransport in tests).
class XfrTransport {
 public:
  virtual ~XfrTransport() = default;
  // Connects to `primary` over TCP, sends `request` (the 2-byte length prefix
  // is added here), and hands each answer message to `onMessage` until it
  // returns false; then closes. False, with the reason in *err, on a
  // connection error, a closed connection before onMessage said stop, or no
  // progress for `idle`.
  virtual bool exchange(const SocketAddress& primary, std::span<const std::uint8_t> request,
                        const std::function<bool(std::span<const std::uint8_t>)>& onMessage,
                        Duration idle, std::string* err) = 0;
};

class TcpXfrTransport final : public XfrTransport {
 public:
  // `cancel` (may be null): when it turns true, a waiting exchange gives up
  // within a second (stop() must not wait for a slow primary).
  explicit TcpXfrTransport(const std::atomic<bool>* cancel = nullptr) : cancel_(cancel) {}
  bool exchange(const SocketAddress& primary, std::span<const std::uint8_t> request,
                const std::function<bool(std::span<const std::uint8_t>)>& onMessage, Duration idle,
                std::string* err) override;

 private:
  const std::atomic<bool>* cancel_;
};

// NOTIFYs the workers accepted (Outcome::Notify), waiting for the
// controller's thread. Any thread. It takes a lock, but only for a NOTIFY
// that passed the engine's checks (a primary's address, its key).
class NotifyInbox {
 public:
  void post(name::Span zone);
  // Moves the zones posted so far into `out` (lowercase wire).
  void take(std::vector<std::string>& out);
  // Waits until something is posted, `deadline` passes, or wake() is called.
  void waitUntil(TimePoint deadline);
  void wake();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> zones_;
  bool woken_ = false;
};

class SecondaryController {
 public:
  // Bounds on the SOA's timers: a zone with REFRESH 0 must not spin, one
  // with a week must still be checked daily (Knot's refresh-min/max idea).
  static constexpr std::uint32_t kMinInterval = 5;      // seconds
  static constexpr std::uint32_t kMaxInterval = 86400;  // seconds
  // Without a copy, the first attempts: 5 s, doubling to the SOA-less cap.
  static constexpr std::uint32_t kNoDataRetryMax = 300;  // seconds
  static constexpr Duration kIdle = std::chrono::seconds(30);

  struct Stats {
    std::uint64_t checks = 0;     // SOA queries answered
    std::uint64_t transfers = 0;  // AXFRs completed and written
    std::uint64_t failures = 0;   // refreshes that failed at every primary
    std::uint64_t notifies = 0;   // NOTIFYs that woke a refresh
    std::uint64_t expired = 0;    // zones that reached their expire
  };

  // `publish` is called on the controller's thread after a transfer wrote a
  // new copy or a zone expired: the owner loads the zones again and
  // publishes them (then calls configure()).
  SecondaryController(XfrTransport& transport, const Clock& clock, Rng& rng,
                      std::function<void()> publish);
  ~SecondaryController();
  SecondaryController(const SecondaryController&) = delete;
  SecondaryController& operator=(const SecondaryController&) = delete;

  // The secondary zones of `zones` and what is served now: at start-up and
  // after every publish. Keeps the schedule of zones that stay. `keys`
  // must hold every zone's primary key.
  void configure(const std::vector<config::ZoneSpec>& zones,
                 std::shared_ptr<const tsig::Keyring> keys, const zones::ZoneSet& served);
  // A primary's NOTIFY for `zone` (lowercase wire): refresh it at the next step.
  void notify(name::Span zone);
  // Refreshes every zone that is due (blocking: transfers run here), marks
  // expired ones; returns when the next one is due (TimePoint::max() when
  // no zone is configured).
  TimePoint step();

  Stats stats() const { return stats_; }
  // For tests and status: the serial served and whether the zone is expired.
  struct ZoneView {
    std::string origin;  // presentation form
    std::optional<std::uint32_t> serial;
    bool expired = false;
    TimePoint nextCheck;
  };
  std::vector<ZoneView> zones() const;

 private:
  struct Zone;
  bool refresh(Zone& z, TimePoint now);
  enum class Attempt : std::uint8_t { UpToDate, Transferred, Failed };
  Attempt tryPrimary(Zone& z, const SocketAddress& primary, std::string* err);
  std::optional<std::uint32_t> askSerial(Zone& z, const SocketAddress& primary, std::string* err);
  bool transfer(Zone& z, const SocketAddress& primary, std::string* err);

  XfrTransport& transport_;
  const Clock& clock_;
  Rng& rng_;
  std::function<void()> publish_;
  std::shared_ptr<const tsig::Keyring> keys_;
  std::vector<std::unique_ptr<Zone>> zones_;
  Stats stats_;
};

// Runs a SecondaryController with a TcpXfrTransport on a thread. configure()
// and the NOTIFY inbox may be used from other threads.
class SecondaryThread {
 public:
  // `inbox`: where the workers post NOTIFYs (outlives the thread).
  SecondaryThread(const Clock& clock, Rng& rng, NotifyInbox& inbox, std::function<void()> publish);
  ~SecondaryThread();
  void configure(const std::vector<config::ZoneSpec>& zones,
                 std::shared_ptr<const tsig::Keyring> keys,
                 std::shared_ptr<const zones::ZoneSet> served);
  void start();
  void stop();
  SecondaryController::Stats stats() const;
  std::vector<SecondaryController::ZoneView> zones() const;  // as of the last step

 private:
  void run();
  struct Pending {
    std::vector<config::ZoneSpec> zones;
    std::shared_ptr<const tsig::Keyring> keys;
    std::shared_ptr<const zones::ZoneSet> served;
  };
  std::atomic<bool> stop_{false};
  TcpXfrTransport transport_{&stop_};
  SecondaryController controller_;  // used by run() only
  std::function<void()> publish_;
  bool publishWanted_ = false;  // run() only
  NotifyInbox& inbox_;
  mutable std::mutex mu_;           // pending_ and stats_
  std::optional<Pending> pending_;  // configure() hands it to run()
  SecondaryController::Stats stats_;
  std::vector<SecondaryController::ZoneView> views_;
  std::thread thread_;
};

// The zones of `cfg` with "primary".
bool hasSecondaryZones(const config::ServerConfig& cfg);

}  // namespace geodns::server
