#pragma once
// The policy step kinds: one table that the config parser, the compiler
// (gslb/) and explain all read, so that a step's name and its properties live
// in one place (docs/config.md documents each step).
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace geodns::config {

enum class StepKind : std::uint8_t {
  GeoMap,
  Nearest,
  FirstN,
  Weighted,
  Up,
  ShedLoad,
  Latency,
  CapacityWeighted,
  Failover
};

struct StepInfo {
  StepKind kind;
  std::string_view name;  // as written in the config and shown by explain
  bool usesLocation;      // its outcome depends on where the client is
};

inline constexpr std::array kSteps{
    StepInfo{StepKind::GeoMap, "geo_map", true},
    StepInfo{StepKind::Nearest, "nearest", true},
    StepInfo{StepKind::FirstN, "first_n", false},
    StepInfo{StepKind::Weighted, "weighted", false},
    StepInfo{StepKind::Up, "up", false},
    StepInfo{StepKind::ShedLoad, "shed_load", false},
    StepInfo{StepKind::Latency, "latency", false},
    StepInfo{StepKind::CapacityWeighted, "capacity_weighted", false},
    StepInfo{StepKind::Failover, "failover", false},
};

// The table is indexed by the enum.
constexpr bool stepTableInOrder() {
  for (std::size_t i = 0; i < kSteps.size(); ++i)
    if (static_cast<std::size_t>(kSteps[i].kind) != i) return false;
  return true;
}
static_assert(stepTableInOrder());

constexpr const StepInfo& stepInfo(StepKind k) noexcept {
  return kSteps[static_cast<std::size_t>(k)];
}

constexpr const char* stepName(StepKind k) noexcept { return stepInfo(k).name.data(); }

constexpr std::optional<StepKind> stepFromName(std::string_view name) noexcept {
  for (const auto& s : kSteps)
    if (s.name == name) return s.kind;
  return std::nullopt;
}

}  // namespace geodns::config
