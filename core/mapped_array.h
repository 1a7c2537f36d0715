#pragma once
// A growable array of trivially copyable elements in its own anonymous
// mapping, for the big scratch arrays of a zone load (zones/zone_file.h:
// ParsedRecords). Unlike a std::vector it grows without copying (mremap),
// and its front can be given back to the kernel while the rest is still read
// (releaseFront): the compile of a big zone returns the records it has
// consumed as it builds the nodes, so that a reload's peak does not hold
// both (issue 12 item 4).
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "core/huge_pages.h"

namespace geodns {

template <class T>
class MappedArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  MappedArray() = default;
  MappedArray(const MappedArray&) = delete;
  MappedArray& operator=(const MappedArray&) = delete;
  MappedArray(MappedArray&& o) noexcept { swap(o); }
  MappedArray& operator=(MappedArray&& o) noexcept {
    if (this != &o) {
      MappedArray gone;
      swap(o);
      gone.swap(o);
    }
    return *this;
  }
  ~MappedArray() {
    if (data_) ::munmap(data_, bytes(cap_));
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  T& back() noexcept { return data_[size_ - 1]; }
  const T& back() const noexcept { return data_[size_ - 1]; }

  void push_back(const T& v) {
    if (size_ == cap_) reserve(std::max<std::size_t>(2 * cap_, kPage / sizeof(T)));
    data_[size_++] = v;
  }
  void append(const T* p, std::size_t n) {
    if (size_ + n > cap_) reserve(std::max({2 * cap_, size_ + n, kPage / sizeof(T)}));
    std::copy_n(p, n, data_ + size_);
    size_ += n;
  }
  // Keeps the first n elements (n <= size()).
  void resize_down(std::size_t n) noexcept { size_ = std::min(n, size_); }
  // Room for n elements. Pages never written stay unmapped; the mapping is
  // advised huge pages (core/huge_pages.h). Throws std::bad_alloc.
  void reserve(std::size_t n) {
    if (n <= cap_) return;
    if (n > SIZE_MAX / sizeof(T) - kPage) throw std::bad_alloc();
    const std::size_t want = bytes(n);
    void* p =
        data_ ? ::mremap(data_, bytes(cap_), want, MREMAP_MAYMOVE)
              : ::mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<T*>(p);
    cap_ = want / sizeof(T);
    adviseHugePages(data_, want);
  }
  // Elements [0, n) will not be read again: the whole huge pages below them
  // (2 MiB-aligned) go back to the kernel. Reading them afterwards gives zeros.
  void releaseFront(std::size_t n) noexcept {
    const auto base = reinterpret_cast<std::uintptr_t>(data_);
    const std::uintptr_t from = (base + released_ + kHugePage - 1) & ~(kHugePage - 1);
    const std::uintptr_t to = (base + std::min(n, size_) * sizeof(T)) & ~(kHugePage - 1);
    if (!data_ || to <= from) return;
    ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
    released_ = to - base;
  }

 private:
  static constexpr std::size_t kPage = 4096;
  static std::size_t bytes(std::size_t n) noexcept {
    return (n * sizeof(T) + kPage - 1) & ~(kPage - 1);
  }
  void swap(MappedArray& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
    std::swap(released_, o.released_);
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;       // elements the mapping holds
  std::size_t released_ = 0;  // bytes from data_ given back by releaseFront
};

}  // namespace geodns
