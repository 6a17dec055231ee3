// Platform-independent deterministic randomness: splitmix64 and a Fisher–Yates shuffle built on it.
// std::shuffle and std::uniform_int_distribution differ between standard libraries, which would
// break "same seed => same split/order" across machines, so every seeded choice goes through here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace cxr {

// splitmix64 (Steele, Lea, Flood 2014): state += golden gamma; mix.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The same generator as an object, as the sampler and augmentation use it.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t next() { return splitmix64(state_); }
  // Uniform in [0, bound), bound > 0, without modulo bias (rejects the short bottom range).
  uint64_t below(uint64_t bound) {
    const uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const uint64_t r = next();
      if (r >= threshold) return r % bound;
    }
  }
  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// splitmix64's output function applied to one value: a cheap way to derive independent seeds.
inline uint64_t mix64(uint64_t x) { return SplitMix64(x - 0x9E3779B97F4A7C15ULL).next(); }

// Mixes several values into one seed (order matters).
inline uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t s = a ^ (b * 0x9e3779b97f4a7c15ULL);
  return splitmix64(s);
}

// Fisher-Yates driven by SplitMix64(seed): position i-1 swaps with below(i), from the end.
template <class T>
void deterministic_shuffle(std::vector<T>& v, uint64_t seed) {
  SplitMix64 rng(seed);
  for (size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<size_t>(rng.below(i));
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace cxr
