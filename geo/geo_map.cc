#include "geo/geo_map.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace geodns::geo {

const char* matchKindName(MatchKind k) noexcept {
  switch (k) {
    case MatchKind::None:
      return "none";
    case MatchKind::Net:
      return "net";
    case MatchKind::Subdivision:
      return "subdivision";
    case MatchKind::Country:
      return "country";
    case MatchKind::Continent:
      return "continent";
    case MatchKind::Label:
      return "label";
    case MatchKind::Default:
      return "default";
  }
  return "?";
}

std::uint64_t GeoMap::pack(const char* s) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8 && s[i]; ++i)
    v |= std::uint64_t{static_cast<unsigned char>(s[i])} << (8 * i);
  return v;
}

bool GeoMap::add(MatchKind kind, const std::string& key, std::vector<RegionId> regions) {
  std::uint64_t k = 0;
  if (kind == MatchKind::Label)
    k = std::stoull(key);
  else if (kind != MatchKind::Default)
    k = pack(key.c_str());
  if (find(kind, k)) return false;
  entries_.push_back({kind, k, std::move(regions)});
  return true;
}

const GeoMap::Entry* GeoMap::find(MatchKind kind, std::uint64_t key) const noexcept {
  for (const auto& e : entries_)
    if (e.kind == kind && e.key == key) return &e;
  return nullptr;
}

const std::vector<RegionId>* GeoMap::match(const Location& loc, std::int32_t label,
                                           MatchKind* which) const noexcept {
  const Entry* e = nullptr;
  MatchKind k = MatchKind::None;
  if (loc.subdivision[0] && (e = find(MatchKind::Subdivision, pack(loc.subdivision))))
    k = MatchKind::Subdivision;
  else if (loc.country[0] && (e = find(MatchKind::Country, pack(loc.country))))
    k = MatchKind::Country;
  else if (loc.continent[0] && (e = find(MatchKind::Continent, pack(loc.continent))))
    k = MatchKind::Continent;
  else if (label >= 0 && (e = find(MatchKind::Label, static_cast<std::uint64_t>(label))))
    k = MatchKind::Label;
  else if ((e = find(MatchKind::Default, 0)))
    k = MatchKind::Default;
  if (which) *which = k;
  return e ? &e->regions : nullptr;
}

double distanceKm(double lat1, double lon1, double lat2, double lon2) noexcept {
  constexpr double kR = 6371.0088, kRad = 3.14159265358979323846 / 180.0;
  const double dLat = (lat2 - lat1) * kRad, dLon = (lon2 - lon1) * kRad;
  const double a =
      std::sin(dLat / 2) * std::sin(dLat / 2) +
      std::cos(lat1 * kRad) * std::cos(lat2 * kRad) * std::sin(dLon / 2) * std::sin(dLon / 2);
  return 2 * kR * std::asin(std::sqrt(std::min(1.0, a)));
}

}  // namespace geodns::geo
