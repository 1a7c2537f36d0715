#include "server/startup.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/address.h"
#include "core/clock.h"
#include "core/ip.h"
#include "core/log.h"
#include "core/wire/name.h"
#include "gslb/gslb.h"
#include "zones/load.h"

namespace geodns::server {

namespace {

// The checks of loadServing's step 3 that are safe on a config that had
// errors: each reads only fields that the parser fills with checked values or
// leaves empty (Gslb::build as a whole is not: it trusts every name in the
// config to resolve).
void checkPartialConfig(const config::ServerConfig& cfg, ErrorList& errors) {
  // Zone files, and bindings against the zones' data (a binding on a name
  // that has records, or below a delegation).
  config::ServerConfig z;
  z.path = cfg.path;
  std::set<std::string> origins;
  for (const auto& spec : cfg.zones) {
    auto origin = name::fromText(spec.origin);
    if (spec.origin.empty() || spec.file.empty() || !origin || !origins.insert(*origin).second)
      continue;  // reported by the parser
    z.zones.push_back(spec);
  }
  if (!z.zones.empty())  // else every binding would be "outside every zone"
    for (const auto& b : cfg.gslb.bindings)
      if (!b.name.empty()) z.gslb.bindings.push_back(b);
  zones::loadZones(z, errors);

  // Geo databases (and operator nets: prefixes listed twice), through the
  // code that opens them when serving; regions are left out, since their
  // names may not resolve.
  config::GslbConfig geo;
  for (const auto& d : cfg.gslb.databases)
    if (!d.file.empty()) geo.databases.push_back(d);
  if (cfg.gslb.asnDatabase && !cfg.gslb.asnDatabase->file.empty())
    geo.asnDatabase = cfg.gslb.asnDatabase;
  for (const auto& n : cfg.gslb.nets) {
    if (!IpPrefix::parse(n.prefix)) continue;
    config::NetConfig copy = n;
    copy.regions.clear();
    geo.nets.push_back(std::move(copy));
  }
  if (!geo.databases.empty() || geo.asnDatabase || !geo.nets.empty())
    gslb::Gslb::build(geo, errors);
}

// access(2) with the effective ids (what open(2) will use).
int accessError(const std::string& path, int mode) {
  return ::faccessat(AT_FDCWD, path.c_str(), mode, AT_EACCESS) == 0 ? 0 : errno;
}

unsigned unprivilegedPortStart() {
  std::ifstream in("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  unsigned v = 1024;
  if (in >> v) return v;
  return 1024;
}

// CAP_NET_BIND_SERVICE (bit 10) in the effective set. When the set cannot be
// read, assume the process can: a false refusal would keep a server down.
bool canBindLowPorts() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    try {
      return (std::stoull(line.substr(7), nullptr, 16) >> 10) & 1;
    } catch (...) {
      return true;
    }
  }
  return true;
}

std::string placeOr(const std::string& where, const std::string& fallback) {
  return where.empty() ? fallback : where;
}

// The serials the zones were served with before this start, from the state
// database (read-only: it is opened for writing later, and a server being
// replaced may hold it). Nothing when there is no database yet; a database
// that cannot be read is logged, and the zones start from their files.
zones::PersistedSerials persistedSerials(const config::HealthConfig& hc) {
  zones::PersistedSerials out;
  if (hc.database.empty() ||
      !std::filesystem::exists(std::filesystem::path(hc.database) / "CURRENT"))
    return out;
  std::string err;
  auto store = health::openRocksStore(hc.database, hc.history, true, &err);
  std::vector<health::ZoneSerialRecord> records;
  if (!store || !store->zoneSerials(records, &err)) {
    GEODNS_LOG_WARN("%s: cannot read the zones' serials (%s): each zone starts from its file's",
                    hc.database.c_str(), err.c_str());
    return out;
  }
  for (auto& r : records) out[std::move(r.origin)] = {r.serial, r.contentHash};
  return out;
}

}  // namespace

LoadedConfig loadServing(const Options& opt, ErrorList& errors, const ServingSnapshot* previous) {
  LoadedConfig out;
  const std::size_t before = errors.size();
  out.config = resolveConfigBestEffort(opt, errors);
  if (!out.config) return out;
  // At start-up the config's "log" applies where the command line said
  // nothing, before anything is loaded: the loading's own lines (zones,
  // compiled decisions) then have the configured level and format.
  if (!previous) {
    if (opt.logLevel.empty() && out.config->log.level && opt.command != Command::ExportZone)
      log::setLevel(*out.config->log.level);
    if (opt.logFormat.empty() && out.config->log.format) log::setFormat(*out.config->log.format);
  }
  // explain looks at one client: the geo databases are read on demand and
  // nothing is compiled (explain() compiles that client's prefix alone).
  const auto geoOpen = opt.command == Command::Explain ? gslb::Gslb::GeoOpen::OnDemand
                                                       : gslb::Gslb::GeoOpen::Compiled;
  // A server starting on big geo databases answers first and compiles them
  // right after (Process::compileDeferred); a reload keeps serving the
  // compiled previous config until the new one is compiled.
  const std::uint64_t defer =
      opt.command == Command::Serve && !previous ? out.config->limits.deferGeoCompileNodes : 0;
  if (errors.size() == before) {
    const zones::PersistedSerials persisted = opt.command == Command::Serve && !previous
                                                  ? persistedSerials(out.config->gslb.health)
                                                  : zones::PersistedSerials{};
    out.snapshot = buildSnapshot(*out.config, errors, previous, SteadyClock().unixSeconds(),
                                 nullptr, geoOpen, defer, &persisted);
  } else {
    checkPartialConfig(*out.config, errors);
  }
  return out;
}

void checkListenerConflicts(const config::ServerConfig& cfg, ErrorList& errors) {
  struct Entry {
    SocketAddress addr;
    std::string text, where;
  };
  std::vector<Entry> entries;
  for (std::size_t i = 0; i < cfg.listen.size(); ++i) {
    std::string e;
    if (auto a = parseHostPort(cfg.listen[i], &e))
      entries.push_back(
          {*a, cfg.listen[i], i < cfg.listenWhere.size() ? cfg.listenWhere[i] : cfg.listen[i]});
  }
  const std::size_t dnsCount = entries.size();
  if (cfg.admin.enabled) {
    std::string e;
    if (auto a = parseHostPort(cfg.admin.listen, &e))
      entries.push_back({*a, cfg.admin.listen, placeOr(cfg.admin.listenWhere, "admin.listen")});
  }
  auto wildcard = [](const SocketAddress& a) { return a.host() == "0.0.0.0" || a.host() == "::"; };
  for (std::size_t j = 1; j < entries.size(); ++j) {
    const Entry& b = entries[j];
    if (b.addr.port() == 0) continue;  // an ephemeral port never collides
    for (std::size_t i = 0; i < j; ++i) {
      const Entry& a = entries[i];
      if (a.addr.family() != b.addr.family() || a.addr.port() != b.addr.port()) continue;
      if (a.addr.host() != b.addr.host() && !wildcard(a.addr) && !wildcard(b.addr)) continue;
      errors.add(b.where, std::string(j >= dnsCount ? "the admin API's " : "") + "listener " +
                              b.text + " takes the TCP port of " + a.text + " (" + a.where +
                              "): the server cannot bind both");
      break;
    }
  }
}

void checkPrivilegedPorts(const config::ServerConfig& cfg, unsigned unprivilegedStart,
                          bool canBindLow, ErrorList& errors) {
  if (canBindLow) return;
  auto check = [&](const std::string& text, const std::string& where) {
    std::string e;
    auto a = parseHostPort(text, &e);
    if (!a || a->port() == 0 || a->port() >= unprivilegedStart) return;
    errors.add(where, "binding " + text + " needs CAP_NET_BIND_SERVICE (ports below " +
                          std::to_string(unprivilegedStart) +
                          "), which this process does not have");
  };
  for (std::size_t i = 0; i < cfg.listen.size(); ++i)
    check(cfg.listen[i], i < cfg.listenWhere.size() ? cfg.listenWhere[i] : cfg.listen[i]);
  if (cfg.admin.enabled) check(cfg.admin.listen, placeOr(cfg.admin.listenWhere, "admin.listen"));
}

std::string stateDirectoryProblem(const std::string& dir) {
  namespace fs = std::filesystem;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return std::strerror(errno);
    // Created at start-up (with its missing parents): the nearest existing
    // ancestor must let this process create entries.
    fs::path p = fs::absolute(fs::path(dir)).parent_path();
    while (::stat(p.c_str(), &st) != 0) {
      if (errno != ENOENT) return "cannot create it in " + p.string() + ": " + std::strerror(errno);
      if (p == p.parent_path()) break;
      p = p.parent_path();
    }
    if (!S_ISDIR(st.st_mode)) return "cannot create it: " + p.string() + " is not a directory";
    if (int e = accessError(p.string(), W_OK | X_OK))
      return "cannot create it in " + p.string() + ": " + std::strerror(e);
    return "";
  }
  if (!S_ISDIR(st.st_mode)) return "not a directory";
  if (int e = accessError(dir, R_OK | W_OK | X_OK))
    return std::string(std::strerror(e)) + " (the directory must be readable and writable)";
  // An existing database: every file is read when it opens, LOCK is written.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const bool lock = entry.path().filename() == "LOCK";
    if (int e = accessError(entry.path().string(), lock ? (R_OK | W_OK) : R_OK))
      return entry.path().filename().string() + ": " + std::strerror(e);
  }
  if (ec) return ec.message();
  return "";
}

std::string appendFileProblem(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return std::strerror(EISDIR);
    int e = accessError(file, W_OK);
    return e ? std::strerror(e) : "";
  }
  if (errno != ENOENT) return std::strerror(errno);
  std::string parent = std::filesystem::path(file).parent_path().string();
  if (parent.empty()) parent = ".";
  if (::stat(parent.c_str(), &st) != 0) return std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return std::strerror(ENOTDIR);
  int e = accessError(parent, W_OK | X_OK);
  return e ? std::strerror(e) : "";
}

void prepareStart(const config::ServerConfig& cfg, const Options& opt, StartMode mode,
                  StartResources& out, ErrorList& errors) {
  const bool root = ::geteuid() == 0;
  const bool serve = mode == StartMode::Serve;

  // 4. --user: resolved now; privileges are dropped once every socket is bound.
  if (!opt.user.empty()) {
    const passwd* pw = ::getpwnam(opt.user.c_str());
    if (!pw) {
      errors.add("--user " + opt.user, "no such user");
    } else {
      out.runAs = RunAs{pw->pw_name, pw->pw_uid, pw->pw_gid};
      if (!root && ::geteuid() != pw->pw_uid)
        errors.add("--user " + opt.user, "switching users needs root");
    }
  }

  // 5. Listeners (binding them is the server's job, after these checks).
  checkListenerConflicts(cfg, errors);
  checkPrivilegedPorts(cfg, unprivilegedPortStart(), canBindLowPorts(), errors);

  // 6. The state database.
  const auto& hc = cfg.gslb.health;
  if (!hc.database.empty()) {
    const std::string where = placeOr(hc.databaseWhere, hc.database);
    // As root with --user the directory is handed to the user before it is opened.
    if (serve && out.runAs && root) {
      std::error_code ec;
      std::filesystem::create_directories(hc.database, ec);
      if (::chown(hc.database.c_str(), out.runAs->uid, out.runAs->gid) != 0 && !ec)
        GEODNS_LOG_WARN("cannot chown %s: %s", hc.database.c_str(), std::strerror(errno));
      for (const auto& e : std::filesystem::recursive_directory_iterator(hc.database, ec))
        if (::chown(e.path().c_str(), out.runAs->uid, out.runAs->gid) != 0)
          GEODNS_LOG_WARN("cannot chown %s: %s", e.path().c_str(), std::strerror(errno));
    }
    const std::string problem = stateDirectoryProblem(hc.database);
    std::string err;
    if (!problem.empty()) {
      errors.add(where, hc.database + ": cannot open the health state database: " + problem);
    } else if (serve) {
      out.store = health::openRocksStore(hc.database, hc.history, false, &err);
      if (!out.store) errors.add(where, err);
    } else if (std::filesystem::exists(std::filesystem::path(hc.database) / "CURRENT")) {
      // Read-only: no lock is taken, so a running server keeps its database.
      // A column family missing from an older database is created by the
      // read-write open at start-up, so it is no reason to refuse.
      if (!health::openRocksStore(hc.database, hc.history, true, &err) &&
          err.find("olumn famil") == std::string::npos)
        errors.add(where, err);
    }
  }

  // 7. The admin API's tokens (the same loader the server and its reloads use).
  if (cfg.admin.enabled && !cfg.admin.tokenFile.empty()) {
    std::string err;
    if (!loadTokens(cfg.admin.tokenFile, out.tokens, &err))
      errors.add(placeOr(cfg.admin.tokenFileWhere, "admin.token_file"), err);
  }

  // 8. The query log (settings take effect at start-up; SIGHUP reopens it).
  if (!cfg.log.queryLogFile.empty()) {
    const std::string& file = cfg.log.queryLogFile;
    const std::string where = placeOr(cfg.log.queryLogWhere, "log.query_log.file");
    const std::string problem = appendFileProblem(file);
    if (!problem.empty()) {
      errors.add(where, file + ": cannot open the query log: " + problem);
    } else if (serve) {
      out.queryLog = std::make_unique<QueryLog>(file, cfg.log.queryLogSample, log::format());
      std::string err;
      if (!out.queryLog->open(&err))
        errors.add(where, err);
      else if (out.runAs && root && ::chown(file.c_str(), out.runAs->uid, out.runAs->gid) != 0)
        GEODNS_LOG_WARN("cannot chown %s: %s", file.c_str(), std::strerror(errno));
    }
  }
}

}  // namespace geodns::server
