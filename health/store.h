#pragma once
// Persistent health state: the current state of every target and a bounded
// history of results, so a restart neither flaps nor fails everything open.
// RocksStore (RocksDB, WAL on) in production; MemStore in tests.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "health/probe.h"

namespace geodns::health {

struct TargetRecord {
  std::string key;  // ProbeSpec::key()
  State state = State::Unknown;
  std::int64_t sinceUnix = 0;
  std::uint32_t ok = 0, fail = 0;  // consecutive counts
  double latencyMs = 0;
  double load = -1;  // -1: none
  std::string lastError;
  std::int64_t updatedUnix = 0;
};

struct FailoverRecord {
  std::string pool;
  std::string activeRegion;
  std::int64_t sinceUnix = 0;
  std::string reason;
  bool forced = false;
};

// An operator override (admin API): a drain of a region or member, or a load
// figure pushed for a member. `key` is "<kind>:<target>".
struct OverrideRecord {
  std::string key;
  std::string kind;    // "region_drain", "member_drain", "member_load"
  std::string target;  // region name or member address
  std::string reason;
  double value = 0;  // member_load: the load in [0,1]
  std::int64_t createdUnix = 0;
  std::int64_t expiresUnix = 0;  // 0: until undone
  std::string identity;          // who (token name)
};

// One line of the audit log.
struct AuditRecord {
  std::int64_t unixMs = 0;
  std::string action;  // "drain_region", "undrain_member", "failover", "expire", ...
  std::string target;
  std::string reason;
  std::string identity;
  std::string detail;  // JSON text with action-specific fields, may be empty
};

struct HistoryEntry {
  std::int64_t unixMs = 0;
  bool ok = false;
  double totalMs = 0;
  std::string error;
};

// The SOA serial a zone was last served with and the hash of its data then
// (zones/load.h: PersistedSerial), so that "serial": "increment" and
// "unixtime" go on from them after a restart.
struct ZoneSerialRecord {
  std::string origin;  // lowercase wire form
  std::uint32_t serial = 0;
  std::uint64_t contentHash = 0;
};

// What the database's last operations found (for /readyz, /metrics and logs).
struct StoreStatus {
  bool writable = true;      // false from a failed write until recover() succeeds
  std::string error;         // the last failure, RocksDB's words ("" if none)
  std::uint64_t errors = 0;  // failed reads and writes since start-up
  std::uint64_t recoveries = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Probe thread. Errors are counted (status()) and logged, rate-limited,
  // never thrown: health keeps working without persistence.
  virtual void saveTarget(const TargetRecord& r) = 0;
  virtual void appendHistory(const std::string& key, const HistoryEntry& e) = 0;
  // nullopt when there is no record, or it cannot be read (counted and logged).
  virtual std::optional<TargetRecord> loadTarget(const std::string& key) = 0;
  virtual std::optional<FailoverRecord> loadFailover(const std::string& pool) = 0;
  virtual void saveFailover(const FailoverRecord& r) = 0;
  // Reads that walk a column family fail as a whole (false, with RocksDB's
  // reason in `err`) when any part of it cannot be read: a partial list would
  // silently drop drains or audit records.
  virtual bool allTargets(std::vector<TargetRecord>& out, std::string* err) = 0;
  virtual bool history(const std::string& key, std::vector<HistoryEntry>& out,
                       std::string* err) = 0;
  // Admin API threads. One atomic, synced write: overrides put and deleted
  // (by key) together with their audit records. False (with `err`) when the
  // write did not reach the disk: the caller must not report success.
  // Audit records keep the order of the calls, whatever their unixMs says.
  virtual bool commitAdmin(const std::vector<OverrideRecord>& puts,
                           const std::vector<std::string>& deletes,
                           const std::vector<AuditRecord>& audit, std::string* err) = 0;
  // Probe thread: a failover state and the audit record of the operator
  // command that made it, in one synced write (same contract as commitAdmin).
  virtual bool commitFailover(const FailoverRecord& r, const AuditRecord& audit,
                              std::string* err) = 0;
  virtual bool allOverrides(std::vector<OverrideRecord>& out, std::string* err) = 0;
  // The newest `limit` audit records, oldest first.
  virtual bool audit(std::size_t limit, std::vector<AuditRecord>& out, std::string* err) = 0;
  // Control thread: the records of these zones replaced (other zones' stay),
  // in one synced write.
  virtual bool saveZoneSerials(const std::vector<ZoneSerialRecord>& zones, std::string* err) = 0;
  virtual bool zoneSerials(std::vector<ZoneSerialRecord>& out, std::string* err) = 0;

  // Any thread.
  virtual StoreStatus status() const { return {}; }
  // Tries to make an unwritable store writable again (after a full disk);
  // true when it is writable. Cheap when it already is.
  virtual bool recover() { return true; }
};

class MemStore final : public Store {
 public:
  bool commitAdmin(const std::vector<OverrideRecord>& puts, const std::vector<std::string>& deletes,
                   const std::vector<AuditRecord>& audit, std::string* err) override {
    if (failAdmin) {
      if (err) *err = "injected failure";
      return false;
    }
    for (const auto& k : deletes) overrides_.erase(k);
    for (const auto& r : puts) overrides_[r.key] = r;
    audit_.insert(audit_.end(), audit.begin(), audit.end());
    return true;
  }
  bool commitFailover(const FailoverRecord& r, const AuditRecord& audit,
                      std::string* err) override {
    if (failAdmin) {
      if (err) *err = "injected failure";
      return false;
    }
    failover_[r.pool] = r;
    audit_.push_back(audit);
    return true;
  }
  bool allOverrides(std::vector<OverrideRecord>& out, std::string* err) override {
    if (failReads) return injected(err);
    out.clear();
    for (const auto& [k, v] : overrides_) out.push_back(v);
    return true;
  }
  bool audit(std::size_t limit, std::vector<AuditRecord>& out, std::string* err) override {
    if (failReads) return injected(err);
    const std::size_t from = audit_.size() > limit ? audit_.size() - limit : 0;
    out.assign(audit_.begin() + static_cast<std::ptrdiff_t>(from), audit_.end());
    return true;
  }
  bool saveZoneSerials(const std::vector<ZoneSerialRecord>& zones, std::string* err) override {
    if (failAdmin) {
      if (err) *err = "injected failure";
      return false;
    }
    for (const auto& z : zones) serials_[z.origin] = z;
    return true;
  }
  bool zoneSerials(std::vector<ZoneSerialRecord>& out, std::string* err) override {
    if (failReads) return injected(err);
    out.clear();
    for (const auto& [k, v] : serials_) out.push_back(v);
    return true;
  }
  bool failAdmin = false;  // tests: make commitAdmin, commitFailover and saveZoneSerials fail
  bool failReads = false;  // tests: make the list reads fail

  explicit MemStore(std::size_t historyLimit = 100) : limit_(historyLimit) {}
  void saveTarget(const TargetRecord& r) override { targets_[r.key] = r; }
  void appendHistory(const std::string& key, const HistoryEntry& e) override {
    auto& h = history_[key];
    h.push_back(e);
    if (h.size() > limit_) h.erase(h.begin());
  }
  std::optional<TargetRecord> loadTarget(const std::string& key) override {
    auto it = targets_.find(key);
    if (it == targets_.end()) return std::nullopt;
    return it->second;
  }
  bool allTargets(std::vector<TargetRecord>& out, std::string* err) override {
    if (failReads) return injected(err);
    out.clear();
    for (const auto& [k, v] : targets_) out.push_back(v);
    return true;
  }
  bool history(const std::string& key, std::vector<HistoryEntry>& out, std::string* err) override {
    if (failReads) return injected(err);
    out = history_[key];
    return true;
  }
  void saveFailover(const FailoverRecord& r) override { failover_[r.pool] = r; }
  std::optional<FailoverRecord> loadFailover(const std::string& pool) override {
    auto it = failover_.find(pool);
    if (it == failover_.end()) return std::nullopt;
    return it->second;
  }

 private:
  static bool injected(std::string* err) {
    if (err) *err = "injected read failure";
    return false;
  }
  std::size_t limit_;
  std::map<std::string, TargetRecord> targets_;
  std::map<std::string, std::vector<HistoryEntry>> history_;
  std::map<std::string, FailoverRecord> failover_;
  std::map<std::string, OverrideRecord> overrides_;
  std::vector<AuditRecord> audit_;
  std::map<std::string, ZoneSerialRecord> serials_;
};

// Opens (creating if needed) a RocksDB database at `path`. A locked database
// is an error with RocksDB's reason, and so is a corrupt one: the admin,
// audit and failover column families are read in full, checksums verified,
// before this returns (starting without the drains they hold would send
// answers to drained regions). `readOnly` opens beside a running server (for
// `geodnsd status`). RocksDB's own log goes to geodnsd's log (warnings and
// errors), never to a file beside the data: a full disk must not break it.

std::unique_ptr<Store> openRocksStore(const std::string& path, std::size_t historyLimit,
                                      bool readOnly, std::string* err);

}  // namespace geodns::health
