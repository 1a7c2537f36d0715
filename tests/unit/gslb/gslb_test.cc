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
using geodns::test::ecsOption;
using geodns::test::makeQuery;
using geodns::test::parseResponse;
using geodns::test::QuerySpec;

namespace {

const ServingSnapshot& snap() {
  static auto s = geodns::test::gslbSnapshot();
  return *s;
}

struct Result {
  test::ParsedResponse resp;
  QueryFacts facts;
  std::vector<std::string> addrs;
};

Result ask(QuerySpec spec, const char* source = "127.0.0.1", Transport t = Transport::Udp) {
  static std::vector<std::uint8_t> out(65535);
  std::fill(out.begin(), out.end(), 0xEE);
  auto q = makeQuery(spec);
  Result r;
  std::size_t len = answer(snap(), q, out, t, *IpAddress::parse(source), &r.facts);
  r.resp = parseResponse({out.data(), len});
  for (const auto& rr : r.resp.sections[0]) {
    if (rr.type == 1 || rr.type == 28 || rr.type == 5) r.addrs.push_back(test::rdataText(rr));
  }
  return r;
}

}  // namespace

struct GeoCase {
  const char* what;
  const char* name;
  std::uint16_t qtype;
  const char* ecsAddr;  // nullptr: no ECS
  std::uint8_t ecsSource;
  const char* source;
  std::vector<std::string> expect;
  int scope;  // -1: no ECS option in the response
};

TEST_CASE("region choice and ECS scope per client") {
  const GeoCase cases[] = {
      {"ECS DE /24 -> eu",
       "www.gslb.test",
       1,
       "198.51.100.0",
       24,
       "127.0.0.1",
       {"198.51.100.10"},
       24},
      {"ECS DE longer than the network -> scope capped at the record",
       "www.gslb.test",
       1,
       "198.51.100.77",
       32,
       "127.0.0.1",
       {"198.51.100.10"},
       24},
      {"ECS JP -> ap", "www.gslb.test", 1, "203.0.113.0", 24, "127.0.0.1", {"203.0.113.10"}, 24},
      // Compiled decisions (gslb/compiled.h): BR gets the default order like
      // every unmatched address around it, so the scope is the widest
      // aligned block with that outcome (64.0.0.0/2), not the record's /10.
      {"ECS BR (SA) -> default order, scope of the merged default block",
       "www.gslb.test",
       1,
       "100.64.0.0",
       10,
       "127.0.0.1",
       {"192.0.2.11"},
       2},
      {"ECS shorter than the network: scope = source",
       "www.gslb.test",
       1,
       "198.51.100.0",
       20,
       "127.0.0.1",
       {"192.0.2.11"},
       20},
      {"no ECS: resolver address, no option",
       "www.gslb.test",
       1,
       nullptr,
       0,
       "203.0.113.7",
       {"203.0.113.10"},
       -1},
      {"source prefix 0: resolver address, scope 0",
       "www.gslb.test",
       1,
       "0.0.0.0",
       0,
       "198.51.100.9",
       {"198.51.100.10"},
       0},
      {"unmatched client: default, scope of the unmatched block (not 0)",
       "www.gslb.test",
       1,
       "8.8.8.0",
       24,
       "127.0.0.1",
       {"192.0.2.11"},
       -2},
      {"CIDR label office -> eu",
       "www.gslb.test",
       1,
       "10.1.2.0",
       24,
       "127.0.0.1",
       {"198.51.100.10"},
       8},
      {"CIDR region list -> ap",
       "www.gslb.test",
       1,
       "172.16.5.0",
       24,
       "127.0.0.1",
       {"203.0.113.10"},
       12},
      {"AAAA ECS DE /48",
       "www.gslb.test",
       28,
       "2001:db8:1::",
       48,
       "127.0.0.1",
       {"2001:db8:b::10"},
       48},
      {"AAAA ECS v4-mapped IPv6",
       "www.gslb.test",
       1,
       "::ffff:198.51.100.0",
       120,
       "127.0.0.1",
       {"198.51.100.10"},
       120},
      {"nearest: JP -> ap",
       "near.gslb.test",
       1,
       "203.0.113.0",
       24,
       "127.0.0.1",
       {"203.0.113.10"},
       24},
      {"nearest: DE -> eu",
       "near.gslb.test",
       1,
       "198.51.100.0",
       24,
       "127.0.0.1",
       {"198.51.100.10"},
       24},
      // Everyone located is pulled to us-east: JP merges with its neighbours.
      {"nearest with bias pulls everyone to us-east (merged scope)",
       "biased.gslb.test",
       1,
       "203.0.113.0",
       24,
       "127.0.0.1",
       {"192.0.2.10"},
       2},
      {"ecs:false ignores ECS, scope 0",
       "noecs.gslb.test",
       1,
       "198.51.100.0",
       24,
       "127.0.0.1",
       {"192.0.2.10"},
       0},
      {"ecs:false uses the resolver",
       "noecs.gslb.test",
       1,
       "203.0.113.0",
       24,
       "198.51.100.3",
       {"198.51.100.10"},
       0},
      {"location-independent policy: scope 0",
       "plain.gslb.test",
       1,
       "198.51.100.0",
       24,
       "127.0.0.1",
       {"192.0.2.11"},
       0},
      {"CNAME pool through a wildcard",
       "x.cdn.gslb.test",
       1,
       "198.51.100.0",
       24,
       "127.0.0.1",
       {"eu.cdn.example.net."},
       24},
      {"static data at a bound name: scope 0",
       "www.gslb.test",
       16,
       "198.51.100.0",
       24,
       "127.0.0.1",
       {},
       0},
      {"NXDOMAIN: scope 0", "nope.gslb.test", 1, "198.51.100.0", 24, "127.0.0.1", {}, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    for (Transport t : {Transport::Udp, Transport::Tcp}) {
      QuerySpec q{.name = c.name, .qtype = c.qtype, .id = 7};
      if (c.ecsAddr) q.options = ecsOption(c.ecsAddr, c.ecsSource);
      auto r = ask(q, c.source, t);
      REQUIRE(r.resp.ok);
      CHECK(r.resp.rcode() == (std::string(c.name).rfind("nope", 0) == 0 ? 3 : 0));
      if (!c.expect.empty()) CHECK(r.addrs == c.expect);
      if (c.scope == -2) {
        CHECK(r.resp.ecsScope() > 0);
        CHECK(r.resp.ecsScope() <= 24);
      } else {
        CHECK(r.resp.ecsScope() == c.scope);
      }
    }
  }
}

TEST_CASE("ECS echo: family, source prefix and address as sent") {
  auto r = ask({.name = "www.gslb.test", .options = ecsOption("198.51.100.0", 22)});
  auto o = r.resp.ecsOption();
  REQUIRE(o.size() == 7);
  CHECK(o[1] == 1);
  CHECK(o[2] == 22);
  CHECK(o[4] == 198);
  CHECK(o[6] == 100);
}

TEST_CASE("malformed ECS is FORMERR") {
  auto opt = [](std::vector<std::uint8_t> body) {
    std::vector<std::uint8_t> o(4 + body.size());
    o[1] = 8;
    o[3] = static_cast<std::uint8_t>(body.size());
    for (std::size_t i = 0; i < body.size(); ++i) o[4 + i] = body[i];
    return o;
  };
  struct Bad {
    const char* what;
    std::vector<std::uint8_t> option;
  } cases[] = {
      {"family 3", opt({0, 3, 8, 0, 10})},
      {"IPv4 source over 32", opt({0, 1, 33, 0, 1, 2, 3, 4, 5})},
      {"IPv6 source over 128", opt({0, 2, 129, 0})},
      {"address longer than the prefix", opt({0, 1, 8, 0, 10, 0})},
      {"address shorter than the prefix", opt({0, 1, 24, 0, 10, 0})},
      {"bits beyond the source prefix", opt({0, 1, 23, 0, 10, 0, 1})},
      {"truncated option", opt({0, 1})},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    auto r = ask({.name = "www.gslb.test", .options = c.option});
    CHECK(r.resp.rcode() == 1);
  }
  auto two = ecsOption("198.51.100.0", 24);
  auto second = ecsOption("203.0.113.0", 24);
  for (auto b : second) two.push_back(b);
  CHECK(ask({.name = "www.gslb.test", .options = two}).resp.rcode() == 1);
}

TEST_CASE("weighted choice is reproducible and follows the weights") {
  std::map<std::string, int> seen;
  for (std::uint16_t id = 0; id < 2000; ++id) {
    auto a = ask({.name = "plain.gslb.test", .id = id});
    auto b = ask({.name = "plain.gslb.test", .id = id});
    REQUIRE(a.addrs.size() == 1);
    CHECK(a.addrs == b.addrs);  // same (qname, client, id) -> same answer
    ++seen[a.addrs[0]];
  }
  // us-east members weigh 1 and 3.
  CHECK(seen["192.0.2.10"] > 350);
  CHECK(seen["192.0.2.10"] < 650);
  CHECK(seen["192.0.2.11"] > 1350);
}

TEST_CASE("max_answers and TTL") {
  auto r = ask({.name = "two.gslb.test"});
  CHECK(r.addrs.size() == 2);
  CHECK(r.addrs[0] != r.addrs[1]);
  CHECK(r.resp.sections[0][0].ttl == 30);
  CHECK(r.resp.aa());
}

TEST_CASE("AAAA where the chosen region has no IPv6 member falls to the next region") {
  // JP clients get ap-northeast for A; it has no IPv6 member, so us-east answers AAAA.
  auto r = ask({.name = "www.gslb.test", .qtype = 28, .options = ecsOption("203.0.113.0", 24)});
  CHECK(r.addrs == std::vector<std::string>{"2001:db8:a::10"});
}

TEST_CASE("CNAME query at an address pool is NODATA") {
  auto r = ask({.name = "www.gslb.test", .qtype = 5});
  CHECK(r.resp.rcode() == 0);
  CHECK(r.resp.sections[0].empty());
  CHECK(r.resp.sections[1].size() == 1);
}

struct BadGslb {
  const char* what;
  std::string zoneExtra;
  std::string json;
  const char* expect;
};

TEST_CASE("GSLB config errors name their place") {
  const std::string pools =
      R"("regions": {"r1": {}}, "pools": {"p": {"regions": {"r1": {"members": [{"address": "192.0.2.1"}]}}}},
         "policies": {"pol": {"steps": [{"step": "weighted"}]}})";
  const BadGslb cases[] = {
      {"A beside a bound name", "www A 192.0.2.9\n",
       pools + R"(, "bindings": [{"name": "www.z.test", "pool": "p", "policy": "pol"}])",
       "www.z.test. is bound to a pool, but the zone file also has A records there"},
      {"binding outside the zones", "",
       pools + R"(, "bindings": [{"name": "www.other.test", "pool": "p", "policy": "pol"}])",
       "/bindings/0/name: 'www.other.test' is not inside any loaded zone"},
      {"unknown pool", "",
       pools + R"(, "bindings": [{"name": "www.z.test", "pool": "nope", "policy": "pol"}])",
       "/bindings/0/pool: unknown pool 'nope'"},
      {"unknown region in pool", "",
       R"("regions": {}, "pools": {"p": {"regions": {"r9": {"cname": "x.example"}}}})",
       "/pools/p/regions/r9: unknown region 'r9'"},
      {"bad member address", "",
       R"("regions": {"r1": {}}, "pools": {"p": {"regions": {"r1": {"members": [{"address": "1.2.3"}]}}}})",
       "/pools/p/regions/r1/members/0/address: not an IPv4 or IPv6 address"},
      {"unknown step", "", R"("policies": {"x": {"steps": [{"step": "magic"}]}})",
       "/policies/x/steps/0/step: unknown step 'magic'"},
      {"bad geo_map key", "",
       R"("regions": {"r1": {}}, "policies": {"x": {"steps": [{"step": "geo_map", "map": {"US": ["r1"]}}]}})",
       "/policies/x/steps/0/map/US: key must be"},
      {"geo policy without databases", "",
       R"("regions": {"r1": {}}, "policies": {"x": {"steps": [{"step": "nearest"}]}})",
       "policy x orders by location but geo has no databases"},
      {"missing database", "", R"("geo": {"databases": [{"file": "/nonexistent.mmdb"}]})",
       "/geo/databases/0/file: /nonexistent.mmdb: cannot open geo database"},
      {"missing asn database", "", R"("geo": {"asn_database": {"file": "/nonexistent.mmdb"}})",
       "/geo/asn_database/file: /nonexistent.mmdb: cannot open geo database"},
      {"geo policy whose only database is optional and missing", "",
       R"("geo": {"databases": [{"file": "/nonexistent.mmdb", "optional": true}]},
          "regions": {"r1": {}}, "policies": {"x": {"steps": [{"step": "nearest"}]}})",
       "/policies/x: policy x orders by location but geo has no databases"},
      {"bad net", "", R"("geo": {"nets": {"10.0.0.1/8": {"label": "x"}}})",
       "/geo/nets/10.0.0.1~18: host bits set"},
      {"unknown key in pool", "",
       R"("regions": {"r1": {}}, "pools": {"p": {"tll": 5, "regions": {"r1": {"cname": "a.b"}}}})",
       "/pools/p/tll: unknown key"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    test::TempDir d;
    auto zone = d.write(
        "z.zone", "$ORIGIN z.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n" + c.zoneExtra);
    std::string json = R"({"listen": ["127.0.0.1:53"], "zones": [{"origin": "z.test", "file": ")" +
                       zone + "\"}], " + c.json + "}";
    ErrorList errors;
    auto cfg = config::parseConfig(json, "g.json", errors);
    if (cfg) buildSnapshot(*cfg, errors);
    CHECK(errors.str().find(c.expect) != std::string::npos);
    if (errors.str().find(c.expect) == std::string::npos) MESSAGE(errors.str());
  }
}
