// libFuzzer target: the admin API's request handling without a socket
// (AdminApi::handle()): cpp-httplib's parser, the router, authentication with
// scopes, and every handler over a GSLB config with drains, pushed load and
// a failover pool, on an in-memory store. Invariants: an HTTP/1.1 response
// always, never a 500, and a JSON body with "error" on every 4xx.
//
// Input: byte 0 chooses the method (bits 0-2) and the Authorization header
// (bits 3-4: none, write token, read token, junk); with bit 7 set the rest is
// sent as a raw request instead. Otherwise the path runs to the first '\n'
// and the body is what follows.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "config/config.h"
#include "health/admin_state.h"
#include "health/store.h"
#include "server/admin/api.h"
#include "server/health_runner.h"
#include "server/metrics.h"
#include "support/fakes.h"

using namespace geodns;
using namespace geodns::server;

namespace {

constexpr const char* kWrite = "fuzz-write-token-0123456789";
constexpr const char* kRead = "fuzz-read-token-0123456789";

std::shared_ptr<const ServingSnapshot> snapshot() {
  const std::string zone = std::string(GEODNS_TEST_DATA) + "/integration/zones/example.test.zone";
  const std::string json = R"({
    "listen": ["127.0.0.1:53"],
    "zones": [{"origin": "example.test", "file": ")" +
                           zone + R"("}],
    "geo": {"nets": {"198.51.100.0/24": {"regions": ["us", "eu"]},
                     "2001:db8::/32": {"regions": ["eu", "us"]}}},
    "regions": {"eu": {"lat": 50.1, "lon": 8.7},
                "us": {"lat": 38.9, "lon": -77.4}},
    "pools": {
      "web": {"ttl": 30, "regions": {
        "eu": {"members": [{"address": "192.0.2.1"}, {"address": "2001:db8::1"}]},
        "us": {"members": [{"address": "198.51.100.1"}]}}},
      "fo": {"ttl": 20, "regions": {
        "eu": {"members": [{"address": "192.0.2.11"}]},
        "us": {"members": [{"address": "198.51.100.11"}]}},
        "failover": {"primary": "eu", "standby": ["us"], "failback": "manual"}}
    },
    "policies": {"near": {"steps": [{"step": "nearest"}]},
                 "ap": {"steps": [{"step": "failover"}, {"step": "first_n", "n": 1}]}},
    "bindings": [{"name": "pool-web.example.test", "pool": "web", "policy": "near"},
                 {"name": "pool-fo.example.test", "pool": "fo", "policy": "ap"}]
  })";
  ErrorList errors;
  auto cfg = config::parseConfig(json, "fuzz.json", errors);
  auto snap = cfg ? buildSnapshot(*cfg, errors) : nullptr;
  if (!snap) {
    std::fprintf(stderr, "fuzz_admin_api: the fixture config failed:\n%s", errors.str().c_str());
    __builtin_trap();
  }
  return snap;
}

// Everything the API needs, on fakes; rebuilt now and then so the audit log
// of a long run does not grow without bound.
struct Rig {
  test::FakeClock clock;
  test::FakeRng rng{0.5};
  test::FakeTransport transport{clock};
  health::MemStore store;
  health::AdminState admin{store, clock};
  SnapshotHolder holder;
  HealthRunner runner{holder, clock, rng, transport, &store};
  Metrics metrics;
  std::atomic<bool> ready{true};
  std::unique_ptr<AdminApi> api;
  explicit Rig(std::shared_ptr<const ServingSnapshot> snap) {
    runner.attachAdmin(&admin);
    runner.prime(std::move(snap));
    AdminDeps deps;
    deps.holder = &holder;
    deps.runner = &runner;
    deps.admin = &admin;
    deps.store = &store;
    deps.metrics = &metrics;
    deps.clock = &clock;
    deps.ready = &ready;
    deps.publishWait = Duration::zero();  // single-threaded: the turn runs after the request
    deps.reload = [] {
      ReloadOutcome r;
      r.errors = {"fuzz: reload refused"};
      return r;
    };
    api = std::make_unique<AdminApi>(config::AdminConfig{},
                                     std::vector<ApiToken>{{"ops", kWrite, ApiToken::Scope::Write},
                                                           {"prom", kRead, ApiToken::Scope::Read}},
                                     deps);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto snap = snapshot();
  static std::unique_ptr<Rig> rig;
  static std::size_t runs = 0;
  if (!rig || ++runs % 20000 == 0) rig = std::make_unique<Rig>(snap);
  if (size == 0) return 0;

  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string request;
  if (data[0] & 0x80) {
    request = std::string(in);
  } else {
    static const char* const kMethods[] = {"GET",  "POST",    "PUT",   "DELETE",
                                           "HEAD", "OPTIONS", "PATCH", "POST"};
    static const char* const kAuth[] = {"", "Authorization: Bearer fuzz-write-token-0123456789\r\n",
                                        "Authorization: Bearer fuzz-read-token-0123456789\r\n",
                                        "Authorization: Bearer \r\n"};
    const std::size_t nl = in.find('\n');
    const std::string_view path = in.substr(0, nl);
    const std::string_view body = nl == std::string_view::npos ? "" : in.substr(nl + 1);
    request = std::string(kMethods[data[0] & 7]) + " " + std::string(path) +
              " HTTP/1.1\r\nHost: fuzz\r\n" + kAuth[(data[0] >> 3) & 3] +
              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
  }
  const std::string out = rig->api->handle(request, "127.0.0.1");
  rig->runner.turn(Duration::zero());    // applies queued failover commands
  if (std::getenv("GEODNS_FUZZ_PRINT"))  // seeing what a corpus file reaches
    std::fprintf(stderr, "%s\n----\n", out.substr(0, 300).c_str());

  if (out.rfind("HTTP/1.1 ", 0) != 0 || out.size() < 12) __builtin_trap();
  const int status = std::atoi(out.substr(9, 3).c_str());
  if (status < 100 || status >= 600 || status == 500) __builtin_trap();
  const std::size_t split = out.find("\r\n\r\n");
  if (split == std::string::npos) __builtin_trap();
  if (status >= 400 && request.rfind("HEAD ", 0) != 0) {  // HEAD answers carry no body
    const auto j = nlohmann::json::parse(out.substr(split + 4), nullptr, false);
    if (!j.is_object() || !j.contains("error")) __builtin_trap();
  }
  return 0;
}
