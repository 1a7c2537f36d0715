#pragma once
// Region ordering from a client's Location: an operator map keyed by
// subdivision, country, continent and CIDR label (most specific first, then
// "default"), and great-circle distance with per-region bias.
#include <cstdint>
#include <string>
#include <vector>

#include "geo/location.h"

namespace geodns::geo {

using RegionId = std::uint16_t;
inline constexpr std::size_t kMaxRegions = 32;

enum class MatchKind : std::uint8_t { None, Net, Subdivision, Country, Continent, Label, Default };
const char* matchKindName(MatchKind k) noexcept;

class GeoMap {
 public:
  // Control thread. `key` is "US-CA" (subdivision), "US" (country), "EU"
  // (continent, by kind), a label name, or "default". Returns false for a
  // duplicate key.
  bool add(MatchKind kind, const std::string& key, std::vector<RegionId> regions);
  // The label id a CIDR-map entry carries is resolved by the caller; pass -1
  // for none. Returns nullptr when nothing (not even default) matches.
  const std::vector<RegionId>* match(const Location& loc, std::int32_t label,
                                     MatchKind* which) const noexcept;

 private:
  struct Entry {
    MatchKind kind;
    std::uint64_t key;  // packed code, or label id
    std::vector<RegionId> regions;
  };
  static std::uint64_t pack(const char* s) noexcept;
  const Entry* find(MatchKind kind, std::uint64_t key) const noexcept;
  std::vector<Entry> entries_;
};

// Great-circle distance in km (haversine, mean Earth radius).
double distanceKm(double lat1, double lon1, double lat2, double lon2) noexcept;

}  // namespace geodns::geo
