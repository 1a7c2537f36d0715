#include "server/export_zone.h"

#include "core/wire/name.h"
#include "zones/zone_export.h"

namespace geodns::server {

ExportStatus exportZoneText(const ServingSnapshot& snap, const std::string& origin,
                            std::string& out, std::string& err) {
  const auto wire = name::fromText(origin);
  if (!wire) {
    err = "'" + origin + "' is not a domain name";
    return ExportStatus::UnknownZone;
  }
  const std::string text = name::toText(name::asSpan(*wire));
  for (const auto& u : snap.zones->unavailable())
    if (u == *wire) {
      err = "zone " + text + " is a secondary without data (no transfer yet, or expired)";
      return ExportStatus::Failed;
    }
  const zones::Zone* zone = snap.zones->findZone(name::asSpan(*wire));
  if (!zone || zone->origin() != *wire) {
    err = "no zone " + text + " in the config";
    std::string known;
    for (const auto& z : snap.zones->zones())
      known += (known.empty() ? "" : ", ") + name::toText(name::asSpan(z->origin()));
    if (!known.empty()) err += " (zones: " + known + ")";
    return ExportStatus::UnknownZone;
  }
  ErrorList errors;
  if (!zones::exportZone(*zone, out, errors)) {
    out.clear();
    for (const auto& e : errors.all()) err += e.str() + "\n";
    if (!err.empty()) err.pop_back();
    return ExportStatus::Failed;
  }
  return ExportStatus::Ok;
}

}  // namespace geodns::server
