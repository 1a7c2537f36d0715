#pragma once
// The behaviour every KvStore must share with etcd, as doctest checks over a
// KvStore&: run against FakeKvStore in the unit tests and against a real
// etcd (through EtcdClient) in the etcd integration test, so the fake cannot
// drift from what it imitates. Each check works under its own key prefix
// and compares revisions relative to the ones it made, so several can share
// one store.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "health/cluster/kv_store.h"

namespace geodns::test::kvconf {

using namespace health::cluster;
using namespace std::chrono_literals;

// Runs store.watch() on a thread and records what it delivers.
class WatchRecorder {
 public:
  WatchRecorder(KvStore& store, WatchRequest req) : store_(store), req_(std::move(req)) {
    thread_ = std::thread([this] {
      auto r = store_.watch(
          req_,
          [this](const WatchUpdate& u) {
            std::lock_guard lock(mu_);
            updates_.push_back(u);
            for (const auto& e : u.events) events_.push_back(e);
            cv_.notify_all();
          },
          cancel_);
      std::lock_guard lock(mu_);
      result_.emplace(std::move(r));
      endedAt_ = std::chrono::steady_clock::now();
      cv_.notify_all();
    });
  }
  ~WatchRecorder() { stop(); }
  WatchRecorder(const WatchRecorder&) = delete;
  WatchRecorder& operator=(const WatchRecorder&) = delete;

  bool waitEvents(std::size_t n, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return events_.size() >= n || result_.has_value(); }) &&
           events_.size() >= n;
  }
  // Waits for the `n`th update of a kind.
  bool waitKind(WatchUpdate::Kind k, std::size_t n = 1, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mu_);
    auto count = [&] {
      std::size_t c = 0;
      for (const auto& u : updates_) c += u.kind == k;
      return c;
    };
    return cv_.wait_for(lock, limit, [&] { return count() >= n || result_.has_value(); }) &&
           count() >= n;
  }
  bool waitEnded(std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return result_.has_value(); });
  }
  // Cancels and joins; how long the watch took to return after cancel().
  std::chrono::milliseconds stop() {
    if (!thread_.joinable()) return 0ms;
    const auto asked = std::chrono::steady_clock::now();
    cancel_.cancel();
    thread_.join();
    std::lock_guard lock(mu_);
    return std::chrono::duration_cast<std::chrono::milliseconds>(endedAt_ - asked);
  }
  std::vector<WatchEvent> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<WatchUpdate> updates() const {
    std::lock_guard lock(mu_);
    return updates_;
  }
  std::optional<KvResult<Unit>> result() const {
    std::lock_guard lock(mu_);
    return result_;
  }

 private:
  KvStore& store_;
  WatchRequest req_;
  WatchCancel cancel_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchUpdate> updates_;
  std::vector<WatchEvent> events_;
  std::optional<KvResult<Unit>> result_;
  std::chrono::steady_clock::time_point endedAt_;
  std::thread thread_;
};

inline std::int64_t putRev(KvStore& s, const std::string& k, const std::string& v,
                           std::int64_t lease = 0) {
  auto r = s.put({k, v, lease, false});
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
  return r->revision;
}

inline std::optional<KeyValue> get(KvStore& s, const std::string& k, std::int64_t rev = 0) {
  RangeRequest q = RangeRequest::single(k);
  q.revision = rev;
  auto r = s.range(q);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
  if (r->kvs.empty()) return std::nullopt;
  return r->kvs.front();
}

inline std::int64_t currentRevision(KvStore& s, const std::string& anyKey) {
  auto r = s.range(RangeRequest::single(anyKey));
  REQUIRE(r.ok());
  return r->revision;
}

// ---- put / range ----
inline void putAndRange(KvStore& s, const std::string& p) {
  const std::int64_t r1 = putRev(s, p + "a", "one");
  auto kv = get(s, p + "a");
  REQUIRE(kv);
  CHECK(*kv == KeyValue{p + "a", "one", r1, r1, 1, 0});

  auto r2 = s.put({p + "a", "two", 0, true});
  REQUIRE(r2.ok());
  CHECK(r2->revision == r1 + 1);
  REQUIRE(r2->prevKv);
  CHECK(r2->prevKv->value == "one");
  kv = get(s, p + "a");
  REQUIRE(kv);
  CHECK(kv->version == 2);
  CHECK(kv->createRevision == r1);
  CHECK(kv->modRevision == r1 + 1);
  CHECK(get(s, p + "a", r1)->value == "one");  // the past stays readable

  RangeRequest future = RangeRequest::single(p + "a");
  future.revision = r1 + 100000;
  auto f = s.range(future);
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().code == KvErrc::FutureRevision);

  // Binary keys and values, including bytes JSON would need to escape.
  const std::string bin("\x00\x01\"\\{}\xff\n", 9);
  putRev(s, p + "b" + bin, bin);
  putRev(s, p + "c", "");
  auto all = s.range(RangeRequest::prefix(p));
  REQUIRE(all.ok());
  REQUIRE(all->kvs.size() == 3);
  CHECK(all->count == 3);
  CHECK_FALSE(all->more);
  CHECK(all->kvs[0].key == p + "a");
  CHECK(all->kvs[1].key == p + "b" + bin);
  CHECK(all->kvs[1].value == bin);
  CHECK(all->kvs[2].value.empty());

  RangeRequest lim = RangeRequest::prefix(p);
  lim.limit = 2;
  auto l = s.range(lim);
  REQUIRE(l.ok());
  CHECK(l->kvs.size() == 2);
  CHECK(l->more);
  CHECK(l->count == 3);

  RangeRequest keys = RangeRequest::prefix(p);
  keys.keysOnly = true;
  auto k = s.range(keys);
  REQUIRE(k.ok());
  REQUIRE(k->kvs.size() == 3);
  CHECK(k->kvs[0].value.empty());
  CHECK(k->kvs[0].modRevision == r1 + 1);

  RangeRequest cnt = RangeRequest::prefix(p);
  cnt.countOnly = true;
  auto c = s.range(cnt);
  REQUIRE(c.ok());
  CHECK(c->kvs.empty());
  CHECK(c->count == 3);

  CHECK_FALSE(get(s, p + "missing"));
  auto empty = s.put({"", "x", 0, false});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == KvErrc::InvalidArgument);
}

// ---- delete ----
inline void deletes(KvStore& s, const std::string& p) {
  putRev(s, p + "a", "1");
  putRev(s, p + "b", "2");
  const std::int64_t before = putRev(s, p + "c", "3");

  DeleteRequest one = DeleteRequest::single(p + "b");
  one.prevKv = true;
  auto d = s.deleteRange(one);
  REQUIRE(d.ok());
  CHECK(d->deleted == 1);
  CHECK(d->revision == before + 1);
  REQUIRE(d->prevKvs.size() == 1);
  CHECK(d->prevKvs[0].value == "2");

  // Deleting nothing writes nothing: no new revision.
  auto none = s.deleteRange(DeleteRequest::single(p + "nothing"));
  REQUIRE(none.ok());
  CHECK(none->deleted == 0);
  CHECK(none->revision == before + 1);

  auto all = s.deleteRange(DeleteRequest::prefix(p));
  REQUIRE(all.ok());
  CHECK(all->deleted == 2);
  CHECK(all->revision == before + 2);  // both keys in one revision

  // A key created again starts over.
  const std::int64_t again = putRev(s, p + "a", "new");
  auto kv = get(s, p + "a");
  REQUIRE(kv);
  CHECK(kv->version == 1);
  CHECK(kv->createRevision == again);
}

// ---- transactions ----
inline void transactions(KvStore& s, const std::string& p) {
  const std::string k = p + "override";
  const std::int64_t rk = putRev(s, k, "v1");

  // An override and its audit record, guarded by the revision the writer
  // read: both or neither, in one revision.
  TxnRequest write;
  write.compare = {Compare::modRevision(k, Compare::Op::Equal, rk)};
  write.success = {PutRequest{k, "v2", 0, false}, PutRequest{p + "audit/1", "rec", 0, false}};
  write.failure = {RangeRequest::single(k)};
  auto t1 = s.txn(write);
  REQUIRE_MESSAGE(t1.ok(), (t1.ok() ? "" : t1.error().str()));
  CHECK(t1->succeeded);
  CHECK(t1->revision == rk + 1);
  REQUIRE(t1->responses.size() == 2);
  CHECK(std::holds_alternative<PutResponse>(t1->responses[0]));
  CHECK(get(s, k)->modRevision == rk + 1);
  CHECK(get(s, p + "audit/1")->modRevision == rk + 1);

  // The same guarded write again: the compare fails, the failure branch
  // reads the current value, nothing is written.
  auto t2 = s.txn(write);
  REQUIRE(t2.ok());
  CHECK_FALSE(t2->succeeded);
  CHECK(t2->revision == rk + 1);
  REQUIRE(t2->responses.size() == 1);
  REQUIRE(std::holds_alternative<RangeResponse>(t2->responses[0]));
  const auto& rr = std::get<RangeResponse>(t2->responses[0]);
  REQUIRE(rr.kvs.size() == 1);
  CHECK(rr.kvs[0].value == "v2");
  CHECK(get(s, p + "audit/1")->version == 1);

  // A campaign: create the leader key only if it does not exist.
  const std::string leader = p + "leader";
  TxnRequest campaign;
  campaign.compare = {Compare::absent(leader)};
  campaign.success = {PutRequest{leader, "n1", 0, false}};
  campaign.failure = {RangeRequest::single(leader)};
  auto c1 = s.txn(campaign);
  REQUIRE(c1.ok());
  CHECK(c1->succeeded);
  campaign.success = {PutRequest{leader, "n2", 0, false}};
  auto c2 = s.txn(campaign);
  REQUIRE(c2.ok());
  CHECK_FALSE(c2->succeeded);
  CHECK(std::get<RangeResponse>(c2->responses[0]).kvs[0].value == "n1");

  struct Case {
    const char* name;
    Compare cmp;
    bool holds;
  };
  const std::vector<Case> cases = {
      {"value equal", Compare::valueIs(leader, Compare::Op::Equal, "n1"), true},
      {"value not equal", Compare::valueIs(leader, Compare::Op::NotEqual, "n1"), false},
      {"value greater", Compare::valueIs(leader, Compare::Op::Greater, "n0"), true},
      {"value of a missing key is never equal",
       Compare::valueIs(p + "missing", Compare::Op::Equal, ""), false},
      {"version equal", Compare::version(k, Compare::Op::Equal, 2), true},
      {"version less", Compare::version(k, Compare::Op::Less, 2), false},
      {"mod revision greater", Compare::modRevision(k, Compare::Op::Greater, rk), true},
      {"mod revision not equal", Compare::modRevision(k, Compare::Op::NotEqual, rk + 1), false},
      {"create revision equal", Compare::createRevision(k, Compare::Op::Equal, rk), true},
      {"missing key has version 0", Compare::version(p + "missing", Compare::Op::Equal, 0), true},
      {"absent on an existing key", Compare::absent(k), false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    TxnRequest t;
    t.compare = {c.cmp};
    auto r = s.txn(t);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
    CHECK(r->succeeded == c.holds);
  }
  // Every compare must hold; one false one fails the txn.
  TxnRequest both;
  both.compare = {Compare::valueIs(leader, Compare::Op::Equal, "n1"),
                  Compare::version(k, Compare::Op::Equal, 99)};
  auto b = s.txn(both);
  REQUIRE(b.ok());
  CHECK_FALSE(b->succeeded);

  // A compare over a range: every key in it must satisfy it.
  Compare rangeCmp = Compare::version(p + "audit/", Compare::Op::Equal, 1);
  rangeCmp.rangeEnd = prefixEnd(p + "audit/");
  TxnRequest rt;
  rt.compare = {rangeCmp};
  auto rc = s.txn(rt);
  REQUIRE(rc.ok());
  CHECK(rc->succeeded);

  // Reads in a txn see the txn's earlier writes.
  TxnRequest rw;
  rw.success = {PutRequest{p + "rw", "fresh", 0, false}, RangeRequest::single(p + "rw")};
  auto w = s.txn(rw);
  REQUIRE(w.ok());
  REQUIRE(w->responses.size() == 2);
  REQUIRE(std::get<RangeResponse>(w->responses[1]).kvs.size() == 1);
  CHECK(std::get<RangeResponse>(w->responses[1]).kvs[0].value == "fresh");

  // A txn that writes nothing makes no revision.
  const std::int64_t now = currentRevision(s, k);
  TxnRequest ro;
  ro.success = {RangeRequest::single(k), DeleteRequest::single(p + "missing")};
  auto r = s.txn(ro);
  REQUIRE(r.ok());
  CHECK(r->revision == now);
  CHECK(currentRevision(s, k) == now);

  TxnRequest dup;
  dup.success = {PutRequest{p + "d", "1", 0, false}, PutRequest{p + "d", "2", 0, false}};
  auto d = s.txn(dup);
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code == KvErrc::InvalidArgument);
}

// ---- leases ----
inline void leases(KvStore& s, const std::string& p) {
  auto g = s.leaseGrant(30);
  REQUIRE_MESSAGE(g.ok(), (g.ok() ? "" : g.error().str()));
  CHECK(g->id != 0);
  CHECK(g->ttlSeconds >= 30);
  putRev(s, p + "node", "alive", g->id);
  auto kv = get(s, p + "node");
  REQUIRE(kv);
  CHECK(kv->lease == g->id);  // the 64-bit ID survives the JSON round trip

  auto ka = s.leaseKeepAlive(g->id);
  REQUIRE(ka.ok());
  CHECK(ka->id == g->id);
  CHECK(ka->ttlSeconds == g->ttlSeconds);

  const std::int64_t before = currentRevision(s, p + "node");
  auto rv = s.leaseRevoke(g->id);
  REQUIRE(rv.ok());
  CHECK_FALSE(get(s, p + "node"));
  CHECK(currentRevision(s, p + "node") == before + 1);

  auto gone = s.leaseKeepAlive(g->id);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == KvErrc::NotFound);
  auto again = s.leaseRevoke(g->id);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == KvErrc::NotFound);
  auto put = s.put({p + "orphan", "x", g->id, false});
  REQUIRE_FALSE(put.ok());
  CHECK(put.error().code == KvErrc::NotFound);
  CHECK_FALSE(get(s, p + "orphan"));
}

// ---- watch ----
inline void watchOrder(KvStore& s, const std::string& p) {
  const std::int64_t r0 = putRev(s, p + "w0", "0");
  // From a revision in the past: history first, then live changes.
  WatchRecorder rec(s, WatchRequest::prefix(p, r0));
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));
  WatchRecorder fromNow(s, WatchRequest::prefix(p, 0));
  REQUIRE(fromNow.waitKind(WatchUpdate::Kind::Created));

  const std::int64_t r1 = putRev(s, p + "w1", "1");
  auto del = s.deleteRange(DeleteRequest::single(p + "w0"));
  REQUIRE(del.ok());
  TxnRequest t;
  t.success = {PutRequest{p + "w2", "2", 0, false}, PutRequest{p + "w3", "3", 0, false}};
  auto tr = s.txn(t);
  REQUIRE(tr.ok());
  putRev(s, "other-prefix/" + p, "not watched");

  REQUIRE(rec.waitEvents(5));
  auto ev = rec.events();
  REQUIRE(ev.size() == 5);
  struct Want {
    WatchEvent::Type type;
    std::string key;
    std::string value;
    std::int64_t rev;
  };
  const Want want[] = {
      {WatchEvent::Type::Put, p + "w0", "0", r0},
      {WatchEvent::Type::Put, p + "w1", "1", r1},
      {WatchEvent::Type::Delete, p + "w0", "", del->revision},
      {WatchEvent::Type::Put, p + "w2", "2", tr->revision},
      {WatchEvent::Type::Put, p + "w3", "3", tr->revision},
  };
  for (std::size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(ev[i].type == want[i].type);
    CHECK(ev[i].kv.key == want[i].key);
    CHECK(ev[i].kv.value == want[i].value);
    CHECK(ev[i].kv.modRevision == want[i].rev);
  }
  const auto ups = rec.updates();
  CHECK(ups.front().kind == WatchUpdate::Kind::Created);
  std::int64_t nextAfterEvents = 0;
  for (const auto& u : ups)
    if (u.kind == WatchUpdate::Kind::Events) nextAfterEvents = u.nextRevision;
  CHECK(nextAfterEvents == tr->revision + 1);

  REQUIRE(fromNow.waitEvents(4));
  CHECK(fromNow.events().front().kv.key == p + "w1");
  CHECK(fromNow.events().size() == 4);

  rec.stop();
  auto res = rec.result();
  REQUIRE(res);
  REQUIRE_FALSE(res->ok());
  CHECK(res->error().code == KvErrc::Canceled);
}

// Cancel ends a watch quickly; returns how long it took.
inline std::chrono::milliseconds watchCancel(KvStore& s, const std::string& p) {
  WatchRecorder rec(s, WatchRequest::prefix(p, 0));
  REQUIRE(rec.waitKind(WatchUpdate::Kind::Created));
  const auto took = rec.stop();
  auto res = rec.result();
  REQUIRE(res);
  REQUIRE_FALSE(res->ok());
  CHECK(res->error().code == KvErrc::Canceled);
  return took;
}

// ---- compaction ----
inline void compaction(KvStore& s, const std::string& p) {
  const std::int64_t c1 = putRev(s, p + "c", "1");
  const std::int64_t c2 = putRev(s, p + "c", "2");
  const std::int64_t c3 = putRev(s, p + "c", "3");
  auto c = s.compact(c2);
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().str()));

  RangeRequest old = RangeRequest::single(p + "c");
  old.revision = c1;
  auto o = s.range(old);
  REQUIRE_FALSE(o.ok());
  CHECK(o.error().code == KvErrc::Compacted);
  CHECK(get(s, p + "c", c2)->value == "2");  // the compaction point itself stays

  auto twice = s.compact(c2);
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().code == KvErrc::Compacted);
  auto future = s.compact(c3 + 100000);
  REQUIRE_FALSE(future.ok());
  CHECK(future.error().code == KvErrc::FutureRevision);

  // A watch from before the compaction ends with Compacted and says where
  // history starts, so the caller can re-read and watch from there.
  WatchRecorder lost(s, WatchRequest::prefix(p, c1));
  REQUIRE(lost.waitEnded());
  auto res = lost.result();
  REQUIRE(res);
  REQUIRE_FALSE(res->ok());
  CHECK(res->error().code == KvErrc::Compacted);
  CHECK(res->error().compactRevision == c2);
  CHECK(lost.events().empty());

  WatchRecorder kept(s, WatchRequest::prefix(p, c2));
  REQUIRE(kept.waitEvents(2));
  CHECK(kept.events()[0].kv.modRevision == c2);
  CHECK(kept.events()[1].kv.modRevision == c3);
}

}  // namespace geodns::test::kvconf
