// lowbit/kernel/cast.hpp — encode / decode whole arrays, with xsimd where it pays.
//
//   kernel::encode_array<F, R = round_nearest_even, Ov = overflow::saturate>(in, out, n)
//   kernel::encode_array<F, R, Ov>(in, out, n, seed, first_index = 0)    stochastic rounding
//   kernel::decode_array<F>(in, out, n)
//
// out[i] == lowbit::encode<F, R, Ov>(in[i]) and out[i] == lowbit::decode<F>(in[i]), bit for
// bit, for every input (NaN, ±inf, -0, subnormals included): the scalar code is the
// specification and tests/kernel/cast_test.cpp holds the kernels to it. `in` may be float,
// double, Eigen::bfloat16 or Eigen::half; one code per element of F::storage (sub-byte codes
// one per byte: quantize/packed.hpp packs them). With a seed, element i of a stochastic
// rounding gets stochastic_bits(seed, first_index + i): a chunked or multi-threaded caller
// passes each chunk's first index and gets the same codes as one call over the whole array.
//
// Which path runs (simd_encode_v / simd_decode_v say so at compile time):
//   encode, SIMD  float (bf16 and fp16 widen to float first) into a signed minifloat of at
//                 most 8 bits (e4m3fn, e5m2, e3m4, e2m3fn, e3m2fn, e2m1fn) or an integer
//                 format (int8, uint8, int4, ...), rounding nearest-even, half-away, toward
//                 zero, down or up, either overflow policy;
//   encode, scalar everything else (double input, stochastic rounding, ue4m3, e8m0, nf4,
//                 fp16/bf16 outputs), one lowbit::encode per element;
//   decode, SIMD  any minifloat or integer format stored in a byte, by bit arithmetic;
//   decode, table other byte formats (e8m0, nf4): a 256-entry table built from the scalar
//                 decode; 16-bit formats: the scalar decode.
// The SIMD arithmetic is integer or exact float arithmetic only (or, for nearest-even, float
// operations with an explicit rounding: simd.hpp), so results do not depend on the
// floating-point environment (rounding mode, FTZ/DAZ).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <Eigen/Core>
#include <xsimd/xsimd.hpp>

#include "../format/int.hpp"
#include "../format/minifloat.hpp"
#include "../format/traits.hpp"
#include "../rounding/directed.hpp"
#include "../rounding/nearest.hpp"
#include "../rounding/stochastic.hpp"
#include "simd.hpp"

namespace lowbit {

namespace kernel::cast_detail {

using arch = xsimd::default_arch;
inline constexpr bool have_simd = !std::is_same_v<arch, xsimd::unavailable>;

// Which generic template a named format derives from (float8_e4m3fn : minifloat<4, 3, 7, fn>).
struct not_minifloat {
  static constexpr bool value = false, is_signed = false;
  static constexpr int bits = 0;
};
template <int E, int M, int Bias, specials Sp, bool Signed>
struct minifloat_params {
  static constexpr bool value = true, is_signed = Signed;
  static constexpr int bits = E + M + (Signed ? 1 : 0);
};
template <int E, int M, int Bias, specials Sp, bool Signed>
minifloat_params<E, M, Bias, Sp, Signed> minifloat_base(const minifloat<E, M, Bias, Sp, Signed>*);
not_minifloat minifloat_base(const void*);
template <int B, bool Signed>
std::true_type integer_base(const integer<B, Signed>*);
std::false_type integer_base(const void*);
template <class F>
using minifloat_of = decltype(minifloat_base(static_cast<const F*>(nullptr)));
template <class F>
using integer_of = decltype(integer_base(static_cast<const F*>(nullptr)));

template <class F>
inline constexpr bool is_byte_minifloat = minifloat_of<F>::value && minifloat_of<F>::bits <= 8;
template <class F>
inline constexpr bool is_byte_integer = integer_of<F>::value;

template <class R>
inline constexpr bool is_simd_rounding =
    std::is_same_v<R, round_nearest_even> || std::is_same_v<R, round_half_away> ||
    std::is_same_v<R, round_toward_zero> || std::is_same_v<R, round_down> || std::is_same_v<R, round_up>;

}  // namespace kernel::cast_detail

namespace kernel {

// True when encode_array<F, R> runs the SIMD kernel on float input.
template <class F, class R = round_nearest_even>
inline constexpr bool simd_encode_v =
    cast_detail::have_simd && cast_detail::is_simd_rounding<R> &&
    ((cast_detail::is_byte_minifloat<F> && cast_detail::minifloat_of<F>::is_signed) ||
     cast_detail::is_byte_integer<F>);

// True when decode_array<F> runs the SIMD kernel.
template <class F>
inline constexpr bool simd_decode_v =
    cast_detail::have_simd && (cast_detail::is_byte_minifloat<F> || cast_detail::is_byte_integer<F>);

// GCC 12 reports -Wuninitialized inside its own avx512fintrin.h (the _mm512_undefined_*
// pass-through operands) once these kernels inline xsimd's AVX-512 shifts and min/max: GCC
// bug 105593, a false positive, fixed in GCC 13. Silenced for the kernels only.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define LOWBIT_CAST_GCC12_PRAGMAS 1
#endif

namespace cast_detail {

using f32x = xsimd::batch<float, arch>;
using i32x = xsimd::batch<std::int32_t, arch>;
using b32x = xsimd::batch_bool<std::int32_t, arch>;

inline i32x bits_of(const f32x& x) { return xsimd::bitwise_cast<i32x>(x); }
inline f32x float_of(const i32x& x) { return xsimd::bitwise_cast<f32x>(x); }

// ---- float -> minifloat -------------------------------------------------------------------
//
// On the float's bits. |x| = mant · 2^(e - 23) with mant the 24-bit significand (implicit bit
// included; float denormals have none and e = -126). The format's ulp is 2^(max(e, emin) - M),
// so the code's significand is q = round(mant / 2^s) with s = 23 - M + max(emin - e, 0):
// an integer rounding by a shift, the bias term deciding the direction:
//   nearest even : 2^(s-1) - 1 + (lowest kept bit)     half away : 2^(s-1)
//   toward zero  : 0      down / up : 2^s - 1 when that moves away from zero for this sign.
// Shifts are capped at 25: mant < 2^24, so any larger shift rounds the same way.
// Normal range (e >= emin): code = ((e + Bias - 1) << M) + q; q's leading 1 completes the
// exponent field and a carry out of the significand moves to the next binade by itself.
// Subnormal range: code = q (q = 2^M is the smallest normal, also by itself). Codes ascend
// with magnitude, so overflow is code > max_code (this also catches ±inf, whose exponent is
// 128). NaN -> nan_code without sign, as the scalar encoder.
template <class F, class R, overflow Ov>
inline i32x encode_minifloat(const f32x& x) {
  constexpr int M = F::mantissa_bits;
  constexpr int emin_biased = F::min_exponent + 127;  // the float exponent field of 2^emin
  const i32x u = bits_of(x);
  const b32x neg = u < i32x(0);
  const i32x a = u & i32x(0x7FFFFFFF);
  const i32x ex = a >> 23;                            // float exponent field, 0..255
  const i32x exf = xsimd::max(ex, i32x(1));           // denormals: the exponent of 2^-126
  const i32x mant = (a & i32x(0x7FFFFF)) | (xsimd::min(ex, i32x(1)) << 23);
  const i32x below = i32x(emin_biased) - exf;         // binades below the smallest normal
  const i32x s = xsimd::min(xsimd::max(below, i32x(0)) + i32x(23 - M), i32x(25));
  const i32x one = i32x(1) << s;                      // 2^s: one unit of the code
  i32x bias;
  if constexpr (std::is_same_v<R, round_nearest_even>) bias = (one >> 1) - i32x(1) + ((mant >> s) & i32x(1));
  else if constexpr (std::is_same_v<R, round_half_away>) bias = one >> 1;
  else if constexpr (std::is_same_v<R, round_toward_zero>) bias = i32x(0);
  else if constexpr (std::is_same_v<R, round_down>) bias = xsimd::select(neg, one - i32x(1), i32x(0));
  else bias = xsimd::select(neg, i32x(0), one - i32x(1));  // round_up
  const i32x q = (mant + bias) >> s;
  const i32x exponent_part = (exf + i32x(F::bias - 128)) << M;  // (e + Bias - 1) << M
  i32x code = q + xsimd::select(below <= i32x(0), exponent_part, i32x(0));
  // Overflow: the same code the scalar encoder's overflow_code<Ov>() gives.
  constexpr unsigned ovf = (Ov == overflow::saturate || !F::has_nan) ? F::max_code
                           : F::has_inf                              ? F::inf_code
                                                                     : F::magnitude_mask;
  code = xsimd::select(code > i32x(int(F::max_code)), i32x(int(ovf)), code);
  code = code | xsimd::select(neg, i32x(int(F::sign_mask)), i32x(0));
  return xsimd::select(a > i32x(0x7F800000), i32x(int(F::nan_code)), code);
}

// ---- float -> integer ---------------------------------------------------------------------
//
// Clamp to [min, max] first (both integers, so clamping and rounding commute for every
// monotone rounding), then t = trunc(c) and the exact remainder d = c - t in (-1, 1) decide.
// NaN -> 0. All in float arithmetic on small integers, exact.
template <class F, class R>
inline i32x encode_integer(const f32x& x) {
  const f32x c = xsimd::min(xsimd::max(x, f32x(float(F::min_value))), f32x(float(F::max_value)));
  const i32x ti = xsimd::to_int(c);  // truncates toward zero
  const f32x t = xsimd::to_float(ti);
  const f32x d = c - t;
  const f32x one(1.0f), zero(0.0f), half(0.5f);
  f32x adj;
  if constexpr (std::is_same_v<R, round_nearest_even>) {
    const auto odd = xsimd::to_float(ti & i32x(1)) == one;
    adj = xsimd::select((d > half) | ((d == half) & odd), one, zero) -
          xsimd::select((d < -half) | ((d == -half) & odd), one, zero);
  } else if constexpr (std::is_same_v<R, round_half_away>) {
    adj = xsimd::select(d >= half, one, zero) - xsimd::select(d <= -half, one, zero);
  } else if constexpr (std::is_same_v<R, round_toward_zero>) {
    adj = zero;
  } else if constexpr (std::is_same_v<R, round_down>) {
    adj = -xsimd::select(d < zero, one, zero);
  } else {  // round_up
    adj = xsimd::select(d > zero, one, zero);
  }
  const f32x r = xsimd::select(xsimd::isnan(x), zero, t + adj);  // NaN -> 0
  return xsimd::to_int(r) & i32x(int(F::code_mask));
}

// ---- minifloat / integer code -> float -----------------------------------------------------
//
// Normal codes: the code's exponent and mantissa fields moved into a float's, the exponent
// re-biased by 127 - Bias (exact). Subnormal codes: m · 2^(1 - Bias - M), an exact float
// product. Then the specials (ieee: all-ones exponent is inf or NaN; fn: the all-ones
// magnitude is NaN) and the sign bit; bits above F::bits are ignored, as in the scalar code.
template <class F>
inline f32x decode_minifloat(const i32x& c) {
  constexpr int M = F::mantissa_bits;
  const i32x mag = c & i32x(int(F::magnitude_mask));
  const i32x e = mag >> M;
  const i32x normal = (mag << (23 - M)) + i32x((127 - F::bias) << 23);
  const f32x sub = xsimd::to_float(mag) * f32x(float(::lowbit::detail::pow2(F::min_exponent - M)));
  i32x v = xsimd::select(e == i32x(0), bits_of(sub), normal);
  constexpr std::int32_t qnan = 0x7FC00000, inf = 0x7F800000;
  if constexpr (F::special_rule == specials::ieee) {
    const i32x special = xsimd::select(mag == i32x(int(F::exponent_all_ones) << M), i32x(inf), i32x(qnan));
    v = xsimd::select(e == i32x(F::exponent_all_ones), special, v);
  } else if constexpr (F::special_rule == specials::fn) {
    v = xsimd::select(mag == i32x(int(F::magnitude_mask)), i32x(qnan), v);
  }
  if constexpr (F::is_signed) {
    constexpr int sign_shift = 31 - (F::exponent_bits + M);  // the code's sign bit to bit 31
    v = v | ((c & i32x(int(F::sign_mask))) << sign_shift);
  }
  return float_of(v);
}

template <class F>
inline f32x decode_integer(const i32x& c) {
  constexpr int up = 32 - F::bits;
  const i32x v = F::is_signed ? ((c << up) >> up)  // sign-extend the low B bits
                              : (c & i32x(int(F::code_mask)));
  return xsimd::to_float(v);
}

// ---- array drivers ------------------------------------------------------------------------

constexpr std::size_t lanes = f32x::size;

// Nearest-even (saturating, for minifloats): the quantize kernels' encoders of simd.hpp, which
// take fewer instructions (measured 4-25x faster than the general encoders above, whose
// per-lane variable shifts xsimd 8 does not vectorise); NaN -> 0 for integers, as the scalar code.
template <class F, class R, overflow Ov>
inline i32x encode_batch(const f32x& x) {
  if constexpr (is_byte_integer<F> && std::is_same_v<R, round_nearest_even>)
    return xsimd::select(xsimd::bool_cast(xsimd::isnan(x)), i32x(0), simd::encode_integer<F, arch>(x));
  else if constexpr (is_byte_integer<F>) return encode_integer<F, R>(x);
  else if constexpr (std::is_same_v<R, round_nearest_even> && Ov == overflow::saturate)
    return simd::encode_minifloat<F, arch>(x);
  else return encode_minifloat<F, R, Ov>(x);
}

template <class F, class R, overflow Ov>
void encode_floats_simd(const float* in, std::uint8_t* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) encode_batch<F, R, Ov>(f32x::load_unaligned(in + i)).store_unaligned(out + i);
  if (i < n) {  // the tail goes through the same kernel, padded with zeros
    alignas(64) float x[lanes] = {};
    alignas(64) std::uint8_t y[lanes];
    std::copy(in + i, in + n, x);
    encode_batch<F, R, Ov>(f32x::load_aligned(x)).store_unaligned(y);
    std::copy(y, y + (n - i), out + i);
  }
}

template <class F>
inline f32x decode_batch(const i32x& c) {
  if constexpr (is_byte_integer<F>) return decode_integer<F>(c);
  else return decode_minifloat<F>(c);
}

template <class F>
void decode_bytes_simd(const std::uint8_t* in, float* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) decode_batch<F>(i32x::load_unaligned(in + i)).store_unaligned(out + i);
  if (i < n) {
    alignas(64) std::uint8_t c[lanes] = {};
    alignas(64) float y[lanes];
    std::copy(in + i, in + n, c);
    decode_batch<F>(i32x::load_unaligned(c)).store_aligned(y);
    std::copy(y, y + (n - i), out + i);
  }
}

// The scalar decode of every byte, built once per format.
template <class F>
const std::array<float, 256>& decode_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (unsigned c = 0; c < 256; ++c) t[c] = F::decode(typename F::storage(c));
    return t;
  }();
  return table;
}

}  // namespace cast_detail

#if defined(LOWBIT_CAST_GCC12_PRAGMAS)
#pragma GCC diagnostic pop
#undef LOWBIT_CAST_GCC12_PRAGMAS
#endif

// Encodes n values into codes of F. Deterministic rounding only (see the seeded overload).
template <class F, class R = round_nearest_even, overflow Ov = overflow::saturate, class T>
void encode_array(const T* in, typename F::storage* out, std::size_t n) {
  static_assert(is_format_v<F>, "lowbit: F is not a number format (see lowbit/format/traits.hpp)");
  static_assert(!R::is_stochastic,
                "lowbit: stochastic rounding needs a seed: encode_array<F, R, Ov>(in, out, n, seed, first_index) "
                "(see lowbit/kernel/cast.hpp)");
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Eigen::bfloat16> ||
                    std::is_same_v<T, Eigen::half>,
                "lowbit: encode_array reads float, double, Eigen::bfloat16 or Eigen::half (see lowbit/kernel/cast.hpp)");
  if constexpr (simd_encode_v<F, R> && std::is_same_v<T, float>) {
    cast_detail::encode_floats_simd<F, R, Ov>(in, out, n);
  } else if constexpr (simd_encode_v<F, R> && !std::is_same_v<T, double>) {
    // bf16 / fp16: widen a chunk to float (exact), then the float kernel.
    constexpr std::size_t chunk = 1024;
    float buf[chunk];
    for (std::size_t i = 0; i < n; i += chunk) {
      const std::size_t m = std::min(chunk, n - i);
      for (std::size_t j = 0; j < m; ++j) buf[j] = static_cast<float>(in[i + j]);
      cast_detail::encode_floats_simd<F, R, Ov>(buf, out + i, m);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = ::lowbit::encode<F, R, Ov>(in[i]);
  }
}

// Encodes n values with stochastic rounding (or any rounding): element i uses the random
// bits stochastic_bits(seed, first_index + i), so the result does not depend on how a caller
// splits the array between calls or threads. Scalar per element.
template <class F, class R, overflow Ov = overflow::saturate, class T>
void encode_array(const T* in, typename F::storage* out, std::size_t n, std::uint64_t seed,
                  std::uint64_t first_index = 0) {
  static_assert(is_format_v<F>, "lowbit: F is not a number format (see lowbit/format/traits.hpp)");
  if constexpr (!R::is_stochastic) {
    encode_array<F, R, Ov>(in, out, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = ::lowbit::encode<F, R, Ov>(in[i], ::lowbit::stochastic_bits(seed, first_index + i));
  }
}

// Decodes n codes of F to float.
template <class F>
void decode_array(const typename F::storage* in, float* out, std::size_t n) {
  static_assert(is_format_v<F>, "lowbit: F is not a number format (see lowbit/format/traits.hpp)");
  if constexpr (simd_decode_v<F>) {
    cast_detail::decode_bytes_simd<F>(in, out, n);
  } else if constexpr (sizeof(typename F::storage) == 1) {
    const std::array<float, 256>& t = cast_detail::decode_table<F>();
    for (std::size_t i = 0; i < n; ++i) out[i] = t[in[i]];
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = ::lowbit::decode<F>(in[i]);
  }
}

}  // namespace kernel
}  // namespace lowbit
