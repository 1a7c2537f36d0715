#pragma once
// TSIG (RFC 8945): the record codec, keys and a keyring, verification of a
// signed request (section 5.2), signing of responses and requests, single
// and multi-message (section 5.3.1), and verification of signed responses
// (the client side: NOTIFY acks, SOA/AXFR from a primary).
//
// The codec allocates nothing: a parsed record points into the message it was
// read from. The MAC functions run the HMAC through OpenSSL, which allocates
// a context per message, so they belong on the transfer/control side, never
// on the UDP query path. Keys and keyrings are immutable once built and may be
// read from any thread; a Signer or ResponseVerifier belongs to one stream.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "core/wire/wire.h"

namespace geodns::tsig {

// ---- the record -------------------------------------------------------------

// A TSIG RR as sent (RFC 8945 section 4.2).
struct Record {
  name::NameBuf key;             // owner name: the key name, case as sent
  name::NameBuf algorithm;       // lowercase
  std::uint16_t rrclass = 0;     // as sent (ANY); part of the MAC input
  std::uint32_t ttl = 0;         // as sent (0); part of the MAC input
  std::uint64_t timeSigned = 0;  // seconds since 1970, 48 bits on the wire
  std::uint16_t fudge = 0;       // seconds
  std::span<const std::uint8_t> mac;
  std::uint16_t originalId = 0;
  std::uint16_t error = 0;
  std::span<const std::uint8_t> other;
};

// Reads the TSIG RR that starts at r.pos() (its owner name) and advances r
// past it. False, with r failed, when the RR is not a TSIG RR or its RDATA is
// malformed: fields running past RDLENGTH, or bytes left over after them.
// Names may be compressed against earlier parts of r's buffer. The class is
// not checked (RFC 8945 says ANY; Knot does not check it either).
bool read(Reader& r, Record& out) noexcept;

// Where the TSIG RR of a message is.
enum class Placement : std::uint8_t {
  None,       // no TSIG RR in the message
  Last,       // the last RR of the additional section; `offset` is its owner name
  Malformed,  // the message cannot be walked, or a TSIG stands elsewhere (FORMERR, 5.1)
};
// Walks the header counts, question and records of `msg`. Only the last
// record of the additional section may be a TSIG (RFC 8945 section 5.1).
Placement locate(std::span<const std::uint8_t> msg, std::size_t& offset) noexcept;

// Bytes an unsigned TSIG RR answering `req` takes (see writeUnsigned).
std::size_t unsignedSize(const Record& req) noexcept;

// Writes the unsigned TSIG RR of an error response to `req` (RFC 8945 5.3.2:
// BADKEY and BADSIG answers MUST NOT be signed): the key name, algorithm, time
// signed and fudge copied from the request, MAC size 0, the request's original
// ID, `error` (a dns::TsigError), no other data; class ANY, TTL 0, names
// uncompressed. `timeSigned` is the time to report (the request's). The
// caller counts the record in ARCOUNT. False (nothing usable written) when it
// does not fit. A BADTIME or BADTRUNC answer is signed instead (Signer).
bool writeUnsigned(Writer& w, const Record& req, std::uint16_t error,
                   std::uint64_t timeSigned) noexcept;

// ---- algorithms and keys ----------------------------------------------------

// The HMAC algorithms of RFC 8945 section 6 we implement: hmac-sha1 and
// hmac-sha256 are mandatory there; the others cost nothing more.
enum class Algorithm : std::uint8_t { HmacSha1, HmacSha224, HmacSha256, HmacSha384, HmacSha512 };

inline constexpr std::size_t kMaxMac = 64;           // hmac-sha512
inline constexpr std::uint16_t kDefaultFudge = 300;  // seconds (RFC 8945 section 10)

// "hmac-sha256" (case-insensitive, trailing dot optional) -> algorithm.
std::optional<Algorithm> algorithmFromText(std::string_view text) noexcept;
// Lowercase wire name of an algorithm ("\x0bhmac-sha256\0") -> algorithm.
std::optional<Algorithm> algorithmFromName(name::Span wire) noexcept;
name::Span algorithmName(Algorithm a) noexcept;   // lowercase wire form
const char* algorithmText(Algorithm a) noexcept;  // "hmac-sha256"
std::size_t macSize(Algorithm a) noexcept;        // full HMAC output, bytes

struct Key {
  std::string name;  // lowercase wire
  Algorithm algorithm = Algorithm::HmacSha256;
  std::vector<std::uint8_t> secret;
  // Local truncation policy (RFC 8945 5.2.4): the shortest request MAC
  // accepted, in bytes; 0 means the full HMAC length (no truncation). A
  // truncated MAC that RFC 8945 5.2.2.1 allows but this refuses is BADTRUNC.
  std::size_t minMac = 0;
};

// A key from configuration text: the key name, an algorithm name and the
// secret in base64 (as in a key file; whitespace ignored). nullopt, with the
// reason in *err, for a bad name, an unknown algorithm, bad base64 or an empty
// secret.
std::optional<Key> makeKey(std::string_view name, std::string_view algorithm,
                           std::string_view base64Secret, std::string* err);

// The keys a server knows, by name. Built on the control side, then only read.
class Keyring {
 public:
  // False, with the reason in *err, when a key of that name is already there.
  bool add(Key key, std::string* err);
  // The key named `name` (lowercase wire), or nullptr.
  const Key* find(name::Span name) const noexcept;
  std::size_t size() const noexcept { return keys_.size(); }

 private:
  std::vector<Key> keys_;  // a handful: a linear scan is the fastest index
};

// ---- base64 (RFC 4648 section 4) --------------------------------------------

// Decodes base64 text; ASCII whitespace anywhere is ignored (key files wrap
// lines). Strict otherwise: only the base64 alphabet, padding only at the end
// and complete to a multiple of 4, and the unused bits of the last character
// zero (a non-canonical encoding is most likely a mangled secret). nullopt on
// any violation.
std::optional<std::vector<std::uint8_t>> decodeBase64(std::string_view text);
std::string encodeBase64(std::span<const std::uint8_t> bytes);

// ---- MACs -------------------------------------------------------------------

struct Mac {
  std::uint8_t data[kMaxMac];
  std::size_t len = 0;
  std::span<const std::uint8_t> span() const noexcept { return {data, len}; }
};

// The verdict on a request (RFC 8945 section 5.2, checks in its order: key,
// MAC, time, truncation).
enum class Verdict : std::uint8_t {
  Unsigned,  // no TSIG: the caller's policy decides
  Ok,        // verified: sign the response with `key` and `mac`
  FormErr,   // TSIG misplaced or malformed, or a MAC size 5.2.2.1 forbids: FORMERR, no TSIG
  BadKey,    // unknown key or algorithm: NOTAUTH, unsigned TSIG with BADKEY
  BadSig,    // MAC does not verify: NOTAUTH, unsigned TSIG with BADSIG
  BadTime,   // outside time signed +- fudge: NOTAUTH, signed TSIG with BADTIME
  BadTrunc,  // truncated below the key's policy: NOTAUTH, signed TSIG with BADTRUNC
};

struct RequestCheck {
  Verdict verdict = Verdict::Unsigned;
  std::size_t offset = 0;    // of the TSIG RR (Ok and every error but FormErr)
  Record record;             // the request's TSIG (points into the message)
  const Key* key = nullptr;  // Ok, BadTime, BadTrunc: the key to sign the answer with
  Mac mac;                   // the request MAC as received (the answer's MAC covers it)
  // The rcode of the answer: NOERROR for Unsigned/Ok (the caller's own),
  // FORMERR, or NOTAUTH for the TSIG errors (RFC 8945 5.2).
  dns::Rcode rcode() const noexcept;
  // The TSIG error to put in the answer's TSIG (NoError for Unsigned/Ok/FormErr).
  dns::TsigError error() const noexcept;
  // True when the answer carries a signed TSIG (Ok, BadTime, BadTrunc).
  bool signsAnswer() const noexcept;
};

// Verifies a request. `now` is the server's wall clock in seconds since 1970
// (injected: only core/clock.cc reads the clock). The keyring must outlive
// the result (result.key points into it).
RequestCheck verifyRequest(std::span<const std::uint8_t> msg, const Keyring& keys,
                           std::uint64_t now) noexcept;

// Signs messages with one key: the answer to a verified request (one message,
// or every message of a TCP stream such as a zone transfer), or a request of
// ours. The first sign() covers the request MAC (for an answer), the message
// and all TSIG variables (RFC 8945 4.3.3); every later sign() covers the
// previous MAC, the message and the timers only (5.3.1). We sign every
// message of a stream, so no unsigned message ever sits between two signed
// ones. The key must outlive the signer.
class Signer {
 public:
  // The answer to a request whose (verified) MAC is `requestMac`.
  static Signer forResponse(const Key& key, std::span<const std::uint8_t> requestMac,
                            std::uint16_t fudge = kDefaultFudge) noexcept;
  // A request of ours: NOTIFY, or a query to a primary.
  static Signer forRequest(const Key& key, std::uint16_t fudge = kDefaultFudge) noexcept;

  // Bytes the TSIG RR appended by sign() takes at most: keep them free.
  std::size_t reserve() const noexcept;

  // Appends the TSIG RR to the complete message in w (header at offset 0,
  // ARCOUNT not yet counting the TSIG) and increments ARCOUNT. `now`: seconds
  // since 1970. For a BADTIME answer pass `error` = BadTime and the request's
  // time signed: RFC 8945 5.3.2 puts the request's time in Time Signed and
  // `now` in Other Data. False (the message unchanged) when the TSIG does not
  // fit or the HMAC fails.
  bool sign(Writer& w, std::uint64_t now, dns::TsigError error = dns::TsigError::NoError,
            std::uint64_t requestTime = 0) noexcept;

  // The MAC of the last signed message (a request's MAC, to verify its answer).
  std::span<const std::uint8_t> lastMac() const noexcept { return prior_.span(); }
  std::size_t signedCount() const noexcept { return count_; }

 private:
  Signer(const Key& key, std::uint16_t fudge) noexcept : key_(&key), fudge_(fudge) {}
  const Key* key_;
  std::uint16_t fudge_;
  bool answer_ = false;  // the first MAC covers a request MAC
  Mac prior_;            // request MAC, then the last MAC we produced
  std::size_t count_ = 0;
};

// The client side: verifies the answer (one message, or a TCP stream of them)
// to a request we signed with `key` and whose MAC was `requestMac`. Messages
// without a TSIG are accepted between signed ones (RFC 8945 5.3.1: at least
// every 100th is signed) and covered by the next MAC; the first must be
// signed, and the stream is complete only when the last one was signed.
class ResponseVerifier {
 public:
  enum class Result : std::uint8_t {
    Ok,               // signed and verified
    Unsigned,         // no TSIG here (allowed inside a stream); covered by the next MAC
    FormErr,          // malformed TSIG, a bad MAC size, or the first message unsigned
    BadKey,           // signed with another key or algorithm
    BadSig,           // MAC does not verify
    BadTime,          // outside time signed +- fudge
    PeerError,        // the peer reports a TSIG error (peerError() says which); a
                      // signed error (BADTIME, BADTRUNC) is verified first (else BadSig)
    TooManyUnsigned,  // 100 unsigned messages in a row
  };

  ResponseVerifier(const Key& key, std::span<const std::uint8_t> requestMac);
  ~ResponseVerifier();
  ResponseVerifier(ResponseVerifier&&) noexcept;
  ResponseVerifier& operator=(ResponseVerifier&&) noexcept;

  // Feeds the next message. `now`: seconds since 1970.
  Result verify(std::span<const std::uint8_t> msg, std::uint64_t now) noexcept;
  // True when the last message fed was signed and verified.
  bool complete() const noexcept { return complete_; }
  std::uint16_t peerError() const noexcept { return peerError_; }

 private:
  struct Running;  // the HMAC context carried from one message to the next
  const Key* key_;
  Mac prior_;
  bool first_ = true;
  bool complete_ = false;
  bool failed_ = false;
  std::uint16_t peerError_ = 0;
  std::size_t unsigned_ = 0;
  std::unique_ptr<Running> running_;
};

}  // namespace geodns::tsig
