// bench/explain-around builds and runs this: what `geodnsd explain` computes
// around one client (gslb::compileDecisionsAround over the databases read
// on demand) against the server's whole compiled trees (compileDecisions),
// on a real config (DB-IP Lite City through examples/geodnsd.json): for the
// 10 leaves that merged the most networks and N random leaves of every tree
// (binding x A/AAAA x client family), a random address inside each; prints
// every mismatch of prefix, networks merged, region, outcome, members or
// scope, the slow ones (> 20 ms) and the worst and mean time per client.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "config/config.h"
#include "gslb/compiled.h"

using namespace geodns;

namespace {

struct LeafAt {
  IpAddress a;
  unsigned prefix;
  std::uint32_t networks, outcome;
};

void leaves(const gslb::CompiledTree& t, std::uint32_t v, IpAddress at, unsigned depth,
            std::vector<LeafAt>& out) {
  if (v >= gslb::CompiledTree::kLeaf) {
    const auto& l = t.leaves[v & ~gslb::CompiledTree::kLeaf];
    out.push_back({at, depth, l.networks, l.outcome});
    return;
  }
  for (unsigned b = 0; b < 2; ++b) {
    IpAddress c = at;
    if (b)
      c.bytes[depth / 8] = static_cast<std::uint8_t>(c.bytes[depth / 8] | (0x80u >> (depth % 8)));
    leaves(t, t.nodes[std::size_t{v} * 2 + b], c, depth + 1, out);
  }
}

int region(const gslb::PoolDecision& pd) {
  return pd.decision.chosen ? pd.decision.chosen->region : -1;
}

std::string members(const gslb::PoolDecision& pd) {
  std::string s;
  for (std::uint8_t i = 0; i < pd.decision.picked; ++i)
    s += pd.decision.members[i]->addr.str() + " ";
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CONFIG [RANDOM_LEAVES_PER_TREE]\n", argv[0]);
    return 2;
  }
  ErrorList errors;
  auto cfg = config::loadConfigFile(argv[1], errors);
  if (!cfg) return 2;
  auto full = gslb::Gslb::build(cfg->gslb, errors);
  auto onDemand = gslb::Gslb::build(cfg->gslb, errors, nullptr, gslb::Gslb::GeoOpen::OnDemand);
  if (!full || !onDemand) return 2;
  auto compiled = gslb::compileDecisions(full, nullptr);
  const std::size_t randomN = argc > 2 ? std::stoul(argv[2]) : 2000;
  std::mt19937_64 rng(7);
  const std::string qname("\3www\0", 5);
  double worst = 0, total = 0;
  std::size_t bad = 0, checked = 0;
  for (std::size_t bi = 0; bi < full->bindings.size(); ++bi) {
    if (compiled->binding[bi] < 0) continue;
    for (int aaaa = 0; aaaa < 2; ++aaaa) {
      const auto& cp = compiled->policies[static_cast<std::size_t>(compiled->binding[bi]) + aaaa];
      for (int fam = 0; fam < 2; ++fam) {
        std::vector<LeafAt> all;
        IpAddress zero{};
        zero.family = fam == 0 ? 4 : 6;
        leaves(*cp.trees[fam], cp.trees[fam]->root, zero, 0, all);
        std::vector<LeafAt> pick = all;
        const std::size_t top = std::min<std::size_t>(10, pick.size());
        std::partial_sort(pick.begin(), pick.begin() + top, pick.end(),
                          [](const LeafAt& x, const LeafAt& y) { return x.networks > y.networks; });
        pick.resize(top);
        std::printf(
            "binding %zu %s IPv%d clients: %zu prefixes, the widest merge %u networks (%s/%u)\n",
            bi, aaaa ? "AAAA" : "A", fam == 0 ? 4 : 6, all.size(), pick[0].networks,
            pick[0].a.str().c_str(), pick[0].prefix);
        for (std::size_t i = 0; i < randomN; ++i) pick.push_back(all[rng() % all.size()]);
        for (const LeafAt& l : pick) {
          if (l.outcome == gslb::CompiledTree::kNoOutcome) continue;
          gslb::PoolQuery q;
          q.binding = static_cast<std::uint32_t>(bi);
          q.qtype = aaaa ? 28 : 1;
          q.qname = name::asSpan(qname);
          q.client = {l.a, l.a.bits(), true};
          for (unsigned b = l.prefix; b < l.a.bits(); ++b)
            if (rng() & 1)
              q.client.address.bytes[b / 8] =
                  static_cast<std::uint8_t>(q.client.address.bytes[b / 8] | (0x80u >> (b % 8)));
          const auto t0 = std::chrono::steady_clock::now();
          auto around = gslb::compileDecisionsAround(onDemand, nullptr, q);
          const double s =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          total += s;
          worst = std::max(worst, s);
          ++checked;
          gslb::PoolDecision a, f;
          gslb::CompiledHit ha, hf;
          const bool okA = gslb::decideCompiled(*around, q, a, &ha);
          const bool okF = gslb::decideCompiled(*compiled, q, f, &hf);
          if (!okA || !okF || ha.prefix != hf.prefix || ha.networks != hf.networks ||
              region(a) != region(f) || a.outcome != f.outcome || members(a) != members(f) ||
              a.scope != f.scope) {
            ++bad;
            std::printf("MISMATCH %s %s: around /%u %u networks, tree /%u %u networks\n",
                        q.client.address.str().c_str(), aaaa ? "AAAA" : "A", ha.prefix, ha.networks,
                        hf.prefix, hf.networks);
          }
          if (s > 0.02)
            std::printf("  %.3f s: %s /%u, %u networks, %zu blocks walked\n", s,
                        q.client.address.str().c_str(), ha.prefix, ha.networks,
                        around->around.nodes);
        }
      }
    }
  }
  std::printf("checked %zu clients, %zu mismatches, worst %.4f s, mean %.5f s\n", checked, bad,
              worst, checked ? total / static_cast<double>(checked) : 0.0);
  return bad ? 1 : 0;
}
