// Operator overrides: drains and pushed load through the probe thread's
// publish (HealthRunner turned by hand) and the engine; expiry on a
// FakeClock; the RocksDB admin and audit column families; tokens; metrics.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "health/admin_state.h"
#include "health/store.h"
#include "server/admin/api.h"
#include "server/engine.h"
#include "server/health_runner.h"
#include "server/metrics.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"
#include "support/fakes.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;

namespace {

// Pool "web": a (3 members), b (1), c (1). "geo" policy: a then b for
// everyone. "solo" lists only a. "nd" pool answers NODATA when all is drained.
const char* kConfig = R"({
  "listen": ["127.0.0.1:53"],
  "zones": [{"origin": "d.test", "file": "ZONE"}],
  "regions": {"a": {}, "b": {}, "c": {}},
  "probes": {"p": {"type": "tcp", "port": 80, "interval_ms": 1000, "rise": 1, "fall": 1, "jitter": 0}},
  "pools": {
    "web": {"ttl": 45, "max_answers": 4, "regions": {
      "a": {"members": [{"address": "192.0.2.1"}, {"address": "192.0.2.2"}, {"address": "192.0.2.3"}]},
      "b": {"members": [{"address": "198.51.100.1"}]},
      "c": {"members": [{"address": "203.0.113.1"}]}}},
    "nd": {"ttl": 20, "all_down": "nodata", "regions": {
      "a": {"members": [{"address": "192.0.2.1"}]}}},
    "probed": {"ttl": 20, "probe": "p", "regions": {
      "a": {"members": [{"address": "192.0.2.51"}]},
      "b": {"members": [{"address": "198.51.100.51"}]},
      "c": {"members": [{"address": "203.0.113.51"}]}}},
    "shed": {"ttl": 20, "max_answers": 4, "regions": {
      "a": {"members": [{"address": "192.0.2.1"}, {"address": "192.0.2.2"}]},
      "b": {"members": [{"address": "198.51.100.1"}]}}}
  },
  "policies": {
    "ordered": {"steps": []},
    "solo": {"steps": [{"step": "first_n", "n": 1}]},
    "shed": {"steps": [{"step": "shed_load", "high": 0.9, "low": 0.5}]},
    "soloup": {"steps": [{"step": "up"}, {"step": "first_n", "n": 1}]}
  },
  "bindings": [
    {"name": "web.d.test", "pool": "web", "policy": "ordered"},
    {"name": "solo.d.test", "pool": "web", "policy": "solo"},
    {"name": "nd.d.test", "pool": "nd", "policy": "ordered"},
    {"name": "shed.d.test", "pool": "shed", "policy": "shed"},
    {"name": "soloup.d.test", "pool": "probed", "policy": "soloup"}
  ]
})";

using V = std::vector<std::string>;

struct Answer {
  std::uint16_t rcode = 0;
  V addrs;
  std::uint32_t ttl = 0;
};

Answer ask(const ServingSnapshot& snap, const char* name) {
  std::vector<std::uint8_t> out(4096);
  auto q = test::makeQuery({.name = name});
  auto n = answer(snap, q, out, Transport::Udp, *IpAddress::parse("127.0.0.1"));
  auto r = test::parseResponse({out.data(), n});
  Answer a;
  a.rcode = r.rcode();
  for (const auto& rr : r.sections[0]) {
    a.addrs.push_back(test::rdataText(rr));
    a.ttl = rr.ttl;
  }
  return a;
}

struct Rig {
  test::TempDir dir;
  std::shared_ptr<const ServingSnapshot> base;
  test::FakeClock clock;
  test::FakeRng rng{0.0};
  test::FakeTransport transport{clock};
  health::MemStore store;
  health::AdminState admin{store, clock};
  SnapshotHolder holder;
  HealthRunner runner{holder, clock, rng, transport, &store};
  Rig() {
    base = test::snapshotFromJson(dir, "d.test", kConfig);
    runner.attachAdmin(&admin);
    runner.prime(base);
  }
  std::vector<health::AuditRecord> auditLog(std::size_t limit) {
    std::vector<health::AuditRecord> out;
    std::string err;
    REQUIRE(store.audit(limit, out, &err));
    return out;
  }
  std::vector<health::OverrideRecord> storedOverrides() {
    std::vector<health::OverrideRecord> out;
    std::string err;
    REQUIRE(store.allOverrides(out, &err));
    return out;
  }
  // One probe-thread turn: what a drain waits for before the API answers.
  void publish() {
    const auto ticket = runner.requestPublish();
    runner.turn(Duration::zero());
    REQUIRE(runner.waitPublished(ticket, Duration::zero()));
  }
  void drain(const std::string& kind, const std::string& target, std::int64_t expiresIn = 0) {
    const std::string k = kind + "_drain";
    const std::int64_t now = clock.unixSeconds();
    std::string err;
    REQUIRE(admin.put({health::AdminState::key(k, target), k, target, "test", 0, now,
                       expiresIn ? now + expiresIn : 0, "t"},
                      {0, "drain_" + kind, target, "test", "t", ""}, &err));
  }
  void undrain(const std::string& kind, const std::string& target) {
    bool existed = false;
    std::string err;
    REQUIRE(admin.remove(health::AdminState::key(kind + "_drain", target),
                         {0, "undrain_" + kind, target, "test", "t", ""}, &existed, &err));
  }
  void load(const std::string& member, double value, std::int64_t ttl) {
    const std::int64_t now = clock.unixSeconds();
    std::string err;
    REQUIRE(admin.put({health::AdminState::key("member_load", member), "member_load", member,
                       "push", value, now, now + ttl, "t"},
                      {0, "load_member", member, "push", "t", ""}, &err));
  }
  Answer ask(const char* name) { return ::ask(*holder.current(), name); }
};

}  // namespace

struct DrainCase {
  const char* what;
  std::vector<std::pair<std::string, std::string>> drains;  // kind, target
  const char* name;
  std::uint16_t rcode;
  V expect;
};

TEST_CASE("drains change the next answer after one publish, whatever the policy") {
  const DrainCase cases[] = {
      {"nothing drained", {}, "web.d.test", 0, {"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
      {"region a drained: b", {{"region", "a"}}, "web.d.test", 0, {"198.51.100.1"}},
      {"a and b drained: c", {{"region", "a"}, {"region", "b"}}, "web.d.test", 0, {"203.0.113.1"}},
      {"one member drained",
       {{"member", "192.0.2.2"}},
       "web.d.test",
       0,
       {"192.0.2.1", "192.0.2.3"}},
      {"every member of a drained: b",
       {{"member", "192.0.2.1"}, {"member", "192.0.2.2"}, {"member", "192.0.2.3"}},
       "web.d.test",
       0,
       {"198.51.100.1"}},
      {"policy lists only a; a drained: the pool's next region",
       {{"region", "a"}},
       "solo.d.test",
       0,
       {"198.51.100.1"}},
      {"everything drained, fail_open: answered as if undrained",
       {{"region", "a"}, {"region", "b"}, {"region", "c"}},
       "web.d.test",
       0,
       {"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
      {"everything drained, all_down nodata", {{"region", "a"}}, "nd.d.test", 0, {}},
      {"a member drain applies in every pool", {{"member", "192.0.2.1"}}, "nd.d.test", 0, {}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    Rig rig;
    REQUIRE(rig.ask(c.name).addrs.size() > 0);
    for (const auto& [kind, target] : c.drains) rig.drain(kind, target);
    rig.publish();
    const Answer a = rig.ask(c.name);
    CHECK(a.rcode == c.rcode);
    CHECK(a.addrs == c.expect);
  }
}

TEST_CASE("when drains send an answer outside the policy's order, down regions stay out") {
  Rig rig;
  CHECK(rig.ask("soloup.d.test").addrs == V{"192.0.2.51"});
  // Two seconds of probing in which b fails (fall 1).
  for (int i = 0; i < 20; ++i) {
    rig.clock.advance(std::chrono::milliseconds(100));
    rig.runner.turn(Duration::zero());
    for (const auto& st : rig.transport.starts)
      rig.transport.complete(st.id,
                             rig.runner.scheduler().spec(st.id).address.str() != "198.51.100.51");
    rig.transport.starts.clear();
    rig.runner.turn(Duration::zero());
  }
  {
    const auto& probes = rig.holder.current()->gslb->probes;
    const auto& targets = rig.holder.current()->health->targets;
    for (std::size_t i = 0; i < probes.size(); ++i)
      CHECK_MESSAGE(targets[i].up == (probes[i].address.str() != "198.51.100.51"),
                    probes[i].address.str());
  }
  rig.drain("region", "a");
  rig.publish();
  // first_n kept only a; a is drained; b is down: c, not b.
  CHECK(rig.ask("soloup.d.test").addrs == V{"203.0.113.51"});
}

TEST_CASE("undrain restores answers; repeating a drain or an undrain is safe") {
  Rig rig;
  rig.drain("region", "a");
  rig.drain("region", "a");
  rig.publish();
  CHECK(rig.ask("web.d.test").addrs == V{"198.51.100.1"});
  CHECK(rig.admin.overrides().size() == 1);
  rig.undrain("region", "a");
  rig.undrain("region", "a");
  rig.publish();
  CHECK(rig.ask("web.d.test").addrs == V{"192.0.2.1", "192.0.2.2", "192.0.2.3"});
  // Every action is audited, repeats included.
  CHECK(rig.auditLog(100).size() == 4);
}

TEST_CASE("a drain with an expiry lapses on its own, audited, on the probe thread's clock") {
  Rig rig;
  rig.drain("region", "a", 30);
  rig.publish();
  CHECK(rig.ask("web.d.test").addrs == V{"198.51.100.1"});
  rig.clock.advance(std::chrono::seconds(29));
  rig.runner.turn(Duration::zero());
  CHECK(rig.ask("web.d.test").addrs == V{"198.51.100.1"});
  rig.clock.advance(std::chrono::seconds(1));
  rig.runner.turn(Duration::zero());  // expires and publishes in the same turn
  CHECK(rig.ask("web.d.test").addrs == V{"192.0.2.1", "192.0.2.2", "192.0.2.3"});
  CHECK(rig.admin.overrides().empty());
  CHECK(rig.storedOverrides().empty());
  const auto audit = rig.auditLog(10);
  REQUIRE(audit.size() == 2);
  CHECK(audit[1].action == "expire");
  CHECK(audit[1].target == "a");
  CHECK(audit[1].identity == "geodnsd");
}

TEST_CASE("pushed load overrides the probe's reading and lapses after its TTL") {
  Rig rig;
  CHECK(rig.ask("shed.d.test").addrs == V{"192.0.2.1", "192.0.2.2"});
  rig.load("192.0.2.1", 0.95, 10);  // over the high watermark: shed
  rig.load("192.0.2.2", 0.1, 10);
  rig.publish();
  CHECK(rig.ask("shed.d.test").addrs == V{"192.0.2.2"});
  rig.load("192.0.2.2", 0.95, 10);  // region a over on average: spill to b
  rig.publish();
  CHECK(rig.ask("shed.d.test").addrs == V{"198.51.100.1"});
  rig.clock.advance(std::chrono::seconds(10));
  rig.runner.turn(Duration::zero());
  CHECK(rig.ask("shed.d.test").addrs == V{"192.0.2.1", "192.0.2.2"});
}

TEST_CASE("overrides survive a restart: a new AdminState reads them from the store") {
  Rig rig;
  rig.drain("member", "198.51.100.1");
  health::AdminState again(rig.store, rig.clock);
  REQUIRE(again.overrides().size() == 1);
  CHECK(again.overrides()[0].target == "198.51.100.1");
}

TEST_CASE("a write the store refuses changes nothing") {
  Rig rig;
  rig.store.failAdmin = true;
  std::string err;
  CHECK_FALSE(rig.admin.put({"region_drain:a", "region_drain", "a", "x", 0, 0, 0, "t"},
                            {0, "drain_region", "a", "x", "t", ""}, &err));
  CHECK_FALSE(err.empty());
  CHECK(rig.admin.overrides().empty());
  rig.publish();
  CHECK(rig.ask("web.d.test").addrs.size() == 3);
}

TEST_CASE("RocksDB keeps overrides and an ordered audit log across reopen") {
  test::TempDir dir;
  const std::string path = (dir.path() / "state").string();
  std::string err;
  {
    auto st = health::openRocksStore(path, 10, false, &err);
    REQUIRE(st);
    REQUIRE(st->commitAdmin({{"region_drain:a", "region_drain", "a", "maint", 0, 100, 200, "ops"}},
                            {}, {{1000, "drain_region", "a", "maint", "ops", ""}}, &err));
    REQUIRE(st->commitAdmin(
        {{"member_load:192.0.2.1", "member_load", "192.0.2.1", "", 0.4, 100, 160, "lb"}}, {},
        {{1000, "load_member", "192.0.2.1", "", "lb", "{}"}}, &err));
  }
  {
    auto st = health::openRocksStore(path, 10, false, &err);
    REQUIRE(st);
    std::vector<health::OverrideRecord> o;
    REQUIRE(st->allOverrides(o, &err));
    REQUIRE(o.size() == 2);
    CHECK(o[0].key == "member_load:192.0.2.1");
    CHECK(o[0].value == doctest::Approx(0.4));
    CHECK(o[1].expiresUnix == 200);
    CHECK(o[1].identity == "ops");
    // Same millisecond, later sequence: still after the earlier records.
    REQUIRE(st->commitAdmin({}, {"region_drain:a"},
                            {{1000, "undrain_region", "a", "done", "ops", ""}}, &err));
    std::vector<health::AuditRecord> a;
    REQUIRE(st->audit(10, a, &err));
    REQUIRE(a.size() == 3);
    CHECK(a[0].action == "drain_region");
    CHECK(a[1].action == "load_member");
    CHECK(a[2].action == "undrain_region");
    REQUIRE(st->audit(1, a, &err));
    CHECK(a.at(0).action == "undrain_region");
    REQUIRE(st->allOverrides(o, &err));
    CHECK(o.size() == 1);
  }
}

TEST_CASE("token files: named and bare tokens, comments, short secrets refused") {
  test::TempDir dir;
  std::vector<ApiToken> tokens;
  std::string err;
  auto good = dir.write("t", "# ops team\nops:aaaaaaaaaaaaaaaa1\n\nbbbbbbbbbbbbbbbb2\n");
  REQUIRE(loadTokens(good, tokens, &err));
  REQUIRE(tokens.size() == 2);
  CHECK(tokens[0].name == "ops");
  CHECK(tokens[1].name == "token-4");
  CHECK(matchToken(tokens, "aaaaaaaaaaaaaaaa1") == &tokens[0]);
  CHECK(matchToken(tokens, "bbbbbbbbbbbbbbbb2") == &tokens[1]);
  CHECK(matchToken(tokens, "aaaaaaaaaaaaaaaa") == nullptr);    // a prefix
  CHECK(matchToken(tokens, "aaaaaaaaaaaaaaaa12") == nullptr);  // longer
  CHECK(matchToken(tokens, "") == nullptr);
  auto shortOne = dir.write("s", "ops:short\n");
  CHECK_FALSE(loadTokens(shortOne, tokens, &err));
  CHECK(err.find(":1:") != std::string::npos);
  CHECK_FALSE(loadTokens(dir.write("e", "# nothing\n"), tokens, &err));
  CHECK_FALSE(loadTokens((dir.path() / "missing").string(), tokens, &err));
}

TEST_CASE("metrics: counts by rcode, qtype, pool and region, kept across config generations") {
  test::TempDir dir;
  Metrics metrics;
  QueryCounters& c = metrics.addWorker(Transport::Udp);
  auto snap = test::snapshotFromJson(dir, "d.test", kConfig);
  metrics.track(snap->answers);
  auto run = [&](const ServingSnapshot& s, const char* name, int times) {
    std::vector<std::uint8_t> out(4096);
    for (int i = 0; i < times; ++i) {
      auto q = test::makeQuery({.name = name});
      QueryFacts f;
      answer(s, q, out, Transport::Udp, *IpAddress::parse("127.0.0.1"), &f);
      countQuery(s, f, c);
    }
  };
  run(*snap, "web.d.test", 3);
  run(*snap, "nope.d.test", 2);
  auto text = metrics.render(*snap, {});
  CHECK(text.find("geodns_responses_total{rcode=\"NOERROR\",transport=\"udp\"} 3\n") !=
        std::string::npos);
  CHECK(text.find("geodns_responses_total{rcode=\"NXDOMAIN\",transport=\"udp\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("geodns_queries_total{qtype=\"A\",transport=\"udp\"} 5\n") != std::string::npos);
  CHECK(text.find("geodns_pool_answers_total{pool=\"web\",region=\"a\"} 3\n") != std::string::npos);
  // A reload: the old generation's counts are folded in once nobody holds it.
  auto next = test::snapshotFromJson(dir, "d.test", kConfig);
  metrics.track(next->answers);
  snap.reset();
  run(*next, "web.d.test", 2);
  text = metrics.render(*next, {});
  CHECK(text.find("geodns_pool_answers_total{pool=\"web\",region=\"a\"} 5\n") != std::string::npos);
  CHECK(text.find("geodns_member_up{pool=\"web\",region=\"a\",member=\"192.0.2.1\"} 1\n") !=
        std::string::npos);
}

namespace {

// One HTTP/1.1 request to 127.0.0.1:port over a plain socket: (status, body).
std::pair<int, std::string> http(int port, const std::string& method, const std::string& path,
                                 const std::string& body = "", const std::string& token = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  std::string resp;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    resp.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  const auto sp = resp.find(' ');
  REQUIRE(sp != std::string::npos);
  const auto head = resp.find("\r\n\r\n");
  return {std::stoi(resp.substr(sp + 1, 3)),
          head == std::string::npos ? "" : resp.substr(head + 4)};
}

const char* kToken = "unit-test-token-0123456789";

struct ApiRig : Rig {
  std::atomic<bool> ready{false};
  std::unique_ptr<AdminApi> api;
  ApiRig() {
    config::AdminConfig cfg;
    cfg.enabled = true;
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 2;
    AdminDeps deps;
    deps.holder = &holder;
    deps.runner = &runner;
    deps.admin = &admin;
    deps.clock = &clock;
    deps.ready = &ready;
    api = std::make_unique<AdminApi>(cfg, std::vector<ApiToken>{{"ops", kToken}}, deps);
    std::string err;
    REQUIRE_MESSAGE(api->start(&err), err);
  }
};

}  // namespace

TEST_CASE("/readyz: 503 until the server is serving and again while it stops; /healthz 200") {
  ApiRig rig;
  auto [status, body] = http(rig.api->port(), "GET", "/readyz");
  CHECK(status == 503);  // starting: API up, not serving yet
  CHECK_MESSAGE(body.find("\"ready\": false") != std::string::npos, body);
  CHECK(http(rig.api->port(), "GET", "/healthz").first == 200);
  rig.ready = true;
  std::tie(status, body) = http(rig.api->port(), "GET", "/readyz");
  CHECK(status == 200);
  CHECK(body.find("\"ready\": true") != std::string::npos);
  rig.ready = false;  // stopping
  CHECK(http(rig.api->port(), "GET", "/readyz").first == 503);
}

TEST_CASE("a write the state database refuses is HTTP 503 with a JSON error, and changes nothing") {
  ApiRig rig;
  rig.ready = true;
  rig.store.failAdmin = true;
  struct RefusedCase {
    const char* path;
    const char* body;
  };
  const RefusedCase cases[] = {
      {"/v1/regions/a/drain", R"({"reason": "maintenance"})"},
      {"/v1/members/192.0.2.1/drain", R"({"reason": "disk"})"},
      {"/v1/members/192.0.2.1/load", R"({"load": 0.5})"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.path));
    auto [status, body] = http(rig.api->port(), "POST", c.path, c.body, kToken);
    CHECK(status == 503);
    CHECK(body.find("\"error\"") != std::string::npos);
    CHECK(body.find("state database") != std::string::npos);
  }
  CHECK(rig.admin.overrides().empty());
  std::vector<health::AuditRecord> audit;
  REQUIRE(rig.store.audit(10, audit, nullptr));
  CHECK(audit.empty());
  rig.publish();
  CHECK(rig.ask("web.d.test").addrs == V{"192.0.2.1", "192.0.2.2", "192.0.2.3"});
  // The same calls succeed once the database takes writes again.
  rig.store.failAdmin = false;
  std::thread turner([&] {  // the probe thread's publish the API waits for
    for (int i = 0; i < 50; ++i) {
      rig.runner.turn(Duration::zero());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  CHECK(http(rig.api->port(), "POST", "/v1/regions/a/drain", R"({"reason": "m"})", kToken).first ==
        200);
  turner.join();
  CHECK(rig.admin.overrides().size() == 1);
}
