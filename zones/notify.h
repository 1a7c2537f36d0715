#pragma once
// NOTIFY (RFC 1996) messages as pure functions: the request a primary sends
// when a zone's serial changes, the check that an answer acknowledges it, and
// reading a NOTIFY a secondary receives. Sockets, retries (core/retry.h),
// ACLs and TSIG are the caller's. No allocation.
#include <cstdint>
#include <optional>
#include <span>

#include "core/wire/name.h"
#include "core/wire/wire.h"
#include "zones/zone.h"

namespace geodns::zones {

// Writes a NOTIFY request for `zone` with ID `id`: opcode NOTIFY, AA set, the
// question <origin, SOA, IN>, and the zone's SOA in the answer section (the
// hint of the new serial RFC 1996 3.7 allows; NSD, Knot and BIND send it).
// Names compressed. Sign it afterwards with tsig::Signer::forRequest if the
// secondary wants TSIG. False (w failed) when it does not fit.
bool writeNotify(Writer& w, std::uint16_t id, const Zone& zone) noexcept;

struct NotifyReply {
  enum class Match : std::uint8_t {
    Ack,      // the secondary has it: stop retrying
    Error,    // it answered with an error rcode (REFUSED, NOTAUTH, NOTIMP...): retrying
              // will not help; log and count it
    NotOurs,  // not an answer to our request (ID, QR, opcode or question differ,
              // or malformed): ignore it and keep waiting
  };
  Match match = Match::NotOurs;
  std::uint16_t rcode = 0;
  bool aa = false;  // reported, not required: see matchNotifyReply
};

// Whether `msg` answers the NOTIFY we sent with `id` for the zone `zone`
// (lowercase wire): QR set, opcode NOTIFY, the same ID and the question
// <zone, SOA, IN> copied back (name compared case-insensitively). AA is
// reported but not required: RFC 1996 shows it in its example answer without
// making it a rule, and Knot pairs NOTIFY answers by ID alone, so requiring it
// would only make us retry at a secondary that already has the news. The
// sender's address is the caller's to check (the secondary we sent to).
NotifyReply matchNotifyReply(std::span<const std::uint8_t> msg, std::uint16_t id,
                             name::Span zone) noexcept;

// A NOTIFY request as a secondary receives it.
struct NotifyRequest {
  std::uint16_t id = 0;
  name::NameBuf zone;                   // the question's name, lowercase
  std::optional<std::uint32_t> serial;  // from an SOA for the zone in the answer section
};
// False for anything but a well-formed NOTIFY request with one question of
// type SOA (the answer is then FORMERR, or NOTIMP for another opcode: the
// engine's job).
bool readNotify(std::span<const std::uint8_t> msg, NotifyRequest& out) noexcept;

}  // namespace geodns::zones
