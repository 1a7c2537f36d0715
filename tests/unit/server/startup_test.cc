// The start-up checks shared by `serve` and `check-config` (server/startup.h).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "server/startup.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;

namespace {

config::ServerConfig listeners(std::vector<std::string> dns, const char* admin = nullptr) {
  config::ServerConfig cfg;
  cfg.listen = std::move(dns);
  for (std::size_t i = 0; i < cfg.listen.size(); ++i)
    cfg.listenWhere.push_back("c.json /listen/" + std::to_string(i));
  if (admin) {
    cfg.admin.enabled = true;
    cfg.admin.listen = admin;
    cfg.admin.listenWhere = "c.json /admin/listen";
  }
  return cfg;
}

Options optionsFor(const std::string& configPath) {
  Options o;
  o.command = Command::CheckConfig;
  o.configPath = configPath;
  return o;
}

bool has(const ErrorList& errors, const std::string& text) {
  return errors.str().find(text) != std::string::npos;
}

const char* const kZone =
    "$ORIGIN a.test.\n$TTL 60\n@ SOA ns h 1 1 1 1 1\n@ NS ns\nns A 192.0.2.1\n"
    "www A 192.0.2.5\n";

}  // namespace

TEST_CASE("listener conflicts: what the server could not bind together") {
  struct Case {
    const char* name;
    std::vector<std::string> dns;
    const char* admin;
    const char* expect;  // nullptr: no error
  };
  const Case cases[] = {
      {"distinct ports", {"127.0.0.1:53", "127.0.0.1:54"}, "127.0.0.1:8053", nullptr},
      {"distinct addresses", {"127.0.0.1:53", "127.0.0.2:53"}, nullptr, nullptr},
      {"v4 and v6 wildcards", {"0.0.0.0:53", "[::]:53"}, nullptr, nullptr},
      {"ephemeral ports", {"127.0.0.1:0", "127.0.0.1:0"}, nullptr, nullptr},
      {"the same listener twice",
       {"127.0.0.1:53", "127.0.0.1:53"},
       nullptr,
       "c.json /listen/1: listener 127.0.0.1:53 takes the TCP port of 127.0.0.1:53 (c.json "
       "/listen/0)"},
      {"wildcard beside an address",
       {"0.0.0.0:53", "192.0.2.1:53"},
       nullptr,
       "/listen/1: listener"},
      {"address beside a v6 wildcard", {"[::1]:53", "[::]:53"}, nullptr, "/listen/1: listener"},
      {"admin on a DNS port",
       {"127.0.0.1:53"},
       "127.0.0.1:53",
       "c.json /admin/listen: the admin API's listener 127.0.0.1:53 takes the TCP port"},
      {"admin on the wildcard of a DNS port", {"127.0.0.1:8053"}, "0.0.0.0:8053", "/admin/listen"},
      {"admin apart", {"0.0.0.0:53"}, "127.0.0.1:8053", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    ErrorList errors;
    checkListenerConflicts(listeners(c.dns, c.admin), errors);
    if (c.expect) {
      CHECK(errors.size() == 1);
      CHECK_MESSAGE(has(errors, c.expect), errors.str());
    } else {
      CHECK_MESSAGE(errors.empty(), errors.str());
    }
  }
}

TEST_CASE("privileged ports need CAP_NET_BIND_SERVICE") {
  struct Case {
    const char* name;
    std::vector<std::string> dns;
    const char* admin;
    unsigned start;
    bool canBindLow;
    std::vector<std::string> expect;
  };
  const Case cases[] = {
      {"port 53 with the capability", {"127.0.0.1:53"}, "127.0.0.1:80", 1024, true, {}},
      {"high ports without it", {"127.0.0.1:5353"}, "127.0.0.1:8053", 1024, false, {}},
      {"port 53 without it",
       {"127.0.0.1:5353", "127.0.0.1:53"},
       nullptr,
       1024,
       false,
       {"c.json /listen/1: binding 127.0.0.1:53 needs CAP_NET_BIND_SERVICE (ports below 1024)"}},
      {"the admin port too",
       {"127.0.0.1:5353"},
       "127.0.0.1:80",
       1024,
       false,
       {"c.json /admin/listen: binding 127.0.0.1:80 needs CAP_NET_BIND_SERVICE"}},
      {"the sysctl moved the limit", {"127.0.0.1:53"}, nullptr, 0, false, {}},
      {"ephemeral port", {"127.0.0.1:0"}, nullptr, 1024, false, {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    ErrorList errors;
    checkPrivilegedPorts(listeners(c.dns, c.admin), c.start, c.canBindLow, errors);
    CHECK(errors.size() == c.expect.size());
    for (const auto& e : c.expect) CHECK_MESSAGE(has(errors, e), errors.str());
  }
}

// Permission failures need a user other than root (root passes every access
// check); test_startup.py runs those against the binary as nobody.
TEST_CASE("state directory and query log file: shapes the server cannot use") {
  test::TempDir dir;
  const std::string file = dir.write("plain", "x");
  const std::string base = dir.path().string();
  ::mkdir((base + "/db").c_str(), 0755);
  dir.write("db/CURRENT", "MANIFEST-000001\n");

  struct Case {
    const char* name;
    std::string problem;
    const char* expect;  // "" = usable
  };
  const Case cases[] = {
      {"existing database", stateDirectoryProblem(base + "/db"), ""},
      {"missing directory, creatable", stateDirectoryProblem(base + "/new/state"), ""},
      {"a file, not a directory", stateDirectoryProblem(file), "not a directory"},
      {"under a file", stateDirectoryProblem(file + "/state"), "Not a directory"},
      {"log in an existing directory", appendFileProblem(base + "/q.log"), ""},
      {"existing log", appendFileProblem(file), ""},
      {"log is a directory", appendFileProblem(base + "/db"), "Is a directory"},
      {"log's directory is missing", appendFileProblem(base + "/nope/q.log"),
       "No such file or directory"},
      {"log under a file", appendFileProblem(file + "/q.log"), "Not a directory"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.problem);
    if (*c.expect == 0)
      CHECK(c.problem.empty());
    else
      CHECK(c.problem.find(c.expect) != std::string::npos);
  }
}

TEST_CASE("check-config lists config, zone, binding and start-up errors in one run") {
  test::TempDir dir;
  dir.write("a.zone", std::string(kZone) + "x A not-an-address\n");
  std::filesystem::permissions(dir.write("short.token", "ops:tooshort\n"),
                               std::filesystem::perms::owner_read);
  // JSON-level errors (workers, an unknown region) used to hide everything
  // that is checked after the parse.
  const std::string cfgPath = dir.write("c.json", R"({
  "listen": ["127.0.0.1:5300", "127.0.0.1:5300"],
  "workers": "two",
  "zones": [{"origin": "a.test", "file": "a.zone"}],
  "regions": {"eu": {}},
  "pools": {"p": {"regions": {"us": {"members": [{"address": "192.0.2.9"}]}}}},
  "policies": {"pol": {"steps": []}},
  "bindings": [{"name": "www.a.test", "pool": "p", "policy": "pol"},
               {"name": "w.b.test", "pool": "p", "policy": "pol"}],
  "geo": {"databases": [{"file": "missing.mmdb"}]},
  "health": {"database": "plain/state"},
  "admin": {"listen": "127.0.0.1:5301", "token_file": "short.token"}
})");
  dir.write("plain", "a file where the state directory's parent should be");
  ErrorList errors;
  const Options opt = optionsFor(cfgPath);
  LoadedConfig loaded = loadServing(opt, errors);
  REQUIRE(loaded.config);
  CHECK_FALSE(loaded.snapshot);
  StartResources res;
  prepareStart(*loaded.config, opt, StartMode::Check, res, errors);
  const std::string all = errors.str();
  CAPTURE(all);
  for (const char* expect : {
           "c.json:3:14 /workers: expected a non-negative integer",
           "/pools/p/regions/us: unknown region 'us'",
           "a.zone:7:",  // the zone file's own syntax error
           "c.json:8:16 /bindings/0/name: www.a.test. is bound to a pool, but the zone file also "
           "has A records there (",
           "/bindings/1/name: 'w.b.test' is not inside any loaded zone",
           "/geo/databases/0/file: ",
           "c.json:2:32 /listen/1: listener 127.0.0.1:5300 takes the TCP port",
           "c.json:11:26 /health/database: ",
           "c.json:12:55 /admin/token_file: ",
           "short.token:1: a token needs a name and a secret of at least 16 bytes",
       })
    CHECK(all.find(expect) != std::string::npos);
}

TEST_CASE("a clean config passes the start-up checks; check mode takes nothing") {
  test::TempDir dir;
  dir.write("a.zone", kZone);
  std::filesystem::permissions(dir.write("ok.token", "ops:0123456789abcdef\n"),
                               std::filesystem::perms::owner_read);
  const std::string cfgPath = dir.write("c.json", R"({
  "listen": ["127.0.0.1:5300"],
  "zones": [{"origin": "a.test", "file": "a.zone"}],
  "health": {"database": "state"},
  "admin": {"listen": "127.0.0.1:5301", "token_file": "ok.token"},
  "log": {"query_log": {"file": "q.log"}}
})");
  ErrorList errors;
  const Options opt = optionsFor(cfgPath);
  LoadedConfig loaded = loadServing(opt, errors);
  REQUIRE(loaded.snapshot);
  StartResources res;
  prepareStart(*loaded.config, opt, StartMode::Check, res, errors);
  CHECK_MESSAGE(errors.empty(), errors.str());
  CHECK(res.tokens.size() == 1);
  CHECK_FALSE(res.store);
  CHECK_FALSE(res.queryLog);
  // Nothing created: the state directory and the query log are the server's to make.
  CHECK_FALSE(std::filesystem::exists(dir.path() / "state"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "q.log"));

  StartResources served;
  prepareStart(*loaded.config, opt, StartMode::Serve, served, errors);
  CHECK_MESSAGE(errors.empty(), errors.str());
  CHECK(served.store);
  CHECK(served.queryLog);
  // check-config beside a running server: its database stays locked by the
  // server, and the read-only check does not mind.
  StartResources beside;
  prepareStart(*loaded.config, opt, StartMode::Check, beside, errors);
  CHECK_MESSAGE(errors.empty(), errors.str());
}

TEST_CASE("--user: an unknown user is a start-up error") {
  config::ServerConfig cfg = listeners({"127.0.0.1:5300"});
  Options opt;
  opt.user = "no-such-user-geodns-test";
  ErrorList errors;
  StartResources res;
  prepareStart(cfg, opt, StartMode::Check, res, errors);
  CHECK(has(errors, "--user no-such-user-geodns-test: no such user"));
}
