#pragma once
// Operator CIDR map: prefix -> entry index, longest prefix wins. A binary
// trie built once; lookups are allocation-free and also report the block over
// which the result holds (for the ECS scope).
#include <cstdint>
#include <vector>

#include "core/ip.h"

namespace geodns::geo {

class CidrMap {
 public:
  // Control thread. Returns false when the same prefix was added before.
  bool add(const IpPrefix& prefix, std::int32_t entry);

  struct Match {
    std::int32_t entry = -1;  // -1: no entry covers the address
    std::uint8_t prefix = 0;  // matched entry's length; for a miss, 0
    // Longest prefix over which the lookup result is the same for every
    // address (a more specific entry elsewhere shortens nothing; one below the
    // address's path lengthens it).
    std::uint8_t stable = 0;
  };
  Match lookup(const IpAddress& ip) const noexcept;
  bool empty() const noexcept { return v4_.size() <= 1 && v6_.size() <= 1; }

  // Walking the trie (geo/location_trie.cc): node 0 is the root of each
  // family; a child is -1 when no entry lies below that branch.
  std::int32_t walkChild(int family, std::int32_t node, int bit) const noexcept {
    return (family == 4 ? v4_ : v6_)[static_cast<std::size_t>(node)].child[bit];
  }
  std::int32_t walkEntry(int family, std::int32_t node) const noexcept {
    return (family == 4 ? v4_ : v6_)[static_cast<std::size_t>(node)].entry;
  }

 private:
  struct Node {
    std::int32_t child[2] = {-1, -1};
    std::int32_t entry = -1;
  };
  std::vector<Node> v4_{Node{}}, v6_{Node{}};
};

}  // namespace geodns::geo
