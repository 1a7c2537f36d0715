#include "gslb/compiled.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/both.h"
#include "core/huge_pages.h"
#include "core/wire/dns.h"

namespace geodns::gslb {

namespace {

// The part of a location a policy's steps read: the coordinates only when a
// nearest step orders by distance (else every city would be its own key).
std::string locationKey(const geo::Location& l, bool coords) {
  std::string k;
  k.reserve(40);
  k.push_back(l.found ? '1' : '0');
  k.append(l.continent, sizeof l.continent);
  k.append(l.country, sizeof l.country);
  k.append(l.subdivision, sizeof l.subdivision);
  k.append(reinterpret_cast<const char*>(&l.netEntry), sizeof l.netEntry);
  if (coords && l.hasCoords) {
    k.append(reinterpret_cast<const char*>(&l.lat), sizeof l.lat);
    k.append(reinterpret_cast<const char*>(&l.lon), sizeof l.lon);
  }
  return k;
}

struct Merged {
  bool leaf = true;
  std::uint32_t value = 0;  // outcome (leaf) or node index
  std::uint32_t networks = 0;
};

constexpr std::size_t kParallelMergeNodes = 1u << 16;

// `o`'s number in `outcomes`, appended when new: outcomes are numbered in
// the order their first key meets them.
std::uint32_t outcomeNumber(std::vector<CompiledOutcome>& outcomes, const CompiledOutcome& o) {
  std::size_t n = 0;
  while (n < outcomes.size() && !(outcomes[n] == o)) ++n;
  if (n == outcomes.size()) outcomes.push_back(o);
  return static_cast<std::uint32_t>(n);
}

class TreeBuilder {
 public:
  TreeBuilder(const geo::LocationTrie& trie, const std::vector<std::uint32_t>& classOutcome,
              CompiledTree& out)
      : trie_(trie), classOutcome_(classOutcome), out_(out) {}

  void run() {
    // The merge keeps at most the trie's nodes and leaves (plus the /1
    // halves of a single leaf).
    reserveHuge(out_.nodes, trie_.nodes.size() + 2);
    reserveHuge(out_.leaves, trie_.leaves.size() + 1);
    Merged m = merge(trie_.root, 0);
    if (m.leaf) {
      // One outcome for the whole family: still never scope 0 (that would
      // say the answer does not depend on the client); /1 halves.
      const std::uint32_t half = leafValue({true, m.value, m.networks});
      out_.nodes.push_back(half);
      out_.nodes.push_back(half);
      out_.root = 0;
    } else {
      out_.root = m.value;
    }
    shrinkHuge(out_.nodes);
    shrinkHuge(out_.leaves);
  }

 private:
  std::uint32_t leafValue(const Merged& m) {
    out_.leaves.push_back({m.value, m.networks});
    return CompiledTree::kLeaf | static_cast<std::uint32_t>(out_.leaves.size() - 1);
  }

  Merged merge(std::uint32_t v, unsigned depth) {
    if (v & geo::LocationTrie::kLeaf) {
      const geo::LocationTrie::Leaf& l = trie_.leaves[v & ~geo::LocationTrie::kLeaf];
      const std::uint32_t o = l.cls == geo::LocationTrie::kMappedClass ? CompiledTree::kNoOutcome
                                                                       : classOutcome_[l.cls];
      return {true, o, l.networks};
    }
    const Merged a = merge(trie_.nodes[std::size_t{v} * 2], depth + 1);
    const Merged b = merge(trie_.nodes[std::size_t{v} * 2 + 1], depth + 1);
    // The root never merges (scope 0 is for answers that do not depend on
    // the client), nor does the IPv4-mapped block.
    if (depth > 0 && a.leaf && b.leaf && a.value == b.value && a.value != CompiledTree::kNoOutcome)
      return {true, a.value, a.networks + b.networks};
    const std::uint32_t x = a.leaf ? leafValue(a) : a.value;
    const std::uint32_t y = b.leaf ? leafValue(b) : b.value;
    out_.nodes.push_back(x);
    out_.nodes.push_back(y);
    return {false, static_cast<std::uint32_t>(out_.nodes.size() / 2 - 1), a.networks + b.networks};
  }

  const geo::LocationTrie& trie_;
  const std::vector<std::uint32_t>& classOutcome_;
  CompiledTree& out_;
};

}  // namespace

bool compilable(const Policy& policy) noexcept {
  if (!policy.usesLocation) return false;
  for (const Step& st : policy.steps)
    if (config::stepInfo(st.kind).usesClientBeyondLocation) return false;
  return true;
}

namespace {

// The location keys of both tries (locationKey(): what a policy's steps read
// of a location), with or without coordinates: each class's key, and one
// location per key. Built once per compile and shape, not per binding: with
// coordinates DB-IP has ~700k classes, without ~500 keys.
struct KeyTable {
  std::vector<std::uint32_t> classKey[2];  // per trie, per class
  std::vector<const geo::Location*> location;
  KeyTable(const Gslb& g, bool coords) {
    std::unordered_map<std::string, std::uint32_t> ids;
    for (int fam = 0; fam < 2; ++fam) {
      const auto& classes = g.locationTries[fam]->classes;
      classKey[fam].resize(classes.size());
      for (std::size_t ci = 0; ci < classes.size(); ++ci) {
        auto [it, inserted] = ids.emplace(locationKey(classes[ci], coords),
                                          static_cast<std::uint32_t>(location.size()));
        if (inserted) location.push_back(&classes[ci]);
        classKey[fam][ci] = it->second;
      }
    }
  }
};

struct VectorHash {
  std::size_t operator()(const std::vector<std::uint32_t>& v) const noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (const std::uint32_t x : v) h = (h ^ x) * 0x100000001b3ull;
    return static_cast<std::size_t>(h);
  }
};

// Both families' trees for one partition of the location keys.
struct TreePair {
  std::shared_ptr<const CompiledTree> trees[2];
};

// Binding `bi`'s decisions (both question families) from those of a pool
// alike, `c.policies[from]` and the next: the same key partition and trees,
// the outcomes renamed to `bi`'s pool. Checks a sample of keys against the
// pipeline first (`kShapeChecks`, spread over the keys): false, and nothing
// appended, when one differs (poolShape() missed an input: the caller
// evaluates this pool in full).
inline constexpr std::size_t kShapeChecks = 64;

bool shareAlike(const Gslb& g, const health::HealthView* health, const KeyTable& keys,
                std::size_t bi, std::size_t from, CompiledDecisions& c) {
  const std::int32_t pool = static_cast<std::int32_t>(g.bindings[bi].pool);
  CompiledPolicy out[2];
  for (std::size_t j = 0; j < 2; ++j) {
    const CompiledPolicy& src = c.policies[from + j];
    CompiledPolicy& cp = out[j];
    cp.coords = src.coords;
    cp.keyOutcome = src.keyOutcome;
    cp.trees[0] = src.trees[0];
    cp.trees[1] = src.trees[1];
    cp.outcomes = src.outcomes;
    for (CompiledOutcome& o : cp.outcomes)
      if (!o.fellBack) o.pool = pool;  // a fallback is the same pool for both (poolShape)
    PoolQuery q;
    q.binding = static_cast<std::uint32_t>(bi);
    q.qtype = j == 0 ? dns::toU16(dns::Type::A) : dns::toU16(dns::Type::AAAA);
    const std::size_t nkeys = keys.location.size();
    const std::size_t checks = std::min(nkeys, kShapeChecks);
    c.stats.evaluated += checks;
    for (std::size_t i = 0; i < checks; ++i) {
      const std::size_t k = nkeys <= kShapeChecks ? i : i * (nkeys - 1) / (kShapeChecks - 1);
      PoolDecision pd;
      CompiledOutcome o;
      decidePoolAt(g, q, health, *keys.location[k], pd, o);
      if (!(o == cp.outcomes[(*cp.keyOutcome)[k]])) return false;
    }
  }
  for (CompiledPolicy& cp : out) {
    c.stats.trees += 2;  // distinct, leaves: counted with the pool alike's
    c.stats.bytes += cp.outcomes.capacity() * sizeof(CompiledOutcome);
    c.stats.outcomes += cp.outcomes.size();
    c.policies.push_back(std::move(cp));
  }
  ++c.stats.shared;
  return true;
}

}  // namespace

std::shared_ptr<const CompiledDecisions> compileDecisions(
    std::shared_ptr<const Gslb> g, std::shared_ptr<const health::HealthView> health,
    const CompiledDecisions* previous, std::size_t parallelKeys) {
  auto c = std::make_shared<CompiledDecisions>();
  c->gslb = g;
  c->health = health;
  if (!g) return c;
  const bool sameModel = previous && previous->gslb == g;
  c->binding.assign(g->bindings.size(), -1);
  if (!g->locationTries[0] || !g->locationTries[1]) return c;
  std::unique_ptr<KeyTable> keyTables[2];  // without, with coordinates; made when first needed
  // A tree depends only on which keys share an outcome: its leaves hold
  // outcome numbers, and outcomes are numbered by their first key. Decisions
  // that partition the keys alike share their trees (1,000 pools of one
  // shape: one tree per family and question type), and so do a previous
  // compile's (a health publish that moves no boundary builds nothing).
  std::unordered_map<std::vector<std::uint32_t>, TreePair, VectorHash> trees[2];
  std::unordered_set<const CompiledTree*> fromPrevious, seen;  // seen: distinct trees in use
  if (sameModel)
    for (const CompiledPolicy& p : previous->policies)
      if (p.keyOutcome && p.trees[0] && p.trees[1]) {
        trees[p.coords ? 1 : 0].emplace(*p.keyOutcome, TreePair{{p.trees[0], p.trees[1]}});
        fromPrevious.insert(p.trees[0].get());
        fromPrevious.insert(p.trees[1].get());
      }
  // A binding's decisions depend on its pool and its policy only (the member
  // pick, which reads the name, runs per query): bindings that share both
  // share their decisions.
  std::unordered_map<std::uint64_t, std::int32_t> byPoolPolicy;
  // (pool shape, policy) -> the index in c->policies of the first pool's A
  // decisions (its AAAA ones follow).
  std::unordered_map<std::string, std::size_t> byShape;
  for (std::size_t bi = 0; bi < g->bindings.size(); ++bi) {
    const Policy& policy = g->policies[g->bindings[bi].policy];
    // Not using the location: answers do not depend on the client (scope 0).
    if (!compilable(policy)) continue;
    const std::uint64_t key =
        (std::uint64_t{g->bindings[bi].pool} << 32) | g->bindings[bi].policy;
    if (auto it = byPoolPolicy.find(key); it != byPoolPolicy.end()) {
      c->binding[bi] = it->second;
      continue;
    }
    byPoolPolicy.emplace(key, static_cast<std::int32_t>(c->policies.size()));
    bool coords = false;
    for (const Step& st : policy.steps) coords = coords || st.kind == StepKind::Nearest;
    if (!keyTables[coords]) keyTables[coords] = std::make_unique<KeyTable>(*g, coords);
    const KeyTable& keys = *keyTables[coords];
    c->binding[bi] = static_cast<std::int32_t>(c->policies.size());
    // A pool alike (poolShape) under this policy was evaluated already: its
    // outcomes, renamed to this pool, and its trees.
    const std::uint32_t pool = g->bindings[bi].pool;
    std::string shape = poolShape(*g, pool, health.get());
    shape.append(reinterpret_cast<const char*>(&g->bindings[bi].policy),
                 sizeof g->bindings[bi].policy);
    if (auto alike = byShape.find(shape); alike != byShape.end()) {
      if (shareAlike(*g, health.get(), keys, bi, alike->second, *c)) continue;
      ++c->stats.shapeMismatches;  // poolShape() missed an input: evaluate this pool in full
    } else {
      byShape.emplace(std::move(shape), static_cast<std::size_t>(c->policies.size()));
    }
    for (const std::uint16_t qtype : {dns::toU16(dns::Type::A), dns::toU16(dns::Type::AAAA)}) {
      CompiledPolicy cp;
      cp.coords = coords;
      PoolQuery q;
      q.binding = static_cast<std::uint32_t>(bi);
      q.qtype = qtype;
      const std::size_t nkeys = keys.location.size();
      auto keyOutcome = std::make_shared<std::vector<std::uint32_t>>(nkeys);
      // Keys [from, to): each one's outcome, numbered in `outcomes` by its
      // first key. decidePoolAt() reads only the immutable model and health
      // view (it serves worker threads too).
      auto evaluate = [&g, &health, &keys, &q](std::size_t from, std::size_t to,
                                               std::vector<CompiledOutcome>& outcomes,
                                               std::uint32_t* ids) {
        for (std::size_t k = from; k < to; ++k) {
          PoolDecision pd;
          CompiledOutcome o;
          decidePoolAt(*g, q, health.get(), *keys.location[k], pd, o);
          ids[k - from] = outcomeNumber(outcomes, o);
        }
      };
      if (nkeys >= parallelKeys && nkeys >= 2) {
        // Coordinate keys (a nearest step: ~560k on DB-IP) on two threads,
        // the second half's outcomes renumbered after the first's: the same
        // numbering as one pass in key order.
        const std::size_t mid = nkeys / 2;
        std::vector<CompiledOutcome> second;
        std::uint32_t* ids = keyOutcome->data();
        bothAtOnce([&] { evaluate(0, mid, cp.outcomes, ids); },
                   [&] { evaluate(mid, nkeys, second, ids + mid); });
        std::vector<std::uint32_t> renumber(second.size());
        for (std::size_t j = 0; j < second.size(); ++j)
          renumber[j] = outcomeNumber(cp.outcomes, second[j]);
        for (std::size_t k = mid; k < nkeys; ++k) (*keyOutcome)[k] = renumber[(*keyOutcome)[k]];
      } else {
        evaluate(0, nkeys, cp.outcomes, keyOutcome->data());
      }
      c->stats.evaluated += nkeys;
      auto [it, fresh] = trees[coords].try_emplace(*keyOutcome);
      if (fresh) {
        auto build = [&g, &keys, &keyOutcome](int fam) {
          const auto& classKey = keys.classKey[fam];
          std::vector<std::uint32_t> classOutcome(classKey.size());
          for (std::size_t ci = 0; ci < classKey.size(); ++ci)
            classOutcome[ci] = (*keyOutcome)[classKey[ci]];
          auto t = std::make_shared<CompiledTree>();
          TreeBuilder(*g->locationTries[fam], classOutcome, *t).run();
          return t;
        };
        // Big tries (DB-IP's: 0.5M and 0.8M nodes) merge on two threads,
        // IPv6 on the second; small ones are not worth a thread.
        if (g->locationTries[1]->nodes.size() >= kParallelMergeNodes) {
          auto& pair = it->second.trees;
          bothAtOnce([&] { pair[0] = build(0); }, [&] { pair[1] = build(1); });
        } else {
          for (int fam = 0; fam < 2; ++fam) it->second.trees[fam] = build(fam);
        }
      }
      cp.keyOutcome = std::move(keyOutcome);
      for (int fam = 0; fam < 2; ++fam) {
        cp.trees[fam] = it->second.trees[fam];
        ++c->stats.trees;
        if (fromPrevious.count(cp.trees[fam].get())) ++c->stats.reused;
        if (seen.insert(cp.trees[fam].get()).second) {
          ++c->stats.distinct;
          c->stats.leaves += cp.trees[fam]->leaves.size();
          c->stats.bytes += cp.trees[fam]->bytes();
        }
      }
      c->stats.bytes += cp.outcomes.capacity() * sizeof(CompiledOutcome) +
                        cp.keyOutcome->capacity() * sizeof(std::uint32_t);
      c->stats.outcomes += cp.outcomes.size();
      c->policies.push_back(std::move(cp));
    }
  }
  return c;
}

bool decideCompiled(const CompiledDecisions& c, const PoolQuery& q, PoolDecision& out,
                    CompiledHit* hit) noexcept {
  if (q.binding >= c.binding.size() || c.binding[q.binding] < 0) return false;
  const IpAddress& given = q.client.address;
  if (given.family != 4 && given.family != 6) return false;
  // IPv4-mapped clients are located as IPv4 (Locator::locate); their scope
  // is in IPv6 bits.
  const bool mapped = given.family == 6 && given.isV4Mapped();
  IpAddress v4;
  if (mapped) v4 = given.v4FromMapped();
  const IpAddress& a = mapped ? v4 : given;
  const CompiledPolicy& cp = c.policies[static_cast<std::size_t>(c.binding[q.binding]) +
                                        (q.qtype == dns::toU16(dns::Type::AAAA) ? 1u : 0u)];
  const CompiledTree::Hit h = cp.trees[a.family == 4 ? 0 : 1]->lookup(a);
  if (h.leaf->outcome >= cp.outcomes.size()) return false;
  const unsigned prefix = h.prefix + (mapped ? 96u : 0u);
  const std::uint8_t scope =
      static_cast<std::uint8_t>(prefix < q.client.sourcePrefix ? prefix : q.client.sourcePrefix);
  if (hit) {
    hit->prefix = static_cast<std::uint8_t>(prefix);
    hit->networks = h.leaf->networks;
  }
  decideFromOutcome(*c.gslb, cp.outcomes[h.leaf->outcome], q, c.health.get(), scope, out);
  return true;
}

namespace {

// A tree with one compiled prefix: `a`'s block of `prefix` bits is leaf 1
// (outcome 0), every other block leaf 0 (not compiled here).
std::shared_ptr<const CompiledTree> pathTree(const IpAddress& a, unsigned prefix,
                                             std::uint32_t networks) {
  auto t = std::make_shared<CompiledTree>();
  t->leaves.push_back({CompiledTree::kNoOutcome, 0});
  t->leaves.push_back({0, networks});
  if (prefix == 0) {
    t->root = CompiledTree::kLeaf | 1;
    return t;
  }
  for (unsigned depth = 0; depth < prefix; ++depth) {
    const std::uint32_t next =
        depth + 1 == prefix ? CompiledTree::kLeaf | 1 : static_cast<std::uint32_t>(depth + 1);
    const bool bit = a.bit(depth);
    t->nodes.push_back(bit ? CompiledTree::kLeaf : next);
    t->nodes.push_back(bit ? next : CompiledTree::kLeaf);
  }
  t->root = 0;
  return t;
}

std::shared_ptr<const CompiledTree> emptyTree() {
  auto t = std::make_shared<CompiledTree>();
  t->leaves.push_back({CompiledTree::kNoOutcome, 0});
  t->root = CompiledTree::kLeaf;
  return t;
}

}  // namespace

std::shared_ptr<const CompiledDecisions> compileDecisionsAround(
    std::shared_ptr<const Gslb> g, std::shared_ptr<const health::HealthView> health,
    const PoolQuery& query, std::size_t maxNodes) {
  auto c = std::make_shared<CompiledDecisions>();
  c->gslb = g;
  c->health = health;
  if (!g) return c;
  c->binding.assign(g->bindings.size(), -1);
  const IpAddress& given = query.client.address;
  if (query.binding >= g->bindings.size() || !g->locator ||
      (given.family != 4 && given.family != 6))
    return c;
  if (!compilable(g->policies[g->bindings[query.binding].policy])) return c;
  const bool mapped = given.family == 6 && given.isV4Mapped();
  const IpAddress a = mapped ? given.v4FromMapped() : given;
  const bool aaaa = query.qtype == dns::toU16(dns::Type::AAAA);
  // As compileDecisions() evaluates a class: the binding, the question
  // family's type and the trie's family, nothing else of the client.
  PoolQuery q;
  q.binding = query.binding;
  q.qtype = aaaa ? dns::toU16(dns::Type::AAAA) : dns::toU16(dns::Type::A);
  q.client.address.family = a.family;
  std::vector<CompiledOutcome> outcomes;
  const geo::BlockAround r = geo::blockAround(
      *g->locator, a, g->locationCoords,
      [&](const geo::Location& loc) {
        PoolDecision pd;
        CompiledOutcome o;
        decidePoolAt(*g, q, health.get(), loc, pd, o);
        return outcomeNumber(outcomes, o);
      },
      maxNodes);
  c->around.exact = r.exact;
  c->around.nodes = r.nodes;
  CompiledPolicy asked, other;
  asked.outcomes.push_back(outcomes[r.outcome]);
  const int fam = a.family == 4 ? 0 : 1;
  asked.trees[fam] = pathTree(a, r.prefix, r.networks);
  asked.trees[1 - fam] = emptyTree();
  other.trees[0] = other.trees[1] = emptyTree();
  c->binding[query.binding] = 0;
  c->policies.push_back(aaaa ? std::move(other) : std::move(asked));
  c->policies.push_back(aaaa ? std::move(asked) : std::move(other));
  c->stats.trees = 1;
  c->stats.distinct = 1;
  c->stats.leaves = 1;
  c->stats.outcomes = 1;
  return c;
}

}  // namespace geodns::gslb
