#pragma once
// The RFC 1034 4.3.2 lookup walk inside one zone, with RFC 4592 wildcards:
// zone cuts, exact matches, CNAME chains, wildcard synthesis, NXDOMAIN and
// NODATA. It says which stored data answers; the server writes it. No
// allocation; any thread (the zone is immutable).
#include <cstdint>

#include "core/wire/name.h"
#include "zones/zone.h"

namespace geodns::zones {

// CNAMEs followed after the first before the chain stops (the answer then
// holds kMaxCnameHops + 1 CNAMEs).
inline constexpr int kMaxCnameHops = 8;

// One name in one zone (RFC 1034 4.3.2 step 3, no CNAME chasing).
enum class Match : std::uint8_t {
  Exact,     // `node` is the name
  Wildcard,  // `node` is the wildcard that synthesizes the name
  NXDomain,  // no such name: `node` is the closest encloser
  Referral,  // `node` is a zone cut on the way down (not for DS at the cut itself)
};
struct Found {
  Match kind;
  const Node* node;
};

// Walks down from the apex of `z` to `qname` (lowercase wire, inside `z`).
Found match(const Zone& z, name::Span qname, std::uint16_t qtype) noexcept;

// What answers a question, after following CNAMEs inside the zone.
enum class Resolved : std::uint8_t {
  Answer,    // `set` at `node`; for ANY the CNAME or one RRset (RFC 8482)
  NoData,    // `node` has no RRset of the type
  NXDomain,  // no such name; `node` is the closest encloser
  Referral,  // `node` is the zone cut whose NS (and glue) answer
  Pool,      // `node` is bound to a GSLB pool and the type is A, AAAA, CNAME or ANY
  ChainEnd,  // the CNAME chain stops: target outside the zone, too long, or a loop
};
struct Resolution {
  Resolved kind = Resolved::NXDomain;
  const Node* node = nullptr;
  const RRset* set = nullptr;  // Answer only
  // The CNAME RRsets met on the way, in order: chain[0] is owned by the
  // question name, chain[i] by chain[i - 1]->target; `kind` and `node` are
  // about the last target.
  std::uint8_t cnames = 0;
  const RRset* chain[kMaxCnameHops + 1];
};

// RFC 1034 4.3.2 step 3 for `qname` (lowercase wire, inside `z`). A CNAME is
// followed unless the type is CNAME or ANY (step 3a: ANY matches the CNAME).
Resolution resolve(const Zone& z, name::Span qname, std::uint16_t qtype) noexcept;

// The zone that answers `qname`: the longest-matching one, except that DS for
// a zone's apex is answered by its parent when that is served too (DS lives
// on the parent side of a cut). nullptr when none is served.
const Zone* zoneFor(const ZoneSet& zones, name::Span qname, std::uint16_t qtype) noexcept;

}  // namespace geodns::zones
