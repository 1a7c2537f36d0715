// GET /v1/audit: the newest admin actions first.
#include <httplib.h>

#include <charconv>

#include "server/admin/handler.h"

namespace geodns::server::admin {

void addAuditRoute(httplib::Server& s, const Routes& ctx) {
  constexpr auto kRead = ApiToken::Scope::Read;
  s.Get("/v1/audit", ctx.authed(kRead, [ctx](const httplib::Request& req, httplib::Response& res,
                                             const ApiToken&) {
    std::size_t limit = 100;
    if (req.has_param("limit")) {
      const std::string v = req.get_param_value("limit");
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > 10000)
        return fail(res, 400, "limit must be an integer between 1 and 10000", "limit");
      limit = n;
    }
    std::vector<health::AuditRecord> records;
    std::string err;
    if (ctx.deps->fleet) {
      // A fleet's audit log is in etcd, written with each change.
      auto r = ctx.deps->fleet->audit(limit);
      if (!r) return fail(res, 503, "the audit log cannot be read (etcd): " + r.error().str());
      records = std::move(r.value());
    } else if (!ctx.deps->admin->audit(limit, records, &err)) {
      return fail(res, 503, "the audit log cannot be read (state database): " + err);
    }
    json entries = json::array();
    for (const auto& a : records) {
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

}  // namespace geodns::server::admin
