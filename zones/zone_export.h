#pragma once
// A zone's static part as an RFC 1035 master file (`geodnsd export-zone`), so
// that offline tools can check what geodnsd serves: ldns-verify-zone or
// dnssec-verify for a signed zone, ldns-read-zone / named-checkzone for any.
//
// geodnsd denies existence online (compact denial, one NSEC per query), so a
// signed zone has no NSEC chain; those tools need one. The export adds the
// chain an offline signer would publish over the exported names, signed by
// the zone's zone-signing keys through the same Signers the server uses; every
// other signature is the one geodnsd made at load and serves.
//
// Control thread (or a one-shot command): allocates, signs.
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "zones/dnssec/denial.h"
#include "zones/zone.h"

namespace geodns::zones {

// One NSEC of a static chain (RFC 4034 s4): the NSEC at `owner` names the next
// owner in canonical order and the types present at `owner`.
struct NsecLink {
  std::string owner;      // lowercase wire
  std::string next;       // lowercase wire; the apex for the last link
  dnssec::TypeSet types;  // the bitmap, RRSIG and NSEC included
};

// The NSEC chain over the names of `zone` that hold static data, in canonical
// order (RFC 4034 s6.1), the apex first and the last link pointing back to it.
// Bitmaps: the types of the name's static RRsets, plus RRSIG and NSEC (every
// link is signed). At a delegation point only NS and DS (RFC 4035 s2.3: the
// parent is not authoritative for glue there). No link for names below a cut
// (glue, occluded), for empty non-terminals, or for names that have no static
// RRset (bound to a GSLB pool only: their answers are made per query). An
// error (with the name) when a name has more types than a bitmap holds here.
std::vector<NsecLink> nsecChain(const Zone& zone, ErrorList& errors);

// NSEC RDATA (RFC 4034 s4.1): the next owner name, then the type bitmap.
std::string nsecRdata(const NsecLink& link);

// The master file of `zone`'s static part as served with DO: leading `;`
// comments (zone, serial, keys; names left out because a pool answers them;
// wildcards), then every name with static data in canonical order, the apex
// SOA first, each RRset followed by its RRSIGs as made at load; for a signed
// zone, each exported name's NSEC and its RRSIG(s) after its RRsets. Glue and
// delegation NS are exported unsigned, as they are served. A static wildcard
// (`*.x`) is signed for the export with its own owner: geodnsd serves no
// signature for it, it signs each expansion online at the name asked.
// Unsigned zones: no NSEC, no RRSIG. False, with `errors` set, when signing
// fails or a name cannot be written.
bool exportZone(const Zone& zone, std::string& out, ErrorList& errors);

}  // namespace geodns::zones
