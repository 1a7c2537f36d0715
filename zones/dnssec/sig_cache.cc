#include "zones/dnssec/sig_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "core/wire/types.h"
#include "zones/zone_file.h"

namespace geodns::zones::dnssec {

// Immutable once published, except `referenced` (readers) and the fields
// marked writer-only (touched under mu_ only, never by readers). The key and
// RRSIG bytes follow the struct in the same allocation.
struct SigCache::Entry {
  std::uint64_t hash = 0;
  std::int64_t refreshAt = 0;
  std::uint32_t ttl = 0;
  std::uint16_t type = 0;
  std::uint16_t ownerLen = 0;
  std::uint16_t rrCount = 0;
  std::uint16_t sigLen = 0;
  std::uint32_t rrBytes = 0;  // the RR part: per RR a 16-bit length and the RDATA
  std::atomic<std::uint8_t> referenced{1};
  // writer-only
  Entry* prev = nullptr;
  Entry* next = nullptr;
  std::size_t bucket = 0;
  std::size_t way = 0;
  std::size_t allocSize = 0;
  std::uint64_t seq = 0;
  std::uint64_t retireEpoch = 0;

  const std::uint8_t* owner() const noexcept {
    return reinterpret_cast<const std::uint8_t*>(this + 1);
  }
  const std::uint8_t* rrs() const noexcept { return owner() + ownerLen; }
  const std::uint8_t* sig() const noexcept { return rrs() + rrBytes; }
};

struct SigCache::Key {
  const RRsetView* rrset = nullptr;
  std::span<const std::uint8_t> sorted[kMaxRRs];
  std::size_t n = 0;
  std::uint64_t hash = 0;
};

namespace {

constexpr std::uint64_t kFnvOffset = 1469598103934665603ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

inline std::uint64_t fnv(std::uint64_t h, const std::uint8_t* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * kFnvPrime;
  return h;
}
inline std::uint64_t fnv16(std::uint64_t h, std::uint16_t v) noexcept {
  const std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  return fnv(h, b, 2);
}
inline std::uint64_t fnv32(std::uint64_t h, std::uint32_t v) noexcept {
  return fnv16(fnv16(h, static_cast<std::uint16_t>(v >> 16)), static_cast<std::uint16_t>(v));
}
// Final avalanche (splitmix64), so bucket and tag bits are both well mixed.
inline std::uint64_t mix(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Announces a reader inside lookup() for the duration of a scope.
class EpochGuard {
 public:
  EpochGuard(std::atomic<std::uint64_t>& slot, const std::atomic<std::uint64_t>& epoch) noexcept
      : slot_(slot) {
    slot_.store(epoch.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
  }
  ~EpochGuard() { slot_.store(0, std::memory_order_release); }
  EpochGuard(const EpochGuard&) = delete;
  EpochGuard& operator=(const EpochGuard&) = delete;

 private:
  std::atomic<std::uint64_t>& slot_;
};

}  // namespace

SigCache::SigCache(SigCacheLimits limits) : limits_(limits) {
  if (limits_.maxEntries == 0) limits_.maxEntries = 1;
  if (limits_.maxReaders == 0) limits_.maxReaders = 1;
  // At most half the ways in use, so a full bucket (an eviction outside
  // CLOCK order) stays rare.
  std::size_t buckets = std::bit_ceil((limits_.maxEntries * 2 + kWays - 1) / kWays);
  mask_ = buckets - 1;
  buckets_ = std::make_unique<Bucket[]>(buckets);
  for (std::size_t b = 0; b < buckets; ++b)
    for (std::size_t w = 0; w < kWays; ++w) {
      buckets_[b].tags[w].store(0, std::memory_order_relaxed);
      buckets_[b].entries[w].store(nullptr, std::memory_order_relaxed);
    }
  slots_ = std::make_unique<Slot[]>(limits_.maxReaders);
}

SigCache::~SigCache() {
  for (Entry* e = head_; e;) {
    Entry* n = e->next;
    destroy(e);
    e = n;
  }
  for (Entry* e : retired_) destroy(e);
}

SigCache::Reader::~Reader() {
  if (cache_) cache_->slots_[slot_].taken.store(false, std::memory_order_release);
}

SigCache::Reader SigCache::reader() {
  for (std::size_t i = 0; i < limits_.maxReaders; ++i) {
    bool expected = false;
    if (slots_[i].taken.compare_exchange_strong(expected, true, std::memory_order_acq_rel))
      return Reader(this, i);
  }
  throw std::runtime_error("signature cache: all " + std::to_string(limits_.maxReaders) +
                           " reader slots are taken");
}

SigCache::Reader SigCache::tryReader() noexcept {
  for (std::size_t i = 0; i < limits_.maxReaders; ++i) {
    bool expected = false;
    if (slots_[i].taken.compare_exchange_strong(expected, true, std::memory_order_acq_rel))
      return Reader(this, i);
  }
  return Reader(nullptr, 0);
}

bool SigCache::makeKey(const RRsetView& rrset, Key& key) noexcept {
  const std::size_t n = rrset.rdatas.size();
  if (n == 0 || n > kMaxRRs || rrset.owner.empty() || rrset.owner.size() > dns::kMaxNameWire)
    return false;
  key.rrset = &rrset;
  // Insertion sort into canonical order, dropping duplicates: the cache key
  // is the set, whatever order the pool handed the records over in.
  key.n = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto r = rrset.rdatas[i];
    if (r.size() > 0xFFFF) return false;
    std::size_t j = key.n;
    while (j > 0 && compareCanonicalRdata(key.sorted[j - 1], r) > 0) --j;
    if (j > 0 && compareCanonicalRdata(key.sorted[j - 1], r) == 0) continue;
    for (std::size_t k = key.n; k > j; --k) key.sorted[k] = key.sorted[k - 1];
    key.sorted[j] = r;
    ++key.n;
  }
  std::uint64_t h = fnv(kFnvOffset, rrset.owner.data(), rrset.owner.size());
  h = fnv32(fnv16(h, rrset.type), rrset.ttl);
  for (std::size_t i = 0; i < key.n; ++i)
    h = fnv(fnv16(h, static_cast<std::uint16_t>(key.sorted[i].size())), key.sorted[i].data(),
            key.sorted[i].size());
  key.hash = mix(h);
  return true;
}

bool SigCache::matches(const Entry& e, const Key& key) noexcept {
  const RRsetView& r = *key.rrset;
  if (e.hash != key.hash || e.type != r.type || e.ttl != r.ttl || e.rrCount != key.n ||
      e.ownerLen != r.owner.size() || std::memcmp(e.owner(), r.owner.data(), e.ownerLen) != 0)
    return false;
  const std::uint8_t* p = e.rrs();
  for (std::size_t i = 0; i < key.n; ++i) {
    const std::size_t len = (std::size_t{p[0]} << 8) | p[1];
    if (len != key.sorted[i].size() || (len && std::memcmp(p + 2, key.sorted[i].data(), len) != 0))
      return false;
    p += 2 + len;
  }
  return true;
}

std::size_t SigCache::lookup(Reader& reader, const RRsetView& rrset, std::int64_t now,
                             std::span<std::uint8_t> out) const noexcept {
  Key key;
  if (reader.cache_ != this || !makeKey(rrset, key)) return 0;
  EpochGuard guard(slots_[reader.slot_].epoch, epoch_);
  const Bucket& b = buckets_[key.hash & mask_];
  const auto tag = static_cast<std::uint32_t>(key.hash >> 32);
  for (std::size_t w = 0; w < kWays; ++w) {
    if (b.tags[w].load(std::memory_order_relaxed) != tag) continue;
    Entry* e = b.entries[w].load(std::memory_order_seq_cst);
    if (!e || !matches(*e, key)) continue;
    if (now >= e->refreshAt || out.size() < e->sigLen) return 0;
    std::memcpy(out.data(), e->sig(), e->sigLen);
    // Second chance for CLOCK; skip the store when already set so hot entries
    // do not bounce their cache line between workers.
    if (e->referenced.load(std::memory_order_relaxed) == 0)
      e->referenced.store(1, std::memory_order_relaxed);
    return e->sigLen;
  }
  return 0;
}

SigCache::Entry* SigCache::build(const Key& key, std::span<const std::uint8_t> rrsig,
                                 std::int64_t refreshAt) {
  std::size_t rrBytes = 0;
  for (std::size_t i = 0; i < key.n; ++i) rrBytes += 2 + key.sorted[i].size();
  const std::size_t size = sizeof(Entry) + key.rrset->owner.size() + rrBytes + rrsig.size();
  void* mem = ::operator new(size);
  Entry* e = new (mem) Entry();
  e->hash = key.hash;
  e->refreshAt = refreshAt;
  e->ttl = key.rrset->ttl;
  e->type = key.rrset->type;
  e->ownerLen = static_cast<std::uint16_t>(key.rrset->owner.size());
  e->rrCount = static_cast<std::uint16_t>(key.n);
  e->sigLen = static_cast<std::uint16_t>(rrsig.size());
  e->rrBytes = static_cast<std::uint32_t>(rrBytes);
  e->allocSize = size;
  auto* p = reinterpret_cast<std::uint8_t*>(e + 1);
  std::memcpy(p, key.rrset->owner.data(), e->ownerLen);
  p += e->ownerLen;
  for (std::size_t i = 0; i < key.n; ++i) {
    const auto len = key.sorted[i].size();
    p[0] = static_cast<std::uint8_t>(len >> 8);
    p[1] = static_cast<std::uint8_t>(len);
    if (len) std::memcpy(p + 2, key.sorted[i].data(), len);
    p += 2 + len;
  }
  if (!rrsig.empty()) std::memcpy(p, rrsig.data(), rrsig.size());
  return e;
}

void SigCache::destroy(Entry* e) noexcept {
  e->~Entry();
  ::operator delete(static_cast<void*>(e));
}

void SigCache::unlinkLocked(Entry* e, std::vector<Entry*>& unlinked) noexcept {
  Bucket& b = buckets_[e->bucket];
  Entry* expected = e;
  if (b.entries[e->way].compare_exchange_strong(expected, nullptr, std::memory_order_seq_cst))
    b.tags[e->way].store(0, std::memory_order_relaxed);
  (e->prev ? e->prev->next : head_) = e->next;
  (e->next ? e->next->prev : tail_) = e->prev;
  e->prev = e->next = nullptr;
  --stats_.entries;
  stats_.bytes -= e->allocSize;
  unlinked.push_back(e);
}

void SigCache::evictOneLocked(std::vector<Entry*>& unlinked) noexcept {
  // CLOCK: an entry read since it was last passed gets one more round.
  for (std::size_t pass = 0, n = stats_.entries; head_ && pass <= n; ++pass) {
    Entry* e = head_;
    if (e->referenced.load(std::memory_order_relaxed) == 0 || e == tail_) break;
    e->referenced.store(0, std::memory_order_relaxed);
    head_ = e->next;
    head_->prev = nullptr;
    e->prev = tail_;
    e->next = nullptr;
    tail_->next = e;
    tail_ = e;
  }
  if (head_) {
    ++stats_.evictions;
    unlinkLocked(head_, unlinked);
  }
}

void SigCache::publishLocked(Entry* e, const Key& key) {
  const std::size_t bi = key.hash & mask_;
  Bucket& b = buckets_[bi];
  std::vector<Entry*> unlinked;
  std::size_t way = kWays;
  // The same key again (a re-signed RRset): take its way.
  for (std::size_t w = 0; w < kWays && way == kWays; ++w) {
    Entry* old = b.entries[w].load(std::memory_order_relaxed);
    if (old && matches(*old, key)) {
      ++stats_.replaced;
      unlinkLocked(old, unlinked);
      way = w;
    }
  }
  for (std::size_t w = 0; w < kWays && way == kWays; ++w)
    if (!b.entries[w].load(std::memory_order_relaxed)) way = w;
  if (way == kWays) {  // full bucket: the oldest unreferenced way, else the oldest
    Entry* victim = nullptr;
    for (std::size_t w = 0; w < kWays; ++w) {
      Entry* c = b.entries[w].load(std::memory_order_relaxed);
      auto cold = [](const Entry* x) { return x->referenced.load(std::memory_order_relaxed) == 0; };
      if (!victim || (cold(c) && !cold(victim)) ||
          (cold(c) == cold(victim) && c->seq < victim->seq))
        victim = c;
    }
    way = victim->way;
    ++stats_.evictions;
    unlinkLocked(victim, unlinked);
  }
  e->bucket = bi;
  e->way = way;
  e->seq = ++seq_;
  e->prev = tail_;
  (tail_ ? tail_->next : head_) = e;
  tail_ = e;
  ++stats_.entries;
  stats_.bytes += e->allocSize;
  ++stats_.inserts;
  // Tag first: a reader that sees the new tag with the old pointer just
  // fails the key comparison.
  b.tags[way].store(static_cast<std::uint32_t>(key.hash >> 32), std::memory_order_relaxed);
  b.entries[way].store(e, std::memory_order_seq_cst);
  while (stats_.entries > limits_.maxEntries || stats_.bytes > limits_.maxBytes) {
    if (stats_.entries == 1) break;  // never evict the entry just stored
    evictOneLocked(unlinked);
  }
  retireLocked(unlinked);
}

void SigCache::retireLocked(std::vector<Entry*>& unlinked) {
  if (!unlinked.empty()) {
    // Every reader that may hold one of these announced an epoch <= stamp.
    const std::uint64_t stamp = epoch_.fetch_add(1, std::memory_order_seq_cst);
    for (Entry* e : unlinked) {
      e->retireEpoch = stamp;
      retired_.push_back(e);
    }
  }
  collectLocked();
}

void SigCache::collectLocked() noexcept {
  if (retired_.empty()) return;
  std::uint64_t minActive = ~std::uint64_t{0};
  for (std::size_t i = 0; i < limits_.maxReaders; ++i) {
    const std::uint64_t v = slots_[i].epoch.load(std::memory_order_seq_cst);
    if (v != 0) minActive = std::min(minActive, v);
  }
  std::erase_if(retired_, [&](Entry* e) {
    if (e->retireEpoch >= minActive) return false;
    destroy(e);
    return true;
  });
}

void SigCache::collect() {
  std::lock_guard lock(mu_);
  collectLocked();
}

bool SigCache::insert(const RRsetView& rrset, std::span<const std::uint8_t> rrsig,
                      std::int64_t refreshAt) {
  Key key;
  if (!makeKey(rrset, key) || rrsig.empty() || rrsig.size() > 0xFFFF) return false;
  Entry* e = build(key, rrsig, refreshAt);
  std::lock_guard lock(mu_);
  publishLocked(e, key);
  return true;
}

bool SigCache::tryInsert(const RRsetView& rrset, std::span<const std::uint8_t> rrsig,
                         std::int64_t refreshAt) noexcept {
  Key key;
  if (!makeKey(rrset, key) || rrsig.empty() || rrsig.size() > 0xFFFF) return false;
  try {
    Entry* e = build(key, rrsig, refreshAt);
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) {
      busyDrops_.fetch_add(1, std::memory_order_relaxed);
      destroy(e);
      return false;
    }
    publishLocked(e, key);
    return true;
  } catch (...) {  // bad_alloc: the signature is simply not cached
    return false;
  }
}

SignResult SigCache::lookupOrSign(Reader& reader, const Signer& signer, const RRsetView& rrset,
                                  std::span<std::uint8_t> out, SignBudget* budget) noexcept {
  const std::int64_t now = signer.now();
  if (std::size_t n = lookup(reader, rrset, now, out)) return {n, SignOutcome::Hit};
  if (budget && !budget->tryTake()) return {0, SignOutcome::OverBudget};
  try {
    const SigningWindow window = windowAt(now, signer.policy());
    std::vector<std::uint8_t> sig;
    if (signer.signWith(rrset, window, sig) != SignStatus::Ok || sig.size() > out.size()) return {};
    signs_.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(out.data(), sig.data(), sig.size());
    tryInsert(rrset, sig, window.refreshAt);
    return {sig.size(), SignOutcome::Signed};
  } catch (...) {
    return {};
  }
}

std::size_t SigCache::prewarm(const Signer& signer, std::span<const RRsetView> rrsets,
                              ErrorList& errors) {
  std::size_t stored = 0;
  std::vector<std::uint8_t> sig;
  for (const auto& r : rrsets) {
    const SigningWindow window = signer.window();
    SignStatus s = signer.signWith(r, window, sig);
    if (s != SignStatus::Ok) {
      errors.add("", "pre-warming the signature of " + name::toText(r.owner) + " " +
                         dns::typeToText(r.type) + ": " + signStatusText(s));
      continue;
    }
    if (insert(r, sig, window.refreshAt)) ++stored;
  }
  return stored;
}

SigCache::Stats SigCache::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.retired = retired_.size();
  s.busyDrops = busyDrops_.load(std::memory_order_relaxed);
  s.signs = signs_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace geodns::zones::dnssec
