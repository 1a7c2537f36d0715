#pragma once
// GSLB decisions: pools of regional members, and policies compiled into a
// pipeline of steps run per query over fixed-size arrays (no allocation, no
// virtual call). Health, drain, load, latency and failover steps slot in as
// further StepKinds that filter or reorder the same candidate array.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/name.h"
#include "core/result.h"
#include "geo/geo_map.h"
#include "geo/locator.h"
#include "health/failover.h"
#include "health/health_view.h"
#include "health/probe.h"
#include "zones/config.h"

namespace geodns::server {

using geo::RegionId;
inline constexpr std::size_t kMaxAnswers = 16;
inline constexpr std::size_t kMaxPoolRegions = geo::kMaxRegions;
inline constexpr std::size_t kMaxSteps = 16;

struct Region {
  std::string name;
  bool hasCoords = false;
  double lat = 0, lon = 0;
};

struct Member {
  IpAddress addr;
  std::uint32_t weight = 1;
  std::int32_t target = -1;  // index in Gslb::probes; -1 = not probed (always up)
  std::uint32_t id = 0;      // index in Gslb::memberNames (drains, pushed load)
};

struct PoolRegion {
  RegionId region = 0;
  std::vector<Member> v4, v6;
  std::string cname;  // lowercase wire target, for CNAME pools
};

enum class AllDown : std::uint8_t { FailOpen, Fallback, NoData, ServFail };

struct Pool {
  std::string name;
  std::uint32_t ttl = 60;
  std::uint8_t maxAnswers = 1;
  bool isCname = false;
  double minHealthy = 1;  // >= 1 a count, < 1 a fraction of a region's members
  AllDown allDown = AllDown::FailOpen;
  std::int32_t fallbackPool = -1;
  std::optional<health::FailoverSpec> failover;  // tiers are indices into `regions`
  std::vector<PoolRegion> regions;               // config order = the default order
};

enum class StepKind : std::uint8_t {
  GeoMap,
  Nearest,
  FirstN,
  Weighted,
  Up,
  ShedLoad,
  Latency,
  CapacityWeighted,
  Failover
};
const char* stepName(StepKind k) noexcept;

struct Step {
  StepKind kind = StepKind::Weighted;
  geo::GeoMap map;               // GeoMap
  std::vector<double> biasKm;    // Nearest: by RegionId
  std::uint32_t n = 1;           // FirstN
  double high = 0.9, low = 0.7;  // ShedLoad: load watermarks in [0,1]
  double slackMs = 20;           // Latency
};

struct Policy {
  std::string name;
  bool ecs = true;            // use the ECS address when the query carries one
  bool usesLocation = false;  // some step depends on where the client is
  std::vector<Step> steps;
};

struct NetEntry {
  std::string prefix;
  std::int32_t label = -1;
  std::vector<RegionId> regions;  // a fixed order, overrides geo_map and nearest
};

struct Binding {
  std::string name;
  std::uint32_t pool = 0;
  std::uint32_t policy = 0;
};

class AnswerCounters;  // server/metrics.h

class Gslb {
 public:
  // Control thread: opens the geo databases and compiles pools and policies.
  static std::shared_ptr<const Gslb> build(const zones::GslbConfig& cfg, ErrorList& errors,
                                           std::vector<std::string>* skippedDatabases = nullptr);

  std::vector<Region> regions;
  std::vector<std::string> labels;
  std::vector<NetEntry> nets;
  std::vector<Pool> pools;
  std::vector<Policy> policies;
  std::vector<Binding> bindings;
  std::shared_ptr<const geo::Locator> locator;
  std::vector<health::ProbeSpec> probes;  // one per distinct target
  std::vector<std::string> memberNames;   // distinct member addresses, canonical text
  std::int32_t regionIndex(const std::string& name) const noexcept;
  std::int32_t memberIndex(const std::string& name) const noexcept;  // any address spelling
  std::uint32_t minTtl = 5;                                          // floor for health-capped TTLs
  // Answers by pool and region of this config (bumped by the workers).
  std::shared_ptr<AnswerCounters> answers;
};

// The client as the engine sees it.
struct Client {
  IpAddress address;          // ECS address (masked) or the resolver's address
  std::uint8_t sourcePrefix;  // bits of `address` that are meaningful
  bool fromEcs = false;
};

// Why each region ended where it did (for explain); filled only when asked.
struct Trace {
  struct StepLog {
    StepKind kind;
    std::uint8_t count = 0;
    std::uint8_t order[kMaxPoolRegions];  // pool-region indices after the step
    double metric[kMaxPoolRegions];  // per pool region: km (nearest) or ms (latency); <0 unknown
    geo::MatchKind matched = geo::MatchKind::None;
  };
  std::uint8_t steps = 0;
  StepLog log[kMaxSteps];
};

struct Decision {
  geo::Location location;
  bool located = false;
  geo::MatchKind matched = geo::MatchKind::None;
  std::uint8_t scope =
      0;  // ECS scope in bits of the client's family; 0 = answer not client-specific
  std::uint8_t candidates = 0;
  std::uint8_t order[kMaxPoolRegions];  // pool-region indices, best first
  const PoolRegion* chosen = nullptr;
  std::uint8_t picked = 0;
  const Member* members[kMaxAnswers];
  // Health: set by an `up` step.
  bool healthDependent = false;
  bool allDown = false;     // no region had enough members up
  bool failedOpen = false;  // ...and the pool answered as if all were up
  bool drained = false;     // an operator drain removed a region or member
  std::uint32_t ttl = 0;    // the answer's TTL (pool TTL, capped by health)
};

// Runs `binding`'s policy over `pool` for one query. `family` is 4 (A) or 6
// (AAAA) or 0 (CNAME pools); `health` may be null (everything up). When every
// region is down, the pool's all_down applies: fail_open answers as if all
// were up; fallback/nodata/servfail leave `chosen` null with `allDown` set for
// the caller. noexcept, allocation-free.
void decide(const Gslb& g, const Binding& binding, const Pool& pool, const Client& client,
            int family, name::Span qname, std::uint16_t queryId, const health::HealthView* health,
            Decision& out, Trace* trace = nullptr) noexcept;

}  // namespace geodns::server
