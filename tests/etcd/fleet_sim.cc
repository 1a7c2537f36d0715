// fleet_sim: many simulated fleet nodes against one real etcd member on
// loopback (issue 16 item 6). Each node is the real health::cluster::Fleet
// (its lease, node key, three watches, batched and sharded verdict writes)
// with its own EtcdClient and a sink that applies nothing; only the prober is
// simulated: each node publishes a verdict for every one of T targets, then
// flips C random verdicts per second. Reports what etcd and each node see:
//
//   - the start-up burst: every node publishing all T verdicts at once;
//   - steady churn: etcd writes/s (all nodes), and per node the watch
//     events/s and bytes/s it receives (keys + values), for the sizing in
//     docs/operator-guide.md §12 and bench/RESULTS.md.
//
//   build/release/tests/fleet_sim [--nodes N] [--targets T] [--changes-per-s C] [--seconds S]
//
// Exits 77 (skipped) when etcd is not installed. Loopback only.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "health/cluster/etcd_client.h"
#include "health/cluster/fleet.h"
#include "support/etcd_cluster.h"

using namespace geodns;
using namespace geodns::health;
using namespace geodns::health::cluster;
using BenchClock = std::chrono::steady_clock;

namespace {

SteadyClock gClock;

double secondsSince(BenchClock::time_point t) {
  return std::chrono::duration<double>(BenchClock::now() - t).count();
}

struct NullSink final : FleetSink {
  bool applyOverrides(const std::vector<OverrideRecord>&) override { return true; }
  void applyFailover(const FailoverCommand&) override {}
  void peersChanged() override {}
};

struct Node {
  std::unique_ptr<EtcdClient> client;
  NullSink sink;
  std::unique_ptr<Fleet> fleet;
};

struct Totals {
  std::uint64_t writes = 0, events = 0, bytes = 0, errors = 0;
};

Totals totals(const std::vector<std::unique_ptr<Node>>& nodes) {
  Totals t;
  for (const auto& n : nodes) {
    const FleetCounters& c = n->fleet->counters();
    t.writes += c.writes.load();
    t.events += c.watchEvents.load();
    t.bytes += c.watchBytes.load();
    t.errors += c.errors.load();
  }
  return t;
}

// Waits (bounded) until the watches stop receiving: every write delivered.
void settle(const std::vector<std::unique_ptr<Node>>& nodes, double maxSeconds) {
  const auto t0 = BenchClock::now();
  std::uint64_t last = totals(nodes).events;
  auto stableSince = BenchClock::now();
  while (secondsSince(t0) < maxSeconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::uint64_t now = totals(nodes).events;
    if (now != last) {
      last = now;
      stableSince = BenchClock::now();
    } else if (secondsSince(stableSince) >= 1.0) {
      return;
    }
  }
}

std::string probeKey(int target) {
  return "http:127.0.0.1:80/t" + std::to_string(target);
}

}  // namespace

int main(int argc, char** argv) {
  int nodesWanted = 50, targets = 2000, changesPerSec = 1;
  double seconds = 10;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--nodes") && i + 1 < argc)
      nodesWanted = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--targets") && i + 1 < argc)
      targets = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--changes-per-s") && i + 1 < argc)
      changesPerSec = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: %s [--nodes N] [--targets T] [--changes-per-s C] [--seconds S]\n",
                   argv[0]);
      return 2;
    }
  }
  const std::string etcd = test::findProgram("GEODNS_ETCD", "etcd");
  if (etcd.empty()) {
    std::printf("SKIPPED: etcd not found\n");
    return 77;
  }
  test::EtcdCluster cluster(test::EtcdCluster::Options{});
  if (const std::string err = cluster.start(etcd); !err.empty()) {
    std::fprintf(stderr, "etcd: %s\n", err.c_str());
    return 1;
  }
  std::printf("etcd: 1 member on loopback, data under %s\n", cluster.dir().c_str());
  std::printf("fleet: %d nodes x %d targets, %d verdict change(s) per node per second\n",
              nodesWanted, targets, changesPerSec);

  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < nodesWanted; ++i) {
    auto n = std::make_unique<Node>();
    EtcdOptions eo;
    eo.endpoints = {cluster.clientUrl(0)};
    eo.requestTimeout = std::chrono::milliseconds(5000);
    auto c = EtcdClient::create(eo, gClock);
    if (!c) {
      std::fprintf(stderr, "client: %s\n", c.error().str().c_str());
      return 1;
    }
    n->client = std::move(c.value());
    FleetOptions fo;
    fo.keys.prefix = "/sim/";
    fo.node = "n" + std::to_string(i);
    fo.site = "s" + std::to_string(i % 10);
    fo.version = "sim";
    n->fleet = std::make_unique<Fleet>(*n->client, gClock, fo, n->sink);
    nodes.push_back(std::move(n));
  }
  auto t0 = BenchClock::now();
  for (auto& n : nodes) n->fleet->start();
  bool joined = false;
  while (secondsSince(t0) < 60 && !joined) {
    joined = true;
    for (auto& n : nodes)
      joined = joined && n->fleet->status().nodes.size() == static_cast<std::size_t>(nodesWanted);
    if (!joined) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf("join: every node sees %d nodes after %.2f s%s\n", nodesWanted, secondsSince(t0),
              joined ? "" : " (NOT ALL: timed out)");
  settle(nodes, 10);

  // Start-up burst: every node publishes all its verdicts.
  const std::int64_t nowMs = gClock.unixSeconds() * 1000;
  Totals before = totals(nodes);
  t0 = BenchClock::now();
  for (auto& n : nodes)
    for (int t = 0; t < targets; ++t) n->fleet->ownVerdict(probeKey(t), State::Up, 10.0, nowMs);
  settle(nodes, 120);
  Totals after = totals(nodes);
  const double burst = secondsSince(t0) - 1.0;  // settle() waits a quiet second
  std::printf(
      "burst: %d x %d verdicts published and delivered in %.2f s: %llu etcd writes, per node "
      "%.0f watch events and %.1f KiB received\n",
      nodesWanted, targets, burst, static_cast<unsigned long long>(after.writes - before.writes),
      static_cast<double>(after.events - before.events) / nodesWanted,
      static_cast<double>(after.bytes - before.bytes) / nodesWanted / 1024.0);

  // Steady churn.
  std::mt19937 rng(42);
  std::vector<std::vector<bool>> up(static_cast<std::size_t>(nodesWanted),
                                    std::vector<bool>(static_cast<std::size_t>(targets), true));
  before = totals(nodes);
  t0 = BenchClock::now();
  int second = 0;
  while (secondsSince(t0) < seconds) {
    for (int i = 0; i < nodesWanted; ++i)
      for (int k = 0; k < changesPerSec; ++k) {
        const int t = static_cast<int>(rng() % static_cast<unsigned>(targets));
        auto&& u = up[static_cast<std::size_t>(i)][static_cast<std::size_t>(t)];
        u = !u;
        nodes[static_cast<std::size_t>(i)]->fleet->ownVerdict(
            probeKey(t), u ? State::Up : State::Down,
            u ? std::optional<double>(10.0) : std::nullopt, gClock.unixSeconds() * 1000);
      }
    ++second;
    const auto next = t0 + std::chrono::seconds(second);
    std::this_thread::sleep_until(
        std::min(next, t0 + std::chrono::duration_cast<BenchClock::duration>(
                                std::chrono::duration<double>(seconds))));
  }
  const double span = secondsSince(t0);
  settle(nodes, 30);
  after = totals(nodes);
  const double changes = static_cast<double>(nodesWanted) * changesPerSec;
  std::printf(
      "steady: %.0f verdict changes/s fleet-wide over %.1f s: etcd %.1f writes/s (verdict txns "
      "and node-key puts, all nodes) + %.1f lease keep-alives/s; per node %.1f watch events/s, "
      "%.2f KiB/s received; errors %llu\n",
      changes, span, static_cast<double>(after.writes - before.writes) / span,
      nodesWanted / 3.0,  // one keep-alive per lease_ttl_s / 3 (default 10 s TTL: every 3 s)
      static_cast<double>(after.events - before.events) / nodesWanted / span,
      static_cast<double>(after.bytes - before.bytes) / nodesWanted / span / 1024.0,
      static_cast<unsigned long long>(after.errors));
  for (auto& n : nodes) n->fleet->stop();
  return joined && after.errors == before.errors ? 0 : 1;
}
