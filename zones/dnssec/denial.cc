#include "zones/dnssec/denial.h"

// ldns/common.h redefines `false` in C++ unless stdbool.h came first (FIELD-NOTES.md).
// clang-format off
#include <stdbool.h>  // must precede ldns: see the comment above
#include <ldns/sha1.h>  // a plain C SHA-1 on a stack context: no allocation, unlike EVP
// clang-format on

#include <cstring>

#include "core/wire/dns.h"

namespace geodns::zones::dnssec {

// ---- TypeSet ----

bool TypeSet::add(std::uint16_t type) noexcept {
  std::size_t i = 0;
  while (i < n_ && types_[i] < type) ++i;
  if (i < n_ && types_[i] == type) return true;
  if (n_ == kMax) return false;
  for (std::size_t j = n_; j > i; --j) types_[j] = types_[j - 1];
  types_[i] = type;
  ++n_;
  return true;
}

bool TypeSet::contains(std::uint16_t type) const noexcept {
  for (std::size_t i = 0; i < n_; ++i)
    if (types_[i] == type) return true;
  return false;
}

bool TypeSet::operator==(const TypeSet& o) const noexcept {
  return n_ == o.n_ && std::memcmp(types_, o.types_, n_ * sizeof types_[0]) == 0;
}

// ---- type bit maps ----

namespace {

// Calls f(window, bitmapLength, firstIndex, endIndex) for each window present.
template <class F>
bool forEachWindow(const TypeSet& types, F&& f) noexcept {
  auto t = types.types();
  std::size_t i = 0;
  while (i < t.size()) {
    const std::uint8_t window = static_cast<std::uint8_t>(t[i] >> 8);
    std::size_t j = i;
    std::uint8_t highest = 0;
    while (j < t.size() && (t[j] >> 8) == window) highest = static_cast<std::uint8_t>(t[j++]);
    if (!f(window, static_cast<std::uint8_t>(highest / 8 + 1), i, j)) return false;
    i = j;
  }
  return true;
}

}  // namespace

std::size_t typeBitmapSize(const TypeSet& types) noexcept {
  std::size_t n = 0;
  forEachWindow(types, [&](std::uint8_t, std::uint8_t len, std::size_t, std::size_t) {
    n += std::size_t{2} + len;
    return true;
  });
  return n;
}

bool writeTypeBitmap(Writer& w, const TypeSet& types) noexcept {
  auto t = types.types();
  return forEachWindow(
      types, [&](std::uint8_t window, std::uint8_t len, std::size_t from, std::size_t to) {
        std::uint8_t bits[32] = {};
        for (std::size_t k = from; k < to; ++k) {
          const std::uint8_t low = static_cast<std::uint8_t>(t[k]);
          bits[low / 8] = static_cast<std::uint8_t>(bits[low / 8] | (0x80 >> (low % 8)));
        }
        return w.u8(window) && w.u8(len) && w.bytes({bits, len});
      });
}

bool readTypeBitmap(std::span<const std::uint8_t> b, TypeSet& out) noexcept {
  out.clear();
  std::size_t pos = 0;
  int lastWindow = -1;
  while (pos < b.size()) {
    if (b.size() - pos < 2) return false;
    const std::uint8_t window = b[pos];
    const std::uint8_t len = b[pos + 1];
    pos += 2;
    if (window <= lastWindow || len == 0 || len > 32 || b.size() - pos < len) return false;
    if (b[pos + len - 1] == 0) return false;  // trailing zero octets must be omitted
    for (std::size_t i = 0; i < len; ++i)
      for (int bit = 0; bit < 8; ++bit)
        if (b[pos + i] & (0x80 >> bit))
          if (!out.add(static_cast<std::uint16_t>((window << 8) |
                                                  (i * 8 + static_cast<std::size_t>(bit)))))
            return false;
    pos += len;
    lastWindow = window;
  }
  return true;
}

// ---- successor ----

bool successor(name::Span nm, name::NameBuf& out) noexcept {
  // Validate, and find the first label.
  std::size_t pos = 0;
  while (pos < nm.size() && nm[pos] != 0) {
    if (nm[pos] > dns::kMaxLabel) return false;
    pos += std::size_t{1} + nm[pos];
  }
  if (pos + 1 != nm.size() || nm.size() > dns::kMaxNameWire) return false;

  // 1. Room for one more label: "\000.<name>", the next name in canonical order.
  if (nm.size() + 2 <= dns::kMaxNameWire) {
    out.data[0] = 1;
    out.data[1] = 0;
    std::memcpy(out.data + 2, nm.data(), nm.size());
    out.len = nm.size() + 2;
    return true;
  }
  // 2. Room for one more octet in the first label: append a zero octet to it.
  if (nm[0] > 0 && nm[0] < dns::kMaxLabel && nm.size() + 1 <= dns::kMaxNameWire) {
    const std::size_t first = std::size_t{1} + nm[0];
    out.data[0] = static_cast<std::uint8_t>(nm[0] + 1);
    std::memcpy(out.data + 1, nm.data() + 1, nm[0]);
    out.data[first] = 0;
    std::memcpy(out.data + first + 1, nm.data() + first, nm.size() - first);
    out.len = nm.size() + 1;
    return true;
  }
  // 3. Increment the last octet of the leftmost label that can be incremented,
  // dropping the octets after it (and the labels to its left). Upper-case
  // letters sort as lower case, so '@' + 1 is '['.
  for (std::size_t lab = 0; lab < nm.size() && nm[lab] != 0; lab += std::size_t{1} + nm[lab]) {
    const std::uint8_t len = nm[lab];
    for (std::size_t k = len; k >= 1; --k) {
      std::uint8_t v = nm[lab + k];
      if (v == 0xFF) continue;
      ++v;
      if (v >= 'A' && v <= 'Z') v = '[';
      out.data[0] = static_cast<std::uint8_t>(k);
      std::memcpy(out.data + 1, nm.data() + lab + 1, k - 1);
      out.data[k] = v;
      const std::size_t rest = lab + 1 + len;
      std::memcpy(out.data + k + 1, nm.data() + rest, nm.size() - rest);
      out.len = k + 1 + (nm.size() - rest);
      return true;
    }
  }
  return false;  // every label all 0xFF: nothing above it in this zone
}

// ---- compact denial ----

bool writeCompactNsecRdata(Writer& w, name::Span qname, const TypeSet& typesAtName,
                           CompactKind kind) noexcept {
  name::NameBuf next;
  if (!successor(qname, next)) return false;
  TypeSet types;
  if (kind == CompactKind::NoData) types = typesAtName;
  if (!types.add(kTypeRrsig) || !types.add(kTypeNsec)) return false;
  if (kind == CompactKind::NxName && !types.add(kTypeNxName)) return false;
  return w.bytes(next.span()) && writeTypeBitmap(w, types);
}

bool writeCompactNsec(Writer& w, Compressor& c, name::Span qname, std::uint32_t ttl,
                      const TypeSet& typesAtName, CompactKind kind) noexcept {
  const std::size_t mark = w.size();
  bool ok = c.write(w, qname) && w.u16(kTypeNsec) && w.u16(dns::kClassIN) && w.u32(ttl);
  const std::size_t lenAt = w.size();
  ok = ok && w.u16(0) && writeCompactNsecRdata(w, qname, typesAtName, kind);
  if (!ok) {
    w.truncate(mark);
    c.truncate(mark);
    return false;
  }
  w.patch16(lenAt, static_cast<std::uint16_t>(w.size() - lenAt - 2));
  return true;
}

// ---- NSEC3 ----

bool nsec3Hash(name::Span nm, Nsec3Hash& out, std::span<const std::uint8_t> salt,
               std::uint16_t iterations) noexcept {
  if (nm.empty() || nm.size() > dns::kMaxNameWire) return false;
  std::uint8_t lower[dns::kMaxNameWire];
  std::memcpy(lower, nm.data(), nm.size());
  name::toLower(lower, nm.size());
  ldns_sha1_ctx ctx;
  ldns_sha1_init(&ctx);
  ldns_sha1_update(&ctx, lower, static_cast<unsigned>(nm.size()));
  ldns_sha1_update(&ctx, salt.data(), static_cast<unsigned>(salt.size()));
  ldns_sha1_final(out.bytes, &ctx);
  for (std::uint16_t i = 0; i < iterations; ++i) {
    ldns_sha1_init(&ctx);
    ldns_sha1_update(&ctx, out.bytes, kNsec3HashSize);
    ldns_sha1_update(&ctx, salt.data(), static_cast<unsigned>(salt.size()));
    ldns_sha1_final(out.bytes, &ctx);
  }
  return true;
}

void base32hex(const Nsec3Hash& h, char out[32]) noexcept {
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuv";
  // 160 bits = 32 groups of 5; no padding needed.
  for (std::size_t i = 0; i < 32; ++i) {
    const std::size_t bit = i * 5;
    const std::size_t byte = bit / 8;
    const std::size_t shift = bit % 8;
    unsigned v = static_cast<unsigned>(h.bytes[byte]) << 8;
    if (byte + 1 < kNsec3HashSize) v |= h.bytes[byte + 1];
    out[i] = kAlphabet[(v >> (11 - shift)) & 0x1F];
  }
}

bool nsec3OwnerName(const Nsec3Hash& h, name::Span zone, name::NameBuf& out) noexcept {
  if (zone.empty() || 33 + zone.size() > dns::kMaxNameWire) return false;
  out.data[0] = 32;
  base32hex(h, reinterpret_cast<char*>(out.data + 1));
  std::memcpy(out.data + 33, zone.data(), zone.size());
  out.len = 33 + zone.size();
  return true;
}

Nsec3Hash nsec3Next(const Nsec3Hash& h) noexcept {
  Nsec3Hash r = h;
  for (std::size_t i = kNsec3HashSize; i-- > 0;)
    if (++r.bytes[i] != 0) break;
  return r;
}

Nsec3Hash nsec3Prev(const Nsec3Hash& h) noexcept {
  Nsec3Hash r = h;
  for (std::size_t i = kNsec3HashSize; i-- > 0;)
    if (r.bytes[i]-- != 0) break;
  return r;
}

bool nsec3Match(name::Span nm, const TypeSet& types, Nsec3Record& out) noexcept {
  if (!nsec3Hash(nm, out.owner)) return false;
  out.next = nsec3Next(out.owner);
  out.types = types;
  return true;
}

bool nsec3Cover(name::Span nm, Nsec3Record& out) noexcept {
  Nsec3Hash h;
  if (!nsec3Hash(nm, h)) return false;
  out.owner = nsec3Prev(h);
  out.next = nsec3Next(h);
  out.types.clear();
  return true;
}

std::size_t nsec3NxDomain(name::Span qname, name::Span ce, const TypeSet& ceTypes,
                          Nsec3Record (&out)[3]) noexcept {
  const std::size_t qLabels = name::labelCount(qname);
  const std::size_t ceLabels = name::labelCount(ce);
  if (ceLabels >= qLabels || !name::isSubdomain(qname, ce)) return 0;
  // The next closer name: the closest encloser plus one label of qname.
  name::Span nextCloser = name::parent(qname, qLabels - ceLabels - 1);
  name::NameBuf wildcard;
  if (ce.size() + 2 > dns::kMaxNameWire) return 0;
  wildcard.data[0] = 1;
  wildcard.data[1] = '*';
  std::memcpy(wildcard.data + 2, ce.data(), ce.size());
  wildcard.len = ce.size() + 2;
  if (!nsec3Match(ce, ceTypes, out[0]) || !nsec3Cover(nextCloser, out[1]) ||
      !nsec3Cover(wildcard.span(), out[2]))
    return 0;
  return 3;
}

bool writeNsec3Rdata(Writer& w, const Nsec3Record& r) noexcept {
  return w.u8(1) && w.u8(0) && w.u16(0) && w.u8(0) &&  // SHA-1, no opt-out, 0 iterations, no salt
         w.u8(kNsec3HashSize) && w.bytes({r.next.bytes, kNsec3HashSize}) &&
         writeTypeBitmap(w, r.types);
}

bool writeNsec3(Writer& w, Compressor& c, name::Span zone, std::uint32_t ttl,
                const Nsec3Record& r) noexcept {
  name::NameBuf owner;
  if (!nsec3OwnerName(r.owner, zone, owner)) return false;
  const std::size_t mark = w.size();
  bool ok = c.write(w, owner.span()) && w.u16(kTypeNsec3) && w.u16(dns::kClassIN) && w.u32(ttl);
  const std::size_t lenAt = w.size();
  ok = ok && w.u16(0) && writeNsec3Rdata(w, r);
  if (!ok) {
    w.truncate(mark);
    c.truncate(mark);
    return false;
  }
  w.patch16(lenAt, static_cast<std::uint16_t>(w.size() - lenAt - 2));
  return true;
}

}  // namespace geodns::zones::dnssec
