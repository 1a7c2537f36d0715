#pragma once
// A signed zone's DNSSEC state (issue 14): its keys, one Signer per key and,
// per zone-signing key, the signature cache of the RRsets signed online
// (pool answers, wildcard expansions, compact-denial NSECs). Built on the
// control thread when the zone is loaded; immutable after that except for the
// caches, which workers fill through their lock-free interface.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/clock.h"
#include "core/result.h"
#include "core/wire/name.h"
#include "zones/dnssec/keys.h"
#include "zones/dnssec/sig_cache.h"
#include "zones/dnssec/signer.h"
#include "zones/zone_file.h"

namespace geodns::zones {

class ZoneSigning {
 public:
  struct Online {
    std::unique_ptr<dnssec::Signer> signer;
    std::unique_ptr<dnssec::SigCache> cache;
  };

  // Loads and checks the keys of `cfg` for the zone `origin` (lowercase wire):
  // readable, private part present and matching the .key, owner = the zone,
  // algorithm 13 or 15, not inactive/deleted/not yet active at the clock's
  // now. Errors name the JSON place of the key. `clock` must outlive the
  // result. Control thread.
  static std::shared_ptr<ZoneSigning> load(name::Span origin, const config::DnssecConfig& cfg,
                                           const Clock& clock, ErrorList& errors,
                                           const dnssec::SigCacheLimits& cacheLimits = {});

  // DNSKEY of every key, CDS and CDNSKEY of the KSKs/CSKs (RFC 7344), and
  // with NSEC3 denial the NSEC3PARAM "1 0 0 -" (RFC 5155 s4, RFC 9276), as
  // records at the apex to compile into the zone.
  std::vector<ParsedRR> apexRecords(std::uint32_t ttl) const;

  const dnssec::KeySet& keys() const noexcept { return *keys_; }
  const dnssec::SignPolicy& policy() const noexcept { return policy_; }
  config::Denial denial() const noexcept { return denial_; }
  const Clock& clock() const noexcept { return *clock_; }
  // Signers of the apex DNSKEY/CDS/CDNSKEY sets, and of everything else.
  std::span<const std::unique_ptr<dnssec::Signer>> keySigners() const noexcept { return ksks_; }
  std::span<const Online> online() const noexcept { return zsks_; }

 private:
  std::unique_ptr<dnssec::KeySet> keys_;
  dnssec::SignPolicy policy_;
  config::Denial denial_ = config::Denial::Compact;
  const Clock* clock_ = nullptr;
  std::vector<std::unique_ptr<dnssec::Signer>> ksks_;
  std::vector<Online> zsks_;
};

// True for the types a signed zone's file must not hold: they are made from
// the keys (DNSKEY, CDS, CDNSKEY) or online (RRSIG, NSEC, NSEC3, NSEC3PARAM).
bool generatedDnssecType(std::uint16_t type) noexcept;

}  // namespace geodns::zones
