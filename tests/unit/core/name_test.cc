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
