#include "zones/dnssec/signer.h"

#include <algorithm>
#include <cstring>

namespace geodns::zones::dnssec {
namespace {

constexpr std::size_t kBad = static_cast<std::size_t>(-1);

// Walks the uncompressed name at d[pos], lowercasing it when `lower`;
// returns the offset after it, or kBad.
std::size_t walkName(std::span<std::uint8_t> d, std::size_t pos, bool lower) noexcept {
  std::size_t total = 0;
  for (;;) {
    if (pos >= d.size()) return kBad;
    const std::uint8_t len = d[pos];
    if (len > dns::kMaxLabel) return kBad;  // compression pointers and obsolete label types
    total += std::size_t{1} + len;
    if (total > dns::kMaxNameWire || pos + 1 + len > d.size()) return kBad;
    if (lower) name::toLower(d.data() + pos + 1, len);
    pos += std::size_t{1} + len;
    if (len == 0) return pos;
  }
}

// Skips a <character-string>.
std::size_t skipString(std::span<std::uint8_t> d, std::size_t pos) noexcept {
  if (pos >= d.size() || pos + 1 + d[pos] > d.size()) return kBad;
  return pos + 1 + d[pos];
}

// `count` names starting at `pos`; the RDATA must end right after them
// when `exact`.
bool names(std::span<std::uint8_t> d, std::size_t pos, int count, bool exact) noexcept {
  for (int i = 0; i < count; ++i) {
    if (pos == kBad || pos > d.size()) return false;
    pos = walkName(d, pos, true);
  }
  if (pos == kBad) return false;
  return !exact || pos == d.size();
}

void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  put16(v, static_cast<std::uint16_t>(x >> 16));
  put16(v, static_cast<std::uint16_t>(x));
}

}  // namespace

SigningWindow windowAt(std::int64_t now, const SignPolicy& p) noexcept {
  SigningWindow w;
  w.inception = static_cast<std::uint32_t>(now - p.inceptionBackdate_s);
  w.expiration = static_cast<std::uint32_t>(now + p.validity_s);
  std::int64_t keep = static_cast<std::int64_t>(p.validity_s) - p.refresh_s;
  w.refreshAt = now + (keep > 0 ? keep : 0);
  return w;
}

std::optional<RrsigFields> parseRrsig(std::span<const std::uint8_t> d) {
  if (d.size() < 18 + 1) return std::nullopt;
  RrsigFields f;
  f.typeCovered = static_cast<std::uint16_t>((d[0] << 8) | d[1]);
  f.algorithm = d[2];
  f.labels = d[3];
  auto u32 = [&](std::size_t i) {
    return (std::uint32_t{d[i]} << 24) | (std::uint32_t{d[i + 1]} << 16) |
           (std::uint32_t{d[i + 2]} << 8) | std::uint32_t{d[i + 3]};
  };
  f.originalTtl = u32(4);
  f.expiration = u32(8);
  f.inception = u32(12);
  f.keyTag = static_cast<std::uint16_t>((d[16] << 8) | d[17]);
  std::vector<std::uint8_t> copy(d.begin(), d.end());
  std::size_t end = walkName(copy, 18, false);
  if (end == kBad) return std::nullopt;
  f.signer.assign(d.begin() + 18, d.begin() + static_cast<std::ptrdiff_t>(end));
  f.signature.assign(d.begin() + static_cast<std::ptrdiff_t>(end), d.end());
  return f;
}

bool canonicalizeRdata(std::uint16_t type, std::span<std::uint8_t> d) noexcept {
  switch (type) {
    case 2:   // NS
    case 3:   // MD
    case 4:   // MF
    case 5:   // CNAME
    case 7:   // MB
    case 8:   // MG
    case 9:   // MR
    case 12:  // PTR
    case 39:  // DNAME
      return names(d, 0, 1, true);
    case 6: {  // SOA: MNAME RNAME + five 32-bit fields
      std::size_t p = walkName(d, 0, true);
      if (p == kBad) return false;
      p = walkName(d, p, true);
      return p != kBad && p + 20 == d.size();
    }
    case 14:  // MINFO
    case 17:  // RP
      return names(d, 0, 2, true);
    case 15:  // MX
    case 18:  // AFSDB
    case 21:  // RT
    case 36:  // KX
      return d.size() > 2 && names(d, 2, 1, true);
    case 26:  // PX: preference MAP822 MAPX400
      return d.size() > 2 && names(d, 2, 2, true);
    case 33:  // SRV: priority weight port target
      return d.size() > 6 && names(d, 6, 1, true);
    case 35: {  // NAPTR: order preference flags services regexp replacement
      if (d.size() < 4) return false;
      std::size_t p = 4;
      for (int i = 0; i < 3 && p != kBad; ++i) p = skipString(d, p);
      return p != kBad && names(d, p, 1, true);
    }
    case 24:  // SIG
    case 46:  // RRSIG: 18 fixed octets, signer's name, signature
      return d.size() > 18 && names(d, 18, 1, false);
    case 30:  // NXT: next name, bitmap
      return names(d, 0, 1, false);
    case 38: {  // A6: prefix length, address suffix, prefix name when length > 0
      if (d.empty() || d[0] > 128) return false;
      std::size_t p = std::size_t{1} + (128u - d[0] + 7u) / 8u;
      if (d[0] == 0) return p == d.size();
      return p < d.size() && names(d, p, 1, true);
    }
    default:
      return true;
  }
}

int compareCanonicalRdata(std::span<const std::uint8_t> a,
                          std::span<const std::uint8_t> b) noexcept {
  std::size_t n = std::min(a.size(), b.size());
  if (n > 0) {
    int c = std::memcmp(a.data(), b.data(), n);
    if (c != 0) return c;
  }
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

std::uint8_t rrsigLabels(name::Span owner) noexcept {
  std::size_t n = name::labelCount(owner);
  if (n > 0 && owner.size() >= 2 && owner[0] == 1 && owner[1] == '*') --n;
  return static_cast<std::uint8_t>(n);
}

std::optional<std::vector<std::vector<std::uint8_t>>> canonicalRdatas(
    std::uint16_t type, std::span<const std::span<const std::uint8_t>> rdatas) {
  std::vector<std::vector<std::uint8_t>> out;
  out.reserve(rdatas.size());
  for (auto r : rdatas) {
    if (r.size() > 0xFFFF) return std::nullopt;
    out.emplace_back(r.begin(), r.end());
    if (!canonicalizeRdata(type, out.back())) return std::nullopt;
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return compareCanonicalRdata(a, b) < 0; });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const char* signStatusText(SignStatus s) noexcept {
  switch (s) {
    case SignStatus::Ok:
      return "ok";
    case SignStatus::EmptyRRset:
      return "empty RRset";
    case SignStatus::BadOwner:
      return "malformed owner name";
    case SignStatus::BadRdata:
      return "malformed RDATA";
    case SignStatus::TooLarge:
      return "RRset too large to sign";
    case SignStatus::CryptoFailed:
      return "signature failed";
  }
  return "?";
}

SignStatus Signer::signedData(const RRsetView& rrset, const SigningWindow& window,
                              std::vector<std::uint8_t>& out) const {
  out.clear();
  if (rrset.rdatas.empty()) return SignStatus::EmptyRRset;
  // Owner: a well-formed uncompressed name, lowercased (RFC 4034 s6.2 item 2).
  std::vector<std::uint8_t> owner(rrset.owner.begin(), rrset.owner.end());
  if (walkName(owner, 0, true) != owner.size()) return SignStatus::BadOwner;
  auto rdatas = canonicalRdatas(rrset.type, rrset.rdatas);
  if (!rdatas) return SignStatus::BadRdata;

  // RRSIG RDATA up to the signature (RFC 4034 s3.1.8.1).
  put16(out, rrset.type);
  out.push_back(key_->algorithmNumber());
  out.push_back(rrsigLabels(owner));
  put32(out, rrset.ttl);
  put32(out, window.expiration);
  put32(out, window.inception);
  put16(out, key_->keyTag());
  out.insert(out.end(), key_->owner().begin(), key_->owner().end());  // lowercase already
  // RR(i) = owner | type | class | TTL | RDATA length | RDATA, in canonical order.
  for (const auto& r : *rdatas) {
    out.insert(out.end(), owner.begin(), owner.end());
    put16(out, rrset.type);
    put16(out, rrset.rrclass);
    put32(out, rrset.ttl);
    put16(out, static_cast<std::uint16_t>(r.size()));
    out.insert(out.end(), r.begin(), r.end());
  }
  return SignStatus::Ok;
}

SignStatus Signer::sign(const RRsetView& rrset, std::vector<std::uint8_t>& rrsig) const {
  return signWith(rrset, window(), rrsig);
}

SignStatus Signer::signWith(const RRsetView& rrset, const SigningWindow& window,
                            std::vector<std::uint8_t>& rrsig) const {
  rrsig.clear();
  std::vector<std::uint8_t> data;
  if (SignStatus s = signedData(rrset, window, data); s != SignStatus::Ok) return s;
  const std::size_t prefix = 18 + key_->owner().size();
  if (prefix + kSignatureSize > 0xFFFF) return SignStatus::TooLarge;
  std::uint8_t sig[kSignatureSize];
  if (key_->sign(data, sig) != kSignatureSize) return SignStatus::CryptoFailed;
  rrsig.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(prefix));
  rrsig.insert(rrsig.end(), sig, sig + kSignatureSize);
  return SignStatus::Ok;
}

}  // namespace geodns::zones::dnssec
