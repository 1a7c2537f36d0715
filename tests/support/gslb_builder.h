#pragma once
// GslbBuilder: a gslb::Gslb built in code (regions, pools, members, policies,
// operator nets) and a HealthView for it (down members, drains, load,
// latency, failover tiers), without JSON, zone files or geo databases, so a
// decidePool() case states its whole model in a few lines.
//
//   test::GslbBuilder b;
//   auto web = b.pool("web");
//   b.member(web, "eu", "198.51.100.1").member(web, "us", "192.0.2.1");
//   b.bind("www", web, b.policy("p", {b.geoMap({{"label:eu", {"eu", "us"}}}), b.up()}));
//   b.net("198.51.100.0/24", "eu");
//   auto view = b.view();
//   b.down(*view, "198.51.100.1");
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "core/result.h"
#include "gslb/gslb.h"

namespace geodns::test {

class GslbBuilder {
 public:
  GslbBuilder() : g_(std::make_shared<gslb::Gslb>()) {
    ErrorList errors;
    locator_ = geo::Locator::open({}, nullptr, errors);  // operator nets only
    REQUIRE(locator_);
    g_->locator = locator_;
    g_->minTtl = 5;
  }

  // With geo databases (paths), consulted after the operator nets;
  // `onDemand`: as `geodnsd explain` builds it (Gslb::GeoOpen::OnDemand).
  explicit GslbBuilder(const std::vector<std::string>& databases, bool onDemand = false)
      : g_(std::make_shared<gslb::Gslb>()) {
    ErrorList errors;
    std::vector<geo::DatabaseSpec> specs;
    for (const auto& f : databases) specs.push_back({f, geo::Layout::Auto, {}, false});
    if (onDemand) g_->geoOpen = gslb::Gslb::GeoOpen::OnDemand;
    locator_ = geo::Locator::open(specs, nullptr, errors);
    REQUIRE_MESSAGE(locator_, (errors.empty() ? "" : errors.all()[0].message));
    g_->locator = locator_;
    g_->minTtl = 5;
  }

  // The location tries the decision compiler walks (Gslb::build makes them
  // when a policy orders by location); call after the last net().
  void compileLocations() {
    g_->locationTries[0] = geo::compileLocationTrie(*locator_, 4);
    g_->locationTries[1] = geo::compileLocationTrie(*locator_, 6);
  }

  gslb::Gslb& gslb() noexcept { return *g_; }
  std::shared_ptr<const gslb::Gslb> share() const { return g_; }

  // A region by name, created on first use (optionally with coordinates).
  geo::RegionId region(const std::string& name) {
    const std::int32_t r = g_->regionIndex(name);
    if (r >= 0) return static_cast<geo::RegionId>(r);
    g_->regions.push_back({name, false, 0, 0});
    return static_cast<geo::RegionId>(g_->regions.size() - 1);
  }
  geo::RegionId region(const std::string& name, double lat, double lon) {
    const geo::RegionId r = region(name);
    g_->regions[r] = {name, true, lat, lon};
    return r;
  }

  // A pool; tweak the rest through poolAt().
  std::uint32_t pool(const std::string& name, std::uint32_t ttl = 60, std::uint8_t maxAnswers = 1) {
    gslb::Pool p;
    p.name = name;
    p.ttl = ttl;
    p.maxAnswers = maxAnswers;
    g_->pools.push_back(std::move(p));
    return static_cast<std::uint32_t>(g_->pools.size() - 1);
  }
  gslb::Pool& poolAt(std::uint32_t pool) { return g_->pools[pool]; }

  // A member of `pool` in `region` (the pool's regions keep the order they
  // are first named in). Probed members get their own health target.
  GslbBuilder& member(std::uint32_t pool, const std::string& region, const std::string& addr,
                      std::uint32_t weight = 1, bool probed = true) {
    gslb::PoolRegion& pr = poolRegion(pool, region);
    auto a = IpAddress::parse(addr);
    REQUIRE(a);
    gslb::Member m;
    m.addr = *a;
    m.weight = weight;
    m.id = memberId(a->str());
    if (probed) {
      health::ProbeSpec s;
      s.address = *a;
      m.target = static_cast<std::int32_t>(g_->probes.size());
      g_->probes.push_back(s);
    }
    (a->family == 4 ? pr.v4 : pr.v6).push_back(m);
    return *this;
  }
  // A failover rule over the pool's regions, by name, in priority order.
  void failover(std::uint32_t pool, std::initializer_list<const char*> tiers) {
    health::FailoverSpec fs;
    for (const char* t : tiers) fs.tiers.push_back(regionIndexIn(pool, t));
    g_->pools[pool].failover = std::move(fs);
  }

  // Steps.
  gslb::Step geoMap(std::initializer_list<std::pair<std::string, std::vector<std::string>>> map,
                    bool fence = false) {
    gslb::Step st;
    st.kind = gslb::StepKind::GeoMap;
    st.fence = fence;
    for (const auto& [key, regions] : map) {
      std::vector<geo::RegionId> ids;
      for (const auto& r : regions) ids.push_back(region(r));
      if (key == "default") {
        REQUIRE(st.map.add(geo::MatchKind::Default, "", std::move(ids)));
      } else if (key.rfind("continent:", 0) == 0) {
        REQUIRE(st.map.add(geo::MatchKind::Continent, key.substr(10), std::move(ids)));
      } else if (key.rfind("country:", 0) == 0) {
        REQUIRE(st.map.add(geo::MatchKind::Country, key.substr(8), std::move(ids)));
      } else {
        REQUIRE(key.rfind("label:", 0) == 0);  // nets carry the labels here
        REQUIRE(st.map.add(geo::MatchKind::Label, std::to_string(label(key.substr(6))),
                           std::move(ids)));
      }
    }
    return st;
  }
  static gslb::Step step(gslb::StepKind kind) {
    gslb::Step st;
    st.kind = kind;
    return st;
  }
  static gslb::Step up() { return step(gslb::StepKind::Up); }
  // By distance, no bias (regions need coordinates: region(name, lat, lon)).
  static gslb::Step nearest() {
    gslb::Step st = step(gslb::StepKind::Nearest);
    st.biasKm.assign(geo::kMaxRegions, 0.0);
    return st;
  }
  static gslb::Step weighted() { return step(gslb::StepKind::Weighted); }
  static gslb::Step capacity() { return step(gslb::StepKind::CapacityWeighted); }
  static gslb::Step failoverStep() { return step(gslb::StepKind::Failover); }
  static gslb::Step firstN(std::uint32_t n) {
    gslb::Step st = step(gslb::StepKind::FirstN);
    st.n = n;
    return st;
  }

  // A policy; its derived properties come from the step table (finishPolicy).
  std::uint32_t policy(const std::string& name, std::vector<gslb::Step> steps) {
    gslb::Policy p;
    p.name = name;
    p.steps = std::move(steps);
    gslb::finishPolicy(p);
    g_->policies.push_back(std::move(p));
    return static_cast<std::uint32_t>(g_->policies.size() - 1);
  }
  std::uint32_t bind(const std::string& name, std::uint32_t pool, std::uint32_t policy) {
    g_->bindings.push_back({name, pool, policy});
    return static_cast<std::uint32_t>(g_->bindings.size() - 1);
  }

  // An operator net: clients in `prefix` carry `label` (for geo_map "label:").
  void net(const std::string& prefix, const std::string& label) {
    auto p = IpPrefix::parse(prefix);
    REQUIRE(p);
    gslb::NetEntry e;
    e.prefix = p->str();
    e.label = this->label(label);
    REQUIRE(locator_->addNet(*p, static_cast<std::int32_t>(g_->nets.size())));
    g_->nets.push_back(std::move(e));
  }

  // A view for this Gslb: every probed target up and steady, no drains.
  std::shared_ptr<health::HealthView> view() const {
    auto v = std::make_shared<health::HealthView>();
    v->config = g_->configId;
    v->targets.resize(g_->probes.size());
    for (auto& t : v->targets) {
      t.state = health::State::Up;
      t.up = t.steady = true;
      t.changeInSec = 100;
    }
    v->activeTier.assign(g_->pools.size(), -1);
    return v;
  }
  // Health of the target probing `addr` (every probed member with it).
  health::TargetHealth& target(health::HealthView& v, const std::string& addr) const {
    for (std::size_t i = 0; i < g_->probes.size(); ++i)
      if (g_->probes[i].address.str() == addr) return v.targets[i];
    FAIL("no probe for " << addr);
    return v.targets[0];
  }
  void down(health::HealthView& v, const std::string& addr, std::uint32_t changeInSec = 100) const {
    health::TargetHealth& t = target(v, addr);
    t.state = health::State::Down;
    t.up = t.steady = false;
    t.changeInSec = changeInSec;
  }
  void drainRegion(health::HealthView& v, const std::string& name) const {
    override(v, "region_drain", name, 0);
  }
  void drainMember(health::HealthView& v, const std::string& addr) const {
    override(v, "member_drain", addr, 0);
  }
  void load(health::HealthView& v, const std::string& addr, double load) const {
    override(v, "member_load", addr, load);
  }

 private:
  void override(health::HealthView& v, const char* kind, const std::string& target,
                double value) const {
    health::OverrideRecord o;
    o.kind = kind;
    o.target = target;
    o.value = value;
    gslb::applyOverride(v, *g_, o);
  }
  gslb::PoolRegion& poolRegion(std::uint32_t pool, const std::string& name) {
    const geo::RegionId r = region(name);
    for (auto& pr : g_->pools[pool].regions)
      if (pr.region == r) return pr;
    gslb::PoolRegion pr;
    pr.region = r;
    g_->pools[pool].regions.push_back(std::move(pr));
    return g_->pools[pool].regions.back();
  }
  std::uint16_t regionIndexIn(std::uint32_t pool, const std::string& name) {
    const auto& regions = g_->pools[pool].regions;
    for (std::size_t i = 0; i < regions.size(); ++i)
      if (g_->regions[regions[i].region].name == name) return static_cast<std::uint16_t>(i);
    FAIL("pool has no region " << name);
    return 0;
  }
  std::uint32_t memberId(const std::string& canonical) {
    const std::int32_t m = g_->memberIndex(canonical);
    if (m >= 0) return static_cast<std::uint32_t>(m);
    g_->memberNames.push_back(canonical);
    return static_cast<std::uint32_t>(g_->memberNames.size() - 1);
  }
  std::int32_t label(const std::string& l) {
    for (std::size_t i = 0; i < g_->labels.size(); ++i)
      if (g_->labels[i] == l) return static_cast<std::int32_t>(i);
    g_->labels.push_back(l);
    return static_cast<std::int32_t>(g_->labels.size() - 1);
  }

  std::shared_ptr<gslb::Gslb> g_;
  std::shared_ptr<geo::Locator> locator_;
};

}  // namespace geodns::test
