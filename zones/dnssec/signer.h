#pragma once
// RRSIG generation for one RRset (RFC 4034 s3, canonical form s6, signing
// s3.1.8.1 / RFC 4035 s2.2), and the canonical-form helpers it rests on.
//
// Thread safety: a Signer is immutable after construction and sign() is
// const; each call builds the data to sign in its own buffer and signs with
// Key::sign(), which uses a per-call OpenSSL context over the shared,
// read-only key. Several workers may therefore sign with one Signer at once
// (a signature-cache miss on a worker) while the control thread signs too.
// Signing allocates (our buffers and inside OpenSSL): it is the miss path,
// never the cache-hit path.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "zones/dnssec/keys.h"

namespace geodns::zones::dnssec {

// One RRset as the signer and the signature cache see it. Names are
// uncompressed wire form; `owner` and the names inside RDATA may be in any
// case (the signer lowercases per RFC 4034 s6.2); RRs in any order.
struct RRsetView {
  name::Span owner;
  std::uint16_t type = 0;
  std::uint16_t rrclass = dns::kClassIN;
  std::uint32_t ttl = 0;  // becomes the RRSIG's Original TTL
  std::span<const std::span<const std::uint8_t>> rdatas;
};

// Validity of the signatures we make. RFC 6781 s4.4.2: backdate inception
// to tolerate validators whose clocks lag; re-sign well before expiration.
struct SignPolicy {
  std::uint32_t validity_s = 1209600;  // signature_validity_s: 14 days
  std::uint32_t refresh_s = 302400;    // re-sign when less than this is left: 3.5 days
  std::uint32_t inceptionBackdate_s = 3600;
};

// RRSIG inception and expiration in RFC 4034 s3.1.5 serial-number time
// (seconds since 1970 modulo 2^32).
struct SigningWindow {
  std::uint32_t inception = 0;
  std::uint32_t expiration = 0;
  // Unix time from which a signature made now should be replaced:
  // expiration - refresh_s. The cache stops serving it from then on.
  std::int64_t refreshAt = 0;
};
SigningWindow windowAt(std::int64_t nowUnix, const SignPolicy& policy) noexcept;

// The RRSIG RDATA fields (tests, diagnostics, the cache's sanity checks).
struct RrsigFields {
  std::uint16_t typeCovered = 0;
  std::uint8_t algorithm = 0;
  std::uint8_t labels = 0;
  std::uint32_t originalTtl = 0;
  std::uint32_t expiration = 0;
  std::uint32_t inception = 0;
  std::uint16_t keyTag = 0;
  std::string signer;  // wire
  std::vector<std::uint8_t> signature;
};
std::optional<RrsigFields> parseRrsig(std::span<const std::uint8_t> rdata);

// ---- canonical form (RFC 4034 s6) ----

// Lowercases the domain names inside `rdata` for the types RFC 4034 s6.2
// lists, as corrected by RFC 6840 s5.1 (NSEC's next name keeps its case;
// HINFO holds no names). False when a name the type must hold is malformed
// or compressed. Other types are left alone. noexcept, no allocation.
bool canonicalizeRdata(std::uint16_t type, std::span<std::uint8_t> rdata) noexcept;

// RFC 4034 s6.3: RDATA compared as left-justified unsigned octet strings,
// a shorter prefix first. <0, 0, >0.
int compareCanonicalRdata(std::span<const std::uint8_t> a,
                          std::span<const std::uint8_t> b) noexcept;

// The RRSIG Labels field (RFC 4034 s3.1.3): labels of the owner without the
// root, and without a leading "*" label of a wildcard owner.
std::uint8_t rrsigLabels(name::Span owner) noexcept;

// The canonical RDATA list: names lowercased, sorted, duplicates dropped
// (RFC 4034 s6.3). Empty optional when an RDATA is malformed.
std::optional<std::vector<std::vector<std::uint8_t>>> canonicalRdatas(
    std::uint16_t type, std::span<const std::span<const std::uint8_t>> rdatas);

enum class SignStatus : std::uint8_t { Ok, EmptyRRset, BadOwner, BadRdata, TooLarge, CryptoFailed };
const char* signStatusText(SignStatus s) noexcept;

class Signer {
 public:
  // `key` and `clock` must outlive the Signer. The signer name is the key's
  // owner (the zone apex).
  Signer(const Key& key, SignPolicy policy, const Clock& clock) noexcept
      : key_(&key), policy_(policy), clock_(&clock) {}

  const Key& key() const noexcept { return *key_; }
  const SignPolicy& policy() const noexcept { return policy_; }
  // Now, from the injected clock (unix seconds), and the window a signature
  // made now gets.
  std::int64_t now() const noexcept { return clock_->unixSeconds(); }
  SigningWindow window() const noexcept { return windowAt(now(), policy_); }

  // Signs `rrset` with the window of the injected clock's now, or with an
  // explicit window; on Ok, `rrsig` holds the RRSIG RDATA in wire form.
  SignStatus sign(const RRsetView& rrset, std::vector<std::uint8_t>& rrsig) const;
  SignStatus signWith(const RRsetView& rrset, const SigningWindow& window,
                      std::vector<std::uint8_t>& rrsig) const;

  // The exact bytes that are signed (RFC 4034 s3.1.8.1): RRSIG RDATA without
  // the signature, then each RR in canonical form and order. For tests.
  SignStatus signedData(const RRsetView& rrset, const SigningWindow& window,
                        std::vector<std::uint8_t>& out) const;

 private:
  const Key* key_;
  SignPolicy policy_;
  const Clock* clock_;
};

}  // namespace geodns::zones::dnssec
