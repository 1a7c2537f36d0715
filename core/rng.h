#pragma once
// Randomness as a seam: tests inject a fixed sequence.
#include <cstdint>

namespace geodns {

class Rng {
 public:
  virtual ~Rng() = default;
  virtual std::uint64_t next() noexcept = 0;
  // Uniform in [0, 1).
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

// SplitMix64: small, fast, good enough for jitter.
class SplitMixRng final : public Rng {
 public:
  explicit SplitMixRng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() noexcept override {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

}  // namespace geodns
