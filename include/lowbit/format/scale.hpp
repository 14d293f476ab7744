// lowbit/format/scale.hpp — formats used only for scales.
//
// float8_e8m0fnu (OCP MX shared scale)  eeeeeeee  bias 127, unsigned, no zero, no inf
//   code c in 0x00..0xFE -> 2^(c-127)  (0x00 is 2^-127, a float subnormal); 0xFF is NaN
//   Encoding takes |x| (the sign is ignored, as CUDA), k = floor(log2|x|), then rounds
//   |x|/2^k in [1, 2) to 1 or 2 with the rounding policy:
//     round_toward_zero / round_down -> 2^k          (OCP "floor", CUDA cvt.rz)
//     round_up                       -> 2^k or 2^k+1  (NVIDIA RCEIL, CUDA cvt.rp)
//     round_nearest_even, half_away  -> nearest power of two, the tie 1.5·2^k going up
//                                       (= ml_dtypes' cast; 3 -> 4, 0.75 -> 1)
//     round_stochastic               -> 2^k+1 with probability |x|/2^k - 1 (unbiased)
//   |x| < 2^-127 (and 0) -> 0x00. NaN -> 0xFF. Above 2^127 after rounding, or inf:
//   0xFE (saturate) or 0xFF (propagate) — whatever the rounding direction, as ml_dtypes'
//   casts (CUDA's double path toward zero without saturation gives 0xFE for |x| >= 2^128).
//   Differences from ml_dtypes' nearest cast: it maps 0 and negative inputs to NaN, and rounds
//   (2^-127, 1.5·2^-127) up to 2^-126; lowbit follows CUDA (|x|, 0 -> 0x00) and the nearest.
// float8_ue4m3 (NVFP4 block scale)  eeee.mmm  = e4m3fn without the sign bit
//   max 448 (0x7E), NaN 0x7F, min subnormal 2^-9; negative input -> 0 (saturate) / NaN.
#pragma once

#include <cmath>
#include <cstdint>

#include "../config.hpp"
#include "minifloat.hpp"
#include "traits.hpp"

namespace lowbit {

struct float8_e8m0fnu {
  using storage = std::uint8_t;
  static constexpr const char* name = "e8m0fnu";
  static constexpr format_kind kind = format_kind::power_of_two;
  static constexpr int bits = 8;
  static constexpr bool is_signed = false;
  static constexpr int bias = 127;
  static constexpr int min_exponent = -127;
  static constexpr int max_exponent = 127;
  static constexpr double max_value = 0x1p127;
  static constexpr double min_positive = 0x1p-127;
  static constexpr unsigned nan_code = 0xFF;
  static constexpr unsigned max_code = 0xFE;

  static LOWBIT_HOST_DEVICE float decode(storage code) {
    if (code == nan_code) return NAN;
    return std::ldexp(1.0f, int(code) - bias);
  }

  // Code of the power of two 2^e, e in [-127, 127].
  static LOWBIT_HOST_DEVICE storage from_exponent(int e) { return storage(e + bias); }
  static LOWBIT_HOST_DEVICE int exponent(storage code) { return int(code) - bias; }

  template <class R, overflow Ov>
  static LOWBIT_HOST_DEVICE storage encode(double x, std::uint32_t random_bits) {
    if (std::isnan(x)) return storage(nan_code);
    const double a = std::fabs(x);
    if (std::isinf(a)) return storage(Ov == overflow::saturate ? max_code : nan_code);
    if (a < min_positive) return 0;
    int fe;
    const double f = std::frexp(a, &fe);  // a = f·2^fe, f in [0.5, 1)
    const int k = fe - 1;
    const double r = R::apply(2.0 * f, random_bits);  // 2f in [1, 2) -> 1 or 2
    const int e = r >= 2.0 ? k + 1 : k;
    if (e > max_exponent) return storage(Ov == overflow::saturate ? max_code : nan_code);
    return from_exponent(e);
  }
};

struct float8_ue4m3 : minifloat<4, 3, 7, specials::fn, /*Signed=*/false> {
  static constexpr const char* name = "ue4m3";
};

static_assert(float8_ue4m3::max_value == 448.0 && float8_ue4m3::max_code == 0x7E &&
              float8_ue4m3::nan_code == 0x7F && float8_ue4m3::bits == 7);

}  // namespace lowbit
