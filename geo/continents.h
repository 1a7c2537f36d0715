#pragma once
// Continent code for an ISO 3166-1 alpha-2 country code, for databases (such
// as the flat DB-IP / ip-location-db files) that carry no continent.
namespace geodns::geo {
// Returns "AF", "AN", "AS", "EU", "NA", "OC", "SA", or nullptr when unknown.
const char* continentOf(const char* country) noexcept;
}  // namespace geodns::geo
