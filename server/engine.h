#pragma once
// The data plane: one DNS message in, one response out. noexcept, no
// allocation, no lock; everything it reads comes from a ServingSnapshot.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/ip.h"
#include "core/wire/compress.h"
#include "core/wire/name.h"
#include "core/wire/query.h"
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
  BadKey,    // a TSIG that does not verify (unknown key, bad MAC, time): NOTAUTH + TSIG error
  Notify,    // a NOTIFY from a secondary zone's primary: answered; the server wakes its refresh
  Transfer,  // AXFR/IXFR over TCP: nothing written; the TCP server answers it (server/xfr_out.h)
};

struct QueryFacts {
  Outcome outcome = Outcome::Dropped;
  std::uint16_t qtype = 0;
  std::uint16_t rcode = 0;
  bool truncated = false;
  bool dnssec = false;      // DO, answered from a signed zone: RRSIGs and denial records added
  bool signFailed = false;  // DO in a signed zone, but an online signature could not be made
  // DO in a signed zone over UDP, a signature missing from the cache and the
  // signing budget (limits.max_signatures_per_second) empty: sent TC=1 with
  // no records, for the resolver to ask again over TCP.
  bool signBudget = false;
  bool edns = false;
  bool precompiled = false;   // answered by the precompiled path (server/fast_answers.h)
  bool gslb = false;          // answered from a pool
  std::uint8_t ecsScope = 0;  // scope returned, when ECS was echoed
  std::int32_t binding = -1;
  bool allDown = false;      // the binding's pool had no region: its all_down gave NODATA,
                             // SERVFAIL or the fallback pool (not fail_open)
  bool fellBack = false;     // the binding's fallback_pool answered
  std::int32_t pool = -1;    // the pool that answered (index in the snapshot's Gslb)
  std::int32_t region = -1;  // the region it answered from (RegionId)
  // The members whose records were sent (Member::cell of each), for the
  // per-member answer counters; memberCell[i] is set for i < answered only.
  std::uint8_t answered = 0;
  std::uint32_t memberCell[gslb::kMaxAnswers];

  // Back to the default state, memberCell left as it is (unread beyond
  // `answered`): `QueryFacts{}` would clear 64 more bytes per query.
  void reset() noexcept {
    outcome = Outcome::Dropped;
    qtype = rcode = 0;
    truncated = dnssec = signFailed = signBudget = edns = precompiled = gslb = false;
    ecsScope = 0;
    binding = pool = region = -1;
    allDown = fellBack = false;
    answered = 0;
  }
};

// Writes the response to `msg` into `out` and returns its length (0: send
// nothing). `out` should hold 65535 bytes for TCP; for UDP the response is
// limited to 512 bytes without EDNS, else min(client size, max_udp_payload),
// and is cut at RRset boundaries with TC=1 when the answer does not fit.
// `source` is the address the query came from (the resolver); names bound to
// a pool are answered for the ECS address when the query carries one.
// `facts` and `parsed`, when given, receive what was decided and the parsed
// query (wire::parseQuery; for the query log, which must not parse again).
std::size_t answer(const ServingSnapshot& snap, std::span<const std::uint8_t> msg,
                   std::span<std::uint8_t> out, Transport transport, const IpAddress& source = {},
                   QueryFacts* facts = nullptr, wire::ParsedQuery* parsed = nullptr) noexcept;

namespace detail {
// answer() over TCP without the precompiled path, recording where the
// compression pointers were written: how FastAnswers builds its templates.
std::size_t answerLoggingPointers(const ServingSnapshot& snap, std::span<const std::uint8_t> msg,
                                  std::span<std::uint8_t> out, QueryFacts& facts,
                                  Compressor::PointerLog& log) noexcept;
}  // namespace detail

}  // namespace geodns::server
