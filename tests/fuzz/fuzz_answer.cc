// libFuzzer target: parse + answer over fixed zone sets (static zones, and a
// GSLB config with geo databases, CIDR maps and pools), UDP and TCP, from an
// IPv4 and an IPv6 source, and over a signed zone (tests/data/dnssec: static
// RRSIGs, online-signed wildcard/pool answers, compact denial or NSEC3 white
// lies, referrals with and without DS). Checks the invariants every response must keep.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <stdexcept>
#include <string>

#include "config/config.h"
#include "server/engine.h"
#include "support/engine_fixture.h"

namespace {
std::shared_ptr<const geodns::server::ServingSnapshot> signedSnapshot(const std::string& denial) {
  const std::string dir = GEODNS_TEST_DATA "/data/dnssec/";
  geodns::ErrorList errors;
  auto cfg = geodns::config::parseConfig(R"({
    "listen": ["127.0.0.1:53"],
    "zones": [{"origin": "signed.test", "file": ")" +
                                             dir + R"(signed.test.zone",
               "dnssec": {"keys": [")" + dir +
                                             R"(Ksigned.test.+013+64173.private",
                                   ")" + dir +
                                             R"(Ksigned.test.+015+29223.private"],
                                   "denial": ")" + denial + R"("}}],
    "geo": {"nets": {"198.51.100.0/24": {"label": "eu"}}},
    "regions": {"us": {}, "eu": {}},
    "pools": {"web": {"ttl": 30, "max_answers": 2, "regions": {
               "eu": {"members": [{"address": "198.51.100.1"}, {"address": "2001:db8::1"}]},
               "us": {"members": [{"address": "192.0.2.1"}, {"address": "192.0.2.2"}]}}},
              "alias": {"ttl": 30, "regions": {"us": {"cname": "static.signed.test"}}}},
    "policies": {"geo": {"steps": [{"step": "geo_map", "map": {"label:eu": ["eu"], "default": ["us"]}}]}},
    "bindings": [{"name": "www.signed.test", "pool": "web", "policy": "geo"},
                 {"name": "cn.signed.test", "pool": "alias", "policy": "geo"}]
  })",
                                         "fuzz-signed.json", errors);
  if (!cfg) throw std::runtime_error(errors.str());
  auto snap = geodns::server::buildSnapshot(*cfg, errors);
  if (!snap) throw std::runtime_error(errors.str());
  return snap;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto statics = geodns::test::exampleSnapshot();
  static auto gslb = geodns::test::gslbSnapshot();
  static auto signedZone = signedSnapshot("compact");
  static auto nsec3Zone = signedSnapshot("nsec3");
  static const geodns::IpAddress sources[] = {*geodns::IpAddress::parse("198.51.100.7"),
                                              *geodns::IpAddress::parse("2001:db8:2::9")};
  static std::vector<std::uint8_t> out(65535);
  const auto& snap = size % 2 ? statics : gslb;
  const auto& source = sources[(size / 2) % 2];
  for (int k = 0; k < 6; ++k) {
    const auto t = k % 2 ? geodns::server::Transport::Tcp : geodns::server::Transport::Udp;
    const auto& zones = k < 2 ? *snap : k < 4 ? *signedZone : *nsec3Zone;
    std::size_t n = geodns::server::answer(zones, {data, size}, out, t, source);
    if (n == 0) continue;
    if (n < 12 || size < 12) __builtin_trap();
    if (std::memcmp(out.data(), data, 2) != 0) __builtin_trap();  // id echoed
    if (!(out[2] & 0x80)) __builtin_trap();                       // QR set
    if (t == geodns::server::Transport::Udp && n > 1232) __builtin_trap();
  }
  return 0;
}
