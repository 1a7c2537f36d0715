#include "server/fleet_node.h"

#include <fstream>
#include <sstream>

#include "core/log.h"

namespace geodns::server {

namespace hc = health::cluster;

std::unique_ptr<FleetNode> FleetNode::create(const config::ClusterConfig& cfg,
                                             const config::QuorumConfig& quorum, Clock& clock,
                                             health::AdminState& admin, HealthRunner& runner,
                                             std::string* err) {
  hc::EtcdOptions eo;
  eo.endpoints = cfg.etcd;
  eo.requestTimeout = std::chrono::milliseconds(cfg.timeoutMs);
  eo.connectTimeout = std::chrono::milliseconds(std::min<std::uint32_t>(cfg.timeoutMs, 500));
  eo.caFile = cfg.tls.caFile;
  eo.certFile = cfg.tls.certFile;
  eo.keyFile = cfg.tls.keyFile;
  if (!cfg.user.empty()) {
    std::ifstream in(cfg.passwordFile);
    if (!in) {
      *err = cfg.where + ": cannot read the etcd password file " + cfg.passwordFile;
      return nullptr;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string pw = ss.str();
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    eo.user = cfg.user;
    eo.password = std::move(pw);
  }
  auto client = hc::EtcdClient::create(std::move(eo), clock);
  if (!client) {
    *err = cfg.where + ": " + client.error().message;
    return nullptr;
  }
  std::unique_ptr<FleetNode> node(new FleetNode(admin, runner));
  node->client_ = std::move(client.value());
  hc::FleetOptions fo;
  fo.keys.prefix = cfg.prefix;
  fo.node = cfg.node;
  fo.site = cfg.site;
  fo.version = "geodnsd";
  fo.leaseTtlSec = cfg.leaseTtlSec;
  fo.auditRetention = std::chrono::hours(24) * cfg.auditRetentionDays;
  fo.quorum.minUp = quorum.minUp;
  fo.quorum.fraction = quorum.fraction;
  fo.quorum.latency = quorum.latency == config::LatencySourceConfig::Median
                          ? hc::LatencySource::Median
                          : hc::LatencySource::Local;
  fo.quorum.staleAfterMs = static_cast<std::int64_t>(quorum.staleAfterSec) * 1000;
  node->fleet_ = std::make_unique<hc::Fleet>(*node->client_, clock, std::move(fo), *node);
  return node;
}

FleetNode::~FleetNode() {
  if (fleet_) fleet_->stop();
}

bool FleetNode::applyOverrides(const std::vector<health::OverrideRecord>& all) {
  std::string err;
  if (!admin_.replaceShared(all, &err)) {
    GEODNS_LOG_LIMITED(Error, "cluster: cannot store the shared overrides: %s", err.c_str());
    return false;
  }
  // Applied means published: the next query on this node sees it.
  return runner_.waitPublished(runner_.requestPublish(), std::chrono::seconds(5));
}

void FleetNode::applyFailover(const hc::FailoverCommand& c) {
  // The audit record is in etcd (written with the command); the probe thread
  // applies the command on its next turn, before the publish that
  // applyOverrides() waits for. A leader's automatic decision (with its
  // timers) is always taken: it is the fleet's state.
  if (c.automatic) {
    runner_.applyFleetFailover(c, false);
    return;
  }
  // A command is kept in etcd until the next one for its pool, so a node
  // reads it again at every start; the state database already holds what it
  // led to (and what the pool's rule did since). Only its revision is noted
  // when the state in force here is that command's (same reason and kind) or
  // newer than it (times are whole seconds, so "newer" is strictly later).
  const std::string reason = c.reason + " (by " + c.identity + ")";
  bool inForce = false;
  for (const auto& f : runner_.failoverStates()) {
    if (f.pool != c.pool) continue;
    const bool itsOwn =
        f.reason == reason && f.forced == c.force && (!c.force || f.activeRegion == c.region);
    if (itsOwn || f.sinceUnix * 1000 > c.unixMs) {
      GEODNS_LOG_DEBUG("cluster: %s of pool %s already in force here",
                       c.force ? "failover" : "failback", c.pool.c_str());
      inForce = true;
    }
  }
  runner_.applyFleetFailover(c, inForce);
}

}  // namespace geodns::server
