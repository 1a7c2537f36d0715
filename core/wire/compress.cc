#include "core/wire/compress.h"

namespace geodns {

void Compressor::addWritten(const std::uint8_t* pkt, std::size_t offset) noexcept {
  std::size_t i = offset;
  while (pkt[i] != 0 && (pkt[i] & 0xC0) == 0) {
    add(i);
    i += std::size_t{1} + pkt[i];
  }
}

bool Compressor::matches(const std::uint8_t* pkt, std::size_t pktLen, std::size_t off,
                         name::Span suffix) const noexcept {
  std::size_t s = 0;
  for (int hops = 0; hops < 64;) {
    if (off >= pktLen) return false;
    std::uint8_t c = pkt[off];
    if ((c & 0xC0) == 0xC0) {
      if (off + 1 >= pktLen) return false;
      off = (static_cast<std::size_t>(c & 0x3F) << 8) | pkt[off + 1];
      ++hops;
      continue;
    }
    if (s >= suffix.size() || suffix[s] != c) return false;
    if (c == 0) return true;
    if (off + 1 + c > pktLen) return false;
    for (std::size_t k = 1; k <= c; ++k) {
      std::uint8_t b = pkt[off + k];
      if (b >= 'A' && b <= 'Z') b = static_cast<std::uint8_t>(b | 0x20);
      if (b != suffix[s + k]) return false;
    }
    s += std::size_t{1} + c;
    off += std::size_t{1} + c;
  }
  return false;
}

bool Compressor::write(Writer& w, name::Span nm, bool compress) noexcept {
  std::uint8_t offs[128];
  std::size_t labels = name::labelOffsets(nm, offs);
  std::size_t matchLabel = labels;  // label index where a pointer replaces the rest
  std::size_t target = 0;
  if (compress) {
    for (std::size_t l = 0; l < labels && matchLabel == labels; ++l) {
      auto suffix = nm.subspan(offs[l]);
      for (std::size_t e = 0; e < n_; ++e) {
        if (matches(w.data(), w.size(), offs_[e], suffix)) {
          matchLabel = l;
          target = offs_[e];
          break;
        }
      }
    }
  }
  std::size_t start = w.size();
  if (!w.bytes(nm.subspan(0, offs[matchLabel]))) return false;
  if (matchLabel < labels) {
    if (log_) {
      if (log_->n < PointerLog::kMax)
        log_->at[log_->n++] = static_cast<std::uint16_t>(w.size());
      else
        log_->overflow = true;
    }
    if (!w.u16(static_cast<std::uint16_t>(0xC000 | target))) return false;
  } else if (!w.u8(0)) {
    return false;
  }
  for (std::size_t l = 0; l < matchLabel; ++l) add(start + offs[l]);
  if (log_) log_->entries = n_;
  return true;
}

}  // namespace geodns
