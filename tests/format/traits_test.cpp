// Proof of lowbit/format/traits.hpp: every format satisfies the Format concept, the free
// encode() widens every input type exactly (one rounding), and decode() is exact.
#include <lowbit/lowbit.hpp>

#include "format_oracle.hpp"

using namespace lowbit;
using namespace lowbit_test;

TEST_CASE("format/traits: every lowbit format is a Format, other types are not") {
  CHECK(is_format_v<float8_e4m3fn>);
  CHECK(is_format_v<float8_e5m2>);
  CHECK(is_format_v<float8_e3m4>);
  CHECK(is_format_v<float6_e2m3fn>);
  CHECK(is_format_v<float6_e3m2fn>);
  CHECK(is_format_v<float4_e2m1fn>);
  CHECK(is_format_v<float8_e8m0fnu>);
  CHECK(is_format_v<float8_ue4m3>);
  CHECK(is_format_v<float16_format>);
  CHECK(is_format_v<bfloat16_format>);
  CHECK(is_format_v<lowbit::int8>);
  CHECK(is_format_v<lowbit::uint2>);
  CHECK(is_format_v<nf4>);
  CHECK_FALSE(is_format_v<float>);
  CHECK_FALSE(is_format_v<round_nearest_even>);
  CHECK(is_rounding_v<round_stochastic>);
  CHECK_FALSE(is_rounding_v<float8_e4m3fn>);
#if defined(LOWBIT_HAS_CONCEPTS)
  CHECK(Format<float8_e4m3fn>);
  CHECK_FALSE(Format<double>);
  CHECK(Rounding<round_up>);
#endif
  CHECK(float8_e4m3fn::kind == format_kind::minifloat);
  CHECK(float8_e8m0fnu::kind == format_kind::power_of_two);
  CHECK(lowbit::int4::kind == format_kind::integer);
  CHECK(nf4::kind == format_kind::codebook);
}

TEST_CASE("format/traits: encode widens float, double, integers, bf16 and fp16 exactly") {
  // The same value through every input type gives the same code.
  for (unsigned b = 0; b < 65536; b += 7) {
    const Eigen::bfloat16 h = Eigen::numext::bit_cast<Eigen::bfloat16>(std::uint16_t(b));
    const float f = float(h);
    CHECK(encode<float8_e4m3fn>(h) == encode<float8_e4m3fn>(f));
    if (!std::isnan(f)) CHECK(encode<float8_e5m2>(h) == encode<float8_e5m2>(double(f)));
    const Eigen::half g = Eigen::numext::bit_cast<Eigen::half>(std::uint16_t(b));
    CHECK(encode<float4_e2m1fn, round_up>(g) == encode<float4_e2m1fn, round_up>(float(g)));
  }
  CHECK(encode<lowbit::int8>(3) == 3);
  CHECK(encode<float8_e4m3fn>(448) == 0x7E);
  CHECK(encode<float8_e4m3fn>(std::int64_t(-1)) == 0xB8);
}

TEST_CASE("format/traits: decode is the spec-card formula, exactly") {
  // (-1)^s · 2^(e - bias) · (1 + m / 2^M) for e > 0, (-1)^s · m · 2^(1 - bias - M) for e = 0.
  auto formula = [](unsigned c, int E, int M, int bias) {
    const unsigned s = c >> (E + M), e = (c >> M) & ((1u << E) - 1), m = c & ((1u << M) - 1);
    const double mag = e == 0 ? std::ldexp(double(m), 1 - bias - M)
                              : std::ldexp(1.0 + double(m) / double(1u << M), int(e) - bias);
    return s ? -mag : mag;
  };
  for (unsigned c = 0; c < 256; ++c) {
    if ((c & 0x7F) != 0x7F) CHECK(double(decode<float8_e4m3fn>(std::uint8_t(c))) == formula(c, 4, 3, 7));
    if ((c & 0x7C) != 0x7C) CHECK(double(decode<float8_e5m2>(std::uint8_t(c))) == formula(c, 5, 2, 15));
    if ((c & 0x70) != 0x70) CHECK(double(decode<float8_e3m4>(std::uint8_t(c))) == formula(c, 3, 4, 3));
  }
  for (unsigned c = 0; c < 64; ++c) {
    CHECK(double(decode<float6_e2m3fn>(std::uint8_t(c))) == formula(c, 2, 3, 1));
    CHECK(double(decode<float6_e3m2fn>(std::uint8_t(c))) == formula(c, 3, 2, 3));
  }
  for (unsigned c = 0; c < 16; ++c) CHECK(double(decode<float4_e2m1fn>(std::uint8_t(c))) == formula(c, 2, 1, 1));
}
