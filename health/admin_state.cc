#include "health/admin_state.h"

#include "core/log.h"

namespace geodns::health {

AdminState::AdminState(Store& store, Clock& clock) : store_(store), clock_(clock) {
  std::vector<OverrideRecord> stored;
  if (!store_.allOverrides(stored, &loadError_)) return;
  for (auto& r : stored) overrides_[r.key] = std::move(r);
}

bool AdminState::put(const OverrideRecord& rec, AuditRecord audit, std::string* err) {
  std::lock_guard lock(mu_);
  if (!audit.unixMs) audit.unixMs = clock_.unixSeconds() * 1000;
  if (!store_.commitAdmin({rec}, {}, {audit}, err)) return false;
  overrides_[rec.key] = rec;
  ++actions_[audit.action];
  version_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

bool AdminState::remove(const std::string& key, AuditRecord audit, bool* existed,
                        std::string* err) {
  std::lock_guard lock(mu_);
  if (!audit.unixMs) audit.unixMs = clock_.unixSeconds() * 1000;
  if (!store_.commitAdmin({}, {key}, {audit}, err)) return false;
  *existed = overrides_.erase(key) > 0;
  ++actions_[audit.action];
  version_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

bool AdminState::record(AuditRecord audit, std::string* err) {
  std::lock_guard lock(mu_);
  if (!audit.unixMs) audit.unixMs = clock_.unixSeconds() * 1000;
  if (!store_.commitAdmin({}, {}, {audit}, err)) return false;
  ++actions_[audit.action];
  return true;
}

bool AdminState::replaceShared(const std::vector<OverrideRecord>& all, std::string* err) {
  std::lock_guard lock(mu_);
  const std::int64_t now = clock_.unixSeconds();
  std::map<std::string, OverrideRecord> next;
  for (const auto& r : all)
    if (r.expiresUnix == 0 || r.expiresUnix > now) next[r.key] = r;
  std::vector<OverrideRecord> puts;
  std::vector<std::string> deletes;
  for (const auto& [k, r] : next) {
    auto it = overrides_.find(k);
    if (it == overrides_.end() || it->second.kind != r.kind || it->second.target != r.target ||
        it->second.reason != r.reason || it->second.value != r.value ||
        it->second.createdUnix != r.createdUnix || it->second.expiresUnix != r.expiresUnix ||
        it->second.identity != r.identity)
      puts.push_back(r);
  }
  for (const auto& [k, r] : overrides_)
    if (!next.count(k)) deletes.push_back(k);
  if (puts.empty() && deletes.empty()) return true;
  if (!store_.commitAdmin(puts, deletes, {}, err)) return false;
  overrides_ = std::move(next);
  version_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

std::vector<OverrideRecord> AdminState::overrides() const {
  std::lock_guard lock(mu_);
  std::vector<OverrideRecord> out;
  out.reserve(overrides_.size());
  for (const auto& [k, v] : overrides_) out.push_back(v);
  return out;
}

bool AdminState::commitFailover(const FailoverRecord& rec, AuditRecord audit, std::string* err) {
  std::lock_guard lock(mu_);
  if (!audit.unixMs) audit.unixMs = clock_.unixSeconds() * 1000;
  if (!store_.commitFailover(rec, audit, err)) return false;
  ++actions_[audit.action];
  return true;
}

bool AdminState::audit(std::size_t limit, std::vector<AuditRecord>& out, std::string* err) const {
  std::lock_guard lock(mu_);
  return store_.audit(limit, out, err);
}

std::size_t AdminState::expire() {
  std::lock_guard lock(mu_);
  const std::int64_t now = clock_.unixSeconds();
  std::vector<std::string> gone;
  std::vector<AuditRecord> audit;
  for (const auto& [k, r] : overrides_) {
    if (r.expiresUnix == 0 || r.expiresUnix > now) continue;
    gone.push_back(k);
    audit.push_back({now * 1000, "expire", r.target, "expired: " + r.reason, "geodnsd",
                     "{\"kind\":\"" + r.kind + "\"}"});
  }
  if (gone.empty()) return 0;
  std::string err;
  if (!store_.commitAdmin({}, gone, audit, &err)) {
    // Kept in force rather than lapsing only in memory; retried next turn.
    GEODNS_LOG_LIMITED(Error, "admin: cannot record the expiry of %zu override(s): %s", gone.size(),
                       err.c_str());
    return 0;
  }
  for (std::size_t i = 0; i < gone.size(); ++i) {
    const auto& r = overrides_[gone[i]];
    GEODNS_LOG_INFO("admin: %s of %s expired (%s)", r.kind.c_str(), r.target.c_str(),
                    r.reason.c_str());
    overrides_.erase(gone[i]);
  }
  actions_["expire"] += gone.size();
  version_.fetch_add(1, std::memory_order_acq_rel);
  return gone.size();
}

std::map<std::string, std::uint64_t> AdminState::actionCounts() const {
  std::lock_guard lock(mu_);
  return actions_;
}

}  // namespace geodns::health
