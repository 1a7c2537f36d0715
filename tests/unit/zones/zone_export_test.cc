// The static NSEC chain of `geodnsd export-zone` (zones/zone_export.h): which
// names get an NSEC, in what order, with what bitmap; and the export of a
// signed zone (every NSEC signed by the ZSK and verified by ldns, wildcards
// signed for the export, glue and delegation NS unsigned). The whole export
// against ldns-verify-zone is tests/integration/test_zone_export.py.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "core/wire/types.h"
#include "support/fakes.h"
#include "support/temp_dir.h"
#include "unit/zones/dnssec/dnssec_test_util.h"
#include "zones/load.h"
#include "zones/zone.h"
#include "zones/zone_export.h"

using namespace geodns;
namespace td = geodns::test::dnssec;
using geodns::test::FakeClock;
using geodns::test::TempDir;

namespace {

constexpr const char* kHead = "$ORIGIN z.test.\n$TTL 300\n@ SOA ns h 1 3600 600 86400 60\n";

std::unique_ptr<zones::Zone> compile(const std::string& body, const std::vector<std::string>& bound,
                                     ErrorList& errors) {
  TempDir d;
  auto f = d.write("z.zone", std::string(kHead) + body);
  auto rrs = zones::parseZoneFile(f, "z.test", errors);
  std::vector<zones::BoundName> names;
  for (std::size_t i = 0; i < bound.size(); ++i)
    names.push_back({*name::fromText(bound[i]), static_cast<std::int32_t>(i), "bindings"});
  return zones::Zone::compile("z.test", std::move(rrs), errors, names);
}

// "owner -> next: TYPES" with relative names ("@" for the apex).
std::string describe(const zones::NsecLink& l) {
  auto rel = [](const std::string& wire) {
    std::string t = name::toText(name::asSpan(wire));
    return t == "z.test." ? std::string("@")
                          : t.substr(0, t.size() - std::string(".z.test.").size());
  };
  std::string s = rel(l.owner) + " -> " + rel(l.next) + ":";
  for (std::uint16_t t : l.types.types()) s += " " + dns::typeToText(t);
  return s;
}

}  // namespace

TEST_CASE("nsec chain: names, canonical order, bitmaps, cuts, wrap-around") {
  struct Case {
    const char* name;
    std::string body;
    std::vector<std::string> bound;
    std::vector<std::string> chain;
  };
  const Case cases[] = {
      {"a zone of one name points back to itself",
       "@ NS ns.other.test.\n",
       {},
       {"@ -> @: NS SOA RRSIG NSEC"}},
      {"canonical order, not the wire order of the tree (label length first there)",
       "@ NS ns.other.test.\nz A 192.0.2.1\nb A 192.0.2.2\naa A 192.0.2.3\na.b TXT x\n"
       "*.b A 192.0.2.4\n",
       {},
       {"@ -> aa: NS SOA RRSIG NSEC", "aa -> b: A RRSIG NSEC", "b -> *.b: A RRSIG NSEC",
        "*.b -> a.b: A RRSIG NSEC", "a.b -> z: TXT RRSIG NSEC", "z -> @: A RRSIG NSEC"}},
      {"every static type of a name in its bitmap, a type above 255 in a window of its own",
       "@ NS ns\n@ MX 10 ns\nns A 192.0.2.1\nns AAAA 2001:db8::1\nns TXT t\nns SRV 0 0 53 ns\n"
       "ns TYPE1000 \\# 1 00\n",
       {},
       {"@ -> ns: NS SOA MX RRSIG NSEC", "ns -> @: A TXT AAAA SRV RRSIG NSEC TYPE1000"}},
      {"a secure delegation: NS and DS at the cut, its glue (at and below the cut) none",
       "@ NS ns\nns A 192.0.2.1\nsub NS ns.sub\nsub NS sub\nsub A 192.0.2.9\n"
       "sub DS 1 13 2 0e74a5ccbde5e8aef33f29524d259f88cb5d2ce91811dea155cf3490fffe3cbe\n"
       "ns.sub A 192.0.2.53\ndeep.er.sub AAAA 2001:db8::53\n",
       {},
       {"@ -> ns: NS SOA RRSIG NSEC", "ns -> sub: A RRSIG NSEC", "sub -> @: NS DS RRSIG NSEC"}},
      {"an insecure delegation: NS only",
       "@ NS ns\nns A 192.0.2.1\nopen NS ns.open\nns.open A 192.0.2.54\nzz A 192.0.2.2\n",
       {},
       {"@ -> ns: NS SOA RRSIG NSEC", "ns -> open: A RRSIG NSEC", "open -> zz: NS RRSIG NSEC",
        "zz -> @: A RRSIG NSEC"}},
      {"empty non-terminals get none",
       "@ NS ns\nns A 192.0.2.1\na.b.c A 192.0.2.2\n",
       {},
       {"@ -> a.b.c: NS SOA RRSIG NSEC", "a.b.c -> ns: A RRSIG NSEC", "ns -> @: A RRSIG NSEC"}},
      {"a name bound to a pool only is dynamic: none; bound with static data: its static types",
       "@ NS ns\nns A 192.0.2.1\nmixed TXT t\n",
       {"www.z.test", "mixed.z.test", "x.y.z.test"},
       {"@ -> mixed: NS SOA RRSIG NSEC", "mixed -> ns: TXT RRSIG NSEC", "ns -> @: A RRSIG NSEC"}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    ErrorList errors;
    auto z = compile(c.body, c.bound, errors);
    REQUIRE_MESSAGE(z, errors.str());
    const auto chain = zones::nsecChain(*z, errors);
    CHECK(errors.empty());
    std::vector<std::string> got;
    for (const auto& l : chain) got.push_back(describe(l));
    CHECK(got == c.chain);
  }
}

TEST_CASE("nsec rdata: next name then the RFC 4034 bitmap, as ldns reads it") {
  ErrorList errors;
  auto z = compile("@ NS ns\nns A 192.0.2.1\nns TYPE1000 \\# 1 00\n", {}, errors);
  REQUIRE(z);
  const auto chain = zones::nsecChain(*z, errors);
  REQUIRE(chain.size() == 2);
  struct Case {
    std::size_t link;
    const char* text;
  };
  const Case cases[] = {
      {0, "z.test.\t60\tIN\tNSEC\tns.z.test. NS SOA RRSIG NSEC "},
      {1, "ns.z.test.\t60\tIN\tNSEC\tz.test. A RRSIG NSEC TYPE1000 "},
  };
  for (const auto& c : cases) {
    const std::string rdata = zones::nsecRdata(chain[c.link]);
    const std::string text = td::presentation(name::asSpan(chain[c.link].owner),
                                              zones::dnssec::kTypeNsec, 60, name::asSpan(rdata));
    CHECK(text.substr(0, text.find_last_not_of('\n') + 1) == c.text);
  }
}

TEST_CASE("export of a signed zone: load signatures, a signed NSEC per name, glue unsigned") {
  TempDir dir;
  FakeClock clock;
  const std::string ksk = td::generateKey(dir.path(), "ECDSAP256SHA256", "z.test", true);
  const std::string zsk = td::generateKey(dir.path(), "ECDSAP256SHA256", "z.test", false);
  config::ServerConfig cfg;
  config::ZoneSpec spec;
  spec.origin = "z.test";
  spec.file = dir.write("z.zone", std::string(kHead) +
                                      "@ NS ns\nns A 192.0.2.1\n*.wild A 192.0.2.7\n"
                                      "sub NS ns.sub\nns.sub A 192.0.2.53\n");
  config::DnssecConfig d;
  d.keys = {ksk, zsk};
  d.keyWhere = {"k0", "k1"};
  d.where = "dnssec";
  spec.dnssec = d;
  cfg.zones.push_back(spec);
  ErrorList errors;
  auto zs = zones::loadZones(cfg, errors, nullptr, 0, &clock);
  REQUIRE_MESSAGE(zs, errors.str());
  std::string text;
  REQUIRE_MESSAGE(zones::exportZone(*zs->zones()[0], text, errors), errors.str());

  // Records by "owner type" (RRSIGs by "owner RRSIG covered"), comments apart.
  std::vector<std::string> lines, comments;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) (l.rfind(";", 0) == 0 ? comments : lines).push_back(l);
  auto count = [&](const std::string& owner, const std::string& type) {
    std::size_t n = 0;
    for (const auto& l : lines) {
      std::istringstream f(l);
      std::string o, ttl, cls, t, covered;
      f >> o >> ttl >> cls >> t >> covered;
      if (o == owner && (t == type || (t == "RRSIG" && "RRSIG " + covered == type))) ++n;
    }
    return n;
  };
  struct Case {
    const char* owner;
    const char* type;
    std::size_t n;
  };
  const Case cases[] = {
      {"z.test.", "SOA", 1},          {"z.test.", "RRSIG SOA", 1},
      {"z.test.", "DNSKEY", 2},       {"z.test.", "RRSIG DNSKEY", 1},    // the KSK
      {"z.test.", "NSEC", 1},         {"z.test.", "RRSIG NSEC", 1},      // the ZSK
      {"*.wild.z.test.", "A", 1},     {"*.wild.z.test.", "RRSIG A", 1},  // signed for the export
      {"*.wild.z.test.", "NSEC", 1},  {"sub.z.test.", "NS", 1},
      {"sub.z.test.", "RRSIG NS", 0}, {"sub.z.test.", "NSEC", 1},
      {"ns.sub.z.test.", "A", 1},     {"ns.sub.z.test.", "RRSIG A", 0},
      {"ns.sub.z.test.", "NSEC", 0},  {"wild.z.test.", "NSEC", 0},  // an empty non-terminal
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.owner) + " " + c.type);
    CHECK(count(c.owner, c.type) == c.n);
  }
  REQUIRE(lines.size() > 2);
  CHECK(lines[0].find("\tSOA\t") != std::string::npos);  // the SOA first
  CHECK(comments[0].rfind("; geodnsd export-zone z.test. serial 1", 0) == 0);

  // Every NSEC's signature verifies with the DNSKEYs (ldns, at the clock's now).
  std::vector<std::string> dnskeys;
  for (const auto& l : lines)
    if (l.find("\tDNSKEY\t") != std::string::npos) dnskeys.push_back(l);
  std::size_t verified = 0;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i)
    if (lines[i].find("\tNSEC\t") != std::string::npos) {
      CAPTURE(lines[i]);
      CHECK(td::verify({lines[i]}, lines[i + 1], dnskeys, clock.unixSeconds()) == "");
      ++verified;
    }
  CHECK(verified == 4);  // apex, ns, sub, *.wild
}

TEST_CASE("export of an unsigned zone: no NSEC, no RRSIG, pool names named in a comment") {
  ErrorList errors;
  auto z = compile("@ NS ns\nns A 192.0.2.1\n", {"www.z.test"}, errors);
  REQUIRE(z);
  std::string text;
  REQUIRE(zones::exportZone(*z, text, errors));
  CHECK(text.find("NSEC") == std::string::npos);
  CHECK(text.find("RRSIG") == std::string::npos);
  CHECK(text.find("(no static data):\n;   www.z.test.\n") != std::string::npos);
  CHECK(text.find("\nz.test.\t300\tIN\tSOA\tns.z.test. h.z.test. 1 3600 600 86400 60\n") !=
        std::string::npos);
}
