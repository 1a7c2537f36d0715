// geodnsctl finds the admin API from the config's "admin" section alone, so
// that a reload can report a config that is broken elsewhere.
#include <doctest/doctest.h>

#include <string>

#include "server/ctl.h"

using namespace geodns::server;

TEST_CASE("geodnsctl reads only the admin section of a config") {
  struct Case {
    const char* name;
    const char* text;
    const char* listen;     // expected; nullptr: no target
    const char* tokenFile;  // expected, or the error's text
  };
  const Case cases[] = {
      {"a clean config",
       R"({"listen": ["127.0.0.1:53"], "admin": {"listen": "127.0.0.1:9053", "token_file": "t"}})",
       "127.0.0.1:9053", "/etc/g/t"},
      {"the default listener", R"({"admin": {"token_file": "/abs/t"}})", "127.0.0.1:8053",
       "/abs/t"},
      {"errors elsewhere are the server's to report",
       R"({"workers": "two", "pools": {"p": {"regions": {"nowhere": {}}}}, "bogus": 1,
           "admin": {"listen": "127.0.0.1:9053", "token_file": "t"}})",
       "127.0.0.1:9053", "/etc/g/t"},
      {"JSON broken after the admin section",
       "{\"admin\": {\"listen\": \"127.0.0.1:9053\", \"token_file\": \"t\"},\n \"zones\": [,]}",
       "127.0.0.1:9053", "/etc/g/t"},
      {"nested keys of the same name do not count",
       R"({"admin": {"token_file": "t"},
           "pools": {"admin": {"token_file": "x", "listen": "1.2.3.4:1"}}})",
       "127.0.0.1:8053", "/etc/g/t"},
      {"no admin section", R"({"listen": ["127.0.0.1:53"]})", nullptr,
       "/etc/g/c.json: the config has no \"admin\" section"},
      {"no token file", R"({"admin": {"listen": "127.0.0.1:9053"}})", nullptr,
       "\"admin\" has no token_file"},
      {"JSON broken before the admin section",
       "{\"zones\": [,],\n \"admin\": {\"token_file\": \"t\"}}", nullptr,
       "no \"admin\" section (the file's JSON is broken: "},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CtlTarget t;
    std::string err;
    const bool ok = ctlTargetFromConfig(c.text, "/etc/g/c.json", t, &err);
    if (c.listen) {
      REQUIRE_MESSAGE(ok, err);
      CHECK(t.listen == c.listen);
      CHECK(t.tokenFile == c.tokenFile);
    } else {
      CHECK_FALSE(ok);
      CHECK_MESSAGE(err.find(c.tokenFile) != std::string::npos, err);
    }
  }
}
