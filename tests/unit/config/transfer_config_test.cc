// The keys of issue 15 in the config: "tsig_keys", and per zone "transfer",
// "notify" and "serial". Each error names its JSON path.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"

using namespace geodns;

namespace {

// A directory with a good key file (hmac-sha256, 32 bytes), a bad one and an empty one.
std::filesystem::path keyDir() {
  static const std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("geodns-tsigcfg-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::ofstream(d / "good.key") << "  c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy\n  \n";
    std::ofstream(d / "bad.key") << "not base64 at all!\n";
    std::ofstream(d / "empty.key") << "\n";
    return d;
  }();
  return dir;
}

std::string cfg(const std::string& keys, const std::string& zoneExtra) {
  return R"({"listen": ["127.0.0.1:53"], )" + keys +
         R"("zones": [{"origin": "example.test", "file": "z.zone")" + zoneExtra + "}]}";
}

struct Bad {
  const char* what;
  std::string json;
  const char* pointer;  // appears in the error's place
  const char* message;  // part of the message
};

}  // namespace

TEST_CASE("transfer config: good") {
  ErrorList errors;
  const auto c = config::parseConfig(
      cfg(R"("tsig_keys": {"xfr.key": {"algorithm": "hmac-sha256", "secret_file": "good.key"}}, )",
          R"(, "transfer": {"allow": ["127.0.0.1", "2001:db8::/32", "!10.0.0.0/8"], "tsig": "xfr.key"},
             "notify": ["127.0.0.1:5300", "[::1]:53"], "serial": "unixtime")"),
      (keyDir() / "c.json").string(), errors);
  REQUIRE_MESSAGE(c, errors.str());
  REQUIRE(c->zones.size() == 1);
  const auto& z = c->zones[0];
  CHECK(z.transfer.enabled);
  CHECK(z.transfer.tsig == "xfr.key");
  CHECK(z.transfer.allow.allows(*IpAddress::parse("127.0.0.1")));
  CHECK(z.transfer.allow.allows(*IpAddress::parse("2001:db8::5")));
  CHECK_FALSE(z.transfer.allow.allows(*IpAddress::parse("127.0.0.2")));
  REQUIRE(z.notify.size() == 2);
  CHECK(z.notify[0].str() == "127.0.0.1:5300");
  CHECK(z.serial == config::SerialPolicy::UnixTime);
  REQUIRE(c->keyring.size() == 1);
  const auto* key = c->keyring.find(name::asSpan(*name::fromText("xfr.key")));
  REQUIRE(key);
  CHECK(key->algorithm == tsig::Algorithm::HmacSha256);
  CHECK(std::string(key->secret.begin(), key->secret.end()) == "secret-secret-secret-secret-32");
}

TEST_CASE("transfer config: defaults") {
  ErrorList errors;
  const auto c = config::parseConfig(cfg("", ""), (keyDir() / "c.json").string(), errors);
  REQUIRE_MESSAGE(c, errors.str());
  CHECK_FALSE(c->zones[0].transfer.enabled);
  CHECK(c->zones[0].notify.empty());
  CHECK(c->zones[0].serial == config::SerialPolicy::Keep);
  CHECK(c->keyring.size() == 0);
}

TEST_CASE("transfer config: errors name their place") {
  const std::string good =
      R"("tsig_keys": {"k": {"algorithm": "hmac-sha512", "secret_file": "good.key"}}, )";
  const Bad cases[] = {
      {"unknown algorithm",
       cfg(R"("tsig_keys": {"k": {"algorithm": "hmac-md5", "secret_file": "good.key"}}, )", ""),
       "/tsig_keys/k/algorithm", "must be hmac-sha256 or hmac-sha512"},
      {"missing secret file",
       cfg(R"("tsig_keys": {"k": {"algorithm": "hmac-sha256", "secret_file": "nope.key"}}, )", ""),
       "/tsig_keys/k/secret_file", "cannot read"},
      {"secret not base64",
       cfg(R"("tsig_keys": {"k": {"algorithm": "hmac-sha256", "secret_file": "bad.key"}}, )", ""),
       "/tsig_keys/k/secret_file", "bad.key"},
      {"empty secret",
       cfg(R"("tsig_keys": {"k": {"algorithm": "hmac-sha256", "secret_file": "empty.key"}}, )", ""),
       "/tsig_keys/k/secret_file", "empty.key"},
      {"no secret_file", cfg(R"("tsig_keys": {"k": {"algorithm": "hmac-sha256"}}, )", ""),
       "/tsig_keys/k/secret_file", "missing"},
      {"unknown key in a key",
       cfg(R"("tsig_keys": {"k": {"algorithm": "hmac-sha256", "secret_file": "good.key", "x": 1}}, )",
           ""),
       "/tsig_keys/k/x", "unknown key 'x'"},
      {"bad key name",
       cfg(R"("tsig_keys": {"a..b": {"algorithm": "hmac-sha256", "secret_file": "good.key"}}, )",
           ""),
       "/tsig_keys/a..b", "not a valid key name"},
      {"tsig_keys not an object", cfg(R"("tsig_keys": [], )", ""), "/tsig_keys",
       "expected an object"},
      {"transfer names an unknown key",
       cfg(good, R"(, "transfer": {"allow": ["any"], "tsig": "other"})"), "/zones/0/transfer/tsig",
       "no key 'other'"},
      {"transfer without allow", cfg(good, R"(, "transfer": {"tsig": "k"})"),
       "/zones/0/transfer/allow", "non-empty array"},
      {"transfer allow with host bits",
       cfg(good, R"(, "transfer": {"allow": ["any", "192.0.2.1/24"]})"),
       "/zones/0/transfer/allow/1", "192.0.2.1/24"},
      {"transfer allow not a string", cfg(good, R"(, "transfer": {"allow": [5]})"),
       "/zones/0/transfer/allow/0", "expected a string"},
      {"transfer unknown key", cfg(good, R"(, "transfer": {"allow": ["any"], "keys": "k"})"),
       "/zones/0/transfer/keys", "unknown key 'keys'"},
      {"notify without a port", cfg(good, R"(, "notify": ["127.0.0.1"])"), "/zones/0/notify/0", ""},
      {"notify not an array", cfg(good, R"(, "notify": "127.0.0.1:53")"), "/zones/0/notify",
       "expected an array"},
      {"serial policy", cfg(good, R"(, "serial": "date")"), "/zones/0/serial",
       "must be keep, increment or unixtime"},
      {"a signed zone with transfer",
       cfg(good, R"(, "dnssec": {"keys": ["Kexample.test.+013+12345.private"]},
                    "transfer": {"allow": ["any"], "tsig": "k"})"),
       "/zones/0/transfer", "a signed zone cannot be transferred"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    ErrorList errors;
    CHECK_FALSE(config::parseConfig(c.json, (keyDir() / "c.json").string(), errors));
    REQUIRE(errors.size() >= 1);
    const auto& e = errors.all()[0];
    CAPTURE(errors.str());
    CHECK(e.where.find(c.pointer) != std::string::npos);
    CHECK(e.message.find(c.message) != std::string::npos);
  }
}
