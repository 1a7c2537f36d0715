#include "server/admin/api.h"

#include <httplib.h>

#include <exception>
#include <iterator>

#include "core/address.h"
#include "core/log.h"
#include "server/admin/handler.h"
#include "server/admin/router.h"
#include "server/admin/text.h"

namespace geodns::server {

using admin::fail;
using admin::iequals;
using admin::json;
using admin::reply;
using admin::validUtf8;
using admin::visibleAscii;

// ---- AdminApi ----

AdminApi::AdminApi(const config::AdminConfig& cfg, std::vector<ApiToken> tokens, AdminDeps deps,
                   AdminLimits limits)
    : cfg_(cfg),
      deps_(std::move(deps)),
      limits_(limits),
      tokens_(std::move(tokens)),
      router_(std::make_unique<AdminRouter>()) {
  routes();
}

AdminApi::~AdminApi() {
  stop();
}

void AdminApi::setTokens(std::vector<ApiToken> tokens) {
  std::lock_guard lock(tokensMu_);
  tokens_ = std::move(tokens);
}

std::string AdminApi::handle(std::string_view request, const std::string& peer) {
  return router_->handle(request, peer, true, nullptr);
}

bool AdminApi::start(std::string* err) {
  auto addr = parseHostPort(cfg_.listen, err);
  if (!addr) return false;
  const IpAddress ip = IpAddress::fromSockaddr(addr->sa());
  const bool loopback = ip.family == 4 ? ip.bytes[0] == 127 : addr->host() == "::1";
  if (!loopback)
    GEODNS_LOG_WARN("admin: listening on %s, which is not a loopback address", cfg_.listen.c_str());
  front_ = std::make_unique<AdminFront>(
      limits_, cfg_.threads, counters_,
      [this](std::string_view request, const std::string& peer, bool close, bool* keepAlive) {
        return router_->handle(request, peer, close, keepAlive);
      });
  std::string why;
  port_ = front_->bind(*addr, &why);
  if (port_ <= 0) {
    *err = "admin API: cannot bind " + cfg_.listen + ": " + why;
    front_.reset();
    return false;
  }
  front_->start();
  GEODNS_LOG_INFO("admin API on %s:%d", addr->host().c_str(), port_);
  return true;
}

void AdminApi::stop() {
  if (front_) front_->stop();
}

// ---- routes: errors, health checks and authentication here; resources in NAME.cc ----

namespace {

// The bearer token of a request. Only visible ASCII after "Bearer ": a NUL
// or trailing junk is refused here, never compared (cpp-httplib's
// get_header_value() would cut the value at a NUL and accept the prefix).
enum class Auth { Ok, Missing, Malformed };
Auth bearerOf(const httplib::Request& req, std::string& token) {
  const auto range = req.headers.equal_range("Authorization");
  if (range.first == range.second) return Auth::Missing;
  if (std::next(range.first) != range.second) return Auth::Malformed;  // two of them
  const std::string& v = range.first->second;
  if (v.size() < 7 || !iequals(std::string_view(v).substr(0, 7), "Bearer ")) return Auth::Missing;
  std::string_view t = std::string_view(v).substr(7);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  if (!visibleAscii(t)) return Auth::Malformed;
  token = std::string(t);
  return Auth::Ok;
}

const char* statusText(int status) {
  switch (status) {
    case 400:
      return "malformed request";
    case 404:
      return "no such endpoint";
    case 405:
      return "method not allowed";
    case 413:
      return "the body is too large";
    case 414:
      return "the request target is too long";
    case 416:
      return "bad range";
    default:
      return status >= 500 ? "internal error" : "request refused";
  }
}

}  // namespace

void AdminApi::routes() {
  httplib::Server& s = router_->server();
  s.set_payload_max_length(limits_.maxBodyBytes);
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) fail(res, res.status, statusText(res.status));
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
        GEODNS_LOG_LIMITED(Error, "admin: request failed: %s", what.c_str());
        fail(res, 500, "internal error");
      });
  // Bytes that are not UTF-8 in the path or the query: 400 before any
  // handler sees them (they would end up in JSON answers and logs).
  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!validUtf8(req.path)) {
      fail(res, 400, "the path is not valid UTF-8");
      return httplib::Server::HandlerResponse::Handled;
    }
    for (const auto& [k, v] : req.params)
      if (!validUtf8(k) || !validUtf8(v)) {
        fail(res, 400, "a query parameter is not valid UTF-8", validUtf8(k) ? k : "");
        return httplib::Server::HandlerResponse::Handled;
      }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Unauthenticated: liveness and readiness for orchestrators. Ready means
  // DNS is being served; a state database that fails shows in the detail
  // but does not make a serving node unready (restarting it would not help).
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}});
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = deps_.ready && deps_.ready->load();
    json j = {{"ready", ready}};
    // The state database's condition, once it has something to report.
    const health::StoreStatus st = deps_.store ? deps_.store->status() : health::StoreStatus{};
    if (!st.writable || st.errors > 0) {
      json d = {{"writable", st.writable}, {"errors_total", st.errors}};
      if (!st.error.empty()) d["last_error"] = st.error;
      j["state_store"] = d;
    }
    reply(res, ready ? 200 : 503, j);
  });

  // Everything else needs "Authorization: Bearer TOKEN"; changes need a
  // token with the write scope.
  admin::Routes ctx;
  ctx.deps = &deps_;
  ctx.counters = &counters_;
  ctx.authed = [this](ApiToken::Scope needs, admin::AuthedHandler h) -> admin::HttpHandler {
    return [this, needs, h](const httplib::Request& req, httplib::Response& res) {
      std::string presented;
      switch (bearerOf(req, presented)) {
        case Auth::Missing:
          res.set_header("WWW-Authenticate", "Bearer realm=\"geodnsd\"");
          return fail(res, 401, "missing bearer token");
        case Auth::Malformed:
          res.set_header("WWW-Authenticate", "Bearer realm=\"geodnsd\", error=\"invalid_request\"");
          return fail(res, 401, "malformed Authorization header");
        case Auth::Ok:
          break;
      }
      ApiToken who;
      {
        std::lock_guard lock(tokensMu_);
        const ApiToken* t = matchToken(tokens_, presented);
        if (!t) return fail(res, 403, "token not accepted");
        who = *t;
      }
      if (needs == ApiToken::Scope::Write && who.scope != ApiToken::Scope::Write)
        return fail(res, 403,
                    "token '" + who.name + "' may only read; this call needs a write token");
      h(req, res, who);
    };
  };

  admin::addMetricsRoute(s, ctx);
  admin::addStatusRoute(s, ctx);
  admin::addDrainRoutes(s, ctx);
  admin::addLoadRoute(s, ctx);
  admin::addFailoverRoutes(s, ctx);
  admin::addExplainRoute(s, ctx);
  admin::addReloadRoute(s, ctx);
  admin::addAuditRoute(s, ctx);
}

}  // namespace geodns::server
