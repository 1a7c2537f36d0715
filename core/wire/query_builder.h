#pragma once
// Builds a query message: one question, optionally an OPT with an ECS option.
// For the health probes, explain and tests; no allocation.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/wire/dns.h"
#include "core/wire/name.h"

namespace geodns::wire {

struct QuerySpec {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;  // header flags word (opcode, RD, ...); 0 is a plain QUERY
  name::Span qname;         // wire form
  std::uint16_t qtype = dns::toU16(dns::Type::A);
  std::uint16_t qclass = dns::kClassIN;
  bool edns = false;  // add an OPT record
  std::uint16_t udpSize = 1232;
  bool dnssecOk = false;
  // ECS option (RFC 7871), only with `edns`: FAMILY (kEcsFamilyIpv4/6), SOURCE
  // PREFIX-LENGTH and the address, of which the first (source + 7) / 8 bytes
  // are sent (the caller masks the bits beyond the prefix).
  bool ecs = false;
  std::uint16_t ecsFamily = 0;
  std::uint8_t ecsSource = 0;
  std::span<const std::uint8_t> ecsAddress;
};

// Writes the query into `out`; returns its length, or 0 when it does not fit
// or the ECS address is shorter than the prefix.
std::size_t buildQuery(const QuerySpec& spec, std::span<std::uint8_t> out) noexcept;

}  // namespace geodns::wire
