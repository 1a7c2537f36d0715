#include "core/wire/tsig.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>

namespace geodns::tsig {

// ---- the record -------------------------------------------------------------

bool read(Reader& r, Record& out) noexcept {
  if (!name::read(r, out.key, false)) return false;
  const std::uint16_t type = r.u16();
  out.rrclass = r.u16();
  out.ttl = r.u32();
  const std::uint16_t rdlen = r.u16();
  if (!r.ok() || type != dns::toU16(dns::Type::TSIG) || r.remaining() < rdlen) {
    r.fail();
    return false;
  }
  const std::size_t end = r.pos() + rdlen;
  // The algorithm name is read from the whole message so that a (non-standard)
  // compression pointer resolves; it must still end inside the RDATA.
  if (!name::read(r, out.algorithm, true)) return false;
  const std::uint64_t hi = r.u16();
  out.timeSigned = (hi << 32) | r.u32();
  out.fudge = r.u16();
  const std::uint16_t macSize = r.u16();
  out.mac = r.bytes(macSize);
  out.originalId = r.u16();
  out.error = r.u16();
  const std::uint16_t otherLen = r.u16();
  out.other = r.bytes(otherLen);
  if (!r.ok() || r.pos() != end) {
    r.fail();
    return false;
  }
  return true;
}

Placement locate(std::span<const std::uint8_t> msg, std::size_t& offset) noexcept {
  Reader r(msg);
  r.skip(4);  // id, flags
  const std::uint16_t qd = r.u16(), an = r.u16(), ns = r.u16(), ar = r.u16();
  if (!r.ok()) return Placement::Malformed;
  name::NameBuf scratch;
  for (std::uint16_t i = 0; i < qd; ++i) {
    if (!name::read(r, scratch, false)) return Placement::Malformed;
    r.skip(4);
  }
  const std::uint32_t total = std::uint32_t{an} + ns + ar;
  for (std::uint32_t i = 0; i < total; ++i) {
    const std::size_t start = r.pos();
    if (!name::read(r, scratch, false)) return Placement::Malformed;
    const std::uint16_t type = r.u16();
    r.skip(6);  // class, TTL
    const std::uint16_t rdlen = r.u16();
    r.skip(rdlen);
    if (!r.ok()) return Placement::Malformed;
    if (type == dns::toU16(dns::Type::TSIG)) {
      // Only as the very last record, and so only once (RFC 8945 5.1).
      if (i + 1 != total || ar == 0) return Placement::Malformed;
      offset = start;
      return Placement::Last;
    }
  }
  return Placement::None;
}

std::size_t unsignedSize(const Record& req) noexcept {
  // owner, type/class/ttl/rdlength, algorithm, time (6), fudge, mac size,
  // original id, error, other length.
  return req.key.len + 10 + req.algorithm.len + 6 + 2 + 2 + 2 + 2 + 2;
}

bool writeUnsigned(Writer& w, const Record& req, std::uint16_t error,
                   std::uint64_t timeSigned) noexcept {
  w.bytes(req.key.span());
  w.u16(dns::toU16(dns::Type::TSIG));
  w.u16(dns::kClassANY);
  w.u32(0);
  w.u16(static_cast<std::uint16_t>(req.algorithm.len + 16));
  w.bytes(req.algorithm.span());
  w.u16(static_cast<std::uint16_t>(timeSigned >> 32));
  w.u32(static_cast<std::uint32_t>(timeSigned));
  w.u16(req.fudge);
  w.u16(0);  // MAC size: an error response to an unverified request is unsigned
  w.u16(req.originalId);
  w.u16(error);
  w.u16(0);  // other length
  return w.ok();
}

// ---- algorithms and keys ----------------------------------------------------

namespace {

struct AlgorithmInfo {
  Algorithm algorithm;
  const char* text;
  const char* wire;  // lowercase wire name, with its terminating root label
  std::size_t wireLen;
  const char* digest;  // OpenSSL digest name
  std::size_t macSize;
};

#define GEODNS_ALG(a, text, digest, size) \
  { a, text, "\x0b" text, sizeof(text) + 1, digest, size }
constexpr AlgorithmInfo kAlgorithms[] = {
    {Algorithm::HmacSha1, "hmac-sha1", "\x09hmac-sha1", 11, "SHA1", 20},
    GEODNS_ALG(Algorithm::HmacSha224, "hmac-sha224", "SHA224", 28),
    GEODNS_ALG(Algorithm::HmacSha256, "hmac-sha256", "SHA256", 32),
    GEODNS_ALG(Algorithm::HmacSha384, "hmac-sha384", "SHA384", 48),
    GEODNS_ALG(Algorithm::HmacSha512, "hmac-sha512", "SHA512", 64),
};
#undef GEODNS_ALG

const AlgorithmInfo& info(Algorithm a) noexcept {
  return kAlgorithms[static_cast<std::size_t>(a)];
}

}  // namespace

std::optional<Algorithm> algorithmFromText(std::string_view text) noexcept {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  for (const auto& a : kAlgorithms) {
    std::string_view t(a.text);
    if (t.size() == text.size() && std::equal(t.begin(), t.end(), text.begin(), [](char x, char y) {
          return x == ((y >= 'A' && y <= 'Z') ? static_cast<char>(y | 0x20) : y);
        }))
      return a.algorithm;
  }
  return std::nullopt;
}

std::optional<Algorithm> algorithmFromName(name::Span wire) noexcept {
  for (const auto& a : kAlgorithms)
    if (wire.size() == a.wireLen && std::memcmp(wire.data(), a.wire, a.wireLen) == 0)
      return a.algorithm;
  return std::nullopt;
}

name::Span algorithmName(Algorithm a) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(info(a).wire), info(a).wireLen};
}
const char* algorithmText(Algorithm a) noexcept {
  return info(a).text;
}
std::size_t macSize(Algorithm a) noexcept {
  return info(a).macSize;
}

std::optional<Key> makeKey(std::string_view keyName, std::string_view algorithm,
                           std::string_view base64Secret, std::string* err) {
  Key k;
  auto n = name::fromText(keyName);
  if (!n || keyName.empty()) {
    *err = "bad TSIG key name '" + std::string(keyName) + "'";
    return std::nullopt;
  }
  k.name = std::move(*n);
  auto alg = algorithmFromText(algorithm);
  if (!alg) {
    *err = "unknown TSIG algorithm '" + std::string(algorithm) +
           "' (hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512)";
    return std::nullopt;
  }
  k.algorithm = *alg;
  auto secret = decodeBase64(base64Secret);
  if (!secret) {
    *err = "TSIG secret is not valid base64";
    return std::nullopt;
  }
  if (secret->empty()) {
    *err = "TSIG secret is empty";
    return std::nullopt;
  }
  k.secret = std::move(*secret);
  return k;
}

bool Keyring::add(Key key, std::string* err) {
  if (find(name::asSpan(key.name))) {
    *err = "TSIG key " + name::toText(name::asSpan(key.name)) + " is defined twice";
    return false;
  }
  keys_.push_back(std::move(key));
  return true;
}

const Key* Keyring::find(name::Span keyName) const noexcept {
  for (const auto& k : keys_)
    if (k.name.size() == keyName.size() &&
        std::memcmp(k.name.data(), keyName.data(), keyName.size()) == 0)
      return &k;
  return nullptr;
}

// ---- base64 -----------------------------------------------------------------

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64Value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
bool isSpace(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
}  // namespace

std::optional<std::vector<std::uint8_t>> decodeBase64(std::string_view text) {
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  std::size_t chars = 0;  // significant characters (padding included)
  std::size_t pad = 0;
  for (char c : text) {
    if (isSpace(c)) continue;
    if (c == '=') {
      ++pad;
      ++chars;
      continue;
    }
    const int v = b64Value(c);
    if (v < 0 || pad > 0) return std::nullopt;  // a foreign character, or data after padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    if (++chars % 4 == 0) {
      out.push_back(static_cast<std::uint8_t>(acc >> 16));
      out.push_back(static_cast<std::uint8_t>(acc >> 8));
      out.push_back(static_cast<std::uint8_t>(acc));
      acc = 0;
    }
  }
  if (chars % 4 != 0 || pad > 2) return std::nullopt;
  if (pad == 2) {  // "xx==": one byte, the low 4 bits of the second character unused
    if (acc & 0xF) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(acc >> 4));
  } else if (pad == 1) {  // "xxx=": two bytes, the low 2 bits unused
    if (acc & 0x3) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(acc >> 10));
    out.push_back(static_cast<std::uint8_t>(acc >> 2));
  }
  return out;
}

std::string encodeBase64(std::span<const std::uint8_t> in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kB64[(v >> s) & 63]);
  }
  if (in.size() - i == 1) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16;
    out += {kB64[(v >> 18) & 63], kB64[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
    out += {kB64[(v >> 18) & 63], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], '='};
  }
  return out;
}

// ---- HMAC through OpenSSL ----------------------------------------------------

namespace {

// One HMAC computation; RAII over OpenSSL's EVP_MAC context. Failures (out
// of memory, a provider without the digest) make ok() false, never throw.
class Hmac {
 public:
  Hmac(Algorithm a, std::span<const std::uint8_t> key) noexcept {
    static EVP_MAC* const kMac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (!kMac) return;
    ctx_ = EVP_MAC_CTX_new(kMac);
    if (!ctx_) return;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                            const_cast<char*>(info(a).digest), 0),
                           OSSL_PARAM_construct_end()};
    ok_ = EVP_MAC_init(ctx_, key.data(), key.size(), params) == 1;
  }
  ~Hmac() { EVP_MAC_CTX_free(ctx_); }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  bool ok() const noexcept { return ok_; }
  void update(std::span<const std::uint8_t> b) noexcept {
    if (ok_ && !b.empty()) ok_ = EVP_MAC_update(ctx_, b.data(), b.size()) == 1;
  }
  void u16(std::uint16_t v) noexcept {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    update(b);
  }
  void u32(std::uint32_t v) noexcept {
    const std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24),
                               static_cast<std::uint8_t>(v >> 16),
                               static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    update(b);
  }
  void u48(std::uint64_t v) noexcept {
    u16(static_cast<std::uint16_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
  }
  // A length-prefixed MAC (request MAC or prior MAC, RFC 8945 4.3.1, 5.3.1).
  void mac(std::span<const std::uint8_t> m) noexcept {
    u16(static_cast<std::uint16_t>(m.size()));
    update(m);
  }
  bool final(Mac& out) noexcept {
    std::size_t len = 0;
    if (!ok_ || EVP_MAC_final(ctx_, out.data, &len, sizeof out.data) != 1) return false;
    out.len = len;
    return true;
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
  bool ok_ = false;
};

// The message part of the digest: the message before its TSIG, with the
// original ID in place of the ID and ARCOUNT not counting the TSIG (RFC 8945
// 4.3.2). `tsigAt` is where the TSIG starts (the message length when unsigned
// yet, with `arcountAdjust` 0).
void digestMessage(Hmac& h, std::span<const std::uint8_t> msg, std::size_t tsigAt,
                   std::uint16_t originalId, std::uint16_t arcountAdjust) noexcept {
  h.u16(originalId);
  h.update(msg.subspan(2, 8));
  const std::uint16_t ar = static_cast<std::uint16_t>((msg[10] << 8) | msg[11]);
  h.u16(static_cast<std::uint16_t>(ar - arcountAdjust));
  h.update(msg.subspan(12, tsigAt - 12));
}

// All TSIG variables (RFC 8945 4.3.3), names in canonical (lowercase) form.
void digestVariables(Hmac& h, name::Span keyName, std::uint16_t rrclass, std::uint32_t ttl,
                     name::Span algorithm, std::uint64_t timeSigned, std::uint16_t fudge,
                     std::uint16_t error, std::span<const std::uint8_t> other) noexcept {
  h.update(keyName);
  h.u16(rrclass);
  h.u32(ttl);
  h.update(algorithm);
  h.u48(timeSigned);
  h.u16(fudge);
  h.u16(error);
  h.u16(static_cast<std::uint16_t>(other.size()));
  h.update(other);
}

// RFC 8945 5.2.2.1: a MAC longer than the HMAC, or shorter than both 10 bytes
// and half the HMAC, is FORMERR.
bool macSizeAllowed(std::size_t got, Algorithm a) noexcept {
  const std::size_t full = macSize(a);
  return got <= full && got >= std::max<std::size_t>(10, full / 2);
}

bool inTime(std::uint64_t timeSigned, std::uint16_t fudge, std::uint64_t now) noexcept {
  return now + fudge >= timeSigned && now <= timeSigned + fudge;
}

name::NameBuf lowered(const name::NameBuf& n) noexcept {
  name::NameBuf out = n;
  name::toLower(out.data, out.len);
  return out;
}

}  // namespace

// ---- verifying a request ------------------------------------------------------

dns::Rcode RequestCheck::rcode() const noexcept {
  switch (verdict) {
    case Verdict::Unsigned:
    case Verdict::Ok:
      return dns::Rcode::NoError;
    case Verdict::FormErr:
      return dns::Rcode::FormErr;
    default:
      return dns::Rcode::NotAuth;
  }
}

dns::TsigError RequestCheck::error() const noexcept {
  switch (verdict) {
    case Verdict::BadKey:
      return dns::TsigError::BadKey;
    case Verdict::BadSig:
      return dns::TsigError::BadSig;
    case Verdict::BadTime:
      return dns::TsigError::BadTime;
    case Verdict::BadTrunc:
      return dns::TsigError::BadTrunc;
    default:
      return dns::TsigError::NoError;
  }
}

bool RequestCheck::signsAnswer() const noexcept {
  return verdict == Verdict::Ok || verdict == Verdict::BadTime || verdict == Verdict::BadTrunc;
}

RequestCheck verifyRequest(std::span<const std::uint8_t> msg, const Keyring& keys,
                           std::uint64_t now) noexcept {
  RequestCheck c;
  switch (locate(msg, c.offset)) {
    case Placement::None:
      c.verdict = Verdict::Unsigned;
      return c;
    case Placement::Malformed:
      c.verdict = Verdict::FormErr;
      return c;
    case Placement::Last:
      break;
  }
  Reader r(msg, c.offset);
  if (!read(r, c.record)) {
    c.verdict = Verdict::FormErr;
    return c;
  }
  // 1. Key (5.2.1): the name and the algorithm must both match a key we hold.
  const name::NameBuf keyName = lowered(c.record.key);
  const Key* key = keys.find(keyName.span());
  const auto alg = algorithmFromName(c.record.algorithm.span());
  if (!key || !alg || *alg != key->algorithm) {
    c.verdict = Verdict::BadKey;
    return c;
  }
  // 2. MAC (5.2.2, with the size rules of 5.2.2.1).
  if (!macSizeAllowed(c.record.mac.size(), *alg)) {
    c.verdict = Verdict::FormErr;
    return c;
  }
  Hmac h(*alg, key->secret);
  digestMessage(h, msg, c.offset, c.record.originalId, 1);
  digestVariables(h, keyName.span(), c.record.rrclass, c.record.ttl, c.record.algorithm.span(),
                  c.record.timeSigned, c.record.fudge, c.record.error, c.record.other);
  Mac expect;
  // A truncated MAC is compared with as many leading bytes of ours (5.2.2.1).
  if (!h.final(expect) ||
      CRYPTO_memcmp(expect.data, c.record.mac.data(), c.record.mac.size()) != 0) {
    c.verdict = Verdict::BadSig;
    return c;
  }
  c.key = key;
  std::memcpy(c.mac.data, c.record.mac.data(), c.record.mac.size());
  c.mac.len = c.record.mac.size();
  // 3. Time (5.2.3).
  if (!inTime(c.record.timeSigned, c.record.fudge, now)) {
    c.verdict = Verdict::BadTime;
    return c;
  }
  // 4. Truncation policy (5.2.4).
  const std::size_t minMac = key->minMac ? key->minMac : macSize(*alg);
  if (c.record.mac.size() < minMac) {
    c.verdict = Verdict::BadTrunc;
    return c;
  }
  c.verdict = Verdict::Ok;
  return c;
}

// ---- signing ----------------------------------------------------------------------

Signer Signer::forResponse(const Key& key, std::span<const std::uint8_t> requestMac,
                           std::uint16_t fudge) noexcept {
  Signer s(key, fudge);
  s.answer_ = true;
  s.prior_.len = std::min(requestMac.size(), kMaxMac);
  std::memcpy(s.prior_.data, requestMac.data(), s.prior_.len);
  return s;
}

Signer Signer::forRequest(const Key& key, std::uint16_t fudge) noexcept {
  return Signer(key, fudge);
}

std::size_t Signer::reserve() const noexcept {
  // owner, type/class/ttl/rdlength, algorithm, time, fudge, mac size + mac,
  // original id, error, other length + a BADTIME's 6 bytes of other data.
  return key_->name.size() + 10 + algorithmName(key_->algorithm).size() + 6 + 2 + 2 +
         macSize(key_->algorithm) + 2 + 2 + 2 + 6;
}

bool Signer::sign(Writer& w, std::uint64_t now, dns::TsigError error,
                  std::uint64_t requestTime) noexcept {
  if (w.size() < dns::kHeaderSize || !w.ok()) return false;
  const std::span<const std::uint8_t> msg{w.data(), w.size()};
  const std::uint16_t id = static_cast<std::uint16_t>((msg[0] << 8) | msg[1]);
  const bool badTime = error == dns::TsigError::BadTime;
  const std::uint64_t timeSigned = badTime ? requestTime : now;
  std::uint8_t other[6];
  std::size_t otherLen = 0;
  if (badTime) {  // the server's time, so the client can see the skew (5.2.3)
    for (int i = 0; i < 6; ++i) other[i] = static_cast<std::uint8_t>(now >> (40 - 8 * i));
    otherLen = 6;
  }
  const name::Span keyName = name::asSpan(key_->name);
  const name::Span alg = algorithmName(key_->algorithm);
  const auto err = static_cast<std::uint16_t>(error);

  Hmac h(key_->algorithm, key_->secret);
  const bool first = count_ == 0;
  if (!first || answer_) h.mac(prior_.span());
  digestMessage(h, msg, msg.size(), id, 0);
  if (first) {
    digestVariables(h, keyName, dns::kClassANY, 0, alg, timeSigned, fudge_, err, {other, otherLen});
  } else {  // timers only (5.3.1)
    h.u48(timeSigned);
    h.u16(fudge_);
  }
  Mac mac;
  if (!h.final(mac)) return false;

  const std::size_t mark = w.size();
  w.bytes(keyName);
  w.u16(dns::toU16(dns::Type::TSIG));
  w.u16(dns::kClassANY);
  w.u32(0);
  w.u16(static_cast<std::uint16_t>(alg.size() + 16 + mac.len + otherLen));
  w.bytes(alg);
  w.u16(static_cast<std::uint16_t>(timeSigned >> 32));
  w.u32(static_cast<std::uint32_t>(timeSigned));
  w.u16(fudge_);
  w.u16(static_cast<std::uint16_t>(mac.len));
  w.bytes(mac.span());
  w.u16(id);
  w.u16(err);
  w.u16(static_cast<std::uint16_t>(otherLen));
  w.bytes({other, otherLen});
  if (!w.ok()) {
    w.truncate(mark);
    return false;
  }
  const std::uint16_t ar = static_cast<std::uint16_t>((w.data()[10] << 8) | w.data()[11]);
  w.patch16(10, static_cast<std::uint16_t>(ar + 1));
  prior_ = mac;
  ++count_;
  return true;
}

// ---- verifying a response -------------------------------------------------------

struct ResponseVerifier::Running {
  explicit Running(const Key& key) : hmac(key.algorithm, key.secret) {}
  Hmac hmac;
};

ResponseVerifier::ResponseVerifier(const Key& key, std::span<const std::uint8_t> requestMac)
    : key_(&key) {
  prior_.len = std::min(requestMac.size(), kMaxMac);
  std::memcpy(prior_.data, requestMac.data(), prior_.len);
}
ResponseVerifier::~ResponseVerifier() = default;
ResponseVerifier::ResponseVerifier(ResponseVerifier&&) noexcept = default;
ResponseVerifier& ResponseVerifier::operator=(ResponseVerifier&&) noexcept = default;

ResponseVerifier::Result ResponseVerifier::verify(std::span<const std::uint8_t> msg,
                                                  std::uint64_t now) noexcept {
  complete_ = false;
  if (failed_) return Result::FormErr;  // a stream that failed once stays failed
  auto fail = [&](Result r) {
    failed_ = true;
    return r;
  };
  std::size_t at = 0;
  const Placement p = locate(msg, at);
  if (p == Placement::Malformed) return fail(Result::FormErr);
  if (p == Placement::None) {
    if (first_) return fail(Result::FormErr);  // the first answer must be signed (5.3.1)
    if (++unsigned_ >= 100) return fail(Result::TooManyUnsigned);
    // Covered whole, as it was sent, by the next MAC.
    if (!running_) return fail(Result::FormErr);
    running_->hmac.update(msg);
    return Result::Unsigned;
  }
  Record rec;
  Reader r(msg, at);
  if (!read(r, rec)) return fail(Result::FormErr);
  const name::NameBuf keyName = lowered(rec.key);
  const auto alg = algorithmFromName(rec.algorithm.span());
  if (keyName.len != key_->name.size() ||
      std::memcmp(keyName.data, key_->name.data(), keyName.len) != 0 || !alg ||
      *alg != key_->algorithm)
    return fail(Result::BadKey);
  if (rec.error != 0 && rec.mac.empty()) {  // BADKEY, BADSIG: unsigned by rule (5.3.2)
    peerError_ = rec.error;
    return fail(Result::PeerError);
  }
  if (!macSizeAllowed(rec.mac.size(), *alg)) return fail(Result::FormErr);

  std::unique_ptr<Running> fresh;
  Running* run = running_.get();
  if (first_) {
    fresh = std::unique_ptr<Running>(new (std::nothrow) Running(*key_));
    if (!fresh) return fail(Result::BadSig);
    run = fresh.get();
    run->hmac.mac(prior_.span());  // the request MAC
  }
  Hmac& h = run->hmac;
  digestMessage(h, msg, at, rec.originalId, 1);
  if (first_) {
    digestVariables(h, keyName.span(), rec.rrclass, rec.ttl, rec.algorithm.span(), rec.timeSigned,
                    rec.fudge, rec.error, rec.other);
  } else {
    h.u48(rec.timeSigned);
    h.u16(rec.fudge);
  }
  Mac expect;
  if (!h.final(expect) || CRYPTO_memcmp(expect.data, rec.mac.data(), rec.mac.size()) != 0)
    return fail(Result::BadSig);
  if (rec.error != 0) {  // a signed error (BADTIME, BADTRUNC): authentic, and still a failure
    peerError_ = rec.error;
    return fail(Result::PeerError);
  }
  if (!inTime(rec.timeSigned, rec.fudge, now)) return fail(Result::BadTime);

  // The next message's MAC starts from this one (5.3.1).
  std::memcpy(prior_.data, rec.mac.data(), rec.mac.size());
  prior_.len = rec.mac.size();
  running_ = std::unique_ptr<Running>(new (std::nothrow) Running(*key_));
  if (!running_) return fail(Result::BadSig);
  running_->hmac.mac(prior_.span());
  first_ = false;
  unsigned_ = 0;
  complete_ = true;
  return Result::Ok;
}

}  // namespace geodns::tsig
