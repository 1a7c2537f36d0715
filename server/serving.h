#pragma once
// ServingSnapshot: everything a DNS worker reads, published as one immutable
// object so that no query mixes generations (DESIGN.md).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/ip.h"
#include "core/snapshot.h"
#include "gslb/compiled.h"
#include "gslb/gslb.h"
#include "zones/dnssec/sign_budget.h"
#include "zones/load.h"
#include "zones/zone.h"

namespace geodns::server {

class AnswerCounters;  // server/metrics.h
class FastAnswers;     // server/fast_answers.h

struct ServingSnapshot {
  std::shared_ptr<const zones::ZoneSet> zones;
  config::Limits limits;
  // TXT RRsets for CHAOS queries (version.bind, id.server); no records = REFUSED.
  zones::RRset chaosVersion;
  zones::RRset chaosIdentity;
  std::shared_ptr<const gslb::Gslb> gslb;            // pools, policies, geo data; never null
  std::shared_ptr<const health::HealthView> health;  // may be null: everything up
  // The decisions of `gslb` under `health`, compiled into prefix trees
  // (gslb/compiled.h). Used only while compiled->gslb == gslb and
  // compiled->health == health (compiledFor()); else the per-query pipeline.
  std::shared_ptr<const gslb::CompiledDecisions> compiled;
  // Precompiled answers for `zones` (server/fast_answers.h); null: every
  // query takes the general path. Used only while fast->zones() == zones.
  std::shared_ptr<const FastAnswers> fast;
  config::RrlConfig rrl;  // response rate limiting limits (the table lives in the server)
  // The budget of online signatures made for UDP queries (limits.
  // max_signatures_per_second), one for the process: a reload with the same
  // rate and burst shares the previous snapshot's, so a reload does not
  // refill it. Null: no limit.
  std::shared_ptr<zones::dnssec::SignBudget> signBudget;
  // Answers by pool, region and member of this config (bumped by the workers;
  // owned here so that gslb/ knows nothing of metrics).
  std::shared_ptr<AnswerCounters> answers;
  std::uint64_t generation = 0;  // config generation: 1 at start-up, +1 per reload

  // Zone transfers (server/xfr_out.h) and signed queries: the TSIG keys, and
  // each zone's transfer rules and NOTIFY targets, by zone origin.
  std::shared_ptr<const tsig::Keyring> keyring;  // never null; may be empty
  struct ZoneRules {
    std::string origin;  // lowercase wire
    config::TransferConfig transfer;
    std::vector<SocketAddress> notify;
    // A secondary zone: its primaries (NOTIFY is accepted from their
    // addresses only) and the key their NOTIFYs must be signed with ("": none).
    std::vector<SocketAddress> primaries;
    std::vector<IpAddress> primaryIps;  // their addresses, for the engine's check
    std::string primaryTsig;            // as configured
    std::string primaryTsigWire;        // lowercase wire, for the engine's check
  };
  std::vector<ZoneRules> zoneRules;
  // The rules of the zone with this origin (lowercase wire), or nullptr.
  const ZoneRules* rulesFor(name::Span origin) const noexcept {
    for (const auto& r : zoneRules)
      if (name::asSpan(r.origin).size() == origin.size() &&
          std::equal(origin.begin(), origin.end(),
                     reinterpret_cast<const std::uint8_t*>(r.origin.data())))
        return &r;
    return nullptr;
  }
};

// Builds a snapshot from a config: loads and compiles every zone. Control
// thread only. Returns nullptr and fills `errors` on any error. `previous`
// (the snapshot served now, or null at start-up) and `unixNow` feed each
// zone's serial policy (zones::loadZones). `clock` (null: the system clock;
// must outlive the snapshot) times the signatures and the signing budget.
// `geoOpen` OnDemand (`geodnsd explain`): the geo databases are read where
// they lie and no decision is compiled (gslb::Gslb::GeoOpen); explain()
// compiles the asked client's prefix alone. Never for serving.
// `deferTriesAtNodes` (a server's start-up: limits.defer_geo_compile_nodes):
// geo databases that big are compiled later, by compileDeferred().
// `persisted`: the zones' serials before a restart (zones/load.h).
std::shared_ptr<const ServingSnapshot> buildSnapshot(
    const config::ServerConfig& cfg, ErrorList& errors, const ServingSnapshot* previous = nullptr,
    std::int64_t unixNow = 0, const Clock* clock = nullptr,
    gslb::Gslb::GeoOpen geoOpen = gslb::Gslb::GeoOpen::Compiled,
    std::uint64_t deferTriesAtNodes = 0, const zones::PersistedSerials* persisted = nullptr);

// The start-up compile a snapshot built with deferTriesAtNodes left undone
// (gslb::Gslb::triesDeferred): a copy of `base` with the location tries built,
// its decisions left for the health runner's publish to compile; null when
// nothing was deferred. Control thread.
std::shared_ptr<const ServingSnapshot> compileDeferred(const ServingSnapshot& base);

// Signs, into each signed zone's signature cache, the answers the pools bound
// in it can give: per region, every set of up to max_answers of its IPv4 and
// of its IPv6 members (and each CNAME target), for the binding's pool and its
// fallback, at most `perPool` RRsets per pool (the rest are signed when first
// asked for). Control thread; returns how many signatures were stored.
inline constexpr std::size_t kPrewarmPerPool = 256;
std::size_t prewarmSignatures(const gslb::Gslb& g, const zones::ZoneSet& zones, std::size_t perPool,
                              ErrorList& errors);

// Builds `snap.fast` (server/fast_answers.h) for its zones, and logs the
// figures. Control thread.
void buildFastAnswers(ServingSnapshot& snap);

// The compiled decisions for this snapshot's model and health, or null.
inline const gslb::CompiledDecisions* compiledFor(const ServingSnapshot& s) noexcept {
  const gslb::CompiledDecisions* c = s.compiled.get();
  return c && c->gslb == s.gslb && c->health == s.health ? c : nullptr;
}

// Control side: (re)compiles `snap.compiled` for its gslb and health,
// reusing the trees of `previous` (may be null) where no decision changed.
// Logs the figures when `log` is set.
void compileSnapshot(ServingSnapshot& snap, const gslb::CompiledDecisions* previous,
                     bool log = false);
// Logs `snap.compiled`'s figures ("gslb: compiled N decision trees ..."),
// compiled in `ms`.
void logCompiled(const ServingSnapshot& snap, double ms);

using SnapshotHolder = Snapshot<ServingSnapshot>;

}  // namespace geodns::server
