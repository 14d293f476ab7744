// lowbit/format/traits.hpp — the Format concept, shared by every number format.
//
// A format is an empty tag type F (a "spec card") with
//   using storage = uint8_t | uint16_t;          // one code per element, low `bits` bits used
//   static constexpr int bits;                   // significant bits of a code
//   static constexpr format_kind kind;           // integer, minifloat, power_of_two, codebook
//   static constexpr bool is_signed;
//   static constexpr double max_value;           // largest finite value
//   static constexpr double min_positive;        // smallest positive value (subnormal if any)
//   static LOWBIT_HOST_DEVICE float decode(storage code);
//   template <class Rounding, overflow Ov>
//   static LOWBIT_HOST_DEVICE storage encode(double x, uint32_t random_bits);
// Encoding is one rounding of the exact input (float, double, bf16 and fp16 inputs widen
// exactly to double first), so there is never double rounding.
//
// Use the free functions lowbit::encode / lowbit::decode below rather than the members.
#pragma once

#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "../rounding/nearest.hpp"
#include "../rounding/traits.hpp"

namespace lowbit {

enum class format_kind { integer, minifloat, power_of_two, codebook };

// What a finite value beyond max_value (after rounding), or ±inf, becomes.
//   saturate  : ±max_value (the default for quantization; CUDA __NV_SATFINITE)
//   propagate : the format's own rule — ±inf where it has inf (e5m2, e3m4, fp16, bf16), NaN
//               where it has only NaN (e4m3fn, ue4m3, e8m0), ±max where it has neither
//               (fp6, fp4, integers). Matches CUDA __NV_NOSAT and ml_dtypes' default cast.
//               "Beyond max after rounding" holds for every rounding direction, as in
//               ml_dtypes' truncating cast: toward zero, 500 -> 480 > 448 is e4m3fn NaN
//               (IEEE 754 would give 448; saturate does).
enum class overflow { saturate, propagate };

template <class F, class = void>
struct is_format : std::false_type {};
template <class F>
struct is_format<F, std::void_t<typename F::storage, decltype(F::bits), decltype(F::kind),
                                decltype(F::max_value), decltype(F::decode(typename F::storage{}))>>
    : std::true_type {};
template <class F>
inline constexpr bool is_format_v = is_format<F>::value;

#if defined(LOWBIT_HAS_CONCEPTS)
template <class F>
concept Format = is_format_v<F>;
#endif

// Encode x into format F. Rounding R (default nearest-even), overflow policy Ov (default
// saturate). random_bits feed stochastic rounding (see rounding/stochastic.hpp).
template <class F, class R = round_nearest_even, overflow Ov = overflow::saturate, class T>
LOWBIT_HOST_DEVICE typename F::storage encode(T x, std::uint32_t random_bits = 0) {
  static_assert(is_format_v<F>, "lowbit: F is not a number format (see lowbit/format/traits.hpp)");
  static_assert(is_rounding_v<R>, "lowbit: R is not a rounding policy (see lowbit/rounding/traits.hpp)");
  // float, double and integers widen exactly; bf16/fp16 (Eigen::bfloat16, Eigen::half) go
  // through float, which is exact for them too.
  double v;
  if constexpr (std::is_arithmetic_v<T>) v = static_cast<double>(x);
  else v = static_cast<double>(static_cast<float>(x));
  return F::template encode<R, Ov>(v, random_bits);
}

// Decode a code of format F to float (exact: every lowbit format is a subset of float).
template <class F>
LOWBIT_HOST_DEVICE float decode(typename F::storage code) {
  static_assert(is_format_v<F>, "lowbit: F is not a number format (see lowbit/format/traits.hpp)");
  return F::decode(code);
}

}  // namespace lowbit
