#pragma once
// The cluster state of one target from the verdicts of every vantage node
// (issue 16 item 3): Route 53-style, a target is up when at least `minUp`
// and at least `fraction` of the vantages that have a current verdict see it
// up. Pure: no clock read, no store; the caller passes what it applied from
// the watch and the time.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "health/probe.h"

namespace geodns::health::cluster {

enum class LatencySource : std::uint8_t {
  Local,   // this node's own measurement: nearest to the clients it answers
  Median,  // the median over the vantages that see the target up
};

struct QuorumOptions {
  unsigned minUp = 1;     // up votes needed, capped at the number of voters
  double fraction = 0.5;  // share of voters that must see it up, in [0, 1]
  LatencySource latency = LatencySource::Local;
  // A peer's verdict that its node has not published or re-confirmed for
  // this long does not vote (its node may be alive but its prober stuck).
  // 0: verdicts of live nodes never go stale.
  std::int64_t staleAfterMs = 0;
};

struct VantageVerdict {
  std::string node;
  State state = State::Unknown;
  std::optional<double> latencyMs;   // meaningful when the vantage sees it up
  bool live = true;                  // the node's lease is alive (peers only)
  std::int64_t confirmedUnixMs = 0;  // last publication or confirmation (peers only)
};

struct QuorumDecision {
  State state = State::Unknown;  // Unknown: no vantage has a current verdict
  std::optional<double> latencyMs;
  std::uint32_t voters = 0;  // vantages whose verdict counted
  std::uint32_t up = 0;
  std::uint32_t down = 0;
  std::uint32_t needed = 0;  // up votes that made (or would make) it up
  bool ownOnly = false;      // this node was the only vantage that voted
};

// `own` is this node's verdict (always live and current; Unknown means it
// has no data and does not vote). `peers` are the other nodes' verdicts for
// the same target as last applied; dead (lease gone), stale and Unknown
// ones do not vote. With no voter the state is Unknown (the caller applies
// the probe's unknown_is_up); with one voter, that verdict.
QuorumDecision decideQuorum(const VantageVerdict& own, std::span<const VantageVerdict> peers,
                            const QuorumOptions& options, std::int64_t nowUnixMs);

}  // namespace geodns::health::cluster
