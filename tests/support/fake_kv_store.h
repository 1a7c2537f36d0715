#pragma once
// FakeKvStore: an in-memory KvStore with etcd's semantics, for unit tests of
// the cluster logic. What it shares with etcd is checked by running the same
// suite (support/kv_conformance.h) against both.
//
//  - revisions: the store starts at 1; each write request (put, a delete
//    that deletes something, a txn that writes, a lease ending with keys)
//    is one new revision; create/mod revision and version per key as etcd;
//  - history: range at a past revision and watch from a past revision, back
//    to the compaction point (older: Compacted);
//  - leases: expire on the injected clock (checked at every call and by
//    expireLeases()), deleting their keys in one revision;
//  - watch: runs on the caller's thread until canceled; Created first, then
//    events grouped as they were committed, progress on sendProgress();
//  - faults: setAvailable(false) ends watches and fails calls with
//    Unavailable; breakWatches() drops streams that then resume by
//    themselves (Reconnecting, Created, no event lost or repeated);
//    failNext() fails the next calls with a chosen error.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "health/cluster/kv_store.h"

namespace geodns::test {

class FakeKvStore final : public health::cluster::KvStore {
 public:
  explicit FakeKvStore(const Clock& clock) : clock_(clock) {}

  health::cluster::KvResult<health::cluster::RangeResponse> range(
      const health::cluster::RangeRequest& r) override;
  health::cluster::KvResult<health::cluster::PutResponse> put(
      const health::cluster::PutRequest& r) override;
  health::cluster::KvResult<health::cluster::DeleteResponse> deleteRange(
      const health::cluster::DeleteRequest& r) override;
  health::cluster::KvResult<health::cluster::TxnResponse> txn(
      const health::cluster::TxnRequest& r) override;
  health::cluster::KvResult<health::cluster::LeaseGrant> leaseGrant(
      std::int64_t ttlSeconds) override;
  health::cluster::KvResult<health::cluster::LeaseGrant> leaseKeepAlive(std::int64_t id) override;
  health::cluster::KvResult<health::cluster::Unit> leaseRevoke(std::int64_t id) override;
  health::cluster::KvResult<std::int64_t> compact(std::int64_t revision) override;
  health::cluster::KvResult<health::cluster::Unit> watch(
      const health::cluster::WatchRequest& r, const health::cluster::WatchHandler& handler,
      health::cluster::WatchCancel& cancel) override;

  // ---- test controls (any thread) ----
  // Ends every lease whose TTL has run out at clock.now(). Every call does
  // this first; call it after FakeClock::advance() so watchers see it.
  void expireLeases();
  void setAvailable(bool available);
  void breakWatches();
  void sendProgress();
  // The next `count` calls (not watches) fail with `error`; with `apply`
  // they take effect first (an answer lost after the commit).
  void failNext(health::cluster::KvError error, std::size_t count = 1, bool apply = false);

  std::int64_t revision() const;
  std::int64_t compactRevision() const;
  std::size_t liveLeases() const;
  std::size_t runningWatches() const;
  // Waits (bounded) until `n` watches are running; for tests that start a
  // watch on another thread.
  bool waitForWatches(std::size_t n, std::chrono::milliseconds limit) const;

 private:
  struct Lease {
    std::int64_t ttl = 0;
    TimePoint deadline;
    std::set<std::string> keys;
  };
  using Kv = std::map<std::string, health::cluster::KeyValue>;

  std::optional<health::cluster::KvError> enterLocked(bool& applyThenFail,
                                                      health::cluster::KvError& lateError);
  void expireLocked();
  void revokeLocked(std::int64_t id);
  void putLocked(const health::cluster::PutRequest& r, std::int64_t rev,
                 std::optional<health::cluster::KeyValue>* prev);
  std::int64_t deleteLocked(const health::cluster::DeleteRequest& r, std::int64_t rev,
                            std::vector<health::cluster::KeyValue>* prevs);
  health::cluster::RangeResponse rangeOf(const Kv& kv, const health::cluster::RangeRequest& r,
                                         std::int64_t rev) const;
  std::optional<health::cluster::KvError> checkRevisionLocked(std::int64_t rev) const;
  Kv stateAtLocked(std::int64_t rev) const;
  bool compareLocked(const health::cluster::Compare& c) const;
  void changedLocked() { ++changeGen_; }

  const Clock& clock_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::int64_t rev_ = 1;
  std::int64_t compactRev_ = 0;
  Kv kv_;
  Kv base_;  // the state at compactRev_ - 1; log_ holds every event from compactRev_ on
  std::vector<health::cluster::WatchEvent> log_;
  std::map<std::int64_t, Lease> leases_;
  std::int64_t nextLease_ = 0x694d7a1b2c3d0001;  // large, like etcd's, to catch 2^53 truncation
  bool available_ = true;
  std::uint64_t changeGen_ = 0;
  std::uint64_t breakGen_ = 0;
  std::uint64_t progressGen_ = 0;
  std::size_t watches_ = 0;
  std::deque<std::pair<health::cluster::KvError, bool>> failures_;
};

}  // namespace geodns::test
