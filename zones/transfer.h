#pragma once
// Outgoing zone transfers: the DNS messages of an AXFR answer over TCP (RFC
// 5936), built from a compiled Zone. IXFR (RFC 1995) is answered with the same
// stream (section 4 allows a full transfer in place of the increments), or
// with the single SOA when the client is already current.
//
// Pure over an immutable Zone: no sockets, no clock, no keys. The caller
// verifies the request (ACL, TSIG), supplies the records of GSLB-bound names
// (their answer for a client with no location is decided by the pool, which
// lives above zones) and a signer that appends a TSIG to each message.
// Control/transfer side: allocates; one stream belongs to one connection.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/wire/compress.h"
#include "core/wire/name.h"
#include "core/wire/wire.h"
#include "zones/zone.h"

namespace geodns::zones {

// ---- requests ------------------------------------------------------------------

// What an answer needs from the request: the ID, the RD bit to copy (RFC 5936
// 2.2.1), the question as the client wrote it, and whether it spoke EDNS.
struct XfrRequest {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;                 // the request's flags word
  std::span<const std::uint8_t> question;  // QNAME QTYPE QCLASS as received
  bool edns = false;                       // answer with an OPT in the first message
  std::uint16_t ednsPayload = 1232;        // the payload size our OPT announces
};

struct XfrQuery {
  XfrRequest request;
  name::NameBuf zone;                       // QNAME, lowercase
  std::uint16_t qtype = 0;                  // AXFR or IXFR
  std::uint16_t qclass = 0;                 // IN expected; the caller decides
  std::optional<std::uint32_t> ixfrSerial;  // IXFR: the serial of the client's SOA
};

enum class XfrParse : std::uint8_t {
  Ok,
  NotTransfer,  // a well-formed query for another QTYPE (or a response): not ours
  FormErr,      // QDCOUNT != 1, a truncated message, or an IXFR without its SOA (RFC 1995 3)
};

// Reads a transfer query: header, the one question, the SOA an IXFR carries in
// its authority section, and whether an OPT is present. The TSIG is not
// checked here (tsig::verifyRequest). `out.request.question` points into `msg`.
XfrParse parseXfrQuery(std::span<const std::uint8_t> msg, XfrQuery& out) noexcept;

// ---- the answer -----------------------------------------------------------------

// Records the caller adds to the transfer, at GSLB-bound names of the zone
// (Node::binding >= 0): the answer its pool gives a client with no location.
struct ExtraRRset {
  std::string owner;  // lowercase wire
  RRset rrset;        // type, TTL, RDATA; `additional` and `target` are ignored
};

// An RRset from RDATA in uncompressed wire form. For types whose RDATA names
// may be compressed (RFC 3597 4: CNAME, NS, PTR, MX, ...), the names at their
// fixed places are marked for compression: offset 0 for CNAME/NS/PTR, 2 for
// MX; other types are copied as they are.
RRset makeRRset(std::uint16_t type, std::uint32_t ttl, const std::vector<std::string>& rdatas);

// The bound nodes of a zone, in transfer order: the names a caller owes
// ExtraRRsets for.
std::vector<const Node*> boundNodes(const Zone& zone);

struct XfrOptions {
  // The largest message, TSIG included (RFC 5936 allows up to 65535).
  std::size_t maxMessage = 65535;
  // Appends the TSIG RR to each finished message in the writer and counts it
  // in ARCOUNT (tsig::Signer::sign); false fails the stream. Empty: unsigned.
  std::function<bool(Writer&)> sign;
  // Bytes sign() needs at the end of each message (tsig::Signer::reserve()).
  std::size_t signReserve = 0;
};

// The messages of one AXFR (or AXFR-style IXFR) answer, one at a time, so a
// non-blocking server makes the next only when the socket takes it.
//
// Order: the SOA; every other RRset of the zone, node by node (apex first),
// delegation NS, DS and glue included, each ExtraRRset right after the static
// RRsets of its node; the SOA again. The question is in the first message
// only; names are compressed within each message; a message holds as many
// whole RRs as fit, so a large RRset continues in the next message. Header:
// the request's ID, QR, AA, RD copied, everything else 0 (RFC 5936 2.2.1).
class AxfrStream {
 public:
  // Checks `extras` (each at a bound name of `zone`, no SOA, no second RRset
  // of a type, a CNAME alone at its name); a bad one fails the stream at once
  // (error() says which; next() returns nothing).
  AxfrStream(const Zone& zone, const XfrRequest& request, std::vector<ExtraRRset> extras,
             XfrOptions options);
  // The answer to an IXFR from a client whose serial is current: the SOA alone,
  // in one message (RFC 1995 2, 4).
  static AxfrStream soaOnly(const Zone& zone, const XfrRequest& request, XfrOptions options);

  // The next message (header included, no TCP length prefix), valid until the
  // next call; empty when the stream is complete or failed.
  std::span<const std::uint8_t> next();

  bool done() const noexcept { return done_; }
  bool failed() const noexcept { return !error_.empty(); }
  const std::string& error() const noexcept { return error_; }
  std::size_t messageCount() const noexcept { return messages_; }
  std::size_t recordCount() const noexcept { return records_; }  // RRs sent so far

 private:
  struct Item {
    name::Span owner;
    const RRset* rrset;
  };
  AxfrStream(const Zone& zone, const XfrRequest& request, XfrOptions options);
  void plan();  // checks extras_ and lays out items_
  bool writeRR(Writer& w, const Item& item, const Rdata& rd);
  void fail(std::string why);

  const Zone& zone_;
  XfrRequest request_;
  XfrOptions options_;
  std::vector<ExtraRRset> extras_;  // owned; items_ point into it
  std::vector<Item> items_;         // the RRsets in transfer order, the SOA first and last
  std::size_t item_ = 0;            // cursor: the next RR is items_[item_].rrset->rrs[rr_]
  std::size_t rr_ = 0;
  std::vector<std::uint8_t> buf_;
  Compressor comp_;
  std::size_t messages_ = 0;
  std::size_t records_ = 0;
  bool done_ = false;
  std::string error_;
};

// Every message of a transfer (tests, small zones). Empty, with *err set,
// when the stream fails.
std::vector<std::vector<std::uint8_t>> axfrMessages(const Zone& zone, const XfrRequest& request,
                                                    std::vector<ExtraRRset> extras,
                                                    XfrOptions options, std::string* err);

}  // namespace geodns::zones
