// The engine over a signed zone: pool answers pre-warmed at snapshot build are
// served from the signature cache without signing on the worker.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "server/engine.h"
#include "server/metrics.h"
#include "server/serving.h"
#include "support/dns_test_util.h"
#include "support/temp_dir.h"
#include "zones/signing.h"

using namespace geodns;

namespace {
std::string keygen(const test::TempDir& dir, const char* args) {
  const std::string cmd = "cd '" + dir.path().string() + "' && ldns-keygen " + args;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[256] = {};
  const bool got = std::fgets(buf, sizeof buf, p) != nullptr;
  REQUIRE(::pclose(p) == 0);
  REQUIRE(got);
  std::string base(buf);
  while (!base.empty() && (base.back() == '\n' || base.back() == '\r')) base.pop_back();
  return (dir.path() / base).string() + ".private";
}
}  // namespace

TEST_CASE("signed zone: pool answers are pre-warmed at snapshot build, served without signing") {
  test::TempDir dir;
  const std::string csk = keygen(dir, "-a ED25519 -k s.test");
  const std::string zone = dir.write("s.zone",
                                     "$ORIGIN s.test.\n@ SOA ns h 1 2 3 4 30\n@ NS ns\n"
                                     "ns A 192.0.2.53\nalias CNAME WWW\n");
  ErrorList errors;
  auto cfg = config::parseConfig(R"({
    "listen": ["127.0.0.1:53"],
    "zones": [{"origin": "s.test", "file": ")" +
                                     zone + R"(", "dnssec": {"keys": [")" + csk +
                                     R"("]}}],
    "geo": {"nets": {"10.1.0.0/16": {"label": "eu"}, "10.2.0.0/16": {"label": "ap"}}},
    "regions": {"us": {}, "eu": {}, "ap": {}},
    "pools": {"web": {"ttl": 30, "max_answers": 2, "regions": {
               "eu": {"members": [{"address": "198.51.100.1"}, {"address": "198.51.100.2"},
                                  {"address": "198.51.100.3"}]},
               "us": {"members": [{"address": "192.0.2.1"}, {"address": "2001:db8::1"}]},
               "ap": {"members": [{"address": "203.0.113.1"}]}}}},
    "policies": {"geo": {"steps": [{"step": "geo_map",
                 "map": {"label:eu": ["eu"], "label:ap": ["ap"], "default": ["us"]}}]}},
    "bindings": [{"name": "WWW.s.test", "pool": "web", "policy": "geo"}]
  })",
                                 "s.json", errors);
  REQUIRE_MESSAGE(cfg, errors.str());
  auto snap = server::buildSnapshot(*cfg, errors);
  REQUIRE_MESSAGE(snap, errors.str());
  const auto& online = snap->zones->zones()[0]->signing()->online();
  REQUIRE(online.size() == 1);
  // eu: 3 singles + 3 pairs; us: 1 A + 1 AAAA; ap: 1.
  CHECK(online[0].cache->stats().entries == 9);
  CHECK(online[0].cache->stats().signs == 0);

  std::vector<std::uint8_t> out(65535);
  const IpAddress source = *IpAddress::parse("192.0.2.77");
  server::QueryCounters counters;
  struct Case {
    const char* name;
    std::uint16_t qtype;
    const char* ecs;
  };
  const Case cases[] = {{"www.s.test", 1, "10.1.0.0"},
                        {"WWW.S.TEST", 1, "10.2.0.0"},
                        {"www.s.test", 1, "10.9.0.0"},
                        {"www.s.test", 28, "10.9.0.0"},
                        {"alias.s.test", 1, "10.1.0.0"}};
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    auto q = test::makeQuery({.name = c.name,
                              .qtype = c.qtype,
                              .edns = true,
                              .dnssecOk = true,
                              .options = test::ecsOption(c.ecs, 24)});
    server::QueryFacts facts;
    const std::size_t n = server::answer(*snap, q, out, server::Transport::Udp, source, &facts);
    REQUIRE(n > 0);
    CHECK(facts.outcome == server::Outcome::Answer);
    CHECK_FALSE(facts.signFailed);
    CHECK(facts.dnssec);
    counters.record(facts);
    const auto msg = test::parseResponse({out.data(), n});
    REQUIRE(msg.ok);
    bool rrsig = false;
    for (const auto& rr : msg.sections[0]) rrsig = rrsig || rr.type == 46;
    CHECK(rrsig);
  }
  CHECK(online[0].cache->stats().signs == 0);  // every pool answer was a cache hit
  CHECK(counters.dnssec.load() == std::size(cases));
  CHECK(counters.signFailures.load() == 0);
  // Without DO: not counted, no RRSIG.
  server::QueryFacts facts;
  auto q = test::makeQuery({.name = "www.s.test", .edns = true});
  REQUIRE(server::answer(*snap, q, out, server::Transport::Udp, source, &facts) > 0);
  CHECK_FALSE(facts.dnssec);
}
