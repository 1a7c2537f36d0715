#pragma once
// geodnsd.json: listeners, workers, zones and limits. Every error names its
// place (file, JSON pointer, and line:column for syntax errors).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "zones/zone.h"

namespace geodns::zones {

struct ZoneSpec {
  std::string origin;  // presentation form, as written
  std::string file;    // resolved against the config file's directory
  std::string where;   // "geodnsd.json /zones/0" for errors
};

struct Limits {
  std::uint16_t maxUdpPayload = 1232;        // advertised and enforced EDNS size (bytes)
  std::uint32_t tcpIdleTimeoutMs = 10000;    // RFC 7766 s6.2.3 suggests seconds, not minutes
  std::uint32_t maxTcpConnections = 1024;
  std::uint32_t tcpMaxQueriesPerConnection = 0;  // 0 = unlimited
};

// Answers for CHAOS-class TXT queries (version.bind, id.server and aliases);
// REFUSED when not set.
struct ChaosConfig {
  std::optional<std::string> version;
  std::optional<std::string> identity;
};

struct ServerConfig {
  std::string path;                 // the config file, empty for command-line configs
  std::vector<std::string> listen;  // "addr:port"
  unsigned workers = 0;             // 0 = one per core
  std::vector<ZoneSpec> zones;
  Limits limits;
  ChaosConfig chaos;
};

// Parses the JSON text of a config file. `path` is used for messages and to
// resolve relative zone paths. Returns nullopt when `errors` gained entries.
std::optional<ServerConfig> parseConfig(const std::string& text, const std::string& path,
                                        ErrorList& errors);
std::optional<ServerConfig> loadConfigFile(const std::string& path, ErrorList& errors);

// Parses and compiles every zone of `cfg`; all errors of all zones are collected.
std::shared_ptr<const ZoneSet> loadZones(const ServerConfig& cfg, ErrorList& errors);

}  // namespace geodns::zones
