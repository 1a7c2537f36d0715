#include "core/wire/query_builder.h"

#include "core/wire/query.h"
#include "core/wire/wire.h"

namespace geodns::wire {

std::size_t buildQuery(const QuerySpec& spec, std::span<std::uint8_t> out) noexcept {
  Writer w(out.data(), out.size());
  w.u16(spec.id);
  w.u16(spec.flags);
  w.u16(1);  // QDCOUNT
  w.u16(0);  // ANCOUNT
  w.u16(0);  // NSCOUNT
  w.u16(spec.edns ? 1 : 0);
  w.bytes(spec.qname);
  w.u16(spec.qtype);
  w.u16(spec.qclass);
  if (spec.edns) {
    w.u8(0);  // root owner
    w.u16(dns::toU16(dns::Type::OPT));
    w.u16(spec.udpSize);
    w.u32(spec.dnssecOk ? dns::kEdnsDO : 0);  // extended rcode, version 0, flags
    if (spec.ecs) {
      const std::size_t len = (spec.ecsSource + 7u) / 8u;
      if (spec.ecsAddress.size() < len) return 0;
      w.u16(static_cast<std::uint16_t>(4 + 4 + len));  // RDLENGTH
      w.u16(kOptionEcs);
      w.u16(static_cast<std::uint16_t>(4 + len));
      w.u16(spec.ecsFamily);
      w.u8(spec.ecsSource);
      w.u8(0);  // SCOPE PREFIX-LENGTH: 0 in queries
      w.bytes(spec.ecsAddress.first(len));
    } else {
      w.u16(0);
    }
  }
  return w.ok() ? w.size() : 0;
}

}  // namespace geodns::wire
