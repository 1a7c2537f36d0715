// The serial policy as loadZones applies it at a reload (zones/load.h): the
// zone file's serial, the serial served before, whether the data changed.
#include <doctest/doctest.h>

#include <string>

#include "support/temp_dir.h"
#include "zones/load.h"

using namespace geodns;

namespace {

std::string zoneText(std::uint32_t serial, bool extra) {
  return "$ORIGIN s.test.\n@ SOA ns h " + std::to_string(serial) +
         " 2 3 4 30\n@ NS ns\nns A 192.0.2.53\n" + (extra ? "new A 192.0.2.99\n" : "");
}

std::uint32_t load(const test::TempDir& dir, config::SerialPolicy policy, const std::string& text,
                   const zones::ZoneSet* previous, std::int64_t now,
                   std::shared_ptr<const zones::ZoneSet>* out = nullptr,
                   const zones::PersistedSerials* persisted = nullptr) {
  config::ServerConfig cfg;
  config::ZoneSpec spec("s.test", dir.write("s.zone", text), "");
  spec.serial = policy;
  cfg.zones.push_back(spec);
  ErrorList errors;
  auto set = zones::loadZones(cfg, errors, previous, now, nullptr, persisted);
  REQUIRE_MESSAGE(set, errors.str());
  if (out) *out = set;
  return set->zones()[0]->serial();
}

}  // namespace

TEST_CASE("serial policy at reload") {
  using P = config::SerialPolicy;
  struct Case {
    const char* what;
    P policy;
    std::uint32_t fileBefore, fileAfter;
    bool changeData;
    std::int64_t now;
    std::uint32_t servedAfter;
  };
  const Case cases[] = {
      {"keep: the file's serial, data changed", P::Keep, 10, 10, true, 1800000000, 10},
      {"keep: a new file serial", P::Keep, 10, 11, true, 1800000000, 11},
      {"increment: changed data, same file serial", P::Increment, 10, 10, true, 1800000000, 11},
      {"increment: unchanged data keeps the serial", P::Increment, 10, 10, false, 1800000000, 10},
      {"increment: never behind the file", P::Increment, 10, 50, true, 1800000000, 50},
      {"unixtime: changed data gets the time", P::UnixTime, 10, 10, true, 1800000000, 1800000000},
      {"unixtime: unchanged data keeps the serial", P::UnixTime, 10, 10, false, 1800000000,
       1800000000},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    test::TempDir dir;
    std::shared_ptr<const zones::ZoneSet> first;
    // The first load: unixtime already moves the serial to the clock.
    const std::uint32_t s1 =
        load(dir, c.policy, zoneText(c.fileBefore, false), nullptr, c.now - 100, &first);
    CHECK(s1 == (c.policy == P::UnixTime ? static_cast<std::uint32_t>(c.now - 100) : c.fileBefore));
    const std::uint32_t s2 =
        load(dir, c.policy, zoneText(c.fileAfter, c.changeData), first.get(), c.now);
    if (c.policy == P::UnixTime && !c.changeData)
      CHECK(s2 == s1);
    else
      CHECK(s2 == c.servedAfter);
    // A restart instead of the reload: no zone served, the state database's
    // serial and hash of the first load. The same serial as the reload's.
    zones::PersistedSerials persisted;
    persisted[*name::fromText("s.test")] = {first->zones()[0]->serial(),
                                            first->zones()[0]->contentHash()};
    const std::uint32_t s3 = load(dir, c.policy, zoneText(c.fileAfter, c.changeData), nullptr,
                                  c.now, nullptr, &persisted);
    CHECK(s3 == s2);
    // Another zone's record changes nothing.
    zones::PersistedSerials other;
    other[*name::fromText("t.test")] = {4000000000u, 1};
    CHECK(load(dir, c.policy, zoneText(c.fileAfter, c.changeData), nullptr, c.now, nullptr,
               &other) == load(dir, c.policy, zoneText(c.fileAfter, c.changeData), nullptr, c.now));
  }
}

TEST_CASE("content hash: the SOA serial and the record order do not count") {
  test::TempDir dir;
  ErrorList errors;
  auto a = zones::parseZoneFile(dir.write("a.zone", zoneText(1, true)), "s.test", errors);
  auto b = zones::parseZoneFile(
      dir.write(
          "b.zone",
          "$ORIGIN s.test.\nnew A 192.0.2.99\nns A 192.0.2.53\n@ NS ns\n@ SOA ns h 7 2 3 4 30\n"),
      "s.test", errors);
  auto c = zones::parseZoneFile(dir.write("c.zone", zoneText(1, false)), "s.test", errors);
  REQUIRE(errors.empty());
  CHECK(zones::contentHash(a) == zones::contentHash(b));
  CHECK(zones::contentHash(a) != zones::contentHash(c));
}
