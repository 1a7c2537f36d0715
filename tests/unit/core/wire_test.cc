#include <doctest/doctest.h>

#include <array>

#include "core/wire/wire.h"

using namespace geodns;

TEST_CASE("Reader reads big-endian values and fails sticky at the end") {
  const std::uint8_t data[] = {0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x7f};
  Reader r(data);
  CHECK(r.u16() == 0x1234);
  CHECK(r.u32() == 0xdeadbeef);
  CHECK(r.ok());
  CHECK(r.u16() == 0);  // only one byte left
  CHECK_FALSE(r.ok());
  CHECK(r.u8() == 0);  // sticky: nothing more is read after a failure
  CHECK(r.pos() == 6);
}

TEST_CASE("Reader bytes and skip are bounds-checked") {
  const std::uint8_t data[] = {1, 2, 3};
  Reader r(data);
  CHECK(r.bytes(2).size() == 2);
  r.skip(2);
  CHECK_FALSE(r.ok());
  Reader r2(data, 10);  // start past the end
  CHECK_FALSE(r2.ok());
}

TEST_CASE("Writer refuses writes past its limit and can roll back") {
  std::array<std::uint8_t, 8> buf;
  buf.fill(0xAA);  // garbage shows a missing write
  Writer w(buf.data(), 5);
  CHECK(w.u32(0x01020304));
  CHECK_FALSE(w.u16(0x0506));  // 4 + 2 > 5
  CHECK_FALSE(w.ok());
  CHECK(w.size() == 4);
  CHECK(buf[4] == 0xAA);
  w.truncate(2);
  CHECK(w.ok());
  CHECK(w.u16(0xBEEF));
  CHECK(buf[2] == 0xBE);
  w.patch16(0, 0xCAFE);
  CHECK(buf[0] == 0xCA);
  w.setLimit(3);  // a limit below the current size never underflows
  CHECK_FALSE(w.u8(1));
}
