#include "gslb/gslb.h"

#include "core/both.h"
#include "core/wire/dns.h"
#include "core/wire/types.h"
#include "zones/zone_file.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstring>
#include <map>
#include <optional>

namespace geodns::gslb {

health::ConfigId nextConfigId() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return static_cast<health::ConfigId>(last.fetch_add(1, std::memory_order_relaxed) + 1);
}

void finishPolicy(Policy& policy) noexcept {
  policy.usesLocation = false;
  policy.pick = config::PickRule::First;
  for (const Step& st : policy.steps) {
    const config::StepInfo& info = config::stepInfo(st.kind);
    policy.usesLocation = policy.usesLocation || info.usesLocation;
    if (info.pick > policy.pick) policy.pick = info.pick;
  }
}

namespace {

// The location tries of g's locator (with coordinates when g.locationCoords).
void buildLocationTries(Gslb& g) {
  // The two families' walks are independent (the databases are read-only
  // and thread-safe): IPv6 on a second thread.
  const bool coords = g.locationCoords;
  bothAtOnce(
      [&g, coords] { g.locationTries[0] = geo::compileLocationTrie(*g.locator, 4, coords); },
      [&g, coords] { g.locationTries[1] = geo::compileLocationTrie(*g.locator, 6, coords); });
  // Queries now locate from the tries; the pages the walk read are the
  // files' and stay in the page cache.
  for (const auto& db : g.locator->databases()) db->releasePages();
}

}  // namespace

std::uint64_t Gslb::geoNodes() const noexcept {
  std::uint64_t n = 0;
  if (locator)
    for (const auto& db : locator->databases()) n += db->walkTree().nodes;
  return n;
}

std::shared_ptr<const Gslb> Gslb::withLocationTries() const {
  auto g = std::make_shared<Gslb>(*this);  // same configId: health and drains still apply
  g->triesDeferred = false;
  buildLocationTries(*g);
  return g;
}

std::shared_ptr<const Gslb> Gslb::build(const config::GslbConfig& cfg, ErrorList& errors,
                                        std::vector<std::string>* skipped, GeoOpen geoOpen,
                                        std::uint64_t deferTriesAtNodes) {
  auto g = std::make_shared<Gslb>();
  g->geoOpen = geoOpen;
  const std::size_t before = errors.size();
  std::map<std::string, RegionId> regionIds;
  for (const auto& r : cfg.regions) {
    if (g->regions.size() >= 65535) break;
    regionIds[r.name] = static_cast<RegionId>(g->regions.size());
    Region reg;
    reg.name = r.name;
    if (r.lat && r.lon) {
      reg.hasCoords = true;
      reg.lat = *r.lat;
      reg.lon = *r.lon;
    }
    g->regions.push_back(reg);
  }
  std::map<std::string, std::int32_t> labelIds;
  auto labelId = [&](const std::string& l) {
    auto [it, inserted] = labelIds.emplace(l, static_cast<std::int32_t>(g->labels.size()));
    if (inserted) g->labels.push_back(l);
    return it->second;
  };

  // Geo databases and operator nets.
  auto toSpec = [](const config::GeoDatabaseConfig& d) {
    geo::DatabaseSpec s;
    s.file = d.file;
    s.optional = d.optional;
    s.layout = d.layout == config::GeoLayout::GeoIP2 ? geo::Layout::GeoIP2
               : d.layout == config::GeoLayout::Flat ? geo::Layout::Flat
               : d.layout == config::GeoLayout::Asn  ? geo::Layout::Asn
                                                     : geo::Layout::Auto;
    for (const auto& [field, path] : d.fields) {
      if (field == "continent")
        s.overrides.continent = path;
      else if (field == "country")
        s.overrides.country = path;
      else if (field == "subdivision")
        s.overrides.subdivision = path;
      else if (field == "latitude")
        s.overrides.latitude = path;
      else if (field == "longitude")
        s.overrides.longitude = path;
      else if (field == "asn")
        s.overrides.asn = path;
    }
    return s;
  };
  std::vector<geo::DatabaseSpec> specs;
  for (const auto& d : cfg.databases) specs.push_back(toSpec(d));
  std::optional<geo::DatabaseSpec> asn;
  if (cfg.asnDatabase) asn = toSpec(*cfg.asnDatabase);
  ErrorList geoErrors;
  auto locator = geo::Locator::open(specs, asn ? &*asn : nullptr, geoErrors, skipped);
  for (std::size_t i = 0; i < geoErrors.size(); ++i) {
    const auto& e = geoErrors.all()[i];
    std::string where;
    for (const auto& d : cfg.databases)
      if (e.message.rfind(d.file + ":", 0) == 0) where = d.where + "/file";
    if (where.empty() && cfg.asnDatabase && e.message.rfind(cfg.asnDatabase->file + ":", 0) == 0)
      where = cfg.asnDatabase->where + "/file";
    errors.add(where, e.message);
  }
  if (locator) {
    for (const auto& n : cfg.nets) {
      auto prefix = IpPrefix::parse(n.prefix);
      if (!prefix) continue;  // reported by the config parser
      NetEntry e;
      e.prefix = prefix->str();
      if (!n.label.empty()) e.label = labelId(n.label);
      for (const auto& r : n.regions) e.regions.push_back(regionIds[r]);
      if (!locator->addNet(*prefix, static_cast<std::int32_t>(g->nets.size())))
        errors.add(n.where, "prefix " + e.prefix + " is listed twice");
      g->nets.push_back(std::move(e));
    }
    g->locator = locator;
  }

  // Probes: one ProbeSpec per distinct target (same probe, same probed address).
  std::map<std::string, const config::ProbeConfig*> probeConfigs;
  for (const auto& pc : cfg.probes) probeConfigs[pc.name] = &pc;
  std::map<std::string, std::int32_t> targetIds;
  auto targetFor = [&](const std::string& probeName, const IpAddress& addr) -> std::int32_t {
    auto it = probeConfigs.find(probeName);
    if (probeName.empty() || it == probeConfigs.end()) return -1;
    const config::ProbeConfig& pc = *it->second;
    health::ProbeSpec s;
    s.kind = pc.type == config::ProbeType::Http    ? health::ProbeKind::Http
             : pc.type == config::ProbeType::Https ? health::ProbeKind::Https
             : pc.type == config::ProbeType::Dns   ? health::ProbeKind::Dns
                                                   : health::ProbeKind::Tcp;
    s.address = addr;
    s.port = static_cast<std::uint16_t>(pc.port                              ? pc.port
                                        : s.kind == health::ProbeKind::Https ? 443
                                        : s.kind == health::ProbeKind::Dns   ? 53
                                                                             : 80);
    s.method = pc.method;
    s.path = pc.path;
    s.host = pc.host;
    for (const auto& [h, v] : pc.headers) s.headers.push_back(h + ": " + v);
    if (!pc.expectStatus.empty()) s.expectStatus = pc.expectStatus;
    s.bodyContains = pc.bodyContains;
    s.tlsVerify = pc.tlsVerify;
    s.loadHeader = pc.loadHeader;
    s.loadJsonPointer = pc.loadJsonPointer;
    s.dnsName = pc.dnsName;
    s.dnsType = pc.dnsType;
    s.dnsRcode = pc.dnsRcode;
    s.dnsExpectAnswer = pc.dnsExpectAnswer;
    s.interval = std::chrono::milliseconds(pc.intervalMs);
    s.timeout = std::chrono::milliseconds(pc.timeoutMs);
    s.rise = pc.rise;
    s.fall = pc.fall;
    s.jitter = pc.jitter;
    s.staleAfter = pc.staleAfter;
    s.initial = pc.initial == config::ProbeState::Down ? health::State::Down : health::State::Up;
    s.unknownIsUp = pc.unknownAs != config::ProbeState::Down;
    auto [t, inserted] = targetIds.emplace(s.key(), static_cast<std::int32_t>(g->probes.size()));
    if (inserted) g->probes.push_back(std::move(s));
    return t->second;
  };
  g->minTtl = cfg.health.minTtl;

  std::map<std::string, std::uint32_t> poolIds, policyIds;
  for (std::size_t i = 0; i < cfg.pools.size(); ++i)
    poolIds[cfg.pools[i].name] = static_cast<std::uint32_t>(i);
  std::map<std::string, std::uint32_t> memberIds;
  for (const auto& pc : cfg.pools) {
    Pool p;
    p.name = pc.name;
    p.ttl = pc.ttl;
    p.maxAnswers = static_cast<std::uint8_t>(std::min<std::uint32_t>(pc.maxAnswers, kMaxAnswers));
    if (pc.regions.size() > kMaxPoolRegions)
      errors.add(pc.where + "/regions",
                 "at most " + std::to_string(kMaxPoolRegions) + " regions per pool");
    for (const auto& rc : pc.regions) {
      PoolRegion pr;
      pr.region = regionIds[rc.region];
      if (!rc.cname.empty()) {
        pr.cname = *name::fromText(rc.cname);
        p.isCname = true;
      }
      for (const auto& m : rc.members) {
        auto a = IpAddress::parse(m.address);
        if (!a) continue;
        auto probed = m.target.empty() ? a : IpAddress::parse(m.target);
        const std::int32_t target =
            targetFor(m.probe.empty() ? pc.probe : m.probe, probed ? *probed : *a);
        // Members are named by their address (the admin API drains and
        // loads them by it); one id per distinct address across pools.
        const std::string addrName = a->str();
        auto [it, inserted] =
            memberIds.emplace(addrName, static_cast<std::uint32_t>(g->memberNames.size()));
        if (inserted) g->memberNames.push_back(addrName);
        (a->family == 4 ? pr.v4 : pr.v6).push_back({*a, m.weight, target, it->second});
      }
      if (p.regions.size() < kMaxPoolRegions) p.regions.push_back(std::move(pr));
    }
    p.minHealthy = pc.minHealthy;
    p.allDown = pc.allDown == config::AllDown::Fallback   ? AllDown::Fallback
                : pc.allDown == config::AllDown::NoData   ? AllDown::NoData
                : pc.allDown == config::AllDown::ServFail ? AllDown::ServFail
                                                          : AllDown::FailOpen;
    if (!pc.fallbackPool.empty())
      p.fallbackPool = static_cast<std::int32_t>(poolIds[pc.fallbackPool]);
    if (!pc.failoverPrimary.empty()) {
      health::FailoverSpec fs;
      auto tierOf = [&](const std::string& name) {
        for (std::size_t i = 0; i < pc.regions.size(); ++i)
          if (pc.regions[i].region == name) fs.tiers.push_back(static_cast<std::uint16_t>(i));
      };
      tierOf(pc.failoverPrimary);
      for (const auto& sb : pc.failoverStandby) tierOf(sb);
      fs.minHealthy = pc.minHealthy;
      fs.promoteAfter = std::chrono::seconds(pc.promoteAfterSec);
      fs.failbackAfter = std::chrono::seconds(pc.failbackAfterSec);
      fs.manualFailback = pc.failback == config::Failback::Manual;
      p.failover = std::move(fs);
    }
    g->pools.push_back(std::move(p));
  }
  for (const auto& pc : cfg.policies) {
    Policy pol;
    pol.name = pc.name;
    pol.ecs = pc.ecs;
    if (pc.steps.size() > kMaxSteps)
      errors.add(pc.where + "/steps", "at most " + std::to_string(kMaxSteps) + " steps");
    for (const auto& sc : pc.steps) {
      Step st;
      if (sc.kind == StepKind::GeoMap) {
        st.kind = StepKind::GeoMap;
        st.fence = sc.fence;
        for (const auto& [key, regions] : sc.map) {
          std::vector<RegionId> ids;
          for (const auto& r : regions) ids.push_back(regionIds[r]);
          geo::MatchKind kind = geo::MatchKind::Default;
          std::string code;
          auto colon = key.find(':');
          std::string prefix = colon == std::string::npos ? key : key.substr(0, colon);
          if (colon != std::string::npos) code = key.substr(colon + 1);
          bool ok = true;
          if (prefix == "country") {
            kind = geo::MatchKind::Country;
            ok = code.size() == 2;
          } else if (prefix == "continent") {
            kind = geo::MatchKind::Continent;
            ok = code.size() == 2;
          } else if (prefix == "subdivision") {
            kind = geo::MatchKind::Subdivision;
            ok = code.size() >= 4 && code.size() <= 11 && code[2] == '-';
          } else if (prefix == "label") {
            kind = geo::MatchKind::Label;
            code = std::to_string(labelId(code));
          }
          for (auto& ch : code)
            if (kind != geo::MatchKind::Label)
              ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
          if (!ok) {
            errors.add(sc.where + "/map/" + key, "bad code '" + code + "' for " + prefix);
            continue;
          }
          if (!st.map.add(kind, code, std::move(ids)))
            errors.add(sc.where + "/map/" + key, "duplicate key");
        }
      } else if (sc.kind == StepKind::Nearest) {
        st.kind = StepKind::Nearest;
        st.biasKm.assign(g->regions.size(), 0.0);
        for (const auto& [r, km] : sc.biasKm) st.biasKm[regionIds[r]] = km;
      } else if (sc.kind == StepKind::Up) {
        st.kind = StepKind::Up;
      } else if (sc.kind == StepKind::ShedLoad) {
        st.kind = StepKind::ShedLoad;
        st.high = sc.high;
        st.low = sc.low;
      } else if (sc.kind == StepKind::Latency) {
        st.kind = StepKind::Latency;
        st.slackMs = sc.slackMs;
      } else if (sc.kind == StepKind::CapacityWeighted) {
        st.kind = StepKind::CapacityWeighted;
      } else if (sc.kind == StepKind::Failover) {
        st.kind = StepKind::Failover;
      } else if (sc.kind == StepKind::FirstN) {
        st.kind = StepKind::FirstN;
        st.n = sc.n;
      } else {
        st.kind = StepKind::Weighted;
      }
      pol.steps.push_back(std::move(st));
    }
    finishPolicy(pol);
    policyIds[pol.name] = static_cast<std::uint32_t>(g->policies.size());
    g->policies.push_back(std::move(pol));
  }
  for (const auto& bc : cfg.bindings)
    g->bindings.push_back({bc.name, poolIds[bc.pool], policyIds[bc.policy]});
  // Only known once the databases are open (an optional one may be missing):
  // reported at the policy.
  for (std::size_t i = 0; i < g->policies.size(); ++i)
    if (g->policies[i].usesLocation && g->locator && g->locator->databases().empty() &&
        g->nets.empty())
      errors.add(cfg.policies[i].where,
                 "policy " + g->policies[i].name +
                     " orders by location but geo has no databases and no nets");
  if (errors.size() != before) return nullptr;
  // Only bound policies decide anything (a fallback pool runs its
  // binding's policy): a nearest policy that no name uses must not keep the
  // coordinates, which split DB-IP's 510 location classes into ~700,000.
  std::vector<bool> bound(g->policies.size(), false);
  for (const Binding& b : g->bindings) bound[b.policy] = true;
  bool anyLocation = false, anyDistance = false;
  for (std::size_t i = 0; i < g->policies.size(); ++i) {
    if (!bound[i]) continue;
    const Policy& pol = g->policies[i];
    anyLocation = anyLocation || pol.usesLocation;
    for (const Step& st : pol.steps) anyDistance = anyDistance || st.kind == StepKind::Nearest;
  }
  g->locationCoords = anyDistance;
  if (anyLocation && g->locator && geoOpen == GeoOpen::Compiled) {
    if (deferTriesAtNodes > 0 && g->geoNodes() >= deferTriesAtNodes)
      g->triesDeferred = true;
    else
      buildLocationTries(*g);
  }
  for (auto& p : g->pools)
    for (auto& pr : p.regions)
      for (auto* ms : {&pr.v4, &pr.v6})
        for (Member& m : *ms) {
          m.cell = static_cast<std::uint32_t>(g->memberCells.size());
          g->memberCells.push_back({p.name, g->regions[pr.region].name, g->memberNames[m.id]});
        }
  return g;
}

namespace {

std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Reorders `d.order` to follow `list` (regions absent from the pool are skipped;
// pool regions absent from the list are dropped).
void applyRegionList(const Pool& pool, const std::vector<RegionId>& list, Decision& d) noexcept {
  std::uint8_t out[kMaxPoolRegions];
  std::uint8_t n = 0;
  for (RegionId r : list)
    for (std::uint8_t i = 0; i < d.candidates; ++i)
      if (pool.regions[d.order[i]].region == r && n < kMaxPoolRegions) {
        out[n++] = d.order[i];
        break;
      }
  std::memcpy(d.order, out, n);
  d.candidates = n;
}

}  // namespace

namespace {

const health::TargetHealth* healthOf(const Member& m, const health::HealthView* hv) noexcept {
  if (!hv || m.target < 0 || static_cast<std::size_t>(m.target) >= hv->targets.size())
    return nullptr;
  return &hv->targets[static_cast<std::size_t>(m.target)];
}

bool memberUp(const Member& m, const health::HealthView* hv) noexcept {
  const health::TargetHealth* h = healthOf(m, hv);
  return !h || h->up;
}

// A member's load: pushed through the admin API, else measured by its probe;
// -1 without a reading.
double memberLoad(const Member& m, const health::HealthView* hv) noexcept {
  if (!hv) return -1;
  if (m.id < hv->memberLoad.size() && hv->memberLoad[m.id] >= 0) return hv->memberLoad[m.id];
  const health::TargetHealth* h = healthOf(m, hv);
  return h ? h->load : -1;
}

bool memberDrained(const Member& m, const health::HealthView* hv) noexcept {
  return hv && m.id < hv->memberDrained.size() && hv->memberDrained[m.id];
}

bool regionDrained(const PoolRegion& pr, const health::HealthView* hv) noexcept {
  return hv && pr.region < hv->regionDrained.size() && hv->regionDrained[pr.region];
}

// Share of full weight a member gets at its load: 1 at or below `low`, 0 at
// or above `high`, linear in between; 1 without a reading.
double loadFactor(const Member& m, const health::HealthView* hv, double low, double high) noexcept {
  const double load = memberLoad(m, hv);
  if (load < 0 || load <= low) return 1.0;
  if (load >= high) return 0.0;
  return (high - load) / (high - low);
}

}  // namespace

namespace {

constexpr std::uint32_t kNoCap = 0xFFFFFFFFu;

// The family a pool answers a qtype with: 0 for CNAME pools, 6 for AAAA,
// else 4 (A, and ANY, which answers like A).
int familyFor(const Pool& pool, std::uint16_t qtype) noexcept {
  if (pool.isCname) return 0;
  return qtype == dns::toU16(dns::Type::AAAA) ? 6 : 4;
}

// How long until `m`'s health could change, when it is in transition (down,
// unknown, failing checks); kNoCap when it is steady or not probed.
std::uint32_t transitionCap(const Member& m, const health::HealthView* hv) noexcept {
  const health::TargetHealth* h = healthOf(m, hv);
  return h && !h->steady ? h->changeInSec : kNoCap;
}

// One pass of a policy over one pool: the inputs, the candidate list
// (`d.order[0, d.candidates)`, pool-region indices, best first) and what the
// steps leave for the region choice, the member pick and the TTL.
struct Pass {
  Pass(const Gslb& g_, const Pool& pool_, const PoolQuery& q_, const health::HealthView* hv_,
       AllDown allDown_, const NetEntry* net_, Decision& d_) noexcept
      : g(g_),
        pool(pool_),
        q(q_),
        hv(hv_),
        allDown(allDown_),
        family(familyFor(pool_, q_.qtype)),
        net(net_),
        d(d_) {}
  const Gslb& g;
  const Pool& pool;
  const PoolQuery& q;
  const health::HealthView* hv;  // already checked against `g`
  AllDown allDown;               // the pool's rule, or fail_open for a fallback pool
  int family;                    // familyFor(pool, q.qtype)
  const NetEntry* net;           // the operator net the client is in, if any
  Decision& d;
  Trace::StepLog* log = nullptr;  // the running step's log (explain only)
  PickRules pick;
  // The last up step's view: the region order it was given (the policy's
  // preference) and, per entry, the earliest a member in transition could
  // change; the TTL is capped by the regions ranked ahead of the answer.
  bool upRan = false;
  std::uint8_t upCount = 0;
  std::uint8_t upOrder[kMaxPoolRegions];
  std::uint32_t upCap[kMaxPoolRegions];

  const std::vector<Member>& members(const PoolRegion& pr) const noexcept {
    return family == 6 ? pr.v6 : pr.v4;
  }
};

// ---- the steps: one function per StepKind, over the candidate list ----

void geoMapStep(Pass& p, const Step& st) noexcept {
  Decision& d = p.d;
  const std::vector<RegionId>* list = nullptr;
  if (p.net && !p.net->regions.empty()) {
    list = &p.net->regions;
    d.matched = geo::MatchKind::Net;
  } else {
    list = st.map.match(d.location, p.net ? p.net->label : -1, &d.matched);
  }
  if (list) {
    applyRegionList(p.pool, *list, d);
    if (st.fence) d.fenced = true;
  }
  if (p.log) {
    p.log->matched = d.matched;
    p.log->logsMatch = true;
  }
}

void nearestStep(Pass& p, const Step& st) noexcept {
  Decision& d = p.d;
  if (p.net && !p.net->regions.empty()) {
    applyRegionList(p.pool, p.net->regions, d);
    if (p.log) {
      p.log->matched = geo::MatchKind::Net;
      p.log->logsMatch = true;
    }
    return;
  }
  if (!d.location.hasCoords) return;  // keep the current order
  double dist[kMaxPoolRegions];
  for (std::uint8_t i = 0; i < d.candidates; ++i) {
    const Region& r = p.g.regions[p.pool.regions[d.order[i]].region];
    dist[i] = r.hasCoords
                  ? std::max(0.0, geo::distanceKm(d.location.lat, d.location.lon, r.lat, r.lon) +
                                      st.biasKm[p.pool.regions[d.order[i]].region])
                  : 1e12;  // regions without coordinates go last
    if (p.log) p.log->metric[d.order[i]] = r.hasCoords ? dist[i] : -1;
  }
  // Stable insertion sort: ties keep the previous order.
  for (std::uint8_t i = 1; i < d.candidates; ++i)
    for (std::uint8_t j = i; j > 0 && dist[j] < dist[j - 1]; --j) {
      std::swap(dist[j], dist[j - 1]);
      std::swap(d.order[j], d.order[j - 1]);
    }
}

void firstNStep(Pass& p, const Step& st) noexcept {
  if (p.d.candidates > st.n) p.d.candidates = static_cast<std::uint8_t>(st.n);
}

// weighted, capacity_weighted: nothing to do to the candidates; their pick
// rule (the step table) applies to the chosen region's members.
void pickRuleStep(Pass&, const Step&) noexcept {}

// Members over the high watermark get no answers; a region whose average
// load is over it is skipped (spill to the next region), unless every region
// is over, when the order is kept.
void shedLoadStep(Pass& p, const Step& st) noexcept {
  if (p.pool.isCname) return;
  Decision& d = p.d;
  p.pick.shed = true;
  p.pick.shedLow = st.low;
  p.pick.shedHigh = st.high;
  std::uint8_t kept[kMaxPoolRegions];
  std::uint8_t n = 0;
  for (std::uint8_t i = 0; i < d.candidates; ++i) {
    const PoolRegion& pr = p.pool.regions[d.order[i]];
    double sum = 0;
    int readings = 0;
    for (const Member& m : p.members(pr)) {
      const double load = memberLoad(m, p.hv);
      if (load >= 0) {
        sum += load;
        ++readings;
      }
    }
    if (readings == 0 || sum / readings < st.high) kept[n++] = d.order[i];
  }
  if (n > 0) {
    std::memcpy(d.order, kept, n);
    d.candidates = n;
  } else {
    p.pick.shed = false;  // everything is over the watermark: answer rather than shed it all
  }
}

// Regions within slack_ms of the best measured latency first, then the rest;
// each group keeps the order it had.
void latencyStep(Pass& p, const Step& st) noexcept {
  if (p.pool.isCname) return;
  Decision& d = p.d;
  double lat[kMaxPoolRegions];
  double best = -1;
  for (std::uint8_t i = 0; i < d.candidates; ++i) {
    const PoolRegion& pr = p.pool.regions[d.order[i]];
    lat[i] = -1;
    for (const Member& m : p.members(pr)) {
      const health::TargetHealth* h = healthOf(m, p.hv);
      if (h && h->up && h->latencyMs > 0 && (lat[i] < 0 || h->latencyMs < lat[i]))
        lat[i] = h->latencyMs;
    }
    if (lat[i] >= 0 && (best < 0 || lat[i] < best)) best = lat[i];
    if (p.log) p.log->metric[d.order[i]] = lat[i];  // explain shows it beside the region
  }
  if (best < 0) return;  // no latency data: nothing to prefer
  std::uint8_t out[kMaxPoolRegions];
  std::uint8_t n = 0;
  for (std::uint8_t i = 0; i < d.candidates; ++i)
    if (lat[i] >= 0 && lat[i] <= best + st.slackMs) out[n++] = d.order[i];
  for (std::uint8_t i = 0; i < d.candidates; ++i)
    if (!(lat[i] >= 0 && lat[i] <= best + st.slackMs)) out[n++] = d.order[i];
  std::memcpy(d.order, out, n);
}

// The active tier first, the other tiers after it in priority order; regions
// outside the failover rule are dropped.
void failoverStep(Pass& p, const Step&) noexcept {
  if (!p.pool.failover) return;
  Decision& d = p.d;
  const auto& tiers = p.pool.failover->tiers;
  const std::size_t poolIndex = static_cast<std::size_t>(&p.pool - p.g.pools.data());
  std::size_t active = 0;
  if (p.hv && poolIndex < p.hv->activeTier.size() && p.hv->activeTier[poolIndex] >= 0)
    active = static_cast<std::size_t>(p.hv->activeTier[poolIndex]);
  std::uint8_t out[kMaxPoolRegions];
  std::uint8_t n = 0;
  if (active < tiers.size()) out[n++] = static_cast<std::uint8_t>(tiers[active]);
  for (std::size_t t = 0; t < tiers.size() && n < kMaxPoolRegions; ++t)
    if (t != active) out[n++] = static_cast<std::uint8_t>(tiers[t]);
  std::memcpy(d.order, out, n);
  d.candidates = n;
  d.healthDependent = true;
}

// Keeps the regions with enough members up (min_healthy); when none has,
// the all_down rule in force decides (fail_open keeps them all).
void upStep(Pass& p, const Step& st) noexcept {
  const Pool& pool = p.pool;
  if (pool.isCname) return;  // CNAME targets are not probed here
  Decision& d = p.d;
  d.healthDependent = true;
  p.upRan = true;
  p.upCount = d.candidates;
  std::memcpy(p.upOrder, d.order, d.candidates);
  std::uint8_t kept[kMaxPoolRegions];
  std::uint8_t n = 0;
  for (std::uint8_t i = 0; i < d.candidates; ++i) {
    const PoolRegion& pr = pool.regions[d.order[i]];
    const std::vector<Member>& ms = p.members(pr);
    std::size_t up = 0, total = 0;
    p.upCap[i] = kNoCap;
    for (const Member& m : ms) {
      if (m.weight == 0) continue;
      ++total;
      if (memberUp(m, p.hv)) ++up;
      p.upCap[i] = std::min(p.upCap[i], transitionCap(m, p.hv));
    }
    const double need =
        pool.minHealthy >= 1 ? pool.minHealthy : pool.minHealthy * static_cast<double>(total);
    if (total > 0 && up > 0 && static_cast<double>(up) >= need) kept[n++] = d.order[i];
  }
  if (n == 0) {
    d.allDown = true;
    if (p.allDown == AllDown::FailOpen) {
      d.failedOpen = true;  // answer as if every member were up
    } else {
      d.candidates = 0;
    }
  } else {
    std::memcpy(d.order, kept, n);
    d.candidates = n;
    p.pick.requireUp = config::stepInfo(st.kind).requiresUp;
  }
}

using StepFn = void (*)(Pass&, const Step&) noexcept;
struct StepImpl {
  StepKind kind;
  StepFn run;
};

// Indexed by StepKind, like config::kSteps (names and rules live there).
constexpr std::array kStepImpls{
    StepImpl{StepKind::GeoMap, geoMapStep},
    StepImpl{StepKind::Nearest, nearestStep},
    StepImpl{StepKind::FirstN, firstNStep},
    StepImpl{StepKind::Weighted, pickRuleStep},
    StepImpl{StepKind::Up, upStep},
    StepImpl{StepKind::ShedLoad, shedLoadStep},
    StepImpl{StepKind::Latency, latencyStep},
    StepImpl{StepKind::CapacityWeighted, pickRuleStep},
    StepImpl{StepKind::Failover, failoverStep},
};
static_assert(kStepImpls.size() == config::kSteps.size(), "one step function per StepKind");
constexpr bool stepImplsInOrder() {
  for (std::size_t i = 0; i < kStepImpls.size(); ++i)
    if (kStepImpls[i].kind != config::kSteps[i].kind) return false;
  return true;
}
static_assert(stepImplsInOrder(), "kStepImpls is indexed by StepKind");

// ---- after the steps: region choice, member pick, TTL ----

// Picks the best candidate region that can answer this family. Operator
// drains apply whatever the policy: a drained region, or one whose members
// are all drained, is passed over. When drains leave nothing, the answer
// moves to the pool's other regions, unless a fence holds the client to its
// list; then the all_down rule decides (fail_open ignores drains). Returns
// whether members are to be picked (false: the caller applies all_down);
// clears `useDrains` when the pool failed open over drains.
bool chooseRegion(Pass& p, bool& useDrains) noexcept {
  const Pool& pool = p.pool;
  const health::HealthView* hv = p.hv;
  Decision& d = p.d;
  // `needUp`: for regions the policy's own steps did not vet, an up step's
  // verdict still holds (a member must be up).
  auto answerable = [&](const PoolRegion& pr, bool needUp = false) {
    if (pool.isCname) return !pr.cname.empty() && !(useDrains && regionDrained(pr, hv));
    const std::vector<Member>& ms = p.family == 4 ? pr.v4 : pr.v6;
    if (ms.empty()) return false;
    if (!useDrains) return true;
    if (regionDrained(pr, hv)) return false;
    for (const Member& m : ms)
      if (m.weight > 0 && !memberDrained(m, hv) && (!needUp || memberUp(m, hv))) return true;
    return false;
  };
  for (std::uint8_t i = 0; i < d.candidates && !d.chosen; ++i) {
    const PoolRegion& pr = pool.regions[d.order[i]];
    if (answerable(pr))
      d.chosen = &pr;
    else if (useDrains && regionDrained(pr, hv))
      d.drained = true;
  }
  if (!d.chosen && useDrains && d.candidates > 0) {
    // The policy's regions are all drained: move to the pool's other regions
    // (config order) before the all_down rule applies; a fence forbids it.
    d.drained = true;
    for (std::uint8_t i = 0; i < pool.regions.size() && !d.chosen && !d.fenced; ++i)
      if (answerable(pool.regions[i], p.pick.requireUp)) d.chosen = &pool.regions[i];
  }
  if (!d.chosen && useDrains && d.candidates > 0) {
    d.allDown = true;
    if (p.allDown != AllDown::FailOpen) return false;  // the caller applies all_down
    d.failedOpen = true;
    useDrains = false;
    for (std::uint8_t i = 0; i < d.candidates && !d.chosen; ++i)
      if (answerable(pool.regions[d.order[i]])) d.chosen = &pool.regions[d.order[i]];
  }
  return true;
}

// Picks up to max_answers members of the chosen address region by the pick rules.
void pickMembers(Pass& p, bool useDrains) noexcept {
  const health::HealthView* hv = p.hv;
  const PickRules& rules = p.pick;
  Decision& d = p.d;
  const std::vector<Member>& ms = p.family == 4 ? d.chosen->v4 : d.chosen->v6;
  auto eligible = [&](const Member& m) {
    return m.weight > 0 && (!rules.requireUp || memberUp(m, hv)) &&
           (!rules.shed || loadFactor(m, hv, rules.shedLow, rules.shedHigh) > 0) &&
           !(useDrains && memberDrained(m, hv));
  };
  // capacity_weighted: configured weight x load factor x health, in thousandths.
  auto effective = [&](const Member& m) -> std::uint64_t {
    if (rules.rule != config::PickRule::Capacity) return m.weight;
    const double f =
        loadFactor(m, hv, rules.shed ? rules.shedLow : 0.0, rules.shed ? rules.shedHigh : 1.0) *
        (memberUp(m, hv) ? 1.0 : 0.0);
    return static_cast<std::uint64_t>(static_cast<double>(m.weight) * 1000.0 * f);
  };
  if (rules.rule == config::PickRule::First) {
    for (const Member& m : ms)
      if (eligible(m) && d.picked < p.pool.maxAnswers) d.members[d.picked++] = &m;
    return;
  }
  // Weighted sampling without replacement, reproducible from (qname, client
  // prefix, query id).
  std::uint64_t h = 1469598103934665603ULL;
  for (std::uint8_t b : p.q.qname) h = (h ^ b) * 1099511628211ULL;
  const IpAddress& address = p.q.client.address;
  const IpAddress prefix = address.family ? address.masked(d.scope) : address;
  for (std::size_t i = 0; i < prefix.size(); ++i) h = (h ^ prefix.bytes[i]) * 1099511628211ULL;
  h ^= p.q.queryId;
  std::uint64_t total = 0;
  bool used[256] = {};
  const std::size_t n = std::min<std::size_t>(ms.size(), 256);
  std::uint64_t w[256];
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = eligible(ms[i]) ? effective(ms[i]) : 0;
    if (w[i] == 0)
      used[i] = true;
    else
      total += w[i];
  }
  while (d.picked < p.pool.maxAnswers && total > 0) {
    h = mix(h);
    std::uint64_t x = h % total;
    for (std::size_t i = 0; i < n; ++i) {
      if (used[i]) continue;
      if (x < w[i]) {
        used[i] = true;
        total -= w[i];
        d.members[d.picked++] = &ms[i];
        break;
      }
      x -= w[i];
    }
  }
}

// TTL: the pool's, capped at the time until health could change while a
// region ranked ahead of the answer, or a member of the answer, is in
// transition: then answers come back quickly when health changes, and a
// pool whose members are steadily up answers with the TTL its operator set.
void capTtl(Pass& p) noexcept {
  if (!p.upRan) return;
  Decision& d = p.d;
  std::uint32_t cap = kNoCap;
  for (std::uint8_t i = 0; i < p.upCount; ++i) {
    if (d.chosen == &p.pool.regions[p.upOrder[i]]) break;
    cap = std::min(cap, p.upCap[i]);
  }
  for (std::uint8_t i = 0; i < d.picked; ++i)
    cap = std::min(cap, transitionCap(*d.members[i], p.hv));
  d.ttl = health::cappedTtl(p.pool.ttl, cap, p.g.minTtl);
  d.ttlCapped = d.ttl < p.pool.ttl;
}

// One pass of `policy` over `pool`. `hv` is already checked against `g`.
// `allDown` is the all_down rule in force: the pool's own, or fail_open for a
// fallback pool (no chains of fallbacks).
// The earliest a member of `pr` (of `family`) could change health: the cap
// an up step records for the region (upStep's upCap).
std::uint32_t regionCap(const PoolRegion& pr, int family, const health::HealthView* hv) noexcept {
  std::uint32_t cap = kNoCap;
  for (const Member& m : family == 6 ? pr.v6 : pr.v4)
    if (m.weight != 0) cap = std::min(cap, transitionCap(m, hv));
  return cap;
}

// `given`: the client's location, already known (the compiler); `keep`:
// receives what the pass leaves for the member pick and the TTL.
void runPass(const Gslb& g, const Policy& policy, const Pool& pool, const PoolQuery& q,
             const health::HealthView* hv, AllDown allDown, Decision& d, Trace* trace,
             const geo::Location* given = nullptr, CompiledOutcome* keep = nullptr) noexcept {
  const Client& client = q.client;
  d = Decision{};
  d.ttl = pool.ttl;  // an up step may cap it
  d.candidates = static_cast<std::uint8_t>(pool.regions.size());
  for (std::uint8_t i = 0; i < d.candidates; ++i) d.order[i] = i;

  const NetEntry* net = nullptr;
  if (given) {
    d.location = *given;
    d.located = given->found;
    if (d.location.netEntry >= 0) net = &g.nets[static_cast<std::size_t>(d.location.netEntry)];
  } else if (policy.usesLocation && g.locator && client.address.family != 0) {
    d.located = g.locate(client.address, d.location, trace != nullptr);
    if (d.location.netEntry >= 0) net = &g.nets[static_cast<std::size_t>(d.location.netEntry)];
    // The scope is in bits of the family the client address was given in.
    unsigned scope = d.location.prefix;
    if (client.address.isV4Mapped()) scope += 96;
    d.scope = static_cast<std::uint8_t>(std::min<unsigned>(scope, client.sourcePrefix));
  }
  Pass p(g, pool, q, hv, allDown, net, d);
  p.pick.rule = policy.pick;
  for (const Step& st : policy.steps) {
    p.log = trace && trace->steps < Trace::kMaxLog ? &trace->log[trace->steps++] : nullptr;
    if (p.log) {
      p.log->kind = st.kind;
      p.log->logsMatch = false;
      for (auto& x : p.log->metric) x = -1;
    }
    kStepImpls[static_cast<std::size_t>(st.kind)].run(p, st);
    if (p.log) {
      p.log->count = d.candidates;
      std::memcpy(p.log->order, d.order, d.candidates);
    }
  }
  bool useDrains = hv && (!hv->regionDrained.empty() || !hv->memberDrained.empty());
  const bool pick = chooseRegion(p, useDrains);
  if (keep) {
    keep->chosen = d.chosen ? static_cast<std::int16_t>(d.chosen - pool.regions.data()) : -1;
    keep->allDown = d.allDown;
    keep->failedOpen = d.failedOpen;
    keep->pickMembers = pick && d.chosen && !pool.isCname;
    keep->useDrains = useDrains;
    keep->pick = p.pick;
    keep->upRan = p.upRan;
    keep->ahead = 0;
    std::memset(keep->aheadOrder, 0, sizeof keep->aheadOrder);
    if (p.upRan)
      for (std::uint8_t i = 0; i < p.upCount; ++i) {
        if (d.chosen == &pool.regions[p.upOrder[i]]) break;
        // Only regions with a member in transition cap the TTL; steady ones
        // stay steady under this view (a change publishes a new one), and
        // leaving them out lets outcomes that differ only there merge.
        if (p.upCap[i] != kNoCap) keep->aheadOrder[keep->ahead++] = p.upOrder[i];
      }
  }
  if (pick && d.chosen && !pool.isCname) pickMembers(p, useDrains);
  capTtl(p);
}

}  // namespace

Client clientFor(const Policy& policy, const IpAddress& resolver, std::uint16_t ecsFamily,
                 std::uint8_t ecsSource, const std::uint8_t* ecsAddress) noexcept {
  Client c{resolver, resolver.bits(), false};
  if (policy.ecs && ecsSource > 0 && (ecsFamily == 1 || ecsFamily == 2) && ecsAddress) {
    c.address.family = ecsFamily == 1 ? 4 : 6;
    std::memset(c.address.bytes, 0, sizeof c.address.bytes);
    std::memcpy(c.address.bytes, ecsAddress, (ecsSource + 7u) / 8u);
    c.sourcePrefix = ecsSource;
    c.fromEcs = true;
  }
  return c;
}

const char* outcomeName(PoolOutcome o) noexcept {
  switch (o) {
    case PoolOutcome::Answer:
      return "answer";
    case PoolOutcome::NoData:
      return "nodata";
    case PoolOutcome::ServFail:
      return "servfail";
  }
  return "?";
}

namespace {

// The final answer rules: a CNAME pool answers when it chose a region; an
// address pool when members were picked and the question is not CNAME.
void finishOutcome(const Pool& pool, const PoolQuery& q, PoolDecision& out) noexcept {
  const Decision& d = out.decision;
  if (out.outcome == PoolOutcome::Answer) {
    if (pool.isCname)
      out.outcome = d.chosen ? PoolOutcome::Answer : PoolOutcome::NoData;
    else if (q.qtype == dns::toU16(dns::Type::CNAME) || d.picked == 0)
      out.outcome = PoolOutcome::NoData;  // CNAME asked of an address pool, or no member
  }
  // Negative answers keep the scope too: where the client is decided them.
  out.scope = q.client.fromEcs ? d.scope : 0;
  out.ttl = d.ttl;
}

void decideImpl(const Gslb& g, const PoolQuery& q, const health::HealthView* health,
                PoolDecision& out, Trace* trace, const geo::Location* given,
                CompiledOutcome* keep) noexcept {
  const Binding& b = g.bindings[q.binding];
  const Policy& policy = g.policies[b.policy];
  const Pool* pool = &g.pools[b.pool];
  const health::HealthView* hv = health;  // a view for `g`: checked at publish
  Decision& d = out.decision;
  out.pool = static_cast<std::int32_t>(b.pool);
  out.poolAllDown = false;
  out.fellBack = false;
  out.outcome = PoolOutcome::Answer;
  runPass(g, policy, *pool, q, hv, pool->allDown, d, trace, given, keep);
  if (d.allDown && !d.failedOpen) {
    out.poolAllDown = true;
    if (pool->allDown == AllDown::ServFail) {
      out.outcome = PoolOutcome::ServFail;
    } else if (pool->allDown == AllDown::NoData || pool->fallbackPool < 0) {
      out.outcome = PoolOutcome::NoData;
    } else {
      // The fallback pool, with the same policy (so a fence holds there too);
      // if it is down too, it fails open (no chains of fallbacks).
      const std::uint8_t scope = d.scope;
      out.pool = pool->fallbackPool;
      out.fellBack = true;
      pool = &g.pools[static_cast<std::size_t>(pool->fallbackPool)];
      if (trace) trace->fallbackFrom = trace->steps;
      runPass(g, policy, *pool, q, hv, AllDown::FailOpen, d, trace, given, keep);
      d.scope = std::max(d.scope, scope);
    }
  }
  if (keep) {
    keep->outcome = out.outcome;
    keep->pool = out.pool;
    keep->poolAllDown = out.poolAllDown;
    keep->fellBack = out.fellBack;
  }
  finishOutcome(*pool, q, out);
}

}  // namespace

namespace {

template <typename T>
void putBytes(std::string& out, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Tripwires: poolShape() must see every field a decision reads. A new field
// in one of these structs fails here until poolShape() takes it in (or a
// comment says why the outcome cannot depend on it); then update the size.
#if defined(__GLIBCXX__) && __SIZEOF_POINTER__ == 8
static_assert(sizeof(Member) == 36, "a Member field was added: does poolShape() need it?");
static_assert(sizeof(PoolRegion) == 88, "a PoolRegion field was added: does poolShape() need it?");
static_assert(sizeof(Pool) == 144, "a Pool field was added: does poolShape() need it?");
static_assert(sizeof(health::TargetHealth) == 20,
              "a TargetHealth field was added: does poolShape() need it?");
static_assert(sizeof(health::HealthView) == 128,
              "a HealthView field was added: does poolShape() need it?");
#endif

}  // namespace

std::string poolShape(const Gslb& g, std::size_t pi, const health::HealthView* hv) {
  const Pool& pool = g.pools[pi];
  std::string out;
  out.reserve(64 + pool.regions.size() * 64);
  putBytes(out, pool.isCname);
  putBytes(out, pool.minHealthy);
  putBytes(out, pool.allDown);
  putBytes(out, pool.fallbackPool);  // the same pool, not one alike: outcomes name it
  const std::uint32_t tiers =
      pool.failover ? static_cast<std::uint32_t>(pool.failover->tiers.size()) : 0xFFFFFFFFu;
  putBytes(out, tiers);
  if (pool.failover)
    for (const std::uint16_t t : pool.failover->tiers) putBytes(out, t);
  std::int16_t active = -1;
  if (hv && pi < hv->activeTier.size()) active = hv->activeTier[pi];
  putBytes(out, active);
  putBytes(out, static_cast<std::uint32_t>(pool.regions.size()));
  for (const PoolRegion& pr : pool.regions) {
    putBytes(out, pr.region);  // a global id: region drains and coordinates go with it
    putBytes(out, pr.cname.empty());
    for (const auto* ms : {&pr.v4, &pr.v6}) {
      putBytes(out, static_cast<std::uint32_t>(ms->size()));
      for (const Member& m : *ms) {
        putBytes(out, m.weight);
        // The raw readings, not what today's steps derive from them: pools
        // whose members differ in any reading are not shared.
        const health::TargetHealth* h = healthOf(m, hv);
        putBytes(out, h != nullptr);
        if (h) {
          putBytes(out, h->state);
          putBytes(out, h->up);
          putBytes(out, h->changeInSec);
          putBytes(out, h->steady);
          putBytes(out, h->latencyMs);
          putBytes(out, h->load);
        }
        putBytes(out, memberDrained(m, hv));
        const float pushed = hv && m.id < hv->memberLoad.size() ? hv->memberLoad[m.id] : -2.0f;
        putBytes(out, pushed);
      }
    }
  }
  return out;
}

void decidePool(const Gslb& g, const PoolQuery& q, const health::HealthView* health,
                PoolDecision& out, Trace* trace) noexcept {
  decideImpl(g, q, health, out, trace, nullptr, nullptr);
}

void decidePoolAt(const Gslb& g, const PoolQuery& q, const health::HealthView* health,
                  const geo::Location& location, PoolDecision& out,
                  CompiledOutcome& outcome) noexcept {
  outcome = CompiledOutcome{};
  decideImpl(g, q, health, out, nullptr, &location, &outcome);
}

void decideFromOutcome(const Gslb& g, const CompiledOutcome& o, const PoolQuery& q,
                       const health::HealthView* hv, std::uint8_t scope,
                       PoolDecision& out) noexcept {
  out.outcome = o.outcome;
  out.pool = o.pool;
  out.poolAllDown = o.poolAllDown;
  out.fellBack = o.fellBack;
  const Pool& pool = g.pools[static_cast<std::size_t>(o.pool)];
  Decision& d = out.decision;
  // Only what the pick, the TTL and the engine read (a whole Decision{} is
  // some 300 bytes to clear per query).
  d.located = false;
  d.matched = geo::MatchKind::None;
  d.candidates = 0;
  d.picked = 0;
  d.healthDependent = d.drained = d.fenced = d.ttlCapped = false;
  d.scope = scope;
  d.chosen = o.chosen >= 0 ? &pool.regions[static_cast<std::size_t>(o.chosen)] : nullptr;
  d.allDown = o.allDown;
  d.failedOpen = o.failedOpen;
  d.ttl = pool.ttl;
  Pass p(g, pool, q, hv, pool.allDown, nullptr, d);
  p.pick = o.pick;
  if (o.pickMembers && d.chosen) pickMembers(p, o.useDrains);
  if (o.upRan) {
    std::uint32_t cap = kNoCap;
    for (std::uint8_t i = 0; i < o.ahead; ++i)
      cap = std::min(cap, regionCap(pool.regions[o.aheadOrder[i]], p.family, hv));
    for (std::uint8_t i = 0; i < d.picked; ++i)
      cap = std::min(cap, transitionCap(*d.members[i], hv));
    d.ttl = health::cappedTtl(pool.ttl, cap, g.minTtl);
    d.ttlCapped = d.ttl < pool.ttl;
  }
  finishOutcome(pool, q, out);
}

std::uint32_t regionAnswerTtl(const Gslb& g, const Pool& pool, std::size_t region,
                              const health::HealthView* health) noexcept {
  const health::HealthView* hv = health;
  if (region >= pool.regions.size()) return pool.ttl;
  // The members an answer holds: the up ones, or all when none is (fail open).
  bool anyUp = false;
  for (const auto* ms : {&pool.regions[region].v4, &pool.regions[region].v6})
    for (const Member& m : *ms) anyUp = anyUp || (m.weight > 0 && memberUp(m, hv));
  std::uint32_t cap = kNoCap;
  for (const auto* ms : {&pool.regions[region].v4, &pool.regions[region].v6})
    for (const Member& m : *ms)
      if (m.weight > 0 && (!anyUp || memberUp(m, hv))) cap = std::min(cap, transitionCap(m, hv));
  return health::cappedTtl(pool.ttl, cap, g.minTtl);
}

bool healthCapsTtl(const Gslb& g, std::size_t pool) noexcept {
  if (pool >= g.pools.size() || g.pools[pool].isCname) return false;
  for (const Binding& b : g.bindings) {
    // A fallback pool answers with the policy of the binding it backs.
    if (b.pool != pool && g.pools[b.pool].fallbackPool != static_cast<std::int32_t>(pool)) continue;
    for (const Step& st : g.policies[b.policy].steps)
      if (config::stepInfo(st.kind).capsTtl) return true;
  }
  return false;
}

void applyOverride(health::HealthView& view, const Gslb& g, const health::OverrideRecord& o) {
  if (o.kind == "region_drain") {
    const std::int32_t r = g.regionIndex(o.target);
    if (r < 0) return;  // not in this config: kept for when it returns
    view.regionDrained.resize(g.regions.size(), 0);
    view.regionDrained[static_cast<std::size_t>(r)] = 1;
  } else if (o.kind == "member_drain" || o.kind == "member_load") {
    const std::int32_t m = g.memberIndex(o.target);
    if (m < 0) return;
    if (o.kind == "member_drain") {
      view.memberDrained.resize(g.memberNames.size(), 0);
      view.memberDrained[static_cast<std::size_t>(m)] = 1;
    } else {
      view.memberLoad.resize(g.memberNames.size(), -1.0f);
      view.memberLoad[static_cast<std::size_t>(m)] = static_cast<float>(o.value);
    }
  }
}

bool Gslb::locate(const IpAddress& address, geo::Location& loc, bool detail) const noexcept {
  const IpAddress ip = address.isV4Mapped() ? address.v4FromMapped() : address;
  const geo::LocationTrie* trie = locationTries[ip.family == 4 ? 0 : 1].get();
  if (!trie || ip.family == 0) return locator->locate(address, loc);
  const geo::LocationTrie::Hit h = trie->lookup(ip);
  if (detail)
    locator->locate(address, loc);
  else
    loc = h.location ? *h.location : geo::Location{};
  loc.prefix = h.prefix;  // in bits of ip's family, as locate() reports it
  return loc.found;
}

std::int32_t Gslb::regionIndex(const std::string& name) const noexcept {
  for (std::size_t i = 0; i < regions.size(); ++i)
    if (regions[i].name == name) return static_cast<std::int32_t>(i);
  return -1;
}

std::int32_t Gslb::memberIndex(const std::string& name) const noexcept {
  auto a = IpAddress::parse(name);
  if (!a) return -1;
  const std::string canonical = a->str();
  for (std::size_t i = 0; i < memberNames.size(); ++i)
    if (memberNames[i] == canonical) return static_cast<std::int32_t>(i);
  return -1;
}

}  // namespace geodns::gslb
