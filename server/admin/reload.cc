// POST /v1/reload: the same reload as SIGHUP, audited.
#include <httplib.h>

#include "server/admin/handler.h"

namespace geodns::server::admin {

void addReloadRoute(httplib::Server& s, const Routes& ctx) {
  constexpr auto kWrite = ApiToken::Scope::Write;
  s.Post("/v1/reload", ctx.authed(kWrite, [ctx](const httplib::Request& req, httplib::Response& res,
                                                const ApiToken& who) {
    json b;
    if (!body(req, res, b, {"reason"})) return;
    std::string reason = "reload";
    if (!reasonOf(b, res, reason, false)) return;
    if (!ctx.deps->reload) return fail(res, 503, "reload is not available");
    ReloadOutcome r = ctx.deps->reload();
    bool published = false;
    if (r.ok) published = ctx.deps->runner->waitPublished(r.ticket, ctx.deps->publishWait);
    std::string err;
    if (ctx.deps->admin)
      ctx.deps->admin->record({0, r.ok ? "reload" : "reload_failed", "config", reason, who.name,
                               json{{"errors", r.errors}}.dump()},
                              &err);
    if (!r.ok)
      return reply(res, 422,
                   {{"error", "reload failed; the previous config keeps serving"},
                    {"field", nullptr},
                    {"errors", r.errors}});
    reply(res, 200,
          {{"ok", true},
           {"generation", ctx.deps->holder->current()->generation},
           {"published", published}});
  }));
}

}  // namespace geodns::server::admin
