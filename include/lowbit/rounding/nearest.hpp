// lowbit/rounding/nearest.hpp — round to nearest, two tie rules.
//
//   round_nearest_even : ties to the even integer (IEEE roundTiesToEven; = torch.round,
//                        CUDA cvt.rn, std::nearbyint under FE_TONEAREST). The default.
//   round_half_away    : ties away from zero (= std::round, microxcaling "nearest",
//                        llama.cpp roundf).
// Both are exact for |v| < 2^52 and independent of the floating-point environment.
#pragma once

#include <cmath>
#include <cstdint>

#include "../config.hpp"

namespace lowbit {

struct round_nearest_even {
  static constexpr bool is_stochastic = false;
  static LOWBIT_HOST_DEVICE double apply(double v, std::uint32_t = 0) {
    const double f = std::floor(v);
    const double d = v - f;  // exact: f and v share the binade or f is smaller
    if (d > 0.5) return f + 1.0;
    if (d < 0.5) return f;
    return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
  }
};

struct round_half_away {
  static constexpr bool is_stochastic = false;
  static LOWBIT_HOST_DEVICE double apply(double v, std::uint32_t = 0) {
    const double r = std::floor(std::fabs(v) + 0.5);  // exact for |v| < 2^52
    return std::copysign(r, v);
  }
};

}  // namespace lowbit
