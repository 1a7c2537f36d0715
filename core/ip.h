#pragma once
// IP addresses and prefixes as plain values (no sockaddr in our APIs).
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace geodns {

struct IpAddress {
  std::uint8_t family = 0;      // 4 or 6; 0 = none
  std::uint8_t bytes[16] = {};  // IPv4 uses the first 4

  std::uint8_t bits() const noexcept { return family == 4 ? 32 : 128; }
  std::size_t size() const noexcept { return family == 4 ? 4 : 16; }
  bool isV4Mapped() const noexcept {
    static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return family == 6 && std::memcmp(bytes, kPrefix, 12) == 0;
  }
  IpAddress v4FromMapped() const noexcept {
    IpAddress a;
    a.family = 4;
    std::memcpy(a.bytes, bytes + 12, 4);
    return a;
  }
  bool bit(unsigned i) const noexcept { return (bytes[i / 8] >> (7 - i % 8)) & 1; }
  // Zeroes every bit from `prefix` on.
  IpAddress masked(unsigned prefix) const noexcept {
    IpAddress a = *this;
    for (unsigned i = prefix; i < bits(); ++i)
      a.bytes[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
    return a;
  }
  bool operator==(const IpAddress& o) const noexcept {
    return family == o.family && std::memcmp(bytes, o.bytes, size()) == 0;
  }
  std::string str() const;
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress fromSockaddr(const sockaddr* sa) noexcept;
};

struct IpPrefix {
  IpAddress addr;
  std::uint8_t length = 0;
  std::string str() const { return addr.str() + "/" + std::to_string(length); }
  // "a.b.c.d/n", "v6/n" or a bare address (full length). Host bits must be zero
  // unless `allowHostBits`.
  static std::optional<IpPrefix> parse(std::string_view text, std::string* err = nullptr,
                                       bool allowHostBits = false);
};

}  // namespace geodns
