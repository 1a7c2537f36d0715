#include "server/serving.h"

#include "server/fast_answers.h"

#include <algorithm>
#include <cinttypes>
#include <span>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "server/metrics.h"
#include "zones/load.h"
#include "zones/signing.h"

namespace geodns::server {

namespace {
zones::RRset txtSet(const std::string& s) {
  zones::RRset set;
  set.type = dns::toU16(dns::Type::TXT);
  set.ttl = 0;
  set.bytes = std::string(1, static_cast<char>(s.size())) + s;
  zones::Rdata rd;
  rd.length = static_cast<std::uint16_t>(set.bytes.size());
  set.rrs.push_back(rd);
  return set;
}
// Every RRset of up to `k` of `members` (IPv4 or IPv6), in member order.
void subsets(const std::vector<gslb::Member>& members, std::size_t k, std::size_t from,
             std::vector<std::span<const std::uint8_t>>& cur,
             std::vector<std::vector<std::span<const std::uint8_t>>>& out, std::size_t cap) {
  if (!cur.empty()) out.push_back(cur);
  if (cur.size() == k) return;
  for (std::size_t i = from; i < members.size() && out.size() < cap; ++i) {
    if (members[i].weight == 0) continue;
    cur.emplace_back(members[i].addr.bytes, members[i].addr.size());
    subsets(members, k, i + 1, cur, out, cap);
    cur.pop_back();
  }
}

}  // namespace

std::size_t prewarmSignatures(const gslb::Gslb& g, const zones::ZoneSet& zones, std::size_t perPool,
                              ErrorList& errors) {
  std::size_t stored = 0;
  for (const auto& b : g.bindings) {
    auto owner = name::fromText(b.name);
    if (!owner) continue;
    name::toLower(reinterpret_cast<std::uint8_t*>(owner->data()), owner->size());
    const zones::Zone* zone = zones.findZone(name::asSpan(*owner));
    if (!zone || !zone->signing()) continue;
    // The binding's pool and its fallback: either may answer for the name.
    std::vector<std::uint32_t> pools{b.pool};
    const auto fb = g.pools[b.pool].fallbackPool;
    if (fb >= 0) pools.push_back(static_cast<std::uint32_t>(fb));
    for (std::uint32_t pi : pools) {
      const gslb::Pool& pool = g.pools[pi];
      std::vector<std::vector<std::span<const std::uint8_t>>> sets;
      std::vector<std::uint16_t> types;
      std::vector<std::span<const std::uint8_t>> cur;
      for (const auto& r : pool.regions) {
        if (pool.isCname) {
          sets.push_back({name::asSpan(r.cname)});
          types.push_back(dns::toU16(dns::Type::CNAME));
          continue;
        }
        for (const auto* members : {&r.v4, &r.v6}) {
          const std::size_t before = sets.size();
          subsets(*members, pool.maxAnswers, 0, cur, sets, before + perPool);
          types.resize(sets.size(),
                       members == &r.v4 ? dns::toU16(dns::Type::A) : dns::toU16(dns::Type::AAAA));
        }
      }
      std::vector<zones::dnssec::RRsetView> views(sets.size());
      for (std::size_t i = 0; i < sets.size(); ++i) {
        views[i].owner = name::asSpan(*owner);
        views[i].type = types[i];
        views[i].ttl = pool.ttl;
        views[i].rdatas = sets[i];
      }
      if (views.size() > perPool) views.resize(perPool);  // the rest are signed on first use
      for (const auto& o : zone->signing()->online())
        stored += o.cache->prewarm(*o.signer, views, errors);
    }
  }
  return stored;
}

void compileSnapshot(ServingSnapshot& snap, const gslb::CompiledDecisions* previous, bool log) {
  SteadyClock clock;
  const TimePoint start = clock.now();
  snap.compiled = gslb::compileDecisions(snap.gslb, snap.health, previous);
  if (!log || !snap.gslb) return;
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(clock.now() - start).count();
  logCompiled(snap, static_cast<double>(us) / 1000.0);
}

void logCompiled(const ServingSnapshot& snap, double ms) {
  if (!snap.gslb || !snap.compiled) return;
  const auto& st = snap.compiled->stats;
  std::size_t trieBytes = 0, classes = 0;
  for (const auto& t : snap.gslb->locationTries)
    if (t) {
      trieBytes += t->bytes();
      classes += t->classes.size();
    }
  if (st.trees > 0)
    GEODNS_LOG_INFO(
        "gslb: compiled %zu decision trees (%zu distinct, %zu outcomes, %zu prefixes, %zu KiB; "
        "location tries: %zu classes, %zu KiB) from %zu evaluations, %zu pool(s) decided as a "
        "pool alike, in %.1f ms",
        st.trees, st.distinct, st.outcomes, st.leaves, st.bytes / 1024, classes, trieBytes / 1024,
        st.evaluated, st.shared, ms);
  if (st.shapeMismatches > 0)
    GEODNS_LOG_ERROR(
        "gslb: %zu pool(s) looked alike another but decided differently on a sampled location "
        "(a bug in gslb::poolShape: please report it); they were evaluated on their own",
        st.shapeMismatches);
}

void buildFastAnswers(ServingSnapshot& snap) {
  SteadyClock clock;
  const TimePoint start = clock.now();
  snap.fast = FastAnswers::build(snap, snap.limits.precompiledNames);
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(clock.now() - start).count();
  if (!snap.fast) {
    GEODNS_LOG_INFO(
        "zones: no precompiled answers (more than limits.precompiled_names = %u "
        "names, or a secondary zone without data): every query takes the general path",
        snap.limits.precompiledNames);
    return;
  }
  const auto& st = snap.fast->stats();
  GEODNS_LOG_INFO("zones: precompiled %zu answers for %zu names (%zu KiB) in %.1f ms", st.blobs,
                  st.names, st.bytes / 1024, static_cast<double>(us) / 1000.0);
}

std::shared_ptr<const ServingSnapshot> compileDeferred(const ServingSnapshot& base) {
  if (!base.gslb || !base.gslb->triesDeferred) return nullptr;
  SteadyClock clock;
  const TimePoint start = clock.now();
  auto next = std::make_shared<ServingSnapshot>(base);
  next->gslb = base.gslb->withLocationTries();
  // The decisions are compiled once, when the health runner publishes the
  // snapshot with its health view (Process::compileDeferred logs them).
  next->compiled = nullptr;
  next->health = nullptr;
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(clock.now() - start).count();
  GEODNS_LOG_INFO("gslb: location tries built in %.1f ms", static_cast<double>(us) / 1000.0);
  return next;
}

std::shared_ptr<const ServingSnapshot> buildSnapshot(
    const config::ServerConfig& cfg, ErrorList& errors, const ServingSnapshot* previous,
    std::int64_t unixNow, const Clock* clock, gslb::Gslb::GeoOpen geoOpen,
    std::uint64_t deferTriesAtNodes, const zones::PersistedSerials* persisted) {
  static const SteadyClock systemClock;
  if (!clock) clock = &systemClock;
  auto gslb = gslb::Gslb::build(cfg.gslb, errors, nullptr, geoOpen, deferTriesAtNodes);
  auto zs =
      zones::loadZones(cfg, errors, previous && previous->zones ? previous->zones.get() : nullptr,
                       unixNow, clock, persisted);
  if (!zs || !gslb) return nullptr;
  // Pool answers of signed zones: signed here, on the control thread, so
  // that workers find them in the cache (small pools: every answer).
  const std::size_t before = errors.size();
  prewarmSignatures(*gslb, *zs, kPrewarmPerPool, errors);
  if (errors.size() != before) return nullptr;
  auto snap = std::make_shared<ServingSnapshot>();
  snap->zones = std::move(zs);
  snap->limits = cfg.limits;
  snap->rrl = cfg.rrl;
  const auto& lim = cfg.limits;
  if (lim.maxSignaturesPerSecond > 0) {
    const auto* prev = previous ? previous->signBudget.get() : nullptr;
    if (prev && prev->rate() == lim.maxSignaturesPerSecond && prev->burst() == lim.signatureBurst)
      snap->signBudget = previous->signBudget;
    else
      snap->signBudget = std::make_shared<zones::dnssec::SignBudget>(lim.maxSignaturesPerSecond,
                                                                     lim.signatureBurst, *clock);
  }
  std::vector<std::string> poolNames, regionNames;
  for (const auto& p : gslb->pools) poolNames.push_back(p.name);
  for (const auto& r : gslb->regions) regionNames.push_back(r.name);
  snap->answers = std::make_shared<AnswerCounters>(std::move(poolNames), std::move(regionNames),
                                                   gslb->memberCells);
  snap->gslb = std::move(gslb);
  if (snap->gslb->triesDeferred)
    GEODNS_LOG_INFO(
        "gslb: answering before compiling: the geo databases hold %" PRIu64
        " nodes (limits.defer_geo_compile_nodes = %" PRIu64
        "); clients are located from the databases until the compiled decisions are published",
        snap->gslb->geoNodes(), deferTriesAtNodes);
  compileSnapshot(*snap, nullptr, true);
  snap->keyring = std::make_shared<const tsig::Keyring>(cfg.keyring);
  for (const auto& z : cfg.zones) {
    ServingSnapshot::ZoneRules r;
    r.origin = name::fromText(z.origin).value_or(std::string());
    r.transfer = z.transfer;
    r.notify = z.notify;
    r.primaries = z.primaries;
    for (const auto& a : z.primaries) {
      const IpAddress ip = IpAddress::fromSockaddr(a.sa());
      r.primaryIps.push_back(ip.isV4Mapped() ? ip.v4FromMapped() : ip);
    }
    r.primaryTsig = z.primaryTsig;
    if (!z.primaryTsig.empty()) r.primaryTsigWire = name::fromText(z.primaryTsig).value_or("");
    snap->zoneRules.push_back(std::move(r));
  }
  if (cfg.chaos.version) snap->chaosVersion = txtSet(*cfg.chaos.version);
  if (cfg.chaos.identity) snap->chaosIdentity = txtSet(*cfg.chaos.identity);
  // `geodnsd explain` asks one question: the table would be built for nothing.
  if (geoOpen != gslb::Gslb::GeoOpen::OnDemand) buildFastAnswers(*snap);
  return snap;
}

}  // namespace geodns::server
