// libFuzzer target: the values a fleet node reads from etcd (outside input:
// any client with write access to the prefix can put them). The first byte
// picks the key a value arrives under (an override, a failover command, a
// node record, a verdict shard); the rest is the value. Invariants: nothing
// crashes; an override in force has the kind and target its key names; a
// failover command in force names its pool and, when forced, a region;
// verdicts are only filed under the shard of their target id.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "health/cluster/fleet.h"

using namespace geodns::health::cluster;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const FleetKeys keys{"/f/"};
  const std::string value(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string tid = targetIdOf("tcp 127.0.0.1:80");
  std::string key;
  switch (data[0] % 6) {
    case 0:
      key = keys.overrideKey("region_drain", "eu");
      break;
    case 1:
      key = keys.overrideKey("member_load", "192.0.2.1");
      break;
    case 2:
      key = keys.failoverKey("web");
      break;
    case 3:
      key = keys.nodeKey("n1");
      break;
    case 4:
      key = keys.healthKey("n1", shardOf(tid));
      break;
    default:
      key = keys.healthKey("n1", data[0] % kShards);
      break;
  }
  const KeyValue kv{key, value, 5, 5, 1, 0};
  const std::vector<WatchEvent> events{{WatchEvent::Type::Put, kv, std::nullopt}};

  ControlView control(keys);
  control.reset({}, 1);
  control.apply(events, 6);
  for (const auto& [k, o] : control.overrides())
    if (keys.overrideKey(o.kind, o.target) != key || k != o.kind + ":" + o.target) __builtin_trap();
  for (const auto& [p, c] : control.failovers())
    if (p != "web" || c.pool != "web" || (c.force && c.region.empty())) __builtin_trap();

  PeerView peers(keys, "self");
  peers.resetNodes({{keys.nodeKey("n1"), R"({"name":"n1"})", 2, 2, 1, 0}});
  peers.applyNodes(events);
  peers.applyHealth(events);
  for (const auto& v : peers.verdicts(tid))
    if (v.node != "n1") __builtin_trap();
  (void)decodeAudit(value);
  return 0;
}
