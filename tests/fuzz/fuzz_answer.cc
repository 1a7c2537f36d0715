// libFuzzer target: parse + answer over a fixed zone set, UDP and TCP. Checks
// the invariants every response must keep.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "server/engine.h"
#include "support/engine_fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto snap = geodns::test::exampleSnapshot();
  static std::vector<std::uint8_t> out(65535);
  for (auto t : {geodns::server::Transport::Udp, geodns::server::Transport::Tcp}) {
    std::size_t n = geodns::server::answer(*snap, {data, size}, out, t);
    if (n == 0) continue;
    if (n < 12 || size < 12) __builtin_trap();
    if (std::memcmp(out.data(), data, 2) != 0) __builtin_trap();  // id echoed
    if (!(out[2] & 0x80)) __builtin_trap();                       // QR set
    if (t == geodns::server::Transport::Udp && n > 1232) __builtin_trap();
  }
  return 0;
}
