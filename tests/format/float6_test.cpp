// Proof of lowbit/format/float6.hpp: e2m3fn and e3m2fn against CUDA's host conversions
// (cuda_fp6.h: round-to-nearest and toward-zero, always saturating), ml_dtypes and the
// reference encoder.
#include <lowbit/format/float6.hpp>

#include "format_oracle.hpp"

using namespace lowbit;
using namespace lowbit_test;

namespace {
constexpr auto sat = overflow::saturate;
constexpr auto prop = overflow::propagate;
[[maybe_unused]] constexpr std::size_t n_random = std::size_t(1) << 21;  // used under #if

// Formats without NaN and inf: both overflow policies are the same function.
template <class F, class T>
mismatches policies_differ(const std::vector<T>& xs) {
  return compare_codes(xs, [](T x) { return encode<F, round_nearest_even, sat>(x); },
                       [](T x) { return encode<F, round_nearest_even, prop>(x); });
}
}  // namespace

TEST_CASE("format/float6: spec cards agree with the decoded codes") {
  check_minifloat_card<float6_e2m3fn>(0, 0);
  check_minifloat_card<float6_e3m2fn>(0, 0);
  CHECK(float6_e2m3fn::min_normal == 1.0);
  CHECK(float6_e3m2fn::min_normal == 0.25);
  CHECK(float6_e2m3fn::bits == 6);
  CHECK(float6_e2m3fn::sign_mask == 0x20);
  // Only the low 6 bits of a stored byte are read.
  for (unsigned c = 0; c < 64; ++c) {
    CHECK(bits(decode<float6_e2m3fn>(std::uint8_t(c | 0xC0))) == bits(decode<float6_e2m3fn>(std::uint8_t(c))));
    CHECK(bits(decode<float6_e3m2fn>(std::uint8_t(c | 0x40))) == bits(decode<float6_e3m2fn>(std::uint8_t(c))));
  }
}

TEST_CASE("format/float6: every code is a fixed point of encode(decode(code))") {
  check_codes_round_trip<float6_e2m3fn>();
  check_codes_round_trip<float6_e3m2fn>();
}

TEST_CASE("format/float6: every rounding policy matches the reference encoder") {
  auto run = [](auto f) {
    using F = decltype(f);
    INFO(F::name);
    check_every_rounding_against_reference<F>(boundary_inputs<F>());
    check_every_rounding_against_reference<F>(boundary_inputs<F, double>());
    check_every_rounding_against_reference<F>(random_floats(100000, F::max_value, 21));
    check_every_rounding_against_reference<F>(random_doubles(50000, F::max_value, 22));
  };
  run(float6_e2m3fn{});
  run(float6_e3m2fn{});
}

TEST_CASE("format/float6: special inputs follow the documented rules") {
  for (float n : {NAN, -NAN, f32(0xFF800001u)}) {  // NaN -> +max (CUDA); ml_dtypes gives ∓0
    CHECK(encode<float6_e2m3fn>(n) == 0x1F);
    CHECK(encode<float6_e2m3fn, round_toward_zero, prop>(n) == 0x1F);
    CHECK(encode<float6_e3m2fn>(n) == 0x1F);
    CHECK(encode<float6_e3m2fn>(double(n)) == 0x1F);
  }
  for (auto ov : {0, 1}) {  // ±inf and huge values saturate under both policies
    const bool p = ov == 1;
    auto e23 = [p](double x) { return p ? encode<float6_e2m3fn, round_nearest_even, prop>(x) : encode<float6_e2m3fn>(x); };
    auto e32 = [p](double x) { return p ? encode<float6_e3m2fn, round_nearest_even, prop>(x) : encode<float6_e3m2fn>(x); };
    CHECK(e23(INFINITY) == 0x1F);
    CHECK(e23(-INFINITY) == 0x3F);
    CHECK(e32(INFINITY) == 0x1F);
    CHECK(e32(-1e300) == 0x3F);
    CHECK(e23(7.75) == 0x1F);  // 7.5 | 8 tie: the virtual 8 is even, so overflow -> max
    CHECK(e32(30.0) == 0x1F);  // 28 | 32 tie likewise
  }
  CHECK(encode<float6_e2m3fn>(-0.0f) == 0x20);
  CHECK(encode<float6_e3m2fn>(-0.0f) == 0x20);
  CHECK(encode<float6_e2m3fn>(-1e-45f) == 0x20);
  CHECK(encode<float6_e2m3fn>(0.0625f) == 0x00);  // half the smallest subnormal: tie to 0
  CHECK(encode<float6_e2m3fn>(0.0625001f) == 0x01);
  CHECK(encode<float6_e3m2fn>(0.03125f) == 0x00);
  CHECK(encode<float6_e3m2fn, round_half_away>(-0.03125f) == 0x21);
  // Both overflow policies agree everywhere.
  LOWBIT_CHECK_NO_MISMATCH(policies_differ<float6_e2m3fn>(random_floats(100000, 7.5, 23)));
  LOWBIT_CHECK_NO_MISMATCH(policies_differ<float6_e3m2fn>(random_floats(100000, 28, 24)));
}

TEST_CASE("format/float6: decode of every code matches CUDA") {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  mismatches m;
  for (unsigned c = 0; c < 64; ++c) {
    const float a = from_half_bits(__half_raw(__nv_cvt_fp6_to_halfraw(__nv_fp6_storage_t(c), __NV_E2M3)).x);
    const float b = from_half_bits(__half_raw(__nv_cvt_fp6_to_halfraw(__nv_fp6_storage_t(c), __NV_E3M2)).x);
    if (bits(a) != bits(decode<float6_e2m3fn>(std::uint8_t(c)))) m.add("e2m3 code " + hex(c));
    if (bits(b) != bits(decode<float6_e3m2fn>(std::uint8_t(c)))) m.add("e3m2 code " + hex(c));
  }
  LOWBIT_CHECK_NO_MISMATCH(m);
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}

#if defined(LOWBIT_HAVE_CUDA_ORACLE)
namespace {
template <class F, class R>
void check_fp6_against_cuda(__nv_fp6_interpretation_t interp, cudaRoundMode mode, std::uint64_t seed) {
  auto of = [=](float x) { return __nv_cvt_float_to_fp6(x, interp, mode); };
  auto od = [=](double x) { return __nv_cvt_double_to_fp6(x, interp, mode); };
  auto ob = [=](std::uint16_t b) { return __nv_cvt_bfloat16raw_to_fp6(bf16_raw(b), interp, mode); };
  auto oh = [=](std::uint16_t b) { return __nv_cvt_halfraw_to_fp6(half_raw(b), interp, mode); };
  check_against_oracle<F, R, sat>(of, od, ob, oh, n_random, seed);
  check_against_oracle<F, R, prop>(of, od, ob, oh, n_random / 8, seed + 2);
}
}  // namespace
#endif

TEST_CASE("format/float6: e2m3fn and e3m2fn encode match CUDA, nearest and toward zero") {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  SUBCASE("e2m3fn nearest") { check_fp6_against_cuda<float6_e2m3fn, round_nearest_even>(__NV_E2M3, cudaRoundNearest, 31); }
  SUBCASE("e2m3fn toward zero") { check_fp6_against_cuda<float6_e2m3fn, round_toward_zero>(__NV_E2M3, cudaRoundZero, 32); }
  SUBCASE("e3m2fn nearest") { check_fp6_against_cuda<float6_e3m2fn, round_nearest_even>(__NV_E3M2, cudaRoundNearest, 33); }
  SUBCASE("e3m2fn toward zero") { check_fp6_against_cuda<float6_e3m2fn, round_toward_zero>(__NV_E3M2, cudaRoundZero, 34); }
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}

TEST_CASE("format/float6: e2m3fn and e3m2fn match ml_dtypes except the documented NaN rule") {
  // ml_dtypes turns a NaN into a zero of the opposite sign; lowbit (and CUDA) give +max.
  auto skip_nan = [](float x) { return std::isnan(x); };
  std::size_t compared = 0;
  LOWBIT_CHECK_NO_MISMATCH(golden_decode_mismatches<float6_e2m3fn>("e2m3fn"));
  LOWBIT_CHECK_NO_MISMATCH((golden_encode_mismatches<float6_e2m3fn, round_nearest_even, sat>("e2m3fn", skip_nan, &compared)));
  CHECK(compared > 400);
  LOWBIT_CHECK_NO_MISMATCH(golden_decode_mismatches<float6_e3m2fn>("e3m2fn"));
  LOWBIT_CHECK_NO_MISMATCH((golden_encode_mismatches<float6_e3m2fn, round_nearest_even, prop>("e3m2fn", skip_nan, &compared)));
  CHECK(compared > 400);
}

TEST_CASE("format/float6: all 2^32 floats match CUDA, nearest and toward zero" * doctest::test_suite("slow")) {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  auto all = [](auto f, auto r, __nv_fp6_interpretation_t interp, cudaRoundMode mode) {
    using F = decltype(f);
    using R = decltype(r);
    return all_u32([=](std::uint32_t u) {
      const float x = f32(u);
      const unsigned want = __nv_cvt_float_to_fp6(x, interp, mode);
      return encode<F, R, sat>(x) == want && encode<F, R, prop>(x) == want;
    });
  };
  LOWBIT_CHECK_NO_MISMATCH(all(float6_e2m3fn{}, round_nearest_even{}, __NV_E2M3, cudaRoundNearest));
  LOWBIT_CHECK_NO_MISMATCH(all(float6_e2m3fn{}, round_toward_zero{}, __NV_E2M3, cudaRoundZero));
  LOWBIT_CHECK_NO_MISMATCH(all(float6_e3m2fn{}, round_nearest_even{}, __NV_E3M2, cudaRoundNearest));
  LOWBIT_CHECK_NO_MISMATCH(all(float6_e3m2fn{}, round_toward_zero{}, __NV_E3M2, cudaRoundZero));
#else
  LOWBIT_NO_CUDA_ORACLE();
#endif
}
