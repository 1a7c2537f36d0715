#include "server/health_runner.h"

#include "core/log.h"

namespace geodns::server {

bool attachHealth(ServingSnapshot& snap, std::shared_ptr<const health::HealthView> view,
                  const gslb::CompiledDecisions* previous) {
  if (!previous) previous = snap.compiled.get();
  const auto keep = snap.compiled;  // `previous` may be it: alive until the compile is done
  bool ok = true;
  if (view && (!snap.gslb || view->config != snap.gslb->configId)) {
    view = nullptr;  // never applied to another config's pools: everything up
    ok = false;
  }
  snap.health = std::move(view);
  // Health, drains, failover and load feed the decisions: recompile (trees
  // whose outcomes did not change are reused). The previous snapshot keeps
  // serving until this one is published.
  compileSnapshot(snap, previous);
  return ok;
}

HealthRunner::HealthRunner(SnapshotHolder& holder, Clock& clock, Rng& rng,
                           health::ProbeTransport& transport, health::Store* store, Duration maxAge)
    : holder_(holder),
      clock_(clock),
      store_(store),
      maxAge_(maxAge),
      transport_(transport),
      scheduler_(clock, rng, transport) {
  scheduler_.onChange([this](health::TargetId id, const health::Tracker& t) {
    stateChanged_ = true;
    shareVerdict(id);
    const auto& s = scheduler_.spec(id);
    // Every transition is logged once (never per probe).
    GEODNS_LOG_INFO("health: %s %s:%u is %s%s%s", health::kindName(s.kind), s.address.str().c_str(),
                    static_cast<unsigned>(s.port), health::stateName(t.state()),
                    t.lastError().empty() ? "" : ": ", t.lastError().c_str());
  });
  scheduler_.onResult([this](health::TargetId id, const health::ProbeResult& r) {
    resultsSincePublish_ = true;
    pendingPersist_.push_back({id, r});
  });
}

void HealthRunner::shareVerdict(health::TargetId id) {
  if (!fleet_) return;
  const health::Tracker& t = scheduler_.tracker(id);
  const std::int64_t sinceMs =
      (clock_.unixSeconds() -
       std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - t.since()).count()) *
      1000;
  fleet_->ownVerdict(scheduler_.spec(id).key(), t.state(),
                     t.latencyMs() > 0 ? std::optional<double>(t.latencyMs()) : std::nullopt,
                     sinceMs);
}

std::pair<health::State, double> HealthRunner::effective(std::size_t probe) const {
  const health::Tracker& t = scheduler_.tracker(targetOf_[probe]);
  if (!fleet_) return {t.state(), t.latencyMs()};
  const auto d =
      fleet_->decide(scheduler_.spec(targetOf_[probe]).key(), t.state(),
                     t.latencyMs() > 0 ? std::optional<double>(t.latencyMs()) : std::nullopt);
  return {d.state, d.latencyMs ? *d.latencyMs : 0.0};
}

std::vector<HealthRunner::OwnVerdict> HealthRunner::ownVerdicts() const {
  std::lock_guard lock(ownMu_);
  return own_;
}

void HealthRunner::restore(health::TargetId id) {
  if (!store_) return;
  health::Tracker& t = scheduler_.tracker(id);
  auto rec = store_->loadTarget(scheduler_.spec(id).key());
  if (!rec) return;
  const std::int64_t nowUnix = clock_.unixSeconds();
  const auto age = std::chrono::seconds(nowUnix - rec->updatedUnix);
  if (age > maxAge_ || rec->state == health::State::Unknown)
    return;  // too old: start from the initial state
  const TimePoint since =
      clock_.now() - std::chrono::seconds(std::max<std::int64_t>(0, nowUnix - rec->sinceUnix));
  t.restore(rec->state, since, rec->ok, rec->fail, rec->latencyMs,
            rec->load >= 0 ? std::optional<double>(rec->load) : std::nullopt, rec->lastError,
            clock_.now());
}

void HealthRunner::persist(health::TargetId id, const health::ProbeResult* r) {
  if (!store_) return;
  const health::Tracker& t = scheduler_.tracker(id);
  const std::int64_t nowUnix = clock_.unixSeconds();
  health::TargetRecord rec;
  rec.key = scheduler_.spec(id).key();
  rec.state = t.state();
  rec.sinceUnix =
      nowUnix - std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - t.since()).count();
  rec.ok = t.consecutiveOk();
  rec.fail = t.consecutiveFail();
  rec.latencyMs = t.latencyMs();
  rec.load = t.load() ? *t.load() : -1;
  rec.lastError = t.lastError();
  rec.updatedUnix = nowUnix;
  store_->saveTarget(rec);
  if (r) store_->appendHistory(rec.key, {nowUnix * 1000, r->ok, r->totalMs, r->error});
}

HealthRunner::~HealthRunner() {
  stop();
}

bool HealthRunner::memberUp(const gslb::Member& m) const {
  if (m.target < 0 || static_cast<std::size_t>(m.target) >= targetOf_.size()) return true;
  return health::countsAsUp(effective(static_cast<std::size_t>(m.target)).first,
                            base_->gslb->probes[static_cast<std::size_t>(m.target)]);
}

health::FailoverRecord HealthRunner::recordOf(std::size_t p,
                                              const health::FailoverController& fc) const {
  const auto& pool = base_->gslb->pools[p];
  health::FailoverRecord rec;
  rec.pool = pool.name;
  rec.activeRegion = base_->gslb->regions[pool.regions[fc.activeRegion()].region].name;
  rec.sinceUnix =
      clock_.unixSeconds() -
      std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - fc.state().since).count();
  rec.reason = fc.state().reason;
  rec.forced = fc.state().forced;
  return rec;
}

void HealthRunner::saveFailover(std::size_t p) {
  health::FailoverRecord rec = recordOf(p, *failover_[p]);
  remembered_[rec.pool] = rec;
  if (store_) store_->saveFailover(rec);
}

// Logged once, persisted (unless the caller already did), and published on this turn.
void HealthRunner::failoverChanged(std::size_t p, bool saved) {
  if (saved)
    remembered_[base_->gslb->pools[p].name] = recordOf(p, *failover_[p]);
  else
    saveFailover(p);
  const health::FailoverRecord& rec = remembered_[base_->gslb->pools[p].name];
  GEODNS_LOG_INFO("failover: pool %s now on %s (%s)", rec.pool.c_str(), rec.activeRegion.c_str(),
                  rec.reason.c_str());
  {
    std::lock_guard lock(failoverMu_);
    ++failovers_[rec.pool];
  }
  stateChanged_ = true;
}

std::optional<std::size_t> HealthRunner::tierOf(std::size_t p, const std::string& region) const {
  const gslb::Gslb& g = *base_->gslb;
  const auto& tiers = failover_[p]->spec().tiers;
  for (std::size_t t = 0; t < tiers.size(); ++t)
    if (g.regions[g.pools[p].regions[tiers[t]].region].name == region) return t;
  return std::nullopt;
}

// The fleet keeps failover times as unix ms (wall clock, the same on every
// node); the controllers as monotonic time points. Whole seconds: the Clock's.
std::int64_t HealthRunner::toUnixMs(TimePoint t, TimePoint now) const {
  return clock_.unixSeconds() * 1000 -
         std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
}
TimePoint HealthRunner::fromUnixMs(std::int64_t unixMs, TimePoint now) const {
  return now - std::chrono::duration_cast<Duration>(
                   std::chrono::milliseconds(clock_.unixSeconds() * 1000 - unixMs));
}

// One operator command: the new state is computed on a copy, stored with its
// audit record, and only then put in force.
void HealthRunner::apply(Command& c) {
  const gslb::Gslb& g = *base_->gslb;
  const TimePoint now = clock_.now();
  if (c.fleet) {
    std::int64_t& followed = fleetRevision_[c.pool];
    if (c.fleet->modRevision != 0 && c.fleet->modRevision <= followed) {
      c.done.set_value({CommandResult::Outcome::Applied, ""});  // something newer is in force
      return;
    }
    followed = std::max(followed, c.fleet->modRevision);
    if (c.onlyRevision) {
      c.done.set_value({CommandResult::Outcome::Applied, ""});
      return;
    }
  }
  for (std::size_t p = 0; p < g.pools.size(); ++p) {
    if (g.pools[p].name != c.pool || !failover_[p]) continue;
    health::FailoverController next = *failover_[p];
    if (c.fleet && c.fleet->automatic) {
      // The leader's decision, timers included: a new leader (this node,
      // later) continues them.
      const auto tier = tierOf(p, c.region);
      if (!tier) break;  // the config changed under the decision
      health::FailoverState st;
      st.active = *tier;
      st.since = fromUnixMs(c.fleet->sinceMs, now);
      st.reason = c.reason;
      if (c.fleet->badSinceMs) st.activeBadSince = fromUnixMs(c.fleet->badSinceMs, now);
      if (c.fleet->goodSinceMs) st.primaryGoodSince = fromUnixMs(c.fleet->goodSinceMs, now);
      const bool moved = st.active != failover_[p]->state().active || failover_[p]->state().forced;
      failover_[p]->restoreState(std::move(st));
      if (moved) failoverChanged(p, false);
      c.done.set_value({CommandResult::Outcome::Applied, ""});
      return;
    }
    if (c.force) {
      const auto tier = tierOf(p, c.region);
      if (!tier) break;  // the config changed under the command
      next.force(*tier, c.reason, now);
    } else {
      next.failback(c.reason, now);
    }
    const bool audited = !c.audit.action.empty() && (admin_ || store_);
    if (audited) {
      std::string err;
      const health::FailoverRecord rec = recordOf(p, next);
      const bool ok = admin_ ? admin_->commitFailover(rec, c.audit, &err)
                             : store_->commitFailover(rec, c.audit, &err);
      if (!ok) {
        c.done.set_value({CommandResult::Outcome::NotRecorded, err});
        return;
      }
    }
    *failover_[p] = std::move(next);
    failoverChanged(p, audited);
    c.done.set_value({CommandResult::Outcome::Applied, ""});
    return;
  }
  c.done.set_value(
      {CommandResult::Outcome::NoSuchPool, "pool '" + c.pool + "' has no such failover tier"});
}

void HealthRunner::updateFailover() {
  std::vector<Command> commands;
  {
    std::lock_guard lock(failoverMu_);
    commands.swap(commands_);
  }
  const gslb::Gslb& g = *base_->gslb;
  const TimePoint now = clock_.now();
  for (Command& c : commands) apply(c);
  std::vector<health::RegionAvailability> avail;
  for (std::size_t p = 0; p < g.pools.size(); ++p) {
    if (!failover_[p]) continue;
    const gslb::Pool& pool = g.pools[p];
    avail.assign(pool.regions.size(), {});
    for (std::size_t r = 0; r < pool.regions.size(); ++r)
      for (const auto* ms : {&pool.regions[r].v4, &pool.regions[r].v6})
        for (const gslb::Member& m : *ms) {
          if (m.weight == 0) continue;
          ++avail[r].total;
          if (memberUp(m)) ++avail[r].up;
        }
    if (fleet_) {
      // One decision for the fleet: the leader's, written to etcd; the
      // others follow the key (applyFleetFailover), and so does a leader
      // whose lease may have lapsed (fail static).
      if (!fleet_->leading()) continue;
      health::FailoverController next = *failover_[p];
      const bool changed = next.update(avail, now);
      decideForFleet(p, next, changed, now);
      continue;
    }
    if (failover_[p]->update(avail, now)) {
      failoverChanged(p, false);
    }
  }
  publishStates();
}

void HealthRunner::decideForFleet(std::size_t p, const health::FailoverController& next,
                                  bool changed, TimePoint now) {
  const health::FailoverState& was = failover_[p]->state();
  const health::FailoverState& is = next.state();
  if (!changed && was.activeBadSince == is.activeBadSince &&
      was.primaryGoodSince == is.primaryGoodSince)
    return;  // nothing for the other nodes (or the next leader) to know
  const gslb::Gslb& g = *base_->gslb;
  auto unixMs = [&](TimePoint t) { return toUnixMs(t, now); };
  health::cluster::FailoverCommand d;
  d.pool = g.pools[p].name;
  d.automatic = true;
  d.region = g.regions[g.pools[p].regions[next.activeRegion()].region].name;
  d.reason = is.reason;
  d.sinceMs = unixMs(is.since);
  d.badSinceMs = is.activeBadSince ? std::max<std::int64_t>(1, unixMs(*is.activeBadSince)) : 0;
  d.goodSinceMs = is.primaryGoodSince ? std::max<std::int64_t>(1, unixMs(*is.primaryGoodSince)) : 0;
  std::int64_t& followed = fleetRevision_[d.pool];
  health::AuditRecord audit{0,
                            "auto_failover",
                            d.pool,
                            is.reason,
                            "leader " + fleet_->options().node,
                            "{\"region\":\"" + d.region + "\"}"};
  const auto w = fleet_->putFailoverDecision(d, followed, changed ? &audit : nullptr);
  if (!w.ok) {
    // Deposed, or an operator's command (or another leader's decision) came
    // first: the watch brings it, and the next turn decides from there.
    GEODNS_LOG_LIMITED(Warn, "failover: decision for pool %s not written: %s", d.pool.c_str(),
                       w.error.c_str());
    return;
  }
  followed = w.revision;
  *failover_[p] = next;
  if (changed) failoverChanged(p, false);
}

// What failoverStates() returns: every pool with a rule, as last saved.
void HealthRunner::publishStates() {
  const gslb::Gslb& g = *base_->gslb;
  std::vector<health::FailoverRecord> states;
  for (std::size_t p = 0; p < g.pools.size(); ++p)
    if (failover_[p])
      states.push_back(remembered_.count(g.pools[p].name) ? remembered_[g.pools[p].name]
                                                          : health::FailoverRecord{});
  std::lock_guard lock(failoverMu_);
  states_ = std::move(states);
}

std::future<HealthRunner::CommandResult> HealthRunner::forceFailover(const std::string& pool,
                                                                     const std::string& region,
                                                                     const std::string& reason,
                                                                     health::AuditRecord audit) {
  Command c{pool, region, reason, true, std::move(audit), {}, std::nullopt, false};
  auto f = c.done.get_future();
  {
    std::lock_guard lock(failoverMu_);
    commands_.push_back(std::move(c));
  }
  transport_.wakeup();
  return f;
}

void HealthRunner::applyFleetFailover(const health::cluster::FailoverCommand& c,
                                      bool alreadyInForce) {
  Command cmd{c.pool, c.region,      c.reason + " (by " + c.identity + ")", c.force, {}, {},
              c,      alreadyInForce};
  if (c.automatic) cmd.reason = c.reason;
  {
    std::lock_guard lock(failoverMu_);
    commands_.push_back(std::move(cmd));
  }
  transport_.wakeup();
}

std::future<HealthRunner::CommandResult> HealthRunner::failback(const std::string& pool,
                                                                const std::string& reason,
                                                                health::AuditRecord audit) {
  Command c{pool, "", reason, false, std::move(audit), {}, std::nullopt, false};
  auto f = c.done.get_future();
  {
    std::lock_guard lock(failoverMu_);
    commands_.push_back(std::move(c));
  }
  transport_.wakeup();
  return f;
}

std::map<std::string, std::uint64_t> HealthRunner::failoverCounts() const {
  std::lock_guard lock(failoverMu_);
  return failovers_;
}

std::uint64_t HealthRunner::requestPublish() {
  std::uint64_t ticket;
  {
    std::lock_guard lock(publishMu_);
    ticket = ++requested_;
  }
  transport_.wakeup();  // published on the next turn, not after the idle wait
  return ticket;
}

bool HealthRunner::waitPublished(std::uint64_t ticket, Duration timeout) {
  std::unique_lock lock(publishMu_);
  return published_.wait_for(lock, timeout, [&] { return publishedTicket_ >= ticket; });
}

std::vector<health::FailoverRecord> HealthRunner::failoverStates() const {
  std::lock_guard lock(failoverMu_);
  return states_;
}

void HealthRunner::adopt(std::shared_ptr<const ServingSnapshot> snap) {
  base_ = std::move(snap);
  ++configGeneration_;
  // Failover controllers: state carries over by pool and region name (from a
  // previous config, else from the store).
  const gslb::Gslb& g = *base_->gslb;
  failover_.assign(g.pools.size(), std::nullopt);
  for (std::size_t p = 0; p < g.pools.size(); ++p) {
    if (!g.pools[p].failover) continue;
    failover_[p].emplace(*g.pools[p].failover, clock_.now());
    std::optional<health::FailoverRecord> rec;
    if (auto it = remembered_.find(g.pools[p].name); it != remembered_.end())
      rec = it->second;
    else if (store_)
      rec = store_->loadFailover(g.pools[p].name);
    if (rec) {
      const auto& tiers = g.pools[p].failover->tiers;
      for (std::size_t t = 0; t < tiers.size(); ++t)
        if (g.regions[g.pools[p].regions[tiers[t]].region].name == rec->activeRegion)
          failover_[p]->restore(t,
                                clock_.now() - std::chrono::seconds(std::max<std::int64_t>(
                                                   0, clock_.unixSeconds() - rec->sinceUnix)),
                                rec->reason, rec->forced);
    }
    saveFailover(p);
  }
  // /v1/status shows the failover block from the first publish on, not from
  // the first probe-thread turn.
  publishStates();
  const auto& probes = base_->gslb->probes;
  targetOf_.resize(probes.size());
  // Same key, same target: trackers keep their state across reloads.
  for (std::size_t i = 0; i < probes.size(); ++i) {
    targetOf_[i] = scheduler_.add(probes[i]);
    if (restored_.size() <= targetOf_[i]) restored_.resize(targetOf_[i] + 1, false);
    if (!restored_[targetOf_[i]]) {  // first sight of this target: restore its persisted state
      restore(targetOf_[i]);
      restored_[targetOf_[i]] = true;
    }
    shareVerdict(targetOf_[i]);  // the fleet publishes changes only: a repeat costs nothing
  }
}

std::shared_ptr<const health::HealthView> HealthRunner::buildView() const {
  auto view = std::make_shared<health::HealthView>();
  view->config = base_->gslb->configId;
  view->activeTier.assign(failover_.size(), -1);
  for (std::size_t p = 0; p < failover_.size(); ++p)
    if (failover_[p]) view->activeTier[p] = static_cast<std::int16_t>(failover_[p]->state().active);
  view->targets.resize(targetOf_.size());
  std::vector<OwnVerdict> own(targetOf_.size());
  for (std::size_t i = 0; i < targetOf_.size(); ++i) {
    const health::Tracker& t = scheduler_.tracker(targetOf_[i]);
    const auto [state, latency] = effective(i);
    view->targets[i] =
        health::targetHealth(base_->gslb->probes[i], state, t.consecutiveOk(), t.consecutiveFail(),
                             latency, t.load() ? *t.load() : -1.0);
    own[i] = {scheduler_.spec(targetOf_[i]).key(), t.state(),
              t.latencyMs() > 0 ? std::optional<double>(t.latencyMs()) : std::nullopt};
  }
  {
    std::lock_guard lock(ownMu_);
    own_ = std::move(own);
  }
  if (admin_)
    for (const auto& o : admin_->overrides()) gslb::applyOverride(*view, *base_->gslb, o);
  return view;
}

void HealthRunner::publish() {
  if (fleet_) peersVersion_ = fleet_->peersVersion();  // before the view, as adminVersion_
  if (admin_)
    adminVersion_ = admin_->version();  // read before the view: a later change republishes
  auto next = std::make_shared<ServingSnapshot>(*base_);
  const gslb::CompiledDecisions* previous =
      lastCompiled_ && lastCompiled_->gslb == next->gslb ? lastCompiled_.get() : nullptr;
  attachHealth(*next, buildView(), previous ? previous : base_->compiled.get());
  lastCompiled_ = next->compiled;
  next->generation = configGeneration_;
  holder_.publish(std::move(next));
  stateChanged_ = false;
  resultsSincePublish_ = false;
  lastPublish_ = clock_.now();
}

void HealthRunner::prime(std::shared_ptr<const ServingSnapshot> snap) {
  adopt(std::move(snap));
  publish();
}

void HealthRunner::submit(std::shared_ptr<const ServingSnapshot> snap) {
  {
    std::lock_guard lock(pendingMu_);
    pending_ = std::move(snap);
  }
  transport_.wakeup();
}

void HealthRunner::start() {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "geodns-probe");
}

void HealthRunner::stop() {
  stop_.store(true);
  transport_.wakeup();
  if (thread_.joinable()) thread_.join();
}

void HealthRunner::run() {
  while (!stop_.load(std::memory_order_relaxed)) turn(idleWait_);
}

void HealthRunner::turn(Duration maxWait) {
  {
    // Every request made before this point (a reload, an override, a
    // failover command) is in this turn's publish.
    std::uint64_t ticket;
    {
      std::lock_guard lock(publishMu_);
      ticket = requested_;
      if (ticket > publishedTicket_) stateChanged_ = true;
    }
    std::shared_ptr<const ServingSnapshot> next;
    {
      std::lock_guard lock(pendingMu_);
      next.swap(pending_);
    }
    if (next) {
      adopt(std::move(next));
      publish();
    }
    scheduler_.step(ticket > publishedTicket_ ? Duration::zero() : maxWait);
    // A state database that stopped taking writes (a full disk) is retried
    // once a second; writes are refused with 503 meanwhile.
    if (store_ && clock_.now() - lastRecover_ >= std::chrono::seconds(1)) {
      lastRecover_ = clock_.now();
      store_->recover();
    }
    if (admin_) {
      admin_->expire();  // lapsed overrides are audited and dropped
      if (admin_->version() != adminVersion_) stateChanged_ = true;
    }
    if (fleet_) {
      fleet_->probing();
      if (fleet_->peersVersion() != peersVersion_) stateChanged_ = true;
    }
    updateFailover();
    // Results are applied by step(); persist the trackers' new state after it.
    for (const auto& [id, r] : pendingPersist_) persist(id, &r);
    pendingPersist_.clear();
    // State changes publish at once; TTL caps and latencies at most twice a second.
    if (stateChanged_ ||
        (resultsSincePublish_ && clock_.now() - lastPublish_ >= std::chrono::milliseconds(500)))
      publish();
    {
      std::lock_guard lock(publishMu_);
      if (ticket > publishedTicket_) {
        publishedTicket_ = ticket;
        published_.notify_all();
      }
    }
    holder_.collect();
  }
}

}  // namespace geodns::server
