#pragma once
// Signatures of online-signed RRsets (pool answers, denial records), cached
// by content: (owner, type, TTL, set of RDATA) -> RRSIG RDATA. Health changes
// and drains change which RRset a client gets, never the signature of a given
// RRset, so nothing here is invalidated by them; an entry only goes stale at
// its refresh time (signature expiration - refresh_s).
//
// Design (simple, lock-free for readers, bounded):
// * A fixed table of buckets, 8 ways each. A way holds an atomic pointer to an
//   immutable heap Entry (key bytes + RRSIG bytes) and an atomic 32-bit tag
//   (high hash bits) that lets a reader skip ways without touching entries.
//   The tag is only a hint; the entry's full key is always compared.
// * Readers (workers) take no lock and allocate nothing: announce the current
//   epoch in their own cache-line slot, probe the 8 ways of one bucket, copy
//   the RRSIG out on a match, and announce "idle" again. The only shared
//   write on a hit is setting an entry's "referenced" bit when it is clear.
// * Writers (a worker after signing a miss, or the control thread pre-warming)
//   build the Entry outside any lock, then under one writer mutex publish it
//   into its bucket (replacing the same key, else an empty way, else the
//   bucket's coldest way), and enforce the entry and byte bounds with CLOCK
//   (second chance) over a FIFO of all entries. Workers use tryInsert(),
//   which never waits: if another writer holds the mutex the new signature is
//   simply not cached this time.
// * Reclamation is epoch-based: an unlinked entry is stamped with the epoch
//   current when it was unlinked (then the epoch advances) and freed once no
//   reader slot announces an epoch at or below that stamp. A reader copies
//   the RRSIG out before it leaves, so an entry is never used after lookup()
//   returns. All atomics involved are seq_cst, which makes the argument
//   short: a reader that could still see the unlinked pointer announced its
//   epoch before the unlink, hence announces a value <= the stamp.
//
// One cache belongs to one signing key (RRSIGs carry the key tag); a key roll
// builds a new cache and publishes it with the new snapshot.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/result.h"
#include "zones/dnssec/sign_budget.h"
#include "zones/dnssec/signer.h"

namespace geodns::zones::dnssec {

// What lookupOrSign() did.
enum class SignOutcome : std::uint8_t {
  Hit,         // served from the cache
  Signed,      // a miss, signed now
  OverBudget,  // a miss, and the signing budget had no token: nothing written
  Failed,      // a miss whose signature could not be made, or `out` too small
};
struct SignResult {
  std::size_t length = 0;  // RRSIG RDATA bytes in `out` (Hit, Signed), else 0
  SignOutcome outcome = SignOutcome::Failed;
};

struct SigCacheLimits {
  std::size_t maxEntries = 65536;
  std::size_t maxBytes = 32u << 20;  // entry memory: key, RRSIG and header
  std::size_t maxReaders = 64;       // worker threads that may call lookup()
};

class SigCache {
 public:
  static constexpr std::size_t kWays = 8;
  static constexpr std::size_t kMaxRRs = 64;  // larger RRsets are neither cached nor found

  explicit SigCache(SigCacheLimits limits = {});
  // Destroy every Reader first (a Reader gives its slot back to the cache).
  ~SigCache();
  SigCache(const SigCache&) = delete;
  SigCache& operator=(const SigCache&) = delete;

  // A worker's reader slot. Obtain on the control thread when the worker is
  // created; use from that one worker thread only.
  class Reader {
   public:
    Reader(Reader&& o) noexcept : cache_(o.cache_), slot_(o.slot_) { o.cache_ = nullptr; }
    Reader& operator=(Reader&&) = delete;
    ~Reader();
    bool valid() const noexcept { return cache_ != nullptr; }

   private:
    friend class SigCache;
    Reader(SigCache* c, std::size_t slot) noexcept : cache_(c), slot_(slot) {}
    SigCache* cache_;
    std::size_t slot_;
  };
  // Throws std::runtime_error when maxReaders readers exist.
  Reader reader();
  // As reader(), for a worker that takes a slot per query: noexcept, no
  // allocation; when every slot is taken the Reader is inert (every lookup
  // misses) and valid() is false.
  Reader tryReader() noexcept;

  // Worker thread: no lock, no allocation. On a hit whose refresh time is
  // after `nowUnix`, copies the RRSIG RDATA into `out` and returns its length.
  // Returns 0 on a miss, a stale entry, or when `out` is too small. RR order
  // in `rrset` does not matter; names compare as given (pass them lowercase).
  std::size_t lookup(Reader& reader, const RRsetView& rrset, std::int64_t nowUnix,
                     std::span<std::uint8_t> out) const noexcept;

  // Stores `rrsig` for `rrset`, usable until `refreshAt` (unix seconds).
  // insert() waits for the writer mutex (control thread); tryInsert() never
  // waits (workers) and returns false when it did not store. Both allocate.
  bool insert(const RRsetView& rrset, std::span<const std::uint8_t> rrsig, std::int64_t refreshAt);
  bool tryInsert(const RRsetView& rrset, std::span<const std::uint8_t> rrsig,
                 std::int64_t refreshAt) noexcept;

  // Worker miss path: lookup, else sign with `signer` (allocates; takes the
  // time of one signature) and tryInsert. A hit never touches `budget`; a
  // miss signs only when `budget` is null (no limit: TCP, or none set) or
  // gives it a token, and is OverBudget otherwise (no allocation then).
  SignResult lookupOrSign(Reader& reader, const Signer& signer, const RRsetView& rrset,
                          std::span<std::uint8_t> out, SignBudget* budget = nullptr) noexcept;

  // Control thread: signs every RRset with `signer` and inserts it. Returns
  // how many were stored; signing errors go to `errors`.
  std::size_t prewarm(const Signer& signer, std::span<const RRsetView> rrsets, ErrorList& errors);

  // Frees unlinked entries no reader can still hold (also done by inserts).
  void collect();

  struct Stats {
    std::size_t entries = 0;
    std::size_t bytes = 0;
    std::size_t retired = 0;  // unlinked, waiting for readers to move on
    std::uint64_t inserts = 0;
    std::uint64_t replaced = 0;   // same key stored again (re-signed)
    std::uint64_t evictions = 0;  // by the bounds or a full bucket
    std::uint64_t busyDrops = 0;  // tryInsert found the writer mutex held
    std::uint64_t signs = 0;      // signatures made by lookupOrSign
  };
  Stats stats() const;
  const SigCacheLimits& limits() const noexcept { return limits_; }

 private:
  struct Entry;
  struct Bucket {
    std::atomic<std::uint32_t> tags[kWays];
    std::atomic<Entry*> entries[kWays];
  };
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> epoch{0};  // 0: not inside lookup()
    std::atomic<bool> taken{false};
  };
  struct Key;  // a sorted view of an RRsetView, on the stack

  static bool makeKey(const RRsetView& rrset, Key& key) noexcept;
  static bool matches(const Entry& e, const Key& key) noexcept;
  Entry* build(const Key& key, std::span<const std::uint8_t> rrsig, std::int64_t refreshAt);
  static void destroy(Entry* e) noexcept;
  void publishLocked(Entry* e, const Key& key);
  void unlinkLocked(Entry* e, std::vector<Entry*>& unlinked) noexcept;
  void evictOneLocked(std::vector<Entry*>& unlinked) noexcept;
  void retireLocked(std::vector<Entry*>& unlinked);
  void collectLocked() noexcept;

  SigCacheLimits limits_;
  std::size_t mask_ = 0;  // buckets - 1
  std::unique_ptr<Bucket[]> buckets_;
  std::unique_ptr<Slot[]> slots_;
  std::atomic<std::uint64_t> epoch_{1};

  mutable std::mutex mu_;  // writers only
  Entry* head_ = nullptr;  // FIFO for CLOCK, oldest first
  Entry* tail_ = nullptr;
  std::vector<Entry*> retired_;
  std::uint64_t seq_ = 0;
  Stats stats_;
  std::atomic<std::uint64_t> busyDrops_{0};  // counted without the mutex
  std::atomic<std::uint64_t> signs_{0};
};

}  // namespace geodns::zones::dnssec
