// lowbit/format/minifloat.hpp — the one generic encoder/decoder behind every float format.
//
// minifloat<E, M, Bias, Specials, Signed> describes a binary float with E exponent bits,
// M mantissa bits, the given bias and one of three special-value rules:
//   specials::ieee : exponent all-ones is inf (mantissa 0) or NaN (else)   e5m2 e3m4 fp16 bf16
//   specials::fn   : only the all-ones code (per sign) is NaN, no inf      e4m3fn ue4m3
//   specials::none : every code is finite                                  e3m2fn e2m3fn e2m1fn
// Value of a code (s, e, m):  e == 0 : (-1)^s · m · 2^(1-bias-M)           (subnormal)
//                             e  > 0 : (-1)^s · (2^M + m) · 2^(e-bias-M)
// The named formats (float8.hpp, float6.hpp, float4.hpp, scale.hpp, half.hpp) are aliases
// of this template plus the choices below that no spec fixes, taken to match CUDA:
//   NaN input  -> nan_code (positive; CUDA's float paths drop the sign, its double paths and
//                 ml_dtypes keep it) or +max where there is no NaN (ml_dtypes gives ∓0)
//   ±inf input -> ±max (saturate) or the format's rule (propagate, see overflow)
//   negative input to an unsigned format -> 0 (saturate) or NaN (propagate); -0 -> 0
//   -0 and values that round to zero keep their sign (0x80 for e4m3fn).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../config.hpp"
#include "traits.hpp"

namespace lowbit {

enum class specials { ieee, fn, none };

namespace detail {
// 2^k as a constant expression (std::ldexp is not constexpr before C++23).
constexpr double pow2(int k) {
  double p = 1.0;
  for (; k > 0; --k) p *= 2.0;
  for (; k < 0; ++k) p *= 0.5;
  return p;
}

// 2^k for -1022 <= k <= 1023, built from its bits: exact and cheaper than std::ldexp.
LOWBIT_HOST_DEVICE inline double exp2i(int k) {
  const std::uint64_t bits = std::uint64_t(k + 1023) << 52;
  double p;
  std::memcpy(&p, &bits, sizeof p);
  return p;
}

// floor(log2(a)) for a normal double a > 0 (its unbiased exponent field); -1023 for 0 and
// subnormal doubles, which lie below every lowbit format's smallest binade.
LOWBIT_HOST_DEVICE inline int floor_log2(double a) {
  std::uint64_t bits;
  std::memcpy(&bits, &a, sizeof bits);
  return int((bits >> 52) & 0x7FF) - 1023;
}
}  // namespace detail

template <int E, int M, int Bias, specials Sp, bool Signed = true>
struct minifloat {
  static_assert(E >= 1 && M >= 0 && E + M + (Signed ? 1 : 0) <= 16,
                "lowbit: minifloat supports at most 16 bits (see lowbit/format/minifloat.hpp)");

  using storage = std::conditional_t<(E + M + (Signed ? 1 : 0) <= 8), std::uint8_t, std::uint16_t>;
  static constexpr format_kind kind = format_kind::minifloat;
  static constexpr int exponent_bits = E;
  static constexpr int mantissa_bits = M;
  static constexpr int bias = Bias;
  static constexpr specials special_rule = Sp;
  static constexpr bool is_signed = Signed;
  static constexpr int bits = E + M + (Signed ? 1 : 0);
  static constexpr bool has_inf = Sp == specials::ieee;
  static constexpr bool has_nan = Sp != specials::none;

  static constexpr unsigned sign_mask = Signed ? (1u << (E + M)) : 0u;
  static constexpr unsigned magnitude_mask = (1u << (E + M)) - 1u;
  static constexpr int exponent_all_ones = (1 << E) - 1;
  static constexpr int min_exponent = 1 - Bias;  // exponent of the smallest normal

  // Largest finite code and value: ieee stops one binade below all-ones exponent; fn loses
  // the single all-ones code to NaN; none uses every code.
  static constexpr unsigned max_code =
      Sp == specials::ieee ? ((unsigned(exponent_all_ones - 1) << M) | ((1u << M) - 1u))
      : Sp == specials::fn ? (magnitude_mask - 1u)
                           : magnitude_mask;
  static constexpr int max_exponent = int(max_code >> M) - Bias;  // emax of the largest binade
  static constexpr double max_value =
      double((1u << M) + (max_code & ((1u << M) - 1u))) * detail::pow2(max_exponent - M);
  static constexpr double min_normal = detail::pow2(min_exponent);
  static constexpr double min_positive = detail::pow2(min_exponent - M);  // smallest subnormal
  // Exponent of the largest power of two in the format (the OCP MX emax_elem).
  static constexpr int emax_pow2 = max_exponent;

  static constexpr unsigned nan_code = !has_nan ? max_code
                                       : Sp == specials::fn ? magnitude_mask
                                       : M >= 1 && E + M + 1 > 8
                                           ? ((unsigned(exponent_all_ones) << M) | (1u << (M - 1)))  // fp16/bf16 quiet NaN
                                           : magnitude_mask;  // 8-bit: all ones, as CUDA
  static constexpr unsigned inf_code = has_inf ? (unsigned(exponent_all_ones) << M) : max_code;

  static LOWBIT_HOST_DEVICE float decode(storage code) {
    const unsigned c = code;
    const bool neg = (c & sign_mask) != 0;
    const unsigned mag = c & magnitude_mask;
    const int e = int(mag >> M);
    const unsigned m = mag & ((1u << M) - 1u);
    float v;
    if (Sp == specials::ieee && e == exponent_all_ones) {
      v = m == 0 ? INFINITY : NAN;
    } else if (Sp == specials::fn && mag == magnitude_mask) {
      v = NAN;
    } else if (e == 0) {
      v = std::ldexp(float(m), min_exponent - M);
    } else {
      v = std::ldexp(float((1u << M) + m), e - Bias - M);
    }
    return neg ? -v : v;
  }

  template <class R, overflow Ov>
  static LOWBIT_HOST_DEVICE storage encode(double x, std::uint32_t random_bits) {
    if (std::isnan(x)) return storage(nan_code);
    const bool neg = std::signbit(x);
    if (!Signed && neg) {
      if (x == 0.0) return 0;
      return storage(Ov == overflow::propagate && has_nan ? nan_code : 0u);
    }
    const unsigned sign = neg ? sign_mask : 0u;
    if (std::isinf(x)) return storage(sign | overflow_code<Ov>());

    const double a = std::fabs(x);
    // From 2^(max_exponent+1) up, every rounding lands above max_value. Returning early also
    // keeps the scale factors below normal doubles, so the scalings are exact.
    if (a >= detail::pow2(max_exponent + 1)) return storage(sign | overflow_code<Ov>());
    // The binade of a, or the subnormal binade: ulp(a) = 2^(e-M).
    const int fl = detail::floor_log2(a);
    int e = fl > min_exponent ? fl : min_exponent;
    // Round x / ulp to an integer: the significand in units of the last place.
    const double r = std::fabs(R::apply(x * detail::exp2i(M - e), random_bits));
    if (r * detail::exp2i(e - M) > max_value) return storage(sign | overflow_code<Ov>());
    unsigned m = unsigned(r);
    if (m >= (2u << M)) {  // rounding carried into the next binade
      m >>= 1;
      ++e;
    }
    if (m < (1u << M)) return storage(sign | m);  // subnormal or zero (e == min_exponent)
    return storage(sign | (unsigned(e + Bias) << M) | (m - (1u << M)));
  }

 private:
  template <overflow Ov>
  static LOWBIT_HOST_DEVICE constexpr unsigned overflow_code() {
    if (Ov == overflow::saturate || !has_nan) return max_code;
    return has_inf ? inf_code : magnitude_mask;  // fn: the NaN code, sign kept (as CUDA NOSAT)
  }
};

}  // namespace lowbit
