#include "geo/location_trie.h"

#include <array>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "core/huge_pages.h"

namespace geodns::geo {

namespace {

// A Location's identity as a class: the fields a decision can read.
using ClassKey = std::array<char, 40>;
struct ClassKeyHash {
  std::size_t operator()(const ClassKey& k) const noexcept {
    return std::hash<std::string_view>{}(std::string_view(k.data(), k.size()));
  }
};

ClassKey keyOf(const Location& l) noexcept {
  ClassKey k{};
  std::size_t o = 0;
  k[o++] = l.found ? 1 : 0;
  std::memcpy(k.data() + o, l.continent, sizeof l.continent);
  o += sizeof l.continent;
  std::memcpy(k.data() + o, l.country, sizeof l.country);
  o += sizeof l.country;
  std::memcpy(k.data() + o, l.subdivision, sizeof l.subdivision);
  o += sizeof l.subdivision;
  k[o++] = l.hasCoords ? 1 : 0;
  if (l.hasCoords) {
    std::memcpy(k.data() + o, &l.lat, sizeof l.lat);
    std::memcpy(k.data() + o + 8, &l.lon, sizeof l.lon);
  }
  o += 16;
  std::memcpy(k.data() + o, &l.netEntry, sizeof l.netEntry);
  return k;
}

// A Location as a class: what LocationTrie::classes holds.
Location classLocation(const Location& raw, bool coords) noexcept {
  Location l = raw;
  l.prefix = 0;
  l.database = -1;
  l.asn = 0;
  if (!coords) {
    l.hasCoords = false;
    l.lat = l.lon = 0;
  }
  return l;
}

// The partition of one family's address space that compileLocationTrie()
// builds and blockAround() walks locally: the rules that say where a block
// stops (a piece: one location holds over it) and what its children are.
// Both walks use this one class, so their pieces are the same.
class Partition {
 public:
  Partition(const Locator& locator, int family)
      : nets_(locator.nets()), family_(family), bits_(family == 4 ? 32u : 128u) {
    for (const auto& db : locator.databases())
      if (db->walkRoot(family) != Database::kWalkEmpty) {
        dbs_.push_back(db.get());
        trees_.push_back(&db->walkTree());
      }
  }

  enum class Kind : std::uint8_t {
    Split,   // not a piece: walk both children
    Mapped,  // ::ffff:0:0/96 in the IPv6 space (never merges)
    Net,     // an operator net covers the whole block: `entry`
    Record,  // the first database with a record here: dbs()[db], `value`
    Miss,    // nothing located
  };
  struct Piece {
    Kind kind = Kind::Split;
    std::int32_t entry = -1;
    std::size_t db = 0;
    std::uint32_t value = 0;
  };

  // A block at `depth`: `v` holds each database's walk value there,
  // `netsNode` the CIDR trie node (-1: no entry below), `best` the most
  // specific entry covering it (updated here), `mapped`: the block lies on
  // the path to ::ffff:0:0/96.
  Piece settle(unsigned depth, const std::uint32_t* v, std::int32_t netsNode, std::int32_t& best,
               bool mapped) const noexcept {
    if (mapped && depth == 96) return {Kind::Mapped};
    if (netsNode >= 0 && nets_.walkEntry(family_, netsNode) >= 0)
      best = nets_.walkEntry(family_, netsNode);
    const bool netsSettled = netsNode < 0 || (nets_.walkChild(family_, netsNode, 0) < 0 &&
                                              nets_.walkChild(family_, netsNode, 1) < 0);
    if (netsSettled && best >= 0 && !mapped) return {Kind::Net, best};
    bool dbsSettled = true;
    for (std::size_t i = 0; i < dbs_.size(); ++i)
      dbsSettled = dbsSettled && v[i] >= Database::kWalkLeaf;
    if ((netsSettled && dbsSettled && !mapped) || depth == bits_) {
      // As locate(): the first database with a record answers; a node left
      // at full depth holds none.
      for (std::size_t i = 0; i < dbs_.size(); ++i)
        if (v[i] >= Database::kWalkLeaf && v[i] != Database::kWalkEmpty)
          return {Kind::Record, -1, i, v[i]};
      return {Kind::Miss};
    }
    return {Kind::Split};
  }

  // Child `bit` of a block at `depth`: the databases' values into `next`,
  // the CIDR node and whether it is still on the ::ffff:0:0/96 path.
  void child(unsigned depth, const std::uint32_t* v, std::int32_t netsNode, bool mapped, int bit,
             std::uint32_t* next, std::int32_t& netsChild, bool& mappedChild) const noexcept {
    for (std::size_t i = 0; i < dbs_.size(); ++i)
      next[i] = v[i] >= Database::kWalkLeaf ? v[i] : trees_[i]->child(v[i], bit);
    netsChild = netsNode < 0 ? -1 : nets_.walkChild(family_, netsNode, bit);
    // ::ffff:0:0/96 is 80 zero bits then 16 one bits.
    mappedChild = mapped && bit == (depth >= 80 ? 1 : 0);
  }

  // The piece's location (Kind Net, Record or Miss), not yet a class: the
  // fields a class keeps (`coords`: as classLocation()'s).
  Location location(const Piece& p, bool coords) const noexcept {
    Location l;
    if (p.kind == Kind::Net) {
      l.found = true;
      l.netEntry = p.entry;
    } else if (p.kind == Kind::Record) {
      l = dbs_[p.db]->walkRecord(p.value, coords ? Database::RecordFields::ClassWithCoords
                                                 : Database::RecordFields::Class);
      l.found = true;
    }
    return l;
  }
  // Located pieces count as networks (LocationTrie::Leaf::networks).
  static std::uint32_t networks(const Piece& p) noexcept {
    return p.kind == Kind::Net || p.kind == Kind::Record ? 1 : 0;
  }

  int family() const noexcept { return family_; }
  unsigned bits() const noexcept { return bits_; }
  const std::vector<const Database*>& dbs() const noexcept { return dbs_; }
  std::uint32_t root(std::size_t i) const noexcept { return dbs_[i]->walkRoot(family_); }
  bool rootMapped() const noexcept { return family_ == 6; }

 private:
  const CidrMap& nets_;
  int family_;
  unsigned bits_;
  std::vector<const Database*> dbs_;
  std::vector<const Database::Tree*> trees_;  // each one's walkTree(), read inline
};

// Record value -> class, for the millions of lookups of a walk: open
// addressing (std::unordered_map's node per entry made this the walk's
// largest cost), with the last record remembered (neighbouring networks
// often share one). The slot is the record's offset scaled to the table, not
// a scrambled hash: writers lay records out in the order the tree's walk
// meets them, so consecutive lookups probe neighbouring slots and stay in
// cache (a multiplicative hash measured 2x slower on DB-IP).
class RecordClasses {
 public:
  static constexpr std::uint32_t kUnknown = 0xFFFFFFFFu;
  explicit RecordClasses(std::uint32_t dataSize = 0) : dataSize_(dataSize ? dataSize : 1) {}
  // The class slot of `value` (a record value, never Database::kWalkEmpty);
  // kUnknown when new. Valid until the next call.
  std::uint32_t& at(std::uint32_t value) {
    if (value == lastValue_) return *last_;
    if ((used_ + 1) * 2 > slots_.size()) grow();
    std::size_t i = slot(value);
    if (slots_[i].first == kNone) {
      slots_[i].first = value;
      ++used_;
    }
    lastValue_ = value;
    last_ = &slots_[i].second;
    return *last_;
  }

 private:
  static constexpr std::uint32_t kNone = Database::kWalkEmpty;
  std::size_t start(std::uint32_t value) const noexcept {
    // offset * slots / dataSize as a multiply and a shift (a division
    // per record was a tenth of a walk).
    const std::uint64_t offset = value & ~Database::kWalkLeaf;
    return static_cast<std::size_t>((offset * scale_) >> 32) & (slots_.size() - 1);
  }
  std::size_t slot(std::uint32_t value) const noexcept {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = start(value);
    while (slots_[i].first != kNone && slots_[i].first != value) i = (i + 1) & mask;
    return i;
  }
  void grow() {
    // Sized for the whole data section at once (a record every 32 bytes;
    // DB-IP's average 44): a table sized for the records met so far would
    // pack them into its first slots.
    std::size_t n = 1024;
    while (n < (used_ + 1) * 4 || n < dataSize_ / 32) n *= 2;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> old;
    reserveHuge(old, n);
    old.assign(n, {kNone, kUnknown});
    old.swap(slots_);
    // slot(): offset * scale_ fits 64 bits while n <= 2 * dataSize_ (records
    // of 2 bytes or more); a product that wrapped would only start the
    // probe elsewhere.
    scale_ = (std::uint64_t{n} << 32) / dataSize_;
    for (const auto& e : old)
      if (e.first != kNone) slots_[slot(e.first)] = e;
    lastValue_ = kNone;
    last_ = nullptr;
  }
  std::uint64_t dataSize_;
  std::uint64_t scale_ = 0;  // slots * 2^32 / dataSize_
  std::vector<std::pair<std::uint32_t, std::uint32_t>> slots_;
  std::size_t used_ = 0;
  std::uint32_t lastValue_ = kNone;
  std::uint32_t* last_ = nullptr;
};

class Builder {
 public:
  Builder(const Locator& locator, int family, bool coords, LocationTrie& out)
      : part_(locator, family), coords_(coords), out_(out) {
    // A record's class, found once: DB-IP's 14.7M networks share 700k
    // records (and far fewer classes).
    std::size_t estimate = 0;
    for (const Database* db : part_.dbs()) {
      recordClass_.emplace_back(db->walkTree().dataSize);
      estimate += coords ? db->walkTree().nodes : db->walkTree().nodes / 8;
    }
    // Merged, DB-IP's tries keep about a twelfth of its nodes; with
    // coordinates (a class per city) nearly all of them. Room for that at
    // once, not a dozen copies while doubling (pages not filled stay
    // unmapped).
    reserveHuge(out_.nodes, 2 * estimate);
    reserveHuge(out_.leaves, estimate);
    scratch_.resize((part_.bits() + 1) * (part_.dbs().size() + 1));
  }

  void run() {
    std::uint32_t* v = level(0);
    for (std::size_t i = 0; i < part_.dbs().size(); ++i) v[i] = part_.root(i);
    Sub s = walk(0, 0, -1, part_.rootMapped());
    out_.root = s.leaf ? leafValue(s) : s.value;
  }

 private:
  // A walked block: uniform (a class) or a node of the output.
  struct Sub {
    bool leaf = true;
    std::uint32_t value = 0;  // class (leaf) or node index
    std::uint32_t networks = 0;
  };
  using Kind = Partition::Kind;

  std::uint32_t* level(unsigned depth) noexcept {
    return scratch_.data() + depth * part_.dbs().size();
  }

  std::uint32_t classOf(const Location& raw) {
    const Location l = classLocation(raw, coords_);
    auto [it, inserted] = byKey_.emplace(keyOf(l), static_cast<std::uint32_t>(out_.classes.size()));
    if (inserted) out_.classes.push_back(l);
    return it->second;
  }

  std::uint32_t leafValue(const Sub& s) {
    out_.leaves.push_back({s.value, s.networks});
    return LocationTrie::kLeaf | static_cast<std::uint32_t>(out_.leaves.size() - 1);
  }

  Sub walk(unsigned depth, std::int32_t netsNode, std::int32_t best, bool mapped) {
    const std::uint32_t* v = level(depth);
    const Partition::Piece p = part_.settle(depth, v, netsNode, best, mapped);
    switch (p.kind) {
      case Kind::Mapped:
        return {true, LocationTrie::kMappedClass, 0};
      case Kind::Net:
      case Kind::Miss:
        return {true, classOf(part_.location(p, coords_)), Partition::networks(p)};
      case Kind::Record:
        return recordSub(p);
      case Kind::Split:
        break;
    }
    if (netsNode < 0 && !mapped) {
      // Below the operator nets and off the ::ffff:0:0/96 path, with one
      // database still splitting, the pieces are that database's: walk its
      // tree alone (most of a walk's blocks, at a fifth of the generic
      // step's cost).
      const std::size_t n = part_.dbs().size();
      std::size_t open = n;
      bool single = true;
      for (std::size_t i = 0; i < n; ++i)
        if (v[i] < Database::kWalkLeaf) {
          single = single && open == n;
          open = i;
        }
      if (single && open < n) {
        One one;
        one.tree = &part_.dbs()[open]->walkTree();
        one.db = open;
        // As settle(): the first database with a record answers. An
        // earlier one's record holds over every piece; a later one's fills
        // the pieces where this one has none.
        for (std::size_t i = 0; i < n; ++i)
          if (i != open && v[i] != Database::kWalkEmpty) {
            (i < open ? one.over : one.fill) = {Kind::Record, -1, i, v[i]};
            break;
          }
        return walkOne(depth, v[open], one);
      }
    }
    Sub half[2];
    for (int b = 0; b < 2; ++b) {
      std::int32_t child = -1;
      bool onMapped = false;
      part_.child(depth, v, netsNode, mapped, b, level(depth + 1), child, onMapped);
      half[b] = walk(depth + 1, child, best, onMapped);
    }
    return join(half);
  }

  // A piece of Kind Record.
  Sub recordSub(const Partition::Piece& p) {
    // The mapped pages walked so far are released now and then: a walk
    // would otherwise hold the whole file resident (134 MB for DB-IP)
    // until releasePages() after it.
    if ((++records_ & kReleaseEvery) == 0)
      for (const Database* db : part_.dbs()) db->releasePages();
    std::uint32_t& cls = recordClass_[p.db].at(p.value);
    if (cls == kUnknown) cls = classOf(part_.location(p, coords_));
    return {true, cls, 1};
  }

  // Two halves as one block: merged when both are the same class.
  Sub join(const Sub (&half)[2]) {
    if (half[0].leaf && half[1].leaf && half[0].value == half[1].value &&
        half[0].value != LocationTrie::kMappedClass)
      return {true, half[0].value, half[0].networks + half[1].networks};
    const std::uint32_t a = half[0].leaf ? leafValue(half[0]) : half[0].value;
    const std::uint32_t c = half[1].leaf ? leafValue(half[1]) : half[1].value;
    out_.nodes.push_back(a);
    out_.nodes.push_back(c);
    return {false, static_cast<std::uint32_t>(out_.nodes.size() / 2 - 1),
            half[0].networks + half[1].networks};
  }

  // walkOne()'s database and what its pieces hold besides its own records.
  struct One {
    const Database::Tree* tree = nullptr;
    std::size_t db = 0;
    Partition::Piece over{Kind::Split};  // an earlier database's record: every piece
    Partition::Piece fill{Kind::Miss};   // a later one's record (or Miss): pieces without one
    bool fillKnown = false;              // fillSub is computed (on first use: classes are
    Sub fillSub;                         // numbered in the order the walk meets them)
  };

  // The block below `node` of one.tree at `depth`, as walk() would cut it:
  // a child that is a record or empty is a piece, a node below full depth
  // splits again (a node left at full depth holds no record).
  Sub walkOne(unsigned depth, std::uint32_t node, One& one) {
    Sub half[2];
    for (int b = 0; b < 2; ++b) {
      const std::uint32_t r = one.tree->child(node, b);
      if (r < Database::kWalkLeaf && depth + 1 < part_.bits()) {
        half[b] = walkOne(depth + 1, r, one);
      } else if (one.over.kind == Kind::Record) {
        half[b] = recordSub(one.over);
      } else if (r >= Database::kWalkLeaf && r != Database::kWalkEmpty) {
        half[b] = recordSub({Kind::Record, -1, one.db, r});
      } else {
        if (!one.fillKnown) {
          one.fillSub = one.fill.kind == Kind::Record
                            ? recordSub(one.fill)
                            : Sub{true, classOf(part_.location(one.fill, coords_)), 0};
          one.fillKnown = true;
        }
        half[b] = one.fillSub;
      }
    }
    return join(half);
  }

  Partition part_;
  bool coords_;
  LocationTrie& out_;
  static constexpr std::uint32_t kUnknown = RecordClasses::kUnknown;
  static constexpr std::size_t kReleaseEvery = (std::size_t{1} << 20) - 1;  // records, minus one
  std::size_t records_ = 0;
  std::vector<std::uint32_t> scratch_;      // per depth, each database's value
  std::vector<RecordClasses> recordClass_;  // per database
  std::unordered_map<ClassKey, std::uint32_t, ClassKeyHash> byKey_;
};

// blockAround(): the client's path from the root to its piece, then the
// sibling of each block on the way back up, walked until a piece with
// another outcome (or the bound) stops it.
class Around {
 public:
  Around(const Locator& locator, const IpAddress& a, bool coords, const OutcomeOf& outcomeOf,
         std::size_t maxNodes)
      : part_(locator, a.family),
        a_(a),
        coords_(coords),
        outcomeOf_(outcomeOf),
        maxNodes_(maxNodes) {
    scratch_.resize((part_.bits() + 1) * (part_.dbs().size() + 1));
  }

  BlockAround run() {
    BlockAround out;
    const unsigned bits = part_.bits();
    // Down the client's path; each depth's state is kept for its sibling.
    std::vector<std::int32_t> nets(bits + 1), best(bits + 1);
    std::vector<bool> mapped(bits + 1);
    std::uint32_t* v = level(0);
    for (std::size_t i = 0; i < part_.dbs().size(); ++i) v[i] = part_.root(i);
    std::int32_t netsNode = 0, bestEntry = -1;
    bool onMapped = part_.rootMapped();
    unsigned depth = 0;
    Partition::Piece piece;
    for (;; ++depth) {
      ++visited_;
      piece = part_.settle(depth, level(depth), netsNode, bestEntry, onMapped);
      nets[depth] = netsNode;
      best[depth] = bestEntry;
      mapped[depth] = onMapped;
      if (piece.kind != Partition::Kind::Split) break;
      const int bit = a_.bit(depth) ? 1 : 0;
      part_.child(depth, level(depth), netsNode, onMapped, bit, level(depth + 1), netsNode,
                  onMapped);
    }
    const Verdict own = verdictOf(piece);
    out.location = own.location;
    out.outcome = own.outcome;
    target_ = own.outcome;
    targetClass_ = own.cls;
    out.networks = Partition::networks(piece);
    out.prefix = 1;
    out.nodes = visited_;
    if (depth == 0) return out;  // one piece for the family: each /1 holds all of it
    // Up again: the block at depth d is uniform when its child off the
    // path is (the child on it is the block below, uniform already).
    for (unsigned d = depth; d-- > 1;) {
      const int off = a_.bit(d) ? 0 : 1;
      std::int32_t childNets = -1;
      bool childMapped = false;
      part_.child(d, level(d), nets[d], mapped[d], off, level(d + 1), childNets, childMapped);
      count_ = 0;
      const Walk w = walk(d + 1, childNets, best[d], childMapped, false);
      out.nodes = visited_;
      if (w != Walk::Same) {
        out.prefix = static_cast<std::uint8_t>(d + 1);
        out.exact = w == Walk::Differs;
        return out;
      }
      out.networks += count_;
    }
    // /1: the tree merger never merges the root, but a location trie that
    // is one class over the whole family is a single leaf, and both /1
    // halves then report all its networks. Both halves hold one class?
    std::uint32_t other = 0;
    bool oneClass = true;
    for (int half = 0; half < 2 && oneClass; ++half) {
      std::int32_t childNets = -1;
      bool childMapped = false;
      part_.child(0, level(0), nets[0], mapped[0], half, level(1), childNets, childMapped);
      count_ = 0;
      const Walk w = walk(1, childNets, best[0], childMapped, true);
      out.nodes = visited_;
      oneClass = w == Walk::Same;
      if (w == Walk::Bound) out.exact = false;  // the count may be short
      if (half != (a_.bit(0) ? 1 : 0)) other = count_;
    }
    if (oneClass) out.networks += other;
    return out;
  }

 private:
  using Kind = Partition::Kind;
  enum class Walk { Same, Differs, Bound };
  struct Verdict {
    std::uint32_t outcome = 0;
    std::uint32_t cls = 0;
    Location location;
  };

  std::uint32_t* level(unsigned depth) noexcept {
    return scratch_.data() + depth * part_.dbs().size();
  }

  Verdict verdictOf(const Partition::Piece& p) {
    Verdict r;
    r.location = classLocation(part_.location(p, coords_), coords_);
    auto [it, inserted] =
        byKey_.emplace(keyOf(r.location), static_cast<std::uint32_t>(byKey_.size()));
    r.cls = it->second;
    auto [o, fresh] = outcomes_.try_emplace(r.cls, 0);
    if (fresh) o->second = outcomeOf_(r.location);
    r.outcome = o->second;
    return r;
  }

  // Same (outcome, or class when `byClass`) for every piece in the block;
  // `count_` += its located pieces.
  Walk walk(unsigned depth, std::int32_t netsNode, std::int32_t best, bool mapped, bool byClass) {
    if (++visited_ > maxNodes_) return Walk::Bound;
    const std::uint32_t* v = level(depth);
    const Partition::Piece p = part_.settle(depth, v, netsNode, best, mapped);
    switch (p.kind) {
      case Kind::Mapped:
        return Walk::Differs;
      case Kind::Net:
      case Kind::Miss:
      case Kind::Record: {
        std::uint64_t key = p.kind == Kind::Record ? (std::uint64_t{p.db} << 32) | p.value
                            : p.kind == Kind::Net
                                ? (std::uint64_t{1} << 63) | std::uint32_t(p.entry)
                                : ~std::uint64_t{0};
        auto [it, inserted] = pieces_.try_emplace(key);
        if (inserted) {
          const Verdict r = verdictOf(p);
          it->second = {r.outcome, r.cls};
        }
        if (byClass ? it->second.second != targetClass_ : it->second.first != target_)
          return Walk::Differs;
        count_ += Partition::networks(p);
        return Walk::Same;
      }
      case Kind::Split:
        break;
    }
    for (int b = 0; b < 2; ++b) {
      std::int32_t child = -1;
      bool onMapped = false;
      part_.child(depth, v, netsNode, mapped, b, level(depth + 1), child, onMapped);
      const Walk w = walk(depth + 1, child, best, onMapped, byClass);
      if (w != Walk::Same) return w;
    }
    return Walk::Same;
  }

  Partition part_;
  IpAddress a_;
  bool coords_;
  const OutcomeOf& outcomeOf_;
  std::size_t maxNodes_;
  std::size_t visited_ = 0;
  std::uint32_t count_ = 0;
  std::uint32_t target_ = 0, targetClass_ = 0;
  std::vector<std::uint32_t> scratch_;
  std::unordered_map<ClassKey, std::uint32_t, ClassKeyHash> byKey_;  // class ids
  std::unordered_map<std::uint32_t, std::uint32_t> outcomes_;        // class -> outcome
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>>
      pieces_;  // -> (outcome, class)
};

}  // namespace

std::shared_ptr<const LocationTrie> compileLocationTrie(const Locator& locator, int family,
                                                        bool coords) {
  auto t = std::make_shared<LocationTrie>();
  t->family = family;
  Builder(locator, family, coords, *t).run();
  // A tight copy only when the estimate left much unused: copying DB-IP's
  // trie with coordinates (100 MB) cost more than the spare room.
  auto tighten = [](auto& v) {
    if (v.capacity() - v.size() > v.size() / 8) shrinkHuge(v);
  };
  tighten(t->nodes);
  tighten(t->leaves);
  t->classes.shrink_to_fit();
  return t;
}

BlockAround blockAround(const Locator& locator, const IpAddress& address, bool coords,
                        const OutcomeOf& outcomeOf, std::size_t maxNodes) {
  const IpAddress a = address.isV4Mapped() ? address.v4FromMapped() : address;
  return Around(locator, a, coords, outcomeOf, maxNodes).run();
}

}  // namespace geodns::geo
