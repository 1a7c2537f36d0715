#pragma once
// Bounds-checked readers and writers over byte spans. Every read of untrusted
// bytes goes through Reader; a failed read sets a sticky error flag and returns
// zero so parsers can check once at the end of a step. Neither class allocates.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace geodns {

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> buf, std::size_t pos = 0) noexcept
      : buf_(buf), pos_(pos <= buf.size() ? pos : buf.size()), ok_(pos <= buf.size()) {}

  bool ok() const noexcept { return ok_; }
  std::size_t pos() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return buf_.size() - pos_; }
  std::span<const std::uint8_t> buffer() const noexcept { return buf_; }

  std::uint8_t u8() noexcept {
    if (!need(1)) return 0;
    return buf_[pos_++];
  }
  std::uint16_t u16() noexcept {
    if (!need(2)) return 0;
    auto v = static_cast<std::uint16_t>((buf_[pos_] << 8) | buf_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::uint32_t u32() noexcept {
    if (!need(4)) return 0;
    std::uint32_t v = (std::uint32_t{buf_[pos_]} << 24) | (std::uint32_t{buf_[pos_ + 1]} << 16) |
                      (std::uint32_t{buf_[pos_ + 2]} << 8) | std::uint32_t{buf_[pos_ + 3]};
    pos_ += 4;
    return v;
  }
  std::span<const std::uint8_t> bytes(std::size_t n) noexcept {
    if (!need(n)) return {};
    auto s = buf_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  void skip(std::size_t n) noexcept {
    if (need(n)) pos_ += n;
  }
  void fail() noexcept { ok_ = false; }

 private:
  bool need(std::size_t n) noexcept {
    if (!ok_ || buf_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::span<const std::uint8_t> buf_;
  std::size_t pos_;
  bool ok_;
};

// Writes into a caller-owned buffer with a hard limit. A write that does not
// fit fails, sets the sticky overflow flag and writes nothing.
class Writer {
 public:
  Writer(std::uint8_t* buf, std::size_t limit) noexcept : buf_(buf), limit_(limit) {}
  // Continues a message already in `buf`: the first `size` bytes are kept.
  Writer(std::uint8_t* buf, std::size_t limit, std::size_t size) noexcept
      : buf_(buf), limit_(limit), pos_(size), ok_(size <= limit) {}

  std::size_t size() const noexcept { return pos_; }
  std::size_t limit() const noexcept { return limit_; }
  bool ok() const noexcept { return ok_; }
  std::uint8_t* data() noexcept { return buf_; }
  const std::uint8_t* data() const noexcept { return buf_; }

  // Roll back to an earlier size (a "mark"); clears the overflow flag.
  void truncate(std::size_t mark) noexcept {
    if (mark <= pos_) pos_ = mark;
    ok_ = true;
  }
  void setLimit(std::size_t limit) noexcept { limit_ = limit; }

  bool u8(std::uint8_t v) noexcept {
    if (!room(1)) return false;
    buf_[pos_++] = v;
    return true;
  }
  bool u16(std::uint16_t v) noexcept {
    if (!room(2)) return false;
    buf_[pos_] = static_cast<std::uint8_t>(v >> 8);
    buf_[pos_ + 1] = static_cast<std::uint8_t>(v);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t v) noexcept {
    if (!room(4)) return false;
    buf_[pos_] = static_cast<std::uint8_t>(v >> 24);
    buf_[pos_ + 1] = static_cast<std::uint8_t>(v >> 16);
    buf_[pos_ + 2] = static_cast<std::uint8_t>(v >> 8);
    buf_[pos_ + 3] = static_cast<std::uint8_t>(v);
    pos_ += 4;
    return true;
  }
  bool bytes(std::span<const std::uint8_t> s) noexcept {
    if (!room(s.size())) return false;
    if (!s.empty()) std::memcpy(buf_ + pos_, s.data(), s.size());
    pos_ += s.size();
    return true;
  }
  // Overwrite a 16-bit value at an earlier offset (e.g. RDLENGTH, counts).
  void patch16(std::size_t at, std::uint16_t v) noexcept {
    if (at + 2 > pos_) return;
    buf_[at] = static_cast<std::uint8_t>(v >> 8);
    buf_[at + 1] = static_cast<std::uint8_t>(v);
  }

 private:
  bool room(std::size_t n) noexcept {
    if (!ok_ || pos_ > limit_ || limit_ - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::uint8_t* buf_;
  std::size_t limit_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace geodns
