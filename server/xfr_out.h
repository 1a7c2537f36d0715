#pragma once
// Outgoing zone transfers (RFC 5936 AXFR; IXFR answered AXFR-style, RFC 1995
// section 4) for the TCP server: the checks of docs/design/transfer.md (parse,
// TSIG, zone apex, the zone's "transfer" ACL and key), then the messages of
// the answer one at a time, each signed when the request was (RFC 8945
// 5.3.1: every message of the stream).
//
// Runs on the TCP thread, off the UDP query path; allocates. A session holds
// the snapshot it started from, so a reload during a transfer does not change
// what the secondary receives.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/ip.h"
#include "core/wire/tsig.h"
#include "server/serving.h"
#include "zones/transfer.h"

namespace geodns::server {

// The records a transfer carries at each GSLB-bound name of `zone`: the
// answer its pool gives a client with no location (no address, no ECS: the
// policy's default), A and AAAA, or the pool's CNAME.
std::vector<zones::ExtraRRset> boundAnswers(const ServingSnapshot& snap, const zones::Zone& zone);

struct XfrStart;

class XfrSession {
 public:
  // The next message of the transfer (no TCP length prefix), valid until the
  // next call; empty once the transfer is complete (or failed: logged).
  std::span<const std::uint8_t> next();
  bool failed() const noexcept { return stream_ && stream_->failed(); }
  std::size_t messages() const noexcept { return stream_ ? stream_->messageCount() : 0; }

 private:
  friend XfrStart startTransfer(std::shared_ptr<const ServingSnapshot>,
                                std::span<const std::uint8_t>, const IpAddress&, std::uint64_t,
                                std::size_t);
  std::shared_ptr<const ServingSnapshot> snap_;
  std::vector<std::uint8_t> request_;  // the request: the stream's question points into it
  std::optional<tsig::Signer> signer_;
  std::uint64_t now_ = 0;
  std::optional<zones::AxfrStream> stream_;
};

struct XfrStart {
  // A transfer to stream (the checks passed), or else `reply` holds the one
  // error message to send (FORMERR, NOTAUTH with the TSIG RFC 8945 asks for,
  // REFUSED with an OPT when the request had one, signed when it was).
  std::unique_ptr<XfrSession> session;
  std::vector<std::uint8_t> reply;
  std::uint16_t rcode = 0;  // of `reply`
};

// Decides what to do with a transfer request `msg` from `peer` (the engine
// said Outcome::Transfer). `now`: wall clock, seconds since 1970.
// `inProgress`: transfers this server is streaming now; at the snapshot's
// limits.maxTransfers an allowed request is REFUSED (the secondary retries).
XfrStart startTransfer(std::shared_ptr<const ServingSnapshot> snap,
                       std::span<const std::uint8_t> msg, const IpAddress& peer, std::uint64_t now,
                       std::size_t inProgress = 0);

}  // namespace geodns::server
