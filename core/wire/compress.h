#pragma once
// Name compression for responses we write (RFC 1035 4.1.4). A fixed table of
// packet offsets where names (or name suffixes) already stand; a later name
// points at the longest suffix it shares with one of them. No allocation.
#include <cstddef>
#include <cstdint>

#include "core/wire/name.h"
#include "core/wire/wire.h"

namespace geodns {

class Compressor {
 public:
  static constexpr std::size_t kMaxEntries = 96;

  // Where write() put compression pointers (packet offsets), for building
  // answer templates whose pointers are moved later (server/fast_answers.h).
  struct PointerLog {
    static constexpr std::size_t kMax = 256;
    std::uint16_t at[kMax];
    std::size_t n = 0;
    bool overflow = false;
    std::size_t entries = 0;  // names (suffixes) registered for compression so far
  };
  void setLog(PointerLog* log) noexcept { log_ = log; }

  void reset() noexcept { n_ = 0; }
  // Forget entries at or beyond `size` (after a Writer rollback).
  void truncate(std::size_t size) noexcept {
    while (n_ > 0 && offs_[n_ - 1] >= size) --n_;
    if (log_)
      while (log_->n > 0 && log_->at[log_->n - 1] >= size) --log_->n;
  }

  // Registers the labels of a name written uncompressed at `offset`, up to the
  // first compression pointer (names in our own packet are trusted).
  void addWritten(const std::uint8_t* pkt, std::size_t offset) noexcept;

  // Writes `name` (lowercase wire), compressed against earlier names when
  // `compress`, and registers its new labels. False when it does not fit.
  bool write(Writer& w, name::Span name, bool compress = true) noexcept;

 private:
  bool matches(const std::uint8_t* pkt, std::size_t pktLen, std::size_t off,
               name::Span suffix) const noexcept;
  void add(std::size_t off) noexcept {
    if (n_ < kMaxEntries && off < 0x4000) offs_[n_++] = static_cast<std::uint16_t>(off);
  }
  std::uint16_t offs_[kMaxEntries];
  std::size_t n_ = 0;
  PointerLog* log_ = nullptr;
};

}  // namespace geodns
