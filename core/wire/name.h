#pragma once
// Domain names in uncompressed wire form (length-prefixed labels, root = "\0").
// Names we store are lowercase; the data plane compares them bytewise.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/wire/dns.h"
#include "core/wire/wire.h"

namespace geodns::name {

using Span = std::span<const std::uint8_t>;

// A name on the stack; never allocates.
struct NameBuf {
  std::uint8_t data[dns::kMaxNameWire];
  std::size_t len = 0;
  Span span() const noexcept { return {data, len}; }
};

// Reads a possibly compressed name at r.pos() and advances r past its in-place
// part. Compression pointers must point strictly backwards (no loops); the
// expanded name must fit 255 bytes. Lowercases ASCII when `lower`.
bool read(Reader& r, NameBuf& out, bool lower) noexcept;

// Wire bytes of a name with ASCII lowercased. Length octets are < 64 so the
// whole buffer can be folded without parsing labels.
inline void toLower(std::uint8_t* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] >= 'A' && p[i] <= 'Z') p[i] = static_cast<std::uint8_t>(p[i] | 0x20);
}

// Number of labels, not counting the root.
std::size_t labelCount(Span name) noexcept;

// Start offsets of each label (offs[0] = 0, the name itself; offs[count] = the
// root). `offs` must hold 128 entries. Returns the number of labels.
std::size_t labelOffsets(Span name, std::uint8_t* offs) noexcept;

// True when `name` equals `zone` or lies below it; both lowercase wire names.
bool isSubdomain(Span name, Span zone) noexcept;

// RFC 4034 s6.1 canonical order: labels compared from the rightmost, each as
// an octet string with ASCII uppercase folded to lowercase, a missing label
// (the shorter name) first, so a zone's apex sorts before every name in it.
// <0, 0, >0. noexcept, no allocation.
int compareCanonical(Span a, Span b) noexcept;

// Suffix of `name` with `drop` leading labels removed.
Span parent(Span name, std::size_t drop = 1) noexcept;

// Presentation form <-> wire form (control plane: allocates). fromText accepts
// names with or without the trailing dot, escapes (\. and \DDD), and lowercases.
std::optional<std::string> fromText(std::string_view text);
std::string toText(Span name);

inline Span asSpan(const std::string& s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline Span asSpan(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view asView(Span s) noexcept {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

}  // namespace geodns::name
