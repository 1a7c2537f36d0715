// libFuzzer target: the query parsers. parseSimpleQuery (the precompiled
// path's) must accept only what parseQuery accepts, and read it the same.
#include <cstdint>
#include <cstring>
#include <span>

#include "core/wire/query.h"

namespace {
bool sameQuery(const geodns::wire::ParsedQuery& a, const geodns::wire::ParsedQuery& b) {
  return a.id == b.id && a.flags == b.flags && a.opcode == b.opcode &&
         a.haveQuestion == b.haveQuestion && a.qname.len == b.qname.len &&
         std::memcmp(a.qname.data, b.qname.data, a.qname.len) == 0 &&
         a.qnameRaw.len == b.qnameRaw.len &&
         std::memcmp(a.qnameRaw.data, b.qnameRaw.data, a.qnameRaw.len) == 0 && a.qtype == b.qtype &&
         a.qclass == b.qclass && a.edns == b.edns && a.udpSize == b.udpSize &&
         a.ednsVersion == b.ednsVersion && a.dnssecOk == b.dnssecOk && a.ecs == b.ecs &&
         a.ecsFamily == b.ecsFamily && a.ecsSource == b.ecsSource &&
         std::memcmp(a.ecsAddress, b.ecsAddress, sizeof a.ecsAddress) == 0 && a.tsigAt == b.tsigAt;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  geodns::wire::ParsedQuery q;
  auto v = geodns::wire::parseQuery({data, size}, q);
  if (v == geodns::wire::ParseVerdict::Ok && q.qname.len == 0)
    __builtin_trap();  // a name always has a root
  geodns::wire::ParsedQuery s;
  s.ecs = true;  // dirty, as a worker's reused ParsedQuery is
  s.ecsAddress[3] = 7;
  if (geodns::wire::parseSimpleQuery({data, size}, s) &&
      (v != geodns::wire::ParseVerdict::Ok || !sameQuery(q, s)))
    __builtin_trap();
  return 0;
}
