#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/wire/name.h"

using namespace geodns;
using namespace std::string_literals;

namespace {
std::vector<std::uint8_t> bytes(std::string s) {
  return {s.begin(), s.end()};
}
}  // namespace

TEST_CASE("name::read follows backward pointers and lowercases on request") {
  // header-sized padding, then "Foo.Example." at 12, then "www" + pointer to 16.
  auto pkt = bytes(std::string(12, '\0') + "\3Foo\7Example\0"s + "\3www\xc0\x10X"s);
  Reader r(pkt, 12);
  name::NameBuf n;
  REQUIRE(name::read(r, n, false));
  CHECK(name::toText(n.span()) == "Foo.Example.");
  CHECK(r.pos() == 25);
  REQUIRE(name::read(r, n, true));
  CHECK(name::toText(n.span()) == "www.example.");
  CHECK(r.pos() == 31);  // continues after the pointer, not after its target
}

struct BadName {
  const char* what;
  std::string wire;
};

TEST_CASE("name::read rejects malformed names") {
  std::string label63(63, 'a');
  std::string tooLong;
  for (int i = 0; i < 5; ++i) tooLong += std::string(1, 63) + label63;  // 320 bytes
  const BadName cases[] = {
      {"pointer to itself", std::string(12, '\0') + "\xc0\x0c"},
      {"forward pointer", std::string(12, '\0') + "\xc0\x0e\0\0"s},
      {"pointer loop", std::string(12, '\0') + "\1a\xc0\x0c"},
      {"truncated label", std::string(12, '\0') + "\5ab"},
      {"missing root", std::string(12, '\0') + "\1a"},
      {"extended label type", std::string(12, '\0') + "\x41" + "abc"},
      {"longer than 255", std::string(12, '\0') + tooLong + std::string(1, '\0')},
      {"truncated pointer", std::string(12, '\0') + "\xc0"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto pkt = bytes(c.wire);
    Reader r(pkt, 12);
    name::NameBuf n;
    CHECK_FALSE(name::read(r, n, false));
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("name text conversion") {
  struct Case {
    const char* text;
    const char* expectText;
  } cases[] = {
      {"Example.TEST", "example.test."}, {"example.test.", "example.test."}, {".", "."},
      {"a\\.b.test", "a\\.b.test."},     {"\\065bc.test", "abc.test."},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto w = name::fromText(c.text);
    REQUIRE(w);
    CHECK(name::toText(name::asSpan(*w)) == c.expectText);
  }
  CHECK_FALSE(name::fromText("a..b"));
  CHECK_FALSE(name::fromText(std::string(64, 'x') + ".test"));
}

TEST_CASE("subdomain, parent and label offsets") {
  auto www = *name::fromText("www.example.test");
  auto zone = *name::fromText("example.test");
  auto other = *name::fromText("xample.test");
  CHECK(name::isSubdomain(name::asSpan(www), name::asSpan(zone)));
  CHECK(name::isSubdomain(name::asSpan(zone), name::asSpan(zone)));
  CHECK_FALSE(name::isSubdomain(name::asSpan(zone), name::asSpan(www)));
  CHECK_FALSE(
      name::isSubdomain(name::asSpan(*name::fromText("www.eexample.test")), name::asSpan(zone)));
  CHECK(name::isSubdomain(name::asSpan(www), name::asSpan(*name::fromText("."))));
  (void)other;
  CHECK(name::labelCount(name::asSpan(www)) == 3);
  CHECK(name::toText(name::parent(name::asSpan(www))) == "example.test.");
  CHECK(name::toText(name::parent(name::asSpan(www), 3)) == ".");
  std::uint8_t offs[128];
  CHECK(name::labelOffsets(name::asSpan(www), offs) == 3);
  CHECK(offs[1] == 4);
  CHECK(offs[3] == 17);
}

TEST_CASE("compareCanonical sorts the RFC 4034 s6.1 example") {
  // The example of RFC 4034 s6.1, in its order (fromText lowercases, so the
  // case-folding is checked separately below).
  const std::vector<std::string> ordered = {
      "example",   "a.example",       "yljkjljk.a.example", "Z.a.example",    "zABC.a.EXAMPLE",
      "z.example", "\\001.z.example", "*.z.example",        "\\200.z.example"};
  for (std::size_t i = 0; i < ordered.size(); ++i)
    for (std::size_t j = 0; j < ordered.size(); ++j) {
      CAPTURE(ordered[i]);
      CAPTURE(ordered[j]);
      const int c = name::compareCanonical(name::asSpan(*name::fromText(ordered[i])),
                                           name::asSpan(*name::fromText(ordered[j])));
      CHECK((c < 0) == (i < j));
      CHECK((c == 0) == (i == j));
    }
  // Uppercase is compared as lowercase (raw wire, not through fromText).
  const std::string upper = "\1Z\1A\7EXAMPLE\0"s, lower = "\1z\1a\7example\0"s;
  CHECK(name::compareCanonical(name::asSpan(upper), name::asSpan(lower)) == 0);
  // A label that is a prefix of another sorts first; labels, not bytes, from the right.
  CHECK(name::compareCanonical(name::asSpan(*name::fromText("ab.x")),
                               name::asSpan(*name::fromText("abc.x"))) < 0);
  CHECK(name::compareCanonical(name::asSpan(*name::fromText("b.a.x")),
                               name::asSpan(*name::fromText("a.b.x"))) < 0);
  CHECK(name::compareCanonical(name::asSpan(*name::fromText(".")),
                               name::asSpan(*name::fromText("x"))) < 0);
}
