// lowbit/format/half.hpp — IEEE binary16 and bfloat16 as lowbit formats (for scales/inputs).
//
// float16_format   s.eeeee.mmmmmmmmmm  bias 15   max 65504, min subnormal 2^-24
// bfloat16_format  s.eeeeeeee.mmmmmmm  bias 127  max ≈ 3.39e38, min subnormal 2^-133
// IEEE inf/NaN; NaN input -> the positive quiet NaN (0x7E00 / 0x7FC0). Use
// overflow::propagate for an IEEE cast (overflow -> inf), saturate for a clamping one.
// Values convert to and from Eigen::half / Eigen::bfloat16 by their bit patterns.
#pragma once

#include <Eigen/Core>

#include "minifloat.hpp"

namespace lowbit {

struct float16_format : minifloat<5, 10, 15, specials::ieee> {
  static constexpr const char* name = "fp16";
};
struct bfloat16_format : minifloat<8, 7, 127, specials::ieee> {
  static constexpr const char* name = "bf16";
};

static_assert(float16_format::max_value == 65504.0 && float16_format::nan_code == 0x7E00 &&
              float16_format::min_positive == 0x1p-24);
static_assert(bfloat16_format::nan_code == 0x7FC0 && bfloat16_format::min_positive == 0x1p-133);

inline Eigen::half to_half(std::uint16_t code) { return Eigen::numext::bit_cast<Eigen::half>(code); }
inline Eigen::bfloat16 to_bfloat16(std::uint16_t code) {
  return Eigen::numext::bit_cast<Eigen::bfloat16>(code);
}

}  // namespace lowbit
