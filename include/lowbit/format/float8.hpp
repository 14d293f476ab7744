// lowbit/format/float8.hpp — 8-bit floats (OCP OFP8 v1.0; e3m4 as in ml_dtypes).
//
// float8_e4m3fn  s.eeee.mmm  bias 7   no inf; NaN = s.1111.111 (0x7F/0xFF)
//   max   = 1.75 · 2^8  = 448      (0x7E)     min normal 2^-6, min subnormal 2^-9
// float8_e5m2    s.eeeee.mm  bias 15  IEEE-style: inf = s.11111.00, NaN = s.11111.{01,10,11}
//   max   = 1.75 · 2^15 = 57344    (0x7B)     min normal 2^-14, min subnormal 2^-16
// float8_e3m4    s.eee.mmmm  bias 3   IEEE-style (ml_dtypes' variant): inf 0x70, NaN exp=111,m≠0
//   max   = 1.9375 · 2^3 = 15.5    (0x6F)     min normal 2^-2, min subnormal 2^-6
// Encoding (format/minifloat.hpp): one rounding of the exact input; NaN -> 0x7F (ml_dtypes
// keeps the sign, and uses 0x7E for e5m2, 0x78 for e3m4); overflow and
// ±inf -> ±max under overflow::saturate, the format's NaN/inf under overflow::propagate
// (e4m3fn: 464 rounds to 448, above 464 is NaN; e5m2: 61440 and above is inf).
#pragma once

#include "minifloat.hpp"

namespace lowbit {

struct float8_e4m3fn : minifloat<4, 3, 7, specials::fn> {
  static constexpr const char* name = "e4m3fn";
};
struct float8_e5m2 : minifloat<5, 2, 15, specials::ieee> {
  static constexpr const char* name = "e5m2";
};
struct float8_e3m4 : minifloat<3, 4, 3, specials::ieee> {
  static constexpr const char* name = "e3m4";
};

static_assert(float8_e4m3fn::max_value == 448.0 && float8_e4m3fn::max_code == 0x7E &&
              float8_e4m3fn::min_positive == 0x1p-9 && float8_e4m3fn::emax_pow2 == 8);
static_assert(float8_e5m2::max_value == 57344.0 && float8_e5m2::max_code == 0x7B &&
              float8_e5m2::min_positive == 0x1p-16 && float8_e5m2::emax_pow2 == 15 &&
              float8_e5m2::inf_code == 0x7C);
static_assert(float8_e3m4::max_value == 15.5 && float8_e3m4::max_code == 0x6F &&
              float8_e3m4::min_positive == 0x1p-6 && float8_e3m4::inf_code == 0x70);

}  // namespace lowbit
