// Proof of lowbit/format/float4.hpp: e2m1fn against CUDA's host conversions (cuda_fp4.h:
// nearest and toward zero, always saturating), ml_dtypes and the reference encoder.
#include <lowbit/format/float4.hpp>

#include "format_oracle.hpp"

using namespace lowbit;
using namespace lowbit_test;

namespace {
[[maybe_unused]] constexpr auto sat = overflow::saturate;  // used under #if
constexpr auto prop = overflow::propagate;
using e2m1 = float4_e2m1fn;
}  // namespace

TEST_CASE("format/float4: the spec card lists the sixteen values") {
  check_minifloat_card<e2m1>(0, 0);
  const float want[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (unsigned c = 0; c < 8; ++c) {
    CHECK(decode<e2m1>(std::uint8_t(c)) == want[c]);
    CHECK(decode<e2m1>(std::uint8_t(c | 8)) == -want[c]);
    CHECK(bits(decode<e2m1>(std::uint8_t(c | 0xF0))) == bits(decode<e2m1>(std::uint8_t(c))));  // low nibble only
  }
  CHECK(std::signbit(decode<e2m1>(0x8)));
}

TEST_CASE("format/float4: every code is a fixed point of encode(decode(code))") { check_codes_round_trip<e2m1>(); }

TEST_CASE("format/float4: every rounding policy matches the reference encoder") {
  check_every_rounding_against_reference<e2m1>(boundary_inputs<e2m1>());
  check_every_rounding_against_reference<e2m1>(boundary_inputs<e2m1, double>());
  check_every_rounding_against_reference<e2m1>(random_floats(100000, 6.0, 41));
  check_every_rounding_against_reference<e2m1>(random_doubles(50000, 6.0, 42));
}

TEST_CASE("format/float4: ties and special inputs follow the documented rules") {
  // Ties go to the even code (hand-worked; the same values CUDA gives, research/formats.md §5.3).
  CHECK(encode<e2m1>(0.25f) == 0x0);
  CHECK(encode<e2m1>(0.2500001f) == 0x1);
  CHECK(encode<e2m1>(0.75f) == 0x2);
  CHECK(encode<e2m1>(1.25f) == 0x2);
  CHECK(encode<e2m1>(1.75f) == 0x4);
  CHECK(encode<e2m1>(2.5f) == 0x4);
  CHECK(encode<e2m1>(3.5f) == 0x6);
  CHECK(encode<e2m1>(5.0f) == 0x6);
  CHECK(encode<e2m1>(5.0001f) == 0x7);
  CHECK(encode<e2m1>(-5.0f) == 0xE);
  CHECK(encode<e2m1, round_toward_zero>(0.75f) == 0x1);
  CHECK(encode<e2m1, round_toward_zero>(3.5f) == 0x5);
  CHECK(encode<e2m1, round_half_away>(2.5f) == 0x5);
  CHECK(encode<e2m1, round_half_away>(-0.25f) == 0x9);
  CHECK(encode<e2m1, round_up>(-5.9f) == 0xE);
  CHECK(encode<e2m1, round_down>(-5.9f) == 0xF);
  // NaN -> +6 (0x7), as CUDA; ml_dtypes gives a zero of the opposite sign instead.
  for (double n : {double(NAN), -double(NAN)}) {
    CHECK(encode<e2m1>(n) == 0x7);
    CHECK(encode<e2m1, round_toward_zero, prop>(float(n)) == 0x7);
  }
  // ±inf, overflow and huge values: ±6 under both policies (no inf or NaN to propagate).
  for (double v : {7.0, 100.0, 1e300, double(INFINITY)}) {
    CHECK(encode<e2m1>(v) == 0x7);
    CHECK(encode<e2m1, round_nearest_even, prop>(-v) == 0xF);
    CHECK(encode<e2m1, round_up, prop>(v) == 0x7);
  }
  CHECK(encode<e2m1>(-0.0f) == 0x8);
  CHECK(encode<e2m1>(-1e-40f) == 0x8);
  CHECK(encode<e2m1>(1e-40f) == 0x0);
  CHECK(encode<e2m1, round_up>(1e-40f) == 0x1);
}

TEST_CASE("format/float4: decode of every code matches CUDA") {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  for (unsigned c = 0; c < 16; ++c) {
    const float want = from_half_bits(__half_raw(__nv_cvt_fp4_to_halfraw(__nv_fp4_storage_t(c), __NV_E2M1)).x);
    CHECK(bits(decode<e2m1>(std::uint8_t(c))) == bits(want));
  }
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}

TEST_CASE("format/float4: encode matches CUDA, nearest and toward zero") {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  auto run = [](auto r, cudaRoundMode mode, std::uint64_t seed) {
    using R = decltype(r);
    auto of = [=](float x) { return __nv_cvt_float_to_fp4(x, __NV_E2M1, mode); };
    auto od = [=](double x) { return __nv_cvt_double_to_fp4(x, __NV_E2M1, mode); };
    auto ob = [=](std::uint16_t b) { return __nv_cvt_bfloat16raw_to_fp4(bf16_raw(b), __NV_E2M1, mode); };
    auto oh = [=](std::uint16_t b) { return __nv_cvt_halfraw_to_fp4(half_raw(b), __NV_E2M1, mode); };
    check_against_oracle<e2m1, R, sat>(of, od, ob, oh, std::size_t(1) << 22, seed);
    check_against_oracle<e2m1, R, prop>(of, od, ob, oh, std::size_t(1) << 18, seed + 1);
  };
  SUBCASE("nearest") { run(round_nearest_even{}, cudaRoundNearest, 43); }
  SUBCASE("toward zero") { run(round_toward_zero{}, cudaRoundZero, 45); }
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}

TEST_CASE("format/float4: e2m1fn matches ml_dtypes except the documented NaN rule") {
  std::size_t compared = 0;
  LOWBIT_CHECK_NO_MISMATCH(golden_decode_mismatches<e2m1>("e2m1fn"));
  LOWBIT_CHECK_NO_MISMATCH((golden_encode_mismatches<e2m1, round_nearest_even, prop>(
      "e2m1fn", [](float x) { return std::isnan(x); }, &compared)));
  CHECK(compared > 200);
}

TEST_CASE("format/float4: all 2^32 floats match CUDA, nearest and toward zero" * doctest::test_suite("slow")) {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  LOWBIT_CHECK_NO_MISMATCH(all_u32([](std::uint32_t u) {
    const float x = f32(u);
    const unsigned rn = __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest);
    const unsigned rz = __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundZero);
    return encode<e2m1>(x) == rn && encode<e2m1, round_nearest_even, prop>(x) == rn &&
           encode<e2m1, round_toward_zero>(x) == rz && encode<e2m1, round_toward_zero, prop>(x) == rz;
  }));
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}
