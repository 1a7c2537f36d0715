// libFuzzer target: the query parser alone.
#include <cstdint>
#include <span>

#include "core/wire/query.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  geodns::wire::ParsedQuery q;
  auto v = geodns::wire::parseQuery({data, size}, q);
  if (v == geodns::wire::ParseVerdict::Ok && q.qname.len == 0)
    __builtin_trap();  // a name always has a root
  return 0;
}
