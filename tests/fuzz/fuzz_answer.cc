// libFuzzer target: parse + answer over fixed zone sets (static zones, and a
// GSLB config with geo databases, CIDR maps and pools), UDP and TCP, from an
// IPv4 and an IPv6 source. Checks the invariants every response must keep.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "server/engine.h"
#include "support/engine_fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto statics = geodns::test::exampleSnapshot();
  static auto gslb = geodns::test::gslbSnapshot();
  static const geodns::IpAddress sources[] = {*geodns::IpAddress::parse("198.51.100.7"),
                                              *geodns::IpAddress::parse("2001:db8:2::9")};
  static std::vector<std::uint8_t> out(65535);
  const auto& snap = size % 2 ? statics : gslb;
  const auto& source = sources[(size / 2) % 2];
  for (auto t : {geodns::server::Transport::Udp, geodns::server::Transport::Tcp}) {
    std::size_t n = geodns::server::answer(*snap, {data, size}, out, t, source);
    if (n == 0) continue;
    if (n < 12 || size < 12) __builtin_trap();
    if (std::memcmp(out.data(), data, 2) != 0) __builtin_trap();  // id echoed
    if (!(out[2] & 0x80)) __builtin_trap();                       // QR set
    if (t == geodns::server::Transport::Udp && n > 1232) __builtin_trap();
  }
  return 0;
}
