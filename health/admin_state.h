#pragma once
// AdminState: the operator overrides (drains, pushed load) in force, kept in
// memory for the probe thread and written through to the state database with
// their audit records before an API call reports success. Thread-safe; never
// touched by the DNS workers (they see overrides in the HealthView).
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "health/store.h"

namespace geodns::health {

class AdminState {
 public:
  // Loads the overrides stored by earlier runs; when they cannot be read,
  // loadError() says why and the caller must not serve without them.
  AdminState(Store& store, Clock& clock);
  const std::string& loadError() const noexcept { return loadError_; }

  // Sets (or replaces: repeating a drain is safe) an override. False with
  // `err` when the store did not take the write; nothing changes then.
  bool put(const OverrideRecord& rec, AuditRecord audit, std::string* err);
  // Removes the override `key`; `existed` says whether there was one. The
  // audit record is written either way.
  bool remove(const std::string& key, AuditRecord audit, bool* existed, std::string* err);
  // An audit record for an action that keeps its state elsewhere (reload).
  bool record(AuditRecord audit, std::string* err);
  // Probe thread: an operator's failover command, stored with its audit
  // record in one write at the moment it is applied, so the audit's order is
  // the order in which the commands took effect.
  bool commitFailover(const FailoverRecord& rec, AuditRecord audit, std::string* err);

  // Fleet (watch thread): makes `all` the overrides in force, as applied
  // from etcd, and keeps them in the state database (no audit record here:
  // it is in etcd, written with the change), so a restart during an etcd
  // outage starts with them. Records already lapsed are left out (the fleet
  // removes them from etcd). False with `err` when the store did not take
  // the write; nothing changes then.
  bool replaceShared(const std::vector<OverrideRecord>& all, std::string* err);

  std::vector<OverrideRecord> overrides() const;
  // False with the store's reason when the audit cannot be read.
  bool audit(std::size_t limit, std::vector<AuditRecord>& out, std::string* err) const;
  // Bumped on every change; the probe thread republishes when it moves.
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }
  // Probe thread: drops overrides whose expiry has passed, each with an
  // "expire" audit record. Returns how many lapsed.
  std::size_t expire();
  // Admin actions by name since start-up (for /metrics).
  std::map<std::string, std::uint64_t> actionCounts() const;

  static std::string key(const std::string& kind, const std::string& target) {
    return kind + ":" + target;
  }

 private:
  Store& store_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, OverrideRecord> overrides_;
  std::map<std::string, std::uint64_t> actions_;
  std::string loadError_;
  std::atomic<std::uint64_t> version_{1};
};

}  // namespace geodns::health
