#include <doctest/doctest.h>

#include "support/temp_dir.h"
#include "zones/zone_file.h"

using namespace geodns;
using namespace std::string_literals;
using geodns::test::TempDir;

TEST_CASE("parses $ORIGIN, $TTL, relative names and RFC 3597 types") {
  TempDir d;
  auto f = d.write("z.zone",
                   "$TTL 120\n"
                   "@ SOA ns h 1 2 3 4 5\n"
                   "@ NS ns\n"
                   "ns A 192.0.2.1\n"
                   "$ORIGIN sub.z.test.\n"
                   "www 30 AAAA 2001:db8::1\n"
                   "u TYPE65000 \\# 2 abcd\n"
                   "m MX 10 Mail.Z.Test.\n");
  ErrorList errors;
  auto rrs = zones::parseZoneFile(f, "z.test", errors);
  REQUIRE(errors.empty());
  REQUIRE(rrs.size() == 6);
  CHECK(rrs[0].type == 6);
  CHECK(rrs[0].ttl == 120);
  CHECK(rrs[0].nameCount == 2);  // SOA: MNAME and RNAME are compressible names
  CHECK(rrs[3].owner == "\3www\3sub\1z\4test\0"s);
  CHECK(rrs[3].ttl == 30);
  CHECK(rrs[4].type == 65000);
  CHECK(rrs[4].rdata == "\xab\xcd");
  CHECK(rrs[5].rdata.substr(2) == "\4mail\1z\4test\0"s);  // lowercased
  CHECK(rrs[5].namePos[0] == 2);
  CHECK(rrs[1].where() == f + ":3");
}

TEST_CASE("every syntax error is reported with file:line and parsing goes on") {
  TempDir d;
  auto f = d.write("z.zone",
                   "$ORIGIN z.test.\n"
                   "a A 192.0.2.1\n"
                   "b A 300.0.0.1\n"
                   "c A 192.0.2.3\n"
                   "d BOGUSTYPE x\n"
                   "e AAAA ::1\n");
  ErrorList errors;
  auto rrs = zones::parseZoneFile(f, "z.test", errors);
  REQUIRE(errors.size() == 2);
  CHECK(errors.all()[0].where == f + ":3");
  CHECK(errors.all()[1].where == f + ":5");
  CHECK(rrs.size() == 3);  // a, c, e
}

TEST_CASE("$INCLUDE is relative to the including file, with an optional origin") {
  TempDir d;
  d.write("inc/hosts", "www A 192.0.2.9\n");
  d.write("inc/other", "x A 192.0.2.10\n");
  auto f = d.write("inc/main.zone",
                   "$ORIGIN z.test.\n"
                   "$INCLUDE hosts\n"
                   "$INCLUDE other o.z.test.\n"
                   "after A 192.0.2.11\n"
                   "$INCLUDE missing\n");
  ErrorList errors;
  auto rrs = zones::parseZoneFile(f, "z.test", errors);
  REQUIRE(rrs.size() == 3);
  CHECK(rrs[0].owner == "\3www\1z\4test\0"s);
  CHECK(rrs[1].owner == "\1x\1o\1z\4test\0"s);
  CHECK(rrs[2].owner == "\5after\1z\4test\0"s);
  REQUIRE(errors.size() == 1);
  CHECK(errors.all()[0].message.find("cannot open") != std::string::npos);
}

TEST_CASE("a missing file is an error naming it") {
  ErrorList errors;
  zones::parseZoneFile("/nonexistent/zone", "z.test", errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors.all()[0].where == "/nonexistent/zone");
}

namespace {

std::string dump(const std::vector<zones::ParsedRR>& rrs, const ErrorList& errors) {
  std::string out;
  for (const auto& rr : rrs)
    out += rr.where() + " " + zones::rrToText(rr) + " class " + std::to_string(rr.rrclass) +
           " names " + std::to_string(rr.nameCount) + "\n";
  return out + errors.str();
}

}  // namespace

TEST_CASE("the two-thread parse gives what one pass gives, wherever the second piece starts") {
  // Each text is parsed in one pass, then in two pieces with the second
  // starting at the first boundary after every byte offset in turn: the
  // records (owner, type, class, TTL, RDATA, file:line) and errors must
  // match. Constructs that hide line breaks from a naive split: parentheses
  // over lines, quotes holding ';' '(' and '"', comments holding '(' and '"',
  // escapes, blank-owner lines, mid-file directives, a record split over
  // a blank line, CR LF line ends.
  struct Case {
    const char* name;
    std::string text;
    bool splits;  // some offset lets two pieces be used
  };
  const std::vector<Case> cases{
      {"plain records",
       "$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\na A 192.0.2.2\nb A 192.0.2.3\nc "
       "AAAA 2001:db8::1\n",
       true},
      {"parentheses over lines",
       "@ SOA ns h (\n  1 ; serial\n  2 3 4 5 )\na TXT ( \"one\"\n  \"two\" )\nb A 192.0.2.3\n",
       true},
      {"quotes with ; ( and an escaped quote",
       "a TXT \"x ; (not a comment\"\nb TXT \"say \\\"hi\\\" ( \"\nc TXT \"back\\\\\" \"slash\"\nd "
       "A 192.0.2.4\n",
       true},
      {"comments with ( and \"",
       "; header ( with \" in it\na A 192.0.2.1 ; trailing ( \"\n; ) another\nb A 192.0.2.2\n",
       true},
      {"blank owners continue the previous name",
       "a A 192.0.2.1\n  A 192.0.2.2\n\tAAAA 2001:db8::2\nb A 192.0.2.3\n  TXT \"b's\"\n", true},
      {"directives in the middle",
       "$TTL 60\na A 192.0.2.1\n$ORIGIN sub.z.test.\nb A 192.0.2.2\n$TTL 1h\nc A "
       "192.0.2.3\n$ORIGIN z.test.\nd A 192.0.2.4\n",
       true},
      {"a directive after comments and blank lines",
       "; zone\n\n$TTL 90\n\na A 192.0.2.1\nb A 192.0.2.2\n", true},
      {"CR LF line ends", "a A 192.0.2.1\r\nb A 192.0.2.2\r\n\r\nc A 192.0.2.3\r\n", true},
      {"an escaped line break", "a TXT \"x\\\ny\"\nb A 192.0.2.2\n", true},
      {"a bad $ORIGIN (ldns drops the origin)",
       "a A 192.0.2.1\n$ORIGIN s.x" + std::string(70, 'y') + ".z.test.\nc MX 1 m\nd A 192.0.2.4\n",
       false},
      {"syntax errors (one pass reports them)",
       "a A 192.0.2.1\nb A 999.0.0.1\nc BOGUS x\nd A 192.0.2.4\n", false},
      // ldns reads the rest of the file into b's TXT, without an error.
      {"an unclosed parenthesis", "a A 192.0.2.1\nb TXT ( \"x\"\nc A 192.0.2.3\n", true},
      {"a comment line ends the file", "a A 192.0.2.1\nb A 192.0.2.2\n; the end\n", true},
      {"a comment line before a last record without a newline",
       "a A 192.0.2.1\nb A 192.0.2.2\n; c\nf A 192.0.2.8", true},
  };
  for (const Case& tc : cases) {
    const std::string name = tc.name;
    CAPTURE(name);
    TempDir d;
    const auto f = d.write("z.zone", tc.text);
    ErrorList oneErrors;
    zones::ParseSplit ldnsOnly{SIZE_MAX};
    ldnsOnly.plainAddresses = false;
    const auto one = zones::parseZoneFile(f, "z.test", oneErrors, ldnsOnly);
    const std::string expected = dump(one, oneErrors);
    bool anySplit = false;
    for (std::size_t from = 0; from <= tc.text.size(); ++from) {
      CAPTURE(from);
      bool took = false;
      ErrorList errors;
      const auto two = zones::parseZoneFile(f, "z.test", errors, zones::ParseSplit{1, from, &took});
      anySplit = anySplit || took;
      CHECK(dump(two, errors) == expected);
    }
    CHECK(anySplit == tc.splits);
  }
}

TEST_CASE("plain address lines read without ldns give exactly what ldns gives") {
  // Each text is parsed with every record through ldns, and with the plain
  // A/AAAA lines read by geodnsd: records (owner, type, class, TTL, RDATA,
  // file:line) and errors must match, and `plain` says how many lines the
  // fast reader took (0: all of them left to ldns).
  struct Case {
    const char* name;
    std::string text;
    std::size_t plain;
  };
  const std::string label63(63, 'x'), label64(64, 'x');
  std::string longName;  // 4 x 63-byte labels: over 255 bytes with the origin
  for (int i = 0; i < 4; ++i) longName += label63 + ".";
  const std::vector<Case> cases{
      {"relative, absolute, @ and upper case owners",
       "a A 192.0.2.1\nB.c A 192.0.2.2\nabs.z.test. A 192.0.2.3\n@ A 192.0.2.4\nOUT.example. A "
       "192.0.2.5\n",
       5},
      {"TTL and class in the forms read, and the forms left to ldns",
       "a 60 A 192.0.2.1\nb IN A 192.0.2.2\nc 0 in a 192.0.2.3\nd 999999999 IN A 192.0.2.4\n"
       "e IN 60 A 192.0.2.5\nf 1h A 192.0.2.6\ng 1234567890 A 192.0.2.7\nh CH A 192.0.2.8\n",
       4},
      {"the default TTL: $TTL, and a record's own TTL does not change it",
       "a A 192.0.2.1\n$TTL 77\nb A 192.0.2.2\nc 5 A 192.0.2.3\nd A 192.0.2.4\n", 4},
      {"a default TTL of 0 is left to ldns (which gives 3600); an own TTL of 0 is not",
       "$TTL 0\na A 192.0.2.1\nb 0 A 192.0.2.2\n$TTL bad\nc A 192.0.2.3\nd 7 A 192.0.2.4\n", 2},
      // ldns reads the comment line and the last record together: the record
      // is still given its own line (fuzz_zone_file found the two-thread
      // parse giving line 3 where one pass gave 2).
      {"a comment line, then a last record without a newline",
       "$ORIGIN fuzz.t.2.1\n;A.b 60$ORIGNI .\nf A 192.0.2.8", 0},
      {"AAAA forms", "a AAAA 2001:db8::1\nb aaaa ::ffff:192.0.2.1\nc AAAA ::\nd AAAA 2001:db8::g\n",
       3},
      {"bad addresses are ldns's errors",
       "a A 192.0.2.256\nb A 1.2.3\nc A 01.2.3.4\nd A 192.0.2.1x\ne AAAA 1.2.3.4\n", 0},
      {"owner characters", "* A 192.0.2.1\n*.w A 192.0.2.2\n_s._tcp A 192.0.2.3\na-b A 192.0.2.4\n",
       4},
      {"owners left to ldns",
       "a..b A 192.0.2.1\n. A 192.0.2.2\nq\\.x A 192.0.2.3\nx.. A 192.0.2.4\n.x A 192.0.2.5\n", 0},
      {"label and name lengths",
       label63 + " A 192.0.2.1\n" + label64 + " A 192.0.2.2\n" + longName + " A 192.0.2.3\n", 1},
      {"tabs, trailing blanks and a last line without a newline",
       "a\tA\t192.0.2.1\nb  A  192.0.2.2  \t\nc A 192.0.2.3", 3},
      {"extra or missing tokens",
       "a A 192.0.2.1 192.0.2.2\nb A\nc 60 A\nd IN\ne 60 IN A 192.0.2.5 x y z\n", 0},
      {"comments, CR LF, parentheses and quotes go to ldns",
       "a A 192.0.2.1 ; note\nb A 192.0.2.2\r\nc A ( 192.0.2.3 )\nd TXT \"A 192.0.2.4\"\n", 0},
      {"a blank owner after a plain line inherits it through ldns",
       "a A 192.0.2.1\n  A 192.0.2.2\n  TXT x\nb AAAA 2001:db8::1\n\tA 192.0.2.3\n", 2},
      {"$ORIGIN changes what a relative owner means",
       "a A 192.0.2.1\n$ORIGIN sub.z.test.\nb A 192.0.2.2\n@ A 192.0.2.3\n$ORIGIN .\nc A "
       "192.0.2.4\n",
       4},
      // ldns reads the blank lines after a record with it (and reports the
      // record at the last of them); a comment line goes to ldns, which
      // reads on to b.
      {"blank lines and comment lines between records",
       "\na A 192.0.2.1\n\n\n; c\nb A 192.0.2.2\n\nc A 192.0.2.3\r\n\r\nd A 192.0.2.4\n", 2},
      {"other types stay with ldns", "a MX 10 m\nb TXT \"x\"\nc CNAME a\nd A 192.0.2.4\n", 1},
  };
  for (const Case& tc : cases) {
    const std::string name = tc.name;
    CAPTURE(name);
    TempDir d;
    const auto f = d.write("z.zone", "$ORIGIN z.test.\n$TTL 300\n" + tc.text);
    ErrorList ldnsErrors, errors;
    zones::ParseSplit ldnsOnly{SIZE_MAX};
    ldnsOnly.plainAddresses = false;
    const auto viaLdns = zones::parseZoneFile(f, "z.test", ldnsErrors, ldnsOnly);
    std::size_t plain = 0;
    zones::ParseSplit fast{SIZE_MAX};
    fast.plainCount = &plain;
    const auto viaFast = zones::parseZoneFile(f, "z.test", errors, fast);
    CHECK(dump(viaFast, errors) == dump(viaLdns, ldnsErrors));
    CHECK(plain == tc.plain);
  }
}

TEST_CASE("a big zone file is parsed in two pieces by default") {
  TempDir d;
  std::string text = "$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n";
  for (int i = 0; i < 60000; ++i)
    text += "h" + std::to_string(i) + " A 192.0.2." + std::to_string(i % 250) + "\n";
  REQUIRE(text.size() >= (std::size_t{1} << 20));
  const auto f = d.write("z.zone", text);
  bool took = false;
  ErrorList errors;
  const auto rrs = zones::parseZoneFile(f, "z.test", errors,
                                        zones::ParseSplit{std::size_t{1} << 20, SIZE_MAX, &took});
  CHECK(took);
  REQUIRE(errors.empty());
  REQUIRE(rrs.size() == 60002);
  CHECK(rrs[60001].where() == f + ":60003");
  CHECK(zones::rrToText(rrs[30001]).rfind("\\# 4 c00002", std::string::npos) != std::string::npos);
}

TEST_CASE("ParsedRecords gives back every field of every record, after an append too") {
  // The zone load keeps its parsed records packed (32 bytes each, owners and
  // RDATA in one block, an owner shared with the record before): each case
  // is a list of records that must come back field for field.
  const std::string* fileA = zones::internFileName("/zones/a.zone");
  const std::string* fileB = zones::internFileName("/zones/b.zone");
  auto rr = [](std::string owner, std::uint16_t type, std::uint32_t ttl, std::string rdata,
               const std::string* file, std::uint32_t line, std::uint8_t names = 0,
               std::uint16_t pos0 = 0, std::uint16_t pos1 = 0) {
    zones::ParsedRR r;
    r.owner = std::move(owner);
    r.type = type;
    r.rrclass = type == 16 ? 3 : 1;
    r.ttl = ttl;
    r.rdata = std::move(rdata);
    r.nameCount = names;
    r.namePos[0] = pos0;
    r.namePos[1] = pos1;
    r.file = file;
    r.line = line;
    return r;
  };
  const std::string longOwner = std::string("\x3f") + std::string(63, 'a') + "\x01z" + '\0';
  struct Case {
    const char* name;
    std::vector<zones::ParsedRR> first, second;  // second: appended, lines moved on by 100
  };
  const std::vector<Case> cases{
      {"one record", {rr("\1a\1z"s + '\0', 1, 60, "\xc0\0\2\1"s, fileA, 3)}, {}},
      {"records in a row share an owner, then a new one",
       {rr("\1a\1z"s + '\0', 1, 60, "\xc0\0\2\1"s, fileA, 3),
        rr("\1a\1z"s + '\0', 28, 61, std::string(16, '\x20'), fileA, 4),
        rr("\1b\1z"s + '\0', 15, 62, "\0\12\2ns\1z\0"s, fileA, 5, 1, 2)},
       {}},
      {"the same owner again after another: its own copy, the same bytes",
       {rr("\1a"s + '\0', 1, 1, "abcd", fileA, 1), rr("\1b"s + '\0', 1, 2, "efgh", fileA, 2),
        rr("\1a"s + '\0', 1, 3, "ijkl", fileA, 3)},
       {}},
      {"no file, empty RDATA, a 255-byte owner, a SOA's two names",
       {rr(longOwner, 16, 0, "", nullptr, 0),
        rr("\1s"s + '\0', 6, 9, "\1m\0\1r\0"s + std::string(20, '\7'), fileB, 9, 2, 0, 3)},
       {}},
      {"an append: lines moved on, files merged",
       {rr("\1a"s + '\0', 1, 1, "abcd", fileA, 1), rr("\1b"s + '\0', 1, 2, "efgh", fileB, 2)},
       {rr("\1b"s + '\0', 1, 3, "ijkl", fileB, 1), rr("\1c"s + '\0', 1, 4, "mnop", nullptr, 0),
        rr("\1d"s + '\0', 1, 5, "qrst", fileA, 7)}},
      {"an append to nothing", {}, {rr("\1c"s + '\0', 1, 4, "mnop", fileB, 2)}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    zones::ParsedRecords packed(c.first);
    zones::ParsedRecords more(c.second);
    if (!c.second.empty()) packed.append(std::move(more), 100);
    std::vector<zones::ParsedRR> want = c.first;
    for (auto r : c.second) {
      r.line += 100;
      want.push_back(r);
    }
    REQUIRE(packed.size() == want.size());
    const auto back = packed.toVector();
    for (std::size_t i = 0; i < want.size(); ++i) {
      CAPTURE(i);
      CHECK(packed.owner(i) == want[i].owner);
      CHECK(packed.type(i) == want[i].type);
      CHECK(back[i].owner == want[i].owner);
      CHECK(back[i].type == want[i].type);
      CHECK(back[i].rrclass == want[i].rrclass);
      CHECK(back[i].ttl == want[i].ttl);
      CHECK(back[i].rdata == want[i].rdata);
      CHECK(back[i].nameCount == want[i].nameCount);
      CHECK(back[i].namePos[0] == want[i].namePos[0]);
      CHECK(back[i].namePos[1] == want[i].namePos[1]);
      CHECK(back[i].file == want[i].file);
      CHECK(back[i].line == want[i].line);
      CHECK(packed[i].where() == want[i].where());
    }
  }
}

TEST_CASE("ParsedRecords refuses an owner longer than a name can be") {
  zones::ParsedRecords packed;
  zones::ParsedRR ok, tooLong;
  ok.owner = "\1a"s + '\0';
  tooLong.owner = std::string(256, '\1');
  CHECK(packed.push_back(ok));
  CHECK_FALSE(packed.push_back(tooLong));
  CHECK(packed.ok());  // only that record is refused
  CHECK(packed.size() == 1);
  // A SOA serial changed in place is what comes back.
  zones::ParsedRR soa;
  soa.owner = ok.owner;
  soa.type = 6;
  soa.rdata = "\0\0"s + std::string(20, '\0');
  REQUIRE(packed.push_back(soa));
  packed.rdataData(1)[2] = '\x2a';
  CHECK(packed[1].rdata[2] == '\x2a');
  CHECK(packed.owner(1).data() == packed.owner(0).data());  // one copy of a repeated owner
}

TEST_CASE("records and errors are reported at the line where they start") {
  // ldns's own count is the last line it read: the last blank line after a
  // record, or the closing line of parentheses. Each case: a text (after
  // "$ORIGIN z.test.\n" on line 1) and the line of every record and error, in
  // order, as "name:line" (records: the owner's first label; errors: "error").
  // The same with every record through ldns and with plain lines read directly.
  struct Case {
    const char* name;
    std::string text;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases{
      {"blank lines after records",
       "a A 192.0.2.1\n\n\nb A 192.0.2.2\n\n\nc A 192.0.2.3\n",
       {"a:2", "b:5", "c:8"}},
      {"an error followed by blank lines",
       "a A 192.0.2.1\nb A 300.0.2.1\n\n\n\nc A 192.0.2.3\n",
       {"a:2", "error:3", "c:7"}},
      {"comment lines and blank lines before a record",
       "; one\n\n; two\na A 192.0.2.1\n   ; indented comment\nb TXT x\n",
       {"a:5", "b:7"}},
      {"a record over three lines, then an error over two",
       "s SOA ns h (\n 1 2 3\n 4 5 )\nx A ( 192.0.2.1\n 300 )\ny A 192.0.2.9\n",
       {"s:2", "error:5", "y:7"}},
      {"a blank owner continues on its own line",
       "a A 192.0.2.1\n\n  TXT t\nb A 192.0.2.2",
       {"a:2", "a:4", "b:5"}},
      {"CR LF line ends and a last line without a newline",
       "a A 192.0.2.1\r\n\r\nb A 192.0.2.2\r\nc A 192.0.2.300",
       {"a:2", "b:4", "error:5"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    for (const bool plain : {false, true}) {
      CAPTURE(plain);
      TempDir d;
      const auto f = d.write("z.zone", "$ORIGIN z.test.\n" + c.text);
      ErrorList errors;
      zones::ParseSplit onePass{SIZE_MAX};
      onePass.plainAddresses = plain;
      const auto rrs = zones::parseZoneFile(f, "z.test", errors, onePass);
      // Records and errors merged in line order (each list is in order).
      std::vector<std::pair<std::uint32_t, std::string>> got;
      for (const auto& rr : rrs)
        got.emplace_back(rr.line,
                         std::string(rr.owner.data() + 1, static_cast<std::size_t>(rr.owner[0])));
      for (const auto& e : errors.all())
        got.emplace_back(static_cast<std::uint32_t>(std::stoul(e.where.substr(f.size() + 1))),
                         "error");
      std::stable_sort(got.begin(), got.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      std::vector<std::string> text;
      for (const auto& [line, what] : got) text.push_back(what + ":" + std::to_string(line));
      CHECK(text == c.want);
    }
  }
}
