// Proof of lowbit/format/half.hpp: fp16 and bf16 as lowbit formats against Eigen's own
// conversions (fp16 through the F16C instructions when the build enables them) and the
// reference encoder for double inputs and the other rounding policies.
#include <lowbit/format/half.hpp>

#include "format_oracle.hpp"

using namespace lowbit;
using namespace lowbit_test;

namespace {
constexpr auto prop = overflow::propagate;

std::uint16_t eigen_half(float x) { return Eigen::numext::bit_cast<std::uint16_t>(Eigen::half(x)); }
std::uint16_t eigen_bf16(float x) { return Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(x)); }

// An IEEE cast (round to nearest even, overflow to inf) is overflow::propagate. NaN inputs
// are left out: Eigen keeps the NaN's sign and payload, lowbit gives the positive quiet NaN.
template <class F, class Oracle>
mismatches ieee_cast_mismatches(const std::vector<float>& xs, Oracle oracle) {
  mismatches m;
  for (float x : xs) {
    if (std::isnan(x)) continue;
    const unsigned got = encode<F, round_nearest_even, prop>(x), want = oracle(x);
    if (got != want) m.add("input " + show(x) + ": lowbit " + hex(got) + ", Eigen " + hex(want));
  }
  return m;
}
}  // namespace

TEST_CASE("format/half: spec cards agree with the decoded codes") {
  check_minifloat_card<float16_format>(2 * 1023, 2);
  check_minifloat_card<bfloat16_format>(2 * 127, 2);
  CHECK(float16_format::max_code == 0x7BFF);
  CHECK(bfloat16_format::max_code == 0x7F7F);
  CHECK(bfloat16_format::max_value == double(std::numeric_limits<Eigen::bfloat16>::max()));
  CHECK(float16_format::max_value == double(std::numeric_limits<Eigen::half>::max()));
  CHECK(float16_format::min_normal == 0x1p-14);
  CHECK(bfloat16_format::min_normal == 0x1p-126);
}

TEST_CASE("format/half: decode of every code matches Eigen") {
  mismatches m;
  for (unsigned c = 0; c < 65536; ++c) {
    const float a = decode<float16_format>(std::uint16_t(c)), b = decode<bfloat16_format>(std::uint16_t(c));
    const float ea = from_half_bits(std::uint16_t(c)), eb = from_bf16_bits(std::uint16_t(c));
    if (std::isnan(ea) ? !std::isnan(a) : bits(a) != bits(ea)) m.add("fp16 code " + hex(c));
    if (std::isnan(eb) ? !std::isnan(b) : bits(b) != bits(eb)) m.add("bf16 code " + hex(c));
    if (!std::isnan(eb) && bits(eb) != (c << 16)) m.add("bf16 is not the high half of a float: " + hex(c));
  }
  LOWBIT_CHECK_NO_MISMATCH(m);
}

TEST_CASE("format/half: every finite code is a fixed point of encode(decode(code))") {
  check_codes_round_trip<float16_format>();
  check_codes_round_trip<bfloat16_format>();
}

TEST_CASE("format/half: float inputs match Eigen's IEEE casts") {
  std::vector<float> xs = boundary_inputs<float16_format>();
  const std::vector<float> r = random_floats(std::size_t(1) << 21, 65504, 81);
  xs.insert(xs.end(), r.begin(), r.end());
  LOWBIT_CHECK_NO_MISMATCH(ieee_cast_mismatches<float16_format>(xs, eigen_half));
  std::vector<float> ys = boundary_inputs<bfloat16_format>();
  const std::vector<float> s = random_floats(std::size_t(1) << 21, 3e38, 82);
  ys.insert(ys.end(), s.begin(), s.end());
  LOWBIT_CHECK_NO_MISMATCH(ieee_cast_mismatches<bfloat16_format>(ys, eigen_bf16));
  for (float x : {1.0f, -2.5f, 65519.0f, 65520.0f, 1e-8f})
    CHECK(Eigen::numext::bit_cast<std::uint16_t>(to_half(encode<float16_format, round_nearest_even, prop>(x))) == eigen_half(x));
  CHECK(float(to_bfloat16(encode<bfloat16_format>(3.0f))) == 3.0f);
}

TEST_CASE("format/half: every rounding policy matches the reference encoder, double inputs too") {
  check_every_rounding_against_reference<float16_format>(boundary_inputs<float16_format, double>());
  check_every_rounding_against_reference<float16_format>(random_doubles(50000, 65504, 83));
  check_every_rounding_against_reference<float16_format>(random_floats(50000, 65504, 84));
  check_every_rounding_against_reference<bfloat16_format>(random_doubles(50000, 3e38, 85));
  check_every_rounding_against_reference<bfloat16_format>(random_floats(50000, 3e38, 86));
}

TEST_CASE("format/half: special inputs follow the documented rules") {
  for (float n : {NAN, -NAN, f32(0x7F800001u)}) {
    CHECK(encode<float16_format>(n) == 0x7E00);
    CHECK(encode<float16_format, round_nearest_even, prop>(n) == 0x7E00);
    CHECK(encode<bfloat16_format>(n) == 0x7FC0);
  }
  CHECK(encode<float16_format>(INFINITY) == 0x7BFF);  // saturate: the largest finite
  CHECK(encode<float16_format>(-1e10f) == 0xFBFF);
  CHECK(encode<float16_format, round_nearest_even, prop>(-INFINITY) == 0xFC00);
  CHECK(encode<float16_format, round_nearest_even, prop>(65520.0f) == 0x7C00);  // the tie goes to inf
  CHECK(encode<float16_format, round_nearest_even, prop>(65519.996f) == 0x7BFF);
  CHECK(encode<bfloat16_format>(INFINITY) == 0x7F7F);
  CHECK(encode<bfloat16_format, round_nearest_even, prop>(FLT_MAX) == 0x7F80);
  CHECK(encode<bfloat16_format>(FLT_MAX) == 0x7F7F);
  CHECK(encode<float16_format>(-0.0f) == 0x8000);
  CHECK(encode<float16_format>(0x1p-25f) == 0x0000);  // tie below the smallest subnormal
  CHECK(encode<float16_format>(-0x1.000002p-25f) == 0x8001);
  CHECK(encode<bfloat16_format>(f32(1)) == 0x0000);   // float denormal below bf16's 2^-133
  CHECK(encode<bfloat16_format>(0x1p-133f) == 0x0001);
  CHECK(encode<bfloat16_format>(1e300) == 0x7F7F);
}

TEST_CASE("format/half: all 2^32 floats match Eigen's IEEE casts" * doctest::test_suite("slow")) {
  LOWBIT_CHECK_NO_MISMATCH(all_u32([](std::uint32_t u) {
    const float x = f32(u);
    const unsigned h = encode<float16_format, round_nearest_even, prop>(x);
    const unsigned b = encode<bfloat16_format, round_nearest_even, prop>(x);
    if (std::isnan(x)) return h == 0x7E00 && b == 0x7FC0;
    return h == eigen_half(x) && b == eigen_bf16(x);
  }));
}
