#pragma once
// The data plane: one DNS message in, one response out. noexcept, no
// allocation, no lock; everything it reads comes from a ServingSnapshot.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/ip.h"
#include "core/wire/name.h"
#include "server/serving.h"

namespace geodns::server {

enum class Transport : std::uint8_t { Udp, Tcp };

// Why a message got the response it got (for counters and tests).
enum class Outcome : std::uint8_t {
  Dropped,  // no response (too short, QR=1)
  Answer,   // NOERROR with data
  NoData,   // NOERROR, SOA in authority
  NXDomain,
  Referral,
  Refused,
  FormErr,
  NotImp,
  BadVers,
  ServFail,  // a pool whose all_down is servfail
  NotAuth,   // NOTIFY or UPDATE: accepted from no one
  BadKey,    // signed with a TSIG key we do not know: NOTAUTH + TSIG BADKEY
};

struct QueryFacts {
  Outcome outcome = Outcome::Dropped;
  std::uint16_t qtype = 0;
  std::uint16_t rcode = 0;
  bool truncated = false;
  bool edns = false;
  bool gslb = false;          // answered from a pool
  std::uint8_t ecsScope = 0;  // scope returned, when ECS was echoed
  std::int32_t binding = -1;
  bool allDown = false;      // the binding's pool had no region: its all_down gave NODATA,
                             // SERVFAIL or the fallback pool (not fail_open)
  bool fellBack = false;     // the binding's fallback_pool answered
  std::int32_t pool = -1;    // the pool that answered (index in the snapshot's Gslb)
  std::int32_t region = -1;  // the region it answered from (RegionId)
  // The members whose records were sent (Member::cell of each), for the
  // per-member answer counters.
  std::uint8_t answered = 0;
  std::uint32_t memberCell[gslb::kMaxAnswers];
};

// Parsed view of a query (exposed for the fuzzers and unit tests).
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
  std::uint16_t ecsFamily = 0;  // 1 = IPv4, 2 = IPv6
  std::uint8_t ecsSource = 0;   // SOURCE PREFIX-LENGTH
  std::uint8_t ecsAddress[16] = {};
  // Offset of the TSIG RR (RFC 8945), which is the last record of the
  // additional section and well formed; 0 when the message has none.
  std::uint16_t tsigAt = 0;
};

// What the message itself calls for, before any zone data is looked at.
enum class ParseVerdict : std::uint8_t {
  Ok,       // one question, opcode QUERY, NOTIFY or UPDATE: answer() decides
  Drop,     // no response: shorter than a header, or QR=1
  FormErr,  // malformed, QDCOUNT != 1, bad ECS, second OPT, misplaced TSIG
  NotImp,   // an opcode other than QUERY, NOTIFY, UPDATE
  BadVers,  // EDNS version > 0
};

// One pass over the message. Fills `q` as far as it could read; the
// question is kept whenever it was read, the OPT whenever `q.edns` says so.
ParseVerdict parseQuery(std::span<const std::uint8_t> msg, ParsedQuery& q) noexcept;

// Writes the response to `msg` into `out` and returns its length (0: send
// nothing). `out` should hold 65535 bytes for TCP; for UDP the response is
// limited to 512 bytes without EDNS, else min(client size, max_udp_payload),
// and is cut at RRset boundaries with TC=1 when the answer does not fit.
// `source` is the address the query came from (the resolver); names bound to
// a pool are answered for the ECS address when the query carries one.
std::size_t answer(const ServingSnapshot& snap, std::span<const std::uint8_t> msg,
                   std::span<std::uint8_t> out, Transport transport, const IpAddress& source = {},
                   QueryFacts* facts = nullptr) noexcept;

}  // namespace geodns::server
