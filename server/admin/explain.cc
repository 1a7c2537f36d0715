// GET /v1/explain: what a client would get for a name, and why.
#include <httplib.h>

#include "server/admin/handler.h"
#include "server/explain.h"

namespace geodns::server::admin {

void addExplainRoute(httplib::Server& s, const Routes& ctx) {
  constexpr auto kRead = ApiToken::Scope::Read;
  s.Get("/v1/explain", ctx.authed(kRead, [ctx](const httplib::Request& req, httplib::Response& res,
                                               const ApiToken&) {
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
    auto snap = ctx.deps->holder->current();
    if (ctx.deps->fleet && ctx.deps->runner) {
      // Own verdicts by probe target, then every vantage's through the fleet.
      auto own = std::make_shared<decltype(ctx.deps->runner->ownVerdicts())>(
          ctx.deps->runner->ownVerdicts());
      auto* fleet = ctx.deps->fleet;
      er.vantages = [own, fleet](std::size_t t) {
        if (t >= own->size()) return std::vector<health::cluster::VantageVerdict>{};
        const auto& ov = (*own)[t];
        return fleet->vantages(ov.key, ov.state, ov.latencyMs);
      };
    }
    bool ok = false;
    std::string out = explain(*snap, er, ok);
    if (!ok) {
      while (!out.empty() && out.back() == '\n') out.pop_back();
      return fail(res, 400, out, out.rfind("unknown type", 0) == 0 ? "type" : "name");
    }
    res.set_content(out, "application/json");
  }));
}

}  // namespace geodns::server::admin
