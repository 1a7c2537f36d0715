#include <doctest/doctest.h>

#include <cmath>
#include <optional>
#include <vector>

#include "health/cluster/quorum.h"

using namespace geodns::health;
using namespace geodns::health::cluster;

namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;

VantageVerdict up(const char* node, std::optional<double> ms = std::nullopt) {
  return {node, State::Up, ms, true, kNow};
}
VantageVerdict down(const char* node) {
  return {node, State::Down, std::nullopt, true, kNow};
}
VantageVerdict unknown(const char* node) {
  return {node, State::Unknown, std::nullopt, true, kNow};
}
VantageVerdict dead(VantageVerdict v) {
  v.live = false;
  return v;
}
VantageVerdict aged(VantageVerdict v, std::int64_t ageMs) {
  v.confirmedUnixMs = kNow - ageMs;
  return v;
}

QuorumOptions opts(unsigned minUp, double fraction, std::int64_t staleAfterMs = 0) {
  QuorumOptions o;
  o.minUp = minUp;
  o.fraction = fraction;
  o.staleAfterMs = staleAfterMs;
  return o;
}

}  // namespace

TEST_CASE("quorum: state tables") {
  struct Case {
    const char* name;
    VantageVerdict own;
    std::vector<VantageVerdict> peers;
    QuorumOptions options;
    State want;
    std::uint32_t voters;
    std::uint32_t needed;
    bool ownOnly;
  };
  const Case cases[] = {
      {"all three up", up("a"), {up("b"), up("c")}, opts(1, 0.5), State::Up, 3, 2, false},
      {"all three down", down("a"), {down("b"), down("c")}, opts(1, 0.5), State::Down, 3, 2, false},
      {"two of three up", down("a"), {up("b"), up("c")}, opts(1, 0.5), State::Up, 3, 2, false},
      {"one of three up: a single vantage cannot keep it up",
       up("a"),
       {down("b"), down("c")},
       opts(1, 0.5),
       State::Down,
       3,
       2,
       false},
      {"one of three down: a broken path from one site does not take it out",
       down("a"),
       {up("b"), up("c")},
       opts(1, 0.5),
       State::Up,
       3,
       2,
       false},
      {"fraction 0.5 with 2 nodes, a tie, is up",
       down("a"),
       {up("b")},
       opts(1, 0.5),
       State::Up,
       2,
       1,
       false},
      {"fraction 0.5 with 2 nodes, own up peer down, is up",
       up("a"),
       {down("b")},
       opts(1, 0.5),
       State::Up,
       2,
       1,
       false},
      {"tie 2 of 4 at fraction 0.5 is up",
       up("a"),
       {up("b"), down("c"), down("d")},
       opts(1, 0.5),
       State::Up,
       4,
       2,
       false},
      {"1 of 4 at fraction 0.5 is down",
       up("a"),
       {down("b"), down("c"), down("d")},
       opts(1, 0.5),
       State::Down,
       4,
       2,
       false},
      {"fraction above a half breaks ties downwards",
       up("a"),
       {down("b")},
       opts(1, 0.51),
       State::Down,
       2,
       2,
       false},
      {"fraction 0.6 of 5 needs exactly 3",
       up("a"),
       {up("b"), up("c"), down("d"), down("e")},
       opts(1, 0.6),
       State::Up,
       5,
       3,
       false},
      {"fraction 1 needs every voter",
       up("a"),
       {up("b"), down("c")},
       opts(1, 1.0),
       State::Down,
       3,
       3,
       false},
      {"fraction 0 leaves min_up",
       down("a"),
       {down("b"), up("c")},
       opts(1, 0.0),
       State::Up,
       3,
       1,
       false},
      {"min_up 2 with 1 of 2 up is down",
       up("a"),
       {down("b")},
       opts(2, 0.5),
       State::Down,
       2,
       2,
       false},
      {"min_up 2 with 2 of 3 up is up",
       up("a"),
       {up("b"), down("c")},
       opts(2, 0.5),
       State::Up,
       3,
       2,
       false},
      {"min_up 3 capped at 2 voters: both up is up",
       up("a"),
       {up("b"), dead(up("c"))},
       opts(3, 0.5),
       State::Up,
       2,
       2,
       false},
      {"zero live vantages: own has no data, every peer dead",
       unknown("a"),
       {dead(up("b")), dead(down("c"))},
       opts(1, 0.5),
       State::Unknown,
       0,
       0,
       false},
      {"zero vantages at all", unknown("a"), {}, opts(1, 0.5), State::Unknown, 0, 0, false},
      {"only live vantage: own down decides though dead peers said up",
       down("a"),
       {dead(up("b")), dead(up("c"))},
       opts(2, 0.5),
       State::Down,
       1,
       1,
       true},
      {"only live vantage: own up decides though min_up is 2",
       up("a"),
       {dead(down("b"))},
       opts(2, 0.5),
       State::Up,
       1,
       1,
       true},
      {"single node fleet", up("a"), {}, opts(1, 0.5), State::Up, 1, 1, true},
      {"peers with no data do not vote",
       down("a"),
       {unknown("b"), unknown("c")},
       opts(1, 0.5),
       State::Down,
       1,
       1,
       true},
      {"own without data: the live peers decide",
       unknown("a"),
       {up("b"), down("c")},
       opts(1, 0.5),
       State::Up,
       2,
       1,
       false},
      {"own without data, one peer: that peer decides",
       unknown("a"),
       {down("b")},
       opts(2, 0.5),
       State::Down,
       1,
       1,
       false},
      {"stale verdict does not vote",
       down("a"),
       {aged(up("b"), 30'001), up("c")},
       opts(1, 0.51, 30'000),
       State::Down,
       2,
       2,
       false},
      {"verdict exactly at the stale limit still votes",
       down("a"),
       {aged(up("b"), 30'000), up("c")},
       opts(1, 0.51, 30'000),
       State::Up,
       3,
       2,
       false},
      {"all peers stale: own verdict alone",
       up("a"),
       {aged(down("b"), 60'000), aged(down("c"), 60'000)},
       opts(1, 0.5, 30'000),
       State::Up,
       1,
       1,
       true},
      {"staleness off: old verdicts of live nodes vote",
       down("a"),
       {aged(up("b"), 3'600'000), aged(up("c"), 3'600'000)},
       opts(1, 0.5, 0),
       State::Up,
       3,
       2,
       false},
      {"own verdict is never stale", up("a"), {}, opts(1, 0.5, 1), State::Up, 1, 1, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const QuorumDecision d = decideQuorum(c.own, c.peers, c.options, kNow);
    CHECK(d.state == c.want);
    CHECK(d.voters == c.voters);
    CHECK(d.needed == c.needed);
    CHECK(d.ownOnly == c.ownOnly);
    CHECK(d.up + d.down == d.voters);
  }
}

TEST_CASE("quorum: a verdict's own timestamp is not read for the own vantage") {
  // Own verdicts carry no confirmation time (0); with staleness on they must
  // still vote.
  VantageVerdict own{"a", State::Down, std::nullopt, true, 0};
  const auto d = decideQuorum(own, std::vector<VantageVerdict>{}, opts(1, 0.5, 1000), kNow);
  CHECK(d.state == State::Down);
  CHECK(d.ownOnly);
}

TEST_CASE("quorum: odd options do not make everything down or up") {
  const std::vector<VantageVerdict> peers{up("b"), down("c")};
  // NaN fraction: treated as the default 0.5.
  auto d = decideQuorum(up("a"), peers, opts(1, std::nan("")), kNow);
  CHECK(d.needed == 2);
  CHECK(d.state == State::Up);
  // Out-of-range fractions are clamped.
  d = decideQuorum(up("a"), peers, opts(1, 7.0), kNow);
  CHECK(d.needed == 3);
  d = decideQuorum(down("a"), std::vector<VantageVerdict>{down("b"), down("c")}, opts(0, -1.0),
                   kNow);
  // min_up 0 and fraction 0 still need one up vote: all down stays down.
  CHECK(d.needed == 1);
  CHECK(d.state == State::Down);
}

TEST_CASE("quorum: latency") {
  struct Case {
    const char* name;
    VantageVerdict own;
    std::vector<VantageVerdict> peers;
    LatencySource source;
    std::optional<double> want;
  };
  const Case cases[] = {
      {"local uses own measurement",
       up("a", 80),
       {up("b", 10), up("c", 20)},
       LatencySource::Local,
       80},
      {"median of three", up("a", 80), {up("b", 10), up("c", 20)}, LatencySource::Median, 20},
      {"median of an even count is the mean of the middle two",
       up("a", 80),
       {up("b", 10), up("c", 20), up("d", 40)},
       LatencySource::Median,
       30},
      {"median ignores vantages that see it down",
       down("a"),
       {up("b", 10), up("c", 30), down("d")},
       LatencySource::Median,
       20},
      {"median ignores dead and stale vantages",
       up("a", 10),
       {dead(up("b", 1000)), aged(up("c", 1000), 999'999)},
       LatencySource::Median,
       10},
      {"local without a local measurement falls back to the median",
       down("a"),
       {up("b", 10), up("c", 30)},
       LatencySource::Local,
       20},
      {"local with own up but no figure falls back to the median",
       up("a"),
       {up("b", 12)},
       LatencySource::Local,
       12},
      {"no figures at all", up("a"), {up("b")}, LatencySource::Median, std::nullopt},
      {"no voters", unknown("a"), {}, LatencySource::Median, std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    QuorumOptions o = opts(1, 0.5, 60'000);
    o.latency = c.source;
    const auto d = decideQuorum(c.own, c.peers, o, kNow);
    CHECK(d.latencyMs == c.want);
  }
}
