// POST /v1/regions/NAME/drain|undrain and /v1/members/ADDRESS/drain|undrain.
#include <httplib.h>

#include "core/log.h"
#include "server/admin/handler.h"

namespace geodns::server::admin {

void addDrainRoutes(httplib::Server& s, const Routes& ctx) {
  constexpr auto kWrite = ApiToken::Scope::Write;
  // Drains and undrains of regions and members.
  for (const char* what : {"region", "member"}) {
    for (bool drain : {true, false}) {
      const std::string kindName = std::string(what);
      const std::string pattern =
          std::string("/v1/") + what + "s/([^/]+)/" + (drain ? "drain" : "undrain");
      s.Post(pattern, ctx.authed(kWrite, [ctx, kindName, drain](const httplib::Request& req,
                                                                httplib::Response& res,
                                                                const ApiToken& who) {
        auto snap = ctx.deps->holder->current();
        const gslb::Gslb& g = *snap->gslb;
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
        const std::string key = health::AdminState::key(kind, target);
        const std::int64_t now = ctx.deps->clock->unixSeconds();
        health::AuditRecord audit{
            0, (drain ? "drain_" : "undrain_") + kindName, target, reason, who.name, ""};
        std::string err;
        bool changed = true;
        health::OverrideRecord rec{
            key, kind, target, reason, 0, now, expiresIn ? now + expiresIn : 0, who.name};
        if (drain && expiresIn) audit.detail = json{{"expires", now + expiresIn}}.dump();
        if (ctx.deps->fleet) {
          // A fleet: etcd takes the change with its audit record in one txn;
          // every node (this one too) applies it from its watch.
          FleetWait wait;
          if (!fleetWaitOf(req, res, wait)) return;
          const auto w = drain ? ctx.deps->fleet->putOverride(rec, audit)
                               : ctx.deps->fleet->removeOverride(kind, target, audit);
          const std::uint32_t ttl = maxTtlFor(g, kindName, target);
          json out = {{"ok", true},          {"action", audit.action},
                      {"target", target},    {"changed", drain || w.existed},
                      {"answer_ttl_s", ttl}, {"resolvers_moved_by", now + ttl}};
          int status = 200;
          if (!fleetCommitted(ctx, w, wait, res, out, status, !drain && !w.existed)) return;
          GEODNS_LOG_INFO("admin: %s %s %s by %s (fleet revision %lld): %s",
                          drain ? "drain" : "undrain", kindName.c_str(), target.c_str(),
                          who.name.c_str(), static_cast<long long>(w.revision), reason.c_str());
          if (drain) out["override"] = overrideJson(rec);
          return reply(res, status, out);
        }
        if (drain) {
          if (!ctx.deps->admin->put(rec, audit, &err))
            return fail(res, 503, "not recorded (state database): " + err);
        } else if (!ctx.deps->admin->remove(key, audit, &changed, &err)) {
          return fail(res, 503, "not recorded (state database): " + err);
        }
        GEODNS_LOG_INFO("admin: %s %s %s by %s: %s", drain ? "drain" : "undrain", kindName.c_str(),
                        target.c_str(), who.name.c_str(), reason.c_str());
        const bool published = ctx.deps->runner->waitPublished(ctx.deps->runner->requestPublish(),
                                                               ctx.deps->publishWait);
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
}

}  // namespace geodns::server::admin
