// lowbit/rounding/directed.hpp — directed rounding.
//
//   round_toward_zero : trunc(v)  (CUDA cvt.rz; ml_dtypes kTruncate; E8M0 "floor" on |x|)
//   round_down        : floor(v)  (toward -inf)
//   round_up          : ceil(v)   (toward +inf; CUDA cvt.rp, the E8M0 RCEIL scale rule)
#pragma once

#include <cmath>
#include <cstdint>

#include "../config.hpp"

namespace lowbit {

struct round_toward_zero {
  static constexpr bool is_stochastic = false;
  static LOWBIT_HOST_DEVICE double apply(double v, std::uint32_t = 0) { return std::trunc(v); }
};

struct round_down {
  static constexpr bool is_stochastic = false;
  static LOWBIT_HOST_DEVICE double apply(double v, std::uint32_t = 0) { return std::floor(v); }
};

struct round_up {
  static constexpr bool is_stochastic = false;
  static LOWBIT_HOST_DEVICE double apply(double v, std::uint32_t = 0) { return std::ceil(v); }
};

}  // namespace lowbit
