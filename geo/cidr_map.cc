#include "geo/cidr_map.h"

namespace geodns::geo {

bool CidrMap::add(const IpPrefix& p, std::int32_t entry) {
  auto& t = p.addr.family == 4 ? v4_ : v6_;
  std::size_t n = 0;
  for (unsigned i = 0; i < p.length; ++i) {
    int b = p.addr.bit(i);
    if (t[n].child[b] < 0) {
      t[n].child[b] = static_cast<std::int32_t>(t.size());
      t.push_back(Node{});
    }
    n = static_cast<std::size_t>(t[n].child[b]);
  }
  if (t[n].entry >= 0) return false;
  t[n].entry = entry;
  return true;
}

CidrMap::Match CidrMap::lookup(const IpAddress& ip) const noexcept {
  const auto& t = ip.family == 4 ? v4_ : v6_;
  Match m;
  std::size_t n = 0;
  unsigned depth = 0;
  for (;;) {
    if (t[n].entry >= 0) {
      m.entry = t[n].entry;
      m.prefix = static_cast<std::uint8_t>(depth);
    }
    if (depth == ip.bits()) {
      m.stable = static_cast<std::uint8_t>(depth);
      break;
    }
    if (t[n].child[0] < 0 && t[n].child[1] < 0) {  // nothing more specific below
      m.stable = static_cast<std::uint8_t>(depth);
      break;
    }
    std::int32_t next = t[n].child[ip.bit(depth)];
    if (next < 0) {  // the other branch holds entries: only this half is settled
      m.stable = static_cast<std::uint8_t>(depth + 1);
      break;
    }
    n = static_cast<std::size_t>(next);
    ++depth;
  }
  return m;
}

}  // namespace geodns::geo
