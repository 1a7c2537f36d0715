#include "health/cluster/fleet.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/log.h"

namespace geodns::health::cluster {

using json = nlohmann::json;

namespace {

std::int64_t unixMsOf(const Clock& c) {
  return c.unixSeconds() * 1000;
}

bool startsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

std::optional<json> parseObject(const std::string& value) {
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

template <class T>
bool field(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) return false;
  try {
    out = it->get<T>();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

std::optional<State> stateFromName(const std::string& n) {
  if (n == "up") return State::Up;
  if (n == "down") return State::Down;
  if (n == "unknown") return State::Unknown;
  return std::nullopt;
}

}  // namespace

std::string targetIdOf(const std::string& probeKey) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char ch : probeKey) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, h);
  return buf;
}

unsigned shardOf(const std::string& targetId) {
  return static_cast<unsigned>(std::strtoull(targetId.c_str(), nullptr, 16) % kShards);
}

std::string FleetKeys::healthKey(const std::string& node, unsigned shard) const {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u", shard);
  return health() + node + "/" + buf;
}

// ---- values ----

std::string encodeOverride(const OverrideRecord& r) {
  return json{{"kind", r.kind},        {"target", r.target},       {"reason", r.reason},
              {"value", r.value},      {"created", r.createdUnix}, {"expires", r.expiresUnix},
              {"identity", r.identity}}
      .dump();
}

std::optional<OverrideRecord> decodeOverride(const std::string& value) {
  auto j = parseObject(value);
  if (!j) return std::nullopt;
  OverrideRecord r;
  if (!field(*j, "kind", r.kind) || !field(*j, "target", r.target) || r.kind.empty() ||
      r.target.empty())
    return std::nullopt;
  if (r.kind != "region_drain" && r.kind != "member_drain" && r.kind != "member_load")
    return std::nullopt;
  field(*j, "reason", r.reason);
  field(*j, "value", r.value);
  field(*j, "created", r.createdUnix);
  field(*j, "expires", r.expiresUnix);
  field(*j, "identity", r.identity);
  r.key = r.kind + ":" + r.target;
  return r;
}

std::string encodeAudit(const AuditRecord& r) {
  return json{{"unix_ms", r.unixMs}, {"action", r.action},     {"target", r.target},
              {"reason", r.reason},  {"identity", r.identity}, {"detail", r.detail}}
      .dump();
}

std::optional<AuditRecord> decodeAudit(const std::string& value) {
  auto j = parseObject(value);
  if (!j) return std::nullopt;
  AuditRecord r;
  if (!field(*j, "action", r.action)) return std::nullopt;
  field(*j, "unix_ms", r.unixMs);
  field(*j, "target", r.target);
  field(*j, "reason", r.reason);
  field(*j, "identity", r.identity);
  field(*j, "detail", r.detail);
  return r;
}

std::string encodeFailover(const FailoverCommand& c) {
  json j{{"pool", c.pool},
         {"action", c.automatic ? "auto" : c.force ? "failover" : "failback"},
         {"region", c.region},
         {"reason", c.reason},
         {"identity", c.identity},
         {"unix_ms", c.unixMs}};
  if (c.automatic) {
    j["since_ms"] = c.sinceMs;
    j["bad_since_ms"] = c.badSinceMs;
    j["good_since_ms"] = c.goodSinceMs;
  }
  return j.dump();
}

std::optional<FailoverCommand> decodeFailover(const std::string& value) {
  auto j = parseObject(value);
  if (!j) return std::nullopt;
  FailoverCommand c;
  std::string action;
  if (!field(*j, "pool", c.pool) || !field(*j, "action", action) || c.pool.empty())
    return std::nullopt;
  if (action != "failover" && action != "failback" && action != "auto") return std::nullopt;
  c.automatic = action == "auto";
  c.force = action == "failover";
  field(*j, "region", c.region);
  if ((c.force || c.automatic) && c.region.empty()) return std::nullopt;
  if (c.automatic) {
    field(*j, "since_ms", c.sinceMs);
    field(*j, "bad_since_ms", c.badSinceMs);
    field(*j, "good_since_ms", c.goodSinceMs);
    if (c.sinceMs < 0 || c.badSinceMs < 0 || c.goodSinceMs < 0) return std::nullopt;
  }
  field(*j, "reason", c.reason);
  field(*j, "identity", c.identity);
  field(*j, "unix_ms", c.unixMs);
  return c;
}

std::string encodeNode(const NodeInfo& n) {
  return json{{"name", n.name},
              {"site", n.site},
              {"version", n.version},
              {"applied", n.applied},
              {"started", n.startedUnixMs},
              {"probing", n.probingUnixMs}}
      .dump();
}

std::optional<NodeInfo> decodeNode(const std::string& value) {
  auto j = parseObject(value);
  if (!j) return std::nullopt;
  NodeInfo n;
  if (!field(*j, "name", n.name)) return std::nullopt;
  field(*j, "site", n.site);
  field(*j, "version", n.version);
  field(*j, "applied", n.applied);
  field(*j, "started", n.startedUnixMs);
  field(*j, "probing", n.probingUnixMs);
  return n;
}

// ---- ControlView ----

void ControlView::put(const KeyValue& kv) {
  if (startsWith(kv.key, keys_.overridePrefix())) {
    auto rec = decodeOverride(kv.value);
    // The key must name what the value says: a value copied under another
    // key would otherwise drain something nobody asked for.
    if (!rec || keys_.overrideKey(rec->kind, rec->target) != kv.key) {
      ++malformed_;
      erase(kv.key);
      return;
    }
    erase(kv.key);
    recordKeyOf_[kv.key] = rec->key;
    modRev_[rec->key] = kv.modRevision;
    overrides_[rec->key] = std::move(*rec);
  } else if (startsWith(kv.key, keys_.failoverPrefix())) {
    auto c = decodeFailover(kv.value);
    if (!c || keys_.failoverKey(c->pool) != kv.key) {
      ++malformed_;
      erase(kv.key);
      return;
    }
    c->modRevision = kv.modRevision;
    failovers_[c->pool] = std::move(*c);
  }
  // Anything else under control/ is for a newer version: ignored.
}

void ControlView::erase(const std::string& key) {
  if (auto it = recordKeyOf_.find(key); it != recordKeyOf_.end()) {
    overrides_.erase(it->second);
    modRev_.erase(it->second);
    recordKeyOf_.erase(it);
  }
  if (startsWith(key, keys_.failoverPrefix()))
    failovers_.erase(key.substr(keys_.failoverPrefix().size()));
}

void ControlView::reset(const std::vector<KeyValue>& kvs, std::int64_t revision) {
  overrides_.clear();
  modRev_.clear();
  recordKeyOf_.clear();
  failovers_.clear();
  for (const auto& kv : kvs) put(kv);
  revision_ = revision;
}

void ControlView::apply(const std::vector<WatchEvent>& events, std::int64_t nextRevision) {
  for (const auto& e : events) {
    if (e.kv.modRevision <= revision_) continue;  // already in a full read
    if (e.type == WatchEvent::Type::Put)
      put(e.kv);
    else
      erase(e.kv.key);
  }
  revision_ = std::max(revision_, nextRevision - 1);
}

// ---- PeerView ----

void PeerView::resetNodes(const std::vector<KeyValue>& kvs) {
  nodes_.clear();
  std::vector<WatchEvent> evs;
  for (const auto& kv : kvs) evs.push_back({WatchEvent::Type::Put, kv, std::nullopt});
  applyNodes(evs);
}

void PeerView::applyNodes(const std::vector<WatchEvent>& events) {
  for (const auto& e : events) {
    if (!startsWith(e.kv.key, keys_.nodes())) continue;
    const std::string name = e.kv.key.substr(keys_.nodes().size());
    if (e.type == WatchEvent::Type::Delete) {
      nodes_.erase(name);
      continue;
    }
    auto n = decodeNode(e.kv.value);
    if (!n || n->name != name) {
      ++malformed_;
      nodes_.erase(name);
      continue;
    }
    nodes_[name] = std::move(*n);
  }
}

bool PeerView::parseHealthKey(const std::string& key, std::string& node, unsigned& shard) const {
  if (!startsWith(key, keys_.health())) return false;
  const std::string rest = key.substr(keys_.health().size());
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return false;
  node = rest.substr(0, slash);
  const std::string s = rest.substr(slash + 1);
  if (s.size() != 2 || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      !std::isdigit(static_cast<unsigned char>(s[1])))
    return false;
  shard = static_cast<unsigned>((s[0] - '0') * 10 + (s[1] - '0'));
  return shard < kShards;
}

void PeerView::dropShard(const std::string& node, unsigned shard) {
  auto n = shards_.find(node);
  if (n == shards_.end()) return;
  auto s = n->second.find(shard);
  if (s == n->second.end()) return;
  for (const auto& [tid, v] : s->second) {
    auto t = byTarget_.find(tid);
    if (t == byTarget_.end()) continue;
    t->second.erase(node);
    if (t->second.empty()) byTarget_.erase(t);
  }
  n->second.erase(s);
  if (n->second.empty()) shards_.erase(n);
}

void PeerView::putShard(const std::string& node, unsigned shard, const std::string& value) {
  dropShard(node, shard);
  auto j = parseObject(value);
  std::int64_t at = 0;
  if (!j || !field(*j, "at", at) || !j->contains("v") || !(*j)["v"].is_object()) {
    ++malformed_;
    return;
  }
  auto& mine = shards_[node][shard];
  for (auto it = (*j)["v"].begin(); it != (*j)["v"].end(); ++it) {
    const json& a = it.value();
    // [state, since_ms, latency_ms or null]
    if (!a.is_array() || a.size() != 3 || !a[0].is_string() || !a[1].is_number_integer()) {
      ++malformed_;
      continue;
    }
    auto st = stateFromName(a[0].get<std::string>());
    if (!st || shardOf(it.key()) != shard) {
      ++malformed_;
      continue;
    }
    PeerVerdict v;
    v.state = *st;
    v.sinceUnixMs = a[1].get<std::int64_t>();
    if (a[2].is_number()) v.latencyMs = a[2].get<double>();
    v.atUnixMs = at;
    mine[it.key()] = v;
    byTarget_[it.key()][node] = v;
  }
}

void PeerView::resetHealth(const std::vector<KeyValue>& kvs) {
  shards_.clear();
  byTarget_.clear();
  std::vector<WatchEvent> evs;
  for (const auto& kv : kvs) evs.push_back({WatchEvent::Type::Put, kv, std::nullopt});
  applyHealth(evs);
}

void PeerView::applyHealth(const std::vector<WatchEvent>& events) {
  for (const auto& e : events) {
    std::string node;
    unsigned shard = 0;
    if (!parseHealthKey(e.kv.key, node, shard)) {
      ++malformed_;
      continue;
    }
    if (node == self_) continue;  // this node votes with its own probes
    if (e.type == WatchEvent::Type::Delete)
      dropShard(node, shard);
    else
      putShard(node, shard, e.kv.value);
  }
}

std::vector<VantageVerdict> PeerView::verdicts(const std::string& targetId) const {
  std::vector<VantageVerdict> out;
  auto t = byTarget_.find(targetId);
  if (t == byTarget_.end()) return out;
  for (const auto& [node, v] : t->second) {
    VantageVerdict vv;
    vv.node = node;
    vv.state = v.state;
    vv.latencyMs = v.latencyMs;
    auto n = nodes_.find(node);
    vv.live = n != nodes_.end();
    vv.confirmedUnixMs = std::max(v.atUnixMs, vv.live ? n->second.probingUnixMs : 0);
    out.push_back(std::move(vv));
  }
  return out;
}

// ---- Fleet ----

Fleet::Fleet(KvStore& store, Clock& clock, FleetOptions options, FleetSink& sink)
    : store_(store),
      clock_(clock),
      opt_(std::move(options)),
      sink_(sink),
      control_(opt_.keys),
      peers_(opt_.keys, opt_.node) {
  self_.name = opt_.node;
  self_.site = opt_.site;
  self_.version = opt_.version;
  self_.startedUnixMs = unixMsOf(clock_);
}

Fleet::~Fleet() {
  stop();
}

void Fleet::start() {
  threads_.emplace_back([this] { watchLoop(Kind::Control); });
  threads_.emplace_back([this] { watchLoop(Kind::Nodes); });
  threads_.emplace_back([this] { watchLoop(Kind::Health); });
  threads_.emplace_back([this] { keeperLoop(); });
}

void Fleet::stop() {
  if (stop_.exchange(true)) return;
  cancelControl_.cancel();
  cancelNodes_.cancel();
  cancelHealth_.cancel();
  wakeKeeper();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  std::int64_t lease;
  {
    std::lock_guard lock(mu_);
    lease = lease_;
    lease_ = 0;
  }
  if (lease) (void)store_.leaseRevoke(lease);  // leave at once rather than after the TTL
}

void Fleet::noteError(const KvError& e, const char* what) {
  counters_.errors.fetch_add(1);
  GEODNS_LOG_LIMITED(Warn, "cluster: %s: %s", what, e.str().c_str());
}

void Fleet::setConnected(bool c, const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (connected_ == c) return;
    connected_ = c;
    if (c) everConnected_ = true;
  }
  // Once per change of state, never per retry.
  if (c)
    GEODNS_LOG_INFO("cluster: connected to etcd");
  else
    GEODNS_LOG_WARN("cluster: etcd unreachable (%s): serving the last applied state", why.c_str());
}

void Fleet::backoff(Duration& d, WatchCancel& cancel) {
  cancel.waitFor(d);
  d = std::min<Duration>(d * 2, opt_.backoffMax);
}

bool Fleet::load(Kind kind, std::int64_t& next) {
  const std::string prefix = kind == Kind::Control ? opt_.keys.control()
                             : kind == Kind::Nodes ? opt_.keys.nodes()
                                                   : opt_.keys.health();
  auto r = store_.range(RangeRequest::prefix(prefix));
  if (!r) {
    noteError(r.error(), "read");
    return false;
  }
  counters_.resyncs.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    storeRevision_ = std::max(storeRevision_, r->revision);
    if (kind == Kind::Control)
      control_.reset(r->kvs, r->revision);
    else if (kind == Kind::Nodes)
      peers_.resetNodes(r->kvs);
    else
      peers_.resetHealth(r->kvs);
  }
  next = r->revision + 1;
  if (kind == Kind::Control)
    applyControl();
  else {
    peersVersion_.fetch_add(1);
    sink_.peersChanged();
  }
  return true;
}

// Hands the applied control state to the sink, then records it as applied.
void Fleet::applyControl() {
  // The watch thread and the keeper (retrying a failed apply) may both get
  // here: one at a time, each handing over the newest state, so an older
  // state never lands after a newer one.
  std::lock_guard applying(applyMu_);
  std::vector<OverrideRecord> all;
  std::vector<FailoverCommand> commands;
  std::int64_t rev;
  {
    std::lock_guard lock(mu_);
    rev = control_.revision();
    for (const auto& [k, o] : control_.overrides()) all.push_back(o);
    for (const auto& [p, c] : control_.failovers())
      if (appliedFailovers_.insert(c.modRevision).second) commands.push_back(c);
  }
  for (const auto& c : commands) sink_.applyFailover(c);
  if (!sink_.applyOverrides(all)) {
    GEODNS_LOG_LIMITED(Error, "cluster: cannot apply the shared overrides locally; retrying");
    return;  // applied_ stays behind; the keeper retries
  }
  {
    std::lock_guard lock(mu_);
    applied_ = std::max(applied_, rev);
  }
  changed_.notify_all();
  wakeKeeper();  // to publish `applied`
}

void Fleet::wakeKeeper() {
  std::lock_guard lock(mu_);
  keeperWake_ = true;
  keeperCv_.notify_all();
}

void Fleet::keeperWait(Duration d) {
  std::unique_lock lock(mu_);
  keeperCv_.wait_for(lock, d, [&] { return keeperWake_ || stop_.load(); });
  keeperWake_ = false;
}

void Fleet::onUpdate(Kind kind, const WatchUpdate& u) {
  if (u.kind == WatchUpdate::Kind::Reconnecting) return;  // nothing changes for the data plane
  setConnected(true, "");
  {
    std::lock_guard lock(mu_);
    storeRevision_ = std::max(storeRevision_, u.headerRevision);
  }
  if (u.kind != WatchUpdate::Kind::Events) {
    if (kind == Kind::Control && u.kind == WatchUpdate::Kind::Progress) {
      std::lock_guard lock(mu_);
      // Nothing of ours changed up to here: every revision is applied.
      if (control_.revision() == applied_ && u.nextRevision - 1 > applied_) {
        control_.apply({}, u.nextRevision);
        applied_ = control_.revision();
      }
    }
    return;
  }
  counters_.watchEvents.fetch_add(u.events.size());
  std::uint64_t bytes = 0;
  for (const auto& e : u.events) bytes += e.kv.key.size() + e.kv.value.size();
  counters_.watchBytes.fetch_add(bytes);
  if (kind == Kind::Control) {
    {
      std::lock_guard lock(mu_);
      control_.apply(u.events, u.nextRevision);
    }
    applyControl();
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (kind == Kind::Nodes)
      peers_.applyNodes(u.events);
    else
      peers_.applyHealth(u.events);
  }
  peersVersion_.fetch_add(1);
  sink_.peersChanged();
  changed_.notify_all();
}

void Fleet::watchLoop(Kind kind) {
  WatchCancel& cancel = kind == Kind::Control ? cancelControl_
                        : kind == Kind::Nodes ? cancelNodes_
                                              : cancelHealth_;
  const std::string prefix = kind == Kind::Control ? opt_.keys.control()
                             : kind == Kind::Nodes ? opt_.keys.nodes()
                                                   : opt_.keys.health();
  Duration wait = opt_.backoffMin;
  std::int64_t next = 0;  // 0: read everything first
  while (!stop_.load()) {
    if (next == 0) {
      if (!load(kind, next)) {
        setConnected(false, "read failed");
        backoff(wait, cancel);
        continue;
      }
      setConnected(true, "");
    }
    wait = opt_.backoffMin;
    auto r = store_.watch(
        WatchRequest::prefix(prefix, next),
        [&](const WatchUpdate& u) {
          if (u.nextRevision > 0) next = u.nextRevision;
          onUpdate(kind, u);
          wait = opt_.backoffMin;
        },
        cancel);
    if (stop_.load()) break;
    if (r) continue;
    if (r.error().code == KvErrc::Canceled) break;
    if (r.error().code == KvErrc::Compacted) {
      next = 0;  // full read, then watch from there
      continue;
    }
    noteError(r.error(), "watch");
    setConnected(false, r.error().str());
    backoff(wait, cancel);
  }
}

// ---- writes ----

std::string Fleet::nextAuditKey(std::int64_t unixMs) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%013" PRId64, unixMs);
  std::uint64_t seq;
  {
    std::lock_guard lock(mu_);
    seq = ++auditSeq_;
  }
  // The start time keeps keys of a restarted node distinct.
  return opt_.keys.audit() + buf + "-" + opt_.node + "-" + std::to_string(self_.startedUnixMs) +
         "-" + std::to_string(seq);
}

WriteOutcome Fleet::commit(TxnRequest t, const std::string& auditKey, bool removal) {
  counters_.writes.fetch_add(1);
  auto r = store_.txn(t);
  WriteOutcome out;
  if (!r && r.error().maybeApplied) {
    // Did it land? The audit key is unique to this write: read it rather
    // than writing twice.
    auto check = store_.range(RangeRequest::single(auditKey));
    if (check && !check->kvs.empty()) {
      out.ok = true;
      out.revision = check->kvs.front().modRevision;
      out.existed = true;  // unknown after a lost answer; assume it did
      return out;
    }
  }
  if (!r) {
    noteError(r.error(), "write");
    out.error = r.error().str();
    return out;
  }
  out.ok = true;
  out.revision = r->revision;
  if (removal && !r->responses.empty())
    if (auto* d = std::get_if<DeleteResponse>(&r->responses.front())) out.existed = d->deleted > 0;
  {
    std::lock_guard lock(mu_);
    storeRevision_ = std::max(storeRevision_, out.revision);
  }
  return out;
}

WriteOutcome Fleet::putOverride(const OverrideRecord& rec, AuditRecord audit) {
  if (!audit.unixMs) audit.unixMs = unixMsOf(clock_);
  const std::string ak = nextAuditKey(audit.unixMs);
  TxnRequest t;
  t.success.push_back(
      PutRequest{opt_.keys.overrideKey(rec.kind, rec.target), encodeOverride(rec), 0, false});
  t.success.push_back(PutRequest{ak, encodeAudit(audit), 0, false});
  auto out = commit(std::move(t), ak, false);
  out.existed = true;
  return out;
}

WriteOutcome Fleet::removeOverride(const std::string& kind, const std::string& target,
                                   AuditRecord audit) {
  if (!audit.unixMs) audit.unixMs = unixMsOf(clock_);
  const std::string ak = nextAuditKey(audit.unixMs);
  TxnRequest t;
  t.success.push_back(DeleteRequest::single(opt_.keys.overrideKey(kind, target)));
  t.success.push_back(PutRequest{ak, encodeAudit(audit), 0, false});
  return commit(std::move(t), ak, true);
}

WriteOutcome Fleet::putFailover(FailoverCommand cmd, AuditRecord audit) {
  if (!audit.unixMs) audit.unixMs = unixMsOf(clock_);
  if (!cmd.unixMs) cmd.unixMs = audit.unixMs;
  const std::string ak = nextAuditKey(audit.unixMs);
  TxnRequest t;
  t.success.push_back(PutRequest{opt_.keys.failoverKey(cmd.pool), encodeFailover(cmd), 0, false});
  t.success.push_back(PutRequest{ak, encodeAudit(audit), 0, false});
  return commit(std::move(t), ak, false);
}

bool Fleet::leading() const {
  std::lock_guard lock(mu_);
  const Duration margin = std::chrono::seconds(1);
  return leaderRevision_ != 0 && lease_ != 0 &&
         clock_.now() - leaseConfirmed_ < std::chrono::seconds(opt_.leaseTtlSec) - margin;
}

WriteOutcome Fleet::putFailoverDecision(FailoverCommand d, std::int64_t basedOn,
                                        const AuditRecord* audit) {
  std::int64_t fence;
  {
    std::lock_guard lock(mu_);
    fence = leaderRevision_;
  }
  WriteOutcome out;
  if (fence == 0 || !leading()) {
    out.error = "not the leader";
    return out;
  }
  d.automatic = true;
  d.identity = opt_.node;
  if (!d.unixMs) d.unixMs = unixMsOf(clock_);
  const std::string key = opt_.keys.failoverKey(d.pool);
  TxnRequest t;
  t.compare.push_back(Compare::createRevision(opt_.keys.leader(), Compare::Op::Equal, fence));
  t.compare.push_back(Compare::modRevision(key, Compare::Op::Equal, basedOn));
  t.success.push_back(PutRequest{key, encodeFailover(d), 0, false});
  t.failure.push_back(RangeRequest::single(opt_.keys.leader()));
  if (audit) {
    AuditRecord a = *audit;
    if (!a.unixMs) a.unixMs = d.unixMs;
    t.success.push_back(PutRequest{nextAuditKey(a.unixMs), encodeAudit(a), 0, false});
  }
  counters_.writes.fetch_add(1);
  auto r = store_.txn(t);
  if (!r) {
    noteError(r.error(), "failover decision");
    out.error = r.error().str();
    return out;
  }
  if (!r->succeeded) {
    // Which guard failed? A `P/leader` that is not ours any more: stop
    // deciding (campaign again at the next round if nobody holds it).
    const RangeResponse* lr =
        r->responses.empty() ? nullptr : std::get_if<RangeResponse>(&r->responses.front());
    if (lr && (lr->kvs.empty() || lr->kvs.front().createRevision != fence)) {
      std::lock_guard lock(mu_);
      if (leaderRevision_ == fence) {
        leaderRevision_ = 0;
        leader_ = lr->kvs.empty() ? "" : lr->kvs.front().value;
        GEODNS_LOG_WARN("cluster: node %s no longer leads failover decisions (now: %s)",
                        opt_.node.c_str(), leader_.empty() ? "none" : leader_.c_str());
      }
      out.error = "fenced: another node leads failover decisions";
    } else {
      out.error = "fenced: the pool's failover state changed meanwhile";
    }
    return out;
  }
  out.ok = true;
  out.revision = r->revision;
  std::lock_guard lock(mu_);
  storeRevision_ = std::max(storeRevision_, out.revision);
  return out;
}

KvResult<std::vector<AuditRecord>> Fleet::audit(std::size_t limit) {
  auto r = store_.range(RangeRequest::prefix(opt_.keys.audit()));
  if (!r) return r.error();
  std::vector<AuditRecord> out;
  const std::size_t from = r->kvs.size() > limit ? r->kvs.size() - limit : 0;
  for (std::size_t i = from; i < r->kvs.size(); ++i)
    if (auto a = decodeAudit(r->kvs[i].value)) out.push_back(std::move(*a));
  return out;
}

bool Fleet::waitApplied(std::int64_t revision, Duration timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return applied_ >= revision || stop_.load(); }) &&
         applied_ >= revision;
}

bool Fleet::waitAllApplied(std::int64_t revision, Duration timeout,
                           std::vector<std::string>* behind) {
  std::unique_lock lock(mu_);
  auto allDone = [&] {
    if (applied_ < revision) return false;
    for (const auto& [name, n] : peers_.nodes())
      if (name != opt_.node && n.applied < revision) return false;
    return true;
  };
  const bool ok =
      changed_.wait_for(lock, timeout, [&] { return allDone() || stop_.load(); }) && allDone();
  if (behind) {
    behind->clear();
    if (applied_ < revision) behind->push_back(opt_.node);
    for (const auto& [name, n] : peers_.nodes())
      if (name != opt_.node && n.applied < revision) behind->push_back(name);
  }
  return ok;
}

// ---- verdicts ----

void Fleet::ownVerdict(const std::string& probeKey, State state, std::optional<double> latencyMs,
                       std::int64_t sinceUnixMs) {
  const std::string tid = targetIdOf(probeKey);
  const unsigned shard = shardOf(tid);
  std::lock_guard lock(mu_);
  PeerVerdict& v = own_[shard][tid];
  if (v.state == state && v.atUnixMs != 0) return;  // changes only
  v.state = state;
  v.latencyMs = latencyMs;
  v.sinceUnixMs = sinceUnixMs;
  v.atUnixMs = 1;
  dirty_.insert(shard);
}

void Fleet::probing() {
  std::lock_guard lock(mu_);
  self_.probingUnixMs = unixMsOf(clock_);
}

std::vector<VantageVerdict> Fleet::vantages(const std::string& probeKey, State own,
                                            std::optional<double> ownLatency) {
  std::vector<VantageVerdict> out;
  out.push_back({opt_.node, own, ownLatency, true, unixMsOf(clock_)});
  std::lock_guard lock(mu_);
  for (auto& v : peers_.verdicts(targetIdOf(probeKey))) out.push_back(std::move(v));
  return out;
}

QuorumDecision Fleet::decide(const std::string& probeKey, State own,
                             std::optional<double> ownLatency) {
  const VantageVerdict self{opt_.node, own, ownLatency, true, unixMsOf(clock_)};
  std::vector<VantageVerdict> peers;
  {
    std::lock_guard lock(mu_);
    peers = peers_.verdicts(targetIdOf(probeKey));
  }
  return decideQuorum(self, peers, opt_.quorum, unixMsOf(clock_));
}

// ---- the keeper: lease, node record, verdicts, expiry ----

bool Fleet::ensureLease() {
  std::int64_t lease;
  {
    std::lock_guard lock(mu_);
    lease = lease_;
  }
  if (lease) {
    auto k = store_.leaseKeepAlive(lease);
    if (k) {
      std::lock_guard lock(mu_);
      leaseConfirmed_ = clock_.now();
      return true;
    }
    noteError(k.error(), "lease keep-alive");
    if (k.error().code != KvErrc::NotFound) return false;
    GEODNS_LOG_WARN("cluster: lease of node %s expired; joining again", opt_.node.c_str());
  }
  auto g = store_.leaseGrant(opt_.leaseTtlSec);
  if (!g) {
    noteError(g.error(), "lease grant");
    return false;
  }
  std::lock_guard lock(mu_);
  lease_ = g->id;
  leaseConfirmed_ = clock_.now();
  if (leaderRevision_ != 0)
    GEODNS_LOG_WARN("cluster: node %s no longer leads failover decisions (its lease expired)",
                    opt_.node.c_str());
  leaderRevision_ = 0;     // `P/leader` went with the old lease
  publishedApplied_ = -1;  // the node key and verdicts went with the old lease
  for (const auto& [shard, vs] : own_)
    if (!vs.empty()) dirty_.insert(shard);
  return true;
}

bool Fleet::putNode() {
  NodeInfo n;
  std::int64_t lease;
  {
    std::lock_guard lock(mu_);
    self_.applied = applied_;
    n = self_;
    lease = lease_;
  }
  counters_.writes.fetch_add(1);
  auto r = store_.put({opt_.keys.nodeKey(opt_.node), encodeNode(n), lease, false});
  if (!r) {
    noteError(r.error(), "node record");
    return false;
  }
  std::lock_guard lock(mu_);
  publishedApplied_ = n.applied;
  lastNodePut_ = clock_.now();
  return true;
}

// One leader for failover decisions (docs/design/cluster.md): `P/leader`
// created under this node's lease if nobody holds it. The holder keeps it
// while its lease lives; the others try again at every keep-alive round, so
// a dead leader is replaced within its lease TTL plus one round.
void Fleet::campaign() {
  std::int64_t lease;
  {
    std::lock_guard lock(mu_);
    if (leaderRevision_ != 0 || lease_ == 0) return;
    lease = lease_;
  }
  TxnRequest t;
  t.compare.push_back(Compare::absent(opt_.keys.leader()));
  t.success.push_back(PutRequest{opt_.keys.leader(), opt_.node, lease, false});
  t.failure.push_back(RangeRequest::single(opt_.keys.leader()));
  counters_.writes.fetch_add(1);
  auto r = store_.txn(t);
  if (!r) {
    noteError(r.error(), "leader campaign");
    return;
  }
  std::lock_guard lock(mu_);
  if (r->succeeded) {
    leaderRevision_ = r->revision;
    leader_ = opt_.node;
    GEODNS_LOG_INFO("cluster: node %s leads failover decisions (revision %lld)", opt_.node.c_str(),
                    static_cast<long long>(r->revision));
    return;
  }
  std::string now;
  if (!r->responses.empty())
    if (auto* rr = std::get_if<RangeResponse>(&r->responses.front()))
      if (!rr->kvs.empty()) now = rr->kvs.front().value;
  if (now != leader_)
    GEODNS_LOG_INFO("cluster: failover decisions are made by node %s",
                    now.empty() ? "(none)" : now.c_str());
  leader_ = now;
}

bool Fleet::flushVerdicts() {
  TxnRequest t;
  std::set<unsigned> shards;
  std::int64_t lease;
  {
    std::lock_guard lock(mu_);
    if (dirty_.empty()) return true;
    shards.swap(dirty_);
    lease = lease_;
    const std::int64_t at = unixMsOf(clock_);
    for (unsigned s : shards) {
      json v = json::object();
      for (auto& [tid, pv] : own_[s]) {
        pv.atUnixMs = at;
        v[tid] = json::array({stateName(pv.state), pv.sinceUnixMs,
                              pv.latencyMs ? json(*pv.latencyMs) : json(nullptr)});
      }
      t.success.push_back(PutRequest{opt_.keys.healthKey(opt_.node, s),
                                     json{{"at", at}, {"v", v}}.dump(), lease, false});
    }
  }
  counters_.writes.fetch_add(1);
  auto r = store_.txn(t);  // <= 64 puts: under etcd's 128 ops
  if (!r) {
    noteError(r.error(), "verdicts");
    std::lock_guard lock(mu_);
    dirty_.insert(shards.begin(), shards.end());  // rewritten whole: a repeat is harmless
    return false;
  }
  return true;
}

// Lapsed overrides leave etcd in a txn guarded by their mod revision (a
// renewal made meanwhile wins); any node may do it, one succeeds.
void Fleet::expireOverrides() {
  const std::int64_t now = clock_.unixSeconds();
  std::vector<std::pair<OverrideRecord, std::int64_t>> lapsed;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, o] : control_.overrides())
      if (o.expiresUnix != 0 && o.expiresUnix <= now)
        lapsed.push_back({o, control_.modRevisions().at(k)});
  }
  for (const auto& [o, rev] : lapsed) {
    AuditRecord a{now * 1000, "expire",
                  o.target,   "expired: " + o.reason,
                  "geodnsd",  json{{"kind", o.kind}, {"node", opt_.node}}.dump()};
    const std::string key = opt_.keys.overrideKey(o.kind, o.target);
    TxnRequest t;
    t.compare.push_back(Compare::modRevision(key, Compare::Op::Equal, rev));
    t.success.push_back(DeleteRequest::single(key));
    t.success.push_back(PutRequest{nextAuditKey(a.unixMs), encodeAudit(a), 0, false});
    counters_.writes.fetch_add(1);
    auto r = store_.txn(t);
    if (!r) noteError(r.error(), "expiry");
  }
}

void Fleet::pruneAudit() {
  const TimePoint now = clock_.now();
  if (opt_.auditRetention <= Duration::zero() ||
      (lastAuditPrune_ && now - *lastAuditPrune_ < opt_.auditPruneEvery))
    return;
  lastAuditPrune_ = now;
  // Audit keys start with the unix ms, 13 digits: everything below the
  // cutoff's key sorts before it.
  const std::int64_t cutoffMs =
      unixMsOf(clock_) -
      std::chrono::duration_cast<std::chrono::milliseconds>(opt_.auditRetention).count();
  if (cutoffMs <= 0) return;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%013" PRId64, cutoffMs);
  DeleteRequest d{opt_.keys.audit(), opt_.keys.audit() + buf, false};
  counters_.writes.fetch_add(1);
  auto r = store_.deleteRange(d);
  if (!r) {
    noteError(r.error(), "audit retention");
    lastAuditPrune_.reset();  // try again at the next round
    return;
  }
  if (r->deleted > 0) {
    counters_.auditPruned.fetch_add(static_cast<std::uint64_t>(r->deleted));
    GEODNS_LOG_INFO("cluster: deleted %lld audit record(s) older than the retention",
                    static_cast<long long>(r->deleted));
  }
}

void Fleet::keeperLoop() {
  const Duration keepAlive = std::chrono::seconds(std::max<std::int64_t>(1, opt_.leaseTtlSec / 3));
  TimePoint lastKeepAlive{};
  bool campaignDue = true;
  Duration wait = opt_.backoffMin;
  while (!stop_.load()) {
    bool ok = true;
    const TimePoint now = clock_.now();
    bool haveLease;
    {
      std::lock_guard lock(mu_);
      haveLease = lease_ != 0;
    }
    if (!haveLease || now - lastKeepAlive >= keepAlive) {
      ok = ensureLease();
      if (ok) {
        lastKeepAlive = now;
        campaignDue = true;
      }
    }
    if (ok && campaignDue) {
      campaign();
      campaignDue = false;
    }
    bool retryApply = false;
    if (ok) {
      bool nodeDue;
      {
        std::lock_guard lock(mu_);
        nodeDue = publishedApplied_ != applied_ || now - lastNodePut_ >= opt_.heartbeat;
        retryApply = applied_ < control_.revision();
      }
      if (nodeDue) ok = putNode();
      if (ok) ok = flushVerdicts();
      if (ok) expireOverrides();
      if (ok) pruneAudit();
    }
    if (retryApply) applyControl();
    if (stop_.load()) break;
    if (ok) {
      wait = opt_.backoffMin;
      keeperWait(opt_.verdictBatch);
    } else {
      keeperWait(wait);
      wait = std::min<Duration>(wait * 2, opt_.backoffMax);
    }
  }
}

Fleet::Status Fleet::status() const {
  std::lock_guard lock(mu_);
  Status s;
  s.connected = connected_;
  s.appliedRevision = applied_;
  s.storeRevision = storeRevision_;
  s.nodes = peers_.nodes();
  s.leader = leaderRevision_ != 0 ? opt_.node : leader_;
  NodeInfo me = self_;
  me.applied = applied_;
  s.nodes[opt_.node] = me;
  return s;
}

}  // namespace geodns::health::cluster
