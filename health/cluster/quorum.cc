#include "health/cluster/quorum.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace geodns::health::cluster {

namespace {

bool votes(const VantageVerdict& v, const QuorumOptions& o, std::int64_t now) {
  if (!v.live || v.state == State::Unknown) return false;
  return o.staleAfterMs <= 0 || now - v.confirmedUnixMs <= o.staleAfterMs;
}

std::optional<double> median(std::vector<double>& xs) {
  if (xs.empty()) return std::nullopt;
  std::sort(xs.begin(), xs.end());
  const std::size_t m = xs.size() / 2;
  return xs.size() % 2 == 1 ? xs[m] : (xs[m - 1] + xs[m]) / 2;
}

}  // namespace

QuorumDecision decideQuorum(const VantageVerdict& own, std::span<const VantageVerdict> peers,
                            const QuorumOptions& options, std::int64_t nowUnixMs) {
  QuorumDecision d;
  std::vector<double> upLatencies;
  auto count = [&](const VantageVerdict& v) {
    ++d.voters;
    if (v.state == State::Up) {
      ++d.up;
      if (v.latencyMs) upLatencies.push_back(*v.latencyMs);
    } else {
      ++d.down;
    }
  };
  const bool ownVotes = own.state != State::Unknown;
  if (ownVotes) count(own);
  for (const auto& p : peers)
    if (votes(p, options, nowUnixMs)) count(p);
  if (d.voters == 0) return d;
  d.ownOnly = ownVotes && d.voters == 1;

  // fraction: clamp, and treat a NaN as the default rather than "never up".
  double f = std::isnan(options.fraction) ? 0.5 : std::clamp(options.fraction, 0.0, 1.0);
  // The epsilon keeps 0.6 * 5 = 3.0000000000000004 from needing 4 votes.
  const auto byFraction = static_cast<std::uint32_t>(std::ceil(f * d.voters - 1e-9));
  // min_up is capped at the voters: losing nodes must not take every
  // target down everywhere (the "own verdict alone" is the case of
  // one voter).
  const std::uint32_t byMin = std::min<std::uint32_t>(options.minUp, d.voters);
  d.needed = std::max({byFraction, byMin, 1u});
  d.state = d.up >= d.needed ? State::Up : State::Down;

  if (options.latency == LatencySource::Local && own.state == State::Up && own.latencyMs) {
    d.latencyMs = own.latencyMs;
  } else {
    // Median, or Local without a local measurement of a live target.
    d.latencyMs = median(upLatencies);
  }
  return d;
}

}  // namespace geodns::health::cluster
