#include <doctest/doctest.h>

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

TEST_CASE("check-config command and usage errors") {
  ErrorList errors;
  auto o = parse({"check-config", "--config", "x.json"}, errors);
  CHECK(o.command == Command::CheckConfig);
  CHECK(o.configPath == "x.json");
  parse({"--zone"}, errors);
  parse({"--bogus"}, errors);
  parse({"--workers", "lots"}, errors);
  CHECK(errors.size() == 3);
  ErrorList e2;
  auto bad = parse({"--zone", "noequals", "--listen", "nowhere"}, e2);
  CHECK_FALSE(resolveConfig(bad, e2));
  CHECK(e2.str().find("expected ORIGIN=FILE") != std::string::npos);
  CHECK(e2.str().find("--listen nowhere") != std::string::npos);
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
