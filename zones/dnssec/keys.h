#pragma once
// DNSSEC signing keys from BIND-format key pairs: `Kname.+alg+tag.private`
// (as written by dnssec-keygen and ldns-keygen) with the matching `.key`
// beside it. Loaded with ldns on the control thread; the private half lives
// only inside Key, in an OpenSSL key object freed (and thereby cleansed) with
// the Key. Nothing here ever prints or logs key material.
//
// Only algorithms 13 (ECDSA P-256/SHA-256) and 15 (Ed25519) are accepted:
// both give 64-byte signatures and small DNSKEYs, which keeps signed answers
// inside UDP limits, and RFC 8624 recommends them for signing.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/name.h"
#include "core/result.h"

namespace geodns::zones::dnssec {

enum class Algorithm : std::uint8_t { EcdsaP256Sha256 = 13, Ed25519 = 15 };

// DNSKEY flags (RFC 4034 s2.1.1, RFC 5011 s7).
inline constexpr std::uint16_t kFlagZone = 0x0100;    // bit 7: a zone key
inline constexpr std::uint16_t kFlagRevoke = 0x0080;  // bit 8: revoked (RFC 5011)
inline constexpr std::uint16_t kFlagSep = 0x0001;     // bit 15: Secure Entry Point (a KSK)

inline constexpr std::size_t kSignatureSize = 64;  // both algorithms (RFC 6605 s4, RFC 8080 s4)
inline constexpr std::uint8_t kDigestSha256 = 2;   // DS digest type (RFC 4509)

// Zsk: signs every RRset but the apex DNSKEY/CDS/CDNSKEY sets; Ksk: signs
// only those; Csk: signs everything.
enum class KeyRole : std::uint8_t { Zsk, Ksk, Csk };
const char* roleName(KeyRole role) noexcept;

// Timing metadata BIND writes into .private files ("Activate: 20250101000000");
// unix seconds, 0 when absent. ldns-keygen writes none.
struct KeyTiming {
  std::int64_t publish = 0;
  std::int64_t activate = 0;
  std::int64_t inactive = 0;
  std::int64_t remove = 0;  // "Delete:"
};

// RFC 4034 appendix B over DNSKEY RDATA in wire form.
std::uint16_t keyTag(std::span<const std::uint8_t> dnskeyRdata) noexcept;

class Key {
 public:
  ~Key();
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  // Loads `privatePath` (must end in ".private") and the ".key" next to it,
  // for the zone `origin` (lowercase wire). Checks: both files readable, the
  // private key present and parseable, the algorithm 13 or 15 in both files
  // and the same, the DNSKEY owner equal to `origin`, the zone-key flag set,
  // and the private key matching the public key in the .key file. On failure
  // returns nullptr and adds errors whose place is the offending file (or
  // `where` with the file in the message, when given). Control thread.
  static std::unique_ptr<Key> load(const std::string& privatePath, name::Span origin,
                                   ErrorList& errors, std::string_view where = {});

  Algorithm algorithm() const noexcept { return algorithm_; }
  std::uint8_t algorithmNumber() const noexcept { return static_cast<std::uint8_t>(algorithm_); }
  std::uint16_t flags() const noexcept { return flags_; }
  bool sep() const noexcept { return (flags_ & kFlagSep) != 0; }
  std::uint16_t keyTag() const noexcept { return keyTag_; }
  const std::string& owner() const noexcept { return owner_; }  // lowercase wire
  const std::string& path() const noexcept { return path_; }
  const KeyTiming& timing() const noexcept { return timing_; }

  // The DNSKEY RDATA in wire form; the CDNSKEY RDATA is the same (RFC 7344 s3.2).
  std::span<const std::uint8_t> dnskeyRdata() const noexcept { return dnskey_; }
  // DS RDATA with a SHA-256 digest; the CDS RDATA is the same (RFC 7344 s3.1).
  std::span<const std::uint8_t> dsRdata() const noexcept { return ds_; }

  // Signs `data` into `sig` (kSignatureSize bytes: r||s for ECDSA P-256 as
  // RFC 6605 s4 requires, the raw signature for Ed25519). Returns the length
  // written, or 0 on failure. Thread-safe: the key object is only read, each
  // call uses its own OpenSSL context (OpenSSL 3 allows concurrent operations
  // on one EVP_PKEY; load() already ran one signature, so the provider's
  // cached export of the key exists before any worker shares it). Allocates
  // inside OpenSSL: not for the cache-hit path.
  std::size_t sign(std::span<const std::uint8_t> data, std::span<std::uint8_t> sig) const noexcept;

 private:
  struct Pkey;
  Key();
  std::unique_ptr<Pkey> pkey_;
  Algorithm algorithm_ = Algorithm::EcdsaP256Sha256;
  std::uint16_t flags_ = 0;
  std::uint16_t keyTag_ = 0;
  std::string owner_;
  std::string path_;
  KeyTiming timing_;
  std::vector<std::uint8_t> dnskey_;
  std::vector<std::uint8_t> ds_;
};

// The keys of one zone and their roles. Roles come from the DNSKEY flags per
// algorithm: when an algorithm has both SEP and non-SEP keys they are KSKs
// and ZSKs; otherwise each of its keys is a CSK. Per algorithm because every
// algorithm in the DNSKEY set must sign every RRset (RFC 4035 s2.2, RFC 6840
// s5.11): a 13 KSK with a 15 ZSK would leave both halves incomplete.
class KeySet {
 public:
  // Loads every path (all errors reported at once); nullptr on any error or
  // when `paths` is empty. Keys with the same DNSKEY RDATA are an error.
  static std::unique_ptr<KeySet> load(name::Span origin, const std::vector<std::string>& paths,
                                      ErrorList& errors, std::string_view where = {});
  explicit KeySet(std::vector<std::unique_ptr<Key>> keys);

  std::size_t size() const noexcept { return keys_.size(); }
  const Key& key(std::size_t i) const noexcept { return *keys_[i]; }
  KeyRole role(std::size_t i) const noexcept { return roles_[i]; }

  // Keys that sign the apex DNSKEY, CDS and CDNSKEY RRsets (KSKs and CSKs),
  // and the keys that sign every other RRset (ZSKs and CSKs).
  std::vector<const Key*> keySigningKeys() const;
  std::vector<const Key*> zoneSigningKeys() const;
  // DNSKEY RDATA of every key, and CDS/CDNSKEY RDATA of the KSKs and CSKs.
  std::vector<std::vector<std::uint8_t>> dnskeyRdatas() const;
  std::vector<std::vector<std::uint8_t>> cdsRdatas() const;
  std::vector<std::vector<std::uint8_t>> cdnskeyRdatas() const;

  // Refuses keys that must not sign at `nowUnix`: past their "Inactive:" or
  // "Delete:" time, or not yet at their "Activate:" time (BIND metadata).
  void checkTiming(std::int64_t nowUnix, ErrorList& errors, std::string_view where = {}) const;

 private:
  std::vector<std::unique_ptr<Key>> keys_;
  std::vector<KeyRole> roles_;
};

}  // namespace geodns::zones::dnssec
