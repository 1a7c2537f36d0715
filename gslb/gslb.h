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

#include "config/config.h"
#include "config/steps.h"
#include "core/ip.h"
#include "core/result.h"
#include "core/wire/name.h"
#include "geo/geo_map.h"
#include "geo/location_trie.h"
#include "geo/locator.h"
#include "health/failover.h"
#include "health/health_view.h"
#include "health/probe.h"
#include "health/store.h"

namespace geodns::gslb {

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
  std::uint32_t cell = 0;    // this (pool, region, member)'s answer counter (AnswerCounters)
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

using config::StepKind;  // config/steps.h: names and properties of each kind
using config::stepName;

struct Step {
  StepKind kind = StepKind::Weighted;
  geo::GeoMap map;               // GeoMap
  bool fence = false;            // GeoMap: a matched list is all the client may get (drains
                                 // never move it to the pool's other regions)
  std::vector<double> biasKm;    // Nearest: by RegionId
  std::uint32_t n = 1;           // FirstN
  double high = 0.9, low = 0.7;  // ShedLoad: load watermarks in [0,1]
  double slackMs = 20;           // Latency
};

struct Policy {
  std::string name;
  bool ecs = true;            // use the ECS address when the query carries one
  bool usesLocation = false;  // some step depends on where the client is (finishPolicy)
  config::PickRule pick =
      config::PickRule::First;  // the strongest its steps ask for (finishPolicy)
  std::vector<Step> steps;
};

// Derives a policy's properties from its steps through the step table
// (config::kSteps): usesLocation and the pick rule. The compiler calls it;
// so must anything that builds a Policy by hand.
void finishPolicy(Policy& policy) noexcept;

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

// A (pool, region, member) answer counter's labels; Member::cell indexes them.
struct MemberCell {
  std::string pool, region, member;
};

// A fresh id for a compiled config (never 0 = health::ConfigId::None).
health::ConfigId nextConfigId() noexcept;

class Gslb {
 public:
  // Which config this is: a HealthView is attached to a snapshot only when
  // its `config` matches (server/health_runner.h attachHealth), so the query
  // path never checks. Every Gslb gets its own.
  health::ConfigId configId = nextConfigId();
  // What build() compiles from the geo databases. OnDemand (`geodnsd
  // explain`): no location tries, so nothing is compiled: explain finds one
  // client's compiled prefix with compileDecisionsAround() (gslb/compiled.h)
  // and queries locate from the databases. Never for serving.
  enum class GeoOpen : std::uint8_t { Compiled, OnDemand };
  // Control thread: opens the geo databases and compiles pools and policies.
  // `deferTriesAtNodes` > 0: when the databases hold at least that many
  // search-tree nodes, the location tries are left for withLocationTries()
  // (triesDeferred): the server answers first (limits.defer_geo_compile_nodes).
  static std::shared_ptr<const Gslb> build(const config::GslbConfig& cfg, ErrorList& errors,
                                           std::vector<std::string>* skippedDatabases = nullptr,
                                           GeoOpen geoOpen = GeoOpen::Compiled,
                                           std::uint64_t deferTriesAtNodes = 0);
  GeoOpen geoOpen = GeoOpen::Compiled;
  // Built without its location tries (build()'s deferTriesAtNodes): queries
  // locate from the databases and nothing is compiled, until the server
  // publishes withLocationTries() in its place.
  bool triesDeferred = false;
  // Control thread: a copy of this Gslb (the same configId, so its health,
  // drains and failover state still apply) with its location tries built.
  std::shared_ptr<const Gslb> withLocationTries() const;
  // Search-tree nodes in the locator's databases, all together.
  std::uint64_t geoNodes() const noexcept;

  std::vector<Region> regions;
  std::vector<std::string> labels;
  std::vector<NetEntry> nets;
  std::vector<Pool> pools;
  std::vector<Policy> policies;
  std::vector<Binding> bindings;
  std::shared_ptr<const geo::Locator> locator;
  // The locator's address space cut into location classes, IPv4 then IPv6
  // (geo/location_trie.h); built when some policy orders by location, for
  // the decision compiler (gslb/compiled.h).
  std::shared_ptr<const geo::LocationTrie> locationTries[2];
  // The tries keep coordinates (some policy orders by distance): what
  // compileLocationTrie() was given, for compileDecisionsAround().
  bool locationCoords = true;
  // The client's location as a policy reads it: from the location tries when
  // built (one walk; the prefix is the widest block with that location),
  // else from the locator. `detail`: also the database, ASN and coordinates
  // (explain), read from the locator; the prefix stays the trie's. Returns
  // loc.found. noexcept, allocation-free.
  bool locate(const IpAddress& address, geo::Location& loc, bool detail = false) const noexcept;
  std::vector<health::ProbeSpec> probes;  // one per distinct target
  std::vector<std::string> memberNames;   // distinct member addresses, canonical text
  std::int32_t regionIndex(const std::string& name) const noexcept;
  std::int32_t memberIndex(const std::string& name) const noexcept;  // any address spelling
  std::uint32_t minTtl = 5;                                          // floor for health-capped TTLs
  // (pool, region, member) triples: Member::cell < memberCells.size(). The
  // counters themselves belong to the snapshot (server/serving.h).
  std::vector<MemberCell> memberCells;
};

// The client as the engine sees it.
struct Client {
  IpAddress address;              // ECS address (masked) or the resolver's address
  std::uint8_t sourcePrefix = 0;  // bits of `address` that are meaningful
  bool fromEcs = false;
};

// The client a policy decides for: the ECS address when the policy uses ECS
// and the query carried a client subnet with a non-zero source prefix
// (`ecsFamily` 1 = IPv4, 2 = IPv6, 0 = none; `ecsAddress` holds
// ceil(ecsSource / 8) bytes, the rest is ignored), else the resolver's
// address. The engine and every explain build their Client here.
Client clientFor(const Policy& policy, const IpAddress& resolver, std::uint16_t ecsFamily,
                 std::uint8_t ecsSource, const std::uint8_t* ecsAddress) noexcept;

// Why each region ended where it did (for explain); filled only when asked.
// A decision that falls back logs the binding's pool's steps first, then the
// fallback pool's from `fallbackFrom` on (region indices are into that pool).
struct Trace {
  static constexpr std::size_t kMaxLog = 2 * kMaxSteps;
  struct StepLog {
    StepKind kind;
    std::uint8_t count = 0;
    std::uint8_t order[kMaxPoolRegions];  // pool-region indices after the step
    // Per pool region, the step's config::StepInfo::metric (km, ms); <0 unknown.
    double metric[kMaxPoolRegions];
    geo::MatchKind matched = geo::MatchKind::None;
    bool logsMatch = false;  // the step ordered by a geo match: `matched` says which key
  };
  std::uint8_t steps = 0;
  std::uint8_t fallbackFrom = kMaxLog;  // index of the fallback pool's first step; kMaxLog: none
  StepLog log[kMaxLog];
};

// One pass of a policy over one pool.
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
  bool allDown = false;     // no region had enough members up (or drains left none)
  bool failedOpen = false;  // ...and the pool answered as if all were up
  bool drained = false;     // an operator drain removed a region or member
  bool fenced = false;      // the client matched a fencing geo_map list
  bool ttlCapped = false;   // health shortened the TTL below the pool's
  std::uint32_t ttl = 0;    // the answer's TTL (pool TTL, capped by health)
};

// What a pool answers: records, no data, or SERVFAIL (all_down: servfail).
enum class PoolOutcome : std::uint8_t { Answer, NoData, ServFail };
const char* outcomeName(PoolOutcome o) noexcept;  // "answer", "nodata", "servfail"

// The question a pool decision answers: what the engine knows of the query.
struct PoolQuery {
  std::uint32_t binding = 0;  // index in Gslb::bindings
  Client client;              // from clientFor()
  std::uint16_t qtype = 1;    // as asked: A, AAAA, CNAME or ANY (ANY answers like A)
  name::Span qname;           // lowercase wire name; with the client prefix and the id it
  std::uint16_t queryId = 0;  // seeds the weighted pick (reproducible)
};

// Everything a pool decision gives the engine and explain.
struct PoolDecision {
  PoolOutcome outcome = PoolOutcome::NoData;
  std::int32_t pool = -1;    // the pool that answered: the binding's, or its fallback_pool
  bool poolAllDown = false;  // the binding's pool had no region: its all_down applied
                             // (nodata, servfail or fallback; never fail_open)
  bool fellBack = false;     // answered by the fallback pool (`decision` is its pass)
  std::uint8_t scope = 0;    // ECS scope to send; 0 when the client was not given by ECS
  std::uint32_t ttl = 0;     // TTL of the answer records
  Decision decision;         // the pass that answered (region, members, flags)
};

// The whole pool decision for one query: the binding's policy over its pool
// (steps, operator drains, fences), the pool's all_down rule (fail_open,
// fallback, nodata, servfail), the fallback pool (same policy; it fails open
// when it is down too) and TTL capping. `health` may be null (everything
// up); else it is a view for `g` (health->config == g.configId: checked
// once where the snapshot is assembled, never here). `trace` (explain only)
// logs every step. noexcept, allocation-free, lock-free: the engine calls it
// per query; `geodnsd explain` and /v1/explain call it with a trace.
void decidePool(const Gslb& g, const PoolQuery& query, const health::HealthView* health,
                PoolDecision& out, Trace* trace = nullptr) noexcept;

// The TTL an answer from `region` (an index into pool.regions) carries now
// for a client that ranks it first and is answered with all its up members
// (all its members when none is up: fail open): the pool's TTL, shortened
// (never below health.min_ttl) while one of them is in transition (down,
// unknown, or failing checks). Control plane (status). `health`: as decidePool.
std::uint32_t regionAnswerTtl(const Gslb& g, const Pool& pool, std::size_t region,
                              const health::HealthView* health) noexcept;
// Whether some binding of `pool` (or of a pool it is the fallback of) runs a
// policy whose TTLs health caps (an `up` step over an address pool).
bool healthCapsTtl(const Gslb& g, std::size_t pool) noexcept;

// How the chosen region's members are picked: the policy's rule (from the
// step table) plus what the steps that ran decided for this query.
struct PickRules {
  config::PickRule rule = config::PickRule::First;
  bool requireUp = false;  // an up step kept regions: only up members are picked
  bool shed = false;       // a shed_load step: members over the high watermark get nothing
  double shedLow = 0, shedHigh = 1;
  bool operator==(const PickRules&) const = default;
};

// What a decision is for every client of one location, under one health
// view: everything decidePool() settles before the member pick and the TTL.
// Two locations with equal outcomes get the same answer (gslb/compiled.h
// merges their prefixes).
struct CompiledOutcome {
  PoolOutcome outcome = PoolOutcome::Answer;  // before the qtype and no-member rules
  std::int32_t pool = -1;                     // the pool that answers
  bool poolAllDown = false, fellBack = false;
  std::int16_t chosen = -1;  // index in that pool's regions; -1 none
  bool allDown = false, failedOpen = false;
  bool pickMembers = false;  // the region choice left members to pick
  bool useDrains = false;    // drained members are passed over in the pick
  PickRules pick;
  bool upRan = false;  // an up step ran: health transitions cap the TTL
  // Pool-region indices the last up step ranked ahead of the chosen region
  // (their members' transitions cap the TTL, capTtl()).
  std::uint8_t ahead = 0;
  std::uint8_t aheadOrder[kMaxPoolRegions] = {};
  bool operator==(const CompiledOutcome&) const = default;
};

// decidePool() for a client already located at `location` (the compiler's
// evaluation of one location class); also fills `outcome`. noexcept.
void decidePoolAt(const Gslb& g, const PoolQuery& query, const health::HealthView* health,
                  const geo::Location& location, PoolDecision& out,
                  CompiledOutcome& outcome) noexcept;

// decidePool() from a compiled outcome: the member pick, the TTL and the
// final answer rules, with `scope` as the decision's ECS scope (bits of the
// client's family, already capped at its source prefix). The query path.
void decideFromOutcome(const Gslb& g, const CompiledOutcome& outcome, const PoolQuery& query,
                       const health::HealthView* health, std::uint8_t scope,
                       PoolDecision& out) noexcept;

// Everything a decision reads from pool `pool` and from its members' health,
// drains and load under `health`, as bytes: the steps, the region choice and
// the all_down rules read only these (not the addresses, names, TTL or
// max_answers: the member pick and the TTL run per query from the outcome).
// Two pools with equal shapes get, under one policy and at every location,
// the same CompiledOutcome up to its `pool` field (their fallback pool is
// the same pool), so compileDecisions() evaluates one and translates it for
// the others (1,000 pools alike: one evaluation). Control plane.
std::string poolShape(const Gslb& g, std::size_t pool, const health::HealthView* health);

// Applies one operator override (a drain or a pushed load) to `view`, a view
// for `g`; an override naming a region or member `g` lacks is skipped (it is
// kept for a config that has it). The probe thread and explain's view from
// the state database both build their views with it. Control plane.
void applyOverride(health::HealthView& view, const Gslb& g, const health::OverrideRecord& o);

}  // namespace geodns::gslb
