#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/cli.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;

namespace {
Options parse(std::vector<const char*> args, ErrorList& errors) {
  args.insert(args.begin(), "geodnsd");
  return parseArgs(static_cast<int>(args.size()), const_cast<char**>(args.data()), errors);
}
}  // namespace

TEST_CASE("flags alone make a config") {
  ErrorList errors;
  auto o = parse({"--listen", "127.0.0.1:5353", "--zone", "example.test=/tmp/x.zone", "-l",
                  "[::1]:5353", "--workers=3", "--max-udp-payload", "1400"},
                 errors);
  REQUIRE(errors.empty());
  auto cfg = resolveConfig(o, errors);
  REQUIRE(cfg);
  CHECK(cfg->listen.size() == 2);
  CHECK(cfg->zones.size() == 1);
  CHECK(cfg->zones[0].origin == "example.test");
  CHECK(cfg->zones[0].file == "/tmp/x.zone");
  CHECK(cfg->workers == 3);
  CHECK(cfg->limits.maxUdpPayload == 1400);
}

std::vector<std::string> messages(const ErrorList& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors.all()) out.push_back(e.str());
  return out;
}

TEST_CASE("check-config command and usage errors, each named") {
  ErrorList errors;
  auto o = parse({"check-config", "--config", "x.json"}, errors);
  CHECK(o.command == Command::CheckConfig);
  CHECK(o.configPath == "x.json");
  CHECK(errors.empty());
  struct UsageCase {
    std::vector<const char*> args;
    const char* error;
  };
  const UsageCase cases[] = {
      {{"--zone"}, "--zone needs a value"},
      {{"--bogus"}, "unknown argument '--bogus' (see --help)"},
      {{"--workers", "lots"}, "--workers needs a number 0..256"},
      {{"--workers", "257"}, "--workers needs a number 0..256"},
      {{"--max-udp-payload", "511"}, "--max-udp-payload needs a number 512..65535"},
      {{"--listen"}, "--listen needs a value"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.error));
    ErrorList e;
    parse(c.args, e);
    CHECK(messages(e) == std::vector<std::string>{c.error});
  }
  // Flags that parse but do not make a config: each named by its flag.
  ErrorList e2;
  auto bad = parse({"--zone", "noequals", "--listen", "nowhere"}, e2);
  REQUIRE(e2.empty());
  CHECK_FALSE(resolveConfig(bad, e2));
  CHECK(messages(e2) == std::vector<std::string>{
                            "--listen nowhere: expected addr:port (IPv6 as [addr]:port)",
                            "--zone noequals: expected ORIGIN=FILE",
                        });
}

TEST_CASE("best effort: the config comes back with its errors, without cascades") {
  test::TempDir dir;
  const std::string path = dir.write(
      "c.json", R"({"listen": ["nowhere"], "zones": [{"origin": "a.test", "file": "z"}]})");
  ErrorList errors;
  auto o = parse({"check-config", "--config", path.c_str()}, errors);
  REQUIRE(errors.empty());
  auto cfg = resolveConfigBestEffort(o, errors);
  REQUIRE(cfg);
  CHECK(cfg->zones.size() == 1);
  CHECK(errors.str().find("/listen/0: expected addr:port") != std::string::npos);
  // The file's listener error says it all: no "no listener" on top.
  CHECK(errors.str().find("no listener") == std::string::npos);
  ErrorList strict;
  CHECK_FALSE(resolveConfig(o, strict));
  CHECK(strict.str() == errors.str());

  // --listen replaces the file's listeners and names itself as their place.
  ErrorList flagErrors;
  auto withFlag = parse({"--config", path.c_str(), "--listen", "127.0.0.1:5353"}, flagErrors);
  auto fixed = resolveConfigBestEffort(withFlag, flagErrors);
  REQUIRE(fixed);
  CHECK(fixed->listen == std::vector<std::string>{"127.0.0.1:5353"});
  CHECK(fixed->listenWhere == std::vector<std::string>{"--listen 127.0.0.1:5353"});
}

TEST_CASE("export-zone: --zone names the zone to print, elsewhere it adds one") {
  struct Case {
    const char* name;
    std::vector<const char*> args;
    Command command;
    std::string exportZone;
    std::size_t zones;  // --zone ORIGIN=FILE entries
  };
  const Case cases[] = {
      {"export-zone takes --zone as the origin",
       {"export-zone", "--config", "c.json", "--zone", "z.test"},
       Command::ExportZone,
       "z.test",
       0},
      {"-z too",
       {"export-zone", "-c", "c.json", "-z", "Z.Test."},
       Command::ExportZone,
       "Z.Test.",
       0},
      {"elsewhere --zone still adds a zone",
       {"check-config", "--config", "c.json", "--zone=x.test=x.zone"},
       Command::CheckConfig,
       "",
       1},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    ErrorList errors;
    auto o = parse(c.args, errors);
    REQUIRE(errors.empty());
    CHECK(o.command == c.command);
    CHECK(o.exportZone == c.exportZone);
    CHECK(o.zones.size() == c.zones);
  }
}
