#pragma once
// The query parser: one pass over a DNS message (header, question, the answer
// and authority sections skipped, the additional section read for OPT with
// its ECS option and for a TSIG). No allocation; every read goes through the
// bounds-checked Reader.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/wire/name.h"

namespace geodns::wire {

// EDNS option code of EDNS Client Subnet (RFC 7871).
inline constexpr std::uint16_t kOptionEcs = 8;
// ECS FAMILY values (IANA address family numbers).
inline constexpr std::uint16_t kEcsFamilyIpv4 = 1;
inline constexpr std::uint16_t kEcsFamilyIpv6 = 2;

// Parsed view of a query.
struct ParsedQuery {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint8_t opcode = 0;
  bool haveQuestion = false;  // QDCOUNT 1 and the question read: it is echoed
  name::NameBuf qnameRaw;     // as sent, case kept
  name::NameBuf qname;        // lowercase
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  // Exactly one OPT, itself well formed (root owner, option list that fills its
  // RDATA), in a message whose sections all parse: the response carries an
  // OPT (RFC 6891 section 7), whatever its rcode. Not set when the message
  // breaks off, has a second OPT or a misplaced TSIG (as Knot).
  bool edns = false;
  std::uint16_t udpSize = 0;
  std::uint8_t ednsVersion = 0;
  bool dnssecOk = false;
  // EDNS Client Subnet (RFC 7871), validated.
  bool ecs = false;
  std::uint16_t ecsFamily = 0;  // kEcsFamilyIpv4 or kEcsFamilyIpv6
  std::uint8_t ecsSource = 0;   // SOURCE PREFIX-LENGTH
  std::uint8_t ecsAddress[16] = {};
  // Offset of the TSIG RR (RFC 8945), which is the last record of the
  // additional section and well formed; 0 when the message has none.
  std::uint16_t tsigAt = 0;

  // Back to the state of a default-constructed ParsedQuery without touching the
  // name buffers' bytes (`ParsedQuery{}` would zero and copy ~560 bytes per query).
  void reset() noexcept {
    id = flags = 0;
    opcode = 0;
    haveQuestion = false;
    qnameRaw.len = qname.len = 0;
    qtype = qclass = 0;
    edns = false;
    udpSize = 0;
    ednsVersion = 0;
    dnssecOk = false;
    ecs = false;
    ecsFamily = 0;
    ecsSource = 0;
    for (auto& b : ecsAddress) b = 0;
    tsigAt = 0;
  }
};

// What the message itself calls for, before any zone data is looked at.
enum class ParseVerdict : std::uint8_t {
  Ok,       // one question, opcode QUERY, NOTIFY or UPDATE: answer() decides
  Drop,     // no response: shorter than a header, or QR=1
  FormErr,  // malformed, QDCOUNT != 1, bad ECS, second OPT, misplaced TSIG
  NotImp,   // an opcode other than QUERY, NOTIFY, UPDATE
  BadVers,  // EDNS version > 0
};

// The size a UDP response to `q` may take (RFC 6891 6.2.3, 6.2.5): 512
// without EDNS, else the client's size capped at `maxPayload` (our
// max_udp_payload), never under 512.
std::size_t udpResponseLimit(const ParsedQuery& q, std::uint16_t maxPayload) noexcept;

// The common shape of a query, parsed in one short pass for the precompiled
// path (server/fast_answers.h): standard QUERY, QR=0, QDCOUNT 1, no answer or
// authority records, an uncompressed question name and at most one
// additional record, an EDNS version 0 OPT (any options; ECS validated as
// parseQuery does). Fills every field of `q` exactly as reset() + parseQuery()
// would and returns true; false when the message has another shape (`q` is
// then partly written: the caller resets it and runs parseQuery).
bool parseSimpleQuery(std::span<const std::uint8_t> msg, ParsedQuery& q) noexcept;

// Lowercases ASCII in `n` bytes of wire name, eight at a time.
void toLowerWide(const std::uint8_t* src, std::uint8_t* dst, std::size_t n) noexcept;

// One pass over the message. Fills `q` (which must be default-constructed) as
// far as it could read; the question is kept whenever it was read, the OPT
// whenever `q.edns` says so. Any thread.
ParseVerdict parseQuery(std::span<const std::uint8_t> msg, ParsedQuery& q) noexcept;

}  // namespace geodns::wire
