#include "zones/load.h"

#include <sys/stat.h>

#include <algorithm>

#include "core/log.h"
#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "core/wire/types.h"
#include "zones/serial.h"
#include "zones/signing.h"
#include "zones/zone_file.h"

namespace geodns::zones {

namespace {

constexpr std::uint16_t kSoa = 6;

// Offset of SERIAL in SOA RDATA: past MNAME and RNAME (uncompressed).
std::optional<std::size_t> serialOffset(std::string_view rdata) {
  std::size_t pos = 0;
  for (int n = 0; n < 2; ++n) {
    for (;;) {
      if (pos >= rdata.size()) return std::nullopt;
      const auto len = static_cast<std::uint8_t>(rdata[pos]);
      if (len == 0) {
        ++pos;
        break;
      }
      if (len > 63) return std::nullopt;
      pos += 1u + len;
    }
  }
  if (pos + 20 > rdata.size()) return std::nullopt;
  return pos;
}

std::uint64_t fnv1a(std::uint64_t h, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

// The index of the apex SOA in `rrs`, or -1.
std::ptrdiff_t findSoa(const ParsedRecords& rrs, const std::string& originWire) {
  for (std::size_t i = 0; i < rrs.size(); ++i)
    if (rrs.type(i) == kSoa && rrs.owner(i) == originWire) return static_cast<std::ptrdiff_t>(i);
  return -1;
}

SerialPolicy toZones(config::SerialPolicy p) {
  switch (p) {
    case config::SerialPolicy::Increment:
      return SerialPolicy::Increment;
    case config::SerialPolicy::UnixTime:
      return SerialPolicy::UnixTime;
    case config::SerialPolicy::Keep:
      break;
  }
  return SerialPolicy::Keep;
}

}  // namespace

std::optional<std::uint32_t> soaSerial(std::string_view rdata) {
  const auto at = serialOffset(rdata);
  if (!at) return std::nullopt;
  const auto* p = reinterpret_cast<const std::uint8_t*>(rdata.data()) + *at;
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

std::optional<SoaTimers> soaTimers(std::string_view rdata) {
  const auto at = serialOffset(rdata);
  if (!at) return std::nullopt;
  const auto* p = reinterpret_cast<const std::uint8_t*>(rdata.data()) + *at;
  auto u32 = [p](std::size_t i) {
    return (std::uint32_t{p[i]} << 24) | (std::uint32_t{p[i + 1]} << 16) |
           (std::uint32_t{p[i + 2]} << 8) | p[i + 3];
  };
  return SoaTimers{u32(0), u32(4), u32(8), u32(12), u32(16)};
}

SoaTimers soaTimers(const Zone& zone) {
  const RRset& soa = zone.soa();
  if (soa.rrs.empty()) return {};
  const Rdata& rd = soa.rrs[0];
  return soaTimers(std::string_view(soa.bytes).substr(rd.offset, rd.length)).value_or(SoaTimers{});
}

std::uint64_t contentHash(const std::vector<ParsedRR>& rrs) {
  return contentHash(ParsedRecords(rrs));
}

std::uint64_t contentHash(const ParsedRecords& rrs) {
  // Each record hashed alone, the hashes summed: the order of the file does not matter.
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < rrs.size(); ++i) {
    const ParsedRecords::Ref rr = rrs[i];
    std::uint64_t h = 14695981039346656037ull;
    h = fnv1a(h, rr.owner.data(), rr.owner.size());
    h = fnv1a(h, &rr.type, sizeof rr.type);
    h = fnv1a(h, &rr.rrclass, sizeof rr.rrclass);
    h = fnv1a(h, &rr.ttl, sizeof rr.ttl);
    const auto at = rr.type == kSoa ? serialOffset(rr.rdata) : std::nullopt;
    if (at) {  // the serial hashed as zeros
      static constexpr char kZeros[4] = {};
      h = fnv1a(h, rr.rdata.data(), *at);
      h = fnv1a(h, kZeros, 4);
      h = fnv1a(h, rr.rdata.data() + *at + 4, rr.rdata.size() - *at - 4);
    } else {
      h = fnv1a(h, rr.rdata.data(), rr.rdata.size());
    }
    sum += h * 0x9E3779B97F4A7C15ull + (h >> 29);
  }
  return sum;
}

std::shared_ptr<const ZoneSet> loadZones(const config::ServerConfig& cfg, ErrorList& errors,
                                         const ZoneSet* previous, std::int64_t unixNow,
                                         const Clock* clock, const PersistedSerials* persisted) {
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
    const auto originWire = name::fromText(spec.origin);
    // A secondary zone without a usable copy is served SERVFAIL until the
    // next transfer (the secondary controller brings it): not a load error.
    auto unavailable = [&](const char* why, const std::string& detail) {
      GEODNS_LOG_WARN("zone %s (secondary): %s%s; SERVFAIL until a transfer brings it",
                      spec.origin.c_str(), why, detail.c_str());
      if (originWire) set->addUnavailable(*originWire);
    };
    struct stat copy {};
    if (spec.secondary() && ::stat(spec.file.c_str(), &copy) != 0) {
      unavailable("no copy yet at ", spec.file);
      continue;
    }
    ErrorList zoneErrors;
    // Start-up parses big files on two threads (time to the first answer);
    // a reload in one pass: the old zones still serve meanwhile, so there is
    // no hurry, and the other core stays with the workers answering.
    ParseSplit split;
    if (previous) split.minBytes = SIZE_MAX;
    ParsedRecords rrs = parseZoneRecords(spec.file, spec.origin, zoneErrors, split);
    const std::uint64_t hash = contentHash(rrs);
    if (const std::ptrdiff_t soa = originWire ? findSoa(rrs, *originWire) : -1; soa >= 0) {
      const std::string_view soaRdata = rrs[static_cast<std::size_t>(soa)].rdata;
      const auto at = serialOffset(soaRdata);
      const auto fromFile = soaSerial(soaRdata);
      const Zone* prev = previous ? previous->findZone(name::asSpan(*originWire)) : nullptr;
      if (prev && prev->origin() != *originWire) prev = nullptr;  // a parent zone
      const PersistedSerial* kept = nullptr;                      // before a restart
      if (!prev && persisted)
        if (auto it = persisted->find(*originWire); it != persisted->end()) kept = &it->second;
      if (at && fromFile) {
        std::optional<std::uint32_t> served;
        bool changed = true;
        if (prev) {
          served = prev->serial();
          changed = prev->contentHash() != hash;
        } else if (kept) {
          served = kept->serial;
          changed = kept->contentHash != hash;
        }
        const SerialChoice choice =
            chooseSerial(toZones(spec.serial), served, *fromFile, changed, unixNow);
        if (choice.secondariesMissIt)
          GEODNS_LOG_WARN(
              "zone %s: the data changed but the serial %u did not move ahead: secondaries will "
              "not transfer it (\"serial\": \"increment\" or \"unixtime\" does that)",
              spec.origin.c_str(), static_cast<unsigned>(choice.serial));
        char* serialAt = rrs.rdataData(static_cast<std::size_t>(soa)) + *at;
        for (int k = 0; k < 4; ++k) serialAt[k] = static_cast<char>(choice.serial >> (24 - 8 * k));
      }
    }
    std::shared_ptr<ZoneSigning> signing;
    if (spec.dnssec) {
      auto origin = name::fromText(spec.origin);
      if (origin) signing = ZoneSigning::load(name::asSpan(*origin), *spec.dnssec, *clock, errors);
      if (!signing) continue;       // key errors are placed at their JSON path already
      std::uint32_t keyTtl = 3600;  // DNSKEY TTL: the SOA's, else an hour
      for (std::size_t i = 0; i < rrs.size(); ++i) {
        const ParsedRecords::Ref rr = rrs[i];
        if (generatedDnssecType(rr.type))
          zoneErrors.add(rr.where(), dns::typeToText(rr.type) +
                                         " records are made by the server in a signed zone; "
                                         "remove them from the zone file");
        if (rr.type == dns::toU16(dns::Type::SOA)) keyTtl = rr.ttl;
      }
      for (const auto& rr : signing->apexRecords(keyTtl)) rrs.push_back(rr);
    }
    // Compile even after syntax errors so that every problem is reported at once.
    auto zone = Zone::compile(spec.origin, std::move(rrs), zoneErrors, bound[zi]);
    if (zone && signing && zoneErrors.empty()) zone->sign(signing, zoneErrors);
    if (spec.secondary() && !zoneErrors.empty()) {
      unavailable("its copy does not load: ", zoneErrors.all().front().str());
      continue;
    }
    if (spec.secondary() && unixNow > 0) {
      const SoaTimers t = soaTimers(*zone);
      if (static_cast<std::int64_t>(copy.st_mtime) + t.expire < unixNow) {
        unavailable("expired: no successful refresh within the SOA expire of ",
                    std::to_string(t.expire) + " s");
        continue;
      }
    }
    if (!zoneErrors.empty()) {
      // Errors without a line are about the zone as a whole: name the file.
      for (const auto& e : zoneErrors.all())
        errors.add(e.where.empty() ? spec.file : e.where, e.message);
      continue;
    }
    zone->setContentHash(hash);
    set->add(std::move(zone));
  }
  if (errors.size() != before) return nullptr;
  set->finish();
  return set;
}

}  // namespace geodns::zones
