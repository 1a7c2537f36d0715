#pragma once
// The address space of one family cut into the widest aligned blocks over
// which Locator::locate() gives the same Location: the union of the
// databases' networks and the operator CIDR map, walked once per config.
// gslb/compiled.h maps its location classes to decisions and merges again.
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "geo/location.h"
#include "geo/locator.h"

namespace geodns::geo {

struct LocationTrie {
  static constexpr std::uint32_t kLeaf = 0x80000000u;
  // The class of ::ffff:0:0/96 in the IPv6 trie: IPv4-mapped clients are
  // located as IPv4 (Locator::locate), so this block is never looked up here
  // and must never merge with a neighbour.
  static constexpr std::uint32_t kMappedClass = 0xFFFFFFFFu;
  struct Leaf {
    std::uint32_t cls = 0;       // index in `classes` (or kMappedClass)
    std::uint32_t networks = 0;  // located pieces (database networks, nets entries) it spans
  };
  int family = 4;
  // Two values per node, child 0 then child 1: a node index, or kLeaf | leaf index.
  std::vector<std::uint32_t> nodes;
  std::vector<Leaf> leaves;
  std::uint32_t root = kLeaf;  // value of the whole family's block
  // Distinct locations, as locate() reports them but with prefix 0,
  // database -1 and asn 0 (no step reads the ASN; the ASN database is not
  // walked), and without coordinates unless asked for (only a nearest step
  // reads them; without them a country's networks are one class).
  std::vector<Location> classes;
  // The class of `ip` (of this trie's family, not IPv4-mapped) and the
  // prefix of its block: the widest aligned block over which locate() gives
  // that class. Query path: noexcept, allocation-free.
  struct Hit {
    const Location* location = nullptr;  // null only for ::ffff:0:0/96 (kMappedClass)
    std::uint32_t networks = 0;
    std::uint8_t prefix = 0;
  };
  Hit lookup(const IpAddress& ip) const noexcept {
    std::uint32_t v = root;
    unsigned depth = 0;
    while (v < kLeaf) v = nodes[std::size_t{v} * 2 + static_cast<std::size_t>(ip.bit(depth++))];
    const Leaf& leaf = leaves[v & ~kLeaf];
    return {leaf.cls == kMappedClass ? nullptr : &classes[leaf.cls], leaf.networks,
            static_cast<std::uint8_t>(depth)};
  }
  std::size_t bytes() const noexcept {
    return nodes.capacity() * sizeof(std::uint32_t) + leaves.capacity() * sizeof(Leaf) +
           classes.capacity() * sizeof(Location);
  }
};

// Control thread: walks `locator`'s CIDR map and databases for `family` (4
// or 6). `coords`: keep the coordinates (some policy orders by distance).
std::shared_ptr<const LocationTrie> compileLocationTrie(const Locator& locator, int family,
                                                        bool coords = true);

// What a tree merged from compileLocationTrie()'s classes by an outcome per
// class (gslb/compiled.h) says for one address, found without building
// either: the client's path down to its piece, then, on the way back up,
// each sibling block walked until a piece with another outcome stops it. So
// it costs the pieces of the answer's block (and of the sibling that ends
// it), not the whole database: `geodnsd explain`, which builds no tries.
struct BlockAround {
  Location location;           // the address's class (as LocationTrie::classes holds it)
  std::uint32_t outcome = 0;   // its outcome (an id from OutcomeOf)
  std::uint8_t prefix = 1;     // the widest aligned block with its outcome, in bits of its
                               // family (>= 1: the merge never takes a whole family)
  std::uint32_t networks = 0;  // located pieces in it (LocationTrie::Leaf::networks summed)
  bool exact = true;      // false: the walk reached maxNodes: the block is /prefix or wider and
                          // holds at least `networks`
  std::size_t nodes = 0;  // blocks walked
};
// Maps a class (as LocationTrie::classes holds it) to an outcome id; called
// once per distinct class met.
using OutcomeOf = std::function<std::uint32_t(const Location&)>;
// `address` of family 4 or 6; an IPv4-mapped one is walked as IPv4 (as
// locate() does) and the prefix is then in IPv4 bits. `coords`: as given to
// compileLocationTrie(). Control thread.
BlockAround blockAround(const Locator& locator, const IpAddress& address, bool coords,
                        const OutcomeOf& outcomeOf,
                        std::size_t maxNodes = std::numeric_limits<std::size_t>::max());

}  // namespace geodns::geo
