#include <doctest/doctest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "core/huge_pages.h"

using namespace geodns;

namespace {
constexpr std::uintptr_t M2 = kHugePage;
}

TEST_CASE("hugePageSpan: the 2 MiB pages wholly inside a buffer") {
  struct Case {
    const char* name;
    std::uintptr_t p;
    std::size_t bytes;
    std::uintptr_t begin;
    std::size_t len;
  };
  const Case cases[] = {
      {"null buffer", 0, 8 * M2, 0, 0},
      {"smaller than a huge page", 4096, M2 - 1, 0, 0},
      {"one aligned page", 4 * M2, M2, 4 * M2, M2},
      {"unaligned start: the whole pages after it", 4 * M2 + 4096, 3 * M2, 5 * M2, 2 * M2},
      {"unaligned both ends", 4 * M2 + 1, 4 * M2, 5 * M2, 3 * M2},
      {"a page's worth straddling a boundary: none whole", 5 * M2 - 4096, M2, 0, 0},
      {"a page and a bit around one boundary: that page", 5 * M2 - 4096, M2 + 8192, 5 * M2, M2},
      {"aligned start, ragged end", 8 * M2, 2 * M2 + 100, 8 * M2, 2 * M2},
      {"would wrap the address space", UINTPTR_MAX - M2, 4 * M2, 0, 0},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const HugeSpan s = hugePageSpan(c.p, c.bytes);
    CHECK(s.begin == c.begin);
    CHECK(s.bytes == c.len);
  }
}

TEST_CASE("reserveHuge and shrinkHuge keep a vector's contents") {
  std::vector<std::uint32_t> v;
  reserveHuge(v, 3 * M2 / sizeof(std::uint32_t));
  CHECK(v.capacity() >= 3 * M2 / sizeof(std::uint32_t));
  CHECK(v.empty());
  const std::uint32_t* before = v.data();
  v.resize(1000000);
  std::iota(v.begin(), v.end(), 7u);
  CHECK(v.data() == before);  // filled within the reservation: no copy
  shrinkHuge(v);
  CHECK(v.capacity() == v.size());
  REQUIRE(v.size() == 1000000);
  CHECK(v.front() == 7u);
  CHECK(v.back() == 7u + 999999u);
  std::vector<std::uint32_t> empty;
  shrinkHuge(empty);
  CHECK(empty.empty());
}
