#pragma once
// Command line: `geodnsd [serve] [options]`, `geodnsd check-config [options]`,
// `explain`, `status` and `export-zone`.
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/result.h"

namespace geodns::server {

enum class Command { Serve, CheckConfig, Explain, Status, ExportZone, Help, Version };

struct Options {
  Command command = Command::Serve;
  std::string configPath;
  std::vector<std::string> listen;  // --listen, repeatable
  std::vector<std::string> zones;   // --zone ORIGIN=FILE, repeatable (not export-zone)
  std::optional<unsigned> workers;
  std::optional<unsigned> maxUdpPayload;
  std::string logLevel;   // empty: the config's, else info
  std::string logFormat;  // empty: the config's, else logfmt
  std::string user;       // drop root privileges to this user after binding
  // Zero-downtime replace (server/handoff.h): the Unix socket where a running
  // server hands its listening sockets to its successor, and whether this
  // process is that successor (takes them over, then tells the old one to stop).
  std::string controlSocket;
  bool replace = false;
  // explain
  std::string name;
  std::string type = "A";
  std::string client;
  std::string resolver = "127.0.0.1";
  bool json = false;
  // export-zone: the origin of the zone to print (its --zone ORIGIN)
  std::string exportZone;
};

extern const char* const kUsage;

// Parses argv; errors (unknown flag, missing value) go to `errors`.
Options parseArgs(int argc, char** argv, ErrorList& errors);

// The effective config: the JSON file if given, then flags override or add
// (flags alone are enough: --listen and --zone).
std::optional<config::ServerConfig> resolveConfig(const Options& opt, ErrorList& errors);
// The same, but the config is returned even when `errors` gained entries (see
// config::parseConfigBestEffort), so that later checks can still run.
std::optional<config::ServerConfig> resolveConfigBestEffort(const Options& opt, ErrorList& errors);

}  // namespace geodns::server
