// Proves the DNSSEC query-path pieces allocate nothing: signature-cache hits
// and misses, and writing compact-denial NSEC and NSEC3 white-lie records.
// Its own binary, because it replaces the global allocation functions (as
// tests/unit/server/alloc_test.cc does).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "core/wire/compress.h"
#include "zones/dnssec/denial.h"
#include "zones/dnssec/sig_cache.h"

namespace {
std::atomic<long> gAllocations{0};
}

// These replacements pair malloc with free on purpose; GCC's optimizer flags
// the inlined pairing of new/free as a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace geodns;
using namespace geodns::zones::dnssec;

namespace {

struct Sample {
  std::string owner;
  std::vector<std::vector<std::uint8_t>> rdatas;
  std::vector<std::span<const std::uint8_t>> spans;
  explicit Sample(int i) {
    owner = *name::fromText("pool" + std::to_string(i) + ".example.test");
    for (int k = 0; k < 4; ++k) rdatas.push_back({192, 0, 2, static_cast<std::uint8_t>(i * 4 + k)});
    spans.assign(rdatas.begin(), rdatas.end());
  }
  RRsetView view() const {
    return {.owner = name::asSpan(owner), .type = 1, .ttl = 30, .rdatas = spans};
  }
};

}  // namespace

TEST_CASE("signature cache hits and misses perform zero heap allocations") {
  SigCache cache({.maxEntries = 1024});
  auto reader = cache.reader();
  std::vector<Sample> samples;
  for (int i = 0; i < 40; ++i) samples.emplace_back(i);
  const std::vector<std::uint8_t> sig(100, 0xAB);
  for (int i = 0; i < 20; ++i) REQUIRE(cache.insert(samples[i].view(), sig, 5000));
  // A reversed copy of one RRset: the hit path sorts on the stack.
  Sample reversed(3);
  std::reverse(reversed.spans.begin(), reversed.spans.end());

  std::uint8_t out[512];
  long hits = 0, misses = 0;
  const long before = gAllocations.load();
  for (int round = 0; round < 50; ++round) {
    for (const auto& s : samples) (cache.lookup(reader, s.view(), 1000, out) ? hits : misses)++;
    hits += cache.lookup(reader, reversed.view(), 1000, out) != 0;
    misses += cache.lookup(reader, samples[0].view(), 6000, out) == 0;  // stale
  }
  const long allocations = gAllocations.load() - before;
  CHECK(hits == 50 * 21);
  CHECK(misses == 50 * 21);
  CHECK(allocations == 0);
}

TEST_CASE("writing compact NSEC and NSEC3 white-lie records performs zero heap allocations") {
  const std::string zone = *name::fromText("example.test");
  const std::string nope = *name::fromText("a.b.nope.example.test");
  const std::string www = *name::fromText("www.example.test");
  std::uint8_t pkt[1500];
  long written = 0;
  const long before = gAllocations.load();
  for (int round = 0; round < 100; ++round) {
    Writer w(pkt, sizeof pkt);
    Compressor c;
    for (int i = 0; i < 12; ++i) w.u8(0);
    c.write(w, name::asSpan(nope));
    written += writeCompactNsec(w, c, name::asSpan(nope), 300, {}, CompactKind::NxName);
    written +=
        writeCompactNsec(w, c, name::asSpan(www), 300, TypeSet{1, 28, 257}, CompactKind::NoData);
    Nsec3Record recs[3];
    if (nsec3NxDomain(name::asSpan(nope), name::asSpan(zone), TypeSet{2, 6, 48}, recs) == 3)
      for (const auto& r : recs) written += writeNsec3(w, c, name::asSpan(zone), 300, r);
    Nsec3Record match;
    if (nsec3Match(name::asSpan(www), TypeSet{1, 46}, match))
      written += writeNsec3(w, c, name::asSpan(zone), 300, match);
  }
  const long allocations = gAllocations.load() - before;
  CHECK(written == 100 * 6);
  CHECK(allocations == 0);
}
