#pragma once
// Loads the zones a config names: every zone file parsed and compiled, GSLB
// bindings attached to the longest zone that holds them.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/clock.h"
#include "core/result.h"
#include "zones/zone.h"
#include "zones/zone_file.h"

namespace geodns::zones {

// The serial a zone was served with before a restart, and the hash of its
// data then (Zone::contentHash), as the state database keeps them: keyed by
// the zone's origin in lowercase wire form.
struct PersistedSerial {
  std::uint32_t serial = 0;
  std::uint64_t contentHash = 0;
};
using PersistedSerials = std::unordered_map<std::string, PersistedSerial>;

// Parses and compiles every zone of `cfg`; all errors of all zones are collected.
// Each binding name is attached (as its index in cfg.gslb.bindings) to a node
// of the longest zone containing it; a binding outside every zone is an error.
// A zone with "dnssec" has its keys loaded and checked and every static RRset
// signed at `clock`'s now (nullptr: the system clock); `clock` must outlive
// the zones.
//
// A secondary zone ("primary") is read from its persisted copy (`file`, as
// the last transfer wrote it). Without a copy, with one that does not load,
// or with one older (file mtime, refreshed at each successful SOA check)
// than the SOA's expire at `unixNow` (when > 0), the zone is added as
// unavailable (ZoneSet::addUnavailable: SERVFAIL) instead of failing the
// load: the next transfer brings it.
//
// Each zone's "serial" policy (zones/serial.h) is applied before compiling
// (and before signing): `previous` is the zone set served now (null at
// start-up) and gives the serial served and whether the data changed;
// `unixNow` is the wall clock in seconds. The chosen serial is written into the SOA.
// A zone that `previous` does not serve (at start-up: every zone) takes the
// serial served and the data hash from `persisted` when it has the zone, so
// that "increment" and "unixtime" go on from where they were before a restart.
// Big zone files are parsed on two threads at start-up (`previous` null),
// in one pass on a reload (zones/zone_file.h: ParseSplit).
std::shared_ptr<const ZoneSet> loadZones(const config::ServerConfig& cfg, ErrorList& errors,
                                         const ZoneSet* previous = nullptr,
                                         std::int64_t unixNow = 0, const Clock* clock = nullptr,
                                         const PersistedSerials* persisted = nullptr);
// The serial in SOA RDATA (uncompressed wire: MNAME, RNAME, SERIAL, ...), or
// nullopt when the RDATA is too short.
std::optional<std::uint32_t> soaSerial(std::string_view rdata);
// The timers of SOA RDATA (RFC 1035 3.3.13), seconds; nullopt when too short.
struct SoaTimers {
  std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};
std::optional<SoaTimers> soaTimers(std::string_view rdata);
// The SOA timers of a compiled zone.
SoaTimers soaTimers(const Zone& zone);
// Hash of the records with the SOA serial left out, independent of their order.
std::uint64_t contentHash(const std::vector<ParsedRR>& rrs);
std::uint64_t contentHash(const ParsedRecords& rrs);

}  // namespace geodns::zones
