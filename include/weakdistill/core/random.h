// A seeded random source whose outputs are the same on every platform and
// standard library (std::uniform_int_distribution and std::shuffle are not),
// so that a seed names one few-shot split, one seed draw, one run.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace weakdistill {

// A 64-bit mix (splitmix64) of (seed, stream): the seed of an independent random
// stream, so that stream k draws the same numbers whatever other streams drew.
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t stream);

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  std::uint64_t next() { return engine_(); }
  // Uniform in [0, n), n > 0, by rejection (unbiased).
  std::uint64_t below(std::uint64_t n);
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Fisher–Yates shuffle.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) {
      const std::size_t j = below(i);
      std::swap(v[i - 1], v[j]);
    }
  }

 private:
  std::mt19937_64 engine_;  // fully specified by the standard
};

}  // namespace weakdistill
