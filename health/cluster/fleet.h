#pragma once
// A geodnsd fleet on etcd (issue 16; key layout in docs/design/cluster.md):
//
//  - ControlView: the shared operator state (overrides, failover commands)
//    as applied from `P/control/`: a full read, then watch events. Pure.
//  - PeerView: the other nodes (`P/nodes/`) and their probe verdicts
//    (`P/health/`), and the quorum decision over them. Pure.
//  - Fleet: the node's side of it over a KvStore: writes operator changes in
//    one txn with their audit record, runs the three watches (each on its own
//    thread, resuming after breaks, re-reading after compaction, backing off
//    while etcd is gone), keeps the node's lease, and publishes its own
//    verdict changes (batched, sharded). What it applies goes to the caller
//    through FleetSink; the data plane never waits on etcd.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "health/cluster/kv_store.h"
#include "health/cluster/quorum.h"
#include "health/store.h"

namespace geodns::health::cluster {

// The fleet's id of a probe target: FNV-1a 64 of ProbeSpec::key(), in hex.
// Nodes with the same probe config agree on it.
std::string targetIdOf(const std::string& probeKey);
// Verdict shard of a target id: 64 keys per node at most.
inline constexpr unsigned kShards = 64;
unsigned shardOf(const std::string& targetId);

// The failover state of a pool as written under `P/control/failover/<pool>`:
// a forced failover or failback written through any node's API, or
// (`automatic`) a decision of the fleet's leader: the active tier and the
// hold-down timers as wall-clock deadlines' starts, so that the next leader
// continues them (issue 16 item 4).
struct FailoverCommand {
  std::string pool;
  bool force = true;   // false: failback (ignored when automatic)
  std::string region;  // force: the tier to make active; automatic: the active tier
  std::string reason;
  std::string identity;
  std::int64_t unixMs = 0;
  std::int64_t modRevision = 0;  // of its key: applied once per revision
  bool automatic = false;
  std::int64_t sinceMs = 0;      // automatic: the active tier since (unix ms)
  std::int64_t badSinceMs = 0;   // automatic: the active tier below min_healthy since (0: not)
  std::int64_t goodSinceMs = 0;  // automatic: the primary healthy since, on a standby (0: not)
  bool operator==(const FailoverCommand&) const = default;
};

struct FleetKeys {
  std::string prefix;  // "/geodns/"
  std::string control() const { return prefix + "control/"; }
  std::string overridePrefix() const { return prefix + "control/override/"; }
  std::string failoverPrefix() const { return prefix + "control/failover/"; }
  std::string audit() const { return prefix + "audit/"; }
  std::string nodes() const { return prefix + "nodes/"; }
  std::string health() const { return prefix + "health/"; }
  std::string leader() const { return prefix + "leader"; }
  std::string overrideKey(const std::string& kind, const std::string& target) const {
    return overridePrefix() + kind + "/" + target;
  }
  std::string failoverKey(const std::string& pool) const { return failoverPrefix() + pool; }
  std::string nodeKey(const std::string& node) const { return nodes() + node; }
  std::string healthKey(const std::string& node, unsigned shard) const;
};

std::string encodeOverride(const OverrideRecord& r);
std::optional<OverrideRecord> decodeOverride(const std::string& value);
std::string encodeAudit(const AuditRecord& r);
std::optional<AuditRecord> decodeAudit(const std::string& value);
std::string encodeFailover(const FailoverCommand& c);
std::optional<FailoverCommand> decodeFailover(const std::string& value);

// ---- the shared operator state, as applied ----
class ControlView {
 public:
  explicit ControlView(FleetKeys keys) : keys_(std::move(keys)) {}
  // Replaces everything with a full read of `P/control/` at `revision`.
  void reset(const std::vector<KeyValue>& kvs, std::int64_t revision);
  // Applies watch events (whole revisions, in order); `nextRevision` is the
  // update's. Events at or below the applied revision are ignored.
  void apply(const std::vector<WatchEvent>& events, std::int64_t nextRevision);

  std::int64_t revision() const noexcept { return revision_; }
  // By OverrideRecord::key ("kind:target").
  const std::map<std::string, OverrideRecord>& overrides() const noexcept { return overrides_; }
  const std::map<std::string, FailoverCommand>& failovers() const noexcept { return failovers_; }
  // Overrides' mod revisions (for guarded expiry), by record key.
  const std::map<std::string, std::int64_t>& modRevisions() const noexcept { return modRev_; }
  std::uint64_t malformed() const noexcept { return malformed_; }

 private:
  void put(const KeyValue& kv);
  void erase(const std::string& key);
  FleetKeys keys_;
  std::int64_t revision_ = 0;
  std::map<std::string, OverrideRecord> overrides_;
  std::map<std::string, std::int64_t> modRev_;
  std::map<std::string, std::string> recordKeyOf_;  // etcd key -> record key
  std::map<std::string, FailoverCommand> failovers_;
  std::uint64_t malformed_ = 0;
};

// What a node says about itself under `P/nodes/<name>` (with its lease).
struct NodeInfo {
  std::string name, site, version;
  std::int64_t applied = 0;  // control revision applied and published
  std::int64_t startedUnixMs = 0;
  std::int64_t probingUnixMs = 0;  // the prober's last heartbeat
  bool operator==(const NodeInfo&) const = default;
};
std::string encodeNode(const NodeInfo& n);
std::optional<NodeInfo> decodeNode(const std::string& value);

struct PeerVerdict {
  State state = State::Unknown;
  std::optional<double> latencyMs;
  std::int64_t sinceUnixMs = 0;
  std::int64_t atUnixMs = 0;  // when its shard was written
};

// The other nodes and their verdicts, as applied from `P/nodes/` and
// `P/health/`; this node's own keys are ignored (it uses its own probes).
class PeerView {
 public:
  PeerView(FleetKeys keys, std::string self) : keys_(std::move(keys)), self_(std::move(self)) {}
  void resetNodes(const std::vector<KeyValue>& kvs);
  void applyNodes(const std::vector<WatchEvent>& events);
  void resetHealth(const std::vector<KeyValue>& kvs);
  void applyHealth(const std::vector<WatchEvent>& events);

  // Live peers (their node key exists), by name.
  const std::map<std::string, NodeInfo>& nodes() const noexcept { return nodes_; }
  // Every peer's verdict on `targetId` (live or not: `live` says).
  std::vector<VantageVerdict> verdicts(const std::string& targetId) const;
  std::uint64_t malformed() const noexcept { return malformed_; }

 private:
  void putShard(const std::string& node, unsigned shard, const std::string& value);
  void dropShard(const std::string& node, unsigned shard);
  bool parseHealthKey(const std::string& key, std::string& node, unsigned& shard) const;
  FleetKeys keys_;
  std::string self_;
  std::map<std::string, NodeInfo> nodes_;
  // node -> shard -> target id -> verdict
  std::map<std::string, std::map<unsigned, std::map<std::string, PeerVerdict>>> shards_;
  // target id -> node -> verdict (the same data, indexed for decisions)
  std::map<std::string, std::map<std::string, PeerVerdict>> byTarget_;
  std::uint64_t malformed_ = 0;
};

// Where a Fleet delivers what it applied (called on its watch threads).
struct FleetSink {
  virtual ~FleetSink() = default;
  // The whole shared override set after a change; true once it is in force
  // locally (stored and published). A false return is retried.
  virtual bool applyOverrides(const std::vector<OverrideRecord>& all) = 0;
  // A failover command not applied before (by its mod revision).
  virtual void applyFailover(const FailoverCommand& c) = 0;
  // Peers or their verdicts changed: quorum decisions may have.
  virtual void peersChanged() = 0;
};

struct FleetOptions {
  FleetKeys keys;
  std::string node, site, version;
  std::int64_t leaseTtlSec = 10;
  QuorumOptions quorum;
  Duration verdictBatch = std::chrono::milliseconds(100);  // publication of verdict changes
  Duration heartbeat = std::chrono::seconds(10);           // `probing` in the node key
  Duration backoffMin = std::chrono::milliseconds(200);
  Duration backoffMax = std::chrono::seconds(10);
  // Audit records older than this are deleted from `P/audit/` (0: kept).
  // Every node prunes, at most once per `auditPruneEvery`; the deletes are
  // idempotent, so several nodes doing it cost a few empty deletes.
  Duration auditRetention = std::chrono::hours(24 * 90);
  Duration auditPruneEvery = std::chrono::hours(1);
};

struct FleetCounters {
  std::atomic<std::uint64_t> errors{0};       // failed store calls and broken watches
  std::atomic<std::uint64_t> writes{0};       // puts and writing txns sent
  std::atomic<std::uint64_t> watchEvents{0};  // events received on the three watches
  std::atomic<std::uint64_t> watchBytes{0};   // keys + values received
  std::atomic<std::uint64_t> resyncs{0};      // full re-reads (start, compaction)
  std::atomic<std::uint64_t> auditPruned{0};  // audit records deleted by retention
};

struct WriteOutcome {
  bool ok = false;
  std::int64_t revision = 0;  // the commit's revision
  bool existed = false;       // removal: there was something to remove
  std::string error;
};

class Fleet {
 public:
  Fleet(KvStore& store, Clock& clock, FleetOptions options, FleetSink& sink);
  ~Fleet();
  void start();
  void stop();  // revokes the lease (the node leaves at once), joins the threads

  // ---- operator writes (admin API threads): one txn with the audit record ----
  WriteOutcome putOverride(const OverrideRecord& rec, AuditRecord audit);
  WriteOutcome removeOverride(const std::string& kind, const std::string& target,
                              AuditRecord audit);
  WriteOutcome putFailover(FailoverCommand cmd, AuditRecord audit);

  // ---- failover decisions (the probe thread of the leader) ----
  // True while this node holds `P/leader` under a lease that cannot have
  // expired yet (last keep-alive + TTL - 1 s): only then does it decide.
  bool leading() const;
  // The leader's automatic decision for a pool, written only if this node
  // still leads (the create revision of its `P/leader` key is unchanged) and
  // the pool's key is still at `basedOn` (the mod revision of the state this
  // decision was computed from; 0: no key): a deposed leader or a decision
  // racing an operator's command writes nothing (ok = false). An audit record
  // goes with it when `audit` is given (a change of the active tier).
  WriteOutcome putFailoverDecision(FailoverCommand decision, std::int64_t basedOn,
                                   const AuditRecord* audit);
  // The newest `limit` audit records from etcd, oldest first.
  KvResult<std::vector<AuditRecord>> audit(std::size_t limit);

  // Waits until this node has applied (and published) `revision`.
  bool waitApplied(std::int64_t revision, Duration timeout);
  // Waits until every live node (this one included) reports applied >=
  // `revision`; `behind` lists the nodes that did not in time.
  bool waitAllApplied(std::int64_t revision, Duration timeout, std::vector<std::string>* behind);

  // ---- the probe thread ----
  // This node's verdict on a target changed (published in the next batch).
  void ownVerdict(const std::string& probeKey, State state, std::optional<double> latencyMs,
                  std::int64_t sinceUnixMs);
  // The prober completed a round (heartbeat for verdict freshness).
  void probing();
  // The cluster state of a target from every vantage's verdict.
  QuorumDecision decide(const std::string& probeKey, State own, std::optional<double> ownLatency);
  // Per-vantage verdicts, for status and explain.
  std::vector<VantageVerdict> vantages(const std::string& probeKey, State own,
                                       std::optional<double> ownLatency);
  // Bumped when peers or their verdicts change.
  std::uint64_t peersVersion() const noexcept { return peersVersion_.load(); }

  // ---- status and metrics (any thread) ----
  struct Status {
    bool connected = false;
    std::int64_t appliedRevision = 0;
    std::int64_t storeRevision = 0;         // newest revision seen from etcd
    std::map<std::string, NodeInfo> nodes;  // live nodes, this one included
    std::string leader;                     // the node deciding failover ("": none known)
  };
  Status status() const;
  const FleetCounters& counters() const noexcept { return counters_; }
  const FleetOptions& options() const noexcept { return opt_; }

 private:
  enum class Kind { Control, Nodes, Health };
  void watchLoop(Kind kind);
  bool load(Kind kind, std::int64_t& next);
  void onUpdate(Kind kind, const WatchUpdate& u);
  void applyControl();
  void keeperLoop();
  void keeperWait(Duration d);
  void wakeKeeper();
  bool ensureLease();
  bool putNode();
  void campaign();
  bool flushVerdicts();
  void expireOverrides();
  void pruneAudit();
  void setConnected(bool c, const std::string& why);
  void noteError(const KvError& e, const char* what);
  void backoff(Duration& d, WatchCancel& cancel);
  WriteOutcome commit(TxnRequest t, const std::string& auditKey, bool removal);
  std::string nextAuditKey(std::int64_t unixMs);

  KvStore& store_;
  Clock& clock_;
  FleetOptions opt_;
  FleetSink& sink_;
  FleetCounters counters_;

  std::mutex applyMu_;     // one applyControl() at a time (taken before mu_)
  mutable std::mutex mu_;  // everything below, except where noted
  std::condition_variable changed_;
  ControlView control_;
  PeerView peers_;
  std::set<std::int64_t> appliedFailovers_;  // mod revisions of commands applied
  std::int64_t applied_ = 0;
  std::int64_t storeRevision_ = 0;
  bool connected_ = false;
  bool everConnected_ = false;
  std::int64_t lease_ = 0;
  TimePoint leaseConfirmed_{};       // last successful keep-alive or grant
  std::int64_t leaderRevision_ = 0;  // create revision of our `P/leader` key; 0: not leading
  std::string leader_;               // who leads, as last read
  NodeInfo self_;
  std::int64_t publishedApplied_ = -1;
  TimePoint lastNodePut_{};
  // own verdicts: target id -> verdict; dirty shards to write
  std::map<unsigned, std::map<std::string, PeerVerdict>> own_;
  std::set<unsigned> dirty_;
  std::uint64_t auditSeq_ = 0;
  std::optional<TimePoint> lastAuditPrune_;  // keeper thread only

  std::atomic<std::uint64_t> peersVersion_{1};
  std::atomic<bool> stop_{false};
  std::condition_variable keeperCv_;
  bool keeperWake_ = false;  // guarded by mu_
  WatchCancel cancelControl_, cancelNodes_, cancelHealth_;
  std::vector<std::thread> threads_;
};

}  // namespace geodns::health::cluster
