// lowbit/format/int.hpp — two's complement and unsigned integers of 2..8 bits.
//
// integer<B, true>  : values -2^(B-1) .. 2^(B-1)-1   int8 [-128,127], int4 [-8,7], int2 [-2,1]
// integer<B, false> : values 0 .. 2^B-1               uint8 [0,255], uint4 [0,15], uint2 [0,3]
// A code holds the value's low B bits (two's complement for signed) in one byte;
// quantize/packed.hpp packs sub-byte codes. encode(x) = clamp(R(x), min, max): integers have
// no inf or NaN, so both overflow policies saturate and NaN encodes as 0 (as CUDA
// cvt.rni.sat.s8.f32). Symmetric "narrow range" ([-127,127]) is the quantizer's mapping
// choice, not a format.
#pragma once

#include <cmath>
#include <cstdint>

#include "../config.hpp"
#include "traits.hpp"

namespace lowbit {

template <int B, bool Signed>
struct integer {
  static_assert(B >= 1 && B <= 8, "lowbit: integer formats have 1..8 bits (see lowbit/format/int.hpp)");
  using storage = std::uint8_t;
  static constexpr format_kind kind = format_kind::integer;
  static constexpr int bits = B;
  static constexpr bool is_signed = Signed;
  static constexpr int min_int = Signed ? -(1 << (B - 1)) : 0;
  static constexpr int max_int = Signed ? (1 << (B - 1)) - 1 : (1 << B) - 1;
  static constexpr double max_value = max_int;
  static constexpr double min_value = min_int;
  static constexpr double min_positive = 1.0;
  static constexpr unsigned code_mask = (1u << B) - 1u;
  // Exponent of the largest power of two <= max_int (6 for int8: MXINT8's implicit 2^-6).
  static constexpr int emax_pow2 = max_int >= 128 ? 7 : max_int >= 64 ? 6 : max_int >= 32 ? 5 : max_int >= 16 ? 4
                                 : max_int >= 8 ? 3 : max_int >= 4 ? 2 : max_int >= 2 ? 1 : 0;

  // Integer value of a code (sign-extends the low B bits).
  static LOWBIT_HOST_DEVICE int to_int(storage code) {
    int v = int(code & code_mask);
    if (Signed && v > max_int) v -= (1 << B);
    return v;
  }
  static LOWBIT_HOST_DEVICE storage from_int(int v) { return storage(unsigned(v) & code_mask); }

  static LOWBIT_HOST_DEVICE float decode(storage code) { return float(to_int(code)); }

  template <class R, overflow>
  static LOWBIT_HOST_DEVICE storage encode(double x, std::uint32_t random_bits) {
    if (std::isnan(x)) return 0;
    // Clamp first so huge values stay exact in R::apply; the clamp bounds are integers.
    const double c = x < min_value - 1.0 ? min_value - 1.0 : (x > max_value + 1.0 ? max_value + 1.0 : x);
    double r = R::apply(c, random_bits);
    r = r < min_value ? min_value : (r > max_value ? max_value : r);
    return from_int(int(r));
  }
};

struct int8 : integer<8, true> { static constexpr const char* name = "int8"; };
struct uint8 : integer<8, false> { static constexpr const char* name = "uint8"; };
struct int4 : integer<4, true> { static constexpr const char* name = "int4"; };
struct uint4 : integer<4, false> { static constexpr const char* name = "uint4"; };
struct int3 : integer<3, true> { static constexpr const char* name = "int3"; };
struct uint3 : integer<3, false> { static constexpr const char* name = "uint3"; };
struct int2 : integer<2, true> { static constexpr const char* name = "int2"; };
struct uint2 : integer<2, false> { static constexpr const char* name = "uint2"; };

}  // namespace lowbit
