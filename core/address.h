#pragma once
// Socket addresses from "addr:port" text ("127.0.0.1:53", "[::1]:53").
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace geodns {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family() const noexcept { return storage.ss_family; }
  const sockaddr* sa() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  std::string str() const;   // "1.2.3.4:53", "[::1]:53"
  std::string host() const;  // "1.2.3.4", "::1" (no brackets)
  std::uint16_t port() const noexcept;
};

// Parses "a.b.c.d:port" or "[v6]:port"; error text goes to *err.
std::optional<SocketAddress> parseHostPort(std::string_view text, std::string* err);

}  // namespace geodns
