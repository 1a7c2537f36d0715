#pragma once
// Precompiled answers (issue 12): the response after the question section,
// as the engine itself writes it, for every question whose answer depends on
// nothing but the name and the type. Built on the control thread whenever a
// snapshot's zones change, by running the engine once per (name, type) and
// keeping its bytes; a query of the common shape (wire::parseSimpleQuery) is
// then answered by one hash lookup and a copy, and everything else (pools,
// DO in a signed zone, wildcards, DS, ANY, ...) by the general path.
//
// One table over all served zones, keyed by lowercase wire name:
// - a name of a zone: the bytes per type stored there, and for any other
//   ordinary type the zone's negative template (SOA in authority);
// - a zone cut: its referral, also for every name below it;
// - a zone the table cannot answer for: a marker that sends its names to
//   the general path.
// A name that is not in the table is answered from its closest enclosing
// entry: NXDOMAIN from the zone's negative template, or the cut's referral.
// Templates used for a longer name have their compression pointers moved by
// the difference in length (every pointer in them points at the part of the
// question the two names share, or into the template itself).
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/wire/name.h"
#include "server/engine.h"
#include "zones/zone.h"

namespace geodns::server {

struct ServingSnapshot;

class FastAnswers {
 public:
  // The response after the question: its records, their counts, how the
  // header reads, and where its compression pointers stand.
  struct Blob {
    std::uint32_t offset = 0;  // in bytes()
    std::uint16_t length = 0;
    std::uint16_t counts[3] = {0, 0, 0};  // answer, authority, additional (no OPT)
    std::uint32_t ptrOffset = 0;          // in pointers(): offsets inside the blob
    std::uint16_t ptrCount = 0;
    std::uint8_t rcode = 0;
    bool aa = false;
    Outcome outcome = Outcome::Answer;
    // For a template used below the name it was built for: how many labels
    // the question may have beyond that name before its own labels would crowd
    // the compression table (Compressor::kMaxEntries) and change the bytes; 0:
    // used for that name only.
    std::uint8_t maxExtraLabels = 0;
    // Names in the blob below the name it was built for, cut to one label
    // below it: a question under one of them would compress them further than
    // the template does (the general path answers it).
    std::uint32_t riskyOffset = 0;  // in risky_
    std::uint8_t riskyCount = 0;
  };
  enum class Kind : std::uint8_t {
    Node,      // a name of a zone
    Cut,       // a zone cut: the referral answers it and every name below it
    Fallback,  // the apex of a zone answered by the general path only
  };
  struct TypeBlob {
    std::uint16_t qtype;
    std::uint32_t blob;
  };
  static constexpr std::uint32_t kNone = 0xFFFFFFFF;
  struct Entry {
    std::uint64_t hash = 0;
    std::uint32_t nameOffset = 0;  // in names_
    std::uint8_t nameLen = 0;
    Kind kind = Kind::Node;
    bool signedZone = false;     // DO needs the general path (RRSIGs, denial)
    bool wildcardChild = false;  // "*.<name>" exists: a missing child is synthesized
    bool noOther = false;        // only the listed types (a CNAME: the chain depends on the type)
    bool nxUnsafe = false;       // a missing name below it would compress the SOA further
    std::uint8_t apexLen = 0;    // the zone's origin length (its negative template's name)
    std::uint8_t depth = 0;      // labels below the zone's apex
    std::uint8_t blobBase = 0;   // the length of the name `blob` was built for
    std::uint16_t typeCount = 0;
    std::uint32_t firstType = 0;  // in types_
    // Cut: the referral; Node: its NODATA (the zone's negative template, or
    // its own when the template does not fit it).
    std::uint32_t blob = kNone;
    std::uint32_t negative = kNone;  // Node: the zone's negative template (NXDOMAIN below it)
    const zones::Zone* zone = nullptr;
    const zones::Node* node = nullptr;  // bound to a pool: A/AAAA decided per query
  };

  // Builds the table for `snap`'s zones; null when they hold more than
  // `maxNames` names (config limits.precompiled_names, default 250,000:
  // memory ~150 bytes per name, build time one engine run per stored type)
  // or a secondary zone has no data. Control thread.
  static std::shared_ptr<const FastAnswers> build(const ServingSnapshot& snap,
                                                  std::size_t maxNames);

  const zones::ZoneSet* zones() const noexcept { return zoneSet_.get(); }

  // The same hash at build time and per query: 8 bytes at a time.
  static std::uint64_t hash(const std::uint8_t* p, std::size_t n) noexcept {
    std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
      h ^= h >> 32;
    }
    if (i < n) {
      std::uint64_t w = 0;
      for (std::size_t k = 0; i + k < n; ++k) w |= static_cast<std::uint64_t>(p[i + k]) << (8 * k);
      h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
      h ^= h >> 32;
    }
    return h;
  }
  // The entry for `name` (lowercase wire), or null.
  const Entry* find(const std::uint8_t* name, std::size_t len) const noexcept {
    const std::uint64_t h = hash(name, len);
    for (std::size_t s = h & mask_;; s = (s + 1) & mask_) {
      const std::uint32_t id = slots_[s];
      if (id == kNone) return nullptr;
      const Entry& e = entries_[id];
      if (e.hash == h && e.nameLen == len &&
          std::memcmp(names_.data() + e.nameOffset, name, len) == 0)
        return &e;
    }
  }
  // The blob stored at `e` for `qtype`, or kNone.
  std::uint32_t typeBlob(const Entry& e, std::uint16_t qtype) const noexcept {
    for (std::uint32_t i = e.firstType; i < e.firstType + e.typeCount; ++i)
      if (types_[i].qtype == qtype) return types_[i].blob;
    return kNone;
  }
  const Blob& blob(std::uint32_t i) const noexcept { return blobs_[i]; }
  // True when `suffix` (lowercase wire) is one of `b`'s risky names.
  bool risky(const Blob& b, const std::uint8_t* suffix, std::size_t len) const noexcept {
    for (std::uint32_t i = b.riskyOffset; i < b.riskyOffset + b.riskyCount; ++i)
      if (risky_[i].len == len && std::memcmp(names_.data() + risky_[i].offset, suffix, len) == 0)
        return true;
    return false;
  }
  const std::uint8_t* bytes() const noexcept { return bytes_.data(); }
  const std::uint16_t* pointers() const noexcept { return ptrs_.data(); }

  // Types always answered by the general path: DNSSEC types (DS lives on the
  // parent side of a cut, the rest are signing data), ANY, transfers, meta types.
  static bool generalOnly(std::uint16_t qtype) noexcept {
    switch (qtype) {
      case 41:   // OPT
      case 43:   // DS
      case 46:   // RRSIG
      case 47:   // NSEC
      case 48:   // DNSKEY
      case 50:   // NSEC3
      case 51:   // NSEC3PARAM
      case 59:   // CDS
      case 60:   // CDNSKEY
      case 249:  // TKEY
      case 250:  // TSIG
      case 251:  // IXFR
      case 252:  // AXFR
      case 253:  // MAILB
      case 254:  // MAILA
      case 255:  // ANY
        return true;
      default:
        return false;
    }
  }

  struct Stats {
    std::size_t names = 0, blobs = 0, bytes = 0, fallbackZones = 0;
  };
  const Stats& stats() const noexcept { return stats_; }

 private:
  std::shared_ptr<const zones::ZoneSet> zoneSet_;
  std::vector<Entry> entries_;
  std::vector<std::uint32_t> slots_;  // entry index or kNone
  std::uint64_t mask_ = 0;
  std::string names_;
  std::vector<TypeBlob> types_;
  std::vector<Blob> blobs_;
  std::vector<std::uint8_t> bytes_;
  std::vector<std::uint16_t> ptrs_;
  struct NameRef {
    std::uint32_t offset;  // in names_
    std::uint8_t len;
  };
  std::vector<NameRef> risky_;
  Stats stats_;

  friend class FastAnswersBuilder;
};

}  // namespace geodns::server
