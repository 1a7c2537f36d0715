#pragma once
// Start-up: everything that can stop geodnsd from serving, shared by `serve`
// and `check-config`, so that a unit's `ExecStartPre=geodnsd check-config`
// refuses exactly what the server would refuse, with the same messages, and
// reports all of it in one run. Control thread only.
//
// What the server checks before it serves, in order (serve / check-config):
//   1. the command line and --log-level/--log-format        (main.cc, both)
//   2. the config file: every JSON-level error               (loadServing, both)
//   3. zone files, bindings against zones, geo databases,
//      pools, policies and probes (the snapshot)              (loadServing, both)
//   4. --user: the user exists and this process can switch  (prepareStart, both)
//   5. listeners: none twice, no wildcard beside an address
//      on the same port, the admin API on a port of its own,
//      ports below 1024 only with CAP_NET_BIND_SERVICE       (prepareStart, both)
//   6. health.database: a directory this process can use,
//      then the database opens                                (prepareStart: read-write
//                                                              when serving, read-only
//                                                              for check-config)
//   7. admin.token_file: loadTokens accepts it               (prepareStart, both)
//   8. log.query_log.file: can be appended to                (prepareStart: opened when
//                                                              serving, checked otherwise)
//   9. binding the sockets and the admin listener             (serve only: check-config
//                                                              runs beside a running
//                                                              server and binds nothing)
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "health/store.h"
#include "server/admin/tokens.h"
#include "server/cli.h"
#include "server/query_log.h"
#include "server/serving.h"

namespace geodns::server {

struct LoadedConfig {
  // As far as it could be read: set even when errors were found (nullopt only
  // when the file is missing or not JSON).
  std::optional<config::ServerConfig> config;
  // The first snapshot; null when any error was found.
  std::shared_ptr<const ServingSnapshot> snapshot;
};

// The config and its snapshot (steps 2 and 3). When the config itself has
// errors the snapshot cannot be built, but the checks that are safe on a
// partly read config still run (zone files, bindings against zones, geo
// databases), so one run reports every error with its place.
// `previous`: the snapshot served now (a reload), for the zones' serial policy.
LoadedConfig loadServing(const Options& opt, ErrorList& errors,
                         const ServingSnapshot* previous = nullptr);

enum class StartMode {
  Serve,  // take the resources: open the state database read-write, open the query log
  Check,  // check-config: take nothing a running server may hold, create nothing
};

struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct StartResources {
  std::optional<RunAs> runAs;            // --user
  std::unique_ptr<health::Store> store;  // Serve, with health.database
  std::vector<ApiToken> tokens;          // with "admin"
  std::unique_ptr<QueryLog> queryLog;    // Serve, with log.query_log: opened, not started
};

// Steps 4 to 8 above. Every failure is added to `errors` with its place; in
// Serve mode `out` holds what was opened (release it when errors were found).
void prepareStart(const config::ServerConfig& cfg, const Options& opt, StartMode mode,
                  StartResources& out, ErrorList& errors);

// ---- the pieces (pure, or reading the file system only) ----

// Listeners the server could not all bind: the same address and port twice,
// or a wildcard and an address of the same family on one port (DNS TCP
// sockets do not share ports), the admin API's listener included.
void checkListenerConflicts(const config::ServerConfig& cfg, ErrorList& errors);

// Ports below `unprivilegedStart` (net.ipv4.ip_unprivileged_port_start) need
// CAP_NET_BIND_SERVICE (`canBindLow`).
void checkPrivilegedPorts(const config::ServerConfig& cfg, unsigned unprivilegedStart,
                          bool canBindLow, ErrorList& errors);

// Why the state database could not be opened read-write in `dir` by this
// process (effective ids), or "" when it can: the directory, or the nearest
// existing parent it will be created in, must be writable, and the files of
// an existing database readable (LOCK writable).
std::string stateDirectoryProblem(const std::string& dir);

// Why `file` could not be opened for appending by this process, or "".
std::string appendFileProblem(const std::string& file);

}  // namespace geodns::server
