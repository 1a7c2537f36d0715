#include <doctest/doctest.h>

#include <array>

#include "core/wire/compress.h"

using namespace geodns;

TEST_CASE("Compressor points at the longest shared suffix, case-insensitively") {
  std::array<std::uint8_t, 512> buf;
  buf.fill(0xEE);
  Writer w(buf.data(), buf.size());
  for (int i = 0; i < 12; ++i) w.u8(0);
  auto q = *name::fromText("www.example.test");
  // The question as a client wrote it, with mixed case.
  const std::uint8_t mixed[] = {3,   'W', 'w', 'W', 7,   'E', 'x', 'a', 'm',
                                'p', 'l', 'e', 4,   't', 'e', 's', 't', 0};
  w.bytes(mixed);
  Compressor c;
  c.addWritten(w.data(), 12);

  SUBCASE("same name becomes one pointer") {
    REQUIRE(c.write(w, name::asSpan(q)));
    CHECK(w.size() == 30 + 2);
    CHECK(buf[30] == 0xC0);
    CHECK(buf[31] == 12);
  }
  SUBCASE("sibling shares the parent") {
    auto mail = *name::fromText("mail.example.test");
    REQUIRE(c.write(w, name::asSpan(mail)));
    CHECK(w.size() == 30 + 5 + 2);
    CHECK(buf[35] == 0xC0);
    CHECK(buf[36] == 16);  // "example.test" inside the question
    // A later name can point into the newly written one.
    auto x = *name::fromText("x.mail.example.test");
    REQUIRE(c.write(w, name::asSpan(x)));
    CHECK(buf[37 + 2] == 0xC0);
    CHECK(buf[37 + 3] == 30);
  }
  SUBCASE("unrelated name is written whole") {
    auto n = *name::fromText("example.net");
    REQUIRE(c.write(w, name::asSpan(n)));
    CHECK(w.size() == 30 + n.size());
  }
  SUBCASE("no compression when asked not to") {
    REQUIRE(c.write(w, name::asSpan(q), false));
    CHECK(w.size() == 30 + q.size());
  }
  SUBCASE("truncate forgets entries past a rollback") {
    auto mail = *name::fromText("mail.example.test");
    std::size_t mark = w.size();
    REQUIRE(c.write(w, name::asSpan(mail)));
    w.truncate(mark);
    c.truncate(mark);
    auto other = *name::fromText("zzzz.example.test");
    REQUIRE(c.write(w, name::asSpan(other)));
    auto x = *name::fromText("x.mail.example.test");
    REQUIRE(c.write(w, name::asSpan(x)));
    // must not point at the rolled-back "mail" (offset 30 now holds "zzzz")
    CHECK_FALSE((buf[w.size() - 2] == 0xC0 && buf[w.size() - 1] == 30));
  }
}

TEST_CASE("Compressor write fails cleanly when the name does not fit") {
  std::array<std::uint8_t, 16> buf{};
  Writer w(buf.data(), 10);
  Compressor c;
  auto n = *name::fromText("www.example.test");
  CHECK_FALSE(c.write(w, name::asSpan(n)));
}
