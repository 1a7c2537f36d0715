// etcd_bench: what one etcd sustains through EtcdClient on this machine, as
// input to the fleet's write budget (docs/design/cluster.md). Starts its own
// single member on loopback (data in a temp dir) unless --endpoint is given.
//
//   build/release/tests/etcd_bench [--seconds N] [--value-bytes B] [--watchers K]
//                                  [--members M | --endpoint URL]
//
// Phases: sequential puts (1 client), concurrent puts (4 clients), txns of
// 64 puts (2 clients), lease keep-alives (1 client), with a watch on the
// prefix counting what it receives; then a watch replaying all of it from
// the first revision (the catch-up after a disconnection), by one watcher and
// by K at once (the fan-out to a fleet).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "health/cluster/etcd_client.h"
#include "support/etcd_cluster.h"

using namespace geodns;
using namespace geodns::health::cluster;
using BenchClock = std::chrono::steady_clock;

namespace {

SteadyClock gClock;

double secondsSince(BenchClock::time_point t) {
  return std::chrono::duration<double>(BenchClock::now() - t).count();
}

std::unique_ptr<EtcdClient> makeClient(const std::string& url) {
  EtcdOptions o;
  o.endpoints = {url};
  o.requestTimeout = std::chrono::milliseconds(5000);
  auto c = EtcdClient::create(o, gClock);
  if (!c) {
    std::fprintf(stderr, "client: %s\n", c.error().str().c_str());
    std::exit(1);
  }
  return std::move(c.value());
}

struct Phase {
  std::uint64_t ops = 0;
  std::uint64_t keys = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  std::vector<double> latMs;
};

// Runs `threads` workers calling `op(worker, i)` for `seconds`.
template <class Op>
Phase run(int threads, double seconds, Op op) {
  Phase p;
  std::atomic<std::uint64_t> ops{0}, errors{0}, keys{0};
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(threads));
  const auto t0 = BenchClock::now();
  std::vector<std::thread> ts;
  for (int w = 0; w < threads; ++w) {
    ts.emplace_back([&, w] {
      for (std::uint64_t i = 0; secondsSince(t0) < seconds; ++i) {
        const auto s = BenchClock::now();
        const int k = op(w, i);
        if (k < 0) {
          ++errors;
          continue;
        }
        lat[static_cast<std::size_t>(w)].push_back(secondsSince(s) * 1000);
        ++ops;
        keys += static_cast<std::uint64_t>(k);
      }
    });
  }
  for (auto& t : ts) t.join();
  p.seconds = secondsSince(t0);
  p.ops = ops;
  p.errors = errors;
  p.keys = keys;
  for (auto& l : lat) p.latMs.insert(p.latMs.end(), l.begin(), l.end());
  std::sort(p.latMs.begin(), p.latMs.end());
  return p;
}

double pct(const std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

// Counts what a watch on the prefix receives.
struct Counter {
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::int64_t> lastRev{0};
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::size_t valueBytes = 100;
  std::string endpoint;
  int watchers = 4;
  int members = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--value-bytes") && i + 1 < argc)
      valueBytes = static_cast<std::size_t>(std::atol(argv[++i]));
    else if (!std::strcmp(argv[i], "--endpoint") && i + 1 < argc)
      endpoint = argv[++i];
    else if (!std::strcmp(argv[i], "--watchers") && i + 1 < argc)
      watchers = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--members") && i + 1 < argc)
      members = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: %s [--seconds N] [--value-bytes B] [--watchers K] [--members M | "
                   "--endpoint URL]\n",
                   argv[0]);
      return 2;
    }
  }
  std::unique_ptr<test::EtcdCluster> cluster;
  if (endpoint.empty()) {
    const std::string etcd = test::findProgram("GEODNS_ETCD", "etcd");
    if (etcd.empty()) {
      std::printf("SKIPPED: etcd not found\n");
      return 77;
    }
    test::EtcdCluster::Options co;
    co.members = members;
    cluster = std::make_unique<test::EtcdCluster>(co);
    const std::string err = cluster->start(etcd);
    if (!err.empty()) {
      std::fprintf(stderr, "etcd: %s\n", err.c_str());
      return 1;
    }
    // Clients talk to the first member (a follower forwards writes to the
    // leader, as for most nodes of a fleet).
    endpoint = cluster->clientUrl(0);
    std::printf("etcd, %d member(s) on loopback, data under %s\n", members, cluster->dir().c_str());
  }
  const std::string value(valueBytes, 'v');
  const std::string prefix = "/bench/";

  auto watchClient = makeClient(endpoint);
  Counter live;
  WatchCancel liveCancel;
  auto first = makeClient(endpoint)->put({prefix + "start", "x", 0, false});
  if (!first) {
    std::fprintf(stderr, "put: %s\n", first.error().str().c_str());
    return 1;
  }
  const std::int64_t startRev = first->revision;
  std::thread watcher([&] {
    (void)watchClient->watch(
        WatchRequest::prefix(prefix, startRev + 1),
        [&](const WatchUpdate& u) {
          for (const auto& e : u.events) {
            ++live.events;
            live.bytes += e.kv.key.size() + e.kv.value.size();
            live.lastRev = e.kv.modRevision;
          }
        },
        liveCancel);
  });

  std::vector<std::unique_ptr<EtcdClient>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(makeClient(endpoint));
  auto key = [&](int w, std::uint64_t i) {
    return prefix + "w" + std::to_string(w) + "/" + std::to_string(i % 2000);
  };
  std::int64_t lastWrite = startRev;
  auto noteRev = [&](std::int64_t r) {
    static std::mutex m;
    std::lock_guard l(m);
    lastWrite = std::max(lastWrite, r);
  };

  auto report = [&](const char* name, const Phase& p, std::uint64_t ev0,
                    BenchClock::time_point t0) {
    // Wait (bounded) for the watch to receive everything written so far.
    const auto waitFrom = BenchClock::now();
    while (live.lastRev.load() < lastWrite && secondsSince(waitFrom) < 10)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const double lag = secondsSince(waitFrom) * 1000;
    const double span = secondsSince(t0);
    std::printf(
        "%-28s %8.0f ops/s %8.0f keys/s  p50 %6.2f ms  p99 %6.2f ms  errors %llu | watch "
        "%8.0f events/s, behind by %.0f ms at the end\n",
        name, static_cast<double>(p.ops) / p.seconds, static_cast<double>(p.keys) / p.seconds,
        pct(p.latMs, 0.5), pct(p.latMs, 0.99), static_cast<unsigned long long>(p.errors),
        static_cast<double>(live.events.load() - ev0) / span, lag);
  };

  {
    const auto ev0 = live.events.load();
    const auto t0 = BenchClock::now();
    Phase p = run(1, seconds, [&](int w, std::uint64_t i) {
      auto r = clients[0]->put({key(w, i), value, 0, false});
      if (!r) return -1;
      noteRev(r->revision);
      return 1;
    });
    report("put, 1 client", p, ev0, t0);
  }
  {
    const auto ev0 = live.events.load();
    const auto t0 = BenchClock::now();
    Phase p = run(4, seconds, [&](int w, std::uint64_t i) {
      auto r = clients[static_cast<std::size_t>(w)]->put({key(w, i), value, 0, false});
      if (!r) return -1;
      noteRev(r->revision);
      return 1;
    });
    report("put, 4 clients", p, ev0, t0);
  }
  {
    const auto ev0 = live.events.load();
    const auto t0 = BenchClock::now();
    Phase p = run(2, seconds, [&](int w, std::uint64_t i) {
      TxnRequest t;
      for (std::uint64_t k = 0; k < 64; ++k)
        t.success.emplace_back(PutRequest{key(w + 10, i * 64 + k), value, 0, false});
      auto r = clients[static_cast<std::size_t>(w)]->txn(t);
      if (!r) return -1;
      noteRev(r->revision);
      return 64;
    });
    report("txn of 64 puts, 2 clients", p, ev0, t0);
  }
  {
    auto lease = clients[0]->leaseGrant(60);
    if (lease) {
      const auto ev0 = live.events.load();
      const auto t0 = BenchClock::now();
      Phase p = run(1, seconds, [&](int, std::uint64_t) {
        return clients[0]->leaseKeepAlive(lease->id) ? 0 : -1;
      });
      report("lease keepalive, 1 client", p, ev0, t0);
    }
  }
  liveCancel.cancel();
  watcher.join();

  // Catch-up: a watch replaying the whole history written above.
  {
    Counter replay;
    WatchCancel cancel;
    const std::int64_t until = lastWrite;
    const auto t0 = BenchClock::now();
    std::thread t([&] {
      (void)watchClient->watch(
          WatchRequest::prefix(prefix, startRev + 1),
          [&](const WatchUpdate& u) {
            for (const auto& e : u.events) {
              ++replay.events;
              replay.bytes += e.kv.key.size() + e.kv.value.size();
              replay.lastRev = e.kv.modRevision;
            }
            if (replay.lastRev.load() >= until) cancel.cancel();
          },
          cancel);
    });
    t.join();
    const double s = secondsSince(t0);
    std::printf("watch replay of %llu events: %.2f s, %.0f events/s, %.1f MB/s of keys+values\n",
                static_cast<unsigned long long>(replay.events.load()), s,
                static_cast<double>(replay.events.load()) / s,
                static_cast<double>(replay.bytes.load()) / s / 1e6);
  }
  // Fan-out: several watchers replaying at once (every node of a fleet
  // watches the same prefix): what etcd delivers in aggregate.
  if (watchers > 1) {
    std::vector<std::unique_ptr<EtcdClient>> wc;
    std::vector<std::unique_ptr<WatchCancel>> cancels;
    std::vector<std::unique_ptr<Counter>> counts;
    for (int i = 0; i < watchers; ++i) {
      wc.push_back(makeClient(endpoint));
      cancels.push_back(std::make_unique<WatchCancel>());
      counts.push_back(std::make_unique<Counter>());
    }
    const std::int64_t until = lastWrite;
    const auto t0 = BenchClock::now();
    std::vector<std::thread> ts;
    for (int i = 0; i < watchers; ++i) {
      const auto k = static_cast<std::size_t>(i);
      ts.emplace_back([&, k] {
        (void)wc[k]->watch(
            WatchRequest::prefix(prefix, startRev + 1),
            [&, k](const WatchUpdate& u) {
              for (const auto& e : u.events) {
                ++counts[k]->events;
                counts[k]->lastRev = e.kv.modRevision;
              }
              if (counts[k]->lastRev.load() >= until) cancels[k]->cancel();
            },
            *cancels[k]);
      });
    }
    for (auto& t : ts) t.join();
    const double s = secondsSince(t0);
    std::uint64_t total = 0;
    for (const auto& c : counts) total += c->events.load();
    std::printf("%d watchers replaying at once: %llu events in %.2f s, %.0f events/s in total\n",
                watchers, static_cast<unsigned long long>(total), s,
                static_cast<double>(total) / s);
  }
  return 0;
}
