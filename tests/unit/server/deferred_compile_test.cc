// limits.defer_geo_compile_nodes (server/serving.h compileDeferred): a server
// starting on big geo databases answers before it compiles them, locating
// clients from the databases (the database network as ECS scope), then
// publishes the compiled decisions of the same config: the same regions,
// then the compiled answers and (widest) scopes. Also: which policies make
// the location tries (the compile's input) keep coordinates.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "server/engine.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"

using namespace geodns;
using namespace geodns::server;

namespace {

std::shared_ptr<const ServingSnapshot> build(std::uint64_t deferAtNodes) {
  ErrorList errors;
  auto cfg = config::parseConfig(
      test::gslbConfigText(std::string(GEODNS_TEST_DATA) + "/integration/zones"),
      "gslb-config.json", errors);
  REQUIRE_MESSAGE(cfg, errors.str());
  auto snap =
      buildSnapshot(*cfg, errors, nullptr, 0, nullptr, gslb::Gslb::GeoOpen::Compiled, deferAtNodes);
  REQUIRE_MESSAGE(snap, errors.str());
  return snap;
}

struct Answer {
  std::vector<std::string> addresses;
  int scope = -1;
  std::int32_t region = -1;
};

Answer ask(const ServingSnapshot& s, const char* name, const char* client, std::uint8_t source) {
  test::QuerySpec spec;
  spec.name = name;
  spec.options = test::ecsOption(client, source);
  const auto q = test::makeQuery(spec);
  std::vector<std::uint8_t> out(4096);
  QueryFacts facts;
  const std::size_t n = answer(s, q, out, Transport::Udp, {}, &facts);
  const auto r = test::parseResponse({out.data(), n});
  Answer a;
  for (const auto& rr : r.sections[0]) a.addresses.push_back(test::rdataText(rr));
  a.scope = r.ecsScope();
  a.region = facts.region;
  return a;
}

struct ClientCase {
  const char* name;
  const char* client;
  std::uint8_t source;
};

}  // namespace

TEST_CASE(
    "deferred geo compile: answers from the databases first, then the same answers compiled") {
  const auto compiledFirst = build(0);
  const auto deferred = build(1);  // the fixture's 247 nodes are over the limit of 1
  const auto notDeferred = build(1000000);
  REQUIRE(deferred->gslb->triesDeferred);
  CHECK_FALSE(deferred->gslb->locationTries[0]);
  CHECK_FALSE(notDeferred->gslb->triesDeferred);
  CHECK(notDeferred->gslb->locationTries[0]);
  CHECK(compileDeferred(*notDeferred) == nullptr);  // nothing left to do
  const auto tried = compileDeferred(*deferred);
  REQUIRE(tried);
  // The decisions are left for the health runner's publish, which compiles
  // them with its view: done here as it does.
  CHECK_FALSE(tried->compiled);
  auto published = std::make_shared<ServingSnapshot>(*tried);
  compileSnapshot(*published, nullptr, false);
  const std::shared_ptr<const ServingSnapshot> after = published;
  CHECK(after->gslb->configId == deferred->gslb->configId);  // health and drains still apply
  CHECK_FALSE(after->gslb->triesDeferred);
  CHECK(after->gslb->locationTries[0]);
  CHECK(after->gslb->locationTries[1]);
  CHECK(after->zones == deferred->zones);
  REQUIRE(deferred->compiled);
  REQUIRE(after->compiled);
  CHECK(deferred->compiled->stats.trees == 0);  // nothing compiled yet: the pipeline answers
  CHECK(after->compiled->stats.trees > 0);

  const ClientCase cases[] = {
      {"www.gslb.test", "198.51.100.0", 24}, {"www.gslb.test", "192.0.2.0", 24},
      {"www.gslb.test", "203.0.113.0", 24},  {"www.gslb.test", "10.1.2.0", 24},
      {"www.gslb.test", "20.1.2.0", 24},     {"near.gslb.test", "198.51.100.0", 24},
      {"near.gslb.test", "203.0.113.0", 24}, {"www.gslb.test", "2001:db8:1::", 48},
      {"x.cdn.gslb.test", "192.0.2.0", 24},  {"www.gslb.test", "172.16.5.0", 24},
  };
  std::size_t widened = 0;
  for (const ClientCase& c : cases) {
    const std::string where = std::string(c.name) + " from " + c.client;
    CAPTURE(where);
    const Answer before = ask(*deferred, c.name, c.client, c.source);
    const Answer now = ask(*after, c.name, c.client, c.source);
    const Answer ref = ask(*compiledFirst, c.name, c.client, c.source);
    // The same region while compiling (a weighted pick among its members
    // follows the scope, so the member may differ), then the same answer.
    CHECK(before.region == ref.region);
    CHECK(before.region >= 0);
    CHECK(now.addresses == ref.addresses);
    CHECK(now.scope == ref.scope);  // then the compiled scope
    // The database network is never wider than the compiled block.
    CHECK(before.scope >= now.scope);
    if (before.scope > now.scope) ++widened;
  }
  CHECK(widened > 0);
}

// The location tries keep coordinates only when a bound policy orders by
// distance: a defined but unbound nearest policy made DB-IP's 510 classes
// ~700,000 (+268 MB, +6 s of load).
TEST_CASE("location tries keep coordinates only for a bound nearest policy") {
  struct Case {
    const char* what;
    std::vector<std::string> unbind;  // binding names removed from the fixture config
    bool coords;
  };
  const Case cases[] = {
      {"near and biased bound", {}, true},
      {"only biased bound", {"near.gslb.test"}, true},
      {"nearest policies defined, unbound", {"near.gslb.test", "biased.gslb.test"}, false},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.what));
    auto j = nlohmann::json::parse(
        test::gslbConfigText(std::string(GEODNS_TEST_DATA) + "/integration/zones"));
    auto& bindings = j["bindings"];
    for (auto it = bindings.begin(); it != bindings.end();)
      if (std::find(c.unbind.begin(), c.unbind.end(), (*it)["name"].get<std::string>()) !=
          c.unbind.end())
        it = bindings.erase(it);
      else
        ++it;
    ErrorList errors;
    auto cfg = config::parseConfig(j.dump(), "gslb-config.json", errors);
    REQUIRE_MESSAGE(cfg, errors.str());
    auto g = gslb::Gslb::build(cfg->gslb, errors);
    REQUIRE_MESSAGE(g, errors.str());
    CHECK(g->locationCoords == c.coords);
    REQUIRE(g->locationTries[0]);
    bool anyCoords = false;
    for (const auto& cls : g->locationTries[0]->classes) anyCoords = anyCoords || cls.hasCoords;
    CHECK(anyCoords == c.coords);
  }
}
