#include "zones/load.h"

#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "core/wire/types.h"
#include "zones/signing.h"
#include "zones/zone_file.h"

namespace geodns::zones {

std::shared_ptr<const ZoneSet> loadZones(const config::ServerConfig& cfg, ErrorList& errors,
                                         const Clock* clock) {
  static const SteadyClock systemClock;
  if (!clock) clock = &systemClock;
  auto set = std::make_shared<ZoneSet>();
  const std::size_t before = errors.size();
  // Attach each binding to the longest zone that contains it.
  std::vector<std::vector<BoundName>> bound(cfg.zones.size());
  for (std::size_t b = 0; b < cfg.gslb.bindings.size(); ++b) {
    const auto& binding = cfg.gslb.bindings[b];
    auto wire = name::fromText(binding.name);
    if (!wire) continue;  // reported by parseConfig
    std::size_t best = cfg.zones.size(), bestLen = 0;
    for (std::size_t z = 0; z < cfg.zones.size(); ++z) {
      auto origin = name::fromText(cfg.zones[z].origin);
      if (origin && name::isSubdomain(name::asSpan(*wire), name::asSpan(*origin)) &&
          (best == cfg.zones.size() || origin->size() > bestLen)) {
        best = z;
        bestLen = origin->size();
      }
    }
    if (best == cfg.zones.size()) {
      errors.add(binding.where + "/name", "'" + binding.name + "' is not inside any loaded zone");
      continue;
    }
    bound[best].push_back({*wire, static_cast<std::int32_t>(b), binding.where + "/name"});
  }
  for (std::size_t zi = 0; zi < cfg.zones.size(); ++zi) {
    const auto& spec = cfg.zones[zi];
    ErrorList zoneErrors;
    auto rrs = parseZoneFile(spec.file, spec.origin, zoneErrors);
    std::shared_ptr<ZoneSigning> signing;
    if (spec.dnssec) {
      auto origin = name::fromText(spec.origin);
      if (origin) signing = ZoneSigning::load(name::asSpan(*origin), *spec.dnssec, *clock, errors);
      if (!signing) continue;       // key errors are placed at their JSON path already
      std::uint32_t keyTtl = 3600;  // DNSKEY TTL: the SOA's, else an hour
      for (const auto& rr : rrs) {
        if (generatedDnssecType(rr.type))
          zoneErrors.add(rr.where, dns::typeToText(rr.type) +
                                       " records are made by the server in a signed zone; "
                                       "remove them from the zone file");
        if (rr.type == dns::toU16(dns::Type::SOA)) keyTtl = rr.ttl;
      }
      for (auto& rr : signing->apexRecords(keyTtl)) rrs.push_back(std::move(rr));
    }
    // Compile even after syntax errors so that every problem is reported at once.
    auto zone = Zone::compile(spec.origin, std::move(rrs), zoneErrors, bound[zi]);
    if (zone && signing && zoneErrors.empty()) zone->sign(signing, zoneErrors);
    if (!zoneErrors.empty()) {
      // Errors without a line are about the zone as a whole: name the file.
      for (const auto& e : zoneErrors.all())
        errors.add(e.where.empty() ? spec.file : e.where, e.message);
      continue;
    }
    set->add(std::move(zone));
  }
  if (errors.size() != before) return nullptr;
  set->finish();
  return set;
}

}  // namespace geodns::zones
