// GET /metrics: the Prometheus text, with the admin front's own counters.
#include <httplib.h>

#include "server/admin/handler.h"

namespace geodns::server::admin {

void addMetricsRoute(httplib::Server& s, const Routes& ctx) {
  constexpr auto kRead = ApiToken::Scope::Read;
  s.Get("/metrics",
        ctx.authed(kRead, [ctx](const httplib::Request&, httplib::Response& res, const ApiToken&) {
          auto snap = ctx.deps->holder->current();
          MetricsExtras x = ctx.deps->extras ? ctx.deps->extras() : MetricsExtras{};
          x.failovers = ctx.deps->runner->failoverCounts();
          if (ctx.deps->admin) x.adminActions = ctx.deps->admin->actionCounts();
          for (const auto& f : ctx.deps->runner->failoverStates())
            x.activeRegions.push_back({f.pool, f.activeRegion});
          ResilienceExtras& r = x.resilience;
          if (ctx.deps->store) {
            const health::StoreStatus st = ctx.deps->store->status();
            r.hasStore = true;
            r.storeWritable = st.writable;
            r.storeErrors = st.errors;
            r.storeRecoveries = st.recoveries;
          }
          if (ctx.deps->fleet) {
            const auto st = ctx.deps->fleet->status();
            const auto& fc = ctx.deps->fleet->counters();
            x.cluster = {true,
                         st.connected,
                         st.appliedRevision,
                         st.storeRevision,
                         fc.errors.load(),
                         fc.writes.load(),
                         fc.watchEvents.load(),
                         fc.watchBytes.load(),
                         fc.resyncs.load(),
                         st.nodes.size()};
          }
          r.adminRefusedPerClient = ctx.counters->refusedPerClient.load();
          r.adminRefusedTotal = ctx.counters->refusedTotal.load();
          r.adminTimeouts = ctx.counters->timeouts.load();
          r.adminAcceptErrors = ctx.counters->acceptErrors.load();
          r.adminRejected = ctx.counters->rejected.load();
          res.set_content(ctx.deps->metrics->render(*snap, x), "text/plain; version=0.0.4");
        }));
}

}  // namespace geodns::server::admin
