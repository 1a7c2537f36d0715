#pragma once
// The compiled, immutable zone tree the data plane reads. Built once on the
// control thread from parsed records; after that only const access.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/wire/name.h"
#include "zones/zone_file.h"

namespace geodns::zones {

// Open-addressing index of lowercase wire names -> dense ids. Lookup is
// noexcept and allocation-free.
// The names are not copied: the index reads them where they are, `count`
// views `stride` bytes apart from `first` (a vector of views, or the name
// member of each element of a vector of structs), which must outlive it and
// not move.
class NameIndex {
 public:
  void build(const std::vector<std::string_view>& names) {
    build(names.data(), names.size(), sizeof(std::string_view));
  }
  void build(const std::string_view* first, std::size_t count, std::size_t stride);
  // Returns the id or -1.
  std::int32_t find(name::Span name) const noexcept;
  static std::uint64_t hash(name::Span name) noexcept;

 private:
  std::string_view at(std::size_t id) const noexcept {
    return *reinterpret_cast<const std::string_view*>(first_ + id * stride_);
  }
  const char* first_ = nullptr;
  std::size_t stride_ = 0;
  std::vector<std::int32_t> slots_;  // id, or -1 when empty
  std::uint64_t mask_ = 0;
};

struct Node;

// One resource record's RDATA inside RRset::bytes.
struct Rdata {
  std::uint32_t offset = 0;
  std::uint16_t length = 0;
  std::uint8_t nameCount = 0;  // embedded names to compress (0 for most types)
  std::uint16_t namePos[2] = {0, 0};
};

// The Rdata entries of one RRset. Most RRsets of a big zone hold one record:
// that one is kept inline, so a million-record zone does not make a million
// one-element heap arrays (issue 12 item 4: the load's time in malloc). The
// size of a std::vector. Only what the zone code uses of a vector's API.
class RdataList {
 public:
  RdataList() noexcept : one_{} {}
  RdataList(const RdataList& o) : RdataList() { assign(o); }
  RdataList(RdataList&& o) noexcept : RdataList() { take(o); }
  RdataList& operator=(const RdataList& o) {
    if (this != &o) {
      clear();
      assign(o);
    }
    return *this;
  }
  RdataList& operator=(RdataList&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~RdataList() { release(); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const Rdata* data() const noexcept { return cap_ > 1 ? heap_ : &one_; }
  Rdata* data() noexcept { return cap_ > 1 ? heap_ : &one_; }
  const Rdata* begin() const noexcept { return data(); }
  const Rdata* end() const noexcept { return data() + size_; }
  const Rdata& operator[](std::size_t i) const noexcept { return data()[i]; }
  const Rdata& front() const noexcept { return data()[0]; }
  const Rdata& back() const noexcept { return data()[size_ - 1]; }
  void clear() noexcept { size_ = 0; }
  void push_back(const Rdata& d) {
    if (size_ == cap_) grow(cap_ * 2);
    data()[size_++] = d;
  }

 private:
  void grow(std::uint32_t cap) {
    auto* p = new Rdata[cap];
    std::copy(begin(), end(), p);
    release();
    heap_ = p;
    cap_ = cap;
  }
  void assign(const RdataList& o) {
    if (o.size_ > cap_) grow(o.size_);
    std::copy(o.begin(), o.end(), data());
    size_ = o.size_;
  }
  void take(RdataList& o) noexcept {
    if (o.cap_ > 1) {
      heap_ = o.heap_;
    } else {
      one_ = o.one_;
    }
    size_ = o.size_;
    cap_ = o.cap_;
    o.size_ = 0;
    o.cap_ = 1;
    o.one_ = Rdata{};
  }
  void release() noexcept {
    if (cap_ > 1) delete[] heap_;
    cap_ = 1;
    one_ = Rdata{};
  }
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = 1;  // 1: the entry is one_; more: heap_ holds cap_ entries
  union {
    Rdata one_;
    Rdata* heap_;
  };
};
static_assert(sizeof(RdataList) <= 24, "RdataList should be no larger than a std::vector");

// An A/AAAA RRset to place in the additional section, with its owner.
struct AdditionalRef {
  const Node* node = nullptr;
  std::uint16_t rrsetIndex = 0;
};

// The RRSIGs of one RRset in a signed zone, written after it with the same
// owner and TTL (RRSIG RDATA has no compressible names: nameCount 0). Empty
// in unsigned zones, for NS and glue at a cut, and for wildcards (signed
// online at the expanded name instead, see ZoneSigning).
struct SigSet {
  std::uint16_t type = 46;  // RRSIG
  std::uint32_t ttl = 0;
  std::string bytes;
  RdataList rrs;
};

// What an RRset needs beyond its records only for some types or zones: kept
// behind one pointer, so that the plain A/AAAA/TXT RRsets of a big zone (most
// of them) do not carry 120 unused bytes each.
struct RRsetExtra {
  std::vector<AdditionalRef> additional;  // addresses of in-zone NS/MX/SRV targets
  std::string target;                     // CNAME target (lowercase wire)
  SigSet sigs;                            // RRSIGs (signed zones only)
};

struct RRset {
  std::uint16_t type = 0;
  bool wildcard = false;  // owned by a "*" node: signed online when served
  std::uint32_t ttl = 0;
  std::string bytes;  // concatenated RDATA
  RdataList rrs;

  RRset() = default;
  RRset(std::uint16_t t, std::uint32_t ttlSeconds) : type(t), ttl(ttlSeconds) {}
  RRset(const RRset& o)
      : type(o.type),
        wildcard(o.wildcard),
        ttl(o.ttl),
        bytes(o.bytes),
        rrs(o.rrs),
        extra_(o.extra_ ? std::make_unique<RRsetExtra>(*o.extra_) : nullptr) {}
  RRset(RRset&&) noexcept = default;
  RRset& operator=(const RRset& o) {
    if (this != &o) *this = RRset(o);
    return *this;
  }
  RRset& operator=(RRset&&) noexcept = default;
  ~RRset() = default;

  // Empty unless the zone compile or signing set them.
  const std::vector<AdditionalRef>& additional() const noexcept {
    return (extra_ ? *extra_ : kNone).additional;
  }
  const std::string& target() const noexcept { return (extra_ ? *extra_ : kNone).target; }
  const SigSet& sigs() const noexcept { return (extra_ ? *extra_ : kNone).sigs; }
  // For the control thread building the zone: made on first use.
  RRsetExtra& extra() {
    if (!extra_) extra_ = std::make_unique<RRsetExtra>();
    return *extra_;
  }
  bool hasExtra() const noexcept { return extra_ != nullptr; }

 private:
  static const RRsetExtra kNone;
  std::unique_ptr<RRsetExtra> extra_;
};
// A big zone holds one RRset per name, so its size is the zone's memory (issue 12 item 4:
// 192 bytes before the rare parts moved behind extra_). Checked on LP64 libstdc++ only.
static_assert(sizeof(void*) != 8 || sizeof(std::string) != 32 || sizeof(RRset) <= 72,
              "RRset grew: keep rarely used members in RRsetExtra");

struct Node {
  // Lowercase wire. The bytes belong to the zone (all names in one block,
  // Zone::names_): one allocation for a big zone's names, not one per name.
  std::string_view name;
  // Sorted by type. The RRsets belong to the zone too (Zone::rrsets_, every
  // node's in one array): no array of its own per node.
  std::span<const RRset> rrsets;
  bool delegation = false;    // NS below the apex: a zone cut
  bool occluded = false;      // at or below a cut, not the cut itself (glue)
  std::int32_t binding = -1;  // GSLB binding (index in the config's bindings), or -1
  const RRset* find(std::uint16_t type) const noexcept {
    for (const auto& r : rrsets)
      if (r.type == type) return &r;
    return nullptr;
  }
};

// A name bound to a GSLB pool: A/AAAA/CNAME at it come from the pool.
struct BoundName {
  std::string name;     // lowercase wire, inside the zone
  std::int32_t id = 0;  // binding index
  std::string where;    // config place, for errors
};

class ZoneSigning;  // zones/signing.h

class Zone {
 public:
  // Builds and checks a zone; on errors returns nullptr and fills `errors`.
  static std::unique_ptr<Zone> compile(const std::string& origin, ParsedRecords rrs,
                                       ErrorList& errors, const std::vector<BoundName>& bound = {});
  static std::unique_ptr<Zone> compile(const std::string& origin, std::vector<ParsedRR> rrs,
                                       ErrorList& errors, const std::vector<BoundName>& bound = {});

  const std::string& origin() const noexcept { return origin_; }
  std::size_t originLabels() const noexcept { return originLabels_; }
  const Node* find(name::Span name) const noexcept {
    std::int32_t id = index_.find(name);
    return id < 0 ? nullptr : &nodes_[static_cast<std::size_t>(id)];
  }
  const Node& apex() const noexcept { return nodes_[0]; }
  const RRset& soa() const noexcept { return *soa_; }
  // TTL for negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 s5).
  std::uint32_t negativeTtl() const noexcept { return negativeTtl_; }
  std::size_t nodeCount() const noexcept { return nodes_.size(); }
  // Every node, the apex first, then in the order of their wire names (not
  // canonical order); empty non-terminals and bound names included.
  std::span<const Node> nodes() const noexcept { return nodes_; }
  std::size_t recordCount() const noexcept { return records_; }
  std::uint32_t serial() const noexcept { return serial_; }
  // The zone's keys, signers and signature cache; null for an unsigned zone.
  const ZoneSigning* signing() const noexcept { return signing_.get(); }

  // Signs every authoritative RRset of this freshly compiled zone (control
  // thread, before the zone is published): RRSIGs by the zone-signing keys,
  // and by the key-signing keys for the apex DNSKEY/CDS/CDNSKEY; DS at a cut
  // signed, NS and glue at a cut not (RFC 4035 s2.2). Errors name the zone.
  bool sign(std::shared_ptr<const ZoneSigning> signing, ErrorList& errors);
  // The earliest time (unix seconds) a static signature must be replaced.
  std::int64_t refreshAt() const noexcept { return refreshAt_; }
  // A hash of every record but the SOA serial (zones/load.cc), so a reload
  // can tell changed data from the same data (the serial policy).
  std::uint64_t contentHash() const noexcept { return contentHash_; }
  void setContentHash(std::uint64_t h) noexcept { contentHash_ = h; }

 private:
  std::string origin_;
  std::size_t originLabels_ = 0;
  // The zone's own writes to the RRsets it compiles or signs (the nodes see
  // them as const).
  static std::span<RRset> writable(const Node& node) noexcept {
    return {const_cast<RRset*>(node.rrsets.data()), node.rrsets.size()};
  }
  std::unique_ptr<char[]> names_;  // the bytes of every node's name
  std::vector<RRset> rrsets_;      // every node's RRsets, node by node; never reallocated
  std::vector<Node> nodes_;        // nodes_[0] is the apex
  NameIndex index_;                // over the nodes' names
  const RRset* soa_ = nullptr;
  std::uint32_t negativeTtl_ = 0;
  std::uint32_t serial_ = 0;
  std::uint64_t contentHash_ = 0;
  std::size_t records_ = 0;
  std::shared_ptr<const ZoneSigning> signing_;
  std::int64_t refreshAt_ = 0;
};

// All loaded zones; finds the zone with the longest matching origin.
class ZoneSet {
 public:
  void add(std::unique_ptr<Zone> zone);
  void finish();  // builds the index; call once after the last add()
  // Up to this many zones, findZone() compares each origin with the name's
  // tail (longest first) instead of hashing every suffix of the name.
  static constexpr std::size_t kScanZones = 8;
  // Longest-match zone for `qname` (lowercase wire), or nullptr.
  const Zone* findZone(name::Span qname) const noexcept;
  // The longest zone strictly above `zone` that contains it (parent side of a cut).
  const Zone* findParent(const Zone& zone) const noexcept;
  std::span<const std::unique_ptr<Zone>> zones() const noexcept { return zones_; }
  // The earliest Zone::refreshAt() of the signed zones (unix seconds), or
  // INT64_MAX when none is signed: when the control thread must sign again.
  std::int64_t refreshAt() const noexcept;

  // Secondary zones without data (never transferred, or expired): names in
  // them are answered SERVFAIL, not from a parent zone. `origin`: lowercase wire.
  void addUnavailable(std::string origin);
  bool hasUnavailable() const noexcept { return !unavailable_.empty(); }
  // True when `qname` lies in an unavailable zone deeper than `found` (the
  // zone findZone/zoneFor chose; null when none).
  bool unavailableFor(name::Span qname, const Zone* found) const noexcept;
  std::span<const std::string> unavailable() const noexcept { return unavailable_; }

 private:
  std::vector<std::string> unavailable_;
  std::vector<std::unique_ptr<Zone>> zones_;
  std::vector<std::string_view> origins_;    // each zone's origin()
  std::vector<std::uint32_t> longestFirst_;  // zone indexes by origin length, longest first
  NameIndex index_;
};

}  // namespace geodns::zones
