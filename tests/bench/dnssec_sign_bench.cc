// Signing throughput per core for algorithms 13 and 15, the latency of one
// miss (what a worker stalls for), and the cost of a signature-cache hit.
// Keys come from ldns-keygen in a temp dir. No assertions: numbers only.
//
//   build/release/tests/dnssec_sign_bench [--seconds S] [--threads N]
//
// Pin it (taskset -c 1) and build with the release preset for numbers worth
// quoting; ctest runs it once with a tiny budget so it keeps building.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "zones/dnssec/sig_cache.h"
#include "zones/dnssec/signer.h"

using namespace geodns;
using namespace geodns::zones::dnssec;

namespace {

std::string keygen(const std::string& dir, const char* alg) {
  std::string cmd = "cd '" + dir + "' && ldns-keygen -a " + alg + " example.test";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {};
  char buf[256] = {};
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
  ::pclose(p);
  std::string base(buf, n);
  while (!base.empty() && (base.back() == '\n' || base.back() == '\r')) base.pop_back();
  return dir + "/" + base + ".private";
}

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  double budget = 2.0;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) budget = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  char tmpl[] = "/tmp/geodns-signbench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  const std::string dir = tmpl;
  SteadyClock clock;
  const std::string origin = *name::fromText("example.test");
  const std::string owner = *name::fromText("www.example.test");
  const std::vector<std::vector<std::uint8_t>> rd = {{192, 0, 2, 1}, {192, 0, 2, 2}};
  const std::vector<std::span<const std::uint8_t>> spans(rd.begin(), rd.end());
  const RRsetView view{.owner = name::asSpan(owner), .type = 1, .ttl = 30, .rdatas = spans};
  int rc = 0;

  for (const char* alg : {"ECDSAP256SHA256", "ED25519"}) {
    ErrorList errors;
    auto key = Key::load(keygen(dir, alg), name::asSpan(origin), errors);
    if (!key) {
      std::fprintf(stderr, "%s", errors.str().c_str());
      rc = 1;
      continue;
    }
    Signer signer(*key, {}, clock);

    // Throughput: `threads` threads signing the same RRset for `budget` seconds.
    std::atomic<long> total{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> pool;
    const TimePoint t0 = clock.now();
    const std::clock_t c0 = std::clock();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        std::vector<std::uint8_t> sig;
        long n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          if (signer.sign(view, sig) == SignStatus::Ok) ++n;
        }
        total.fetch_add(n);
      });
    while (seconds(clock.now() - t0) < budget)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stop = true;
    for (auto& th : pool) th.join();
    const double elapsed = seconds(clock.now() - t0);
    // CPU seconds of the whole process (the signing threads; the main thread
    // sleeps): signatures per CPU second is the per-core figure, and it holds
    // on a shared, loaded machine where the wall-clock rate does not.
    const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    const double rate = static_cast<double>(total.load()) / elapsed;
    const double perCore = static_cast<double>(total.load()) / (cpu > 0 ? cpu : 1);
    std::printf(
        "alg=%-15s threads=%d signatures=%ld wall_s=%.2f cpu_s=%.2f sign_per_s=%.0f "
        "sign_per_cpu_s=%.0f us_cpu_per_sign=%.1f\n",
        alg, threads, total.load(), elapsed, cpu, rate, perCore, 1e6 / perCore);

    // The cost of a hit: lookups of a pre-warmed RRset.
    SigCache cache;
    auto reader = cache.reader();
    ErrorList warm;
    cache.prewarm(signer, {&view, 1}, warm);
    std::uint8_t out[256];
    const std::int64_t now = clock.unixSeconds();
    long hits = 0, lookups = 0;
    const TimePoint h0 = clock.now();
    while (seconds(clock.now() - h0) < budget / 4) {
      for (int i = 0; i < 1000; ++i) hits += cache.lookup(reader, view, now, out) != 0;
      lookups += 1000;
    }
    const double hitNs = 1e9 * seconds(clock.now() - h0) / static_cast<double>(lookups);
    std::printf("alg=%-15s cache_hit_ns=%.0f hits=%ld/%ld\n", alg, hitNs, hits, lookups);
  }
  std::filesystem::remove_all(dir);
  return rc;
}
