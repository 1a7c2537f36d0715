// GET /v1/status: pools, regions and members as answers see them now, with
// the overrides in force.
#include <httplib.h>

#include "server/admin/handler.h"

namespace geodns::server::admin {

void addStatusRoute(httplib::Server& s, const Routes& ctx) {
  constexpr auto kRead = ApiToken::Scope::Read;
  s.Get("/v1/status", ctx.authed(kRead, [ctx](const httplib::Request&, httplib::Response& res,
                                              const ApiToken&) {
    auto snap = ctx.deps->holder->current();
    const gslb::Gslb& g = *snap->gslb;
    const health::HealthView* hv =
        snap->health && snap->health->config == g.configId ? snap->health.get() : nullptr;
    std::map<std::string, health::FailoverRecord> fo;
    for (const auto& f : ctx.deps->runner->failoverStates()) fo[f.pool] = f;
    std::map<std::string, health::OverrideRecord> byKey;
    for (const auto& o : ctx.deps->admin->overrides()) byKey[o.key] = o;
    const auto own = ctx.deps->runner->ownVerdicts();
    json pools = json::array();
    for (const gslb::Pool& p : g.pools) {
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
      for (const gslb::PoolRegion& pr : p.regions) {
        const std::string& rn = g.regions[pr.region].name;
        json jr = {{"name", rn}};
        const std::uint32_t ttlNow =
            capped ? regionAnswerTtl(g, p, static_cast<std::size_t>(&pr - p.regions.data()), hv)
                   : p.ttl;
        jr["answer_ttl_s"] = ttlNow;
        longest = std::max(longest, ttlNow);
        auto d = byKey.find(health::AdminState::key("region_drain", rn));
        jr["drained"] = d != byKey.end();
        if (d != byKey.end()) jr["drain"] = overrideJson(d->second);
        if (!pr.cname.empty()) jr["cname"] = name::toText(name::asSpan(pr.cname));
        json members = json::array();
        for (const auto* ms : {&pr.v4, &pr.v6})
          for (const gslb::Member& m : *ms) {
            const std::string& mn = g.memberNames[m.id];
            json jm = {{"address", mn}, {"weight", m.weight}};
            const health::TargetHealth* th =
                hv && m.target >= 0 && static_cast<std::size_t>(m.target) < hv->targets.size()
                    ? &hv->targets[static_cast<std::size_t>(m.target)]
                    : nullptr;
            jm["probed"] = m.target >= 0;
            // A fleet: every vantage's verdict, and the quorum's decision.
            if (ctx.deps->fleet && m.target >= 0 &&
                static_cast<std::size_t>(m.target) < own.size()) {
              const auto& ov = own[static_cast<std::size_t>(m.target)];
              json vs = json::array();
              for (const auto& v : ctx.deps->fleet->vantages(ov.key, ov.state, ov.latencyMs))
                vs.push_back({{"node", v.node},
                              {"state", health::stateName(v.state)},
                              {"latency_ms", v.latencyMs ? json(*v.latencyMs) : json(nullptr)},
                              {"live", v.live}});
              jm["vantages"] = vs;
              const auto q = ctx.deps->fleet->decide(ov.key, ov.state, ov.latencyMs);
              jm["quorum"] = {{"state", health::stateName(q.state)},
                              {"voters", q.voters},
                              {"up", q.up},
                              {"needed", q.needed},
                              {"own_only", q.ownOnly}};
            }
            jm["state"] = th ? health::stateName(th->state) : "not probed";
            jm["up"] = th ? th->up : true;
            jm["latency_ms"] = th && th->latencyMs > 0 ? json(th->latencyMs) : json(nullptr);
            double load = th && th->load >= 0 ? th->load : -1;
            std::string loadSource = load >= 0 ? "probe" : "none";
            auto pushed = byKey.find(health::AdminState::key("member_load", mn));
            if (pushed != byKey.end()) {
              load = pushed->second.value;
              loadSource = "pushed";
              jm["load_expires"] = pushed->second.expiresUnix;
            }
            jm["load"] = load >= 0 ? json(load) : json(nullptr);
            jm["load_source"] = loadSource;
            auto md = byKey.find(health::AdminState::key("member_drain", mn));
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
    json out = {{"generation", snap->generation}, {"pools", pools}, {"overrides", overrides}};
    if (ctx.deps->fleet) {
      const auto st = ctx.deps->fleet->status();
      json nodes = json::array();
      for (const auto& [name, n] : st.nodes)
        nodes.push_back(
            {{"name", name},
             {"site", n.site},
             {"version", n.version},
             {"applied_revision", n.applied},
             {"started", n.startedUnixMs / 1000},
             {"last_seen", n.probingUnixMs / 1000},
             {"connected", name == ctx.deps->fleet->options().node ? st.connected : true}});
      out["cluster"] = {{"node", ctx.deps->fleet->options().node},
                        {"connected", st.connected},
                        {"applied_revision", st.appliedRevision},
                        {"store_revision", st.storeRevision},
                        {"leader", st.leader},
                        {"nodes", nodes}};
    }
    reply(res, 200, out);
  }));
}

}  // namespace geodns::server::admin
