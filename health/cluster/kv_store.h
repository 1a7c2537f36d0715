#pragma once
// The key-value seam of a geodnsd fleet: what the cluster logic needs from
// etcd's v3 API (range, put, delete, txn, leases, watch), in plain values.
// EtcdClient (etcd_client.h) talks to a real etcd; tests use FakeKvStore
// (tests/support/fake_kv_store.h), which keeps the same semantics
// (revisions, versions, leases, compaction, watch resumption).
//
// Keys and values are raw bytes in std::string. Revisions are etcd's: one
// per committed write (a txn is one revision however many keys it writes).
// No call throws; every failure is a KvError in the KvResult.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/clock.h"

namespace geodns::health::cluster {

enum class KvErrc : std::uint8_t {
  Unavailable,       // no endpoint gave an answer (connect, TLS, timeout, no leader)
  Compacted,         // the revision asked for is older than the compaction point
  FutureRevision,    // the revision asked for is newer than the store
  Canceled,          // a watch ended by its WatchCancel
  Unauthenticated,   // bad user/password, or a token etcd no longer accepts
  PermissionDenied,  // the user's role does not cover the key
  NotFound,          // the lease does not exist (expired or revoked)
  InvalidArgument,   // etcd refused the request (empty key, too many ops, ...)
  Protocol,          // an answer we could not understand
};
const char* errcName(KvErrc code) noexcept;

struct KvError {
  KvErrc code = KvErrc::Unavailable;
  std::string message;  // for logs and API errors; never holds a password or token
  // Compacted: the oldest revision still available (re-read, then watch from
  // the read's revision + 1).
  std::int64_t compactRevision = 0;
  // A write whose request may have reached etcd before the answer was lost:
  // it may or may not have been applied (guard retries with a compare).
  bool maybeApplied = false;
  std::string str() const;
};

struct Unit {};

// A value or a KvError. Plain; no exceptions.
template <class T>
class [[nodiscard]] KvResult {
 public:
  KvResult(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  KvResult(KvError error) : v_(std::move(error)) {}
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  // Preconditions: ok() for value(), !ok() for error().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const KvError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, KvError> v_;
};

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t createRevision = 0;
  std::int64_t modRevision = 0;
  std::int64_t version = 0;  // 1 at creation, +1 per put; a delete resets the key
  std::int64_t lease = 0;    // 0: no lease
  bool operator==(const KeyValue&) const = default;
};

// The smallest key greater than every key that starts with `prefix`, as
// etcd's range_end for a prefix. "\0" (everything) when no such key exists.
std::string prefixEnd(std::string_view prefix);

struct RangeRequest {
  std::string key;
  std::string rangeEnd;       // empty: `key` alone; "\0": every key >= key
  std::int64_t revision = 0;  // 0: the newest; else a past revision (>= compaction point)
  std::int64_t limit = 0;     // 0: no limit
  bool keysOnly = false;
  bool countOnly = false;
  static RangeRequest single(std::string k) { return {std::move(k), {}, 0, 0, false, false}; }
  static RangeRequest prefix(std::string p) {
    std::string end = prefixEnd(p);
    return {std::move(p), std::move(end), 0, 0, false, false};
  }
};
struct RangeResponse {
  std::int64_t revision = 0;  // the store's revision the read saw
  std::vector<KeyValue> kvs;  // in key order
  bool more = false;          // `limit` cut the list
  std::int64_t count = 0;     // keys in the range, regardless of `limit`
};

struct PutRequest {
  std::string key;
  std::string value;
  std::int64_t lease = 0;  // attach to this lease: the key goes when the lease does
  bool prevKv = false;
};
struct PutResponse {
  std::int64_t revision = 0;
  std::optional<KeyValue> prevKv;
};

struct DeleteRequest {
  std::string key;
  std::string rangeEnd;  // as in RangeRequest
  bool prevKv = false;
  static DeleteRequest single(std::string k) { return {std::move(k), {}, false}; }
  static DeleteRequest prefix(std::string p) {
    std::string end = prefixEnd(p);
    return {std::move(p), std::move(end), false};
  }
};
struct DeleteResponse {
  std::int64_t revision = 0;
  std::int64_t deleted = 0;
  std::vector<KeyValue> prevKvs;
};

// One condition of a transaction. A key that does not exist has version,
// create and mod revision 0 and lease 0; a Value compare on it is false.
struct Compare {
  enum class Target : std::uint8_t { Version, CreateRevision, ModRevision, Value, Lease };
  enum class Op : std::uint8_t { Equal, Greater, Less, NotEqual };
  std::string key;
  std::string rangeEnd;  // non-empty: every key in the range must satisfy it
  Target target = Target::ModRevision;
  Op op = Op::Equal;
  std::int64_t number = 0;  // Version, CreateRevision, ModRevision, Lease
  std::string value;        // Value

  static Compare modRevision(std::string k, Op o, std::int64_t n) {
    return {std::move(k), {}, Target::ModRevision, o, n, {}};
  }
  static Compare createRevision(std::string k, Op o, std::int64_t n) {
    return {std::move(k), {}, Target::CreateRevision, o, n, {}};
  }
  static Compare version(std::string k, Op o, std::int64_t n) {
    return {std::move(k), {}, Target::Version, o, n, {}};
  }
  static Compare valueIs(std::string k, Op o, std::string v) {
    return {std::move(k), {}, Target::Value, o, 0, std::move(v)};
  }
  // The key does not exist (the usual guard of a create or a campaign).
  static Compare absent(std::string k) { return createRevision(std::move(k), Op::Equal, 0); }
};

using TxnOp = std::variant<RangeRequest, PutRequest, DeleteRequest>;
using TxnOpResponse = std::variant<RangeResponse, PutResponse, DeleteResponse>;

// If every compare holds, `success` runs, else `failure`; atomically, as one
// revision (when anything is written). etcd refuses more than 128 ops
// (--max-txn-ops) and two puts of the same key in one branch.
struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};
struct TxnResponse {
  std::int64_t revision = 0;
  bool succeeded = false;
  std::vector<TxnOpResponse> responses;  // one per op of the branch that ran
};

struct LeaseGrant {
  std::int64_t id = 0;
  std::int64_t ttlSeconds = 0;  // as granted (etcd raises a TTL below its minimum)
};

struct WatchRequest {
  std::string key;
  std::string rangeEnd;            // as in RangeRequest
  std::int64_t startRevision = 0;  // 0: changes after the current revision
  bool prevKv = false;
  bool progressNotify = true;  // ask for periodic progress updates while idle
  static WatchRequest prefix(std::string p, std::int64_t from) {
    std::string end = prefixEnd(p);
    return {std::move(p), std::move(end), from, false, true};
  }
};

struct WatchEvent {
  enum class Type : std::uint8_t { Put, Delete };
  Type type = Type::Put;
  KeyValue kv;  // a Delete carries the key and its mod (= delete) revision
  std::optional<KeyValue> prevKv;
  bool operator==(const WatchEvent&) const = default;
};

struct WatchUpdate {
  enum class Kind : std::uint8_t {
    Created,       // the watch is (re)established; nothing to apply
    Events,        // events, in revision order, never repeated, never skipped
    Progress,      // no events; every change up to `headerRevision` has been delivered
    Reconnecting,  // the stream broke (`detail` says why); the watch resumes by itself
  };
  Kind kind = Kind::Events;
  std::int64_t headerRevision = 0;  // the store's revision when the message was sent
  std::vector<WatchEvent> events;
  // Where a new watch must start to continue this one without a gap or a
  // repeat: the last event's revision + 1, or the progress revision + 1.
  std::int64_t nextRevision = 0;
  std::string detail;
};

// Ends a running watch from another thread. One per watch call; cancel()
// may come before, during or after the call (a canceled token ends the
// next watch at once).
class WatchCancel {
 public:
  void cancel() {
    std::lock_guard lock(mu_);
    canceled_ = true;
    cv_.notify_all();
    if (waker_) waker_();
  }
  bool canceled() const {
    std::lock_guard lock(mu_);
    return canceled_;
  }
  // For KvStore implementations: `waker` runs (under this object's lock, so
  // it must not call back into it) when cancel() is called while it is set.
  // Clear it before whatever it wakes is destroyed.
  void setWaker(std::function<void()> waker) {
    std::lock_guard lock(mu_);
    waker_ = std::move(waker);
  }
  void clearWaker() {
    std::lock_guard lock(mu_);
    waker_ = nullptr;
  }
  // Sleeps for `d` or until canceled; true when canceled. (Backoff between
  // reconnection rounds.)
  bool waitFor(Duration d) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, d, [this] { return canceled_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool canceled_ = false;
  std::function<void()> waker_;
};

// Called on the watching thread for each update; must not throw. It may call
// the store (from the same thread) but should hand real work off quickly:
// the stream is not read while it runs.
using WatchHandler = std::function<void(const WatchUpdate&)>;

class KvStore {
 public:
  virtual ~KvStore() = default;
  // All calls block the calling thread (never a DNS worker) for at most the
  // store's request timeout per endpoint tried, and may be made from several
  // threads at once.
  virtual KvResult<RangeResponse> range(const RangeRequest& r) = 0;
  virtual KvResult<PutResponse> put(const PutRequest& r) = 0;
  virtual KvResult<DeleteResponse> deleteRange(const DeleteRequest& r) = 0;
  virtual KvResult<TxnResponse> txn(const TxnRequest& r) = 0;
  virtual KvResult<LeaseGrant> leaseGrant(std::int64_t ttlSeconds) = 0;
  // Renews the lease for its full TTL; NotFound once it has expired.
  virtual KvResult<LeaseGrant> leaseKeepAlive(std::int64_t id) = 0;
  // Ends the lease now, deleting its keys; NotFound if it is already gone.
  virtual KvResult<Unit> leaseRevoke(std::int64_t id) = 0;
  // Drops history before `revision`; returns the store's revision.
  virtual KvResult<std::int64_t> compact(std::int64_t revision) = 0;
  // Streams changes of the range to `handler` until `cancel` fires
  // (Canceled), the start revision is compacted (Compacted: re-read, then
  // watch again), or the store stays unreachable beyond the implementation's
  // reconnection budget (Unavailable: resume later from the last update's
  // nextRevision). A broken stream is resumed from the last delivered
  // revision, so the handler sees every change exactly once, in order.
  virtual KvResult<Unit> watch(const WatchRequest& r, const WatchHandler& handler,
                               WatchCancel& cancel) = 0;
};

}  // namespace geodns::health::cluster
