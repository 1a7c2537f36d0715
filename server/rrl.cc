#include "server/rrl.h"

#include <cstring>

namespace geodns::server {
namespace {

std::uint64_t fnv(std::uint64_t h, const std::uint8_t* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

// Bytes of the question section (name + type + class) at offset 12, or 0.
std::size_t questionLength(std::span<const std::uint8_t> m) noexcept {
  if (m.size() < 12 || ((m[4] << 8) | m[5]) != 1) return 0;
  std::size_t pos = 12;
  while (pos < m.size()) {
    const std::uint8_t l = m[pos];
    if (l == 0) {
      pos += 1;
      return pos + 4 <= m.size() ? pos + 4 - 12 : 0;
    }
    if (l & 0xC0) return 0;  // a question name is never compressed in our responses
    pos += 1 + l;
  }
  return 0;
}

// A bucket word: tag (32 bits) | tokens (16, signed offset) | second (16).
constexpr std::uint64_t pack(std::uint32_t tag, std::int32_t tokens, std::uint32_t sec) noexcept {
  return (std::uint64_t{tag} << 32) |
         (std::uint64_t(static_cast<std::uint16_t>(tokens + 32768)) << 16) | (sec & 0xFFFF);
}

}  // namespace

Rrl::Rrl(std::uint32_t tableSize)
    : size_(tableSize ? tableSize : 1),
      table_(std::make_unique<std::atomic<std::uint64_t>[]>(size_)) {
  for (std::uint32_t i = 0; i < size_; ++i) table_[i].store(0, std::memory_order_relaxed);
}

RrlVerdict Rrl::check(const config::RrlConfig& cfg, const IpAddress& client,
                      std::span<const std::uint8_t> response, std::uint32_t nowSec,
                      std::uint32_t& slipCounter) noexcept {
  if (response.size() < 12) return RrlVerdict::Send;
  // Key: the client's prefix and what makes responses identical.
  const IpAddress net = client.masked(client.family == 4 ? cfg.ipv4Prefix : cfg.ipv6Prefix);
  std::uint64_t h = 1469598103934665603ULL;
  h = fnv(h, net.bytes, net.size());
  const std::size_t ql = questionLength(response);
  // Names are hashed case-blind (a random-case flood is one flood).
  for (std::size_t i = 12; i < 12 + ql; ++i) {
    std::uint8_t b = response[i];
    if (b >= 'A' && b <= 'Z') b = static_cast<std::uint8_t>(b | 0x20);
    h = (h ^ b) * 1099511628211ULL;
  }
  const std::uint8_t tail[3] = {static_cast<std::uint8_t>(response[3] & 0x0F),  // rcode
                                response[6], response[7]};                      // answer count
  h = fnv(h, tail, sizeof tail);
  const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32) | 1;  // never 0 (empty bucket)
  std::atomic<std::uint64_t>& slot = table_[static_cast<std::uint32_t>(h) % size_];
  const std::int32_t rate =
      static_cast<std::int32_t>(std::min<std::uint32_t>(cfg.responsesPerSecond, 30000));
  const std::uint32_t sec = nowSec & 0xFFFF;

  std::uint64_t cur = slot.load(std::memory_order_relaxed);
  for (;;) {
    std::int32_t tokens;
    if (static_cast<std::uint32_t>(cur >> 32) != tag) {
      tokens = rate;  // new (or evicted) key: a full bucket
    } else {
      tokens = static_cast<std::int32_t>((cur >> 16) & 0xFFFF) - 32768;
      const std::uint32_t elapsed = (sec - static_cast<std::uint32_t>(cur & 0xFFFF)) & 0xFFFF;
      if (elapsed > 0) {
        // Refill `rate` per second; the bucket holds at most one second's worth.
        const std::int64_t refilled =
            static_cast<std::int64_t>(tokens) + std::int64_t{rate} * elapsed;
        tokens = static_cast<std::int32_t>(std::min<std::int64_t>(refilled, rate));
      }
    }
    const bool allowed = tokens > 0;
    const std::int32_t next = allowed ? tokens - 1 : tokens;
    if (slot.compare_exchange_weak(cur, pack(tag, std::max(next, -32000), sec),
                                   std::memory_order_relaxed)) {
      if (allowed) return RrlVerdict::Send;
      break;
    }
  }
  if (cfg.slip && ++slipCounter % cfg.slip == 0) return RrlVerdict::Slip;
  return RrlVerdict::Drop;
}

std::size_t truncateToQuestion(std::span<std::uint8_t> m, std::size_t len) noexcept {
  if (len < 12 || len > m.size()) return 0;
  const std::size_t ql = questionLength(m.first(len));
  m[2] |= 0x02;              // TC
  std::memset(&m[6], 0, 6);  // no answer, authority or additional records
  if (ql == 0) {
    m[4] = m[5] = 0;
    return 12;
  }
  return 12 + ql;
}

}  // namespace geodns::server
