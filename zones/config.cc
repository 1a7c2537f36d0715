#include "zones/config.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/address.h"
#include "core/name.h"

namespace geodns::zones {
namespace {

using json = nlohmann::json;

// Error place: "file /json/pointer".
struct Ctx {
  const std::string& path;
  ErrorList& errors;
  void err(const std::string& pointer, const std::string& msg) {
    errors.add(path + " " + (pointer.empty() ? "/" : pointer), msg);
  }
};

void checkKeys(Ctx& c, const json& obj, const std::string& ptr, std::initializer_list<const char*> allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (!ok) c.err(ptr + "/" + it.key(), "unknown key '" + it.key() + "'");
  }
}

template <class T>
bool getUnsigned(Ctx& c, const json& obj, const char* key, const std::string& ptr, T& out,
                 std::uint64_t min, std::uint64_t max) {
  if (!obj.contains(key)) return false;
  const json& v = obj[key];
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
    c.err(ptr + "/" + key, "expected a non-negative integer");
    return false;
  }
  auto n = v.get<std::uint64_t>();
  if (n < min || n > max) {
    c.err(ptr + "/" + key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return false;
  }
  out = static_cast<T>(n);
  return true;
}

std::string lineColumn(const std::string& text, std::size_t byte) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

}  // namespace

std::optional<ServerConfig> parseConfig(const std::string& text, const std::string& path,
                                        ErrorList& errors) {
  const std::size_t before = errors.size();
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    auto p = what.find("syntax error");
    errors.add(path + ":" + lineColumn(text, e.byte == 0 ? 0 : e.byte - 1),
               p == std::string::npos ? what : what.substr(p));
    return std::nullopt;
  }
  Ctx c{path, errors};
  if (!root.is_object()) {
    c.err("", "the config must be a JSON object");
    return std::nullopt;
  }
  ServerConfig cfg;
  cfg.path = path;
  std::filesystem::path base = std::filesystem::path(path).parent_path();
  checkKeys(c, root, "", {"listen", "workers", "zones", "limits", "chaos"});

  if (root.contains("listen")) {
    const json& l = root["listen"];
    if (!l.is_array() || l.empty()) {
      c.err("/listen", "expected a non-empty array of \"addr:port\" strings");
    } else {
      for (std::size_t i = 0; i < l.size(); ++i) {
        std::string p = "/listen/" + std::to_string(i);
        std::string e;
        if (!l[i].is_string()) {
          c.err(p, "expected a string \"addr:port\"");
        } else if (!parseHostPort(l[i].get<std::string>(), &e)) {
          c.err(p, e);
        } else {
          cfg.listen.push_back(l[i].get<std::string>());
        }
      }
    }
  } else {
    c.err("/listen", "missing: at least one listener is required");
  }
  getUnsigned(c, root, "workers", "", cfg.workers, 0, 256);

  if (root.contains("zones")) {
    const json& zs = root["zones"];
    if (!zs.is_array()) {
      c.err("/zones", "expected an array of {\"origin\", \"file\"}");
    } else {
      std::set<std::string> seen;
      for (std::size_t i = 0; i < zs.size(); ++i) {
        std::string p = "/zones/" + std::to_string(i);
        const json& z = zs[i];
        if (!z.is_object()) {
          c.err(p, "expected an object {\"origin\", \"file\"}");
          continue;
        }
        checkKeys(c, z, p, {"origin", "file"});
        ZoneSpec spec;
        spec.where = path + " " + p;
        if (!z.contains("origin") || !z["origin"].is_string()) {
          c.err(p + "/origin", "missing or not a string");
        } else {
          spec.origin = z["origin"].get<std::string>();
          auto wire = name::fromText(spec.origin);
          if (!wire) c.err(p + "/origin", "not a valid domain name: '" + spec.origin + "'");
          else if (!seen.insert(*wire).second)
            c.err(p + "/origin", "zone '" + spec.origin + "' is listed twice");
        }
        if (!z.contains("file") || !z["file"].is_string()) {
          c.err(p + "/file", "missing or not a string");
        } else {
          std::filesystem::path f = z["file"].get<std::string>();
          spec.file = (f.is_relative() && !base.empty() ? base / f : f).string();
        }
        cfg.zones.push_back(std::move(spec));
      }
    }
  }

  if (root.contains("limits")) {
    const json& l = root["limits"];
    if (!l.is_object()) {
      c.err("/limits", "expected an object");
    } else {
      checkKeys(c, l, "/limits",
                {"max_udp_payload", "tcp_idle_timeout_ms", "max_tcp_connections",
                 "tcp_max_queries_per_connection"});
      getUnsigned(c, l, "max_udp_payload", "/limits", cfg.limits.maxUdpPayload, 512, 65535);
      getUnsigned(c, l, "tcp_idle_timeout_ms", "/limits", cfg.limits.tcpIdleTimeoutMs, 100,
                  3600000);
      getUnsigned(c, l, "max_tcp_connections", "/limits", cfg.limits.maxTcpConnections, 1, 1000000);
      getUnsigned(c, l, "tcp_max_queries_per_connection", "/limits",
                  cfg.limits.tcpMaxQueriesPerConnection, 0, 1000000000);
    }
  }
  if (root.contains("chaos")) {
    const json& ch = root["chaos"];
    if (!ch.is_object()) {
      c.err("/chaos", "expected an object");
    } else {
      checkKeys(c, ch, "/chaos", {"version", "identity"});
      for (const char* k : {"version", "identity"}) {
        if (!ch.contains(k)) continue;
        if (!ch[k].is_string() || ch[k].get<std::string>().size() > 255) {
          c.err(std::string("/chaos/") + k, "expected a string of at most 255 bytes");
          continue;
        }
        (std::string(k) == "version" ? cfg.chaos.version : cfg.chaos.identity) =
            ch[k].get<std::string>();
      }
    }
  }
  if (errors.size() != before) return std::nullopt;
  return cfg;
}

std::optional<ServerConfig> loadConfigFile(const std::string& path, ErrorList& errors) {
  std::ifstream in(path);
  if (!in) {
    errors.add(path, "cannot open config file");
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parseConfig(ss.str(), path, errors);
}

std::shared_ptr<const ZoneSet> loadZones(const ServerConfig& cfg, ErrorList& errors) {
  auto set = std::make_shared<ZoneSet>();
  const std::size_t before = errors.size();
  for (const auto& spec : cfg.zones) {
    ErrorList zoneErrors;
    auto rrs = parseZoneFile(spec.file, spec.origin, zoneErrors);
    // Compile even after syntax errors so that every problem is reported at once.
    auto zone = Zone::compile(spec.origin, std::move(rrs), zoneErrors);
    if (!zoneErrors.empty()) {
      // Errors without a line are about the zone as a whole: name the file.
      for (const auto& e : zoneErrors.all())
        errors.add(e.where.empty() ? spec.file : e.where, e.message);
      continue;
    }
    set->add(std::move(zone));
  }
  if (errors.size() != before) return nullptr;
  set->finish();
  return set;
}

}  // namespace geodns::zones
