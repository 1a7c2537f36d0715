#pragma once
// Where a client is, as far as the databases and CIDR maps can tell.
#include <cstdint>

namespace geodns::geo {

struct Location {
  bool found = false;         // a database record or CIDR entry matched
  char continent[3] = {};     // "EU"; empty when unknown
  char country[3] = {};       // ISO 3166-1 alpha-2, "DE"
  char subdivision[12] = {};  // ISO 3166-2 with country, "US-CA"
  bool hasCoords = false;
  double lat = 0, lon = 0;  // degrees
  std::uint32_t asn = 0;    // 0 = unknown
  // Prefix (in bits of the looked-up address family) over which this result
  // holds: the matched network, or for a miss the unmatched block.
  std::uint8_t prefix = 0;
  std::int16_t database = -1;  // index of the database that answered
  std::int32_t netEntry = -1;  // index of the CIDR-map entry that matched
};

}  // namespace geodns::geo
