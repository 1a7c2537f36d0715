// The signature cache: keyed by content (RR order does not matter, every
// other part of the key does), refresh time, bounds and CLOCK eviction,
// reader slots, pre-warming and the worker miss path, and concurrent readers
// and writers released together by a barrier (run under the tsan preset).
#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <cstring>
#include <string>
#include <thread>

#include "support/fakes.h"
#include "support/temp_dir.h"
#include "unit/zones/dnssec/dnssec_test_util.h"
#include "zones/dnssec/sig_cache.h"

using namespace geodns;
using namespace geodns::zones::dnssec;
namespace td = geodns::test::dnssec;
using td::Bytes;

namespace {

// An A RRset "h<i>.example.test" with two addresses, owned by the test.
struct Sample {
  Bytes owner;
  std::vector<Bytes> rdatas;
  std::vector<std::span<const std::uint8_t>> spans;
  std::uint32_t ttl = 300;
  explicit Sample(int i, std::uint32_t ttl_ = 300, int count = 2) : ttl(ttl_) {
    const std::string text = *name::fromText("h" + std::to_string(i) + ".example.test");
    owner.assign(text.begin(), text.end());
    for (int k = 0; k < count; ++k)
      rdatas.push_back({10, static_cast<std::uint8_t>(k), static_cast<std::uint8_t>(i >> 8),
                        static_cast<std::uint8_t>(i)});
    spans.assign(rdatas.begin(), rdatas.end());
  }
  RRsetView view(std::uint16_t type = 1) const {
    return {.owner = owner, .type = type, .ttl = ttl, .rdatas = spans};
  }
};

// A made-up "signature" that names its RRset, of varying length.
Bytes fakeSig(int i) {
  std::string s = "sig-" + std::to_string(i) + "-";
  while (s.size() < 20 + static_cast<std::size_t>(i % 50)) s += static_cast<char>('a' + i % 26);
  return Bytes(s.begin(), s.end());
}

Bytes lookup(const SigCache& c, SigCache::Reader& r, const RRsetView& v, std::int64_t now = 1000) {
  std::uint8_t out[512];
  std::size_t n = c.lookup(r, v, now, out);
  return Bytes(out, out + n);
}

}  // namespace

TEST_CASE("sig cache: the key is owner, type, TTL and the set of RDATA") {
  SigCache cache;
  auto reader = cache.reader();
  Sample s(1);
  const Bytes sig = fakeSig(1);
  REQUIRE(cache.insert(s.view(), sig, 5000));
  CHECK(lookup(cache, reader, s.view()) == sig);

  Sample reversed(1);
  std::swap(reversed.spans[0], reversed.spans[1]);
  Sample otherTtl(1, 301);
  Sample otherOwner(2);
  Sample subset(1, 300, 1);
  Sample superset(1, 300, 3);
  Sample duplicated(1);
  duplicated.spans.push_back(duplicated.spans[0]);
  Sample otherRdata(1);
  otherRdata.rdatas[1][3] ^= 1;
  otherRdata.spans.assign(otherRdata.rdatas.begin(), otherRdata.rdatas.end());

  struct Case {
    const char* name;
    RRsetView view;
    bool hit;
  };
  const Case cases[] = {
      {"same RRset", s.view(), true},
      {"same set in another order", reversed.view(), true},
      {"a repeated RR is the same set", duplicated.view(), true},
      {"other TTL", otherTtl.view(), false},
      {"other owner", otherOwner.view(), false},
      {"other type", s.view(28), false},
      {"a subset", subset.view(), false},
      {"a superset", superset.view(), false},
      {"one RDATA differs in one bit", otherRdata.view(), false},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    CHECK(lookup(cache, reader, c.view) == (c.hit ? sig : Bytes{}));
  }
}

TEST_CASE("sig cache: entries stop being served at their refresh time; re-signing replaces them") {
  SigCache cache;
  auto reader = cache.reader();
  Sample s(7);
  REQUIRE(cache.insert(s.view(), fakeSig(7), 2000));
  CHECK(lookup(cache, reader, s.view(), 1999) == fakeSig(7));
  CHECK(lookup(cache, reader, s.view(), 2000).empty());
  // The re-signed RRset takes the old entry's place.
  REQUIRE(cache.insert(s.view(), fakeSig(8), 4000));
  CHECK(lookup(cache, reader, s.view(), 2000) == fakeSig(8));
  auto st = cache.stats();
  CHECK(st.entries == 1);
  CHECK(st.replaced == 1);
  CHECK(st.inserts == 2);

  SUBCASE("an output buffer too small is a miss, nothing written past it") {
    std::uint8_t out[8];
    std::memset(out, 0xEE, sizeof out);
    CHECK(cache.lookup(reader, s.view(), 2000, out) == 0);
    CHECK(out[0] == 0xEE);
  }
  SUBCASE("RRsets the cache refuses") {
    Sample big(9, 300, static_cast<int>(SigCache::kMaxRRs) + 1);
    CHECK_FALSE(cache.insert(big.view(), fakeSig(9), 5000));
    CHECK(lookup(cache, reader, big.view()).empty());
    CHECK_FALSE(cache.insert(s.view(), {}, 5000));
    Sample none(10, 300, 0);
    CHECK_FALSE(cache.insert(none.view(), fakeSig(10), 5000));
  }
}

TEST_CASE("sig cache: bounded by entries with CLOCK second chance") {
  SigCache cache({.maxEntries = 4});
  auto reader = cache.reader();
  std::vector<Sample> s;
  for (int i = 0; i < 8; ++i) s.emplace_back(i);
  for (int i = 0; i < 5; ++i) REQUIRE(cache.insert(s[i].view(), fakeSig(i), 5000));
  // The fifth insert evicted the oldest, 0; every reference bit is clear now.
  CHECK(cache.stats().entries == 4);
  CHECK(cache.stats().evictions == 1);
  CHECK(lookup(cache, reader, s[0].view()).empty());
  // A hit on 1 gives it a second chance: the next insert evicts 2 instead.
  CHECK(lookup(cache, reader, s[1].view()) == fakeSig(1));
  REQUIRE(cache.insert(s[5].view(), fakeSig(5), 5000));
  CHECK(lookup(cache, reader, s[1].view()) == fakeSig(1));
  CHECK(lookup(cache, reader, s[2].view()).empty());
  for (int i : {3, 4, 5}) CHECK(lookup(cache, reader, s[i].view()) == fakeSig(i));
  CHECK(cache.stats().entries == 4);
  CHECK(cache.stats().evictions == 2);
}

TEST_CASE("sig cache: bounded by bytes") {
  SigCache probe;
  Sample first(0);
  REQUIRE(probe.insert(first.view(), fakeSig(0), 5000));
  const std::size_t oneEntry = probe.stats().bytes;
  REQUIRE(oneEntry > 0);

  SigCache cache({.maxEntries = 1000, .maxBytes = oneEntry * 3 + oneEntry / 2});
  auto reader = cache.reader();
  std::vector<Sample> s;
  for (int i = 0; i < 10; ++i) s.emplace_back(i);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(cache.insert(s[i].view(), fakeSig(i % 2 ? 0 : 49), 5000));
    CHECK(cache.stats().bytes <= cache.limits().maxBytes);
  }
  CHECK(cache.stats().entries < 10);
  CHECK(cache.stats().entries >= 2);
  CHECK(lookup(cache, reader, s[9].view()) == fakeSig(0));
}

TEST_CASE("sig cache: full buckets evict within the bucket and stay consistent") {
  // 64 entries over 16 buckets of 8 ways: with 500 keys some buckets fill up.
  SigCache cache({.maxEntries = 64});
  auto reader = cache.reader();
  std::vector<Sample> s;
  for (int i = 0; i < 500; ++i) s.emplace_back(i);
  int hits = 0;
  for (int i = 0; i < 500; ++i) {
    REQUIRE(cache.insert(s[i].view(), fakeSig(i), 5000));
    CHECK(lookup(cache, reader, s[i].view()) == fakeSig(i));  // the newest is always there
    CHECK(cache.stats().entries <= 64);
  }
  for (int i = 0; i < 500; ++i) {
    Bytes got = lookup(cache, reader, s[i].view());
    if (got.empty()) continue;
    ++hits;
    CHECK(got == fakeSig(i));
  }
  CHECK(hits == static_cast<int>(cache.stats().entries));
  cache.collect();
  CHECK(cache.stats().retired == 0);
}

TEST_CASE("sig cache: reader slots are bounded and given back") {
  SigCache cache({.maxReaders = 2});
  auto a = cache.reader();
  {
    auto b = cache.reader();
    CHECK_THROWS_AS(cache.reader(), std::runtime_error);
  }
  auto c = cache.reader();  // b's slot is free again
  SigCache other;
  Sample s(1);
  REQUIRE(other.insert(s.view(), fakeSig(1), 5000));
  CHECK(lookup(other, c, s.view()).empty());  // a reader of another cache finds nothing
}

TEST_CASE("sig cache: pre-warm signs on the control thread; a worker miss signs once") {
  test::TempDir dir;
  const auto origin = *name::fromText("example.test");
  ErrorList errors;
  auto key = Key::load(td::generateKey(dir.path(), "ECDSAP256SHA256", "example.test"),
                       name::asSpan(origin), errors);
  REQUIRE_MESSAGE(key, errors.str());
  test::FakeClock clock;
  const SignPolicy policy{.validity_s = 7200, .refresh_s = 3600, .inceptionBackdate_s = 60};
  Signer signer(*key, policy, clock);
  SigCache cache;
  auto reader = cache.reader();

  std::vector<Sample> s;
  for (int i = 0; i < 3; ++i) s.emplace_back(i);
  std::vector<RRsetView> views;
  for (const auto& x : s) views.push_back(x.view());
  const Bytes badOwner = {9, 'x'};
  RRsetView bad = s[0].view();
  bad.owner = badOwner;
  views.push_back(bad);
  CHECK(cache.prewarm(signer, views, errors) == 3);
  REQUIRE(errors.size() == 1);
  CHECK(errors.all()[0].message.find("malformed owner name") != std::string::npos);

  const std::int64_t now = clock.unixSeconds();
  std::uint8_t out[256];
  for (const auto& x : s) {
    std::size_t n = cache.lookup(reader, x.view(), now, out);
    REQUIRE(n > 0);
    auto f = parseRrsig({out, n});
    REQUIRE(f);
    CHECK(f->keyTag == key->keyTag());
    CHECK(f->expiration == static_cast<std::uint32_t>(now + 7200));
  }
  // Stale from expiration - refresh_s on.
  CHECK(cache.lookup(reader, s[0].view(), now + 3600, out) == 0);
  CHECK(cache.lookup(reader, s[0].view(), now + 3599, out) > 0);

  // The worker path: a miss signs and stores, the repeat is a hit.
  Sample fresh(42);
  const auto before = cache.stats().signs;
  std::size_t n1 = cache.lookupOrSign(reader, signer, fresh.view(), out).length;
  REQUIRE(n1 > 0);
  Bytes first(out, out + n1);
  std::size_t n2 = cache.lookupOrSign(reader, signer, fresh.view(), out).length;
  CHECK(Bytes(out, out + n2) == first);  // ECDSA signatures differ each time: same bytes = cached
  CHECK(cache.stats().signs == before + 1);
  // Past the refresh time the worker signs again.
  clock.advance(std::chrono::seconds(3600));
  std::size_t n3 = cache.lookupOrSign(reader, signer, fresh.view(), out).length;
  REQUIRE(n3 > 0);
  CHECK(cache.stats().signs == before + 2);
  CHECK(parseRrsig({out, n3})->inception == parseRrsig(first)->inception + 3600);
}

TEST_CASE("sig cache: concurrent readers and writers (start barrier; run under tsan)") {
  constexpr int kKeys = 300;
  constexpr int kReaders = 3;
  constexpr int kWriters = 2;
  constexpr int kRounds = 4000;
  // Small bounds so writers keep evicting and reclaiming under the readers.
  SigCache cache({.maxEntries = 64, .maxBytes = 64 * 1024, .maxReaders = kReaders});
  std::vector<Sample> s;
  for (int i = 0; i < kKeys; ++i) s.emplace_back(i);
  std::vector<SigCache::Reader> readers;
  for (int r = 0; r < kReaders; ++r) readers.push_back(cache.reader());

  std::barrier start(kReaders + kWriters);
  std::atomic<long> hits{0}, wrong{0}, inserted{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r)
    threads.emplace_back([&, r] {
      start.arrive_and_wait();
      std::uint8_t out[256];
      for (int round = 0; round < kRounds; ++round) {
        const int i = (round * 7 + r * 13) % kKeys;
        std::size_t n = cache.lookup(readers[r], s[i].view(), 1000, out);
        if (!n) continue;
        hits.fetch_add(1, std::memory_order_relaxed);
        if (Bytes(out, out + n) != fakeSig(i)) wrong.fetch_add(1, std::memory_order_relaxed);
      }
    });
  for (int w = 0; w < kWriters; ++w)
    threads.emplace_back([&, w] {
      start.arrive_and_wait();
      for (int round = 0; round < kRounds / 4; ++round) {
        const int i = (round * 11 + w * 5) % kKeys;
        const bool ok = w == 0 ? cache.insert(s[i].view(), fakeSig(i), 5000)
                               : cache.tryInsert(s[i].view(), fakeSig(i), 5000);
        if (ok) inserted.fetch_add(1, std::memory_order_relaxed);
      }
    });
  for (auto& t : threads) t.join();
  CHECK(wrong.load() == 0);
  CHECK(inserted.load() > 0);
  auto st = cache.stats();
  CHECK(st.entries <= 64);
  CHECK(st.bytes <= 64 * 1024);
  cache.collect();
  CHECK(cache.stats().retired == 0);  // no reader is inside lookup() any more
}

TEST_CASE("sig cache: several workers sign misses with one key at once") {
  test::TempDir dir;
  const auto origin = *name::fromText("example.test");
  ErrorList errors;
  auto key = Key::load(td::generateKey(dir.path(), "ED25519", "example.test"), name::asSpan(origin),
                       errors);
  REQUIRE(key);
  test::FakeClock clock;
  Signer signer(*key, {}, clock);
  constexpr int kThreads = 3;
  SigCache cache({.maxEntries = 16, .maxReaders = kThreads});
  std::vector<Sample> s;
  for (int i = 0; i < 40; ++i) s.emplace_back(i);
  std::vector<SigCache::Reader> readers;
  for (int r = 0; r < kThreads; ++r) readers.push_back(cache.reader());
  std::barrier start(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<Bytes>> sigs(kThreads, std::vector<Bytes>(s.size()));
  for (int r = 0; r < kThreads; ++r)
    threads.emplace_back([&, r] {
      start.arrive_and_wait();
      std::uint8_t out[256];
      for (std::size_t i = 0; i < s.size(); ++i) {
        std::size_t n = cache.lookupOrSign(readers[r], signer, s[i].view(), out).length;
        if (!n) failures.fetch_add(1);
        sigs[r][i].assign(out, out + n);
      }
    });
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  // Ed25519 is deterministic: every thread got the same signature per RRset,
  // signed or cached.
  for (std::size_t i = 0; i < s.size(); ++i) {
    CHECK(sigs[1][i] == sigs[0][i]);
    CHECK(sigs[2][i] == sigs[0][i]);
  }
}
