// Secondary mode (server/secondary.h, issue 15 item 3): the controller's
// refresh/retry/expire schedule on an injected clock, NOTIFY waking it, TSIG
// on its queries, the copy it writes and the loader serving that copy (or
// SERVFAIL without one), and the engine's NOTIFY checks. The "primary" is
// geodnsd's own primary side (server::answer for SOA, server::startTransfer
// for AXFR) behind a fake transport: no sockets, no sleeping.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/wire/query_builder.h"
#include "server/engine.h"
#include "server/secondary.h"
#include "server/serving.h"
#include "server/xfr_out.h"
#include "support/dns_test_util.h"
#include "support/fakes.h"
#include "support/temp_dir.h"
#include "zones/load.h"
#include "zones/zone_file.h"

using namespace geodns;
using namespace geodns::server;
using namespace std::chrono_literals;

namespace {

using Bytes = std::vector<std::uint8_t>;
constexpr const char* kKey = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy";
constexpr const char* kOtherKey = "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==";

// Monotonic time moved by hand; wall time starts at the real clock (TSIG
// checks on the primary side read the real clock) and moves with it.
class TestClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return now_; }
  std::int64_t unixSeconds() const noexcept override {
    return start_ + std::chrono::duration_cast<std::chrono::seconds>(now_ - TimePoint{}).count();
  }
  void advance(Duration d) noexcept { now_ += d; }

 private:
  std::int64_t start_ = SteadyClock().unixSeconds();
  TimePoint now_{};
};

std::string zoneText(std::uint32_t serial, const std::string& extra = "") {
  return "$ORIGIN sec.test.\n@ 3600 SOA ns hostmaster " + std::to_string(serial) +
         " 60 20 600 30\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.80\nwww AAAA 2001:db8::80\n"
         "mail MX 10 mx.other.test.\n" +
         extra;
}

std::string keysJson(const test::TempDir& dir) {
  return R"("tsig_keys": {"k": {"algorithm": "hmac-sha256", "secret_file": ")" +
         dir.write("k.key", kKey) +
         R"("}, "other": {"algorithm": "hmac-sha256", "secret_file": ")" +
         dir.write("o.key", kOtherKey) + R"("}})";
}

std::optional<config::ServerConfig> parse(const std::string& json) {
  ErrorList errors;
  auto cfg = config::parseConfig(json, "t.json", errors);
  if (!cfg || !errors.empty()) FAIL_CHECK("config: " << errors.str());
  return cfg;
}

// geodnsd as the primary of sec.test: `tsig` "" lets anyone on 127.0.0.1 transfer.
std::shared_ptr<const ServingSnapshot> primarySnap(const test::TempDir& dir, std::uint32_t serial,
                                                   const std::string& tsig = "",
                                                   const std::string& extra = "") {
  const std::string file =
      dir.write("primary-" + std::to_string(serial) + ".zone", zoneText(serial, extra));
  auto cfg = parse(R"({"listen": ["127.0.0.1:53"], )" + keysJson(dir) +
                   R"(, "zones": [{"origin": "sec.test", "file": ")" + file +
                   R"(", "transfer": {"allow": ["127.0.0.1"])" +
                   (tsig.empty() ? "" : R"(, "tsig": ")" + tsig + "\"") + "}}]}");
  ErrorList errors;
  auto snap = buildSnapshot(*cfg, errors);
  REQUIRE_MESSAGE(snap, errors.str());
  return snap;
}

// The secondary's config: sec.test from `primaries`, its copy in dir/copy.zone.
config::ServerConfig secondaryConfig(const test::TempDir& dir,
                                     const std::vector<std::string>& primaries,
                                     const std::string& tsig = "") {
  std::string list;
  for (const auto& p : primaries) list += (list.empty() ? "\"" : ", \"") + p + "\"";
  auto cfg = parse(R"({"listen": ["127.0.0.1:53"], )" + keysJson(dir) +
                   R"(, "zones": [{"origin": "sec.test", "file": ")" +
                   (dir.path() / "copy.zone").string() + R"(", "primary": [)" + list + "]" +
                   (tsig.empty() ? "" : R"(, "tsig": ")" + tsig + "\"") + "}]}");
  REQUIRE(cfg);
  return *cfg;
}

// Primaries by address: geodnsd's primary-side code answering in process.
class FakePrimaries final : public XfrTransport {
 public:
  explicit FakePrimaries(const Clock& clock) : clock_(clock) {}
  std::map<std::string, std::shared_ptr<const ServingSnapshot>> snaps;  // "127.0.0.1:5300" -> zone
  std::vector<std::string> log;                                         // "SOA 127.0.0.1:5300"
  // Set: the AXFR answer is this message (made for the request's ID) instead of the snapshot's.
  std::function<Bytes(std::uint16_t id)> cannedAxfr;

  bool exchange(const SocketAddress& primary, std::span<const std::uint8_t> request,
                const std::function<bool(std::span<const std::uint8_t>)>& onMessage, Duration,
                std::string* err) override {
    wire::ParsedQuery q;
    wire::parseQuery(request, q);
    log.push_back(std::string(q.qtype == 252 ? "AXFR " : "SOA ") + primary.str());
    auto it = snaps.find(primary.str());
    if (it == snaps.end() || !it->second) return *err = "connection refused", false;
    const IpAddress peer = *IpAddress::parse("127.0.0.1");
    if (q.qtype != 252) {
      Bytes out(65535);
      const std::size_t n = answer(*it->second, request, out, Transport::Tcp, peer);
      onMessage({out.data(), n});
      return true;
    }
    if (cannedAxfr) {
      onMessage(cannedAxfr(static_cast<std::uint16_t>((request[0] << 8) | request[1])));
      return true;
    }
    XfrStart x =
        startTransfer(it->second, request, peer, static_cast<std::uint64_t>(clock_.unixSeconds()));
    if (!x.session) {
      onMessage(x.reply);
      return true;
    }
    for (auto m = x.session->next(); !m.empty(); m = x.session->next())
      if (!onMessage(m)) return true;
    return *err = "connection closed by the primary", false;
  }

 private:
  const Clock& clock_;
};

struct Rig {
  test::TempDir dir;
  TestClock clock;
  test::FakeRng rng;
  FakePrimaries primaries{clock};
  int published = 0;
  SecondaryController ctl{primaries, clock, rng, [this] { ++published; }};
  config::ServerConfig cfg;
  std::shared_ptr<const ServingSnapshot> served;

  // What Process::republishZones does: load the zones again from the copy.
  void republish() {
    ErrorList errors;
    served = buildSnapshot(cfg, errors, served.get(), clock.unixSeconds());
    REQUIRE_MESSAGE(served, errors.str());
    ctl.configure(cfg.zones, served->keyring, *served->zones);
  }
  std::optional<std::uint32_t> servedSerial() const {
    const auto* z = served->zones->findZone(name::asSpan(*name::fromText("sec.test")));
    return z ? std::optional<std::uint32_t>(z->serial()) : std::nullopt;
  }
  SecondaryController::ZoneView view() const { return ctl.zones().at(0); }
};

std::string copyPath(const Rig& r) {
  return (r.dir.path() / "copy.zone").string();
}

}  // namespace

TEST_CASE("secondary: first transfer, copy, refresh on the SOA timers, NOTIFY, expire") {
  Rig r;
  r.primaries.snaps["127.0.0.1:5300"] = primarySnap(r.dir, 7);
  r.cfg = secondaryConfig(r.dir, {"127.0.0.1:5300"});
  r.republish();
  // No copy yet: the zone is unavailable (SERVFAIL), not an error.
  CHECK(r.served->zones->hasUnavailable());
  CHECK_FALSE(r.servedSerial());

  // A new zone asks its primary at once: SOA, then AXFR, copy written, publish asked.
  r.ctl.step();
  CHECK(r.primaries.log == std::vector<std::string>{"SOA 127.0.0.1:5300", "AXFR 127.0.0.1:5300"});
  CHECK(r.published == 1);
  CHECK(r.ctl.stats().transfers == 1);
  REQUIRE(std::filesystem::exists(copyPath(r)));
  {
    ErrorList errors;
    auto rrs = zones::parseZoneFile(copyPath(r), "sec.test", errors);
    CHECK(errors.empty());
    CHECK(rrs.size() == 6);  // SOA NS A A AAAA MX, the closing SOA once
  }
  r.republish();
  CHECK_FALSE(r.served->zones->hasUnavailable());
  CHECK(r.servedSerial() == 7u);

  // Not due before REFRESH (60 s); then a SOA check only: same serial.
  r.primaries.log.clear();
  r.clock.advance(59s);
  r.ctl.step();
  CHECK(r.primaries.log.empty());
  r.clock.advance(1s);
  r.ctl.step();
  CHECK_MESSAGE(r.primaries.log == std::vector<std::string>{"SOA 127.0.0.1:5300"},
                r.primaries.log.size());
  CHECK(r.published == 1);

  // The primary moves ahead: the next refresh transfers.
  r.primaries.snaps["127.0.0.1:5300"] = primarySnap(r.dir, 8, "", "new A 192.0.2.8\n");
  r.clock.advance(60s);
  r.ctl.step();
  CHECK(r.published == 2);
  r.republish();
  CHECK(r.servedSerial() == 8u);

  // A NOTIFY refreshes now, not at the timer.
  r.primaries.snaps["127.0.0.1:5300"] = primarySnap(r.dir, 9);
  r.ctl.notify(name::asSpan(*name::fromText("sec.test")));
  r.clock.advance(1s);
  r.ctl.step();
  CHECK(r.published == 3);
  r.republish();
  CHECK(r.servedSerial() == 9u);
  CHECK(r.ctl.stats().notifies == 1);
  const TimePoint lastSuccess = r.clock.now();

  // The primary goes away: retried every RETRY (20 s), served until EXPIRE (600 s).
  r.primaries.snaps.erase("127.0.0.1:5300");
  r.clock.advance(60s);  // the refresh is due
  r.ctl.step();
  CHECK(r.ctl.stats().failures == 1);
  CHECK(r.view().nextCheck == r.clock.now() + 20s);
  CHECK(r.view().serial == 9u);
  for (int i = 0; i < 40 && !r.view().expired; ++i) {
    r.clock.advance(20s);
    r.ctl.step();
  }
  CHECK(r.view().expired);
  // Expired at the first step past EXPIRE (600 s) after the last success, not before.
  CHECK(r.clock.now() - lastSuccess >= 600s);
  CHECK(r.clock.now() - lastSuccess < 620s);
  CHECK_FALSE(r.view().serial);
  CHECK(r.published == 4);  // expiry publishes (the loader then serves SERVFAIL)
  CHECK(r.ctl.stats().expired == 1);

  // Back again: the next retry transfers even though the serial did not move.
  r.primaries.snaps["127.0.0.1:5300"] = primarySnap(r.dir, 9);
  r.clock.advance(20s);
  r.ctl.step();
  CHECK(r.published == 5);
  CHECK_FALSE(r.view().expired);
  CHECK(r.view().serial == 9u);
}

TEST_CASE(
    "secondary: a primary behind or equal is not transferred from; the second primary "
    "answers when the first is down") {
  Rig r;
  r.primaries.snaps["127.0.0.1:5302"] = primarySnap(r.dir, 5);
  r.cfg = secondaryConfig(r.dir, {"127.0.0.1:5301", "127.0.0.1:5302"});
  r.republish();
  r.ctl.step();
  CHECK(r.primaries.log == std::vector<std::string>{"SOA 127.0.0.1:5301", "SOA 127.0.0.1:5302",
                                                    "AXFR 127.0.0.1:5302"});
  r.republish();
  CHECK(r.servedSerial() == 5u);
  // Serial 4 is behind 5 (RFC 1982): checked, not transferred.
  r.primaries.snaps["127.0.0.1:5301"] = primarySnap(r.dir, 4);
  r.primaries.log.clear();
  r.clock.advance(60s);
  r.ctl.step();
  CHECK(r.primaries.log == std::vector<std::string>{"SOA 127.0.0.1:5301"});
  CHECK(r.published == 1);
  CHECK(r.ctl.stats().failures == 0);
}

// One AXFR message for sec.test, serial `serial`, holding `www` as a CNAME
// and an A record at once: well-formed DNS that this server refuses to load.
Bytes cnameBesideDataAxfr(std::uint16_t id, std::uint32_t serial) {
  Bytes m;
  auto u16 = [&](std::uint16_t v) {
    m.push_back(static_cast<std::uint8_t>(v >> 8));
    m.push_back(static_cast<std::uint8_t>(v));
  };
  auto u32 = [&](std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  };
  auto nameOf = [&](const char* text) {
    const auto w = *name::fromText(text);
    m.insert(m.end(), w.begin(), w.end());
  };
  auto rr = [&](const char* owner, std::uint16_t type, const Bytes& rdata) {
    nameOf(owner);
    u16(type);
    u16(1);
    u32(300);
    u16(static_cast<std::uint16_t>(rdata.size()));
    m.insert(m.end(), rdata.begin(), rdata.end());
  };
  Bytes soa;
  for (const char* n : {"ns.sec.test", "hostmaster.sec.test"}) {
    const auto w = *name::fromText(n);
    soa.insert(soa.end(), w.begin(), w.end());
  }
  for (std::uint32_t v : {serial, 60u, 20u, 600u, 30u})
    for (int s = 24; s >= 0; s -= 8) soa.push_back(static_cast<std::uint8_t>(v >> s));
  const auto target = *name::fromText("elsewhere.test");
  u16(id);
  u16(0x8400);  // QR, AA
  u16(1);
  u16(5);
  u16(0);
  u16(0);
  nameOf("sec.test");
  u16(252);
  u16(1);
  rr("sec.test", 6, soa);
  rr("sec.test", 2, Bytes(target.begin(), target.end()));
  rr("www.sec.test", 5, Bytes(target.begin(), target.end()));
  rr("www.sec.test", 1, {192, 0, 2, 1});
  rr("sec.test", 6, soa);
  return m;
}

TEST_CASE("secondary: a transfer this server would not load keeps the current copy serving") {
  Rig r;
  r.primaries.snaps["127.0.0.1:5300"] = primarySnap(r.dir, 7);
  r.cfg = secondaryConfig(r.dir, {"127.0.0.1:5300"});
  r.republish();
  r.ctl.step();
  r.republish();
  REQUIRE(r.servedSerial() == 7u);
  // Serial 9 is announced, but its AXFR has a CNAME beside an A record.
  r.primaries.snaps["127.0.0.1:5300"] = primarySnap(r.dir, 9);
  r.primaries.cannedAxfr = [](std::uint16_t id) { return cnameBesideDataAxfr(id, 9); };
  r.clock.advance(60s);
  r.ctl.step();
  CHECK(r.published == 1);  // nothing new to publish
  CHECK(r.ctl.stats().failures == 1);
  CHECK(r.view().serial == 7u);
  CHECK(r.view().nextCheck == r.clock.now() + 20s);  // RETRY
  ErrorList errors;
  auto rrs = zones::parseZoneFile(copyPath(r), "sec.test", errors);
  CHECK(errors.empty());
  CHECK(rrs.size() == 6);  // still serial 7's records
  CHECK_FALSE(std::filesystem::exists(copyPath(r) + ".incoming"));
  r.republish();
  CHECK(r.servedSerial() == 7u);
  CHECK_FALSE(r.served->zones->hasUnavailable());
}

TEST_CASE("secondary: TSIG on the SOA and AXFR queries") {
  struct Case {
    const char* name;
    const char* primaryWants;  // key the primary's "transfer" requires ("" none)
    const char* secondaryKey;  // the zone's "tsig" ("" none)
    bool transfers;
  };
  const Case cases[] = {
      {"both sides with key k", "k", "k", true},
      {"primary wants k, secondary unsigned: REFUSED", "k", "", false},
      {"primary wants k, secondary signs with another key", "k", "other", false},
      {"primary wants nothing, secondary signs: the signed answer verifies", "", "k", true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Rig r;
    r.primaries.snaps["127.0.0.1:5300"] = primarySnap(r.dir, 3, c.primaryWants);
    r.cfg = secondaryConfig(r.dir, {"127.0.0.1:5300"}, c.secondaryKey);
    r.republish();
    r.ctl.step();
    CHECK(r.ctl.stats().transfers == (c.transfers ? 1u : 0u));
    CHECK(std::filesystem::exists(copyPath(r)) == c.transfers);
    CHECK(r.ctl.stats().failures == (c.transfers ? 0u : 1u));
  }
}

TEST_CASE("secondary: the loader serves the copy, or SERVFAIL without one or once expired") {
  test::TempDir dir;
  auto cfg = secondaryConfig(dir, {"127.0.0.1:5300"});
  const IpAddress client = *IpAddress::parse("127.0.0.1");
  auto status = [&](std::int64_t unixNow) {
    ErrorList errors;
    auto snap = buildSnapshot(cfg, errors, nullptr, unixNow);
    REQUIRE_MESSAGE(snap, errors.str());
    const auto q = test::makeQuery({.name = "www.sec.test"});
    Bytes out(4096);
    const std::size_t n = answer(*snap, q, out, Transport::Udp, client);
    return test::parseResponse({out.data(), n}).rcode();
  };
  const std::int64_t now = SteadyClock().unixSeconds();
  CHECK(status(now) == 2);  // no copy: SERVFAIL
  dir.write("copy.zone", zoneText(1));
  CHECK(status(now) == 0);  // the copy answers
  // The copy's mtime is the last successful refresh: older than EXPIRE (600 s) is expired.
  CHECK(status(now + 599) == 0);
  CHECK(status(now + 700) == 2);
  dir.write("copy.zone", "$ORIGIN sec.test.\n@ SOA garbage\n");
  CHECK(status(now) == 2);  // a copy that does not load is no copy
}

TEST_CASE("engine: NOTIFY for a secondary zone") {
  test::TempDir dir;
  dir.write("copy.zone", zoneText(1));
  auto cfg = secondaryConfig(dir, {"127.0.0.1:5300", "[::1]:53"}, "k");
  auto unsignedCfg = secondaryConfig(dir, {"127.0.0.1:5300"});
  auto primary = parse(R"({"listen": ["127.0.0.1:53"], )" + keysJson(dir) +
                       R"(, "zones": [{"origin": "sec.test", "file": ")" +
                       dir.write("p.zone", zoneText(1)) + R"("}]})");
  ErrorList errors;
  auto snapSigned = buildSnapshot(cfg, errors);
  auto snapUnsigned = buildSnapshot(unsignedCfg, errors);
  auto snapPrimary = buildSnapshot(*primary, errors);
  REQUIRE_MESSAGE((snapSigned && snapUnsigned && snapPrimary), errors.str());
  std::string err;
  const auto k = *tsig::makeKey("k", "hmac-sha256", kKey, &err);
  const auto other = *tsig::makeKey("other", "hmac-sha256", kOtherKey, &err);

  struct Case {
    const char* name;
    const ServingSnapshot* snap;
    const char* from;
    const tsig::Key* key;
    const char* zone;
    std::uint16_t rcode;
    bool accepted;
  };
  const Case cases[] = {
      {"from the primary, signed with the zone's key", snapSigned.get(), "127.0.0.1", &k,
       "sec.test", 0, true},
      {"from the second primary (IPv6)", snapSigned.get(), "::1", &k, "sec.test", 0, true},
      {"IPv4-mapped source of the primary", snapSigned.get(), "::ffff:127.0.0.1", &k, "sec.test", 0,
       true},
      {"unsigned where the zone wants a key", snapSigned.get(), "127.0.0.1", nullptr, "sec.test", 5,
       false},
      {"signed with another key", snapSigned.get(), "127.0.0.1", &other, "sec.test", 5, false},
      {"from another address", snapSigned.get(), "127.0.0.9", &k, "sec.test", 5, false},
      {"unsigned zone, unsigned NOTIFY from the primary", snapUnsigned.get(), "127.0.0.1", nullptr,
       "sec.test", 0, true},
      {"another zone", snapUnsigned.get(), "127.0.0.1", nullptr, "other.test", 5, false},
      {"a primary zone refuses NOTIFY", snapPrimary.get(), "127.0.0.1", nullptr, "sec.test", 5,
       false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Bytes q = test::makeQuery(
        {.name = c.zone, .qtype = 6, .id = 0x4242, .flags = 0x2000 | 0x0400});  // opcode NOTIFY, AA
    const std::size_t len = q.size();
    q.resize(1024);
    Writer w(q.data(), q.size(), len);
    if (c.key) {
      auto signer = tsig::Signer::forRequest(*c.key);
      REQUIRE(signer.sign(w, static_cast<std::uint64_t>(SteadyClock().unixSeconds())));
    }
    q.resize(w.size());
    Bytes out(4096);
    QueryFacts facts;
    const std::size_t n =
        answer(*c.snap, q, out, Transport::Udp, *IpAddress::parse(c.from), &facts);
    const auto resp = test::parseResponse({out.data(), n});
    CHECK(resp.rcode() == c.rcode);
    CHECK((facts.outcome == Outcome::Notify) == c.accepted);
    CHECK(((resp.flags >> 11) & 0xF) == 4);  // opcode NOTIFY echoed
    if (c.accepted) CHECK(resp.aa());
  }
}

TEST_CASE("config: secondary zones") {
  test::TempDir dir;
  struct Case {
    const char* name;
    std::string zone;   // the zone object's members after origin and file
    const char* error;  // substring of the error, "" for none
  };
  const Case cases[] = {
      {"primary and key", R"("primary": ["127.0.0.1:53"], "tsig": "k")", ""},
      {"primary not an array", R"("primary": "127.0.0.1:53")", "/zones/0/primary"},
      {"empty primary", R"("primary": [])", "non-empty array"},
      {"bad address", R"("primary": ["primary.example:53"])", "/zones/0/primary/0"},
      {"unknown key", R"("primary": ["127.0.0.1:53"], "tsig": "nokey")", "no key 'nokey'"},
      {"tsig without primary", R"("tsig": "k")", "only a secondary zone"},
      {"serial policy on a secondary", R"("primary": ["127.0.0.1:53"], "serial": "increment")",
       "only \"keep\""},
      {"dnssec on a secondary", R"("primary": ["127.0.0.1:53"], "dnssec": {"keys": ["K.private"]})",
       "cannot be signed"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    ErrorList errors;
    auto cfg = config::parseConfig(R"({"listen": ["127.0.0.1:53"], )" + keysJson(dir) +
                                       R"(, "zones": [{"origin": "sec.test", "file": "x.zone", )" +
                                       c.zone + "}]}",
                                   "t.json", errors);
    if (*c.error == 0) {
      CHECK_MESSAGE(errors.empty(), errors.str());
      REQUIRE(cfg);
      CHECK(cfg->zones.at(0).secondary());
      CHECK(cfg->zones[0].primaries.at(0).str() == "127.0.0.1:53");
    } else {
      CHECK(errors.str().find(c.error) != std::string::npos);
    }
  }
}
