#pragma once
// What the admin handlers share: JSON answers and errors, body and field
// checks, and the route table each resource adds itself to. Private to
// server/admin/: the handler files include <httplib.h> themselves.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

#include "health/cluster/fleet.h"
#include "health/store.h"
#include "server/admin/api.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace geodns::gslb {
class Gslb;
}

namespace geodns::server::admin {

using json = nlohmann::ordered_json;
// The longest drain expiry accepted (a year and a day).
inline constexpr std::int64_t kMaxExpirySec = 366LL * 86400;

// Never throws: a string that is not UTF-8 (it should not get this far) is
// replaced rather than turning an answer into a 500.
std::string dumpJson(const json& j);
void reply(httplib::Response& res, int status, const json& body);
// {"error": msg, "field": field or null} with `status`.
void fail(httplib::Response& res, int status, const std::string& msg,
          const std::string& field = {});
// The JSON object body of a POST ({} when empty). False after answering 400.
bool body(const httplib::Request& req, httplib::Response& res, json& out,
          std::initializer_list<const char*> allowed);
// Reasons are logged and audited as given: no control characters (NUL, line
// breaks, escapes) that would make the log line and the record differ.
bool reasonOf(const json& b, httplib::Response& res, std::string& out, bool required);
// An optional integer field in [1, max]. False after answering 400.
bool secondsOf(const json& b, const char* key, httplib::Response& res, std::int64_t& out,
               std::int64_t max);
json overrideJson(const health::OverrideRecord& o);
// The longest TTL any pool containing the region (or member) answers with:
// after it, resolvers have let go of answers given before a change.
std::uint32_t maxTtlFor(const gslb::Gslb& g, const std::string& kind, const std::string& target);

struct Routes;
// A fleet node's write: "?wait=all" (and "wait_ms", default 5000, at most
// 30000) asks to wait until every live node has applied it. False after
// answering 400.
struct FleetWait {
  bool all = false;
  std::int64_t ms = 5000;
};
bool fleetWaitOf(const httplib::Request& req, httplib::Response& res, FleetWait& out);
// After Fleet::putOverride & co.: 503 when etcd did not commit (and false);
// else waits (bounded) for this node to apply and publish the change, and
// with wait.all for every live node, and fills "revision", "published",
// "applied_by" (and "behind") in `out`. `status` is 200, or 202 when some
// node had not applied it in time. `noop`: the txn changed no shared state
// (an undrain of something not drained: only its audit record was written),
// so there is nothing to wait for: every node already has it.
bool fleetCommitted(const Routes& ctx, const health::cluster::WriteOutcome& w,
                    const FleetWait& wait, httplib::Response& res, json& out, int& status,
                    bool noop = false);

using HttpHandler = std::function<void(const httplib::Request&, httplib::Response&)>;
using AuthedHandler =
    std::function<void(const httplib::Request&, httplib::Response&, const ApiToken&)>;

// What a handler reaches: the API's dependencies, the front's counters and
// the bearer-token check (which answers 401/403 itself and calls the
// handler with the matched token only when its scope allows the call).
struct Routes {
  AdminDeps* deps = nullptr;
  const AdminFrontCounters* counters = nullptr;
  std::function<HttpHandler(ApiToken::Scope, AuthedHandler)> authed;
};

// One resource each (server/admin/NAME.cc); AdminApi adds them in this order.
void addMetricsRoute(httplib::Server& s, const Routes& ctx);
void addStatusRoute(httplib::Server& s, const Routes& ctx);
void addDrainRoutes(httplib::Server& s, const Routes& ctx);
void addLoadRoute(httplib::Server& s, const Routes& ctx);
void addFailoverRoutes(httplib::Server& s, const Routes& ctx);
void addExplainRoute(httplib::Server& s, const Routes& ctx);
void addReloadRoute(httplib::Server& s, const Routes& ctx);
void addAuditRoute(httplib::Server& s, const Routes& ctx);

}  // namespace geodns::server::admin
