#pragma once
// Transparent huge pages for the big buffers a control thread fills once:
// location tries, their walk's record tables, decision trees. Filling them
// then takes a page fault per 2 MiB instead of per 4 KiB; on the 2-core KVM
// guests the DB-IP compile's 19,000 faults were a tenth of its time. Only a
// hint: where THP is "never" nothing changes, and the kernel still falls
// back to small pages when it has no huge page at hand.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace geodns {

inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

// The 2 MiB-aligned pages wholly inside [p, p + bytes): their start and
// length (length 0: none).
struct HugeSpan {
  std::uintptr_t begin = 0;
  std::size_t bytes = 0;
};
constexpr HugeSpan hugePageSpan(std::uintptr_t p, std::size_t bytes) noexcept {
  if (p == 0 || bytes < kHugePage || p > UINTPTR_MAX - bytes) return {};
  const std::uintptr_t first = (p + kHugePage - 1) & ~std::uintptr_t{kHugePage - 1};
  const std::uintptr_t last = (p + bytes) & ~std::uintptr_t{kHugePage - 1};
  return last > first ? HugeSpan{first, last - first} : HugeSpan{};
}

// madvise(MADV_HUGEPAGE) over hugePageSpan(p, bytes); returns its byte count
// (0: none, or the call failed: a kernel without THP).
// Memory not yet touched is what gains: call it before filling.
std::size_t adviseHugePages(void* p, std::size_t bytes) noexcept;

// v.reserve(n), then advised as above.
template <class T>
void reserveHuge(std::vector<T>& v, std::size_t n) {
  v.reserve(n);
  adviseHugePages(v.data(), v.capacity() * sizeof(T));
}

// shrink_to_fit() into an advised buffer.
template <class T>
void shrinkHuge(std::vector<T>& v) {
  if (v.capacity() == v.size()) return;
  std::vector<T> tight;
  reserveHuge(tight, v.size());
  tight.assign(v.begin(), v.end());
  v.swap(tight);
}

}  // namespace geodns
