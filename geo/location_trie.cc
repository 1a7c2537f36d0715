#include "geo/location_trie.h"

#include <array>
#include <cstring>
#include <string_view>
#include <unordered_map>

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

class Builder {
 public:
  Builder(const Locator& locator, int family, bool coords, LocationTrie& out)
      : nets_(locator.nets()),
        family_(family),
        bits_(family == 4 ? 32u : 128u),
        coords_(coords),
        out_(out) {
    for (const auto& db : locator.databases())
      if (db->walkRoot(family) != Database::kWalkEmpty) {
        dbs_.push_back(db.get());
        // A record's class, found once: millions of networks share a few
        // thousand records.
        recordClass_.emplace_back(db->walkRecords(), kUnknown);
      }
    scratch_.resize((bits_ + 1) * (dbs_.size() + 1));
  }

  void run() {
    std::uint32_t* v = level(0);
    for (std::size_t i = 0; i < dbs_.size(); ++i) v[i] = dbs_[i]->walkRoot(family_);
    Sub s = walk(0, 0, -1, family_ == 6);
    out_.root = s.leaf ? leafValue(s) : s.value;
  }

 private:
  // A walked block: uniform (a class) or a node of the output.
  struct Sub {
    bool leaf = true;
    std::uint32_t value = 0;  // class (leaf) or node index
    std::uint32_t networks = 0;
  };

  std::uint32_t* level(unsigned depth) noexcept { return scratch_.data() + depth * dbs_.size(); }

  std::uint32_t classOf(const Location& raw) {
    Location l = raw;
    l.prefix = 0;
    l.database = -1;
    l.asn = 0;
    if (!coords_) {
      l.hasCoords = false;
      l.lat = l.lon = 0;
    }
    auto [it, inserted] = byKey_.emplace(keyOf(l), static_cast<std::uint32_t>(out_.classes.size()));
    if (inserted) out_.classes.push_back(l);
    return it->second;
  }

  std::uint32_t leafValue(const Sub& s) {
    out_.leaves.push_back({s.value, s.networks});
    return LocationTrie::kLeaf | static_cast<std::uint32_t>(out_.leaves.size() - 1);
  }

  // `netsNode`: the CIDR trie node at this block (-1: no entry below);
  // `best`: the most specific entry covering it; `mapped`: the block lies on
  // the path to ::ffff:0:0/96.
  Sub walk(unsigned depth, std::int32_t netsNode, std::int32_t best, bool mapped) {
    if (mapped && depth == 96) return {true, LocationTrie::kMappedClass, 0};
    if (netsNode >= 0 && nets_.walkEntry(family_, netsNode) >= 0)
      best = nets_.walkEntry(family_, netsNode);
    const bool netsSettled = netsNode < 0 || (nets_.walkChild(family_, netsNode, 0) < 0 &&
                                              nets_.walkChild(family_, netsNode, 1) < 0);
    if (netsSettled && best >= 0 && !mapped) {
      Location l;
      l.found = true;
      l.netEntry = best;
      return {true, classOf(l), 1};
    }
    const std::uint32_t* v = level(depth);
    bool dbsSettled = true;
    for (std::size_t i = 0; i < dbs_.size(); ++i)
      dbsSettled = dbsSettled && v[i] >= Database::kWalkLeaf;
    if ((netsSettled && dbsSettled && !mapped) || depth == bits_) {
      // As locate(): the first database with a record answers; a node left
      // at full depth holds none.
      for (std::size_t i = 0; i < dbs_.size(); ++i)
        if (v[i] >= Database::kWalkLeaf && v[i] != Database::kWalkEmpty) {
          std::uint32_t& cls = recordClass_[i][v[i] & ~Database::kWalkLeaf];
          if (cls == kUnknown) {
            Location l = dbs_[i]->walkRecord(v[i]);
            l.found = true;
            cls = classOf(l);
          }
          return {true, cls, 1};
        }
      return {true, classOf(Location{}), 0};
    }
    Sub half[2];
    for (int b = 0; b < 2; ++b) {
      std::uint32_t* next = level(depth + 1);
      for (std::size_t i = 0; i < dbs_.size(); ++i)
        next[i] = v[i] < Database::kWalkLeaf ? dbs_[i]->walkChild(v[i], b) : v[i];
      const std::int32_t child = netsNode < 0 ? -1 : nets_.walkChild(family_, netsNode, b);
      // ::ffff:0:0/96 is 80 zero bits then 16 one bits.
      const bool onMapped = mapped && b == (depth >= 80 ? 1 : 0);
      half[b] = walk(depth + 1, child, best, onMapped);
    }
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

  const CidrMap& nets_;
  int family_;
  unsigned bits_;
  bool coords_;
  LocationTrie& out_;
  std::vector<const Database*> dbs_;
  static constexpr std::uint32_t kUnknown = 0xFFFFFFFFu;
  std::vector<std::uint32_t> scratch_;                   // per depth, each database's value
  std::vector<std::vector<std::uint32_t>> recordClass_;  // per database, per record
  std::unordered_map<ClassKey, std::uint32_t, ClassKeyHash> byKey_;
};

}  // namespace

std::shared_ptr<const LocationTrie> compileLocationTrie(const Locator& locator, int family,
                                                        bool coords) {
  auto t = std::make_shared<LocationTrie>();
  t->family = family;
  Builder(locator, family, coords, *t).run();
  t->nodes.shrink_to_fit();
  t->leaves.shrink_to_fit();
  t->classes.shrink_to_fit();
  return t;
}

}  // namespace geodns::geo
