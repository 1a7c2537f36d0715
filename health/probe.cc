#include "health/probe.h"

#include <cstdlib>

namespace geodns::health {

const char* stateName(State s) noexcept {
  switch (s) {
    case State::Unknown:
      return "unknown";
    case State::Up:
      return "up";
    case State::Down:
      return "down";
  }
  return "?";
}

const char* kindName(ProbeKind k) noexcept {
  switch (k) {
    case ProbeKind::Http:
      return "http";
    case ProbeKind::Https:
      return "https";
    case ProbeKind::Tcp:
      return "tcp";
    case ProbeKind::Dns:
      return "dns";
  }
  return "?";
}

std::string ProbeSpec::key() const {
  std::string k = std::string(kindName(kind)) + "|" + address.str() + "|" + std::to_string(port);
  if (kind == ProbeKind::Http || kind == ProbeKind::Https) {
    k += "|" + method + "|" + host + "|" + path + "|" + bodyContains + "|" +
         (tlsVerify ? "v" : "nv");
    for (const auto& h : headers) k += "|" + h;
    for (const auto& [lo, hi] : expectStatus)
      k += "|" + std::to_string(lo) + "-" + std::to_string(hi);
    k += "|" + loadHeader + "|" + loadJsonPointer;
  } else if (kind == ProbeKind::Dns) {
    k += "|" + dnsName + "|" + std::to_string(dnsType) + "|" + std::to_string(dnsRcode) +
         (dnsExpectAnswer ? "|a" : "");
  }
  k += "|" + std::to_string(interval.count()) + "|" + std::to_string(timeout.count()) + "|" +
       std::to_string(rise) + "|" + std::to_string(fall) + "|" + std::to_string(staleAfter) + "|" +
       (unknownIsUp ? "u" : "d") + "|" + stateName(initial);
  return k;
}

std::optional<double> parseLoad(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  double a = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) return std::nullopt;
  double v = a;
  if (*end == '%') {
    v = a / 100.0;
    ++end;
  } else if (*end == '/') {
    char* end2 = nullptr;
    double cap = std::strtod(end + 1, &end2);
    if (end2 == end + 1 || cap <= 0) return std::nullopt;
    v = a / cap;
    end = end2;
  }
  while (*end == ' ' || *end == '\r' || *end == '\n') ++end;
  if (*end != 0 || !(v >= 0)) return std::nullopt;
  return v > 1 ? 1.0 : v;
}

Duration timeUntilPossibleChange(const ProbeSpec& spec, State s, unsigned ok,
                                 unsigned fail) noexcept {
  unsigned left = 1;
  if (s == State::Up)
    left = spec.fall > fail ? spec.fall - fail : 1;
  else if (s == State::Down)
    left = spec.rise > ok ? spec.rise - ok : 1;
  return spec.interval * left;
}

}  // namespace geodns::health
