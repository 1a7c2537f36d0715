// The health rules every view is built with (health/probe.h, health_view.h):
// what counts as up, how long until a state could change, the TTL cap; and
// the probe transport reading time through the injected Clock.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "health/curl_transport.h"
#include "health/health_view.h"
#include "support/fakes.h"

using namespace geodns;
using namespace geodns::health;
using namespace std::chrono_literals;

namespace {

ProbeSpec spec(unsigned rise, unsigned fall, Duration interval, bool unknownIsUp = true) {
  ProbeSpec s;
  s.rise = rise;
  s.fall = fall;
  s.interval = interval;
  s.unknownIsUp = unknownIsUp;
  return s;
}

}  // namespace

TEST_CASE("countsAsUp: up, or unknown when unknown_as is up") {
  struct Case {
    const char* name;
    State state;
    bool unknownIsUp;
    bool up;
  };
  const Case cases[] = {
      {"up", State::Up, true, true},
      {"up, unknown_as down", State::Up, false, true},
      {"down", State::Down, true, false},
      {"unknown, unknown_as up", State::Unknown, true, true},
      {"unknown, unknown_as down", State::Unknown, false, false},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(countsAsUp(c.state, spec(2, 3, 1s, c.unknownIsUp)) == c.up);
    CHECK(targetHealth(spec(2, 3, 1s, c.unknownIsUp), c.state, 0, 0, 0, -1).up == c.up);
  }
}

TEST_CASE("targetHealth: time until the state could change, steadiness, readings") {
  struct Case {
    const char* name;
    State state;
    unsigned ok, fail;
    Duration interval;
    std::uint32_t changeInSec;
    bool steady;
  };
  const Case cases[] = {
      {"up, no failure: fall intervals", State::Up, 5, 0, 2s, 6, true},
      {"up, one failure: fall - 1 left", State::Up, 0, 1, 2s, 4, false},
      {"up, past fall: one interval", State::Up, 0, 7, 2s, 2, false},
      {"down, no success: rise intervals", State::Down, 0, 4, 2s, 4, false},
      {"down, one success: rise - 1 left", State::Down, 1, 0, 2s, 2, false},
      {"unknown: one interval", State::Unknown, 0, 0, 2s, 2, false},
      {"sub-second intervals round up", State::Up, 0, 0, 500ms, 2, true},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const ProbeSpec s = spec(2, 3, c.interval);
    const TargetHealth h = targetHealth(s, c.state, c.ok, c.fail, 12.5, 0.25);
    CHECK(h.state == c.state);
    CHECK(h.changeInSec == c.changeInSec);
    CHECK(h.steady == c.steady);
    CHECK(h.latencyMs == doctest::Approx(12.5));
    CHECK(h.load == doctest::Approx(0.25));
  }
  CHECK(targetHealth(spec(2, 3, 1s), State::Up, 0, 0, 0, -1).load < 0);  // no reading
}

TEST_CASE("cappedTtl: the pool's TTL, shortened to the time until health could change") {
  struct Case {
    const char* name;
    std::uint32_t ttl, changeIn, minTtl, want;
  };
  const Case cases[] = {
      {"change later than the TTL", 60, 100, 5, 60},
      {"change at the TTL", 60, 60, 5, 60},
      {"change sooner", 60, 12, 5, 12},
      {"never below min_ttl", 60, 1, 5, 5},
      {"min_ttl never above the TTL", 3, 1, 5, 3},
      {"no cap", 60, 0xFFFFFFFFu, 5, 60},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(cappedTtl(c.ttl, c.changeIn, c.minTtl) == c.want);
  }
}

TEST_CASE("probe transport: probe times and timeouts come from the injected clock") {
  test::FakeClock clock;
  CurlProbeTransport transport(clock);
  // A listening loopback socket: the TCP probe connects at once, and its
  // connect time is what the clock says passed, not what the wall clock did.
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(lfd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(::listen(lfd, 4) == 0);
  socklen_t len = sizeof sa;
  REQUIRE(::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
  // A silent UDP socket: the DNS probe gets no answer and times out when the
  // clock passes its timeout, without waiting for it.
  const int ufd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(ufd >= 0);
  sockaddr_in ua{};
  ua.sin_family = AF_INET;
  ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(ufd, reinterpret_cast<sockaddr*>(&ua), sizeof ua) == 0);
  len = sizeof ua;
  REQUIRE(::getsockname(ufd, reinterpret_cast<sockaddr*>(&ua), &len) == 0);

  ProbeSpec tcp;
  tcp.kind = ProbeKind::Tcp;
  tcp.address = *IpAddress::parse("127.0.0.1");
  tcp.port = ntohs(sa.sin_port);
  tcp.timeout = 1h;
  ProbeSpec dns;
  dns.kind = ProbeKind::Dns;
  dns.address = tcp.address;
  dns.port = ntohs(ua.sin_port);
  dns.dnsName = "example.";
  dns.timeout = 30s;
  transport.start(1, tcp);
  transport.start(2, dns);
  clock.advance(250ms);
  std::vector<ProbeResult> out;
  for (int i = 0; i < 50 && out.empty(); ++i) transport.collect(out, 10ms);
  REQUIRE(out.size() == 1);
  CHECK(out[0].target == 1);
  CHECK(out[0].ok);
  CHECK(out[0].connectMs == doctest::Approx(250));
  out.clear();
  transport.collect(out, 0ms);
  CHECK(out.empty());  // 250 ms of 30 s: the DNS probe is still waiting
  clock.advance(30s);
  transport.collect(out, 10s);  // the deadline passed: no wait
  REQUIRE(out.size() == 1);
  CHECK(out[0].target == 2);
  CHECK(!out[0].ok);
  CHECK(out[0].error == "DNS timeout");
  ::close(lfd);
  ::close(ufd);
}

TEST_CASE("probe transport: wakeup() ends a collect() that is waiting, or the next one") {
  CurlProbeTransport transport;
  std::vector<ProbeResult> out;
  // Nothing in flight: collect() would wait the whole 30 s unless woken.
  // The checks allow 10 s, far beyond any scheduling delay.
  SUBCASE("woken while it waits") {
    auto waiting = std::async(std::launch::async, [&] { transport.collect(out, 30s); });
    std::this_thread::sleep_for(50ms);  // most likely inside the poll by now; either way it ends
    transport.wakeup();
    CHECK(waiting.wait_for(10s) == std::future_status::ready);
  }
  SUBCASE("woken before it waits") {
    transport.wakeup();
    auto waiting = std::async(std::launch::async, [&] { transport.collect(out, 30s); });
    CHECK(waiting.wait_for(10s) == std::future_status::ready);
  }
  CHECK(out.empty());
}
