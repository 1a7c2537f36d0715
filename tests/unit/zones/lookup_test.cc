// zones::resolve(): the RFC 1034 4.3.2 walk (cuts, exact, CNAME chains,
// wildcards, NXDOMAIN/NODATA) on a zone built in code.
#include <doctest/doctest.h>

#include <string>

#include "core/wire/dns.h"
#include "support/temp_dir.h"
#include "zones/lookup.h"
#include "zones/zone_file.h"

using namespace geodns;
using geodns::test::TempDir;
using zones::Resolved;

namespace {

constexpr std::uint16_t T(dns::Type t) {
  return dns::toU16(t);
}

const zones::Zone& testZone() {
  static const std::unique_ptr<zones::Zone> z = [] {
    TempDir d;
    auto f = d.write("z.zone",
                     "$ORIGIN z.test.\n$TTL 60\n"
                     "@ SOA ns h 1 2 3 4 30\n"
                     "@ NS ns\n"
                     "ns A 192.0.2.1\n"
                     "www A 192.0.2.2\n"
                     "www TXT hello\n"
                     "alias CNAME www\n"
                     "alias2 CNAME alias\n"
                     "out CNAME www.example.\n"
                     "loop1 CNAME loop2\n"
                     "loop2 CNAME loop1\n"
                     "c0 CNAME c1\nc1 CNAME c2\nc2 CNAME c3\nc3 CNAME c4\nc4 CNAME c5\n"
                     "c5 CNAME c6\nc6 CNAME c7\nc7 CNAME c8\nc8 CNAME c9\nc9 CNAME www\n"
                     "*.wild A 192.0.2.3\n"
                     "a.b.ent A 192.0.2.4\n"
                     "sub NS ns.sub\n"
                     "ns.sub A 192.0.2.5\n"
                     "tosub CNAME x.sub\n"
                     "gslb TXT bound\n");
    ErrorList errors;
    auto rrs = zones::parseZoneFile(f, "z.test", errors);
    zones::BoundName b;
    b.name = *name::fromText("gslb.z.test");
    b.id = 0;
    auto zone = zones::Zone::compile("z.test", std::move(rrs), errors, {b});
    REQUIRE(errors.empty());
    REQUIRE(zone);
    return zone;
  }();
  return *z;
}

std::string nodeName(const zones::Node* n) {
  return n ? name::toText(name::asSpan(n->name)) : "-";
}

struct LookupCase {
  const char* what;
  const char* qname;
  dns::Type qtype;
  Resolved kind;
  const char* node;   // the node the result names ("-": none)
  int cnames;         // CNAMEs in the chain
  dns::Type setType;  // Answer: the RRset's type
};

}  // namespace

TEST_CASE("RFC 1034 4.3.2 lookup walk") {
  using dns::Type;
  const LookupCase cases[] = {
      {"exact match", "www.z.test", Type::A, Resolved::Answer, "www.z.test.", 0, Type::A},
      {"exact, other type", "www.z.test", Type::TXT, Resolved::Answer, "www.z.test.", 0, Type::TXT},
      {"NODATA", "www.z.test", Type::MX, Resolved::NoData, "www.z.test.", 0, Type::A},
      {"NXDOMAIN names the closest encloser", "nope.www.z.test", Type::A, Resolved::NXDomain,
       "www.z.test.", 0, Type::A},
      {"empty non-terminal is NODATA", "b.ent.z.test", Type::A, Resolved::NoData, "b.ent.z.test.",
       0, Type::A},
      {"apex", "z.test", Type::SOA, Resolved::Answer, "z.test.", 0, Type::SOA},
      {"CNAME followed", "alias.z.test", Type::A, Resolved::Answer, "www.z.test.", 1, Type::A},
      {"CNAME chain of two", "alias2.z.test", Type::TXT, Resolved::Answer, "www.z.test.", 2,
       Type::TXT},
      {"CNAME asked for: not followed", "alias.z.test", Type::CNAME, Resolved::Answer,
       "alias.z.test.", 0, Type::CNAME},
      {"ANY at a CNAME is the CNAME", "alias.z.test", Type::ANY, Resolved::Answer, "alias.z.test.",
       0, Type::CNAME},
      {"NODATA at the end of a chain", "alias.z.test", Type::MX, Resolved::NoData, "www.z.test.", 1,
       Type::A},
      {"out-of-zone target stops the chain", "out.z.test", Type::A, Resolved::ChainEnd,
       "out.z.test.", 1, Type::A},
      {"loop stops the chain", "loop1.z.test", Type::A, Resolved::ChainEnd, "loop2.z.test.", 2,
       Type::A},
      {"chain of ten stops after nine", "c0.z.test", Type::A, Resolved::ChainEnd, "c8.z.test.", 9,
       Type::A},
      {"nine CNAMEs, the last target not looked up", "c1.z.test", Type::A, Resolved::ChainEnd,
       "c9.z.test.", 9, Type::A},
      {"eight CNAMEs end at the data", "c2.z.test", Type::A, Resolved::Answer, "www.z.test.", 8,
       Type::A},
      {"wildcard synthesizes", "x.wild.z.test", Type::A, Resolved::Answer, "*.wild.z.test.", 0,
       Type::A},
      {"wildcard NODATA", "x.wild.z.test", Type::TXT, Resolved::NoData, "*.wild.z.test.", 0,
       Type::A},
      {"wildcard matches deeper names too", "y.x.wild.z.test", Type::A, Resolved::Answer,
       "*.wild.z.test.", 0, Type::A},
      {"no wildcard at the encloser", "y.ent.z.test", Type::A, Resolved::NXDomain, "ent.z.test.", 0,
       Type::A},
      {"below a cut: referral", "www.sub.z.test", Type::A, Resolved::Referral, "sub.z.test.", 0,
       Type::A},
      {"the cut itself: referral", "sub.z.test", Type::A, Resolved::Referral, "sub.z.test.", 0,
       Type::A},
      {"DS at the cut is ours (NODATA here)", "sub.z.test", Type::DS, Resolved::NoData,
       "sub.z.test.", 0, Type::A},
      {"glue is below the cut", "ns.sub.z.test", Type::A, Resolved::Referral, "sub.z.test.", 0,
       Type::A},
      {"CNAME into a cut", "tosub.z.test", Type::A, Resolved::Referral, "sub.z.test.", 1, Type::A},
      {"bound name, A: pool", "gslb.z.test", Type::A, Resolved::Pool, "gslb.z.test.", 0, Type::A},
      {"bound name, AAAA: pool", "gslb.z.test", Type::AAAA, Resolved::Pool, "gslb.z.test.", 0,
       Type::A},
      {"bound name, ANY: pool", "gslb.z.test", Type::ANY, Resolved::Pool, "gslb.z.test.", 0,
       Type::A},
      {"bound name, TXT: zone data", "gslb.z.test", Type::TXT, Resolved::Answer, "gslb.z.test.", 0,
       Type::TXT},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto qname = name::fromText(c.qname);
    REQUIRE(qname);
    const zones::Resolution r = zones::resolve(testZone(), name::asSpan(*qname), T(c.qtype));
    CHECK(r.kind == c.kind);
    CHECK(nodeName(r.node) == c.node);
    CHECK(r.cnames == c.cnames);
    if (c.kind == Resolved::Answer) {
      REQUIRE(r.set);
      CHECK(r.set->type == T(c.setType));
    } else {
      CHECK(r.set == nullptr);
    }
    for (int i = 0; i < r.cnames; ++i) CHECK(r.chain[i]->type == T(dns::Type::CNAME));
  }
}

TEST_CASE("zoneFor: longest match, DS at a served child's apex goes to the parent") {
  ErrorList errors;
  zones::ZoneSet set;
  for (const char* origin : {"z.test", "sub.z.test"}) {
    TempDir d;
    auto f = d.write("z.zone", std::string("$ORIGIN ") + origin +
                                   ".\n$TTL 60\n@ SOA ns h 1 2 3 4 30\n@ NS ns\nns A 192.0.2.1\n");
    auto zone = zones::Zone::compile(origin, zones::parseZoneFile(f, origin, errors), errors);
    REQUIRE(zone);
    set.add(std::move(zone));
  }
  set.finish();
  REQUIRE(errors.empty());
  struct Case {
    const char* what;
    const char* qname;
    dns::Type qtype;
    const char* zone;  // origin of the answering zone, "" for none
  } cases[] = {
      {"child apex", "sub.z.test", dns::Type::A, "sub.z.test."},
      {"below the child", "x.sub.z.test", dns::Type::DS, "sub.z.test."},
      {"DS at the child apex", "sub.z.test", dns::Type::DS, "z.test."},
      {"DS at the top apex (no parent)", "z.test", dns::Type::DS, "z.test."},
      {"not served", "example", dns::Type::A, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    const zones::Zone* z = zones::zoneFor(set, name::asSpan(*name::fromText(c.qname)), T(c.qtype));
    CHECK((z ? name::toText(name::asSpan(z->origin())) : std::string()) == c.zone);
  }
}
