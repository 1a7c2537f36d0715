#include "server/cli.h"

#include <charconv>
#include <cstring>

#include "core/address.h"

namespace geodns::server {

const char* const kUsage = R"(geodnsd - authoritative GeoDNS / GSLB server

Usage:
  geodnsd [serve] --config FILE [options]     serve DNS over UDP and TCP
  geodnsd [serve] --listen ADDR:PORT --zone ORIGIN=FILE [...]
  geodnsd check-config --config FILE          make every check the server makes at start
                                              (config, zones, geo data, state directory,
                                              token file, listeners), bind nothing, exit
  geodnsd explain --config FILE --name NAME [--type TYPE] --client IP[/PREFIX] [--json]
                                              what would this client get, and why
  geodnsd status --config FILE [--json]       health of every probed target, from the state
                                              database (works beside a running server)
  geodnsd export-zone --config FILE --zone ORIGIN
                                              print the zone's static part as served (master
                                              file on stdout; a signed zone with its RRSIGs
                                              and an NSEC chain, for ldns-verify-zone)
  geodnsd ctl COMMAND [args]                  the admin API client (see geodnsctl --help)
  geodnsd --help | --version

Options:
  -c, --config FILE        JSON config (listeners, workers, zones, limits); see docs/config.md
  -l, --listen ADDR:PORT   listen on UDP and TCP; IPv6 as [::1]:5353. Repeatable.
                           Given with --config, replaces the config's listeners.
  -z, --zone ORIGIN=FILE   serve the zone ORIGIN from the RFC 1035 master FILE. Repeatable;
                           added to the config's zones.
  -w, --workers N          UDP worker threads per listener (default: number of cores)
      --max-udp-payload N  largest UDP response with EDNS, 512..65535 (default 1232)
      --log-level LEVEL    debug, info, warn or error (default: the config's "log", else info)
      --log-format FORMAT  logfmt or json (default: the config's "log", else logfmt)
  -u, --user USER          after binding the sockets (e.g. port 53 as root), switch to USER
                           and its group; the state database must be writable by USER
      --control-socket PATH  a Unix socket where this server hands its listening sockets to
                           a successor started with --replace (zero-downtime upgrade)
      --replace            take the listening sockets of the server at --control-socket,
                           serve, then tell it to stop (it finishes its TCP queries and exits)
explain:
      --name NAME          the query name
      --type TYPE          the query type (default A)
      --client IP[/PREFIX] the client: a bare address is the resolver's own address (no ECS);
                           with /PREFIX it is sent as EDNS Client Subnet from --resolver
      --resolver IP        the resolver address for ECS queries (default 127.0.0.1)
      --json               machine-readable output
                           The geo databases are read where they lie, not compiled: the
                           client's compiled prefix is found by walking the networks around
                           it (at most 4M blocks; past that it is shown as "/N or wider")
export-zone:
  -z, --zone ORIGIN        the zone to print (one of the config's zones). Names answered by a
                           GSLB pool are left out (listed in a leading comment)
  -h, --help               this text
  -V, --version            print the version

Signals: SIGHUP reloads config and zones atomically (a failed reload keeps the old data
serving and logs every error); SIGTERM/SIGINT stop the server.
Exit status: 0 on success, 1 on config or zone errors, 2 on bad usage (export-zone: also
a zone the config does not have).
)";

namespace {
bool parseUnsigned(const std::string& s, unsigned& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}
}  // namespace

Options parseArgs(int argc, char** argv, ErrorList& errors) {
  Options o;
  int i = 1;
  if (i < argc && std::strcmp(argv[i], "check-config") == 0) {
    o.command = Command::CheckConfig;
    ++i;
  } else if (i < argc && std::strcmp(argv[i], "status") == 0) {
    o.command = Command::Status;
    ++i;
  } else if (i < argc && std::strcmp(argv[i], "explain") == 0) {
    o.command = Command::Explain;
    ++i;
  } else if (i < argc && std::strcmp(argv[i], "export-zone") == 0) {
    o.command = Command::ExportZone;
    ++i;
  } else if (i < argc && std::strcmp(argv[i], "serve") == 0) {
    ++i;
  }
  for (; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool hasInline = false;
    if (a.rfind("--", 0) == 0) {
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        hasInline = true;
      }
    }
    auto need = [&](const char* flag) -> bool {
      if (hasInline) return true;
      if (i + 1 >= argc) {
        errors.add("", std::string(flag) + " needs a value");
        return false;
      }
      value = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      o.command = Command::Help;
    } else if (a == "-V" || a == "--version") {
      o.command = Command::Version;
    } else if (a == "-c" || a == "--config") {
      if (need("--config")) o.configPath = value;
    } else if (a == "-l" || a == "--listen") {
      if (need("--listen")) o.listen.push_back(value);
    } else if (a == "-z" || a == "--zone") {
      if (need("--zone"))
        (o.command == Command::ExportZone ? o.exportZone : o.zones.emplace_back()) = value;
    } else if (a == "-w" || a == "--workers") {
      unsigned v = 0;
      if (need("--workers") && !(parseUnsigned(value, v) && v <= 256))
        errors.add("", "--workers needs a number 0..256");
      else
        o.workers = v;
    } else if (a == "--max-udp-payload") {
      unsigned v = 0;
      if (need("--max-udp-payload") && !(parseUnsigned(value, v) && v >= 512 && v <= 65535))
        errors.add("", "--max-udp-payload needs a number 512..65535");
      else
        o.maxUdpPayload = v;
    } else if (a == "--name") {
      if (need("--name")) o.name = value;
    } else if (a == "--type") {
      if (need("--type")) o.type = value;
    } else if (a == "--client") {
      if (need("--client")) o.client = value;
    } else if (a == "--resolver") {
      if (need("--resolver")) o.resolver = value;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--log-level") {
      if (need("--log-level")) o.logLevel = value;
    } else if (a == "--log-format") {
      if (need("--log-format")) o.logFormat = value;
    } else if (a == "-u" || a == "--user") {
      if (need("--user")) o.user = value;
    } else if (a == "--control-socket") {
      if (need("--control-socket")) o.controlSocket = value;
    } else if (a == "--replace") {
      o.replace = true;
    } else {
      errors.add("", "unknown argument '" + std::string(argv[i]) + "' (see --help)");
    }
  }
  return o;
}

std::optional<config::ServerConfig> resolveConfigBestEffort(const Options& opt, ErrorList& errors) {
  config::ServerConfig cfg;
  bool fileErrors = false;
  if (!opt.configPath.empty()) {
    const std::size_t before = errors.size();
    auto loaded = config::loadConfigFileBestEffort(opt.configPath, errors);
    if (!loaded) return std::nullopt;
    cfg = std::move(*loaded);
    fileErrors = errors.size() != before;
  }
  if (!opt.listen.empty()) {
    cfg.listen.clear();
    cfg.listenWhere.clear();
    for (const auto& l : opt.listen) {
      std::string e;
      if (!parseHostPort(l, &e)) {
        errors.add("--listen " + l, e);
      } else {
        cfg.listen.push_back(l);
        cfg.listenWhere.push_back("--listen " + l);
      }
    }
  }
  for (const auto& z : opt.zones) {
    auto eq = z.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == z.size()) {
      errors.add("--zone " + z, "expected ORIGIN=FILE");
      continue;
    }
    cfg.zones.emplace_back(z.substr(0, eq), z.substr(eq + 1), "--zone " + z);
  }
  if (opt.workers) cfg.workers = *opt.workers;
  if (opt.maxUdpPayload) cfg.limits.maxUdpPayload = static_cast<std::uint16_t>(*opt.maxUdpPayload);
  // A config file whose listeners all had errors has said so already.
  if (cfg.listen.empty() && opt.listen.empty() && opt.command != Command::Explain && !fileErrors)
    errors.add("", "no listener: give --listen ADDR:PORT or a config with \"listen\"");
  // Likewise a --zone that had an error has been named.
  if (cfg.zones.empty() && opt.zones.empty())
    errors.add("", "no zones: give --zone ORIGIN=FILE or a config with \"zones\"");
  return cfg;
}

std::optional<config::ServerConfig> resolveConfig(const Options& opt, ErrorList& errors) {
  const std::size_t before = errors.size();
  auto cfg = resolveConfigBestEffort(opt, errors);
  if (errors.size() != before) return std::nullopt;
  return cfg;
}

}  // namespace geodns::server
