// lowbit/rounding/stochastic.hpp — stochastic rounding, reproducible across threads.
//
//   round_stochastic::apply(v, r) = floor(v + r·2^-32),  r uniform in [0, 2^32)
// so P(round up) = frac(v) (to 2^-32) and E[result] = v: unbiased. With a 2^-32 grid the
// result is exact for |v| < 2^20, which covers every lowbit format (v = x/ulp has at most
// mantissa_bits+1 integer bits; int formats at most 8).
//
// The random bits come from a counter-based generator, stochastic_bits(seed, index): a pure
// function of (seed, element index), so results do not depend on thread count or order.
// This is the software form of PTX cvt.rs (add random bits below the kept LSB, truncate).
#pragma once

#include <cmath>
#include <cstdint>

#include "../config.hpp"

namespace lowbit {

struct round_stochastic {
  static constexpr bool is_stochastic = true;
  static LOWBIT_HOST_DEVICE double apply(double v, std::uint32_t random_bits) {
    return std::floor(v + static_cast<double>(random_bits) * 0x1p-32);
  }
};

// 32 uniform bits for element `index` of a stream keyed by `seed` (SplitMix64 finaliser over
// seed and index; statistically strong, branch-free, identical on host and device).
LOWBIT_HOST_DEVICE inline std::uint32_t stochastic_bits(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed * 0xD1B54A32D192ED03ull + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<std::uint32_t>(z >> 32);
}

}  // namespace lowbit
