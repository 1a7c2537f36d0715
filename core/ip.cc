#include "core/ip.h"

#include <arpa/inet.h>

#include <charconv>

namespace geodns {

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == 4)
    inet_ntop(AF_INET, bytes, buf, sizeof buf);
  else if (family == 6)
    inet_ntop(AF_INET6, bytes, buf, sizeof buf);
  else
    return "-";
  return buf;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes) == 1) {
    a.family = 4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes) == 1) {
    a.family = 6;
    return a;
  }
  return std::nullopt;
}

IpAddress IpAddress::fromSockaddr(const sockaddr* sa) noexcept {
  IpAddress a;
  if (sa->sa_family == AF_INET) {
    a.family = 4;
    std::memcpy(a.bytes, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    a.family = 6;
    std::memcpy(a.bytes, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
  }
  return a;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text, std::string* err,
                                        bool allowHostBits) {
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) {
    if (err) *err = "not an IP address: '" + std::string(text.substr(0, slash)) + "'";
    return std::nullopt;
  }
  IpPrefix p{*addr, addr->bits()};
  if (slash != std::string_view::npos) {
    auto len = text.substr(slash + 1);
    unsigned n = 0;
    auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), n);
    if (ec != std::errc() || ptr != len.data() + len.size() || len.empty() || n > addr->bits()) {
      if (err) *err = "bad prefix length '" + std::string(len) + "'";
      return std::nullopt;
    }
    p.length = static_cast<std::uint8_t>(n);
  }
  if (!allowHostBits && !(p.addr.masked(p.length) == p.addr)) {
    if (err)
      *err =
          "host bits set beyond /" + std::to_string(p.length) + " in '" + std::string(text) + "'";
    return std::nullopt;
  }
  return p;
}

}  // namespace geodns
