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

// How the members of the chosen region are picked. A policy picks the
// strongest rule any of its steps asks for (Capacity > Weighted > First).
enum class PickRule : std::uint8_t {
  First,     // the first max_answers eligible members, in config order
  Weighted,  // weighted sampling by configured weight, reproducible per client
  Capacity,  // weighted by weight x load factor x health
};

// What explain shows beside each region after the step (Trace::StepLog::metric).
enum class StepMetric : std::uint8_t { None, Km, Ms };

struct StepInfo {
  StepKind kind;
  std::string_view name;  // as written in the config and shown by explain
  bool usesLocation;      // its outcome depends on where the client is
  PickRule pick;          // the pick rule the step asks for (First: none)
  bool requiresUp;        // members must be up to be picked (when the step kept a region)
  bool capsTtl;  // over an address pool, health caps the answer's TTL (time until it could change)
  StepMetric metric;  // per-region figure the step logs for explain
  // Its outcome depends on the client other than through its location (or
  // through inputs that are the same for every client: health, drains,
  // load, latency, failover). Such a policy cannot be compiled into a
  // prefix tree (gslb/compiled.h) and keeps the per-query pipeline. None
  // does today.
  bool usesClientBeyondLocation;
};

inline constexpr std::array kSteps{
    StepInfo{StepKind::GeoMap, "geo_map", true, PickRule::First, false, false, StepMetric::None,
             false},
    StepInfo{StepKind::Nearest, "nearest", true, PickRule::First, false, false, StepMetric::Km,
             false},
    StepInfo{StepKind::FirstN, "first_n", false, PickRule::First, false, false, StepMetric::None,
             false},
    StepInfo{StepKind::Weighted, "weighted", false, PickRule::Weighted, false, false,
             StepMetric::None, false},
    StepInfo{StepKind::Up, "up", false, PickRule::First, true, true, StepMetric::None, false},
    StepInfo{StepKind::ShedLoad, "shed_load", false, PickRule::First, false, false,
             StepMetric::None, false},
    StepInfo{StepKind::Latency, "latency", false, PickRule::First, false, false, StepMetric::Ms,
             false},
    StepInfo{StepKind::CapacityWeighted, "capacity_weighted", false, PickRule::Capacity, false,
             false, StepMetric::None, false},
    StepInfo{StepKind::Failover, "failover", false, PickRule::First, false, false, StepMetric::None,
             false},
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

constexpr const char* stepName(StepKind k) noexcept {
  return stepInfo(k).name.data();
}

constexpr std::optional<StepKind> stepFromName(std::string_view name) noexcept {
  for (const auto& s : kSteps)
    if (s.name == name) return s.kind;
  return std::nullopt;
}

}  // namespace geodns::config
