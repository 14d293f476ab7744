// Proof of lowbit/format/float8.hpp: e4m3fn, e5m2 (CUDA's host conversions and ml_dtypes as
// oracles) and e3m4 (ml_dtypes golden file and the independent reference encoder).
#include <lowbit/format/float8.hpp>

#include "format_oracle.hpp"

using namespace lowbit;
using namespace lowbit_test;

namespace {
constexpr auto sat = overflow::saturate;
constexpr auto prop = overflow::propagate;
[[maybe_unused]] constexpr std::size_t n_random = std::size_t(1) << 22;  // per conversion, quick suite (used under #if)
}  // namespace

TEST_CASE("format/float8: spec cards agree with the decoded codes") {
  check_minifloat_card<float8_e4m3fn>(/*NaN codes*/ 2, /*inf codes*/ 0);
  check_minifloat_card<float8_e5m2>(6, 2);
  check_minifloat_card<float8_e3m4>(30, 2);
  CHECK(float8_e4m3fn::min_normal == 0x1p-6);
  CHECK(float8_e5m2::min_normal == 0x1p-14);
  CHECK(float8_e3m4::min_normal == 0.25);
  CHECK(float8_e4m3fn::nan_code == 0x7F);
  CHECK(float8_e5m2::nan_code == 0x7F);
  CHECK(float8_e3m4::nan_code == 0x7F);
  CHECK(std::isinf(decode<float8_e5m2>(0x7C)));
  CHECK(decode<float8_e5m2>(0xFC) == -INFINITY);
  CHECK(decode<float8_e3m4>(0x70) == INFINITY);
}

TEST_CASE("format/float8: every finite code is a fixed point of encode(decode(code))") {
  check_codes_round_trip<float8_e4m3fn>();
  check_codes_round_trip<float8_e5m2>();
  check_codes_round_trip<float8_e3m4>();
}

TEST_CASE("format/float8: every rounding policy matches the reference encoder") {
  auto run = [](auto f) {
    using F = decltype(f);
    INFO(F::name);
    check_every_rounding_against_reference<F>(boundary_inputs<F>());
    check_every_rounding_against_reference<F>(boundary_inputs<F, double>());
    check_every_rounding_against_reference<F>(random_floats(200000, F::max_value, 7));
    check_every_rounding_against_reference<F>(random_doubles(100000, F::max_value, 8));
  };
  run(float8_e4m3fn{});
  run(float8_e5m2{});
  run(float8_e3m4{});
}

TEST_CASE("format/float8: special inputs follow the documented rules") {
  const float nans[] = {NAN, -NAN, f32(0x7F800001u), f32(0xFFC00001u)};
  for (float n : nans) {
    CHECK(encode<float8_e4m3fn>(n) == 0x7F);  // NaN -> positive NaN code, sign dropped (CUDA)
    CHECK(encode<float8_e4m3fn, round_nearest_even, prop>(n) == 0x7F);
    CHECK(encode<float8_e5m2>(n) == 0x7F);
    CHECK(encode<float8_e5m2, round_toward_zero, prop>(n) == 0x7F);
    CHECK(encode<float8_e3m4>(n) == 0x7F);
    CHECK(encode<float8_e3m4>(double(n)) == 0x7F);
  }
  // ±inf: the largest finite value when saturating, the format's own rule otherwise.
  CHECK(encode<float8_e4m3fn>(INFINITY) == 0x7E);
  CHECK(encode<float8_e4m3fn>(-INFINITY) == 0xFE);
  CHECK(encode<float8_e4m3fn, round_nearest_even, prop>(INFINITY) == 0x7F);
  CHECK(encode<float8_e4m3fn, round_nearest_even, prop>(-INFINITY) == 0xFF);
  CHECK(encode<float8_e5m2>(INFINITY) == 0x7B);
  CHECK(encode<float8_e5m2>(-INFINITY) == 0xFB);
  CHECK(encode<float8_e5m2, round_nearest_even, prop>(INFINITY) == 0x7C);
  CHECK(encode<float8_e5m2, round_nearest_even, prop>(-INFINITY) == 0xFC);
  CHECK(encode<float8_e3m4>(-INFINITY) == 0xEF);
  CHECK(encode<float8_e3m4, round_nearest_even, prop>(-INFINITY) == 0xF0);
  // Signed zeros, and inputs too small for the smallest subnormal keep their sign.
  CHECK(encode<float8_e4m3fn>(0.0f) == 0x00);
  CHECK(encode<float8_e4m3fn>(-0.0f) == 0x80);
  CHECK(encode<float8_e5m2>(-0.0) == 0x80);
  for (float d : {f32(1), f32(0x007FFFFF), 1e-30f}) {  // float denormals and a tiny normal
    CHECK(encode<float8_e4m3fn>(d) == 0x00);
    CHECK(encode<float8_e4m3fn>(-d) == 0x80);
    CHECK(encode<float8_e5m2, round_up>(d) == 0x01);    // toward +inf: the smallest subnormal
    CHECK(encode<float8_e5m2, round_up>(-d) == 0x80);   // ... and -0 from below
    CHECK(encode<float8_e5m2, round_down>(-d) == 0x81);
    CHECK(encode<float8_e5m2, round_half_away>(d) == 0x00);
  }
  CHECK(encode<float8_e4m3fn>(4.9e-324) == 0x00);  // double denormal
  CHECK(encode<float8_e4m3fn>(-4.9e-324) == 0x80);
  // Half the smallest subnormal is a tie: even (zero) under nearest-even, away under half-away.
  CHECK(encode<float8_e4m3fn>(0x1p-10f) == 0x00);
  CHECK(encode<float8_e4m3fn>(std::nextafter(0x1p-10f, 1.0f)) == 0x01);
  CHECK(encode<float8_e4m3fn, round_half_away>(0x1p-10f) == 0x01);
  CHECK(encode<float8_e4m3fn, round_half_away>(-0x1p-10f) == 0x81);
  // Huge finite values.
  for (double h : {double(FLT_MAX), 1e300, 0x1p1023}) {
    CHECK(encode<float8_e4m3fn>(h) == 0x7E);
    CHECK(encode<float8_e4m3fn>(-h) == 0xFE);
    CHECK(encode<float8_e4m3fn, round_toward_zero, prop>(h) == 0x7F);
    CHECK(encode<float8_e5m2, round_nearest_even, prop>(-h) == 0xFC);
    CHECK(encode<float8_e3m4, round_down, prop>(h) == 0x70);
  }
}

TEST_CASE("format/float8: the overflow boundary is decided after rounding") {
  // e4m3fn: 448 | 480 (virtual) -> midpoint 464 rounds to even 448 (0x7E); anything above is
  // beyond max: ±max when saturating, NaN otherwise (OFP8: round first, then check range).
  CHECK(encode<float8_e4m3fn, round_nearest_even, prop>(464.0f) == 0x7E);
  CHECK(encode<float8_e4m3fn, round_nearest_even, prop>(std::nextafter(464.0f, 0.0f)) == 0x7E);
  CHECK(encode<float8_e4m3fn, round_nearest_even, prop>(std::nextafter(464.0f, 1e9f)) == 0x7F);
  CHECK(encode<float8_e4m3fn, round_nearest_even, prop>(-std::nextafter(464.0f, 1e9f)) == 0xFF);
  CHECK(encode<float8_e4m3fn>(std::nextafter(464.0f, 1e9f)) == 0x7E);
  CHECK(encode<float8_e4m3fn, round_half_away, prop>(464.0f) == 0x7F);  // tie goes away: 480
  CHECK(encode<float8_e4m3fn, round_half_away>(464.0f) == 0x7E);
  CHECK(encode<float8_e4m3fn, round_toward_zero, prop>(479.9f) == 0x7E);
  CHECK(encode<float8_e4m3fn, round_toward_zero, prop>(480.0f) == 0x7F);
  CHECK(encode<float8_e4m3fn, round_toward_zero, prop>(500.0f) == 0x7F);  // traits.hpp example
  CHECK(encode<float8_e4m3fn, round_toward_zero>(500.0f) == 0x7E);
  CHECK(encode<float8_e4m3fn, round_up, prop>(448.1f) == 0x7F);
  CHECK(encode<float8_e4m3fn, round_up, prop>(-448.1f) == 0xFE);  // toward +inf: -448
  // e5m2: 57344 | 65536 -> midpoint 61440; 0x7B is odd, so the tie goes up to inf.
  CHECK(encode<float8_e5m2, round_nearest_even, prop>(61440.0f) == 0x7C);
  CHECK(encode<float8_e5m2, round_nearest_even, prop>(std::nextafter(61440.0f, 0.0f)) == 0x7B);
  CHECK(encode<float8_e5m2>(61440.0f) == 0x7B);
  // e3m4: 15.5 | 16 -> midpoint 15.75, 0x6F odd: the tie goes to inf.
  CHECK(encode<float8_e3m4, round_nearest_even, prop>(15.75f) == 0x70);
  CHECK(encode<float8_e3m4, round_nearest_even, prop>(std::nextafter(15.75f, 0.0f)) == 0x6F);
}

TEST_CASE("format/float8: one tie under each rounding policy") {
  // 1.0625 lies halfway between 1 (0x38, even) and 1.125 (0x39) in e4m3fn.
  CHECK(encode<float8_e4m3fn, round_nearest_even>(1.0625f) == 0x38);
  CHECK(encode<float8_e4m3fn, round_half_away>(1.0625f) == 0x39);
  CHECK(encode<float8_e4m3fn, round_toward_zero>(1.0625f) == 0x38);
  CHECK(encode<float8_e4m3fn, round_down>(1.0625f) == 0x38);
  CHECK(encode<float8_e4m3fn, round_up>(1.0625f) == 0x39);
  CHECK(encode<float8_e4m3fn, round_nearest_even>(-1.0625f) == 0xB8);
  CHECK(encode<float8_e4m3fn, round_half_away>(-1.0625f) == 0xB9);
  CHECK(encode<float8_e4m3fn, round_toward_zero>(-1.0625f) == 0xB8);
  CHECK(encode<float8_e4m3fn, round_down>(-1.0625f) == 0xB9);
  CHECK(encode<float8_e4m3fn, round_up>(-1.0625f) == 0xB8);
  // 1.1875 lies between 1.125 (0x39, odd) and 1.25 (0x3A): nearest-even goes up.
  CHECK(encode<float8_e4m3fn>(1.1875f) == 0x3A);
  // A tie that carries into the next binade: 1.9375 -> 2.0 (0x40).
  CHECK(encode<float8_e4m3fn>(1.9375f) == 0x40);
}

TEST_CASE("format/float8: a double input is rounded once, not through float") {
  // 1.0625 + 2^-40 is above the tie; as a float it would be the tie itself and round to 1.
  const double x = 1.0625 + 0x1p-40;
  CHECK(float(x) == 1.0625f);
  CHECK(encode<float8_e4m3fn>(x) == 0x39);
  CHECK(encode<float8_e4m3fn>(float(x)) == 0x38);
  // The same below a subnormal tie: (0.5 - 2^-54)·2^-9 is just under half the smallest
  // subnormal, so it rounds to 0 even under half-away.
  CHECK(encode<float8_e4m3fn, round_half_away>((0.5 - 0x1p-54) * 0x1p-9) == 0x00);
  CHECK(encode<float8_e4m3fn, round_half_away>(0.5 * 0x1p-9) == 0x01);
}

TEST_CASE("format/float8: decode of every code matches CUDA") {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  mismatches m;
  for (unsigned c = 0; c < 256; ++c) {
    for (auto [interp, mine] : {std::pair{__NV_E4M3, decode<float8_e4m3fn>(std::uint8_t(c))},
                                std::pair{__NV_E5M2, decode<float8_e5m2>(std::uint8_t(c))}}) {
      const float want = cuda_fp8_decode(c, interp);
      if (std::isnan(want) ? !std::isnan(mine) : bits(want) != bits(mine))
        m.add("code " + hex(c) + ": lowbit " + show(mine) + ", CUDA " + show(want));
    }
  }
  LOWBIT_CHECK_NO_MISMATCH(m);
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}

TEST_CASE("format/float8: e4m3fn encode matches CUDA, saturating and not") {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  for (auto s : {__NV_SATFINITE, __NV_NOSAT}) {
    INFO("saturation " << int(s));
    auto of = [s](float x) { return __nv_cvt_float_to_fp8(x, s, __NV_E4M3); };
    auto od = [s](double x) { return __nv_cvt_double_to_fp8(x, s, __NV_E4M3); };
    auto ob = [s](std::uint16_t b) { return __nv_cvt_bfloat16raw_to_fp8(bf16_raw(b), s, __NV_E4M3); };
    auto oh = [s](std::uint16_t b) { return __nv_cvt_halfraw_to_fp8(half_raw(b), s, __NV_E4M3); };
    if (s == __NV_SATFINITE) check_against_oracle<float8_e4m3fn, round_nearest_even, sat>(of, od, ob, oh, n_random, 11);
    else check_against_oracle<float8_e4m3fn, round_nearest_even, prop>(of, od, ob, oh, n_random, 12);
  }
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}

TEST_CASE("format/float8: e5m2 encode matches CUDA, saturating and not") {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  for (auto s : {__NV_SATFINITE, __NV_NOSAT}) {
    INFO("saturation " << int(s));
    auto of = [s](float x) { return __nv_cvt_float_to_fp8(x, s, __NV_E5M2); };
    auto od = [s](double x) { return __nv_cvt_double_to_fp8(x, s, __NV_E5M2); };
    auto ob = [s](std::uint16_t b) { return __nv_cvt_bfloat16raw_to_fp8(bf16_raw(b), s, __NV_E5M2); };
    auto oh = [s](std::uint16_t b) { return __nv_cvt_halfraw_to_fp8(half_raw(b), s, __NV_E5M2); };
    if (s == __NV_SATFINITE) check_against_oracle<float8_e5m2, round_nearest_even, sat>(of, od, ob, oh, n_random, 13);
    else check_against_oracle<float8_e5m2, round_nearest_even, prop>(of, od, ob, oh, n_random, 14);
  }
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}

TEST_CASE("format/float8: e4m3fn, e5m2 and e3m4 match ml_dtypes except the documented NaN rule") {
  // ml_dtypes' default cast is round-to-nearest-even without saturation: lowbit's
  // overflow::propagate. Documented differences, tested in "special inputs" above: a NaN
  // input keeps its sign in ml_dtypes (e4m3fn 0xFF, e3m4 0xF8) and e5m2/e3m4 NaN is 0x7E/0x78
  // there; lowbit always gives the positive all-ones code 0x7F, as CUDA does.
  auto skip_nan = [](float x) { return std::isnan(x); };
  std::size_t compared = 0;
  LOWBIT_CHECK_NO_MISMATCH(golden_decode_mismatches<float8_e4m3fn>("e4m3fn"));
  LOWBIT_CHECK_NO_MISMATCH((golden_encode_mismatches<float8_e4m3fn, round_nearest_even, prop>("e4m3fn", skip_nan, &compared)));
  CHECK(compared > 1500);
  LOWBIT_CHECK_NO_MISMATCH(golden_decode_mismatches<float8_e5m2>("e5m2"));
  LOWBIT_CHECK_NO_MISMATCH((golden_encode_mismatches<float8_e5m2, round_nearest_even, prop>("e5m2", skip_nan, &compared)));
  CHECK(compared > 1500);
  LOWBIT_CHECK_NO_MISMATCH(golden_decode_mismatches<float8_e3m4>("e3m4"));
  LOWBIT_CHECK_NO_MISMATCH((golden_encode_mismatches<float8_e3m4, round_nearest_even, prop>("e3m4", skip_nan, &compared)));
  CHECK(compared > 1400);
  // The NaN inputs that were set aside do appear in the golden file, as ml_dtypes NaN codes.
  for (const auto& [u, code] : golden("e3m4").encode)
    if (std::isnan(f32(u))) CHECK(std::isnan(decode<float8_e3m4>(std::uint8_t(code))));
}

TEST_CASE("format/float8: e4m3fn all 2^32 floats match CUDA" * doctest::test_suite("slow")) {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  LOWBIT_CHECK_NO_MISMATCH((all_floats_against<float8_e4m3fn, round_nearest_even, sat>(
      [](float x) { return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3); })));
  LOWBIT_CHECK_NO_MISMATCH((all_floats_against<float8_e4m3fn, round_nearest_even, prop>(
      [](float x) { return __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E4M3); })));
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}

TEST_CASE("format/float8: e5m2 all 2^32 floats match CUDA" * doctest::test_suite("slow")) {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  LOWBIT_CHECK_NO_MISMATCH((all_floats_against<float8_e5m2, round_nearest_even, sat>(
      [](float x) { return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2); })));
  LOWBIT_CHECK_NO_MISMATCH((all_floats_against<float8_e5m2, round_nearest_even, prop>(
      [](float x) { return __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E5M2); })));
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}

TEST_CASE("format/float8: e3m4 all 2^32 floats match the reference encoder" * doctest::test_suite("slow")) {
  // NaN inputs give 0x7F (tested above); every other input against reference_encode.
  auto ref = [](auto ov) {
    constexpr overflow Ov = decltype(ov)::value;
    return all_u32([](std::uint32_t u) {
      const float x = f32(u);
      const unsigned got = encode<float8_e3m4, round_nearest_even, Ov>(x);
      if (std::isnan(x)) return got == 0x7F;
      if (std::isinf(x)) return got == encode<float8_e3m4, round_nearest_even, Ov>(x > 0 ? 1e30f : -1e30f);
      return got == reference_encode<float8_e3m4, round_nearest_even, Ov>(x);
    });
  };
  LOWBIT_CHECK_NO_MISMATCH(ref(std::integral_constant<overflow, sat>{}));
  LOWBIT_CHECK_NO_MISMATCH(ref(std::integral_constant<overflow, prop>{}));
}
