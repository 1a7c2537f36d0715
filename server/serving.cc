#include "server/serving.h"

#include "core/wire/dns.h"
#include "core/wire/name.h"
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

std::shared_ptr<const ServingSnapshot> buildSnapshot(const config::ServerConfig& cfg,
                                                     ErrorList& errors,
                                                     const ServingSnapshot* previous,
                                                     std::int64_t unixNow) {
  auto gslb = gslb::Gslb::build(cfg.gslb, errors);
  auto zs = zones::loadZones(
      cfg, errors, previous && previous->zones ? previous->zones.get() : nullptr, unixNow);
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
  snap->keyring = std::make_shared<const tsig::Keyring>(cfg.keyring);
  for (const auto& z : cfg.zones) {
    ServingSnapshot::ZoneRules r;
    r.origin = name::fromText(z.origin).value_or(std::string());
    r.transfer = z.transfer;
    r.notify = z.notify;
    snap->zoneRules.push_back(std::move(r));
  }
  if (cfg.chaos.version) snap->chaosVersion = txtSet(*cfg.chaos.version);
  if (cfg.chaos.identity) snap->chaosIdentity = txtSet(*cfg.chaos.identity);
  return snap;
}

}  // namespace geodns::server
