#pragma once
// What to probe and what a probe found. Plain values; no library types.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/ip.h"

namespace geodns::health {

using TargetId = std::uint32_t;
using namespace std::chrono_literals;

enum class ProbeKind : std::uint8_t { Http, Https, Tcp, Dns };
enum class State : std::uint8_t { Unknown, Up, Down };
const char* stateName(State s) noexcept;
const char* kindName(ProbeKind k) noexcept;

struct ProbeSpec {
  ProbeKind kind = ProbeKind::Tcp;
  IpAddress address;  // what is probed (may differ from the answered address)
  std::uint16_t port = 80;
  // http/https
  std::string method = "GET";
  std::string path = "/";
  std::string host;  // Host header and TLS SNI; empty = the address
  std::vector<std::string> headers;
  std::vector<std::pair<int, int>> expectStatus{{200, 399}};
  std::string bodyContains;
  bool tlsVerify = true;
  // Load reading: a header ("X-Load") or a JSON pointer into a JSON body; a
  // number in [0,1] or "current/capacity".
  std::string loadHeader;
  std::string loadJsonPointer;
  // dns
  std::string dnsName;
  std::uint16_t dnsType = 1;
  int dnsRcode = 0;
  bool dnsExpectAnswer = false;  // also require at least one answer record
  // timing and thresholds
  Duration interval = std::chrono::seconds(1);
  Duration timeout = std::chrono::seconds(1);
  unsigned rise = 2;    // consecutive successes to come up
  unsigned fall = 3;    // consecutive failures to go down
  double jitter = 0.1;  // +/- fraction of the interval between probes
  State initial = State::Up;
  unsigned staleAfter = 3;  // intervals without a result before the state is Unknown
  bool unknownIsUp = true;  // how Unknown (stale, or no data) counts in answers

  // Identity for sharing one probe between pools: same key, same probe.
  std::string key() const;
};

struct ProbeResult {
  TargetId target = 0;
  bool ok = false;
  double connectMs = 0;
  double totalMs = 0;
  std::optional<double> load;  // in [0,1]
  std::string error;           // empty when ok
};

// Whether a target in state `s` counts as up in answers: Up, or Unknown
// (stale, or no data yet) when the probe says unknown_as = up (fail open).
// The one rule the tracker's users, failover and explain all apply.
constexpr bool countsAsUp(State s, const ProbeSpec& spec) noexcept {
  return s == State::Up || (s == State::Unknown && spec.unknownIsUp);
}

// The earliest a target in state `s`, after `ok` consecutive successes and
// `fail` consecutive failures, could change state: interval x checks left
// (gdnsd's "TTL = time until health could change"); one interval when
// Unknown or already past the threshold.
Duration timeUntilPossibleChange(const ProbeSpec& spec, State s, unsigned ok,
                                 unsigned fail) noexcept;

// Parses a load figure: "0.7", "70%", or "35/50" (current/capacity) -> [0,1].
std::optional<double> parseLoad(const std::string& text);

}  // namespace geodns::health
