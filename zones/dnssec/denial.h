#pragma once
// Online denial of existence, built per query on the worker (noexcept, no
// allocation; every buffer is the caller's):
//
// * Compact denial (RFC 9824), the default. A NODATA answer gets one NSEC at
//   the query name whose next name is the name's immediate successor
//   ("\000.<qname>") and whose bitmap lists the types at the name plus RRSIG
//   and NSEC. A name that does not exist is answered the same way, NOERROR,
//   with only RRSIG, NSEC and NXNAME (type 128) in the bitmap. One NSEC, one
//   signature, nothing about the zone's other names revealed.
// * NSEC3 "white lies" (RFC 7129 appendix B), the alternative: hashed owners
//   (SHA-1, 0 extra iterations, empty salt: RFC 9276 s3.1) one below and one
//   above each hash to cover, and an exact-hash record for each name to match.
//
// Both records are signed online by the caller (Signer, then the cache).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/wire/compress.h"
#include "core/wire/name.h"
#include "core/wire/wire.h"

namespace geodns::zones::dnssec {

inline constexpr std::uint16_t kTypeNsec = 47;
inline constexpr std::uint16_t kTypeRrsig = 46;
inline constexpr std::uint16_t kTypeNsec3 = 50;
inline constexpr std::uint16_t kTypeNxName = 128;  // RFC 9824 s5: meta-type, only in bitmaps

// A small sorted set of RR types. noexcept, no allocation.
class TypeSet {
 public:
  static constexpr std::size_t kMax = 64;
  TypeSet() noexcept = default;
  TypeSet(std::initializer_list<std::uint16_t> types) noexcept {
    for (auto t : types) add(t);
  }
  // False when the set is full (the type is then not added).
  bool add(std::uint16_t type) noexcept;
  bool contains(std::uint16_t type) const noexcept;
  std::span<const std::uint16_t> types() const noexcept { return {types_, n_}; }
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  void clear() noexcept { n_ = 0; }
  bool operator==(const TypeSet& o) const noexcept;

 private:
  std::uint16_t types_[kMax] = {};
  std::size_t n_ = 0;
};

// ---- Type Bit Maps (RFC 4034 s4.1.2; the same encoding in NSEC3, RFC 5155 s3.2.1) ----
// One block per window (type >> 8) that has a type, in increasing window
// order: window, bitmap length (1..32, trailing zero octets omitted), bitmap
// with the most significant bit of the first octet for type 0 of the window.

// Encoded size of `types`.
std::size_t typeBitmapSize(const TypeSet& types) noexcept;
// Appends the encoding; false (Writer overflow) when it does not fit.
bool writeTypeBitmap(Writer& w, const TypeSet& types) noexcept;
// Decodes and validates (windows strictly increasing, lengths 1..32, no
// trailing zero octet). False on malformed input or more than kMax types.
bool readTypeBitmap(std::span<const std::uint8_t> bytes, TypeSet& out) noexcept;

// ---- compact denial (RFC 9824) ----

// The immediate successor of `name` in canonical order (RFC 4034 s6.1), as
// the NSEC next name: "\000.<name>" when that fits in 255 octets, otherwise
// the RFC 4471 s3.1.2 steps for long names (grow the first label by a zero
// octet, else increment its last octet that can be incremented and drop what
// follows it, else do that to the next label up). `name` lowercase wire;
// false when it is malformed or the root's successor cannot be formed.
bool successor(name::Span name, name::NameBuf& out) noexcept;

enum class CompactKind : std::uint8_t {
  NoData,  // the name exists (or is an empty non-terminal): types at it + RRSIG + NSEC
  NxName,  // the name does not exist: RRSIG + NSEC + NXNAME (answered NOERROR)
};

// The NSEC RDATA for `qname` (lowercase wire): next = successor(qname), bitmap
// = `typesAtName` (ignored for NxName) plus RRSIG and NSEC (and NXNAME).
bool writeCompactNsecRdata(Writer& w, name::Span qname, const TypeSet& typesAtName,
                           CompactKind kind) noexcept;

// A whole NSEC RR for the authority section: owner `qname` (compressed
// against earlier names through `c`), class IN, `ttl` (min of the SOA TTL and
// MINIMUM, RFC 9077), RDATA as above. On overflow the writer is rolled back
// to where it was and false is returned.
bool writeCompactNsec(Writer& w, Compressor& c, name::Span qname, std::uint32_t ttl,
                      const TypeSet& typesAtName, CompactKind kind) noexcept;

// ---- NSEC3 white lies (RFC 7129 appendix B, RFC 5155, RFC 9276) ----

inline constexpr std::size_t kNsec3HashSize = 20;  // SHA-1
struct Nsec3Hash {
  std::uint8_t bytes[kNsec3HashSize] = {};
  bool operator==(const Nsec3Hash&) const noexcept = default;
};

// RFC 5155 s5: IH(salt, x, 0) = H(x | salt), IH(salt, x, k) = H(IH(k-1) | salt),
// over the canonical (lowercase) wire name. We publish iterations 0 and an
// empty salt (RFC 9276); the parameters exist for the RFC 5155 test vectors.
bool nsec3Hash(name::Span name, Nsec3Hash& out, std::span<const std::uint8_t> salt = {},
               std::uint16_t iterations = 0) noexcept;
// Base32hex without padding, lowercase (RFC 4648 s7, RFC 5155 s3.3): 32 chars.
void base32hex(const Nsec3Hash& h, char out[32]) noexcept;
// "<base32hex(h)>.<zone>" in wire form.
bool nsec3OwnerName(const Nsec3Hash& h, name::Span zone, name::NameBuf& out) noexcept;
// h + 1 and h - 1 modulo 2^160: the white lie's bounds around a hash.
Nsec3Hash nsec3Next(const Nsec3Hash& h) noexcept;
Nsec3Hash nsec3Prev(const Nsec3Hash& h) noexcept;

// One NSEC3 record to write: owner hash, next hashed owner, and the types at
// the original name (empty for a covering lie and for empty non-terminals).
struct Nsec3Record {
  Nsec3Hash owner;
  Nsec3Hash next;
  TypeSet types;
};
// Matches `name`: owner = H(name), next = H(name) + 1. `types` are the types at
// the name (the caller adds RRSIG when the name has signed data).
bool nsec3Match(name::Span name, const TypeSet& types, Nsec3Record& out) noexcept;
// Covers `name` without matching it: owner = H(name) - 1, next = H(name) + 1.
bool nsec3Cover(name::Span name, Nsec3Record& out) noexcept;

// The records of an NSEC3 NXDOMAIN proof (RFC 5155 s7.2.2): a match for the
// closest encloser, a cover for the next closer name, a cover for the
// wildcard at the closest encloser. `closestEncloser` must be a proper
// suffix of `qname` (both lowercase wire); `ceTypes` are the types at it.
// Returns the number of records written to `out` (3), or 0 on bad input.
std::size_t nsec3NxDomain(name::Span qname, name::Span closestEncloser, const TypeSet& ceTypes,
                          Nsec3Record (&out)[3]) noexcept;

// NSEC3 RDATA: hash algorithm 1, flags 0 (no opt-out), iterations 0, empty
// salt, the next hashed owner and the bitmap (RFC 5155 s3.2).
bool writeNsec3Rdata(Writer& w, const Nsec3Record& r) noexcept;
// A whole NSEC3 RR with owner "<hash>.<zone>" (compressed through `c`).
bool writeNsec3(Writer& w, Compressor& c, name::Span zone, std::uint32_t ttl,
                const Nsec3Record& r) noexcept;

}  // namespace geodns::zones::dnssec
