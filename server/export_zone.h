#pragma once
// `geodnsd export-zone --config FILE --zone ORIGIN`: one loaded zone's static
// part as a master file (zones/zone_export.h), from the snapshot the server
// would serve (same config, same loadZones, same signatures). Control plane.
#include <string>

#include "server/serving.h"

namespace geodns::server {

enum class ExportStatus {
  Ok,           // `out` holds the master file
  UnknownZone,  // ORIGIN is not a zone of the config (usage error); `err` says so
  Failed,       // the zone is not available (a secondary without data) or did not export
};

// `origin` as given on the command line (presentation form). On failure `err`
// holds one or more lines, without the program name.
ExportStatus exportZoneText(const ServingSnapshot& snap, const std::string& origin,
                            std::string& out, std::string& err);

}  // namespace geodns::server
