#pragma once
// The probe thread: runs the health Scheduler over the probes of the current
// config, and publishes ServingSnapshots that carry a HealthView built for
// exactly that config. After start-up it is the only publisher: reloads hand
// their new snapshot to it, so no query ever sees a config without its health.
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/rng.h"
#include "health/admin_state.h"
#include "health/cluster/fleet.h"
#include "health/failover.h"
#include "health/scheduler.h"
#include "health/store.h"
#include "server/serving.h"

namespace geodns::server {

// Attaches `view` to `snap` when it was built for `snap`'s GSLB config
// (view->config == snap.gslb->configId): the one place the generation is
// checked, so the query path never is. Otherwise (a view for another
// config) `snap` gets no view (everything up) and it returns false. A null
// `view` detaches. Then compiles the snapshot's decisions under that view
// (server/serving.h compileSnapshot), reusing `previous`'s trees (null: the
// snapshot's own) where no decision changed. Control thread.
bool attachHealth(ServingSnapshot& snap, std::shared_ptr<const health::HealthView> view,
                  const gslb::CompiledDecisions* previous = nullptr);

class HealthRunner {
 public:
  // `store` may be null (no persistence). State in the store younger than
  // `maxAge` is restored when a target is first seen.
  HealthRunner(SnapshotHolder& holder, Clock& clock, Rng& rng, health::ProbeTransport& transport,
               health::Store* store = nullptr, Duration maxAge = std::chrono::hours(1));
  ~HealthRunner();

  // Control thread, before the workers start: adopt `snap`, publish it with
  // the health known so far.
  void prime(std::shared_ptr<const ServingSnapshot> snap);
  void start();
  void stop();
  // How long a turn of the probe thread waits for probe results when nothing
  // is due (default 100 ms); requests (a publish, a snapshot, an operator's
  // command) wake it sooner. Before start(); tests lengthen it.
  void setIdleWait(Duration d) noexcept { idleWait_ = d; }
  // Any thread: a new config to serve; published by the probe thread with its
  // health attached (on its next turn, which this wakes).
  void submit(std::shared_ptr<const ServingSnapshot> snap);

  health::Scheduler& scheduler() noexcept { return scheduler_; }
  // Operator overrides to apply (drains, pushed load); set before prime().
  void attachAdmin(health::AdminState* admin) noexcept { admin_ = admin; }
  // A fleet node: own verdict changes are published through `fleet`, and a
  // target's state in the view is the quorum of every live vantage's
  // verdict (health.quorum). Set before prime().
  void attachFleet(health::cluster::Fleet* fleet) noexcept { fleet_ = fleet; }

  // This node's own probe verdict per GSLB probe index (any thread), as of
  // the last publish: what it contributes to the quorum.
  struct OwnVerdict {
    std::string key;  // ProbeSpec::key()
    health::State state = health::State::Unknown;
    std::optional<double> latencyMs;
  };
  std::vector<OwnVerdict> ownVerdicts() const;

  // Any thread: the probe thread turns now instead of after its idle wait
  // (something it reads on every turn changed: a fleet peer's verdict).
  void wake() noexcept { transport_.wakeup(); }
  // Any thread: asks for a publish that includes every change made before
  // this call (an admin override, a failover command) and returns its ticket.
  std::uint64_t requestPublish();
  // Waits until the snapshot for `ticket` is published; false on timeout.
  bool waitPublished(std::uint64_t ticket, Duration timeout);
  // Failovers (automatic and forced) by pool since start-up (for /metrics).
  std::map<std::string, std::uint64_t> failoverCounts() const;

  // What became of an operator failover command.
  struct CommandResult {
    enum class Outcome { Applied, NotRecorded, NoSuchPool } outcome = Outcome::NoSuchPool;
    std::string error;  // NotRecorded: the store's reason
  };
  // Operator failover actions (any thread), applied in the order they were
  // queued on the next turn. With an `audit` record (action set) and an
  // AdminState attached, the new state and the record are written in one
  // synced write where the command is applied, and the command takes effect
  // only if that write succeeded: the last audit record always names what is
  // in force. The future is ready before the publish that includes it.
  std::future<CommandResult> forceFailover(const std::string& pool, const std::string& region,
                                           const std::string& reason,
                                           health::AuditRecord audit = {});
  std::future<CommandResult> failback(const std::string& pool, const std::string& reason,
                                      health::AuditRecord audit = {});
  // A fleet node (any thread): the pool's state as written in etcd — an
  // operator's failover or failback, or the leader's decision with its
  // timers — applied on the next turn unless something newer (by the key's
  // mod revision) is in force. `alreadyInForce`: only note the revision (the
  // state database already holds what the command led to).
  void applyFleetFailover(const health::cluster::FailoverCommand& c, bool alreadyInForce);
  // The failover state of every pool that has a rule (any thread).
  std::vector<health::FailoverRecord> failoverStates() const;
  // One turn of the probe loop (the thread calls it; tests call it by hand).
  void turn(Duration maxWait);

 private:
  void run();
  void adopt(std::shared_ptr<const ServingSnapshot> snap);
  void publish();
  std::shared_ptr<const health::HealthView> buildView() const;

  void restore(health::TargetId id);
  void updateFailover();
  health::FailoverRecord recordOf(std::size_t pool, const health::FailoverController& fc) const;
  void saveFailover(std::size_t pool);
  void failoverChanged(std::size_t pool, bool saved);
  void publishStates();
  struct Command {
    std::string pool, region, reason;
    bool force = false;
    health::AuditRecord audit;
    std::promise<CommandResult> done;
    std::optional<health::cluster::FailoverCommand> fleet;  // from etcd
    bool onlyRevision = false;
  };
  void apply(Command& c);
  // The tier of pool `p`'s failover rule that is the region named `region`.
  std::optional<std::size_t> tierOf(std::size_t p, const std::string& region) const;
  std::int64_t toUnixMs(TimePoint t, TimePoint now) const;
  TimePoint fromUnixMs(std::int64_t unixMs, TimePoint now) const;
  // The leader's turn for one pool: a changed state or timer is written to
  // etcd (fenced) before it is put in force here.
  void decideForFleet(std::size_t pool, const health::FailoverController& next, bool changed,
                      TimePoint now);
  bool memberUp(const gslb::Member& m) const;
  // The state (and latency) a target has for answers: the quorum's in a
  // fleet, else the local tracker's.
  std::pair<health::State, double> effective(std::size_t probe) const;
  void shareVerdict(health::TargetId id);
  void persist(health::TargetId id, const health::ProbeResult* r);

  SnapshotHolder& holder_;
  Clock& clock_;
  health::Store* store_;
  Duration maxAge_;
  std::vector<bool> restored_;  // by scheduler target
  std::vector<std::pair<health::TargetId, health::ProbeResult>> pendingPersist_;
  std::vector<std::optional<health::FailoverController>> failover_;  // by pool index
  mutable std::mutex failoverMu_;                                    // guards commands_ and states_
  std::vector<Command> commands_;
  std::vector<health::FailoverRecord> states_;
  std::map<std::string, health::FailoverRecord> remembered_;  // by pool name, across reloads
  // Fleet: mod revision of the pool's etcd key the local state follows
  // (probe thread only), the guard of the leader's next write.
  std::map<std::string, std::int64_t> fleetRevision_;
  health::ProbeTransport& transport_;  // woken when a request is made
  Duration idleWait_ = std::chrono::milliseconds(100);
  health::Scheduler scheduler_;
  std::shared_ptr<const ServingSnapshot> base_;
  std::shared_ptr<const gslb::CompiledDecisions> lastCompiled_;  // reused where unchanged
  std::vector<health::TargetId> targetOf_;  // gslb probe index -> scheduler target
  std::mutex pendingMu_;
  std::shared_ptr<const ServingSnapshot> pending_;
  health::AdminState* admin_ = nullptr;
  health::cluster::Fleet* fleet_ = nullptr;
  std::uint64_t peersVersion_ = 0;  // of the fleet's peers in the last published view
  mutable std::mutex ownMu_;
  mutable std::vector<OwnVerdict> own_;             // guarded by ownMu_; written by buildView()
  std::uint64_t configGeneration_ = 0;              // configs adopted (1 = the first)
  std::uint64_t adminVersion_ = 0;                  // of the overrides in the last published view
  std::map<std::string, std::uint64_t> failovers_;  // guarded by failoverMu_
  std::mutex publishMu_;
  std::condition_variable published_;
  std::uint64_t requested_ = 0;        // guarded by publishMu_
  std::uint64_t publishedTicket_ = 0;  // guarded by publishMu_
  std::atomic<bool> stop_{false};
  bool stateChanged_ = false;
  bool resultsSincePublish_ = false;
  TimePoint lastPublish_{};
  TimePoint lastRecover_{};
  std::thread thread_;
};

}  // namespace geodns::server
