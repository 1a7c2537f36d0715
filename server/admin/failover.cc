// POST /v1/pools/NAME/failover|failback: applied by the probe thread.
#include <httplib.h>

#include "core/log.h"
#include "server/admin/handler.h"

namespace geodns::server::admin {

void addFailoverRoutes(httplib::Server& s, const Routes& ctx) {
  constexpr auto kWrite = ApiToken::Scope::Write;
  for (bool force : {true, false}) {
    s.Post(
        std::string(R"(/v1/pools/([^/]+)/)") + (force ? "failover" : "failback"),
        ctx.authed(kWrite, [ctx, force](const httplib::Request& req, httplib::Response& res,
                                        const ApiToken& who) {
          auto snap = ctx.deps->holder->current();
          const gslb::Gslb& g = *snap->gslb;
          const std::string poolName = req.matches[1];
          const gslb::Pool* pool = nullptr;
          for (const gslb::Pool& p : g.pools)
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
          // The probe thread applies it and writes its audit record in the
          // same step, so concurrent commands are audited in the order in
          // which they took effect; it publishes before we answer.
          const health::AuditRecord audit{0,        force ? "failover" : "failback",
                                          poolName, reason,
                                          who.name, force ? json{{"region", region}}.dump() : ""};
          if (ctx.deps->fleet) {
            // A fleet: the command goes to etcd with its audit record; every
            // node's probe thread applies it from the watch.
            FleetWait wait;
            if (!fleetWaitOf(req, res, wait)) return;
            health::cluster::FailoverCommand cmd{poolName, force, region, reason, who.name, 0, 0};
            json out = {{"ok", true}, {"pool", poolName}};
            int status = 200;
            if (!fleetCommitted(ctx, ctx.deps->fleet->putFailover(cmd, audit), wait, res, out,
                                status))
              return;
            GEODNS_LOG_INFO("admin: %s pool %s%s%s by %s (fleet): %s",
                            force ? "failover" : "failback", poolName.c_str(), force ? " to " : "",
                            region.c_str(), who.name.c_str(), reason.c_str());
            for (const auto& f : ctx.deps->runner->failoverStates())
              if (f.pool == poolName)
                out["failover"] = {{"active_region", f.activeRegion},
                                   {"since", f.sinceUnix},
                                   {"reason", f.reason},
                                   {"forced", f.forced}};
            return reply(res, status, out);
          }
          auto done = force ? ctx.deps->runner->forceFailover(poolName, region, tagged, audit)
                            : ctx.deps->runner->failback(poolName, tagged, audit);
          const bool published = ctx.deps->runner->waitPublished(ctx.deps->runner->requestPublish(),
                                                                 ctx.deps->publishWait);
          if (done.wait_for(published ? Duration::zero() : ctx.deps->publishWait) !=
              std::future_status::ready)
            return fail(res, 503,
                        "the command was not applied in time; check /v1/status before retrying");
          const HealthRunner::CommandResult r = done.get();
          using Result = HealthRunner::CommandResult::Outcome;
          if (r.outcome == Result::NotRecorded)
            return fail(res, 503, "not recorded (state database): " + r.error);
          if (r.outcome == Result::NoSuchPool) return fail(res, 409, r.error);
          GEODNS_LOG_INFO("admin: %s pool %s%s%s by %s: %s", force ? "failover" : "failback",
                          poolName.c_str(), force ? " to " : "", region.c_str(), who.name.c_str(),
                          reason.c_str());
          json out = {{"ok", true}, {"pool", poolName}, {"published", published}};
          for (const auto& f : ctx.deps->runner->failoverStates())
            if (f.pool == poolName)
              out["failover"] = {{"active_region", f.activeRegion},
                                 {"since", f.sinceUnix},
                                 {"reason", f.reason},
                                 {"forced", f.forced}};
          reply(res, 200, out);
        }));
  }
}

}  // namespace geodns::server::admin
