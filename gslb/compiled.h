#pragma once
// Compiled decisions (issue 13): for each binding whose policy depends on
// the client only through its location, the whole decision (location, map,
// distance order, health, drains, failover, load) evaluated once per
// location class and merged into the widest aligned prefixes over which it
// cannot change. A query then does one prefix-tree walk for its outcome and
// its ECS scope, and only the member pick and the TTL run per query.
// Built on the control side whenever the config or the health view changes
// (server/serving.cc, server/health_runner.cc), published in the snapshot.
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "core/ip.h"
#include "gslb/gslb.h"

namespace geodns::gslb {

// A binary prefix tree whose leaves are outcomes: the widest aligned
// prefixes over which the outcome is the same.
struct CompiledTree {
  static constexpr std::uint32_t kLeaf = 0x80000000u;
  static constexpr std::uint32_t kNoOutcome = 0xFFFFFFFFu;  // ::ffff:0:0/96 (never looked up)
  struct Leaf {
    std::uint32_t outcome = kNoOutcome;  // index in CompiledPolicy::outcomes
    std::uint32_t networks = 0;          // located pieces (database networks, nets) merged
  };
  // Two values per node, child 0 then child 1: a node index, or kLeaf | leaf index.
  std::vector<std::uint32_t> nodes;
  std::vector<Leaf> leaves;
  std::uint32_t root = kLeaf;

  struct Hit {
    const Leaf* leaf;
    std::uint8_t prefix;  // the leaf's prefix length in bits of `a`'s family
  };
  // `a` is of the tree's family. noexcept, allocation-free.
  // The address is read as big-endian 64-bit words, one shift per level.
  Hit lookup(const IpAddress& a) const noexcept {
    std::uint32_t v = root;
    unsigned depth = 0;
    std::uint64_t bits = be64(a.bytes);
    if (a.family == 4) {  // at most 32 levels: one word
      for (; v < kLeaf; ++depth, bits <<= 1)
        v = nodes[std::size_t{v} * 2 + static_cast<std::size_t>(bits >> 63)];
    } else {
      for (; v < kLeaf && depth < 64; ++depth, bits <<= 1)
        v = nodes[std::size_t{v} * 2 + static_cast<std::size_t>(bits >> 63)];
      for (bits = be64(a.bytes + 8); v < kLeaf; ++depth, bits <<= 1)
        v = nodes[std::size_t{v} * 2 + static_cast<std::size_t>(bits >> 63)];
    }
    return {&leaves[v & ~kLeaf], static_cast<std::uint8_t>(depth)};
  }
  static std::uint64_t be64(const std::uint8_t* p) noexcept {
    std::uint64_t x = 0;
    for (int i = 0; i < 8; ++i) x = (x << 8) | p[i];
    return x;
  }
  std::size_t bytes() const noexcept {
    return nodes.capacity() * sizeof(std::uint32_t) + leaves.capacity() * sizeof(Leaf);
  }
};

// One binding's decisions for one question family (A and ANY, or AAAA).
struct CompiledPolicy {
  std::vector<CompiledOutcome> outcomes;
  // Per location key (the classes' locations as the policy reads them: with
  // coordinates when `coords`), its outcome; outcomes are numbered by their
  // first key, so decisions that partition the keys alike have equal
  // vectors and share their trees.
  std::shared_ptr<const std::vector<std::uint32_t>> keyOutcome;
  bool coords = false;
  std::shared_ptr<const CompiledTree> trees[2];  // IPv4 clients, IPv6 clients
};

struct CompiledDecisions {
  std::shared_ptr<const Gslb> gslb;
  std::shared_ptr<const health::HealthView> health;  // the view the outcomes were decided under
  // Per binding: -1 (not compiled: today's path), else the index in
  // `policies` of its A decisions; its AAAA decisions follow.
  std::vector<std::int32_t> binding;
  std::vector<CompiledPolicy> policies;
  struct Stats {
    std::size_t trees = 0;      // trees in use (two per binding and question family)
    std::size_t reused = 0;     // ...of which taken from the previous compile unchanged
    std::size_t distinct = 0;   // distinct trees among them (decisions alike share theirs)
    std::size_t evaluated = 0;  // pipeline runs (one per distinct location key)
    std::size_t leaves = 0;     // compiled prefixes over the distinct trees
    std::size_t outcomes = 0;   // distinct outcomes over all (binding, question family)
    std::size_t bytes = 0;      // trees and tables (the location tries not included)
    // (pool, policy) pairs whose decisions were taken from a pool alike
    // (gslb::poolShape) instead of evaluated, and pairs where a sampled key
    // disagreed with the pipeline (a poolShape() bug: then evaluated in full).
    std::size_t shared = 0;
    std::size_t shapeMismatches = 0;
  } stats;
  // Made by compileDecisionsAround(): only the asked client's prefix is
  // compiled. `exact` false: its walk met the bound, the prefix is a lower
  // bound of the compiled one (which is /prefix or wider) and the networks
  // merged are at least those counted.
  struct Around {
    bool exact = true;
    std::size_t nodes = 0;  // blocks of the databases and nets walked
  } around;
};

// Whether compileDecisions() compiles a binding with this policy: it uses
// the client's location and nothing else of the client.
bool compilable(const Policy& policy) noexcept;

// Control side (probe or control thread). `previous` (may be null): a
// compile for the same Gslb whose trees are reused where the outcomes did
// not change, so a health publish that changes no decision costs one
// evaluation per location key and no tree walk. `health` must be a view for
// `g` (or null: everything up). A (pool, question type) with at least
// `parallelKeys` location keys (coordinates: a nearest step) is evaluated on
// two threads; the result is the same either way (tests lower it).
inline constexpr std::size_t kParallelKeys = std::size_t{1} << 14;
std::shared_ptr<const CompiledDecisions> compileDecisions(
    std::shared_ptr<const Gslb> g, std::shared_ptr<const health::HealthView> health,
    const CompiledDecisions* previous = nullptr, std::size_t parallelKeys = kParallelKeys);

// compileDecisions() for one client, without compiling: the decisions of
// `query`'s binding for its question family (A/ANY or AAAA) at the compiled
// prefix around query.client.address, every other prefix left uncompiled
// (decideCompiled() returns false there). The prefix and the networks it
// merged are those compileDecisions() gives (the same pieces, the same
// outcomes, the same merge), found by walking only the databases' and nets'
// networks around the client (geo::blockAround) — what `geodnsd explain`
// uses on a Gslb built with GeoOpen::OnDemand, where compileDecisions()
// compiles nothing. `maxNodes` bounds that walk (see Around::exact).
// Control side.
std::shared_ptr<const CompiledDecisions> compileDecisionsAround(
    std::shared_ptr<const Gslb> g, std::shared_ptr<const health::HealthView> health,
    const PoolQuery& query, std::size_t maxNodes = std::numeric_limits<std::size_t>::max());

struct CompiledHit {
  std::uint8_t prefix = 0;     // the compiled prefix, in bits of the client address's family
  std::uint32_t networks = 0;  // located pieces it merged
};

// decidePool() for a compiled binding: one tree walk, then the member pick
// and the TTL. Returns false (nothing written) when the binding or the client
// is not compiled: the caller runs decidePool(). The ECS scope is the
// compiled prefix capped at the client's source prefix. noexcept,
// allocation-free, lock-free: the engine calls it per query.
bool decideCompiled(const CompiledDecisions& c, const PoolQuery& query, PoolDecision& out,
                    CompiledHit* hit = nullptr) noexcept;

}  // namespace geodns::gslb
