#pragma once
// A geodnsd node of a fleet (config "cluster"): the etcd client and the
// health::cluster::Fleet, with what the fleet applies delivered to this
// process — shared overrides into AdminState (and so RocksDB), failover
// commands to the probe thread, peers' verdicts to the next publish.
#include <memory>
#include <string>

#include "config/config.h"
#include "core/clock.h"
#include "health/admin_state.h"
#include "health/cluster/etcd_client.h"
#include "health/cluster/fleet.h"
#include "server/health_runner.h"

namespace geodns::server {

class FleetNode final : public health::cluster::FleetSink {
 public:
  // Checks the options and reads the password file; nullptr with `err`.
  // Nothing is contacted yet: start() does that, and a node whose etcd is
  // down starts and serves from its state database.
  static std::unique_ptr<FleetNode> create(const config::ClusterConfig& cfg,
                                           const config::QuorumConfig& quorum, Clock& clock,
                                           health::AdminState& admin, HealthRunner& runner,
                                           std::string* err);
  ~FleetNode() override;
  void start() { fleet_->start(); }
  void stop() { fleet_->stop(); }
  health::cluster::Fleet& fleet() noexcept { return *fleet_; }

  bool applyOverrides(const std::vector<health::OverrideRecord>& all) override;
  void applyFailover(const health::cluster::FailoverCommand& c) override;
  // The probe thread reads Fleet::peersVersion() on every turn: a change
  // turns it at once, so the quorum's verdict is published without the idle
  // wait.
  void peersChanged() override { runner_.wake(); }

 private:
  FleetNode(health::AdminState& admin, HealthRunner& runner) : admin_(admin), runner_(runner) {}
  health::AdminState& admin_;
  HealthRunner& runner_;
  std::unique_ptr<health::cluster::EtcdClient> client_;
  std::unique_ptr<health::cluster::Fleet> fleet_;
};

}  // namespace geodns::server
