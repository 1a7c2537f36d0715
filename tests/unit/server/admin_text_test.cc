// The text checks the admin API shares between the token file, the HTTP
// front and the handlers (server/admin/text.h).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "server/admin/text.h"

using namespace geodns::server::admin;

TEST_CASE("admin text: UTF-8, control characters and visible ASCII") {
  struct Case {
    const char* name;
    std::string_view text;
    bool utf8, control, visible;
  };
  using namespace std::string_view_literals;
  const Case cases[] = {
      {"empty", ""sv, true, false, false},
      {"plain ASCII", "abc"sv, true, false, true},
      {"a space is not visible", "a b"sv, true, false, false},
      {"NUL is a control character", "a\0b"sv, true, true, false},
      {"DEL is a control character", "a\x7f"sv, true, true, false},
      {"a line break", "a\nb"sv, true, true, false},
      {"two-byte UTF-8", "caf\xc3\xa9"sv, true, false, false},
      {"four-byte UTF-8", "\xf0\x9f\x98\x80"sv, true, false, false},
      {"overlong slash", "\xc0\xaf"sv, false, false, false},
      {"a surrogate", "\xed\xa0\x80"sv, false, false, false},
      {"past U+10FFFF", "\xf4\x90\x80\x80"sv, false, false, false},
      {"cut short", "\xe2\x82"sv, false, false, false},
      {"a lone continuation byte", "\x80"sv, false, false, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(validUtf8(c.text) == c.utf8);
    CHECK(hasControl(c.text) == c.control);
    CHECK(visibleAscii(c.text) == c.visible);
  }
}

TEST_CASE("admin text: trim and case-insensitive equality") {
  struct Case {
    const char* name;
    std::string_view in, trimmed;
  };
  const Case cases[] = {
      {"nothing to trim", "a b", "a b"},
      {"spaces and tabs", " \ta b\t ", "a b"},
      {"a trailing CR", "Range: x\r", "Range: x"},
      {"only blanks", " \t ", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(trim(c.in) == c.trimmed);
  }
  CHECK(iequals("Content-Length", "content-LENGTH"));
  CHECK_FALSE(iequals("Content-Length", "Content-Lengt"));
  CHECK_FALSE(iequals("Range", "Rangf"));
}
