// "cluster" and "health.quorum" (issue 16 item 1): parsed into typed fields,
// every error at its JSON path, and nothing changes without them.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config/config.h"

using namespace geodns;

namespace {

const char* kBase = R"("listen": ["127.0.0.1:53"], "health": {"database": "state"})";

std::string withCluster(const std::string& cluster) {
  return std::string("{") + kBase + ", \"cluster\": " + cluster + "}";
}

}  // namespace

TEST_CASE("cluster: a full block parses; paths resolve against the config's directory") {
  ErrorList errors;
  auto cfg = config::parseConfig(
      withCluster(R"({"etcd": ["http://127.0.0.1:2379", "https://10.0.0.2:2379"],
        "prefix": "/gd/", "node": "fra-1", "site": "fra", "timeout_ms": 700, "lease_ttl_s": 5,
        "tls": {"ca_file": "ca.pem", "cert_file": "c.pem", "key_file": "/k/k.pem"},
        "auth": {"user": "geodns", "password_file": "etcd.pw"}})"),
      "/etc/geodnsd/geodnsd.json", errors);
  REQUIRE_MESSAGE(errors.empty(), errors.str());
  const auto& cl = cfg->cluster;
  CHECK(cl.enabled);
  CHECK(cl.etcd == std::vector<std::string>{"http://127.0.0.1:2379", "https://10.0.0.2:2379"});
  CHECK(cl.prefix == "/gd/");
  CHECK(cl.node == "fra-1");
  CHECK(cl.site == "fra");
  CHECK(cl.timeoutMs == 700);
  CHECK(cl.leaseTtlSec == 5);
  CHECK(cl.tls.caFile == "/etc/geodnsd/ca.pem");
  CHECK(cl.tls.certFile == "/etc/geodnsd/c.pem");
  CHECK(cl.tls.keyFile == "/k/k.pem");
  CHECK(cl.user == "geodns");
  CHECK(cl.passwordFile == "/etc/geodnsd/etcd.pw");
}

TEST_CASE("cluster: defaults, and off without the block") {
  ErrorList errors;
  auto cfg = config::parseConfig(withCluster(R"({"etcd": ["http://127.0.0.1:2379"], "node": "a"})"),
                                 "c.json", errors);
  REQUIRE_MESSAGE(errors.empty(), errors.str());
  CHECK(cfg->cluster.enabled);
  CHECK(cfg->cluster.prefix == "/geodns/");
  CHECK(cfg->cluster.timeoutMs == 2000);
  CHECK(cfg->cluster.leaseTtlSec == 10);
  CHECK(cfg->cluster.user.empty());
  CHECK(cfg->gslb.health.quorum.minUp == 1);
  CHECK(cfg->gslb.health.quorum.fraction == 0.5);
  CHECK(cfg->gslb.health.quorum.latency == config::LatencySourceConfig::Local);

  auto plain = config::parseConfig(std::string("{") + kBase + "}", "c.json", errors);
  REQUIRE(errors.empty());
  CHECK_FALSE(plain->cluster.enabled);
}

TEST_CASE("health.quorum parses") {
  ErrorList errors;
  auto cfg = config::parseConfig(R"({"listen": ["127.0.0.1:53"], "health": {"database": "s",
      "quorum": {"min_up": 2, "fraction": 0.75, "latency": "median", "stale_after_s": 12}}})",
                                 "c.json", errors);
  REQUIRE_MESSAGE(errors.empty(), errors.str());
  const auto& q = cfg->gslb.health.quorum;
  CHECK(q.minUp == 2);
  CHECK(q.fraction == 0.75);
  CHECK(q.latency == config::LatencySourceConfig::Median);
  CHECK(q.staleAfterSec == 12);
}

TEST_CASE("cluster and quorum errors name their JSON path") {
  struct Case {
    const char* name;
    std::string text;
    const char* path;
    const char* words;
  };
  const std::string q = R"({"listen": ["127.0.0.1:53"], "health": {"database": "s", "quorum": )";
  const std::vector<Case> cases = {
      {"not an object", withCluster("[]"), "/cluster", "expected an object"},
      {"etcd missing", withCluster(R"({"node": "a"})"), "/cluster/etcd", "missing"},
      {"etcd empty", withCluster(R"({"etcd": [], "node": "a"})"), "/cluster/etcd", "non-empty"},
      {"etcd not a URL", withCluster(R"({"etcd": ["127.0.0.1:2379"], "node": "a"})"),
       "/cluster/etcd/0", "http://"},
      {"etcd not a string", withCluster(R"({"etcd": ["http://h:1", 3], "node": "a"})"),
       "/cluster/etcd/1", "URL string"},
      {"password in the URL", withCluster(R"({"etcd": ["http://u:secret@h:1"], "node": "a"})"),
       "/cluster/etcd/0", "use \"auth\""},
      {"node missing", withCluster(R"({"etcd": ["http://h:1"]})"), "/cluster/node", "missing"},
      {"node with a slash", withCluster(R"({"etcd": ["http://h:1"], "node": "a/b"})"),
       "/cluster/node", "letters"},
      {"prefix without slashes",
       withCluster(R"({"etcd": ["http://h:1"], "node": "a", "prefix": "geodns"})"),
       "/cluster/prefix", "start and end"},
      {"timeout too small",
       withCluster(R"({"etcd": ["http://h:1"], "node": "a", "timeout_ms": 1})"),
       "/cluster/timeout_ms", "between"},
      {"unknown key", withCluster(R"({"etcd": ["http://h:1"], "node": "a", "x": 1})"), "/cluster/x",
       "unknown key"},
      {"cert without key",
       withCluster(R"({"etcd": ["http://h:1"], "node": "a", "tls": {"cert_file": "c"}})"),
       "/cluster/tls", "go together"},
      {"auth without password",
       withCluster(R"({"etcd": ["http://h:1"], "node": "a", "auth": {"user": "u"}})"),
       "/cluster/auth/password_file", "missing"},
      {"no state database", R"({"listen": ["127.0.0.1:53"],
        "cluster": {"etcd": ["http://h:1"], "node": "a"}})",
       "/cluster", "needs \"health\""},
      {"quorum fraction > 1", q + R"({"fraction": 1.5}}})", "/health/quorum/fraction", "between"},
      {"quorum min_up 0", q + R"({"min_up": 0}}})", "/health/quorum/min_up", "between"},
      {"quorum latency", q + R"({"latency": "mean"}}})", "/health/quorum/latency",
       "local or median"},
      {"quorum unknown key", q + R"({"majority": true}}})", "/health/quorum/majority",
       "unknown key"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    ErrorList errors;
    CHECK_FALSE(config::parseConfig(c.text, "c.json", errors));
    const std::string all = errors.str();
    CAPTURE(all);
    CHECK(all.find(std::string(c.path) + ":") != std::string::npos);
    CHECK(all.find(c.words) != std::string::npos);
  }
}
