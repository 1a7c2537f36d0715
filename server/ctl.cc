#include "server/ctl.h"

#include <httplib.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/address.h"
#include "server/admin/tokens.h"

namespace geodns::server {

const char* const kCtlUsage = R"(geodnsctl - operate a running geodnsd through its admin API

Usage: geodnsctl [connection] COMMAND [args]      (also: geodnsd ctl ...)
  status [--json]                              pools, regions, members, overrides
  drain region|member NAME --reason TEXT [--expires SECONDS]
  undrain region|member NAME --reason TEXT
  failover POOL REGION --reason TEXT           make REGION the pool's active region
  failback POOL --reason TEXT                  return the pool to automatic failover
  load MEMBER VALUE [--ttl SECONDS]            push a load figure in [0,1] (default TTL 60 s)
  explain --name NAME [--type TYPE] --client IP[/PREFIX] [--resolver IP]
  reload [--reason TEXT]                       reload config, zones and geo databases
  audit [--limit N]                            the newest audit records

Connection (one of):
  -c, --config FILE        the server's config; only its "admin" section (listener, token file) is read
  --url http://HOST:PORT --token-file FILE
  --token-name NAME        which token of the file to use (default: the first)
Members are named by their address. A member drain applies in every pool that lists it.
)";

namespace {

using json = nlohmann::ordered_json;

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
  bool json = false;
};

bool parse(int argc, char** argv, Args& a, std::string& err) {
  static const char* const withValue[] = {
      "--config", "-c",     "--url",  "--token-file", "--token-name", "--reason", "--expires",
      "--ttl",    "--name", "--type", "--client",     "--resolver",   "--limit"};
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--json") {
      a.json = true;
      continue;
    }
    if (s == "-h" || s == "--help") {
      a.flags["help"] = "1";
      continue;
    }
    if (s.rfind("-", 0) == 0 && s.size() > 1 &&
        !(s.size() > 1 && std::isdigit(static_cast<unsigned char>(s[1])))) {
      bool known = false;
      for (const char* w : withValue) known = known || s == w;
      if (!known) {
        err = "unknown option " + s;
        return false;
      }
      if (i + 1 >= argc) {
        err = s + " needs a value";
        return false;
      }
      a.flags[s == "-c" ? "--config" : s] = argv[++i];
      continue;
    }
    a.positional.push_back(s);
  }
  return true;
}

std::string urlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

void printStatus(const json& j) {
  std::printf("config generation %llu\n",
              static_cast<unsigned long long>(j.value("generation", 0ULL)));
  for (const auto& p : j["pools"]) {
    std::printf("pool %s (ttl %u)", p["name"].get<std::string>().c_str(), p["ttl"].get<unsigned>());
    if (p.contains("failover"))
      std::printf("  active %s since %lld (%s)%s",
                  p["failover"]["active_region"].get<std::string>().c_str(),
                  static_cast<long long>(p["failover"]["since"].get<std::int64_t>()),
                  p["failover"]["reason"].get<std::string>().c_str(),
                  p["failover"]["forced"].get<bool>() ? " [forced]" : "");
    std::printf("\n");
    for (const auto& r : p["regions"]) {
      std::printf("  region %s%s\n", r["name"].get<std::string>().c_str(),
                  r["drained"].get<bool>() ? "  DRAINED" : "");
      for (const auto& m : r["members"]) {
        std::printf(
            "    %-40s %-10s weight %-4u eff %-7.2f latency %-8s load %-6s%s\n",
            m["address"].get<std::string>().c_str(), m["state"].get<std::string>().c_str(),
            m["weight"].get<unsigned>(), m["effective_weight"].get<double>(),
            m["latency_ms"].is_null()
                ? "-"
                : (std::to_string(static_cast<int>(m["latency_ms"].get<double>())) + "ms").c_str(),
            m["load"].is_null() ? "-"
                                : std::to_string(m["load"].get<double>()).substr(0, 4).c_str(),
            m["drained"].get<bool>() ? "  DRAINED" : "");
      }
    }
  }
  if (!j["overrides"].empty()) std::printf("overrides:\n");
  for (const auto& o : j["overrides"]) {
    std::printf("  %s %s by %s: %s", o["kind"].get<std::string>().c_str(),
                o["target"].get<std::string>().c_str(), o["identity"].get<std::string>().c_str(),
                o["reason"].get<std::string>().c_str());
    if (!o["expires"].is_null())
      std::printf(" (expires %lld)", static_cast<long long>(o["expires"].get<std::int64_t>()));
    if (o.contains("answer_ttl_s"))
      std::printf("; resolvers moved by %lld (answer TTL %us)",
                  static_cast<long long>(o["resolvers_moved_by"].get<std::int64_t>()),
                  o["answer_ttl_s"].get<unsigned>());
    std::printf("\n");
  }
}

// Records /admin/listen and /admin/token_file while the JSON is read, up to
// a syntax error if there is one.
class AdminSectionReader : public nlohmann::json_sax<json> {
 public:
  bool admin = false;  // an "admin" object was seen
  std::optional<std::string> listen, tokenFile;
  std::string syntaxError;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool string(string_t& v) override {
    if (path_.size() == 2 && path_[0] == "admin" && path_[1] == "listen") listen = v;
    if (path_.size() == 2 && path_[0] == "admin" && path_[1] == "token_file") tokenFile = v;
    return true;
  }
  bool start_object(std::size_t) override {
    if (path_.size() == 1 && path_[0] == "admin") admin = true;
    path_.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    path_.back() = k;
    return true;
  }
  bool end_object() override {
    path_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    path_.emplace_back("[]");
    return true;
  }
  bool end_array() override {
    path_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    syntaxError = e.what();
    return false;
  }

 private:
  std::vector<std::string> path_;  // the key (or "[]") at each depth
};

}  // namespace

bool ctlTargetFromConfig(const std::string& text, const std::string& path, CtlTarget& out,
                         std::string* err) {
  AdminSectionReader r;
  json::sax_parse(text, &r);
  const std::string broken =
      r.syntaxError.empty() ? "" : " (the file's JSON is broken: " + r.syntaxError + ")";
  if (!r.admin) {
    *err = path + ": the config has no \"admin\" section" + broken;
    return false;
  }
  if (!r.tokenFile || r.tokenFile->empty()) {
    *err = path + ": \"admin\" has no token_file" + broken;
    return false;
  }
  out.listen = r.listen ? *r.listen : config::AdminConfig{}.listen;
  std::filesystem::path f = *r.tokenFile;
  const std::filesystem::path base = std::filesystem::path(path).parent_path();
  out.tokenFile = (f.is_relative() && !base.empty() ? base / f : f).string();
  return true;
}

int runCtl(int argc, char** argv) {
  Args a;
  std::string err;
  if (!parse(argc, argv, a, err)) {
    std::fprintf(stderr, "geodnsctl: %s\n%s", err.c_str(), kCtlUsage);
    return 2;
  }
  if (a.flags.count("help") || a.positional.empty()) {
    std::fputs(kCtlUsage, a.positional.empty() && !a.flags.count("help") ? stderr : stdout);
    return a.flags.count("help") ? 0 : 2;
  }
  // Where the API is and which token to present.
  std::string listen, tokenFile;
  if (a.flags.count("--config")) {
    // Only the admin section: a config broken elsewhere is the server's to
    // report (a reload answers 422 with every error).
    const std::string& path = a.flags["--config"];
    std::ifstream in(path);
    if (!in) {
      std::fprintf(stderr, "geodnsctl: %s: cannot read the config file\n", path.c_str());
      return 2;
    }
    std::stringstream text;
    text << in.rdbuf();
    CtlTarget target;
    if (!ctlTargetFromConfig(text.str(), path, target, &err)) {
      std::fprintf(stderr, "geodnsctl: %s; or give --url and --token-file\n", err.c_str());
      return 2;
    }
    listen = target.listen;
    tokenFile = target.tokenFile;
  } else if (a.flags.count("--url") && a.flags.count("--token-file")) {
    listen = a.flags["--url"];
    if (listen.rfind("http://", 0) == 0) listen = listen.substr(7);
    while (!listen.empty() && listen.back() == '/') listen.pop_back();
    tokenFile = a.flags["--token-file"];
  } else {
    std::fprintf(stderr, "geodnsctl: give --config FILE, or --url and --token-file\n");
    return 2;
  }
  auto addr = parseHostPort(listen, &err);
  if (!addr) {
    std::fprintf(stderr, "geodnsctl: admin address: %s\n", err.c_str());
    return 2;
  }
  const std::string host = addr->host();
  const int port = addr->port();
  std::vector<ApiToken> tokens;
  if (!loadTokens(tokenFile, tokens, &err)) {
    std::fprintf(stderr, "geodnsctl: %s\n", err.c_str());
    return 2;
  }
  const ApiToken* token = &tokens.front();
  if (a.flags.count("--token-name")) {
    token = nullptr;
    for (const auto& t : tokens)
      if (t.name == a.flags["--token-name"]) token = &t;
    if (!token) {
      std::fprintf(stderr, "geodnsctl: no token named %s\n", a.flags["--token-name"].c_str());
      return 2;
    }
  }

  // The request for the command.
  const auto& p = a.positional;
  const std::string cmd = p[0];
  std::string method = "POST", path;
  json body = json::object();
  auto reason = [&](bool required) {
    if (a.flags.count("--reason"))
      body["reason"] = a.flags["--reason"];
    else if (required)
      err = cmd + " needs --reason TEXT";
  };
  auto number = [&](const char* flag, const char* field) {
    if (!a.flags.count(flag)) return;
    try {
      body[field] = std::stoll(a.flags[flag]);
    } catch (...) {
      err = std::string(flag) + " must be a number of seconds";
    }
  };
  if (cmd == "status" && p.size() == 1) {
    method = "GET";
    path = "/v1/status";
  } else if ((cmd == "drain" || cmd == "undrain") && p.size() == 3 &&
             (p[1] == "region" || p[1] == "member")) {
    path = "/v1/" + p[1] + "s/" + urlEncode(p[2]) + "/" + cmd;
    reason(true);
    if (cmd == "drain") number("--expires", "expires_in_s");
  } else if (cmd == "failover" && p.size() == 3) {
    path = "/v1/pools/" + urlEncode(p[1]) + "/failover";
    body["region"] = p[2];
    reason(true);
  } else if (cmd == "failback" && p.size() == 2) {
    path = "/v1/pools/" + urlEncode(p[1]) + "/failback";
    reason(true);
  } else if (cmd == "load" && p.size() == 3) {
    path = "/v1/members/" + urlEncode(p[1]) + "/load";
    try {
      body["load"] = std::stod(p[2]);
    } catch (...) {
      err = "load VALUE must be a number in [0,1]";
    }
    number("--ttl", "ttl_s");
    reason(false);
  } else if (cmd == "explain" && p.size() == 1) {
    method = "GET";
    if (!a.flags.count("--name") || !a.flags.count("--client"))
      err = "explain needs --name NAME and --client IP[/PREFIX]";
    path = "/v1/explain?name=" + urlEncode(a.flags["--name"]) +
           "&type=" + urlEncode(a.flags.count("--type") ? a.flags["--type"] : "A") +
           "&client=" + urlEncode(a.flags["--client"]);
    if (a.flags.count("--resolver")) path += "&resolver=" + urlEncode(a.flags["--resolver"]);
  } else if (cmd == "reload" && p.size() == 1) {
    path = "/v1/reload";
    reason(false);
  } else if (cmd == "audit" && p.size() == 1) {
    method = "GET";
    path = "/v1/audit";
    if (a.flags.count("--limit")) path += "?limit=" + urlEncode(a.flags["--limit"]);
  } else {
    err = "unknown command or wrong arguments: " + cmd;
  }
  if (!err.empty()) {
    std::fprintf(stderr, "geodnsctl: %s\n%s", err.c_str(), kCtlUsage);
    return 2;
  }

  httplib::Client cli(host, port);
  cli.set_connection_timeout(3, 0);
  cli.set_read_timeout(30, 0);
  cli.set_bearer_token_auth(token->secret);
  auto res = method == "GET" ? cli.Get(path) : cli.Post(path, body.dump(), "application/json");
  if (!res) {
    std::fprintf(stderr, "geodnsctl: cannot reach the admin API at %s:%d: %s\n", host.c_str(), port,
                 httplib::to_string(res.error()).c_str());
    return 3;
  }
  auto j = json::parse(res->body, nullptr, false);
  if (res->status / 100 != 2) {
    std::string msg =
        !j.is_discarded() && j.contains("error") ? j["error"].get<std::string>() : res->body;
    std::fprintf(stderr, "geodnsctl: HTTP %d: %s\n", res->status, msg.c_str());
    if (!j.is_discarded() && j.contains("errors"))
      for (const auto& e : j["errors"])
        std::fprintf(stderr, "  %s\n", e.get<std::string>().c_str());
    return 1;
  }
  if (cmd == "status" && !a.json && !j.is_discarded())
    printStatus(j);
  else
    std::fputs(j.is_discarded() ? res->body.c_str() : (j.dump(2) + "\n").c_str(), stdout);
  return 0;
}

}  // namespace geodns::server
