#include "server/admin/handler.h"

#include <httplib.h>

#include <algorithm>

#include "server/admin/text.h"

namespace geodns::server::admin {

// Never throws: a string that is not UTF-8 (it should not get this far) is
// replaced rather than turning an answer into a 500.
std::string dumpJson(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dumpJson(body), "application/json");
}

void fail(httplib::Response& res, int status, const std::string& msg, const std::string& field) {
  json j = {{"error", msg}};
  j["field"] = field.empty() ? json(nullptr) : json(field);
  reply(res, status, j);
}

// The JSON object body of a POST ({} when empty). False after answering 400.
bool body(const httplib::Request& req, httplib::Response& res, json& out,
          std::initializer_list<const char*> allowed) {
  if (req.body.empty()) {
    out = json::object();
    return true;
  }
  out = json::parse(req.body, nullptr, false);
  if (out.is_discarded() || !out.is_object()) {
    fail(res, 400, "the body must be a JSON object (UTF-8)");
    return false;
  }
  for (auto it = out.begin(); it != out.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (!ok) {
      fail(res, 400, "unknown field '" + it.key() + "'", it.key());
      return false;
    }
  }
  return true;
}

// Reasons are logged and audited as given: no control characters (NUL, line
// breaks, escapes) that would make the log line and the record differ.
bool reasonOf(const json& b, httplib::Response& res, std::string& out, bool required) {
  if (!b.contains("reason")) {
    if (required) fail(res, 400, "a reason is required", "reason");
    return !required;
  }
  if (!b["reason"].is_string() || b["reason"].get<std::string>().empty() ||
      b["reason"].get<std::string>().size() > 1024) {
    fail(res, 400, "reason must be a non-empty string of at most 1024 bytes", "reason");
    return false;
  }
  if (hasControl(b["reason"].get<std::string>())) {
    fail(res, 400, "reason must not contain control characters", "reason");
    return false;
  }
  out = b["reason"].get<std::string>();
  return true;
}

bool secondsOf(const json& b, const char* key, httplib::Response& res, std::int64_t& out,
               std::int64_t max) {
  if (!b.contains(key)) return true;
  const json& v = b[key];
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > max) {
    fail(res, 400, std::string(key) + " must be an integer between 1 and " + std::to_string(max),
         key);
    return false;
  }
  out = v.get<std::int64_t>();
  return true;
}

json overrideJson(const health::OverrideRecord& o) {
  json j = {{"kind", o.kind},
            {"target", o.target},
            {"reason", o.reason},
            {"created", o.createdUnix},
            {"identity", o.identity}};
  j["expires"] = o.expiresUnix ? json(o.expiresUnix) : json(nullptr);
  if (o.kind == "member_load") j["load"] = o.value;
  return j;
}

// The longest TTL any pool containing the region (or member) answers with:
// after it, resolvers have let go of answers given before a change.
std::uint32_t maxTtlFor(const gslb::Gslb& g, const std::string& kind, const std::string& target) {
  std::uint32_t ttl = 0;
  const std::int32_t region = kind == "region" ? g.regionIndex(target) : -1;
  const std::int32_t member = kind == "member" ? g.memberIndex(target) : -1;
  for (const gslb::Pool& p : g.pools)
    for (const gslb::PoolRegion& pr : p.regions) {
      bool hit = region >= 0 && pr.region == static_cast<geo::RegionId>(region);
      for (const auto* ms : {&pr.v4, &pr.v6})
        for (const gslb::Member& m : *ms)
          hit = hit || (member >= 0 && m.id == static_cast<std::uint32_t>(member));
      if (hit) ttl = std::max(ttl, p.ttl);
    }
  return ttl;
}

bool fleetWaitOf(const httplib::Request& req, httplib::Response& res, FleetWait& out) {
  if (req.has_param("wait")) {
    if (req.get_param_value("wait") != "all") {
      fail(res, 400, "wait must be \"all\"", "wait");
      return false;
    }
    out.all = true;
  }
  if (req.has_param("wait_ms")) {
    const std::string v = req.get_param_value("wait_ms");
    std::int64_t ms = 0;
    bool ok = !v.empty() && v.size() <= 6;
    for (char ch : v) ok = ok && ch >= '0' && ch <= '9';
    if (ok) ms = std::stoll(v);
    if (!ok || ms < 1 || ms > 30000) {
      fail(res, 400, "wait_ms must be an integer between 1 and 30000", "wait_ms");
      return false;
    }
    out.ms = ms;
  }
  return true;
}

bool fleetCommitted(const Routes& ctx, const health::cluster::WriteOutcome& w,
                    const FleetWait& wait, httplib::Response& res, json& out, int& status,
                    bool noop) {
  if (!w.ok) {
    fail(res, 503, "not committed (etcd): " + w.error);
    return false;
  }
  auto& fleet = *ctx.deps->fleet;
  out["revision"] = w.revision;
  if (noop) {
    // The audit record is outside the watched control prefix: no node will
    // ever "apply" its revision, and none needs to.
    out["published"] = true;
    if (wait.all) out["behind"] = json::array();
    json everyone = json::array();
    for (const auto& [name, n] : fleet.status().nodes) everyone.push_back(name);
    out["applied_by"] = everyone;
    status = 200;
    return true;
  }
  const bool mine = fleet.waitApplied(w.revision, ctx.deps->publishWait);
  out["published"] = mine;
  status = 200;
  if (wait.all) {
    std::vector<std::string> behind;
    const bool all = fleet.waitAllApplied(w.revision, std::chrono::milliseconds(wait.ms), &behind);
    out["behind"] = behind;
    if (!all) status = 202;
  }
  json applied = json::array();
  for (const auto& [name, n] : fleet.status().nodes)
    if (n.applied >= w.revision) applied.push_back(name);
  out["applied_by"] = applied;
  return true;
}

}  // namespace geodns::server::admin
