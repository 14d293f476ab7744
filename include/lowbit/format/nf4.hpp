// lowbit/format/nf4.hpp — NormalFloat4, the bitsandbytes 16-value code book (QLoRA).
//
// Values (index 0..15) are normal quantiles scaled to [-1, 1], stored as the float32
// literals bitsandbytes uses: 7 negatives, an exact 0 (index 7) and 8 positives. A block is
// quantized as x / absmax(block) -> nearest code; dequantized as table[q] · absmax.
// encode: nearest value, a tie (x exactly on a midpoint) goes to the lower code, as
// bitsandbytes' decision tree (strict >). |x| > 1 saturates to ±1; NaN -> index 7 (zero).
// Only nearest rounding is defined for a code book.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "../rounding/nearest.hpp"
#include "traits.hpp"

namespace lowbit {

struct nf4 {
  using storage = std::uint8_t;
  static constexpr const char* name = "nf4";
  static constexpr format_kind kind = format_kind::codebook;
  static constexpr int bits = 4;
  static constexpr bool is_signed = true;
  static constexpr double max_value = 1.0;
  static constexpr double min_positive = 0.07958029955625534;
  static constexpr int zero_code = 7;
  static constexpr int emax_pow2 = 0;  // largest power of two in the code book: 1

  static LOWBIT_HOST_DEVICE float value(int i) {
    constexpr float table[16] = {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
    return table[i & 15];
  }

  static LOWBIT_HOST_DEVICE float decode(storage code) { return value(code); }

  template <class R, overflow>
  static LOWBIT_HOST_DEVICE storage encode(double x, std::uint32_t) {
    static_assert(std::is_same_v<R, round_nearest_even> || std::is_same_v<R, round_half_away>,
                  "lowbit: nf4 is a code book; only nearest rounding is defined (see lowbit/format/nf4.hpp)");
    if (std::isnan(x)) return zero_code;
    int q = 0;
    // Midpoints between neighbouring values, in double (exact for float values).
    for (int i = 0; i < 15; ++i) {
      const double mid = (double(value(i)) + double(value(i + 1))) * 0.5;
      if (x > mid) q = i + 1;
    }
    return storage(q);
  }
};

}  // namespace lowbit
