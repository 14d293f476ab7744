// lowbit/format/float4.hpp — 4-bit float (OCP MX v1.0 §5.3). No inf, no NaN.
//
// float4_e2m1fn  s.ee.m  bias 1   values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}
//   max = 1.5 · 2^2 = 6 (0x7), min subnormal 0.5, emax_pow2 = 2 (from 4, not 6)
// One code per byte in the low 4 bits; quantize/packed.hpp packs two per byte.
// Always saturating: ±inf and overflow -> ±6; NaN -> +6 (0x7), as CUDA.
#pragma once

#include "minifloat.hpp"

namespace lowbit {

struct float4_e2m1fn : minifloat<2, 1, 1, specials::none> {
  static constexpr const char* name = "e2m1fn";
};

static_assert(float4_e2m1fn::max_value == 6.0 && float4_e2m1fn::max_code == 0x7 &&
              float4_e2m1fn::min_positive == 0.5 && float4_e2m1fn::emax_pow2 == 2);

}  // namespace lowbit
