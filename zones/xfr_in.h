#pragma once
// Incoming zone transfers (secondary mode, issue 15 item 3): the queries a
// secondary sends its primary (SOA for the refresh check, AXFR for the data)
// and the reading of the answers, RFC 5936 section 2.2 on the receiving side.
//
// Pure: no sockets, no clock, no keys. TSIG is the caller's
// (tsig::Signer::forRequest on the query, tsig::ResponseVerifier on every
// message of the answer, before it is fed here). Control side: allocates.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/name.h"
#include "core/wire/wire.h"

namespace geodns::zones {

// Writes a query <origin, qtype, IN> with ID `id`: opcode QUERY, RD clear, no
// EDNS. qtype is SOA (the refresh check) or AXFR. Sign it afterwards when the
// primary wants TSIG. False (w failed) when it does not fit.
bool writeXfrQuery(Writer& w, std::uint16_t id, name::Span origin, std::uint16_t qtype) noexcept;

// The serial in the primary's answer to our SOA query `id` for `origin`
// (lowercase wire): QR set, the same ID, opcode QUERY, rcode NOERROR, AA set,
// the question <origin, SOA, IN> echoed, and an SOA RR owned by `origin` in
// the answer section. nullopt, with the reason in *err, for anything else
// (a REFUSED answer says so: "primary answered REFUSED").
std::optional<std::uint32_t> readSoaAnswer(std::span<const std::uint8_t> msg, std::uint16_t id,
                                           name::Span origin, std::string* err);

// Reads the messages of an AXFR answer one by one (RFC 5936 2.2): each must
// have our ID, QR set, opcode QUERY and rcode NOERROR; the first one's
// question is <origin, AXFR, IN> (later ones may repeat it or have none). The
// first record is the zone's SOA; the stream ends with the same SOA again,
// as the last record of its message. Records of class IN only; records whose
// owner is not at or below the origin are dropped (counted in ignored()). A
// TSIG in the additional section is skipped (the caller verified it).
// Names inside RDATA are decompressed for every type ldns knows.
class AxfrReader {
 public:
  enum class State : std::uint8_t { More, Done, Failed };

  // `origin`: lowercase wire. At most `maxRecords` records, the dropped
  // out-of-zone ones included and the closing SOA not (a primary that never
  // ends the stream is stopped there).
  AxfrReader(name::Span origin, std::uint16_t id, std::size_t maxRecords = 20'000'000);

  // Feeds the next message; the state after it. Feeding after Done fails
  // ("message after the end of the transfer"); after Failed it stays Failed
  // with the first reason.
  State feed(std::span<const std::uint8_t> msg);

  State state() const noexcept { return state_; }
  const std::string& error() const noexcept { return error_; }  // Failed: why
  std::uint32_t serial() const noexcept { return serial_; }     // the SOA's, once read
  std::size_t recordCount() const noexcept { return lines_.size(); }
  std::size_t ignored() const noexcept { return ignored_; }

  // Done: the zone in master-file form for parseZoneFile: the comment lines
  // of `header` (each prefixed with "; "), "$ORIGIN <origin>.", then each
  // record once in presentation form with absolute names, one per line, in
  // transfer order (the SOA first; its repetition at the end left out).
  // Empty only when out of memory.
  std::string zoneText(std::string_view header) const;

 private:
  void fail(std::string why);
  name::NameBuf origin_;
  std::uint16_t id_;
  std::size_t maxRecords_;
  State state_ = State::More;
  std::string error_;
  std::uint32_t serial_ = 0;
  std::string soaText_;             // the first SOA, to recognise the last
  std::vector<std::string> lines_;  // presentation form, one record each
  std::size_t messages_ = 0;
  std::size_t ignored_ = 0;
};

// Replaces `path` with `text` atomically: written to a temporary file in the
// same directory, fsync'd, renamed over `path`, and the directory fsync'd,
// so a crash leaves either the old file or the new one. False, with the
// reason (path and strerror) in *err.
bool writeFileAtomically(const std::string& path, std::string_view text, std::string* err);

}  // namespace geodns::zones
