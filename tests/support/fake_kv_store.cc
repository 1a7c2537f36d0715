#include "support/fake_kv_store.h"

#include <algorithm>

namespace geodns::test {

using namespace health::cluster;

namespace {

constexpr std::size_t kMaxTxnOps = 128;  // etcd's --max-txn-ops default

bool inRange(const std::string& key, const std::string& from, const std::string& end) {
  if (end.empty()) return key == from;
  if (end == std::string(1, '\0')) return key >= from;
  return key >= from && key < end;
}

KvError err(KvErrc code, std::string msg) {
  return {code, std::move(msg), 0, false};
}

template <class T>
bool cmp(const T& a, Compare::Op op, const T& b) {
  switch (op) {
    case Compare::Op::Equal:
      return a == b;
    case Compare::Op::Greater:
      return a > b;
    case Compare::Op::Less:
      return a < b;
    case Compare::Op::NotEqual:
      return a != b;
  }
  return false;
}

bool compareKv(const Compare& c, const KeyValue& kv) {
  switch (c.target) {
    case Compare::Target::Version:
      return cmp(kv.version, c.op, c.number);
    case Compare::Target::CreateRevision:
      return cmp(kv.createRevision, c.op, c.number);
    case Compare::Target::ModRevision:
      return cmp(kv.modRevision, c.op, c.number);
    case Compare::Target::Lease:
      return cmp(kv.lease, c.op, c.number);
    case Compare::Target::Value:
      return cmp(kv.value, c.op, c.value);
  }
  return false;
}

// Clears a WatchCancel's waker when the watch returns.
struct WakerGuard {
  WatchCancel& c;
  ~WakerGuard() { c.clearWaker(); }
};

}  // namespace

// ---- plumbing ----

std::optional<KvError> FakeKvStore::enterLocked(bool& applyThenFail, KvError& lateError) {
  if (!available_) return err(KvErrc::Unavailable, "fake store: unavailable");
  if (!failures_.empty()) {
    auto [e, apply] = failures_.front();
    failures_.pop_front();
    if (!apply) return e;
    applyThenFail = true;
    lateError = e;
  }
  expireLocked();
  return std::nullopt;
}

void FakeKvStore::expireLocked() {
  const TimePoint now = clock_.now();
  std::vector<std::int64_t> due;
  for (const auto& [id, l] : leases_)
    if (l.deadline <= now) due.push_back(id);
  for (auto id : due) revokeLocked(id);
}

void FakeKvStore::revokeLocked(std::int64_t id) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  const std::set<std::string> keys = it->second.keys;  // in key order, as etcd deletes them
  leases_.erase(it);
  if (keys.empty()) return;
  const std::int64_t rev = rev_ + 1;
  for (const auto& k : keys) deleteLocked(DeleteRequest::single(k), rev, nullptr);
  rev_ = rev;
  changedLocked();
  cv_.notify_all();
}

void FakeKvStore::putLocked(const PutRequest& r, std::int64_t rev, std::optional<KeyValue>* prev) {
  KeyValue nv;
  nv.key = r.key;
  nv.value = r.value;
  nv.modRevision = rev;
  nv.lease = r.lease;
  std::optional<KeyValue> old;
  auto it = kv_.find(r.key);
  if (it != kv_.end()) {
    old = it->second;
    nv.createRevision = old->createRevision;
    nv.version = old->version + 1;
    if (old->lease != 0 && leases_.count(old->lease)) leases_[old->lease].keys.erase(r.key);
  } else {
    nv.createRevision = rev;
    nv.version = 1;
  }
  if (r.lease != 0) leases_[r.lease].keys.insert(r.key);
  kv_[r.key] = nv;
  log_.push_back({WatchEvent::Type::Put, nv, old});
  if (prev && r.prevKv) *prev = old;
}

std::int64_t FakeKvStore::deleteLocked(const DeleteRequest& r, std::int64_t rev,
                                       std::vector<KeyValue>* prevs) {
  std::vector<std::string> doomed;
  for (const auto& [k, v] : kv_)
    if (inRange(k, r.key, r.rangeEnd)) doomed.push_back(k);
  for (const auto& k : doomed) {
    KeyValue old = kv_[k];
    if (old.lease != 0) {
      auto l = leases_.find(old.lease);
      if (l != leases_.end()) l->second.keys.erase(k);
    }
    kv_.erase(k);
    KeyValue tomb;  // etcd's delete event: the key and the delete's revision only
    tomb.key = k;
    tomb.modRevision = rev;
    log_.push_back({WatchEvent::Type::Delete, tomb, old});
    if (prevs && r.prevKv) prevs->push_back(std::move(old));
  }
  return static_cast<std::int64_t>(doomed.size());
}

RangeResponse FakeKvStore::rangeOf(const Kv& kv, const RangeRequest& r, std::int64_t rev) const {
  RangeResponse out;
  out.revision = rev;
  for (const auto& [k, v] : kv) {
    if (!inRange(k, r.key, r.rangeEnd)) continue;
    ++out.count;
    if (r.countOnly) continue;
    if (r.limit > 0 && static_cast<std::int64_t>(out.kvs.size()) >= r.limit) {
      out.more = true;
      continue;
    }
    out.kvs.push_back(v);
    if (r.keysOnly) out.kvs.back().value.clear();
  }
  return out;
}

std::optional<KvError> FakeKvStore::checkRevisionLocked(std::int64_t rev) const {
  if (rev > rev_)
    return err(KvErrc::FutureRevision, "mvcc: required revision is a future revision");
  if (rev > 0 && rev < compactRev_) {
    KvError e = err(KvErrc::Compacted, "mvcc: required revision has been compacted");
    e.compactRevision = compactRev_;
    return e;
  }
  return std::nullopt;
}

FakeKvStore::Kv FakeKvStore::stateAtLocked(std::int64_t rev) const {
  Kv s = base_;
  for (const auto& e : log_) {
    if (e.kv.modRevision > rev) break;
    if (e.type == WatchEvent::Type::Put)
      s[e.kv.key] = e.kv;
    else
      s.erase(e.kv.key);
  }
  return s;
}

bool FakeKvStore::compareLocked(const Compare& c) const {
  if (c.rangeEnd.empty()) {
    auto it = kv_.find(c.key);
    if (it == kv_.end()) return c.target != Compare::Target::Value && compareKv(c, KeyValue{});
    return compareKv(c, it->second);
  }
  bool any = false;
  for (const auto& [k, v] : kv_) {
    if (!inRange(k, c.key, c.rangeEnd)) continue;
    any = true;
    if (!compareKv(c, v)) return false;
  }
  if (!any) return c.target != Compare::Target::Value && compareKv(c, KeyValue{});
  return true;
}

// ---- KvStore ----

KvResult<RangeResponse> FakeKvStore::range(const RangeRequest& r) {
  std::lock_guard lock(mu_);
  bool late = false;
  KvError lateError;
  if (auto e = enterLocked(late, lateError)) return *e;
  if (r.key.empty()) return err(KvErrc::InvalidArgument, "key is not provided");
  if (auto e = checkRevisionLocked(r.revision)) return *e;
  RangeResponse out = (r.revision == 0 || r.revision == rev_)
                          ? rangeOf(kv_, r, rev_)
                          : rangeOf(stateAtLocked(r.revision), r, rev_);
  if (late) return lateError;
  return out;
}

KvResult<PutResponse> FakeKvStore::put(const PutRequest& r) {
  std::lock_guard lock(mu_);
  bool late = false;
  KvError lateError;
  if (auto e = enterLocked(late, lateError)) return *e;
  if (r.key.empty()) return err(KvErrc::InvalidArgument, "key is not provided");
  if (r.lease != 0 && !leases_.count(r.lease))
    return err(KvErrc::NotFound, "requested lease not found");
  PutResponse out;
  putLocked(r, rev_ + 1, &out.prevKv);
  out.revision = ++rev_;
  changedLocked();
  cv_.notify_all();
  if (late) return lateError;
  return out;
}

KvResult<DeleteResponse> FakeKvStore::deleteRange(const DeleteRequest& r) {
  std::lock_guard lock(mu_);
  bool late = false;
  KvError lateError;
  if (auto e = enterLocked(late, lateError)) return *e;
  if (r.key.empty()) return err(KvErrc::InvalidArgument, "key is not provided");
  DeleteResponse out;
  out.deleted = deleteLocked(r, rev_ + 1, &out.prevKvs);
  if (out.deleted > 0) {
    ++rev_;
    changedLocked();
    cv_.notify_all();
  }
  out.revision = rev_;
  if (late) return lateError;
  return out;
}

KvResult<TxnResponse> FakeKvStore::txn(const TxnRequest& r) {
  std::lock_guard lock(mu_);
  bool late = false;
  KvError lateError;
  if (auto e = enterLocked(late, lateError)) return *e;
  for (const auto* branch : {&r.success, &r.failure}) {
    if (branch->size() > kMaxTxnOps || r.compare.size() > kMaxTxnOps)
      return err(KvErrc::InvalidArgument, "too many operations in txn request");
    std::set<std::string> puts;
    for (const auto& op : *branch) {
      if (const auto* p = std::get_if<PutRequest>(&op)) {
        if (p->key.empty()) return err(KvErrc::InvalidArgument, "key is not provided");
        if (!puts.insert(p->key).second)
          return err(KvErrc::InvalidArgument, "duplicate key given in txn request");
      }
    }
  }
  TxnResponse out;
  out.succeeded = std::all_of(r.compare.begin(), r.compare.end(),
                              [this](const Compare& c) { return compareLocked(c); });
  const auto& ops = out.succeeded ? r.success : r.failure;
  for (const auto& op : ops) {
    if (const auto* p = std::get_if<PutRequest>(&op))
      if (p->lease != 0 && !leases_.count(p->lease))
        return err(KvErrc::NotFound, "requested lease not found");
    if (const auto* g = std::get_if<RangeRequest>(&op))
      if (auto e = checkRevisionLocked(g->revision)) return *e;
  }
  const std::int64_t txnRev = rev_ + 1;
  bool wrote = false;
  for (const auto& op : ops) {
    if (const auto* g = std::get_if<RangeRequest>(&op)) {
      // Reads inside a txn see its earlier writes.
      out.responses.emplace_back(g->revision == 0 ? rangeOf(kv_, *g, wrote ? txnRev : rev_)
                                                  : rangeOf(stateAtLocked(g->revision), *g, rev_));
    } else if (const auto* p = std::get_if<PutRequest>(&op)) {
      PutResponse pr;
      putLocked(*p, txnRev, &pr.prevKv);
      pr.revision = txnRev;
      wrote = true;
      out.responses.emplace_back(std::move(pr));
    } else if (const auto* d = std::get_if<DeleteRequest>(&op)) {
      DeleteResponse dr;
      dr.deleted = deleteLocked(*d, txnRev, &dr.prevKvs);
      if (dr.deleted > 0) wrote = true;
      dr.revision = txnRev;
      out.responses.emplace_back(std::move(dr));
    }
  }
  if (wrote) {
    rev_ = txnRev;
    changedLocked();
    cv_.notify_all();
  }
  out.revision = rev_;
  // Responses of ops that ran before the first write carry the old revision.
  for (auto& resp : out.responses) {
    if (auto* pr = std::get_if<PutResponse>(&resp)) pr->revision = rev_;
    if (auto* dr = std::get_if<DeleteResponse>(&resp)) dr->revision = rev_;
  }
  if (late) return lateError;
  return out;
}

KvResult<LeaseGrant> FakeKvStore::leaseGrant(std::int64_t ttlSeconds) {
  std::lock_guard lock(mu_);
  bool late = false;
  KvError lateError;
  if (auto e = enterLocked(late, lateError)) return *e;
  if (ttlSeconds <= 0) return err(KvErrc::InvalidArgument, "lease TTL must be positive");
  const std::int64_t id = nextLease_++;
  leases_[id] = {ttlSeconds, clock_.now() + std::chrono::seconds(ttlSeconds), {}};
  if (late) return lateError;
  return LeaseGrant{id, ttlSeconds};
}

KvResult<LeaseGrant> FakeKvStore::leaseKeepAlive(std::int64_t id) {
  std::lock_guard lock(mu_);
  bool late = false;
  KvError lateError;
  if (auto e = enterLocked(late, lateError)) return *e;
  auto it = leases_.find(id);
  if (it == leases_.end()) return err(KvErrc::NotFound, "lease not found or expired");
  it->second.deadline = clock_.now() + std::chrono::seconds(it->second.ttl);
  if (late) return lateError;
  return LeaseGrant{id, it->second.ttl};
}

KvResult<Unit> FakeKvStore::leaseRevoke(std::int64_t id) {
  std::lock_guard lock(mu_);
  bool late = false;
  KvError lateError;
  if (auto e = enterLocked(late, lateError)) return *e;
  if (!leases_.count(id)) return err(KvErrc::NotFound, "requested lease not found");
  revokeLocked(id);
  if (late) return lateError;
  return Unit{};
}

KvResult<std::int64_t> FakeKvStore::compact(std::int64_t revision) {
  std::lock_guard lock(mu_);
  bool late = false;
  KvError lateError;
  if (auto e = enterLocked(late, lateError)) return *e;
  if (revision <= compactRev_) {
    KvError e = err(KvErrc::Compacted, "mvcc: required revision has been compacted");
    e.compactRevision = compactRev_;
    return e;
  }
  if (revision > rev_)
    return err(KvErrc::FutureRevision, "mvcc: required revision is a future revision");
  // Fold every event before `revision` into the base state.
  auto keep = std::partition_point(log_.begin(), log_.end(), [revision](const WatchEvent& e) {
    return e.kv.modRevision < revision;
  });
  for (auto it = log_.begin(); it != keep; ++it) {
    if (it->type == WatchEvent::Type::Put)
      base_[it->kv.key] = it->kv;
    else
      base_.erase(it->kv.key);
  }
  log_.erase(log_.begin(), keep);
  compactRev_ = revision;
  changedLocked();
  cv_.notify_all();
  if (late) return lateError;
  return rev_;
}

KvResult<Unit> FakeKvStore::watch(const WatchRequest& r, const WatchHandler& handler,
                                  WatchCancel& cancel) {
  // The waker takes mu_; so this thread never calls `cancel` while holding
  // mu_ (lock order: cancel, then store).
  cancel.setWaker([this] {
    {
      std::lock_guard lock(mu_);
      changedLocked();
    }
    cv_.notify_all();
  });
  WakerGuard guard{cancel};

  std::int64_t next = 0;      // where a resumed stream starts
  std::int64_t scanFrom = 0;  // first revision not yet looked at
  std::uint64_t seenBreak = 0, seenProgress = 0;
  WatchUpdate first;
  {
    std::lock_guard lock(mu_);
    if (!available_) return err(KvErrc::Unavailable, "fake store: unavailable");
    expireLocked();
    if (r.startRevision > 0 && r.startRevision < compactRev_) {
      KvError e = err(KvErrc::Compacted, "watch from a compacted revision");
      e.compactRevision = compactRev_;
      return e;
    }
    next = r.startRevision > 0 ? r.startRevision : rev_ + 1;
    scanFrom = next;
    seenBreak = breakGen_;
    seenProgress = progressGen_;
    ++watches_;
    cv_.notify_all();
    first.kind = WatchUpdate::Kind::Created;
    first.headerRevision = rev_;
    first.nextRevision = next;
  }
  struct Running {
    FakeKvStore* s;
    ~Running() {
      std::lock_guard lock(s->mu_);
      --s->watches_;
      s->cv_.notify_all();
    }
  } running{this};
  handler(first);

  bool resuming = false;  // a Reconnecting was sent; Created comes next
  while (true) {
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(mu_);
      gen = changeGen_;
    }
    if (cancel.canceled()) return err(KvErrc::Canceled, "watch canceled");
    WatchUpdate u;
    std::optional<KvError> end;
    {
      std::unique_lock lock(mu_);
      if (!available_) {
        u.kind = WatchUpdate::Kind::Reconnecting;
        u.detail = "fake store: unavailable";
        end = err(KvErrc::Unavailable,
                  "fake store: unavailable; resume from revision " + std::to_string(next));
      } else if (breakGen_ != seenBreak) {
        seenBreak = breakGen_;
        resuming = true;
        u.kind = WatchUpdate::Kind::Reconnecting;
        u.detail = "fake store: stream broken";
      } else if (scanFrom <= rev_ && scanFrom < compactRev_) {
        // Changes this watcher had not read yet were compacted away (etcd
        // does the same to a watcher too slow to stay in sync).
        KvError e = err(KvErrc::Compacted, "watch fell behind a compaction");
        e.compactRevision = compactRev_;
        return e;
      } else if (resuming) {
        resuming = false;
        u.kind = WatchUpdate::Kind::Created;
      } else {
        auto it = std::partition_point(log_.begin(), log_.end(), [scanFrom](const WatchEvent& e) {
          return e.kv.modRevision < scanFrom;
        });
        for (; it != log_.end(); ++it) {
          if (!inRange(it->kv.key, r.key, r.rangeEnd)) continue;
          u.events.push_back(*it);
          if (!r.prevKv) u.events.back().prevKv.reset();
        }
        scanFrom = rev_ + 1;
        if (!u.events.empty()) {
          u.kind = WatchUpdate::Kind::Events;
          next = u.events.back().kv.modRevision + 1;
        } else if (progressGen_ != seenProgress) {
          seenProgress = progressGen_;
          u.kind = WatchUpdate::Kind::Progress;
          next = std::max(next, rev_ + 1);
        } else {
          cv_.wait(lock, [&] { return changeGen_ != gen; });
          continue;
        }
      }
      u.headerRevision = rev_;
      u.nextRevision = next;
    }
    handler(u);
    if (end) return *end;
  }
}

// ---- controls ----

void FakeKvStore::expireLeases() {
  std::lock_guard lock(mu_);
  expireLocked();
}

void FakeKvStore::setAvailable(bool available) {
  std::lock_guard lock(mu_);
  available_ = available;
  changedLocked();
  cv_.notify_all();
}

void FakeKvStore::breakWatches() {
  std::lock_guard lock(mu_);
  ++breakGen_;
  changedLocked();
  cv_.notify_all();
}

void FakeKvStore::sendProgress() {
  std::lock_guard lock(mu_);
  ++progressGen_;
  changedLocked();
  cv_.notify_all();
}

void FakeKvStore::failNext(KvError error, std::size_t count, bool apply) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < count; ++i) failures_.emplace_back(error, apply);
}

std::int64_t FakeKvStore::revision() const {
  std::lock_guard lock(mu_);
  return rev_;
}

std::int64_t FakeKvStore::compactRevision() const {
  std::lock_guard lock(mu_);
  return compactRev_;
}

std::size_t FakeKvStore::liveLeases() const {
  std::lock_guard lock(mu_);
  return leases_.size();
}

std::size_t FakeKvStore::runningWatches() const {
  std::lock_guard lock(mu_);
  return watches_;
}

bool FakeKvStore::waitForWatches(std::size_t n, std::chrono::milliseconds limit) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] { return watches_ >= n; });
}

}  // namespace geodns::test
