// shed_load, latency and capacity_weighted, driven by hand-made HealthViews
// (load and latency per target) through the real engine.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "server/engine.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;

namespace {

const char* kConfig = R"({
  "listen": ["127.0.0.1:53"],
  "zones": [{"origin": "l.test", "file": "ZONE"}],
  "regions": {"a": {}, "b": {}},
  "probes": {"p": {"type": "tcp", "port": 80}},
  "pools": {
    "web": {"ttl": 60, "probe": "p", "max_answers": 4, "regions": {
      "a": {"members": [{"address": "192.0.2.1"}, {"address": "192.0.2.2"}, {"address": "192.0.2.3"}]},
      "b": {"members": [{"address": "198.51.100.1"}]}}},
    "one": {"ttl": 60, "probe": "p", "max_answers": 1, "regions": {
      "a": {"members": [{"address": "192.0.2.1"}, {"address": "192.0.2.2"}, {"address": "192.0.2.3"}]},
      "b": {"members": [{"address": "198.51.100.1"}]}}}
  },
  "policies": {
    "shed": {"steps": [{"step": "shed_load", "high": 0.9, "low": 0.5}]},
    "fast": {"steps": [{"step": "latency", "slack_ms": 20}]},
    "capacity": {"steps": [{"step": "shed_load", "high": 0.9, "low": 0.5}, {"step": "capacity_weighted"}]}
  },
  "bindings": [
    {"name": "shed.l.test", "pool": "web", "policy": "shed"},
    {"name": "fast.l.test", "pool": "one", "policy": "fast"},
    {"name": "cap.l.test", "pool": "one", "policy": "capacity"}
  ]
})";

struct Target {
  float load = -1;
  float latencyMs = 0;
  bool up = true;
};

struct Fixture {
  test::TempDir dir;
  std::shared_ptr<const ServingSnapshot> base;
  Fixture() { base = test::snapshotFromJson(dir, "l.test", kConfig); }
  std::shared_ptr<const ServingSnapshot> with(const std::map<std::string, Target>& targets) const {
    auto hv = std::make_shared<health::HealthView>();
    hv->config = base->gslb->configId;
    const auto& probes = base->gslb->probes;
    hv->targets.resize(probes.size());
    for (std::size_t i = 0; i < probes.size(); ++i) {
      auto& h = hv->targets[i];
      h.state = health::State::Up;
      h.changeInSec = 100;
      auto it = targets.find(probes[i].address.str());
      if (it == targets.end()) continue;
      h.load = it->second.load;
      h.latencyMs = it->second.latencyMs;
      h.up = it->second.up;
    }
    auto s = std::make_shared<ServingSnapshot>(*base);
    s->health = hv;
    return s;
  }
};

std::vector<std::string> ask(const ServingSnapshot& snap, const char* name, std::uint16_t id = 1) {
  std::vector<std::uint8_t> out(4096);
  auto q = test::makeQuery({.name = name, .id = id});
  auto n = answer(snap, q, out, Transport::Udp, *IpAddress::parse("127.0.0.1"));
  auto r = test::parseResponse({out.data(), n});
  std::vector<std::string> addrs;
  for (const auto& rr : r.sections[0]) addrs.push_back(test::rdataText(rr));
  return addrs;
}

using V = std::vector<std::string>;

}  // namespace

struct ShedCase {
  const char* what;
  std::map<std::string, Target> targets;
  V expect;
};

TEST_CASE("shed_load: members over the high watermark stop receiving answers; regions spill") {
  Fixture f;
  const ShedCase cases[] = {
      {"no readings: nothing shed", {}, {"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
      {"one member over high",
       {{"192.0.2.1", {0.95f}}, {"192.0.2.2", {0.1f}}, {"192.0.2.3", {0.1f}}},
       {"192.0.2.2", "192.0.2.3"}},
      {"between the watermarks: still answered",
       {{"192.0.2.1", {0.7f}}},
       {"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
      {"region over high on average: spill to b",
       {{"192.0.2.1", {0.95f}}, {"192.0.2.2", {0.92f}}, {"192.0.2.3", {0.9f}}},
       {"198.51.100.1"}},
      {"every region over: answered anyway",
       {{"192.0.2.1", {0.95f}},
        {"192.0.2.2", {0.95f}},
        {"192.0.2.3", {0.95f}},
        {"198.51.100.1", {0.99f}}},
       {"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    CHECK(ask(*f.with(c.targets), "shed.l.test") == c.expect);
  }
}

struct LatencyCase {
  const char* what;
  std::map<std::string, Target> targets;
  V expect;
};

TEST_CASE("latency: regions within slack_ms of the best first, then the geo order") {
  Fixture f;
  const LatencyCase cases[] = {
      {"no latency data: order kept", {}, {"192.0.2.1"}},
      {"b much faster", {{"192.0.2.1", {-1, 80}}, {"198.51.100.1", {-1, 10}}}, {"198.51.100.1"}},
      {"a within slack of b: order kept",
       {{"192.0.2.1", {-1, 25}}, {"198.51.100.1", {-1, 10}}},
       {"192.0.2.1"}},
      {"a region's best member counts",
       {{"192.0.2.1", {-1, 90}}, {"192.0.2.2", {-1, 12}}, {"198.51.100.1", {-1, 10}}},
       {"192.0.2.1"}},
      {"down members' latency is ignored",
       {{"192.0.2.1", {-1, 5, false}},
        {"192.0.2.2", {-1, 90}},
        {"192.0.2.3", {-1, 90}},
        {"198.51.100.1", {-1, 10}}},
       {"198.51.100.1"}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    CHECK(ask(*f.with(c.targets), "fast.l.test") == c.expect);
  }
}

TEST_CASE("capacity_weighted: weight x load factor x health") {
  Fixture f;
  // Load factors with low 0.5, high 0.9: 0.5 -> 1, 0.7 -> 0.5, 0.85 -> 0.125.
  auto snap = f.with({{"192.0.2.1", {0.5f}}, {"192.0.2.2", {0.7f}}, {"192.0.2.3", {0.85f}}});
  std::map<std::string, int> seen;
  const int n = 3000;
  for (int id = 0; id < n; ++id)
    ++seen[ask(*snap, "cap.l.test", static_cast<std::uint16_t>(id)).at(0)];
  const double total = 1 + 0.5 + 0.125;
  CHECK(seen["192.0.2.1"] == doctest::Approx(n * 1 / total).epsilon(0.08));
  CHECK(seen["192.0.2.2"] == doctest::Approx(n * 0.5 / total).epsilon(0.12));
  CHECK(seen["192.0.2.3"] == doctest::Approx(n * 0.125 / total).epsilon(0.3));
  // A down member gets nothing.
  auto down =
      f.with({{"192.0.2.1", {0.5f, 0, false}}, {"192.0.2.2", {0.5f}}, {"192.0.2.3", {0.5f}}});
  for (int id = 0; id < 200; ++id)
    CHECK(ask(*down, "cap.l.test", static_cast<std::uint16_t>(id)).at(0) != "192.0.2.1");
}
