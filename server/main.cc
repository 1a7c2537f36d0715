// geodnsd: parses the command line, loads and checks the config, and
// dispatches: serve (server/process.h), check-config, explain, status,
// export-zone, ctl.
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "core/address.h"
#include "core/log.h"
#include "health/store.h"
#include "server/cli.h"
#include "server/ctl.h"
#include "server/explain.h"
#include "server/export_zone.h"
#include "server/process.h"
#include "server/serving.h"
#include "server/startup.h"

using namespace geodns;
using namespace geodns::server;

namespace {

void printErrors(const ErrorList& errors) {
  for (const auto& e : errors.all()) std::fprintf(stderr, "geodnsd: %s\n", e.str().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  // `geodnsctl ...` (a link to this binary) and `geodnsd ctl ...` talk to the admin API.
  const std::string self = argv[0] ? argv[0] : "";
  if (self.size() >= 9 && self.compare(self.size() - 9, 9, "geodnsctl") == 0)
    return runCtl(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == "ctl") return runCtl(argc - 1, argv + 1);
  ErrorList argErrors;
  Options opt = parseArgs(argc, argv, argErrors);
  if (!argErrors.empty()) {
    printErrors(argErrors);
    return 2;
  }
  if (opt.command == Command::Help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (opt.command == Command::Version) {
    std::puts("geodnsd 0.1.0");
    return 0;
  }
  if (opt.command == Command::ExportZone && opt.exportZone.empty()) {
    std::fprintf(stderr, "geodnsd export-zone: needs --zone ORIGIN (and --config FILE)\n");
    return 2;
  }
  // export-zone prints a zone file on stdout; start-up notes would only be
  // noise beside it on stderr (warnings still show).
  log::Level level = opt.command == Command::ExportZone ? log::Level::Warn : log::Level::Info;
  if (!opt.logLevel.empty() && !log::parseLevel(opt.logLevel.c_str(), level)) {
    std::fprintf(stderr, "geodnsd: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  log::Format format = log::Format::Logfmt;
  if (!opt.logFormat.empty() && !log::parseFormat(opt.logFormat.c_str(), format)) {
    std::fprintf(stderr, "geodnsd: --log-format must be logfmt or json\n");
    return 2;
  }
  log::setLevel(level);
  log::setFormat(format);
  // Before anything starts a thread (the load, RocksDB): see process.h.
  if (opt.command == Command::Serve) blockServeSignals();

  // Steps 2 and 3 of the start-up checks (server/startup.h): every error of
  // the config, its zones and its geo data, in one run.
  ErrorList errors;
  LoadedConfig loaded = loadServing(opt, errors);
  const auto& cfg = loaded.config;  // its "log" is applied by loadServing
  std::shared_ptr<const ServingSnapshot> snap = loaded.snapshot;
  const bool starting = opt.command == Command::Serve || opt.command == Command::CheckConfig;
  // check-config makes every check the server makes before it serves, and a
  // server whose config is broken reports those too: one run lists them all.
  // Only a server with a clean config takes its resources (StartMode::Serve).
  StartResources res;
  if (cfg && starting)
    prepareStart(*cfg, opt,
                 snap && opt.command == Command::Serve ? StartMode::Serve : StartMode::Check, res,
                 errors);
  if (!snap || !errors.empty()) {
    printErrors(errors);
    std::fprintf(stderr, "geodnsd: %zu error(s); nothing served\n", errors.size());
    return 1;
  }
  if (opt.command == Command::Explain) {
    ExplainRequest req;
    req.name = opt.name;
    req.type = opt.type;
    req.json = opt.json;
    std::string err;
    auto client = IpPrefix::parse(opt.client, &err, true);
    auto resolver = IpAddress::parse(opt.resolver);
    if (opt.name.empty() || !client || !resolver) {
      std::fprintf(stderr, "geodnsd explain: needs --name NAME and --client IP[/PREFIX]%s%s\n",
                   err.empty() ? "" : ": ", err.c_str());
      return 2;
    }
    req.client = *client;
    req.clientIsEcs = opt.client.find('/') != std::string::npos;
    req.resolver = *resolver;
    // With a state database, explain decides with the health it records
    // (opened read-only: works beside a running server).
    std::shared_ptr<const ServingSnapshot> explained = snap;
    if (!cfg->gslb.health.database.empty()) {
      std::string serr;
      if (auto st = health::openRocksStore(cfg->gslb.health.database, cfg->gslb.health.history,
                                           true, &serr)) {
        auto withHealth = std::make_shared<ServingSnapshot>(*snap);
        std::string herr;
        withHealth->health = healthFromStore(*st, *snap->gslb, &herr);
        if (!withHealth->health) {
          std::fprintf(stderr, "geodnsd explain: state database %s: %s\n",
                       cfg->gslb.health.database.c_str(), herr.c_str());
          return 1;
        }
        // Nothing to compile here: the Gslb was built on demand (explain()
        // compiles the client's prefix under this health).
        explained = withHealth;
      }
    }
    bool ok = false;
    std::string report = explain(*explained, req, ok);
    std::fputs(report.c_str(), ok ? stdout : stderr);
    return ok ? 0 : 2;
  }
  if (opt.command == Command::ExportZone) {
    std::string text, err;
    const ExportStatus st = exportZoneText(*snap, opt.exportZone, text, err);
    if (st != ExportStatus::Ok) {
      std::fprintf(stderr, "geodnsd export-zone: %s\n", err.c_str());
      return st == ExportStatus::UnknownZone ? 2 : 1;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  if (opt.command == Command::Status) {
    const auto& hc = cfg->gslb.health;
    if (hc.database.empty()) {
      std::fprintf(stderr, "geodnsd status: the config has no health.database\n");
      return 1;
    }
    std::string err;
    auto st = health::openRocksStore(hc.database, hc.history, true, &err);
    if (!st) {
      std::fprintf(stderr, "geodnsd: %s\n", err.c_str());
      return 1;
    }
    std::fputs(statusReport(*st, *snap, opt.json).c_str(), stdout);
    return 0;
  }
  if (opt.command == Command::CheckConfig) {
    std::printf("config OK: %zu zone(s), %zu record(s)\n", snap->zones->zones().size(),
                countRecords(*snap));
    return 0;
  }

  return serve(opt, std::move(*loaded.config), std::move(snap), std::move(res));
}
