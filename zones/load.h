#pragma once
// Loads the zones a config names: every zone file parsed and compiled, GSLB
// bindings attached to the longest zone that holds them.
#include <memory>

#include "config/config.h"
#include "core/clock.h"
#include "core/result.h"
#include "zones/zone.h"

namespace geodns::zones {

// Parses and compiles every zone of `cfg`; all errors of all zones are collected.
// Each binding name is attached (as its index in cfg.gslb.bindings) to a node
// of the longest zone containing it; a binding outside every zone is an error.
// A zone with "dnssec" has its keys loaded and checked and every static RRset
// signed at `clock`'s now (nullptr: the system clock); `clock` must outlive
// the zones.
std::shared_ptr<const ZoneSet> loadZones(const config::ServerConfig& cfg, ErrorList& errors,
                                         const Clock* clock = nullptr);

}  // namespace geodns::zones
