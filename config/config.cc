#include "config/config.h"

#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "config/json_positions.h"
#include "core/address.h"
#include "core/ip.h"
#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "core/wire/types.h"

namespace geodns::config {
namespace {

// ordered_json keeps the file's key order: pool regions in config order are the default order.
using json = nlohmann::ordered_json;

// Error place: "file:line:column /json/pointer" (the line of the value, or of
// its nearest enclosing value when the key is missing).
struct Ctx {
  const std::string& path;
  ErrorList& errors;
  JsonPositions positions;
  std::string where(const std::string& pointer) const {
    std::string p = pointer;
    for (;;) {
      auto it = positions.find(p);
      if (it != positions.end())
        return path + ":" + std::to_string(it->second.first) + ":" +
               std::to_string(it->second.second) + " " + (pointer.empty() ? "/" : pointer);
      if (p.empty()) break;
      p = p.substr(0, p.rfind('/'));
    }
    return path + " " + (pointer.empty() ? "/" : pointer);
  }
  void err(const std::string& pointer, const std::string& msg) { errors.add(where(pointer), msg); }
};

void checkKeys(Ctx& c, const json& obj, const std::string& ptr,
               std::initializer_list<const char*> allowed) {
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
    c.err(ptr + "/" + key,
          "must be between " + std::to_string(min) + " and " + std::to_string(max));
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

bool getString(Ctx& c, const json& obj, const char* key, const std::string& ptr, std::string& out,
               bool required) {
  if (!obj.contains(key)) {
    if (required) c.err(ptr + "/" + key, "missing");
    return false;
  }
  if (!obj[key].is_string() || obj[key].get<std::string>().empty()) {
    c.err(ptr + "/" + key, "expected a non-empty string");
    return false;
  }
  out = obj[key].get<std::string>();
  return true;
}

bool getDouble(Ctx& c, const json& obj, const char* key, const std::string& ptr, double& out,
               double min, double max) {
  if (!obj.contains(key)) return false;
  if (!obj[key].is_number()) {
    c.err(ptr + "/" + key, "expected a number");
    return false;
  }
  double v = obj[key].get<double>();
  if (v < min || v > max) {
    c.err(ptr + "/" + key,
          "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return false;
  }
  out = v;
  return true;
}

bool getBool(Ctx& c, const json& obj, const char* key, const std::string& ptr, bool& out) {
  if (!obj.contains(key)) return false;
  if (!obj[key].is_boolean()) {
    c.err(ptr + "/" + key, "expected true or false");
    return false;
  }
  out = obj[key].get<bool>();
  return true;
}

// "a, b or c" from an enum's name table.
template <class Table>
std::string choices(const Table& table) {
  std::string s;
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (i > 0) s += i + 1 == table.size() ? " or " : ", ";
    s += table[i].name;
  }
  return s;
}

// A name of a closed set (config.h) converted to its enum; a bad name is an
// error at its place ("must be a, b or c" unless `message` says otherwise).
template <class E>
bool getEnum(Ctx& c, const json& obj, const char* key, const std::string& ptr, E& out,
             bool required = false, const char* message = nullptr) {
  std::string text;
  if (!getString(c, obj, key, ptr, text, required)) return false;
  if (auto v = fromText<E>(text)) {
    out = *v;
    return true;
  }
  c.err(ptr + "/" + key, message ? std::string(message) : "must be " + choices(names(E{})));
  return false;
}

// A file named in the config, resolved against the config's directory.
std::string resolve(const std::filesystem::path& base, const std::string& file) {
  std::filesystem::path f = file;
  return (f.is_relative() && !base.empty() ? base / f : f).string();
}

std::vector<std::string> stringList(Ctx& c, const json& v, const std::string& ptr) {
  std::vector<std::string> out;
  if (!v.is_array() || v.empty()) {
    c.err(ptr, "expected a non-empty array of region names");
    return out;
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string())
      c.err(ptr + "/" + std::to_string(i), "expected a region name");
    else
      out.push_back(v[i].get<std::string>());
  }
  return out;
}

std::string esc(const std::string& key) {
  return jsonPointerEscape(key);
}

std::optional<GeoDatabaseConfig> parseDatabase(Ctx& c, const json& d, const std::string& p,
                                               const std::filesystem::path& base) {
  if (!d.is_object()) {
    c.err(p, "expected an object {\"file\", \"layout\", \"fields\", \"optional\"}");
    return std::nullopt;
  }
  checkKeys(c, d, p, {"file", "layout", "fields", "optional"});
  GeoDatabaseConfig db;
  db.where = c.where(p);
  if (getString(c, d, "file", p, db.file, true)) db.file = resolve(base, db.file);
  getEnum(c, d, "layout", p, db.layout);
  getBool(c, d, "optional", p, db.optional);
  if (d.contains("fields")) {
    const json& f = d["fields"];
    if (!f.is_object()) {
      c.err(p + "/fields", "expected an object of field -> dotted path");
    } else {
      checkKeys(c, f, p + "/fields",
                {"continent", "country", "subdivision", "latitude", "longitude", "asn"});
      for (auto it = f.begin(); it != f.end(); ++it) {
        if (!it.value().is_string())
          c.err(p + "/fields/" + it.key(), "expected a dotted path string");
        else
          db.fields.emplace_back(it.key(), it.value().get<std::string>());
      }
    }
  }
  return db;
}

// A fallback pool answers with the binding's own policy, so its regions are
// chosen by the same geo_map lists (and `nets` region lists). A list that
// names none of the fallback pool's regions leaves its clients with NODATA
// exactly when the fallback is needed. Refused rather than warned about: a
// reload has no channel for warnings, and the fix (add one of the fallback
// pool's regions to the list) does not change the primary pool's answers,
// because regions a pool lacks are skipped.
void checkFallbackRegions(Ctx& c, const GslbConfig& g) {
  auto poolNamed = [&](const std::string& n) -> const PoolConfig* {
    for (const auto& p : g.pools)
      if (p.name == n) return &p;
    return nullptr;
  };
  std::set<std::pair<std::string, std::string>> seen;  // (pool, policy) checked
  for (const auto& b : g.bindings) {
    const PoolConfig* pool = poolNamed(b.pool);
    const PolicyConfig* policy = nullptr;
    for (const auto& pc : g.policies)
      if (pc.name == b.policy) policy = &pc;
    if (!pool || !policy || pool->fallbackPool.empty()) continue;
    const PoolConfig* fallback = poolNamed(pool->fallbackPool);
    if (!fallback || !seen.insert({pool->name, policy->name}).second) continue;
    std::string names;
    for (const auto& pr : fallback->regions) names += (names.empty() ? "" : ", ") + pr.region;
    auto covered = [&](const std::vector<std::string>& list) {
      if (list.empty()) return true;  // an empty list answers nobody, fallback or not
      for (const auto& r : list)
        for (const auto& pr : fallback->regions)
          if (pr.region == r) return true;
      return false;
    };
    const std::string where = "/pools/" + esc(pool->name) + "/fallback_pool";
    const std::string tail = "; through binding '" + b.name + "' those clients would get NODATA " +
                             "when pool '" + pool->name + "' is down. List one of " +
                             fallback->name + "'s regions (" + names + ") there";
    bool usesNets = false;
    for (std::size_t i = 0; i < policy->steps.size(); ++i) {
      const StepConfig& st = policy->steps[i];
      if (st.kind == StepKind::Nearest) usesNets = true;
      if (st.kind != StepKind::GeoMap) continue;
      usesNets = true;
      for (const auto& [key, regions] : st.map)
        if (!covered(regions))
          c.err(where, "fallback pool '" + fallback->name + "' has none of the regions of " +
                           "/policies/" + esc(policy->name) + "/steps/" + std::to_string(i) +
                           "/map/" + esc(key) + tail);
    }
    if (usesNets)
      for (const auto& n : g.nets)
        if (!covered(n.regions))
          c.err(where, "fallback pool '" + fallback->name + "' has none of the regions of " +
                           "/geo/nets/" + esc(n.prefix) + " (used by policy '" + policy->name +
                           "')" + tail);
  }
}

// The names each section defines, for the references of later sections.
struct Known {
  std::set<std::string> regions, probes, pools, policies;
  void region(Ctx& c, const std::string& name, const std::string& p) const {
    if (!regions.count(name)) c.err(p, "unknown region '" + name + "'");
  }
  void probe(Ctx& c, const std::string& name, const std::string& p) const {
    if (!probes.count(name)) c.err(p, "unknown probe '" + name + "'");
  }
};

void parseRegions(Ctx& c, const json& root, GslbConfig& g, Known& known) {
  if (!root.contains("regions")) return;
  const json& rs = root["regions"];
  if (!rs.is_object()) {
    c.err("/regions", "expected an object of region name -> {lat, lon, labels}");
    return;
  }
  for (auto it = rs.begin(); it != rs.end(); ++it) {
    std::string p = "/regions/" + esc(it.key());
    RegionConfig r;
    r.name = it.key();
    r.where = c.where(p);
    const json& v = it.value();
    if (!v.is_object()) {
      c.err(p, "expected an object");
      continue;
    }
    checkKeys(c, v, p, {"lat", "lon", "labels"});
    double lat = 0, lon = 0;
    bool hasLat = getDouble(c, v, "lat", p, lat, -90, 90);
    bool hasLon = getDouble(c, v, "lon", p, lon, -180, 180);
    if (hasLat != hasLon && v.contains("lat") != v.contains("lon"))
      c.err(p, "give both lat and lon, or neither");
    if (hasLat && hasLon) {
      r.lat = lat;
      r.lon = lon;
    }
    if (v.contains("labels")) {
      if (!v["labels"].is_object())
        c.err(p + "/labels", "expected an object of strings");
      else
        for (auto l = v["labels"].begin(); l != v["labels"].end(); ++l) {
          if (!l.value().is_string())
            c.err(p + "/labels/" + esc(l.key()), "expected a string");
          else
            r.labels.emplace_back(l.key(), l.value().get<std::string>());
        }
    }
    known.regions.insert(r.name);
    g.regions.push_back(std::move(r));
  }
}

void parseNets(Ctx& c, const json& ns, GslbConfig& g, const Known& known) {
  if (!ns.is_object()) {
    c.err("/geo/nets", "expected an object of prefix -> {label} or {regions}");
    return;
  }
  for (auto it = ns.begin(); it != ns.end(); ++it) {
    std::string p = "/geo/nets/" + esc(it.key());
    NetConfig n;
    n.prefix = it.key();
    n.where = c.where(p);
    std::string e;
    if (!IpPrefix::parse(n.prefix, &e)) c.err(p, e);
    const json& v = it.value();
    if (!v.is_object()) {
      c.err(p, "expected {\"label\": NAME} or {\"regions\": [...]}");
      continue;
    }
    checkKeys(c, v, p, {"label", "regions"});
    getString(c, v, "label", p, n.label, false);
    if (v.contains("regions")) {
      n.regions = stringList(c, v["regions"], p + "/regions");
      for (std::size_t i = 0; i < n.regions.size(); ++i)
        known.region(c, n.regions[i], p + "/regions/" + std::to_string(i));
    }
    if (n.label.empty() == n.regions.empty()) c.err(p, "give exactly one of label or regions");
    g.nets.push_back(std::move(n));
  }
}

void parseGeo(Ctx& c, const json& root, GslbConfig& g, const Known& known,
              const std::filesystem::path& base) {
  if (!root.contains("geo")) return;
  const json& geo = root["geo"];
  if (!geo.is_object()) {
    c.err("/geo", "expected an object {databases, asn_database, nets}");
    return;
  }
  checkKeys(c, geo, "/geo", {"databases", "asn_database", "nets"});
  if (geo.contains("databases")) {
    const json& ds = geo["databases"];
    if (!ds.is_array())
      c.err("/geo/databases", "expected an array");
    else
      for (std::size_t i = 0; i < ds.size(); ++i)
        if (auto db = parseDatabase(c, ds[i], "/geo/databases/" + std::to_string(i), base))
          g.databases.push_back(std::move(*db));
  }
  if (geo.contains("asn_database"))
    g.asnDatabase = parseDatabase(c, geo["asn_database"], "/geo/asn_database", base);
  if (geo.contains("nets")) parseNets(c, geo["nets"], g, known);
}

// "headers", "expect_status" and "load" of an http(s) probe.
void parseHttpChecks(Ctx& c, const json& v, const std::string& p, ProbeConfig& pr) {
  if (v.contains("headers")) {
    if (!v["headers"].is_object())
      c.err(p + "/headers", "expected an object of header -> value");
    else
      for (auto h = v["headers"].begin(); h != v["headers"].end(); ++h) {
        if (!h.value().is_string() || h.key().find_first_of(":\r\n") != std::string::npos ||
            h.value().get<std::string>().find_first_of("\r\n") != std::string::npos)
          c.err(p + "/headers/" + esc(h.key()),
                "expected a header name and a one-line string value");
        else
          pr.headers.emplace_back(h.key(), h.value().get<std::string>());
      }
  }
  if (v.contains("expect_status")) {
    const json& es = v["expect_status"];
    if (!es.is_array() || es.empty()) {
      c.err(p + "/expect_status", "expected an array of codes or [low, high] ranges");
    } else {
      for (std::size_t i = 0; i < es.size(); ++i) {
        const json& e = es[i];
        if (e.is_number_unsigned() && e.get<int>() >= 100 && e.get<int>() <= 599)
          pr.expectStatus.emplace_back(e.get<int>(), e.get<int>());
        else if (e.is_array() && e.size() == 2 && e[0].is_number_unsigned() &&
                 e[1].is_number_unsigned() && e[0].get<int>() >= 100 &&
                 e[0].get<int>() <= e[1].get<int>() && e[1].get<int>() <= 599)
          pr.expectStatus.emplace_back(e[0].get<int>(), e[1].get<int>());
        else
          c.err(p + "/expect_status/" + std::to_string(i),
                "expected a status code or [low, high] in 100..599");
      }
    }
  }
  if (v.contains("load")) {
    const json& l = v["load"];
    if (!l.is_object()) {
      c.err(p + "/load", "expected {\"header\": NAME} or {\"json_pointer\": \"/path\"}");
    } else {
      checkKeys(c, l, p + "/load", {"header", "json_pointer"});
      getString(c, l, "header", p + "/load", pr.loadHeader, false);
      getString(c, l, "json_pointer", p + "/load", pr.loadJsonPointer, false);
      if (pr.loadHeader.empty() == pr.loadJsonPointer.empty())
        c.err(p + "/load", "give exactly one of header or json_pointer");
    }
  }
}

// "name", "qtype", "rcode" and "expect_answer" of a dns probe.
void parseDnsChecks(Ctx& c, const json& v, const std::string& p, ProbeConfig& pr) {
  getString(c, v, "name", p, pr.dnsName, false);
  std::string qtype = "A", rcode = "NOERROR";
  getString(c, v, "qtype", p, qtype, false);
  getString(c, v, "rcode", p, rcode, false);
  if (pr.type == ProbeType::Dns && pr.dnsName.empty())
    c.err(p + "/name", "a dns probe needs the name to query");
  if (!pr.dnsName.empty() && !name::fromText(pr.dnsName))
    c.err(p + "/name", "not a valid domain name");
  pr.dnsType = dns::typeFromText(qtype);
  if (pr.dnsType == 0) c.err(p + "/qtype", "unknown type '" + qtype + "'");
  const int rc = dnsRcodeFromText(rcode);
  if (rc < 0)
    c.err(p + "/rcode", "must be NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP or REFUSED");
  else
    pr.dnsRcode = static_cast<std::uint8_t>(rc);
  getBool(c, v, "expect_answer", p, pr.dnsExpectAnswer);
}

std::optional<ProbeConfig> parseProbe(Ctx& c, const json& v, const std::string& p,
                                      const std::string& name) {
  ProbeConfig pr;
  pr.name = name;
  pr.where = c.where(p);
  if (!v.is_object()) {
    c.err(p, "expected an object");
    return std::nullopt;
  }
  checkKeys(c, v, p,
            {"type",          "port",          "method",     "path",         "host", "headers",
             "expect_status", "body_contains", "tls_verify", "load",         "name", "qtype",
             "rcode",         "interval_ms",   "timeout_ms", "rise",         "fall", "jitter",
             "initial",       "stale_after",   "unknown_as", "expect_answer"});
  getEnum(c, v, "type", p, pr.type, true);
  getUnsigned(c, v, "port", p, pr.port, 1, 65535);
  getString(c, v, "method", p, pr.method, false);
  getString(c, v, "path", p, pr.path, false);
  getString(c, v, "host", p, pr.host, false);
  getString(c, v, "body_contains", p, pr.bodyContains, false);
  getEnum(c, v, "initial", p, pr.initial);
  getEnum(c, v, "unknown_as", p, pr.unknownAs);
  parseDnsChecks(c, v, p, pr);
  if (!pr.path.empty() && pr.path[0] != '/') c.err(p + "/path", "must start with /");
  getBool(c, v, "tls_verify", p, pr.tlsVerify);
  parseHttpChecks(c, v, p, pr);
  getUnsigned(c, v, "interval_ms", p, pr.intervalMs, 100, 3600000);
  getUnsigned(c, v, "timeout_ms", p, pr.timeoutMs, 10, 600000);
  getUnsigned(c, v, "rise", p, pr.rise, 1, 100);
  getUnsigned(c, v, "fall", p, pr.fall, 1, 100);
  getUnsigned(c, v, "stale_after", p, pr.staleAfter, 1, 1000);
  getDouble(c, v, "jitter", p, pr.jitter, 0, 0.5);
  if (pr.timeoutMs > pr.intervalMs) c.err(p + "/timeout_ms", "must not exceed interval_ms");
  return pr;
}

void parseProbes(Ctx& c, const json& root, GslbConfig& g, Known& known) {
  if (!root.contains("probes")) return;
  const json& ps = root["probes"];
  if (!ps.is_object()) {
    c.err("/probes", "expected an object of probe name -> probe");
    return;
  }
  for (auto it = ps.begin(); it != ps.end(); ++it)
    if (auto pr = parseProbe(c, it.value(), "/probes/" + esc(it.key()), it.key())) {
      known.probes.insert(pr->name);
      g.probes.push_back(std::move(*pr));
    }
}

void parseHealth(Ctx& c, const json& root, HealthConfig& h, const std::filesystem::path& base) {
  if (!root.contains("health")) return;
  const json& v = root["health"];
  if (!v.is_object()) {
    c.err("/health", "expected an object");
    return;
  }
  checkKeys(c, v, "/health", {"min_ttl", "database", "max_age_s", "history", "quorum"});
  getUnsigned(c, v, "min_ttl", "/health", h.minTtl, 0, 86400);
  if (getString(c, v, "database", "/health", h.database, false)) {
    h.databaseWhere = c.where("/health/database");
    h.database = resolve(base, h.database);
  }
  getUnsigned(c, v, "max_age_s", "/health", h.maxAgeSec, 0, 31536000);
  getUnsigned(c, v, "history", "/health", h.history, 1, 100000);
  if (v.contains("quorum")) {
    const json& q = v["quorum"];
    if (!q.is_object()) {
      c.err("/health/quorum", "expected an object {\"min_up\", \"fraction\", \"latency\"}");
    } else {
      checkKeys(c, q, "/health/quorum", {"min_up", "fraction", "latency", "stale_after_s"});
      getUnsigned(c, q, "min_up", "/health/quorum", h.quorum.minUp, 1, 1000);
      getDouble(c, q, "fraction", "/health/quorum", h.quorum.fraction, 0, 1);
      std::string lat;
      if (getString(c, q, "latency", "/health/quorum", lat, false)) {
        if (lat == "local")
          h.quorum.latency = LatencySourceConfig::Local;
        else if (lat == "median")
          h.quorum.latency = LatencySourceConfig::Median;
        else
          c.err("/health/quorum/latency", "must be local or median");
      }
      getUnsigned(c, q, "stale_after_s", "/health/quorum", h.quorum.staleAfterSec, 0, 86400);
    }
  }
}

// "failover": {"primary", "standby", "promote_after_s", "failback_after_s", "failback"}
void parseFailover(Ctx& c, const json& fo, const std::string& fp, PoolConfig& pool) {
  if (!fo.is_object()) {
    c.err(fp,
          "expected {\"primary\", \"standby\", \"promote_after_s\", \"failback_after_s\", "
          "\"failback\"}");
    return;
  }
  checkKeys(c, fo, fp, {"primary", "standby", "promote_after_s", "failback_after_s", "failback"});
  getString(c, fo, "primary", fp, pool.failoverPrimary, true);
  if (fo.contains("standby"))
    pool.failoverStandby = stringList(c, fo["standby"], fp + "/standby");
  else
    c.err(fp + "/standby", "missing");
  getUnsigned(c, fo, "promote_after_s", fp, pool.promoteAfterSec, 0, 86400);
  getUnsigned(c, fo, "failback_after_s", fp, pool.failbackAfterSec, 0, 604800);
  getEnum(c, fo, "failback", fp, pool.failback);
}

// The failover regions must be regions of the pool (checked once its regions are read).
void checkFailoverRegions(Ctx& c, const PoolConfig& pool, const std::string& p) {
  if (pool.failoverPrimary.empty()) return;
  auto inPool = [&](const std::string& r) {
    for (const auto& pr : pool.regions)
      if (pr.region == r) return true;
    return false;
  };
  if (!inPool(pool.failoverPrimary))
    c.err(p + "/failover/primary", "region '" + pool.failoverPrimary + "' is not in this pool");
  for (std::size_t i = 0; i < pool.failoverStandby.size(); ++i)
    if (!inPool(pool.failoverStandby[i]) || pool.failoverStandby[i] == pool.failoverPrimary)
      c.err(p + "/failover/standby/" + std::to_string(i),
            "region '" + pool.failoverStandby[i] + "' is not another region of this pool");
}

std::optional<MemberConfig> parseMember(Ctx& c, const json& v, const std::string& mp,
                                        const Known& known) {
  MemberConfig m;
  m.where = c.where(mp);
  if (!v.is_object()) {
    c.err(mp, "expected {\"address\": IP, \"weight\": N}");
    return std::nullopt;
  }
  checkKeys(c, v, mp, {"address", "weight", "probe", "target"});
  if (getString(c, v, "address", mp, m.address, true) && !IpAddress::parse(m.address))
    c.err(mp + "/address", "not an IPv4 or IPv6 address: '" + m.address + "'");
  getUnsigned(c, v, "weight", mp, m.weight, 0, 1000000);
  if (getString(c, v, "probe", mp, m.probe, false)) known.probe(c, m.probe, mp + "/probe");
  if (getString(c, v, "target", mp, m.target, false) && !IpAddress::parse(m.target))
    c.err(mp + "/target", "not an IPv4 or IPv6 address: '" + m.target + "'");
  return m;
}

std::optional<PoolRegionConfig> parsePoolRegion(Ctx& c, const json& rv, const std::string& rp,
                                                const std::string& region, const Known& known) {
  PoolRegionConfig pr;
  pr.region = region;
  pr.where = c.where(rp);
  known.region(c, pr.region, rp);
  if (!rv.is_object()) {
    c.err(rp, "expected {\"members\": [...]} or {\"cname\": NAME}");
    return std::nullopt;
  }
  checkKeys(c, rv, rp, {"members", "cname"});
  if (getString(c, rv, "cname", rp, pr.cname, false) && !name::fromText(pr.cname))
    c.err(rp + "/cname", "not a valid domain name");
  if (rv.contains("members")) {
    const json& ms = rv["members"];
    if (!ms.is_array() || ms.empty()) {
      c.err(rp + "/members", "expected a non-empty array of {address, weight}");
    } else {
      for (std::size_t i = 0; i < ms.size(); ++i)
        if (auto m = parseMember(c, ms[i], rp + "/members/" + std::to_string(i), known))
          pr.members.push_back(std::move(*m));
    }
  }
  if (pr.cname.empty() == pr.members.empty() && rv.contains("cname") == rv.contains("members"))
    c.err(rp, "give exactly one of members or cname");
  return pr;
}

void parsePoolRegions(Ctx& c, const json& v, const std::string& p, PoolConfig& pool,
                      const Known& known) {
  if (!v.contains("regions") || !v["regions"].is_object() || v["regions"].empty()) {
    c.err(p + "/regions", "expected an object of region name -> {members} or {cname}");
    return;
  }
  for (auto r = v["regions"].begin(); r != v["regions"].end(); ++r)
    if (auto pr = parsePoolRegion(c, r.value(), p + "/regions/" + esc(r.key()), r.key(), known))
      pool.regions.push_back(std::move(*pr));
  bool anyCname = false, anyMembers = false;
  for (const auto& pr : pool.regions) {
    anyCname = anyCname || !pr.cname.empty();
    anyMembers = anyMembers || !pr.members.empty();
  }
  if (anyCname && anyMembers)
    c.err(p + "/regions", "a pool answers either addresses or CNAMEs, not both");
}

std::optional<PoolConfig> parsePool(Ctx& c, const json& v, const std::string& p,
                                    const std::string& name, const Known& known) {
  PoolConfig pool;
  pool.name = name;
  pool.where = c.where(p);
  if (!v.is_object()) {
    c.err(p, "expected an object");
    return std::nullopt;
  }
  checkKeys(c, v, p,
            {"ttl", "max_answers", "regions", "probe", "min_healthy", "all_down", "fallback_pool",
             "failover"});
  if (v.contains("failover")) parseFailover(c, v["failover"], p + "/failover", pool);
  getUnsigned(c, v, "ttl", p, pool.ttl, 0, 604800);
  getUnsigned(c, v, "max_answers", p, pool.maxAnswers, 1, 16);
  if (getString(c, v, "probe", p, pool.probe, false)) known.probe(c, pool.probe, p + "/probe");
  if (getDouble(c, v, "min_healthy", p, pool.minHealthy, 0, 1000) && pool.minHealthy > 1 &&
      pool.minHealthy != static_cast<double>(static_cast<unsigned>(pool.minHealthy)))
    c.err(p + "/min_healthy", "a count (1, 2, ...) or a fraction in (0, 1]");
  getEnum(c, v, "all_down", p, pool.allDown);
  getString(c, v, "fallback_pool", p, pool.fallbackPool, false);
  if ((pool.allDown == AllDown::Fallback) != !pool.fallbackPool.empty())
    c.err(p + "/fallback_pool", "give fallback_pool exactly when all_down is fallback");
  parsePoolRegions(c, v, p, pool, known);
  checkFailoverRegions(c, pool, p);
  return pool;
}

void parsePools(Ctx& c, const json& root, GslbConfig& g, Known& known) {
  if (root.contains("pools")) {
    const json& ps = root["pools"];
    if (!ps.is_object()) {
      c.err("/pools", "expected an object of pool name -> pool");
    } else {
      for (auto it = ps.begin(); it != ps.end(); ++it)
        if (auto pool = parsePool(c, it.value(), "/pools/" + esc(it.key()), it.key(), known)) {
          known.pools.insert(pool->name);
          g.pools.push_back(std::move(*pool));
        }
    }
  }
  for (const auto& pool : g.pools)
    if (!pool.fallbackPool.empty() &&
        (!known.pools.count(pool.fallbackPool) || pool.fallbackPool == pool.name))
      c.err("/pools/" + esc(pool.name) + "/fallback_pool",
            "unknown pool '" + pool.fallbackPool + "'");
}

// A geo_map key: "default", or "country:CC", "continent:CC", "subdivision:CC-XX",
// "label:NAME". Returns the key as matched (codes upper-cased), or "" when bad.
std::string geoMapKey(Ctx& c, const std::string& k, const std::string& mp) {
  if (k == "default") return k;
  auto colon = k.find(':');
  std::string prefix = k.substr(0, colon),
              code = colon == std::string::npos ? "" : k.substr(colon + 1);
  if (colon == std::string::npos || (prefix != "country" && prefix != "continent" &&
                                     prefix != "subdivision" && prefix != "label")) {
    c.err(mp, "key must be default, country:CC, continent:CC, subdivision:CC-XX or label:NAME");
    return "";
  }
  if (prefix == "label") return k;
  const bool ok = prefix == "subdivision" ? code.size() >= 4 && code.size() <= 11 && code[2] == '-'
                                          : code.size() == 2;
  for (auto& ch : code) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (!ok) {
    c.err(mp, "bad code '" + code + "' for " + prefix);
    return "";
  }
  return prefix + ":" + code;
}

void parseGeoMapStep(Ctx& c, const json& sv, const std::string& sp, StepConfig& st,
                     const Known& known) {
  checkKeys(c, sv, sp, {"step", "map", "fence"});
  getBool(c, sv, "fence", sp, st.fence);
  if (!sv.contains("map") || !sv["map"].is_object() || sv["map"].empty()) {
    c.err(sp + "/map", "expected an object of key -> [regions]");
    return;
  }
  std::map<std::string, std::string> seen;  // key as matched -> key as written
  for (auto m = sv["map"].begin(); m != sv["map"].end(); ++m) {
    std::string mp = sp + "/map/" + esc(m.key());
    const std::string& k = m.key();
    std::string matched = geoMapKey(c, k, mp);
    if (!matched.empty()) {
      auto [it, inserted] = seen.emplace(matched, k);
      if (!inserted) c.err(mp, "the same key as '" + it->second + "'");
    }
    auto regions = stringList(c, m.value(), mp);
    for (std::size_t r = 0; r < regions.size(); ++r)
      known.region(c, regions[r], mp + "/" + std::to_string(r));
    st.map.emplace_back(k, std::move(regions));
  }
}

void parseNearestStep(Ctx& c, const json& sv, const std::string& sp, StepConfig& st,
                      const Known& known) {
  checkKeys(c, sv, sp, {"step", "bias_km"});
  if (!sv.contains("bias_km")) return;
  if (!sv["bias_km"].is_object()) {
    c.err(sp + "/bias_km", "expected an object of region -> km");
    return;
  }
  for (auto b = sv["bias_km"].begin(); b != sv["bias_km"].end(); ++b) {
    std::string bp = sp + "/bias_km/" + esc(b.key());
    known.region(c, b.key(), bp);
    if (!b.value().is_number())
      c.err(bp, "expected a number of km (negative attracts)");
    else
      st.biasKm.emplace_back(b.key(), b.value().get<double>());
  }
}

// The parameters of a step whose kind is known.
void parseStepParams(Ctx& c, const json& sv, const std::string& sp, StepConfig& st,
                     const Known& known) {
  switch (st.kind) {
    case StepKind::GeoMap:
      parseGeoMapStep(c, sv, sp, st, known);
      break;
    case StepKind::Nearest:
      parseNearestStep(c, sv, sp, st, known);
      break;
    case StepKind::FirstN:
      checkKeys(c, sv, sp, {"step", "n"});
      if (!sv.contains("n")) c.err(sp + "/n", "missing");
      getUnsigned(c, sv, "n", sp, st.n, 1, 32);
      break;
    case StepKind::Weighted:
    case StepKind::Up:
    case StepKind::CapacityWeighted:
    case StepKind::Failover:
      checkKeys(c, sv, sp, {"step"});
      break;
    case StepKind::ShedLoad:
      checkKeys(c, sv, sp, {"step", "high", "low"});
      getDouble(c, sv, "high", sp, st.high, 0, 1);
      getDouble(c, sv, "low", sp, st.low, 0, 1);
      if (st.low >= st.high) c.err(sp + "/low", "must be below high");
      break;
    case StepKind::Latency:
      checkKeys(c, sv, sp, {"step", "slack_ms"});
      getDouble(c, sv, "slack_ms", sp, st.slackMs, 0, 60000);
      break;
  }
}

std::optional<StepConfig> parseStep(Ctx& c, const json& sv, const std::string& sp,
                                    const Known& known) {
  StepConfig st;
  st.where = c.where(sp);
  std::string kind;
  if (!sv.is_object()) {
    c.err(sp, "expected an object {\"step\": KIND, ...}");
    return std::nullopt;
  }
  if (!getString(c, sv, "step", sp, kind, true)) return std::nullopt;
  if (auto k = stepFromName(kind)) {
    st.kind = *k;
    parseStepParams(c, sv, sp, st, known);
  } else {
    std::string all;
    for (const auto& s : kSteps) all += (all.empty() ? "" : ", ") + std::string(s.name);
    c.err(sp + "/step", "unknown step '" + kind + "' (" + all + ")");
  }
  return st;  // kept with an unknown kind too, as a weighted step (the parse has failed)
}

void parsePolicy(Ctx& c, const json& v, const std::string& p, PolicyConfig& pol,
                 const Known& known) {
  checkKeys(c, v, p, {"ecs", "steps"});
  getBool(c, v, "ecs", p, pol.ecs);
  if (!v.contains("steps") || !v["steps"].is_array()) {
    c.err(p + "/steps", "expected an array of steps");
    return;
  }
  const json& ss = v["steps"];
  for (std::size_t i = 0; i < ss.size(); ++i) {
    const std::string sp = p + "/steps/" + std::to_string(i);
    if (auto st = parseStep(c, ss[i], sp, known)) pol.steps.push_back(std::move(*st));
  }
}

void parsePolicies(Ctx& c, const json& root, GslbConfig& g, Known& known) {
  if (!root.contains("policies")) return;
  const json& ps = root["policies"];
  if (!ps.is_object()) {
    c.err("/policies", "expected an object of policy name -> {ecs, steps}");
    return;
  }
  for (auto it = ps.begin(); it != ps.end(); ++it) {
    std::string p = "/policies/" + esc(it.key());
    PolicyConfig pol;
    pol.name = it.key();
    pol.where = c.where(p);
    if (!it.value().is_object()) {
      c.err(p, "expected an object");
      continue;
    }
    parsePolicy(c, it.value(), p, pol, known);
    known.policies.insert(pol.name);
    g.policies.push_back(std::move(pol));
  }
}

void parseBindings(Ctx& c, const json& root, GslbConfig& g, const Known& known) {
  if (!root.contains("bindings")) return;
  const json& bs = root["bindings"];
  if (!bs.is_array()) {
    c.err("/bindings", "expected an array of {name, pool, policy}");
    return;
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < bs.size(); ++i) {
    std::string p = "/bindings/" + std::to_string(i);
    BindingConfig b;
    b.where = c.where(p);
    if (!bs[i].is_object()) {
      c.err(p, "expected {\"name\", \"pool\", \"policy\"}");
      continue;
    }
    checkKeys(c, bs[i], p, {"name", "pool", "policy"});
    if (getString(c, bs[i], "name", p, b.name, true)) {
      auto wire = name::fromText(b.name);
      if (!wire)
        c.err(p + "/name", "not a valid domain name");
      else if (!seen.insert(*wire).second)
        c.err(p + "/name", "'" + b.name + "' is bound twice");
    }
    if (getString(c, bs[i], "pool", p, b.pool, true) && !known.pools.count(b.pool))
      c.err(p + "/pool", "unknown pool '" + b.pool + "'");
    if (getString(c, bs[i], "policy", p, b.policy, true) && !known.policies.count(b.policy))
      c.err(p + "/policy", "unknown policy '" + b.policy + "'");
    g.bindings.push_back(std::move(b));
  }
}

void parseListen(Ctx& c, const json& root, ServerConfig& cfg) {
  if (!root.contains("listen")) {
    c.err("/listen", "missing: at least one listener is required");
    return;
  }
  const json& l = root["listen"];
  if (!l.is_array() || l.empty()) {
    c.err("/listen", "expected a non-empty array of \"addr:port\" strings");
    return;
  }
  for (std::size_t i = 0; i < l.size(); ++i) {
    std::string p = "/listen/" + std::to_string(i);
    std::string e;
    if (!l[i].is_string()) {
      c.err(p, "expected a string \"addr:port\"");
    } else if (!parseHostPort(l[i].get<std::string>(), &e)) {
      c.err(p, e);
    } else {
      cfg.listen.push_back(l[i].get<std::string>());
      cfg.listenWhere.push_back(c.where(p));
    }
  }
}

// "dnssec": {"keys": [...], "signature_validity_s", "refresh_s", "denial"}.
DnssecConfig parseDnssec(Ctx& c, const json& d, const std::string& p,
                         const std::filesystem::path& base) {
  DnssecConfig out;
  out.where = c.where(p);
  if (!d.is_object()) {
    c.err(p, "expected an object {\"keys\", \"signature_validity_s\", \"refresh_s\", \"denial\"}");
    return out;
  }
  checkKeys(c, d, p, {"keys", "signature_validity_s", "refresh_s", "denial"});
  if (!d.contains("keys") || !d["keys"].is_array() || d["keys"].empty()) {
    c.err(p + "/keys", "expected a non-empty array of key files (Kzone.+013+12345.private)");
  } else {
    const json& ks = d["keys"];
    for (std::size_t i = 0; i < ks.size(); ++i) {
      const std::string kp = p + "/keys/" + std::to_string(i);
      if (!ks[i].is_string() || ks[i].get<std::string>().empty()) {
        c.err(kp, "expected a key file name");
        continue;
      }
      out.keys.push_back(resolve(base, ks[i].get<std::string>()));
      out.keyWhere.push_back(c.where(kp));
    }
  }
  // A signature lives at least an hour and at most a year; it is refreshed
  // before it expires, so refresh_s must be shorter than the validity.
  getUnsigned(c, d, "signature_validity_s", p, out.validity_s, 3600, 31536000);
  getUnsigned(c, d, "refresh_s", p, out.refresh_s, 600, 31536000);
  if (out.refresh_s >= out.validity_s)
    c.err(p + "/refresh_s",
          "must be less than signature_validity_s (" + std::to_string(out.validity_s) + ")");
  getEnum(c, d, "denial", p, out.denial);
  return out;
}

// "tsig_keys": {"name": {"algorithm": "hmac-sha256", "secret_file": "xfr.key"}}.
// Before "zones": a zone's "transfer" names one of these keys.
void parseTsigKeys(Ctx& c, const json& root, ServerConfig& cfg, const std::filesystem::path& base) {
  if (!root.contains("tsig_keys")) return;
  const json& ks = root["tsig_keys"];
  if (!ks.is_object()) {
    c.err("/tsig_keys", "expected an object of {\"algorithm\", \"secret_file\"} by key name");
    return;
  }
  for (auto it = ks.begin(); it != ks.end(); ++it) {
    const std::string p = "/tsig_keys/" + jsonPointerEscape(it.key());
    const json& k = it.value();
    if (!k.is_object()) {
      c.err(p, "expected an object {\"algorithm\", \"secret_file\"}");
      continue;
    }
    checkKeys(c, k, p, {"algorithm", "secret_file"});
    TsigKeyConfig kc;
    kc.name = it.key();
    kc.where = c.where(p);
    bool ok = true;
    if (getString(c, k, "algorithm", p, kc.algorithm, true)) {
      if (kc.algorithm != "hmac-sha256" && kc.algorithm != "hmac-sha512") {
        c.err(p + "/algorithm", "must be hmac-sha256 or hmac-sha512");
        ok = false;
      }
    } else {
      ok = false;
    }
    if (getString(c, k, "secret_file", p, kc.secretFile, true)) {
      kc.secretFile = resolve(base, kc.secretFile);
    } else {
      ok = false;
    }
    if (!name::fromText(kc.name)) {
      c.err(p, "not a valid key name (a domain name): '" + kc.name + "'");
      ok = false;
    }
    if (ok) {
      std::ifstream in(kc.secretFile);
      std::stringstream ss;
      if (in) ss << in.rdbuf();
      std::string err;
      if (!in) {
        c.err(p + "/secret_file", "cannot read '" + kc.secretFile + "'");
      } else if (auto key = tsig::makeKey(kc.name, kc.algorithm, ss.str(), &err)) {
        if (!cfg.keyring.add(std::move(*key), &err)) c.err(p, err);
      } else {
        c.err(p + "/secret_file", kc.secretFile + ": " + err);
      }
    }
    cfg.tsigKeys.push_back(std::move(kc));
  }
}

// A zone's "transfer": {"allow": [...], "tsig": "key"}, "notify" and "serial".
void parseZoneTransfer(Ctx& c, const json& z, const std::string& p, const ServerConfig& cfg,
                       ZoneSpec& spec) {
  if (z.contains("transfer")) {
    const json& t = z["transfer"];
    const std::string tp = p + "/transfer";
    if (!t.is_object()) {
      c.err(tp, "expected an object {\"allow\", \"tsig\"}");
    } else {
      checkKeys(c, t, tp, {"allow", "tsig"});
      spec.transfer.enabled = true;
      if (!t.contains("allow") || !t["allow"].is_array() || t["allow"].empty()) {
        c.err(tp + "/allow",
              "expected a non-empty array of addresses or prefixes (\"any\" for all)");
      } else {
        for (std::size_t i = 0; i < t["allow"].size(); ++i) {
          const std::string ap = tp + "/allow/" + std::to_string(i);
          std::string err;
          if (!t["allow"][i].is_string())
            c.err(ap, "expected a string: an address, a prefix or \"any\"");
          else if (!spec.transfer.allow.add(t["allow"][i].get<std::string>(), &err))
            c.err(ap, err);
        }
      }
      if (getString(c, t, "tsig", tp, spec.transfer.tsig, false)) {
        bool known = false;
        for (const auto& k : cfg.tsigKeys) known = known || k.name == spec.transfer.tsig;
        if (!known) c.err(tp + "/tsig", "no key '" + spec.transfer.tsig + "' in \"tsig_keys\"");
      }
    }
  }
  if (z.contains("notify")) {
    const json& n = z["notify"];
    if (!n.is_array()) {
      c.err(p + "/notify", "expected an array of \"address:port\"");
    } else {
      for (std::size_t i = 0; i < n.size(); ++i) {
        const std::string np = p + "/notify/" + std::to_string(i);
        std::string err;
        if (!n[i].is_string()) {
          c.err(np, "expected a string \"address:port\"");
        } else if (auto a = parseHostPort(n[i].get<std::string>(), &err)) {
          spec.notify.push_back(*a);
        } else {
          c.err(np, err);
        }
      }
    }
  }
  getEnum(c, z, "serial", p, spec.serial);
}

// Secondary mode: "primary": ["address:port", ...] and "tsig": "key".
void parseZonePrimary(Ctx& c, const json& z, const std::string& p, const ServerConfig& cfg,
                      ZoneSpec& spec) {
  if (z.contains("primary")) {
    const json& pr = z["primary"];
    if (!pr.is_array() || pr.empty()) {
      c.err(p + "/primary", "expected a non-empty array of \"address:port\"");
    } else {
      for (std::size_t i = 0; i < pr.size(); ++i) {
        const std::string pp = p + "/primary/" + std::to_string(i);
        std::string err;
        if (!pr[i].is_string())
          c.err(pp, "expected a string \"address:port\"");
        else if (auto a = parseHostPort(pr[i].get<std::string>(), &err))
          spec.primaries.push_back(*a);
        else
          c.err(pp, err);
      }
    }
  }
  if (getString(c, z, "tsig", p, spec.primaryTsig, false)) {
    bool known = false;
    for (const auto& k : cfg.tsigKeys) known = known || k.name == spec.primaryTsig;
    if (!known) c.err(p + "/tsig", "no key '" + spec.primaryTsig + "' in \"tsig_keys\"");
    if (!z.contains("primary"))
      c.err(p + "/tsig", "only a secondary zone (with \"primary\") has a \"tsig\" of its own");
  }
  if (!z.contains("primary")) return;
  if (z.contains("dnssec"))
    c.err(p + "/dnssec",
          "a secondary zone is served as its primary sends it: it cannot be signed here");
  if (spec.serial != SerialPolicy::Keep)
    c.err(p + "/serial", "a secondary zone serves its primary's serial: only \"keep\" applies");
}

void parseZones(Ctx& c, const json& root, ServerConfig& cfg, const std::filesystem::path& base) {
  if (!root.contains("zones")) return;
  const json& zs = root["zones"];
  if (!zs.is_array()) {
    c.err("/zones", "expected an array of {\"origin\", \"file\"}");
    return;
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < zs.size(); ++i) {
    std::string p = "/zones/" + std::to_string(i);
    const json& z = zs[i];
    if (!z.is_object()) {
      c.err(p, "expected an object {\"origin\", \"file\"}");
      continue;
    }
    checkKeys(c, z, p,
              {"origin", "file", "dnssec", "transfer", "notify", "serial", "primary", "tsig"});
    ZoneSpec spec;
    spec.where = c.where(p);
    if (!z.contains("origin") || !z["origin"].is_string()) {
      c.err(p + "/origin", "missing or not a string");
    } else {
      spec.origin = z["origin"].get<std::string>();
      auto wire = name::fromText(spec.origin);
      if (!wire)
        c.err(p + "/origin", "not a valid domain name: '" + spec.origin + "'");
      else if (!seen.insert(*wire).second)
        c.err(p + "/origin", "zone '" + spec.origin + "' is listed twice");
    }
    if (!z.contains("file") || !z["file"].is_string())
      c.err(p + "/file", "missing or not a string");
    else
      spec.file = resolve(base, z["file"].get<std::string>());
    if (z.contains("dnssec")) spec.dnssec = parseDnssec(c, z["dnssec"], p + "/dnssec", base);
    parseZoneTransfer(c, z, p, cfg, spec);
    parseZonePrimary(c, z, p, cfg, spec);
    // A signed zone's answers and denial are signed per query (compact denial,
    // pool answers): a secondary given its records could not sign its own
    // NXDOMAIN and NODATA answers, and validating resolvers would see them bogus.
    if (spec.dnssec && spec.transfer.enabled)
      c.err(p + "/transfer",
            "a signed zone cannot be transferred: geodnsd signs its denial and pool answers per "
            "query, which a secondary cannot do (serve it from geodnsd nodes only)");
    cfg.zones.push_back(std::move(spec));
  }
}

void parseLimits(Ctx& c, const json& root, Limits& limits) {
  if (!root.contains("limits")) return;
  const json& l = root["limits"];
  if (!l.is_object()) {
    c.err("/limits", "expected an object");
    return;
  }
  checkKeys(
      c, l, "/limits",
      {"max_udp_payload", "tcp_idle_timeout_ms", "max_tcp_connections",
       "tcp_max_queries_per_connection", "max_transfers", "max_signatures_per_second",
       "signature_burst", "precompiled_names", "defer_geo_compile_nodes", "udp_batch_wait_us"});
  getUnsigned(c, l, "max_udp_payload", "/limits", limits.maxUdpPayload, 512, 65535);
  getUnsigned(c, l, "tcp_idle_timeout_ms", "/limits", limits.tcpIdleTimeoutMs, 100, 3600000);
  getUnsigned(c, l, "max_tcp_connections", "/limits", limits.maxTcpConnections, 1, 1000000);
  getUnsigned(c, l, "tcp_max_queries_per_connection", "/limits", limits.tcpMaxQueriesPerConnection,
              0, 1000000000);
  getUnsigned(c, l, "max_transfers", "/limits", limits.maxTransfers, 1, 10000);
  // A rate of 0 is no limit (the burst is then unused). The burst defaults to
  // the rate; it cannot be 0, which would refuse every signature on UDP.
  if (getUnsigned(c, l, "max_signatures_per_second", "/limits", limits.maxSignaturesPerSecond, 0,
                  1000000))
    limits.signatureBurst = limits.maxSignaturesPerSecond > 0 ? limits.maxSignaturesPerSecond : 1;
  getUnsigned(c, l, "signature_burst", "/limits", limits.signatureBurst, 1, 1000000);
  getUnsigned(c, l, "precompiled_names", "/limits", limits.precompiledNames, 0, 100000000);
  getUnsigned(c, l, "defer_geo_compile_nodes", "/limits", limits.deferGeoCompileNodes, 0,
              2000000000);
  getUnsigned(c, l, "udp_batch_wait_us", "/limits", limits.udpBatchWaitUs, 0, 1000);
}

void parseChaos(Ctx& c, const json& root, ChaosConfig& chaos) {
  if (!root.contains("chaos")) return;
  const json& ch = root["chaos"];
  if (!ch.is_object()) {
    c.err("/chaos", "expected an object");
    return;
  }
  checkKeys(c, ch, "/chaos", {"version", "identity"});
  for (const char* k : {"version", "identity"}) {
    if (!ch.contains(k)) continue;
    if (!ch[k].is_string() || ch[k].get<std::string>().size() > 255) {
      c.err(std::string("/chaos/") + k, "expected a string of at most 255 bytes");
      continue;
    }
    (std::string(k) == "version" ? chaos.version : chaos.identity) = ch[k].get<std::string>();
  }
}

// After "health": the admin API keeps its overrides in the health database.
void parseAdmin(Ctx& c, const json& root, ServerConfig& cfg, const std::filesystem::path& base) {
  if (!root.contains("admin")) return;
  const json& a = root["admin"];
  if (!a.is_object()) {
    c.err("/admin", "expected an object");
    return;
  }
  checkKeys(c, a, "/admin", {"listen", "token_file", "threads"});
  cfg.admin.enabled = true;
  cfg.admin.listenWhere = c.where(a.contains("listen") ? "/admin/listen" : "/admin");
  if (getString(c, a, "listen", "/admin", cfg.admin.listen, false)) {
    std::string e;
    if (!parseHostPort(cfg.admin.listen, &e)) c.err("/admin/listen", e);
  }
  if (getString(c, a, "token_file", "/admin", cfg.admin.tokenFile, true)) {
    cfg.admin.tokenFileWhere = c.where("/admin/token_file");
    cfg.admin.tokenFile = resolve(base, cfg.admin.tokenFile);
  }
  getUnsigned(c, a, "threads", "/admin", cfg.admin.threads, 1, 64);
  // Operator actions must survive a restart: they live in the state database.
  if (cfg.gslb.health.database.empty())
    c.err("/admin", "the admin API needs \"health\": {\"database\": ...} to keep its overrides");
}

bool validNodeName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-')
      return false;
  return true;
}

// "cluster": a fleet on etcd. Shared state is applied into the state
// database, so a restart during an etcd outage starts from it: it needs
// "health": {"database"}.
void parseCluster(Ctx& c, const json& root, ServerConfig& cfg, const std::filesystem::path& base) {
  if (!root.contains("cluster")) return;
  const json& v = root["cluster"];
  ClusterConfig& cl = cfg.cluster;
  if (!v.is_object()) {
    c.err("/cluster", "expected an object");
    return;
  }
  checkKeys(c, v, "/cluster",
            {"etcd", "prefix", "node", "site", "timeout_ms", "lease_ttl_s", "audit_retention_days",
             "tls", "auth"});
  cl.enabled = true;
  cl.where = c.where("/cluster");
  if (!v.contains("etcd")) {
    c.err("/cluster/etcd", "missing");
  } else if (!v["etcd"].is_array() || v["etcd"].empty()) {
    c.err("/cluster/etcd", "expected a non-empty array of etcd client URLs");
  } else {
    for (std::size_t i = 0; i < v["etcd"].size(); ++i) {
      const std::string p = "/cluster/etcd/" + std::to_string(i);
      const json& u = v["etcd"][i];
      if (!u.is_string()) {
        c.err(p, "expected a URL string");
        continue;
      }
      const std::string url = u.get<std::string>();
      const auto scheme = url.find("://");
      const std::string s = scheme == std::string::npos ? "" : url.substr(0, scheme);
      if (s != "http" && s != "https")
        c.err(p, "expected an http:// or https:// URL");
      else if (url.find('@') != std::string::npos)
        c.err(p,
              "no user or password in the URL: use \"auth\"");  // URL not quoted: it may hold one
      else
        cl.etcd.push_back(url);
    }
  }
  if (getString(c, v, "prefix", "/cluster", cl.prefix, false)) {
    if (cl.prefix.front() != '/' || cl.prefix.back() != '/')
      c.err("/cluster/prefix", "must start and end with '/' (\"/geodns/\")");
  }
  if (getString(c, v, "node", "/cluster", cl.node, true) && !validNodeName(cl.node))
    c.err("/cluster/node", "1 to 64 letters, digits, '.', '_' or '-'");
  if (getString(c, v, "site", "/cluster", cl.site, false) && !validNodeName(cl.site))
    c.err("/cluster/site", "1 to 64 letters, digits, '.', '_' or '-'");
  getUnsigned(c, v, "timeout_ms", "/cluster", cl.timeoutMs, 50, 60000);
  getUnsigned(c, v, "lease_ttl_s", "/cluster", cl.leaseTtlSec, 2, 600);
  getUnsigned(c, v, "audit_retention_days", "/cluster", cl.auditRetentionDays, 0, 36500);
  if (v.contains("tls")) {
    const json& t = v["tls"];
    if (!t.is_object()) {
      c.err("/cluster/tls", "expected an object {\"ca_file\", \"cert_file\", \"key_file\"}");
    } else {
      checkKeys(c, t, "/cluster/tls", {"ca_file", "cert_file", "key_file"});
      if (getString(c, t, "ca_file", "/cluster/tls", cl.tls.caFile, false))
        cl.tls.caFile = resolve(base, cl.tls.caFile);
      const bool cert = getString(c, t, "cert_file", "/cluster/tls", cl.tls.certFile, false);
      const bool key = getString(c, t, "key_file", "/cluster/tls", cl.tls.keyFile, false);
      if (cert != key) c.err("/cluster/tls", "cert_file and key_file go together");
      if (cert) cl.tls.certFile = resolve(base, cl.tls.certFile);
      if (key) cl.tls.keyFile = resolve(base, cl.tls.keyFile);
    }
  }
  if (v.contains("auth")) {
    const json& a = v["auth"];
    if (!a.is_object()) {
      c.err("/cluster/auth", "expected an object {\"user\", \"password_file\"}");
    } else {
      checkKeys(c, a, "/cluster/auth", {"user", "password_file"});
      getString(c, a, "user", "/cluster/auth", cl.user, true);
      if (getString(c, a, "password_file", "/cluster/auth", cl.passwordFile, true))
        cl.passwordFile = resolve(base, cl.passwordFile);
    }
  }
  if (cfg.gslb.health.database.empty())
    c.err("/cluster",
          "a fleet node needs \"health\": {\"database\": ...} to keep the last "
          "shared state through an etcd outage");
}

void parseRrl(Ctx& c, const json& root, RrlConfig& rrl) {
  if (!root.contains("rrl")) return;
  const json& r = root["rrl"];
  if (!r.is_object()) {
    c.err("/rrl", "expected an object");
    return;
  }
  checkKeys(
      c, r, "/rrl",
      {"enabled", "responses_per_second", "slip", "ipv4_prefix", "ipv6_prefix", "table_size"});
  rrl.enabled = true;
  getBool(c, r, "enabled", "/rrl", rrl.enabled);
  getUnsigned(c, r, "responses_per_second", "/rrl", rrl.responsesPerSecond, 1, 30000);
  getUnsigned(c, r, "slip", "/rrl", rrl.slip, 0, 10);
  getUnsigned(c, r, "ipv4_prefix", "/rrl", rrl.ipv4Prefix, 8, 32);
  getUnsigned(c, r, "ipv6_prefix", "/rrl", rrl.ipv6Prefix, 16, 128);
  getUnsigned(c, r, "table_size", "/rrl", rrl.tableSize, 1024, 16777216);
}

void parseLog(Ctx& c, const json& root, LogConfig& log, const std::filesystem::path& base) {
  if (!root.contains("log")) return;
  const json& l = root["log"];
  if (!l.is_object()) {
    c.err("/log", "expected an object");
    return;
  }
  checkKeys(c, l, "/log", {"format", "level", "query_log"});
  log::Format format{};
  if (getEnum(c, l, "format", "/log", format, false, "expected \"logfmt\" or \"json\""))
    log.format = format;
  log::Level level{};
  if (getEnum(c, l, "level", "/log", level, false, "expected debug, info, warn or error"))
    log.level = level;
  if (!l.contains("query_log")) return;
  const json& q = l["query_log"];
  if (!q.is_object()) {
    c.err("/log/query_log", "expected an object");
    return;
  }
  checkKeys(c, q, "/log/query_log", {"file", "sample"});
  if (getString(c, q, "file", "/log/query_log", log.queryLogFile, true)) {
    log.queryLogWhere = c.where("/log/query_log/file");
    log.queryLogFile = resolve(base, log.queryLogFile);
  }
  getUnsigned(c, q, "sample", "/log/query_log", log.queryLogSample, 1, 1000000000);
}

}  // namespace

int dnsRcodeFromText(const std::string& text) {
  for (std::uint16_t i = 0; i <= 5; ++i)  // the rcodes a probe can expect
    if (text == dns::rcodeName(i)) return i;
  return -1;
}

std::optional<ServerConfig> parseConfigBestEffort(const std::string& text, const std::string& path,
                                                  ErrorList& errors) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    auto p = what.find("syntax error");
    errors.add(path + ":" + lineColumn(text, e.byte == 0 ? 0 : e.byte - 1),
               p == std::string::npos ? what : what.substr(p));
    return std::nullopt;
  } catch (const json::exception& e) {
    // e.g. out_of_range for a number too large for a double (found by fuzz_config)
    std::string what = e.what();
    auto p = what.find("] ");
    errors.add(path, p == std::string::npos ? what : what.substr(p + 2));
    return std::nullopt;
  }
  Ctx c{path, errors, jsonPositions(text)};
  if (!root.is_object()) {
    c.err("", "the config must be a JSON object");
    return std::nullopt;
  }
  ServerConfig cfg;
  cfg.path = path;
  std::filesystem::path base = std::filesystem::path(path).parent_path();
  checkKeys(c, root, "",
            {"listen", "workers", "zones", "limits", "chaos", "geo", "regions", "pools", "policies",
             "bindings", "probes", "health", "admin", "rrl", "log", "cluster", "tsig_keys"});

  parseListen(c, root, cfg);
  getUnsigned(c, root, "workers", "", cfg.workers, 0, 256);
  parseTsigKeys(c, root, cfg, base);
  parseZones(c, root, cfg, base);
  parseLimits(c, root, cfg.limits);
  parseChaos(c, root, cfg.chaos);
  Known known;
  parseRegions(c, root, cfg.gslb, known);
  parseGeo(c, root, cfg.gslb, known, base);
  parseProbes(c, root, cfg.gslb, known);
  parseHealth(c, root, cfg.gslb.health, base);
  parsePools(c, root, cfg.gslb, known);
  parsePolicies(c, root, cfg.gslb, known);
  parseBindings(c, root, cfg.gslb, known);
  checkFallbackRegions(c, cfg.gslb);
  parseAdmin(c, root, cfg, base);
  parseCluster(c, root, cfg, base);
  parseRrl(c, root, cfg.rrl);
  parseLog(c, root, cfg.log, base);
  return cfg;
}

std::optional<ServerConfig> parseConfig(const std::string& text, const std::string& path,
                                        ErrorList& errors) {
  const std::size_t before = errors.size();
  auto cfg = parseConfigBestEffort(text, path, errors);
  if (errors.size() != before) return std::nullopt;
  return cfg;
}

std::optional<ServerConfig> loadConfigFileBestEffort(const std::string& path, ErrorList& errors) {
  std::ifstream in(path);
  if (!in) {
    errors.add(path, "cannot open config file");
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parseConfigBestEffort(ss.str(), path, errors);
}

std::optional<ServerConfig> loadConfigFile(const std::string& path, ErrorList& errors) {
  const std::size_t before = errors.size();
  auto cfg = loadConfigFileBestEffort(path, errors);
  if (errors.size() != before) return std::nullopt;
  return cfg;
}

}  // namespace geodns::config
