// max_tcp_connections fitted to the descriptor limit (RLIMIT_NOFILE): a
// quarter of the limit (at least 64) stays for everything else.
#include <doctest/doctest.h>

#include <cstddef>

#include "server/tcp.h"

using geodns::server::fitConnectionLimit;

TEST_CASE("fitConnectionLimit: the configured limit when it fits, else what does") {
  struct Case {
    const char* what;
    std::size_t configured, soft, open, expect;
  };
  const Case cases[] = {
      {"plenty of descriptors", 1024, 65536, 30, 1024},
      {"ulimit -n 1024: 1024 - 30 open - 256 kept", 1024, 1024, 30, 738},
      {"a small configured limit is kept", 100, 1024, 30, 100},
      {"ulimit -n 128: at least 64 kept", 1024, 128, 30, 34},
      {"nothing left: never below 8", 1024, 64, 30, 8},
      {"more open than the limit", 1024, 100, 200, 8},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    CHECK(fitConnectionLimit(c.configured, c.soft, c.open) == c.expect);
  }
}
