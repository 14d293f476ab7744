// lowbit/rounding/nearest.hpp — round to nearest, two tie rules.
//
//   round_nearest_even : ties to the even integer (IEEE roundTiesToEven; = torch.round,
//                        CUDA cvt.rn, std::nearbyint under FE_TONEAREST). The default.
//   round_half_away    : ties away from zero (= std::round, microxcaling "nearest",
//                        llama.cpp roundf).
// Both are exact for every double v and independent of the floating-point environment.
#pragma once

#include <cmath>
#include <cstdint>

#include "../config.hpp"

namespace lowbit {

struct round_nearest_even {
  static constexpr bool is_stochastic = false;
  static LOWBIT_HOST_DEVICE double apply(double v, std::uint32_t = 0) {
    const double f = std::floor(v);
    const double d = v - f;  // exact for v >= 0 and v <= -0.5 (Sterbenz); for -0.5 < v < 0,
                             // d = 1 - |v| may round but stays > 0.5 or is the tie 0.5 at
                             // v = -(0.5 - 2^-54), where the rule gives the right answer, 0
    if (d > 0.5) return f + 1.0;
    if (d < 0.5) return f;
    return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
  }
};

struct round_half_away {
  static constexpr bool is_stochastic = false;
  static LOWBIT_HOST_DEVICE double apply(double v, std::uint32_t = 0) {
    // Not floor(|v| + 0.5): that sum rounds, and 0.5 - 2^-54 would come out as 1.
    const double a = std::fabs(v);
    const double f = std::floor(a);
    const double r = a - f >= 0.5 ? f + 1.0 : f;  // a - f is exact (Sterbenz, or f == 0)
    return std::copysign(r, v);
  }
};

}  // namespace lowbit
