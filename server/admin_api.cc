#include "server/admin_api.h"

#include <netinet/in.h>
#include <sys/stat.h>

#include <httplib.h>
#include <algorithm>
#include <charconv>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/address.h"
#include "core/log.h"
#include "server/explain.h"

namespace geodns::server {
namespace {

using json = nlohmann::ordered_json;
constexpr auto kPublishWait = std::chrono::seconds(5);
constexpr std::int64_t kMaxExpirySec = 366LL * 86400;

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", "application/json");
}

void fail(httplib::Response& res, int status, const std::string& msg,
          const std::string& field = {}) {
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
    fail(res, 400, "the body must be a JSON object");
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
std::uint32_t maxTtlFor(const Gslb& g, const std::string& kind, const std::string& target) {
  std::uint32_t ttl = 0;
  const std::int32_t region = kind == "region" ? g.regionIndex(target) : -1;
  const std::int32_t member = kind == "member" ? g.memberIndex(target) : -1;
  for (const Pool& p : g.pools)
    for (const PoolRegion& pr : p.regions) {
      bool hit = region >= 0 && pr.region == static_cast<RegionId>(region);
      for (const auto* ms : {&pr.v4, &pr.v6})
        for (const Member& m : *ms)
          hit = hit || (member >= 0 && m.id == static_cast<std::uint32_t>(member));
      if (hit) ttl = std::max(ttl, p.ttl);
    }
  return ttl;
}

}  // namespace

bool loadTokens(const std::string& path, std::vector<ApiToken>& out, std::string* err) {
  std::ifstream in(path);
  if (!in) {
    *err = path + ": cannot read the admin token file";
    return false;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077))
    GEODNS_LOG_WARN("admin: %s is readable by group or others; chmod 600 it", path.c_str());
  out.clear();
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    line = line.substr(start);
    ApiToken t;
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      t.name = line.substr(0, colon);
      t.secret = line.substr(colon + 1);
    } else {
      t.name = "token-" + std::to_string(n);
      t.secret = line;
    }
    if (t.secret.size() < 16 || t.name.empty()) {
      *err = path + ":" + std::to_string(n) +
             ": a token needs a name and a secret of at least 16 bytes";
      return false;
    }
    out.push_back(std::move(t));
  }
  if (out.empty()) {
    *err = path + ": no token in the admin token file";
    return false;
  }
  return true;
}

const ApiToken* matchToken(const std::vector<ApiToken>& tokens, const std::string& presented) {
  const ApiToken* found = nullptr;
  for (const ApiToken& t : tokens) {  // every token is compared: timing says nothing
    unsigned char diff = t.secret.size() != presented.size();
    const std::size_t n = std::max(t.secret.size(), presented.size());
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned char a = i < t.secret.size() ? static_cast<unsigned char>(t.secret[i]) : 0;
      const unsigned char b = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      diff |= static_cast<unsigned char>(a ^ b);
    }
    if (diff == 0 && !found) found = &t;
  }
  return found;
}

AdminApi::AdminApi(const zones::AdminConfig& cfg, std::vector<ApiToken> tokens, AdminDeps deps)
    : cfg_(cfg),
      deps_(std::move(deps)),
      tokens_(std::move(tokens)),
      http_(std::make_unique<httplib::Server>()) {
  routes();
}

AdminApi::~AdminApi() {
  stop();
}

void AdminApi::setTokens(std::vector<ApiToken> tokens) {
  std::lock_guard lock(tokensMu_);
  tokens_ = std::move(tokens);
}

bool AdminApi::start(std::string* err) {
  auto addr = parseHostPort(cfg_.listen, err);
  if (!addr) return false;
  const std::string host = addr->host();
  const int port = addr->port();
  const IpAddress ip = IpAddress::fromSockaddr(addr->sa());
  const bool loopback = ip.family == 4 ? ip.bytes[0] == 127 : host == "::1";
  if (!loopback)
    GEODNS_LOG_WARN("admin: listening on %s, which is not a loopback address", cfg_.listen.c_str());
  if (port == 0) {
    port_ = http_->bind_to_any_port(host);
  } else {
    port_ = http_->bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) {
    *err = "admin API: cannot bind " + cfg_.listen;
    return false;
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  pthread_setname_np(thread_.native_handle(), "geodns-admin");
  GEODNS_LOG_INFO("admin API on %s:%d", host.c_str(), port_);
  return true;
}

void AdminApi::stop() {
  if (thread_.joinable()) {
    http_->stop();
    thread_.join();
  }
}

void AdminApi::routes() {
  httplib::Server& s = *http_;
  const std::size_t threads = cfg_.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(64 * 1024);
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) fail(res, res.status, res.status == 404 ? "no such endpoint" : "error");
  });
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        GEODNS_LOG_ERROR("admin: request failed: %s", what.c_str());
        fail(res, 500, "internal error");
      });

  // Unauthenticated: liveness and readiness for orchestrators.
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}});
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = deps_.ready && deps_.ready->load();
    reply(res, ready ? 200 : 503, {{"ready", ready}});
  });

  // Everything else needs "Authorization: Bearer TOKEN".
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, const ApiToken&)>;
  auto authed = [this](Handler h) {
    return [this, h](const httplib::Request& req, httplib::Response& res) {
      const std::string auth = req.get_header_value("Authorization");
      if (auth.rfind("Bearer ", 0) != 0 || auth.size() <= 7) {
        res.set_header("WWW-Authenticate", "Bearer realm=\"geodnsd\"");
        return fail(res, 401, "missing bearer token");
      }
      ApiToken who;
      {
        std::lock_guard lock(tokensMu_);
        const ApiToken* t = matchToken(tokens_, auth.substr(7));
        if (!t) return fail(res, 403, "token not accepted");
        who = *t;
      }
      h(req, res, who);
    };
  };

  s.Get("/metrics",
        authed([this](const httplib::Request&, httplib::Response& res, const ApiToken&) {
          auto snap = deps_.holder->current();
          MetricsExtras x = deps_.extras ? deps_.extras() : MetricsExtras{};
          x.failovers = deps_.runner->failoverCounts();
          x.adminActions = deps_.admin->actionCounts();
          for (const auto& f : deps_.runner->failoverStates())
            x.activeRegions.push_back({f.pool, f.activeRegion});
          res.set_content(deps_.metrics->render(*snap, x), "text/plain; version=0.0.4");
        }));

  s.Get("/v1/status",
        authed([this](const httplib::Request&, httplib::Response& res, const ApiToken&) {
          auto snap = deps_.holder->current();
          const Gslb& g = *snap->gslb;
          const health::HealthView* hv =
              snap->health && snap->health->forConfig == &g ? snap->health.get() : nullptr;
          std::map<std::string, health::FailoverRecord> fo;
          for (const auto& f : deps_.runner->failoverStates()) fo[f.pool] = f;
          std::map<std::string, health::OverrideRecord> byKey;
          for (const auto& o : deps_.admin->overrides()) byKey[o.key] = o;
          json pools = json::array();
          for (const Pool& p : g.pools) {
            json jp = {{"name", p.name}, {"ttl", p.ttl}};
            // The TTL answers carry now (health may shorten it): per region,
            // for clients that rank it first; the pool's is the longest.
            const bool capped = healthCapsTtl(g, static_cast<std::size_t>(&p - g.pools.data()));
            std::uint32_t longest = 0;
            if (auto it = fo.find(p.name); it != fo.end() && p.failover)
              jp["failover"] = {{"active_region", it->second.activeRegion},
                                {"since", it->second.sinceUnix},
                                {"reason", it->second.reason},
                                {"forced", it->second.forced}};
            json regions = json::array();
            for (const PoolRegion& pr : p.regions) {
              const std::string& rn = g.regions[pr.region].name;
              json jr = {{"name", rn}};
              const std::uint32_t ttlNow =
                  capped
                      ? regionAnswerTtl(g, p, static_cast<std::size_t>(&pr - p.regions.data()), hv)
                      : p.ttl;
              jr["answer_ttl_s"] = ttlNow;
              longest = std::max(longest, ttlNow);
              auto d = byKey.find(AdminState::key("region_drain", rn));
              jr["drained"] = d != byKey.end();
              if (d != byKey.end()) jr["drain"] = overrideJson(d->second);
              if (!pr.cname.empty()) jr["cname"] = name::toText(name::asSpan(pr.cname));
              json members = json::array();
              for (const auto* ms : {&pr.v4, &pr.v6})
                for (const Member& m : *ms) {
                  const std::string& mn = g.memberNames[m.id];
                  json jm = {{"address", mn}, {"weight", m.weight}};
                  const health::TargetHealth* th =
                      hv && m.target >= 0 && static_cast<std::size_t>(m.target) < hv->targets.size()
                          ? &hv->targets[static_cast<std::size_t>(m.target)]
                          : nullptr;
                  jm["probed"] = m.target >= 0;
                  jm["state"] = th ? health::stateName(th->state) : "not probed";
                  jm["up"] = th ? th->up : true;
                  jm["latency_ms"] = th && th->latencyMs > 0 ? json(th->latencyMs) : json(nullptr);
                  double load = th && th->load >= 0 ? th->load : -1;
                  std::string loadSource = load >= 0 ? "probe" : "none";
                  auto pushed = byKey.find(AdminState::key("member_load", mn));
                  if (pushed != byKey.end()) {
                    load = pushed->second.value;
                    loadSource = "pushed";
                    jm["load_expires"] = pushed->second.expiresUnix;
                  }
                  jm["load"] = load >= 0 ? json(load) : json(nullptr);
                  jm["load_source"] = loadSource;
                  auto md = byKey.find(AdminState::key("member_drain", mn));
                  const bool drained = md != byKey.end() || d != byKey.end();
                  jm["drained"] = drained;
                  if (md != byKey.end()) jm["drain"] = overrideJson(md->second);
                  // capacity_weighted's weight without shed_load watermarks.
                  const double eff = drained || !(th ? th->up : true)
                                         ? 0.0
                                         : m.weight * (load >= 0 ? std::max(0.0, 1.0 - load) : 1.0);
                  jm["effective_weight"] = eff;
                  members.push_back(jm);
                }
              jr["members"] = members;
              regions.push_back(jr);
            }
            jp["regions"] = regions;
            jp["answer_ttl_s"] = longest;
            pools.push_back(jp);
          }
          json overrides = json::array();
          for (const auto& [k, o] : byKey) {
            json jo = overrideJson(o);
            if (o.kind != "member_load") {
              const std::uint32_t ttl =
                  maxTtlFor(g, o.kind == "region_drain" ? "region" : "member", o.target);
              jo["answer_ttl_s"] = ttl;
              jo["resolvers_moved_by"] = o.createdUnix + ttl;  // when caches have let go
            }
            overrides.push_back(jo);
          }
          reply(res, 200,
                {{"generation", snap->generation}, {"pools", pools}, {"overrides", overrides}});
        }));

  // Drains and undrains of regions and members.
  for (const char* what : {"region", "member"}) {
    for (bool drain : {true, false}) {
      const std::string kindName = std::string(what);
      const std::string pattern =
          std::string("/v1/") + what + "s/([^/]+)/" + (drain ? "drain" : "undrain");
      s.Post(pattern, authed([this, kindName, drain](const httplib::Request& req,
                                                     httplib::Response& res, const ApiToken& who) {
               auto snap = deps_.holder->current();
               const Gslb& g = *snap->gslb;
               std::string target = req.matches[1];
               if (kindName == "region") {
                 if (g.regionIndex(target) < 0) return fail(res, 404, "no region '" + target + "'");
               } else {
                 const std::int32_t m = g.memberIndex(target);
                 if (m < 0) return fail(res, 404, "no member with address '" + target + "'");
                 target = g.memberNames[static_cast<std::size_t>(m)];
               }
               json b;
               if (!body(req, res, b,
                         drain ? std::initializer_list<const char*>{"reason", "expires_in_s"}
                               : std::initializer_list<const char*>{"reason"}))
                 return;
               std::string reason;
               std::int64_t expiresIn = 0;
               if (!reasonOf(b, res, reason, true)) return;
               if (drain && !secondsOf(b, "expires_in_s", res, expiresIn, kMaxExpirySec)) return;
               const std::string kind = kindName + "_drain";
               const std::string key = AdminState::key(kind, target);
               const std::int64_t now = deps_.clock->unixSeconds();
               health::AuditRecord audit{
                   0, (drain ? "drain_" : "undrain_") + kindName, target, reason, who.name, ""};
               std::string err;
               bool changed = true;
               health::OverrideRecord rec{
                   key, kind, target, reason, 0, now, expiresIn ? now + expiresIn : 0, who.name};
               if (drain) {
                 if (expiresIn) audit.detail = json{{"expires", now + expiresIn}}.dump();
                 if (!deps_.admin->put(rec, audit, &err))
                   return fail(res, 503, "not recorded (state database): " + err);
               } else if (!deps_.admin->remove(key, audit, &changed, &err)) {
                 return fail(res, 503, "not recorded (state database): " + err);
               }
               GEODNS_LOG_INFO("admin: %s %s %s by %s: %s", drain ? "drain" : "undrain",
                               kindName.c_str(), target.c_str(), who.name.c_str(), reason.c_str());
               const bool published =
                   deps_.runner->waitPublished(deps_.runner->requestPublish(), kPublishWait);
               const std::uint32_t ttl = maxTtlFor(g, kindName, target);
               json out = {{"ok", true},
                           {"action", audit.action},
                           {"target", target},
                           {"changed", changed},
                           {"published", published},
                           {"answer_ttl_s", ttl},
                           {"resolvers_moved_by", now + ttl}};
               if (drain) out["override"] = overrideJson(rec);
               reply(res, 200, out);
             }));
    }
  }

  s.Post(R"(/v1/members/([^/]+)/load)",
         authed([this](const httplib::Request& req, httplib::Response& res, const ApiToken& who) {
           auto snap = deps_.holder->current();
           const Gslb& g = *snap->gslb;
           const std::int32_t m = g.memberIndex(req.matches[1]);
           if (m < 0)
             return fail(res, 404, "no member with address '" + std::string(req.matches[1]) + "'");
           const std::string target = g.memberNames[static_cast<std::size_t>(m)];
           json b;
           if (!body(req, res, b, {"load", "ttl_s", "reason"})) return;
           if (!b.contains("load") || !b["load"].is_number() || b["load"].get<double>() < 0 ||
               b["load"].get<double>() > 1)
             return fail(res, 400, "load must be a number in [0, 1]", "load");
           std::int64_t ttl = 60;
           if (!secondsOf(b, "ttl_s", res, ttl, 86400)) return;
           std::string reason = "pushed load";
           if (!reasonOf(b, res, reason, false)) return;
           const std::int64_t now = deps_.clock->unixSeconds();
           const double load = b["load"].get<double>();
           health::OverrideRecord rec{AdminState::key("member_load", target),
                                      "member_load",
                                      target,
                                      reason,
                                      load,
                                      now,
                                      now + ttl,
                                      who.name};
           std::string err;
           if (!deps_.admin->put(rec,
                                 {0, "load_member", target, reason, who.name,
                                  json{{"load", load}, {"ttl_s", ttl}}.dump()},
                                 &err))
             return fail(res, 503, "not recorded (state database): " + err);
           GEODNS_LOG_INFO("admin: load %.3f for member %s for %llds by %s", load, target.c_str(),
                           static_cast<long long>(ttl), who.name.c_str());
           const bool published =
               deps_.runner->waitPublished(deps_.runner->requestPublish(), kPublishWait);
           reply(res, 200,
                 {{"ok", true},
                  {"target", target},
                  {"load", load},
                  {"expires", now + ttl},
                  {"published", published}});
         }));

  for (bool force : {true, false}) {
    s.Post(std::string(R"(/v1/pools/([^/]+)/)") + (force ? "failover" : "failback"),
           authed([this, force](const httplib::Request& req, httplib::Response& res,
                                const ApiToken& who) {
             auto snap = deps_.holder->current();
             const Gslb& g = *snap->gslb;
             const std::string poolName = req.matches[1];
             const Pool* pool = nullptr;
             for (const Pool& p : g.pools)
               if (p.name == poolName) pool = &p;
             if (!pool) return fail(res, 404, "no pool '" + poolName + "'");
             if (!pool->failover)
               return fail(res, 409, "pool '" + poolName + "' has no failover rule");
             json b;
             if (!body(req, res, b,
                       force ? std::initializer_list<const char*>{"region", "reason"}
                             : std::initializer_list<const char*>{"reason"}))
               return;
             std::string region;
             if (force) {
               if (!b.contains("region") || !b["region"].is_string())
                 return fail(res, 400, "region (a string) is required", "region");
               region = b["region"].get<std::string>();
               bool tier = false;
               for (auto t : pool->failover->tiers)
                 tier = tier || g.regions[pool->regions[t].region].name == region;
               if (!tier)
                 return fail(
                     res, 400,
                     "region '" + region + "' is not a failover tier of pool '" + poolName + "'",
                     "region");
             }
             std::string reason;
             if (!reasonOf(b, res, reason, true)) return;
             const std::string tagged = reason + " (by " + who.name + ")";
             if (force)
               deps_.runner->forceFailover(poolName, region, tagged);
             else
               deps_.runner->failback(poolName, tagged);
             // The probe thread applies it, saves it and publishes it before we answer.
             const bool published =
                 deps_.runner->waitPublished(deps_.runner->requestPublish(), kPublishWait);
             std::string err;
             if (!deps_.admin->record({0, force ? "failover" : "failback", poolName, reason,
                                       who.name, force ? json{{"region", region}}.dump() : ""},
                                      &err))
               return fail(res, 503, "not recorded (state database): " + err);
             GEODNS_LOG_INFO("admin: %s pool %s%s%s by %s: %s", force ? "failover" : "failback",
                             poolName.c_str(), force ? " to " : "", region.c_str(),
                             who.name.c_str(), reason.c_str());
             json out = {{"ok", true}, {"pool", poolName}, {"published", published}};
             for (const auto& f : deps_.runner->failoverStates())
               if (f.pool == poolName)
                 out["failover"] = {{"active_region", f.activeRegion},
                                    {"since", f.sinceUnix},
                                    {"reason", f.reason},
                                    {"forced", f.forced}};
             reply(res, 200, out);
           }));
  }

  s.Get("/v1/explain",
        authed([this](const httplib::Request& req, httplib::Response& res, const ApiToken&) {
          if (!req.has_param("name")) return fail(res, 400, "name is required", "name");
          if (!req.has_param("client"))
            return fail(res, 400, "client (IP or IP/PREFIX) is required", "client");
          ExplainRequest er;
          er.name = req.get_param_value("name");
          er.type = req.has_param("type") ? req.get_param_value("type") : "A";
          er.json = true;
          std::string err;
          const std::string client = req.get_param_value("client");
          auto prefix = IpPrefix::parse(client, &err, true);
          if (!prefix) return fail(res, 400, "client: " + err, "client");
          er.client = *prefix;
          er.clientIsEcs = client.find('/') != std::string::npos;
          const std::string resolver =
              req.has_param("resolver") ? req.get_param_value("resolver") : "127.0.0.1";
          auto r = IpAddress::parse(resolver);
          if (!r) return fail(res, 400, "resolver must be an IP address", "resolver");
          er.resolver = *r;
          auto snap = deps_.holder->current();
          bool ok = false;
          std::string out = explain(*snap, er, ok);
          if (!ok) {
            while (!out.empty() && out.back() == '\n') out.pop_back();
            return fail(res, 400, out, out.rfind("unknown type", 0) == 0 ? "type" : "name");
          }
          res.set_content(out, "application/json");
        }));

  s.Post("/v1/reload",
         authed([this](const httplib::Request& req, httplib::Response& res, const ApiToken& who) {
           json b;
           if (!body(req, res, b, {"reason"})) return;
           std::string reason = "reload";
           if (!reasonOf(b, res, reason, false)) return;
           ReloadOutcome r = deps_.reload();
           bool published = false;
           if (r.ok) published = deps_.runner->waitPublished(r.ticket, kPublishWait);
           std::string err;
           deps_.admin->record({0, r.ok ? "reload" : "reload_failed", "config", reason, who.name,
                                json{{"errors", r.errors}}.dump()},
                               &err);
           if (!r.ok)
             return reply(res, 422,
                          {{"error", "reload failed; the previous config keeps serving"},
                           {"field", nullptr},
                           {"errors", r.errors}});
           reply(res, 200,
                 {{"ok", true},
                  {"generation", deps_.holder->current()->generation},
                  {"published", published}});
         }));

  s.Get("/v1/audit",
        authed([this](const httplib::Request& req, httplib::Response& res, const ApiToken&) {
          std::size_t limit = 100;
          if (req.has_param("limit")) {
            const std::string v = req.get_param_value("limit");
            std::size_t n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > 10000)
              return fail(res, 400, "limit must be an integer between 1 and 10000", "limit");
            limit = n;
          }
          json entries = json::array();
          for (const auto& a : deps_.admin->audit(limit)) {
            json e = {{"time_ms", a.unixMs},
                      {"action", a.action},
                      {"target", a.target},
                      {"reason", a.reason},
                      {"identity", a.identity}};
            if (!a.detail.empty()) {
              auto d = json::parse(a.detail, nullptr, false);
              if (!d.is_discarded()) e["detail"] = d;
            }
            entries.push_back(e);
          }
          reply(res, 200, {{"entries", entries}});
        }));
}

}  // namespace geodns::server
