#include <doctest/doctest.h>

#include <algorithm>

#include "support/temp_dir.h"
#include "zones/zone.h"

using namespace geodns;
using geodns::test::TempDir;

namespace {

std::unique_ptr<zones::Zone> compile(const std::string& text, ErrorList& errors) {
  TempDir d;
  auto f = d.write("z.zone", "$ORIGIN z.test.\n$TTL 60\n" + text);
  auto rrs = zones::parseZoneFile(f, "z.test", errors);
  return zones::Zone::compile("z.test", std::move(rrs), errors);
}

const char* kGood =
    "@ SOA ns h 1 2 3 4 30\n"
    "@ NS ns\n"
    "ns A 192.0.2.1\n";

}  // namespace

TEST_CASE("a good zone compiles with empty non-terminals and precomputed data") {
  ErrorList errors;
  auto z = compile(std::string(kGood) + "a.b.c A 192.0.2.2\nmx MX 1 ns\nns A 192.0.2.1\n", errors);
  REQUIRE(errors.empty());
  REQUIRE(z);
  CHECK(z->negativeTtl() == 30);
  CHECK(z->serial() == 1);
  CHECK(z->recordCount() == 5);                                 // the duplicate ns A is dropped
  CHECK(z->find(name::asSpan(*name::fromText("b.c.z.test"))));  // ENT
  CHECK(z->find(name::asSpan(*name::fromText("c.z.test"))));
  CHECK(z->find(name::asSpan(*name::fromText("c.z.test")))->rrsets.empty());
  const auto* mx = z->find(name::asSpan(*name::fromText("mx.z.test")))->find(15);
  REQUIRE(mx);
  CHECK(mx->additional().size() == 1);
}

struct BadZone {
  const char* what;
  std::string text;
  const char* message;
};

TEST_CASE("zone checks at load") {
  const BadZone cases[] = {
      {"no SOA", "@ NS ns\nns A 192.0.2.1\n", "has no SOA"},
      {"two SOA", std::string(kGood) + "@ SOA ns h 2 2 3 4 5\n", "more than one SOA"},
      {"SOA below apex", std::string(kGood) + "x SOA ns h 2 2 3 4 5\n", "SOA record outside"},
      {"no NS", "@ SOA ns h 1 2 3 4 5\n", "no NS records"},
      {"CNAME and data", std::string(kGood) + "c CNAME ns\nc TXT x\n", "CNAME beside other data"},
      {"two CNAMEs", std::string(kGood) + "c CNAME ns\nc CNAME ns2\n", "more than one CNAME"},
      {"CNAME at apex", std::string(kGood) + "@ CNAME ns\n", "CNAME beside other data"},
      {"out of zone", std::string(kGood) + "www.other. A 192.0.2.1\n", "outside zone z.test."},
      {"occluded", std::string(kGood) + "d NS ns.d\nns.d A 192.0.2.1\nx.d TXT y\n", "occluded"},
      {"data at cut", std::string(kGood) + "d NS ns.d\nd TXT y\n", "only NS, DS and glue"},
      {"class CH", std::string(kGood) + "x CH TXT y\n", "only class IN"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    ErrorList errors;
    auto z = compile(c.text, errors);
    CHECK_FALSE(z);
    REQUIRE_FALSE(errors.empty());
    CHECK(errors.str().find(c.message) != std::string::npos);
  }
}

TEST_CASE("checks made after the parsed records are freed still name their file and line") {
  TempDir d;
  d.write("inc.zone", "$ORIGIN z.test.\nc TXT x\nx.d TXT y\n");
  auto f = d.write("z.zone", "$ORIGIN z.test.\n$TTL 60\n" + std::string(kGood) +
                                 "c CNAME ns\n$INCLUDE inc.zone\nd NS ns.d\nns.d A 192.0.2.1\n" +
                                 "e NS ns\ne MX 1 ns\n");
  ErrorList errors;
  auto z = zones::Zone::compile("z.test", zones::parseZoneFile(f, "z.test", errors), errors);
  CHECK_FALSE(z);
  struct Where {
    const char* what;
    const char* expected;
  };
  const Where cases[] = {
      {"the CNAME's line, not the TXT's", "z.zone:6: CNAME beside other data"},
      {"a record of the included file", "inc.zone:3: data below the delegation is occluded"},
      {"the offending type at a cut", "z.zone:11: only NS, DS and glue"},
  };
  const std::string all = errors.str();
  CAPTURE(all);
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    CHECK(all.find(c.expected) != std::string::npos);
  }
  CHECK(errors.size() == 3);
}

TEST_CASE("all errors of a zone are reported together") {
  ErrorList errors;
  auto z = compile("@ NS ns\nc CNAME ns\nc A 192.0.2.1\nq.other. A 192.0.2.1\n", errors);
  CHECK_FALSE(z);
  CHECK(errors.size() == 3);  // no SOA, CNAME beside data, out of zone
}

TEST_CASE("glue below a delegation is allowed and marked occluded") {
  ErrorList errors;
  auto z = compile(std::string(kGood) + "d NS ns.d\nd DS 1 13 2 abcd\nns.d A 192.0.2.1\n", errors);
  REQUIRE(z);
  auto d = z->find(name::asSpan(*name::fromText("d.z.test")));
  REQUIRE(d);
  CHECK(d->delegation);
  CHECK_FALSE(d->occluded);
  auto glue = z->find(name::asSpan(*name::fromText("ns.d.z.test")));
  CHECK(glue->occluded);
  CHECK(d->find(2)->additional().size() == 1);
}

TEST_CASE("ZoneSet picks the longest matching origin") {
  ErrorList errors;
  zones::ZoneSet set;
  set.add(compile(kGood, errors));
  TempDir d;
  auto f = d.write("c.zone", "$ORIGIN c.z.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
  auto rrs = zones::parseZoneFile(f, "c.z.test", errors);
  set.add(zones::Zone::compile("c.z.test", std::move(rrs), errors));
  set.finish();
  REQUIRE(errors.empty());
  auto www = *name::fromText("www.c.z.test");
  auto other = *name::fromText("www.z.test");
  auto outside = *name::fromText("www.example");
  CHECK(name::toText(name::asSpan(set.findZone(name::asSpan(www))->origin())) == "c.z.test.");
  CHECK(name::toText(name::asSpan(set.findZone(name::asSpan(other))->origin())) == "z.test.");
  CHECK(set.findZone(name::asSpan(outside)) == nullptr);
  const auto* child = set.findZone(name::asSpan(www));
  CHECK(set.findParent(*child) == set.findZone(name::asSpan(other)));
}

namespace {

std::unique_ptr<zones::Zone> zoneAt(TempDir& dir, const std::string& origin, ErrorList& errors) {
  const auto f = dir.write(origin + ".zone", "$ORIGIN " + origin +
                                                 ".\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
  auto rrs = zones::parseZoneFile(f, origin, errors);
  return zones::Zone::compile(origin, std::move(rrs), errors);
}

}  // namespace

// findZone() scans the origins (longest first) up to kScanZones zones and
// hashes the name's suffixes above that: both must give the longest match,
// whatever order the zones were added in.
TEST_CASE("ZoneSet::findZone: longest match by scan and by hash, any order") {
  struct Case {
    const char* what;
    std::vector<std::string> origins;  // in the order added
  };
  const std::vector<std::string> nested = {"test", "z.test", "c.z.test", "b.c.z.test"};
  std::vector<std::string> many = {"b.c.z.test", "c.z.test", "z.test", "test"};
  for (int i = 0; i < 12; ++i) many.push_back("n" + std::to_string(i) + ".example");
  std::vector<std::string> manyReversed(many.rbegin(), many.rend());
  const Case cases[] = {
      {"scan, parents added first", nested},
      {"scan, children added first", {nested.rbegin(), nested.rend()}},
      {"scan, one zone", {"z.test"}},
      {"hash, children added first", many},
      {"hash, parents added first", manyReversed},
  };
  const char* names[] = {"b.c.z.test",   "www.b.c.z.test", "c.z.test", "x.c.z.test", "z.test",
                         "www.z.test",   "az.test",        "test",     "a.b.test",   "example",
                         "n3.example",   "x.n11.example",  "nn3.example", "www.example", "org"};
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    REQUIRE((c.origins.size() <= zones::ZoneSet::kScanZones) ==
            (std::string(c.what).rfind("scan", 0) == 0));
    ErrorList errors;
    zones::ZoneSet set;
    TempDir dir;
    for (const auto& o : c.origins) set.add(zoneAt(dir, o, errors));
    set.finish();
    REQUIRE_MESSAGE(errors.empty(), errors.str());
    for (const char* n : names) {
      CAPTURE(std::string(n));
      const auto wire = *name::fromText(n);
      // The longest origin that holds the name, by brute force.
      std::string want;
      for (const auto& o : c.origins) {
        const auto ow = *name::fromText(o);
        if (name::isSubdomain(name::asSpan(wire), name::asSpan(ow)) && ow.size() > want.size())
          want = ow;
      }
      const zones::Zone* got = set.findZone(name::asSpan(wire));
      if (want.empty()) {
        CHECK(got == nullptr);
      } else {
        REQUIRE(got != nullptr);
        CHECK(name::toText(name::asSpan(got->origin())) == name::toText(name::asSpan(want)));
      }
    }
  }
}

namespace {
zones::Rdata rd(std::uint32_t offset) {
  zones::Rdata d;
  d.offset = offset;
  d.length = static_cast<std::uint16_t>(offset + 1);
  return d;
}
std::vector<std::uint32_t> offsets(const zones::RdataList& l) {
  std::vector<std::uint32_t> v;
  for (const auto& d : l) v.push_back(d.offset);
  return v;
}
}  // namespace

TEST_CASE("RdataList keeps one entry inline and more on the heap, like a vector") {
  struct Case {
    const char* name;
    std::uint32_t count;
  };
  for (const Case& c : std::initializer_list<Case>{{"empty", 0},
                                                   {"one (inline)", 1},
                                                   {"two (to the heap)", 2},
                                                   {"five (grown twice)", 5}}) {
    CAPTURE(c.name);
    std::vector<std::uint32_t> want;
    zones::RdataList l;
    for (std::uint32_t i = 0; i < c.count; ++i) {
      l.push_back(rd(10 * i));
      want.push_back(10 * i);
    }
    CHECK(l.size() == c.count);
    CHECK(l.empty() == (c.count == 0));
    CHECK(offsets(l) == want);
    if (c.count) {
      CHECK(l.front().offset == 0);
      CHECK(l.back().offset == 10 * (c.count - 1));
      CHECK(l[c.count - 1].length == 10 * (c.count - 1) + 1);
    }
    zones::RdataList copy(l);
    CHECK(offsets(copy) == want);
    zones::RdataList assigned;
    assigned.push_back(rd(99));
    assigned.push_back(rd(98));
    assigned.push_back(rd(97));
    assigned = copy;
    CHECK(offsets(assigned) == want);
    zones::RdataList moved(std::move(copy));
    CHECK(offsets(moved) == want);
    CHECK(copy.empty());    // NOLINT(bugprone-use-after-move): a moved-from list is empty
    copy.push_back(rd(7));  // and usable
    CHECK(offsets(copy) == std::vector<std::uint32_t>{7});
    zones::RdataList moveAssigned;
    moveAssigned.push_back(rd(1));
    moveAssigned.push_back(rd(2));
    moveAssigned = std::move(moved);
    CHECK(offsets(moveAssigned) == want);
    CHECK(offsets(l) == want);  // the original is untouched by all of it
    moveAssigned.clear();
    CHECK(moveAssigned.empty());
    moveAssigned.push_back(rd(3));
    CHECK(offsets(moveAssigned) == std::vector<std::uint32_t>{3});
  }
}

TEST_CASE("node names live in the zone's block and the index finds every one") {
  ErrorList errors;
  std::string text = kGood;
  for (int i = 0; i < 300; ++i) text += "host" + std::to_string(i) + ".sub A 192.0.2.9\n";
  auto z = compile(text, errors);
  REQUIRE(errors.empty());
  REQUIRE(z);
  CHECK(z->nodeCount() == 1 + 1 + 1 + 300);  // apex, ns, sub (empty non-terminal), hosts
  for (const auto& node : z->nodes()) {
    CAPTURE(name::toText(name::asSpan(node.name)));
    CHECK(z->find(name::asSpan(node.name)) == &node);
    // A copy of the name in other memory finds the same node.
    const std::string copy(node.name);
    CHECK(z->find(name::asSpan(copy)) == &node);
  }
  CHECK(z->find(name::asSpan(*name::fromText("host300.sub.z.test"))) == nullptr);
  CHECK(z->find(name::asSpan(*name::fromText("host29.sub.z.test")))->rrsets.size() == 1);
}

TEST_CASE("every ancestor of an owner or bound name is a node, each once") {
  // Owners are grouped by a sort of 4-byte entries; an ancestor is added once
  // for siblings in a row, again when met after other names.
  struct Case {
    const char* name;
    std::string text;
    std::vector<std::string> bound;
    std::vector<std::string> nodes;  // besides the apex and ns
  };
  const std::vector<Case> cases{
      {"siblings in a row",
       "a.x A 192.0.2.1\nb.x A 192.0.2.1\nc.x A 192.0.2.1\n",
       {},
       {"x", "a.x", "b.x", "c.x"}},
      {"a parent met again after another branch",
       "a.x.y A 192.0.2.1\nb.w.y A 192.0.2.1\nc.x.y A 192.0.2.1\nd.x A 192.0.2.1\n",
       {},
       {"y", "x.y", "w.y", "a.x.y", "b.w.y", "c.x.y", "x", "d.x"}},
      {"deep, then shallower under the same branch",
       "a.b.c.d A 192.0.2.1\nq.c.d A 192.0.2.1\n",
       {},
       {"d", "c.d", "b.c.d", "a.b.c.d", "q.c.d"}},
      {"an owner that is also an ancestor", "x A 192.0.2.1\na.x A 192.0.2.1\n", {}, {"x", "a.x"}},
      {"bound names and theirs",
       "m A 192.0.2.1\n",
       {"www.geo.z.test", "api.geo.z.test"},
       {"m", "geo", "www.geo", "api.geo"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    TempDir d;
    auto f = d.write("z.zone", "$ORIGIN z.test.\n$TTL 60\n" + std::string(kGood) + c.text);
    ErrorList errors;
    std::vector<zones::BoundName> bound;
    for (std::size_t i = 0; i < c.bound.size(); ++i)
      bound.push_back({*name::fromText(c.bound[i]), static_cast<std::int32_t>(i), "/b"});
    auto z =
        zones::Zone::compile("z.test", zones::parseZoneFile(f, "z.test", errors), errors, bound);
    REQUIRE(errors.empty());
    REQUIRE(z);
    std::vector<std::string> want{"z.test.", "ns.z.test."}, got;
    for (const auto& n : c.nodes) want.push_back(n + ".z.test.");
    for (const auto& node : z->nodes()) got.push_back(name::toText(name::asSpan(node.name)));
    std::sort(want.begin() + 1, want.end());
    std::sort(got.begin() + 1, got.end());
    CHECK(got == want);  // every one there, none twice, the apex first
  }
}

TEST_CASE("an RRset keeps the file's order of its records, among many owners") {
  // 40 records at one owner between 40 at others: enough for the sort of the
  // owners not to be an insertion sort, which would keep the order anyway.
  std::string text = kGood;
  for (int i = 0; i < 40; ++i) {
    text += "multi TXT \"r" + std::to_string(i) + "\"\n";
    text += "o" + std::to_string(39 - i) + " TXT \"x\"\n";
    text += "multi TXT \"r" + std::to_string(i) + "b\"\n";
  }
  ErrorList errors;
  auto z = compile(text, errors);
  REQUIRE(errors.empty());
  REQUIRE(z);
  const auto* txt = z->find(name::asSpan(*name::fromText("multi.z.test")))->find(16);
  REQUIRE(txt);
  REQUIRE(txt->rrs.size() == 80);
  for (int i = 0; i < 80; ++i) {
    const auto& rd = txt->rrs[static_cast<std::size_t>(i)];
    const std::string want = "r" + std::to_string(i / 2) + (i % 2 ? "b" : "");
    CHECK(txt->bytes.substr(rd.offset + 1, rd.length - 1u) == want);
  }
}

TEST_CASE("a zone bigger than the records given back during its compile keeps every record") {
  // The compile returns the sorted records behind its walk to the kernel,
  // 2 MiB (65,536 records) at a time: every record must be in the zone before
  // its page goes. The file's order is not the owners' order.
  constexpr int kHosts = 150000;
  std::string text = kGood;
  text.reserve(static_cast<std::size_t>(kHosts) * 40);
  for (int i = 0; i < kHosts; ++i) {
    const int h = (i * 7919) % kHosts;  // a permutation: 7919 is prime, kHosts is not its multiple
    text += "h" + std::to_string(h) + " A 10." + std::to_string(h >> 16) + "." +
            std::to_string((h >> 8) & 255) + "." + std::to_string(h & 255) + "\n";
    if (h % 1000 == 0) text += "h" + std::to_string(h) + " TXT \"t" + std::to_string(h) + "\"\n";
  }
  ErrorList errors;
  auto z = compile(text, errors);
  REQUIRE(errors.empty());
  REQUIRE(z);
  CHECK(z->recordCount() == 3u + kHosts + kHosts / 1000);
  int wrong = 0;
  for (int h = 0; h < kHosts; ++h) {
    const auto* node = z->find(name::asSpan(*name::fromText("h" + std::to_string(h) + ".z.test")));
    const auto* a = node ? node->find(1) : nullptr;
    const std::string want{10, static_cast<char>(h >> 16), static_cast<char>((h >> 8) & 255),
                           static_cast<char>(h & 255)};
    if (!a || a->bytes != want || (h % 1000 == 0) != (node->find(16) != nullptr)) ++wrong;
  }
  CHECK(wrong == 0);
}
