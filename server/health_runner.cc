#include "server/health_runner.h"

#include <cmath>

#include "core/log.h"

namespace geodns::server {

HealthRunner::HealthRunner(SnapshotHolder& holder, Clock& clock, Rng& rng,
                           health::ProbeTransport& transport, health::Store* store, Duration maxAge)
    : holder_(holder),
      clock_(clock),
      store_(store),
      maxAge_(maxAge),
      scheduler_(clock, rng, transport) {
  scheduler_.onChange([this](health::TargetId id, const health::Tracker& t) {
    stateChanged_ = true;
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

void HealthRunner::adopt(std::shared_ptr<const ServingSnapshot> snap) {
  base_ = std::move(snap);
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
  }
}

std::shared_ptr<const health::HealthView> HealthRunner::buildView() const {
  auto view = std::make_shared<health::HealthView>();
  view->forConfig = base_->gslb.get();
  view->targets.resize(targetOf_.size());
  for (std::size_t i = 0; i < targetOf_.size(); ++i) {
    const health::Tracker& t = scheduler_.tracker(targetOf_[i]);
    health::TargetHealth& h = view->targets[i];
    h.state = t.state();
    h.up = t.state() == health::State::Up ||
           (t.state() == health::State::Unknown && base_->gslb->probes[i].unknownIsUp);
    h.changeInSec = static_cast<std::uint32_t>(
        std::ceil(std::chrono::duration<double>(t.timeUntilPossibleChange()).count()));
    h.latencyMs = static_cast<float>(t.latencyMs());
    h.load = t.load() ? static_cast<float>(*t.load()) : -1.0f;
  }
  return view;
}

void HealthRunner::publish() {
  auto next = std::make_shared<ServingSnapshot>(*base_);
  next->health = buildView();
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
  std::lock_guard lock(pendingMu_);
  pending_ = std::move(snap);
}

void HealthRunner::start() {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "geodns-probe");
}

void HealthRunner::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void HealthRunner::run() {
  while (!stop_.load(std::memory_order_relaxed)) turn(std::chrono::milliseconds(100));
}

void HealthRunner::turn(Duration maxWait) {
  {
    std::shared_ptr<const ServingSnapshot> next;
    {
      std::lock_guard lock(pendingMu_);
      next.swap(pending_);
    }
    if (next) {
      adopt(std::move(next));
      publish();
    }
    scheduler_.step(maxWait);
    // Results are applied by step(); persist the trackers' new state after it.
    for (const auto& [id, r] : pendingPersist_) persist(id, &r);
    pendingPersist_.clear();
    // State changes publish at once; TTL caps and latencies at most twice a second.
    if (stateChanged_ ||
        (resultsSincePublish_ && clock_.now() - lastPublish_ >= std::chrono::milliseconds(500)))
      publish();
    holder_.collect();
  }
}

}  // namespace geodns::server
