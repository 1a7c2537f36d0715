#include "core/huge_pages.h"

#include <sys/mman.h>

namespace geodns {

std::size_t adviseHugePages(void* p, std::size_t bytes) noexcept {
  const HugeSpan span = hugePageSpan(reinterpret_cast<std::uintptr_t>(p), bytes);
  if (span.bytes == 0) return 0;
  return ::madvise(reinterpret_cast<void*>(span.begin), span.bytes, MADV_HUGEPAGE) == 0 ? span.bytes
                                                                                        : 0;
}

}  // namespace geodns
