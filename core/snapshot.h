#pragma once
// Publishing immutable state to worker threads (DESIGN.md, "Publishing shared
// state"): a mutex-guarded shared_ptr plus an atomic generation. Readers cache
// {generation, pointer} and lock only when the generation moved, at most once
// per batch. Retired snapshots are freed by the publisher thread, never by a
// worker: the publisher keeps a reference until every reader let go.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace geodns {

template <class T>
class Snapshot {
 public:
  // Control thread only.
  void publish(std::shared_ptr<const T> next) {
    std::lock_guard lock(mu_);
    if (current_) retired_.push_back(std::move(current_));
    current_ = std::move(next);
    generation_.fetch_add(1, std::memory_order_release);
    collectLocked();
  }
  // Frees retired snapshots no reader holds any more. Control thread, periodically.
  void collect() {
    std::lock_guard lock(mu_);
    collectLocked();
  }
  std::size_t retiredCount() const {
    std::lock_guard lock(mu_);
    return retired_.size();
  }
  std::shared_ptr<const T> current() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  // One per worker thread. refresh() is noexcept and allocation-free.
  class Reader {
   public:
    explicit Reader(const Snapshot& src) : src_(&src) {}
    const T* refresh() noexcept {
      std::uint64_t g = src_->generation();
      if (g != gen_) {
        std::lock_guard lock(src_->mu_);
        ptr_ = src_->current_;  // copy under lock; the old one stays alive in retired_
        gen_ = src_->generation_.load(std::memory_order_relaxed);
      }
      return ptr_.get();
    }
    const T* get() const noexcept { return ptr_.get(); }

   private:
    const Snapshot* src_;
    std::uint64_t gen_ = ~std::uint64_t{0};
    std::shared_ptr<const T> ptr_;
  };

 private:
  void collectLocked() {
    std::erase_if(retired_, [](const std::shared_ptr<const T>& p) { return p.use_count() == 1; });
  }
  mutable std::mutex mu_;
  std::shared_ptr<const T> current_;
  std::vector<std::shared_ptr<const T>> retired_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace geodns
