#include <lowbit/format/float8.hpp>
#include <lowbit/format/float4.hpp>
#include <lowbit/format/half.hpp>

#include <cmath>

#include <doctest/doctest.h>

using namespace lowbit;

TEST_CASE("format/minifloat: hand-worked e4m3fn codes") {
  CHECK(encode<float8_e4m3fn>(1.0f) == 0x38);
  CHECK(encode<float8_e4m3fn>(448.0f) == 0x7E);
  CHECK(encode<float8_e4m3fn>(464.0f) == 0x7E);  // tie -> even mantissa 448
  CHECK(encode<float8_e4m3fn>(1000.0f) == 0x7E);
  CHECK(encode<float8_e4m3fn, round_nearest_even, overflow::propagate>(1000.0f) == 0x7F);
  CHECK(encode<float8_e4m3fn>(-0.0f) == 0x80);
  CHECK(encode<float8_e4m3fn>(0x1p-9f) == 0x01);
  CHECK(decode<float8_e4m3fn>(0x7E) == 448.0f);
  CHECK(std::isnan(decode<float8_e4m3fn>(0xFF)));
}

TEST_CASE("format/minifloat: every finite code round-trips through decode") {
  for (unsigned c = 0; c < 256; ++c) {
    const float v = decode<float8_e5m2>(std::uint8_t(c));
    if (std::isfinite(v)) CHECK(encode<float8_e5m2>(v) == c);
  }
  for (unsigned c = 0; c < 16; ++c) CHECK(encode<float4_e2m1fn>(decode<float4_e2m1fn>(std::uint8_t(c))) == c);
}

TEST_CASE("format/minifloat: bf16 and fp16 agree with Eigen's conversions") {
  for (float x : {1.0f, 3.14159f, -65504.0f, 1e-7f, 123456.789f, -0.0f}) {
    CHECK(encode<bfloat16_format, round_nearest_even, overflow::propagate>(x) ==
          Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(x)));
    CHECK(encode<float16_format, round_nearest_even, overflow::propagate>(x) ==
          Eigen::numext::bit_cast<std::uint16_t>(Eigen::half(x)));
  }
}
