#include "server/serving.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/wire/dns.h"
#include "server/metrics.h"
#include "zones/load.h"

namespace geodns::server {

namespace {
zones::RRset txtSet(const std::string& s) {
  zones::RRset set;
  set.type = dns::toU16(dns::Type::TXT);
  set.ttl = 0;
  set.bytes = std::string(1, static_cast<char>(s.size())) + s;
  zones::Rdata rd;
  rd.length = static_cast<std::uint16_t>(set.bytes.size());
  set.rrs.push_back(rd);
  return set;
}
}  // namespace

void compileSnapshot(ServingSnapshot& snap, const gslb::CompiledDecisions* previous, bool log) {
  SteadyClock clock;
  const TimePoint start = clock.now();
  snap.compiled = gslb::compileDecisions(snap.gslb, snap.health, previous);
  if (!log || !snap.gslb) return;
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(clock.now() - start).count();
  const auto& st = snap.compiled->stats;
  std::size_t trieBytes = 0, classes = 0;
  for (const auto& t : snap.gslb->locationTries)
    if (t) {
      trieBytes += t->bytes();
      classes += t->classes.size();
    }
  if (st.trees > 0)
    GEODNS_LOG_INFO(
        "gslb: compiled %zu decision trees (%zu outcomes, %zu prefixes, %zu KiB; location tries: "
        "%zu classes, %zu KiB) from %zu evaluations in %.1f ms",
        st.trees, st.outcomes, st.leaves, st.bytes / 1024, classes, trieBytes / 1024, st.evaluated,
        static_cast<double>(us) / 1000.0);
}

std::shared_ptr<const ServingSnapshot> buildSnapshot(const config::ServerConfig& cfg,
                                                     ErrorList& errors) {
  auto gslb = gslb::Gslb::build(cfg.gslb, errors);
  auto zs = zones::loadZones(cfg, errors);
  if (!zs || !gslb) return nullptr;
  auto snap = std::make_shared<ServingSnapshot>();
  snap->zones = std::move(zs);
  snap->limits = cfg.limits;
  snap->rrl = cfg.rrl;
  std::vector<std::string> poolNames, regionNames;
  for (const auto& p : gslb->pools) poolNames.push_back(p.name);
  for (const auto& r : gslb->regions) regionNames.push_back(r.name);
  snap->answers = std::make_shared<AnswerCounters>(std::move(poolNames), std::move(regionNames),
                                                   gslb->memberCells);
  snap->gslb = std::move(gslb);
  compileSnapshot(*snap, nullptr, true);
  if (cfg.chaos.version) snap->chaosVersion = txtSet(*cfg.chaos.version);
  if (cfg.chaos.identity) snap->chaosIdentity = txtSet(*cfg.chaos.identity);
  return snap;
}

}  // namespace geodns::server
