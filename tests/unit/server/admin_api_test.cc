// The admin API's router without a socket (AdminApi::handle() over raw
// request bytes): token scopes, bytes that are not UTF-8, control characters
// in reasons, malformed Authorization values; the token file parser; the
// order of failover audit records. Nothing here may answer 500.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
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

const char* kConfig = R"({
  "listen": ["127.0.0.1:53"],
  "zones": [{"origin": "h.test", "file": "ZONE"}],
  "regions": {"a": {}, "b": {}},
  "pools": {
    "web": {"ttl": 30, "regions": {
      "a": {"members": [{"address": "192.0.2.1"}]},
      "b": {"members": [{"address": "198.51.100.1"}]}}},
    "fo": {"ttl": 20, "regions": {
      "a": {"members": [{"address": "192.0.2.11"}]},
      "b": {"members": [{"address": "198.51.100.11"}]}},
      "failover": {"primary": "a", "standby": ["b"], "promote_after_s": 30,
                   "failback_after_s": 60, "failback": "manual"}}
  },
  "policies": {"ordered": {"steps": []},
               "ap": {"steps": [{"step": "failover"}, {"step": "first_n", "n": 1}]}},
  "bindings": [{"name": "www.h.test", "pool": "web", "policy": "ordered"},
               {"name": "fo.h.test", "pool": "fo", "policy": "ap"}]
})";

constexpr const char* kWrite = "write-secret-0123456789";
constexpr const char* kRead = "read-secret-0123456789";

struct Reply {
  int status = 0;
  std::string head;
  nlohmann::json body;
};

struct Rig {
  test::TempDir dir;
  test::FakeClock clock;
  test::FakeRng rng{0.0};
  test::FakeTransport transport{clock};
  health::MemStore store;
  health::AdminState admin{store, clock};
  SnapshotHolder holder;
  HealthRunner runner{holder, clock, rng, transport, &store};
  Metrics metrics;
  std::atomic<bool> ready{true};
  std::unique_ptr<AdminApi> api;
  Rig() {
    runner.attachAdmin(&admin);
    runner.prime(test::snapshotFromJson(dir, "h.test", kConfig));
    AdminDeps deps;
    deps.holder = &holder;
    deps.runner = &runner;
    deps.admin = &admin;
    deps.store = &store;
    deps.metrics = &metrics;
    deps.clock = &clock;
    deps.ready = &ready;
    deps.publishWait = Duration::zero();  // no probe thread here: answer at once
    std::vector<ApiToken> tokens = {{"ops", kWrite, ApiToken::Scope::Write},
                                    {"prom", kRead, ApiToken::Scope::Read}};
    api = std::make_unique<AdminApi>(config::AdminConfig{}, tokens, deps);
  }
  // The first address the DNS workers would answer for `name` now.
  std::string answerFor(const char* name) {
    const auto ticket = runner.requestPublish();
    runner.turn(Duration::zero());
    REQUIRE(runner.waitPublished(ticket, Duration::zero()));
    std::vector<std::uint8_t> out(4096);
    auto q = test::makeQuery({.name = name});
    auto n = answer(*holder.current(), q, out, Transport::Udp, *IpAddress::parse("127.0.0.1"));
    auto r = test::parseResponse({out.data(), n});
    return r.sections[0].empty() ? "" : test::rdataText(r.sections[0][0]);
  }
  Reply raw(const std::string& request) {
    const std::string out = api->handle(request);
    Reply r;
    REQUIRE(out.rfind("HTTP/1.1 ", 0) == 0);
    r.status = std::stoi(out.substr(9, 3));
    const auto split = out.find("\r\n\r\n");
    r.head = out.substr(0, split);
    r.body = nlohmann::json::parse(out.substr(split + 4), nullptr, false);
    return r;
  }
  Reply call(const std::string& method, const std::string& path, const char* token = kWrite,
             const std::string& body = "") {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: x\r\n";
    if (token) req += std::string("Authorization: Bearer ") + token + "\r\n";
    if (!body.empty())
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    return raw(req + "\r\n" + body);
  }
};

}  // namespace

TEST_CASE("scopes: a read token reads everything and changes nothing") {
  Rig rig;
  struct Case {
    const char* method;
    const char* path;
    const char* body;
    int asReader;
  };
  const Case cases[] = {
      {"GET", "/metrics", "", 200},
      {"GET", "/v1/status", "", 200},
      {"GET", "/v1/audit", "", 200},
      {"GET", "/v1/explain?name=www.h.test&client=192.0.2.9", "", 200},
      {"POST", "/v1/regions/a/drain", R"({"reason":"x"})", 403},
      {"POST", "/v1/regions/a/undrain", R"({"reason":"x"})", 403},
      {"POST", "/v1/members/192.0.2.1/drain", R"({"reason":"x"})", 403},
      {"POST", "/v1/members/192.0.2.1/load", R"({"load":0.5})", 403},
      {"POST", "/v1/pools/fo/failover", R"({"region":"b","reason":"x"})", 403},
      {"POST", "/v1/pools/fo/failback", R"({"reason":"x"})", 403},
      {"POST", "/v1/reload", "", 403},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.method) + " " + c.path);
    const Reply r = rig.call(c.method, c.path, kRead, c.body);
    CHECK(r.status == c.asReader);
    if (r.status == 403)
      CHECK(r.body["error"].get<std::string>().find("write") != std::string::npos);
  }
  CHECK(rig.admin.overrides().empty());
  // The write token may do it.
  CHECK(rig.call("POST", "/v1/regions/a/drain", kWrite, R"({"reason":"x"})").status == 200);
  CHECK(rig.admin.overrides().size() == 1);
}

TEST_CASE("bad bytes get a 4xx with a JSON error, never a 500") {
  Rig rig;
  struct Case {
    const char* what;
    std::string method, path, body;
    int status;
    const char* field;
  };
  const Case cases[] = {
      {"invalid UTF-8 in a path parameter", "POST", "/v1/regions/%FF/drain", R"({"reason":"x"})",
       400, nullptr},
      {"a truncated UTF-8 sequence in the path", "POST", "/v1/members/%E2%82/drain",
       R"({"reason":"x"})", 400, nullptr},
      {"an overlong encoding in the path", "POST", "/v1/pools/%C0%AF/failback", R"({"reason":"x"})",
       400, nullptr},
      {"invalid UTF-8 in a query value", "GET", "/v1/explain?name=%FF&client=192.0.2.1", "", 400,
       nullptr},
      {"invalid UTF-8 in a query key", "GET", "/v1/audit?%FE=1", "", 400, nullptr},
      {"TYPE above 65535 (would wrap to A)", "GET",
       "/v1/explain?name=www.h.test&type=TYPE65537&client=192.0.2.1", "", 400, "type"},
      {"a reason with NUL", "POST", "/v1/regions/a/drain", R"({"reason":"a\u0000b"})", 400,
       "reason"},
      {"a reason with a line break", "POST", "/v1/regions/a/drain", R"({"reason":"a\nFAKE b"})",
       400, "reason"},
      {"a reason with an escape", "POST", "/v1/regions/a/drain", R"({"reason":"\u001b[31mred"})",
       400, "reason"},
      {"a body that is not UTF-8", "POST", "/v1/regions/a/drain", "{\"reason\":\"\xff\"}", 400,
       nullptr},
      {"a valid UTF-8 name that does not exist", "POST", "/v1/regions/%C3%A9t%C3%A9/drain",
       R"({"reason":"x"})", 404, nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    const Reply r = rig.call(c.method, c.path, kWrite, c.body);
    CHECK(r.status == c.status);
    REQUIRE(r.body.is_object());
    CHECK(r.body.contains("error"));
    if (c.field) CHECK(r.body.value("field", nlohmann::json()) == c.field);
  }
  CHECK(rig.admin.overrides().empty());
}

TEST_CASE("Authorization values with NUL, trailing junk or a second header are refused") {
  Rig rig;
  struct Case {
    const char* what;
    std::string header;
    int status;
  };
  const std::string w = kWrite;
  const Case cases[] = {
      {"the token", "Authorization: Bearer " + w + "\r\n", 200},
      {"lower-case scheme", "Authorization: bearer " + w + "\r\n", 200},
      {"NUL then junk (httplib cut the value at the NUL)",
       "Authorization: Bearer " + w + std::string("\0junk", 5) + "\r\n", 401},
      {"trailing junk after a space", "Authorization: Bearer " + w + " junk\r\n", 401},
      {"a control character", "Authorization: Bearer " + w + "\x01\r\n", 401},
      {"8-bit bytes", "Authorization: Bearer " + w + "\xc3\xa9\r\n", 401},
      {"two Authorization headers",
       "Authorization: Bearer " + w + "\r\nAuthorization: Bearer " + w + "\r\n", 401},
      {"a prefix of the token", "Authorization: Bearer " + w.substr(0, w.size() - 1) + "\r\n", 403},
      {"no header", "", 401},
      {"Basic", "Authorization: Basic b3BzOng=\r\n", 401},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    const Reply r = rig.raw("GET /v1/status HTTP/1.1\r\nHost: x\r\n" + c.header + "\r\n");
    CHECK(r.status == c.status);
    REQUIRE(r.body.is_object());
    if (r.status == 401) CHECK(r.head.find("WWW-Authenticate: Bearer") != std::string::npos);
  }
}

TEST_CASE("the router answers garbage with 4xx JSON or a canned 400") {
  Rig rig;
  const std::string inputs[] = {
      "",
      "\r\n\r\n",
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      "GET /v1/status\r\n\r\n",
      "GET /nowhere HTTP/1.1\r\n\r\n",
      "POST /v1/regions/a/drain HTTP/1.1\r\nContent-Length: 99\r\n\r\n{}",
      std::string("GET /v1/st\0tus HTTP/1.1\r\n\r\n", 28),
  };
  for (const auto& in : inputs) {
    CAPTURE(in);
    const std::string out = rig.api->handle(in);
    REQUIRE(out.rfind("HTTP/1.1 4", 0) == 0);
  }
}

TEST_CASE("Range headers are ignored: answers, errors included, stay whole JSON") {
  Rig rig;
  for (const char* range : {"Range: bytes=0-10,20-\r\n", "range : bytes=1-2\r\n"}) {
    CAPTURE(std::string(range));
    Reply r = rig.raw(std::string("GET /v1/status HTTP/1.1\r\n") + range + "\r\n");
    CHECK(r.status == 401);
    CHECK(r.body.is_object());
    r = rig.raw(std::string("GET /v1/status HTTP/1.1\r\n") + range + "Authorization: Bearer " +
                kRead + "\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.body.contains("pools"));
  }
}

TEST_CASE("/readyz shows the state database's condition once it has failed") {
  Rig rig;
  Reply r = rig.call("GET", "/readyz", nullptr);
  CHECK(r.status == 200);
  CHECK(r.body == nlohmann::json{{"ready", true}});
  rig.store.failAdmin = true;  // a drain the store refuses: 503, and nothing changes
  r = rig.call("POST", "/v1/regions/a/drain", kWrite, R"({"reason":"x"})");
  CHECK(r.status == 503);
  CHECK(rig.admin.overrides().empty());
}

// ---- tokens ----

TEST_CASE("token files: formats, scopes, hygiene, each error with file:line") {
  struct Case {
    const char* what;
    std::string text;
    bool ok;
    const char* error;  // part of the message (ok == false)
    std::vector<std::pair<std::string, ApiToken::Scope>> tokens;
  };
  using S = ApiToken::Scope;
  const Case cases[] = {
      {"named and bare",
       "ops:aaaaaaaaaaaaaaaa1\nbbbbbbbbbbbbbbbb2\n",
       true,
       "",
       {{"ops", S::Write}, {"token-2", S::Write}}},
      {"scopes",
       "prom:aaaaaaaaaaaaaaaa1:read\nops:bbbbbbbbbbbbbbbb2:write\n",
       true,
       "",
       {{"prom", S::Read}, {"ops", S::Write}}},
      {"BOM and CRLF", "\xEF\xBB\xBFops:aaaaaaaaaaaaaaaa1\r\n", true, "", {{"ops", S::Write}}},
      {"whitespace around fields",
       "  ops :  aaaaaaaaaaaaaaaa1 \t: read \n",
       true,
       "",
       {{"ops", S::Read}}},
      {"comments and blank lines",
       "# x\n\n  # y\nops:aaaaaaaaaaaaaaaa1\n",
       true,
       "",
       {{"ops", S::Write}}},
      {"UTF-8 name", "\xC3\xA9quipe:aaaaaaaaaaaaaaaa1\n", true, "", {{"\xC3\xA9quipe", S::Write}}},
      {"short secret", "ops:short\n", false, ":1: a token needs a name and a secret", {}},
      {"empty name", ":aaaaaaaaaaaaaaaa1\n", false, ":1: a token needs a name", {}},
      {"name not UTF-8",
       "\xff\xfe:aaaaaaaaaaaaaaaa1\n",
       false,
       ":1: the token name is not UTF-8",
       {}},
      {"name with a control character",
       "o\x01ps:aaaaaaaaaaaaaaaa1\n",
       false,
       ":1: the token name is not UTF-8",
       {}},
      {"secret with a space",
       "ops:aaaaaaaa aaaaaaaa1\n",
       false,
       ":1: a secret holds visible ASCII",
       {}},
      {"secret with NUL",
       std::string("ops:aaaaaaaaaaaaaaaa\0x\n", 23),
       false,
       ":1: a secret holds visible ASCII",
       {}},
      {"unknown scope", "ops:aaaaaaaaaaaaaaaa1:admin\n", false, ":1: unknown scope 'admin'", {}},
      {"too many colons", "ops:aaaaaaaaaaaaaaaa1:read:x\n", false, ":1: too many ':'", {}},
      {"duplicate secret",
       "a:aaaaaaaaaaaaaaaa1\n#\nb:aaaaaaaaaaaaaaaa1\n",
       false,
       ":3: the same secret as line 1",
       {}},
      {"no token", "# nothing\n", false, "no token in the admin token file", {}},
      {"only a BOM", "\xEF\xBB\xBF", false, "no token", {}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    std::vector<ApiToken> out;
    std::string err;
    CHECK(parseTokens(c.text, "tokens", out, &err) == c.ok);
    if (!c.ok) {
      CHECK(err.rfind("tokens", 0) == 0);
      CHECK(err.find(c.error) != std::string::npos);
      CHECK(out.empty());
      continue;
    }
    REQUIRE(out.size() == c.tokens.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
      CHECK(out[i].name == c.tokens[i].first);
      CHECK(out[i].scope == c.tokens[i].second);
      CHECK(out[i].secret.size() >= 16);
    }
  }
}

TEST_CASE("token files: a directory and a missing file are named errors") {
  test::TempDir dir;
  std::vector<ApiToken> out;
  std::string err;
  CHECK_FALSE(loadTokens(dir.path().string(), out, &err));
  CHECK(err.find("is a directory") != std::string::npos);
  CHECK_FALSE(loadTokens((dir.path() / "missing").string(), out, &err));
  CHECK(err.find("cannot read") != std::string::npos);
  REQUIRE(loadTokens(dir.write("t", "\xEF\xBB\xBFops:aaaaaaaaaaaaaaaa1:read\n"), out, &err));
  CHECK(out.at(0).scope == ApiToken::Scope::Read);
}

// ---- failover commands: applied and audited in one step ----

TEST_CASE("failover commands are audited in the order they took effect, in one write") {
  Rig rig;
  // Queued in this order by two API threads; audited in the same order.
  auto first = rig.runner.forceFailover("fo", "b", "x", {0, "failover", "fo", "x", "ops", ""});
  auto second = rig.runner.failback("fo", "y", {0, "failback", "fo", "y", "ops", ""});
  rig.runner.turn(Duration::zero());
  CHECK(first.get().outcome == HealthRunner::CommandResult::Outcome::Applied);
  CHECK(second.get().outcome == HealthRunner::CommandResult::Outcome::Applied);
  std::vector<health::AuditRecord> audit;
  std::string err;
  REQUIRE(rig.admin.audit(10, audit, &err));
  REQUIRE(audit.size() == 2);
  CHECK(audit[0].action == "failover");
  CHECK(audit[1].action == "failback");
  CHECK(rig.runner.failoverStates().at(0).activeRegion == "a");  // what the last record says
  CHECK(rig.store.loadFailover("fo")->activeRegion == "a");
  CHECK(rig.answerFor("fo.h.test") == "192.0.2.11");

  // A store that refuses the write: the command does not take effect.
  rig.store.failAdmin = true;
  auto refused = rig.runner.forceFailover("fo", "b", "z", {0, "failover", "fo", "z", "ops", ""});
  rig.runner.turn(Duration::zero());
  const auto r = refused.get();
  CHECK(r.outcome == HealthRunner::CommandResult::Outcome::NotRecorded);
  CHECK(r.error == "injected failure");
  CHECK(rig.runner.failoverStates().at(0).activeRegion == "a");
  CHECK(rig.answerFor("fo.h.test") == "192.0.2.11");  // not in force either
  REQUIRE(rig.admin.audit(10, audit, &err));
  CHECK(audit.size() == 2);
}

TEST_CASE("the failover state is known from the first publish, before any probe-thread turn") {
  Rig rig;  // primed, never turned
  const auto states = rig.runner.failoverStates();
  REQUIRE(states.size() == 1);
  CHECK(states[0].pool == "fo");
  CHECK(states[0].activeRegion == "a");
  const Reply r = rig.call("GET", "/v1/status", kRead);
  REQUIRE(r.status == 200);
  bool shown = false;
  for (const auto& p : r.body["pools"])
    if (p["name"] == "fo") shown = p.contains("failover");
  CHECK(shown);
}
