#include <doctest/doctest.h>

#include <string>

#include "health/cluster/base64.h"

using geodns::health::cluster::base64Decode;
using geodns::health::cluster::base64Encode;

TEST_CASE("base64: RFC 4648 section 10 vectors") {
  struct Case {
    const char* plain;
    const char* encoded;
  };
  const Case cases[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.plain);
    CHECK(base64Encode(c.plain) == c.encoded);
    auto d = base64Decode(c.encoded);
    REQUIRE(d);
    CHECK(*d == c.plain);
  }
}

TEST_CASE("base64: the whole alphabet, in order") {
  // 48 bytes whose 6-bit groups are 0, 1, ..., 63: the encoding is the
  // alphabet itself, so every table entry is checked in both directions.
  std::string bytes;
  for (int i = 0; i < 64; i += 4) {
    const unsigned v = (static_cast<unsigned>(i) << 18) | (static_cast<unsigned>(i + 1) << 12) |
                       (static_cast<unsigned>(i + 2) << 6) | static_cast<unsigned>(i + 3);
    bytes += static_cast<char>((v >> 16) & 0xff);
    bytes += static_cast<char>((v >> 8) & 0xff);
    bytes += static_cast<char>(v & 0xff);
  }
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  CHECK(base64Encode(bytes) == alphabet);
  auto d = base64Decode(alphabet);
  REQUIRE(d);
  CHECK(*d == bytes);
}

TEST_CASE("base64: every byte value round-trips at every length mod 3") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t cut : {256u, 255u, 254u}) {
    const std::string s = all.substr(0, cut);
    auto d = base64Decode(base64Encode(s));
    REQUIRE(d);
    CHECK(*d == s);
  }
  CHECK(base64Encode(std::string("\xff\xff\xff", 3)) == "////");
  CHECK(base64Encode(std::string("\xfb\xef\xbe", 3)) == "++++");
  CHECK(base64Encode(std::string("\0", 1)) == "AA==");
}

TEST_CASE("base64: malformed text is refused") {
  const char* bad[] = {
      "Zg=",       // length not a multiple of 4
      "Zg",        // unpadded
      "Zg==Zg==",  // padding before the end
      "Z===",      // three padding characters
      "=Zg=",      // padding first
      "Zh==",      // non-zero bits under the padding
      "Zm9=",      // ditto, one pad
      "Zm9v\n",    // whitespace
      "Zm9-",      // URL-safe alphabet
      "Zm9_",      // URL-safe alphabet
      "Zm 9",      // space
      "====",
  };
  for (const char* b : bad) {
    CAPTURE(b);
    CHECK_FALSE(base64Decode(b));
  }
  CHECK_FALSE(base64Decode(std::string("Zm9\0", 4)));
}
