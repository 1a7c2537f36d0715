#pragma once
// Response rate limiting (as in BIND, Knot and NSD): a token bucket per
// (client prefix, response) limits how many identical responses a network
// gets per second, so geodnsd is a poor reflector in amplification attacks.
// A limited response is dropped, except every `slip`-th, which goes out
// truncated (TC=1, no records) so a real client behind the prefix retries
// over TCP. UDP only.
//
// The table is fixed-size and shared by the UDP workers without locks: a
// bucket is one 64-bit atomic word (key tag, tokens, last second), updated
// with compare-and-swap. Two prefixes that collide on a bucket reset each
// other's count (fail open), as BIND's table does when it is full.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "core/ip.h"
#include "config/config.h"

namespace geodns::server {

enum class RrlVerdict : std::uint8_t { Send, Drop, Slip };

class Rrl {
 public:
  explicit Rrl(std::uint32_t tableSize);
  // `response` is the encoded response about to be sent to `client`; the key
  // is its question, rcode and answer count (identical responses share one).
  // `nowSec` is a coarse clock in seconds. `slipCounter` belongs to the
  // calling worker. noexcept, allocation-free.
  RrlVerdict check(const config::RrlConfig& cfg, const IpAddress& client,
                   std::span<const std::uint8_t> response, std::uint32_t nowSec,
                   std::uint32_t& slipCounter) noexcept;

 private:
  std::uint32_t size_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> table_;
};

// Rewrites a response in place to its header and question with TC=1 and no
// records; returns the new length (0 if the message is malformed).
std::size_t truncateToQuestion(std::span<std::uint8_t> response, std::size_t len) noexcept;

}  // namespace geodns::server
