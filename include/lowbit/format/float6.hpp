// lowbit/format/float6.hpp — 6-bit floats (OCP MX v1.0 §5.3). No inf, no NaN.
//
// float6_e2m3fn  s.ee.mmm   bias 1   max = 1.875 · 2^2 = 7.5  (0x1F)  min subnormal 0.125
// float6_e3m2fn  s.eee.mm   bias 3   max = 1.75  · 2^4 = 28   (0x1F)  min subnormal 0.0625
// One code per byte in the low 6 bits (sign = bit 5). Always saturating: ±inf and overflow
// -> ±max; NaN -> +max (CUDA's choice; ml_dtypes gives ∓0 instead).
#pragma once

#include "minifloat.hpp"

namespace lowbit {

struct float6_e2m3fn : minifloat<2, 3, 1, specials::none> {
  static constexpr const char* name = "e2m3fn";
};
struct float6_e3m2fn : minifloat<3, 2, 3, specials::none> {
  static constexpr const char* name = "e3m2fn";
};

static_assert(float6_e2m3fn::max_value == 7.5 && float6_e2m3fn::max_code == 0x1F &&
              float6_e2m3fn::min_positive == 0.125 && float6_e2m3fn::emax_pow2 == 2);
static_assert(float6_e3m2fn::max_value == 28.0 && float6_e3m2fn::max_code == 0x1F &&
              float6_e3m2fn::min_positive == 0.0625 && float6_e3m2fn::emax_pow2 == 4);

}  // namespace lowbit
