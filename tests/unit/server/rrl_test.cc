// Response rate limiting: token buckets per (client prefix, response), slip,
// refill, and the truncated form of a slipped response.
#include <doctest/doctest.h>

#include <vector>

#include "server/engine.h"
#include "server/rrl.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"

using namespace geodns;
using namespace geodns::server;

namespace {

std::vector<std::uint8_t> responseFor(const char* name, std::uint16_t id = 1) {
  static auto snap = test::exampleSnapshot();
  std::vector<std::uint8_t> out(4096);
  auto q = test::makeQuery({.name = name, .id = id});
  out.resize(answer(*snap, q, out, Transport::Udp, *IpAddress::parse("192.0.2.1")));
  return out;
}

struct Tally {
  int send = 0, drop = 0, slip = 0;
};

Tally burst(Rrl& rrl, const config::RrlConfig& cfg, const char* client,
            const std::vector<std::uint8_t>& resp, int n, std::uint32_t sec,
            std::uint32_t& slipCounter) {
  Tally t;
  for (int i = 0; i < n; ++i) {
    switch (rrl.check(cfg, *IpAddress::parse(client), resp, sec, slipCounter)) {
      case RrlVerdict::Send:
        ++t.send;
        break;
      case RrlVerdict::Drop:
        ++t.drop;
        break;
      case RrlVerdict::Slip:
        ++t.slip;
        break;
    }
  }
  return t;
}

}  // namespace

TEST_CASE("rrl: a prefix gets `rate` identical responses a second; the rest drop or slip") {
  config::RrlConfig cfg;
  cfg.enabled = true;
  cfg.responsesPerSecond = 5;
  cfg.slip = 2;
  Rrl rrl(4096);
  std::uint32_t slip = 0;
  const auto resp = responseFor("www.example.test");
  Tally t = burst(rrl, cfg, "198.51.100.7", resp, 25, 100, slip);
  CHECK(t.send == 5);
  CHECK(t.slip == 10);  // every 2nd limited response goes out truncated
  CHECK(t.drop == 10);
  // The same /24 shares the bucket; another /24 and another response do not.
  CHECK(burst(rrl, cfg, "198.51.100.200", resp, 1, 100, slip).send == 0);
  CHECK(burst(rrl, cfg, "198.51.101.7", resp, 5, 100, slip).send == 5);
  CHECK(burst(rrl, cfg, "198.51.100.7", responseFor("mail.example.test"), 5, 100, slip).send == 5);
  // The next second refills the bucket (to at most one second's worth).
  CHECK(burst(rrl, cfg, "198.51.100.7", resp, 10, 101, slip).send == 5);
  CHECK(burst(rrl, cfg, "198.51.100.7", resp, 10, 140, slip).send == 5);
  // slip 0: limited responses are all dropped.
  cfg.slip = 0;
  Tally none = burst(rrl, cfg, "203.0.113.9", resp, 10, 200, slip);
  CHECK(none.send == 5);
  CHECK(none.slip == 0);
  CHECK(none.drop == 5);
}

TEST_CASE("rrl: IPv6 clients are grouped by /56") {
  config::RrlConfig cfg;
  cfg.responsesPerSecond = 3;
  Rrl rrl(4096);
  std::uint32_t slip = 0;
  const auto resp = responseFor("www.example.test");
  CHECK(burst(rrl, cfg, "2001:db8:0:1::1", resp, 3, 5, slip).send == 3);
  CHECK(burst(rrl, cfg, "2001:db8:0:ff::2", resp, 3, 5, slip).send == 0);  // same /56
  CHECK(burst(rrl, cfg, "2001:db8:0:100::1", resp, 3, 5, slip).send == 3);
}

TEST_CASE("rrl: a slipped response is the header and question with TC=1") {
  auto resp = responseFor("www.example.test", 0x1234);
  REQUIRE(resp.size() > 40);
  const std::size_t n = truncateToQuestion(resp, resp.size());
  auto m = test::parseResponse({resp.data(), n});
  CHECK(m.id == 0x1234);
  CHECK(m.tc());
  CHECK(m.ok);
  CHECK(m.qd == 1);
  CHECK(m.sections[0].empty());
  CHECK(m.sections[1].empty());
  CHECK(m.sections[2].empty());
  std::vector<std::uint8_t> junk = {1, 2, 3};
  CHECK(truncateToQuestion(junk, junk.size()) == 0);
}

TEST_CASE("rrl: question names are compared case-blind (a random-case flood is one flood)") {
  config::RrlConfig cfg;
  cfg.responsesPerSecond = 4;
  Rrl rrl(4096);
  std::uint32_t slip = 0;
  int sent = 0;
  for (const char* name : {"www.example.test", "WWW.example.test", "wWw.ExAmPlE.tEsT",
                           "www.EXAMPLE.TEST", "Www.example.test", "www.example.TEST"}) {
    CAPTURE(std::string(name));
    sent += burst(rrl, cfg, "198.51.100.7", responseFor(name), 1, 10, slip).send;
  }
  CHECK(sent == 4);  // one bucket for all six spellings
}

TEST_CASE("rrl: ipv4_prefix and ipv6_prefix choose how clients are grouped") {
  struct PrefixCase {
    const char* what;
    std::uint8_t v4, v6;
    const char* first;
    const char* second;
    bool shared;
  };
  const PrefixCase cases[] = {
      {"v4 /24 (default): same /24", 24, 56, "198.51.100.7", "198.51.100.200", true},
      {"v4 /24: other /24", 24, 56, "198.51.100.7", "198.51.101.7", false},
      {"v4 /16: other /24, same /16", 16, 56, "198.51.100.7", "198.51.200.7", true},
      {"v4 /32: every address alone", 32, 56, "198.51.100.7", "198.51.100.8", false},
      {"v6 /56 (default)", 24, 56, "2001:db8:0:1::1", "2001:db8:0:ff::1", true},
      {"v6 /64: other /64", 24, 64, "2001:db8:0:1::1", "2001:db8:0:2::1", false},
      {"v6 /48: same /48", 24, 48, "2001:db8:0:1::1", "2001:db8:0:ff00::1", true},
  };
  const auto resp = responseFor("www.example.test");
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    config::RrlConfig cfg;
    cfg.responsesPerSecond = 3;
    cfg.ipv4Prefix = c.v4;
    cfg.ipv6Prefix = c.v6;
    Rrl rrl(4096);
    std::uint32_t slip = 0;
    CHECK(burst(rrl, cfg, c.first, resp, 3, 7, slip).send == 3);
    CHECK(burst(rrl, cfg, c.second, resp, 3, 7, slip).send == (c.shared ? 0 : 3));
  }
}
