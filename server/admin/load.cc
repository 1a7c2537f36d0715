// POST /v1/members/ADDRESS/load: a pushed load figure with its own expiry.
#include <httplib.h>

#include "core/log.h"
#include "server/admin/handler.h"

namespace geodns::server::admin {

void addLoadRoute(httplib::Server& s, const Routes& ctx) {
  constexpr auto kWrite = ApiToken::Scope::Write;
  s.Post(R"(/v1/members/([^/]+)/load)", ctx.authed(kWrite, [ctx](const httplib::Request& req,
                                                                 httplib::Response& res,
                                                                 const ApiToken& who) {
    auto snap = ctx.deps->holder->current();
    const gslb::Gslb& g = *snap->gslb;
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
    const std::int64_t now = ctx.deps->clock->unixSeconds();
    const double load = b["load"].get<double>();
    health::OverrideRecord rec{health::AdminState::key("member_load", target),
                               "member_load",
                               target,
                               reason,
                               load,
                               now,
                               now + ttl,
                               who.name};
    std::string err;
    const health::AuditRecord audit{
        0, "load_member", target, reason, who.name, json{{"load", load}, {"ttl_s", ttl}}.dump()};
    if (ctx.deps->fleet) {
      FleetWait wait;
      if (!fleetWaitOf(req, res, wait)) return;
      json out = {{"ok", true}, {"target", target}, {"load", load}, {"expires", now + ttl}};
      int status = 200;
      if (!fleetCommitted(ctx, ctx.deps->fleet->putOverride(rec, audit), wait, res, out, status))
        return;
      return reply(res, status, out);
    }
    if (!ctx.deps->admin->put(rec, audit, &err))
      return fail(res, 503, "not recorded (state database): " + err);
    GEODNS_LOG_INFO("admin: load %.3f for member %s for %llds by %s", load, target.c_str(),
                    static_cast<long long>(ttl), who.name.c_str());
    const bool published =
        ctx.deps->runner->waitPublished(ctx.deps->runner->requestPublish(), ctx.deps->publishWait);
    reply(res, 200,
          {{"ok", true},
           {"target", target},
           {"load", load},
           {"expires", now + ttl},
           {"published", published}});
  }));
}

}  // namespace geodns::server::admin
