#include "zones/lookup.h"

#include <cstring>

#include "core/wire/dns.h"

namespace geodns::zones {

namespace {

using dns::toU16;
using dns::Type;

// An RRset to show for ANY (RFC 8482: one RRset is enough).
const RRset* pickForAny(const Node& node) noexcept {
  for (const auto& s : node.rrsets)
    if (s.type != toU16(Type::RRSIG) && s.type != toU16(Type::NSEC)) return &s;
  return nullptr;
}

bool boundType(std::uint16_t qtype) noexcept {
  return qtype == toU16(Type::A) || qtype == toU16(Type::AAAA) || qtype == toU16(Type::CNAME) ||
         qtype == toU16(Type::ANY);
}

}  // namespace

// Walk down from the apex; stop at a zone cut (unless it is a DS query for the
// cut itself, which the parent answers); a missing name is synthesized from
// the closest encloser's wildcard child if there is one.
Found match(const Zone& z, name::Span qname, std::uint16_t qtype) noexcept {
  std::uint8_t offs[128];
  const std::size_t n = name::labelOffsets(qname, offs);
  const Node* last = &z.apex();
  for (std::size_t depth = z.originLabels() + 1; depth <= n; ++depth) {
    const Node* node = z.find(qname.subspan(offs[n - depth]));
    if (!node) {
      std::uint8_t wild[dns::kMaxNameWire + 2];
      if (last->name.size() + 2 > dns::kMaxNameWire) return {Match::NXDomain, last};
      wild[0] = 1;
      wild[1] = '*';
      std::memcpy(wild + 2, last->name.data(), last->name.size());
      const Node* w = z.find({wild, last->name.size() + 2});
      if (w) return {Match::Wildcard, w};
      return {Match::NXDomain, last};
    }
    if (node->delegation && !(depth == n && qtype == toU16(Type::DS)))
      return {Match::Referral, node};
    last = node;
  }
  return {Match::Exact, last};
}

Resolution resolve(const Zone& z, name::Span qname, std::uint16_t qtype) noexcept {
  Resolution r;
  Found f = match(z, qname, qtype);
  const Node* visited[kMaxCnameHops + 1];
  int hops = 0;
  for (;;) {
    r.node = f.node;
    switch (f.kind) {
      case Match::NXDomain:
        r.kind = Resolved::NXDomain;
        return r;
      case Match::Referral:  // after a CNAME: the chain stops at the cut
        r.kind = Resolved::Referral;
        return r;
      case Match::Exact:
      case Match::Wildcard:
        break;
    }
    const Node& node = *f.node;
    visited[hops] = &node;
    if (node.binding >= 0 && boundType(qtype)) {
      r.kind = Resolved::Pool;
      return r;
    }
    const RRset* cname = node.find(toU16(Type::CNAME));
    // ANY matches the CNAME itself (RFC 1034 4.3.2 step 3a): not chased.
    if (cname && qtype != toU16(Type::CNAME) && qtype != toU16(Type::ANY)) {
      r.chain[r.cnames++] = cname;
      r.kind = Resolved::ChainEnd;
      name::Span target = name::asSpan(cname->target());
      if (hops + 1 > kMaxCnameHops || !name::isSubdomain(target, name::asSpan(z.origin())))
        return r;  // out-of-zone target: the resolver follows it
      f = match(z, target, qtype);
      if (f.kind == Match::Exact || f.kind == Match::Wildcard) {
        for (int i = 0; i <= hops; ++i)
          if (visited[i] == f.node) return r;  // loop: stop here
      }
      ++hops;
      continue;
    }
    r.set = qtype != toU16(Type::ANY) ? node.find(qtype) : cname ? cname : pickForAny(node);
    r.kind = r.set ? Resolved::Answer : Resolved::NoData;
    return r;
  }
}

const Zone* zoneFor(const ZoneSet& zones, name::Span qname, std::uint16_t qtype) noexcept {
  const Zone* zone = zones.findZone(qname);
  if (zone && qtype == toU16(Type::DS) && zone->origin().size() == qname.size()) {
    if (const Zone* parent = zones.findParent(*zone)) zone = parent;
  }
  return zone;
}

}  // namespace geodns::zones
