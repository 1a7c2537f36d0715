#pragma once
// `geodnsd explain`: what the server would answer for a name, type and
// client, and why (location, region order per step, chosen members, TTL,
// ECS scope). Control plane only.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/ip.h"
#include "health/cluster/quorum.h"
#include "health/store.h"
#include "server/serving.h"

namespace geodns::server {

struct ExplainRequest {
  std::string name;
  std::string type = "A";
  IpPrefix client;           // address and prefix
  bool clientIsEcs = false;  // given as IP/PREFIX: sent as ECS from `resolver`
  IpAddress resolver;
  bool json = false;
  // A fleet node (the admin API): every vantage's verdict on a probe target
  // (index into the snapshot's gslb probes), shown under each member's health.
  std::function<std::vector<health::cluster::VantageVerdict>(std::size_t target)> vantages;
};

// Returns the report; `ok` false with the report holding the error. When the
// snapshot carries a HealthView (from the state database), decisions use it
// and each member's health is shown.
std::string explain(const ServingSnapshot& snap, const ExplainRequest& req, bool& ok);

// A HealthView for `gslb` from persisted state (for explain beside a
// server): target health, the active tier of each failover pool, and the
// operator overrides (drains, pushed loads) that have not expired at
// `nowUnix` (the 2-argument form: now). Null, with `err` set, when the
// overrides cannot be read: an explain without them would be wrong.
std::shared_ptr<const health::HealthView> healthFromStore(health::Store& store,
                                                          const gslb::Gslb& gslb,
                                                          std::string* err = nullptr);
std::shared_ptr<const health::HealthView> healthFromStore(health::Store& store,
                                                          const gslb::Gslb& gslb,
                                                          std::int64_t nowUnix,
                                                          std::string* err = nullptr);

// `geodnsd status`: every probed target of the config with its persisted
// state, since when, consecutive counts, latency, load and last error.
std::string statusReport(health::Store& store, const ServingSnapshot& snap, bool json);

}  // namespace geodns::server
