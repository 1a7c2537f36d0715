// libFuzzer target: the query parser alone.
#include <cstdint>
#include <span>

#include "server/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  geodns::server::ParsedQuery q;
  auto v = geodns::server::parseQuery({data, size}, q);
  if (v == geodns::server::ParseVerdict::Ok && q.qname.len == 0)
    __builtin_trap();  // a name always has a root
  return 0;
}
