// Proof of lowbit/format/int.hpp: int8/uint8/int4/uint4/int3/uint3/int2/uint2 against the C
// library's own rounding functions (nearbyint, round, trunc, floor, ceil) plus a clamp, and
// ml_dtypes' decodes and truncating casts for the sub-byte types.
#include <lowbit/format/int.hpp>

#include <cfenv>

#include "format_oracle.hpp"

using namespace lowbit;
using namespace lowbit_test;
// CUDA's vector types int2, uint2, int3, uint3, int4, uint4 live in the global namespace
// (cuda_fp8.h brings them in): name lowbit's integer formats in full.
namespace lb = lowbit;

namespace {
constexpr auto sat = overflow::saturate;
constexpr auto prop = overflow::propagate;

// The C library's rounding of x, clamped to [min, max]; NaN -> 0. (nearbyint rounds to
// nearest even in the default floating-point environment, checked below.)
template <class F, class R>
unsigned int_reference(double x) {
  if (std::isnan(x)) return 0;
  double r;
  switch (mode_of<R>()) {
    case ref_mode::nearest_even: r = std::nearbyint(x); break;
    case ref_mode::half_away: r = std::round(x); break;
    case ref_mode::toward_zero: r = std::trunc(x); break;
    case ref_mode::down: r = std::floor(x); break;
    default: r = std::ceil(x); break;
  }
  r = std::min(std::max(r, F::min_value), F::max_value);
  return unsigned(int(r)) & F::code_mask;
}

template <class F, class T>
void check_every_rounding(const std::vector<T>& xs) {
  auto one = [&](auto r) {
    using R = decltype(r);
    INFO(std::string(rounding_name<R>()));
    auto ref = [](T x) { return int_reference<F, R>(double(x)); };
    LOWBIT_CHECK_NO_MISMATCH(compare_codes(xs, [](T x) { return encode<F, R, sat>(x); }, ref));
    LOWBIT_CHECK_NO_MISMATCH(compare_codes(xs, [](T x) { return encode<F, R, prop>(x); }, ref));
  };
  one(round_nearest_even{});
  one(round_half_away{});
  one(round_toward_zero{});
  one(round_down{});
  one(round_up{});
}

template <class F>
void check_integer_format() {
  INFO(F::name);
  using S = typename F::storage;
  // Spec card: range, code mask, two's complement decode, every code round-trips.
  CHECK(F::max_value == double(F::max_int));
  CHECK(F::min_value == double(F::min_int));
  CHECK(F::max_int - F::min_int + 1 == (1 << F::bits));
  CHECK(F::min_positive == 1.0);
  for (unsigned c = 0; c < (1u << F::bits); ++c) {
    const int v = F::to_int(S(c));
    CHECK(v >= F::min_int);
    CHECK(v <= F::max_int);
    CHECK(decode<F>(S(c)) == float(v));
    CHECK(F::from_int(v) == c);
    CHECK(unsigned(v) % (1u << F::bits) == c);  // two's complement for the signed types
    CHECK(encode<F>(float(v)) == c);
    CHECK(encode<F, round_up>(double(v)) == c);
    CHECK(encode<F, round_stochastic>(float(v), 0xFFFFFFFFu) == c);
    CHECK(decode<F>(S(c | ~F::code_mask)) == float(v));  // bits above B are not read
  }
  // Monotone: codes ordered by value, as many as 2^B distinct values.
  for (int v = F::min_int; v < F::max_int; ++v) CHECK(decode<F>(F::from_int(v)) < decode<F>(F::from_int(v + 1)));
  // Every rounding policy against the C library, on every tie k + 0.5 (±1 ulp) and random input.
  check_every_rounding<F>(boundary_inputs<F>());
  check_every_rounding<F>(boundary_inputs<F, double>());
  std::vector<float> xs = random_floats(20000, F::max_value + 4, 61);
  check_every_rounding<F>(xs);
  check_every_rounding<F>(random_doubles(20000, F::max_value + 4, 62));
  // Special inputs: NaN -> 0, ±inf and huge values -> max / min, -0 -> 0, under both policies.
  for (double n : {double(NAN), -double(NAN)}) {
    CHECK(encode<F>(n) == 0);
    CHECK(encode<F, round_up, prop>(float(n)) == 0);
  }
  for (double big : {double(INFINITY), 1e300, double(FLT_MAX), F::max_value + 0.5000001}) {
    CHECK(encode<F>(big) == F::from_int(F::max_int));
    CHECK(encode<F, round_toward_zero, prop>(big) == F::from_int(F::max_int));
    CHECK(encode<F>(-big) == F::from_int(F::min_int));
    CHECK(encode<F, round_half_away, prop>(-big) == F::from_int(F::min_int));
  }
  CHECK(encode<F>(-0.0f) == 0);
  CHECK(encode<F>(-1e-40f) == 0);
  CHECK(encode<F, round_down>(1e-40f) == 0);
}
}  // namespace

TEST_CASE("format/int: the C library's nearbyint rounds ties to even here") {
  REQUIRE(std::fegetround() == FE_TONEAREST);
  CHECK(std::nearbyint(2.5) == 2.0);
  CHECK(std::nearbyint(-3.5) == -4.0);
}

TEST_CASE("format/int: every 2..8-bit integer format matches the C library's rounding plus a clamp") {
  check_integer_format<lb::int8>();
  check_integer_format<lb::uint8>();
  check_integer_format<lb::int4>();
  check_integer_format<lb::uint4>();
  check_integer_format<lb::int3>();
  check_integer_format<lb::uint3>();
  check_integer_format<lb::int2>();
  check_integer_format<lb::uint2>();
}

TEST_CASE("format/int: hand-worked ties and saturation") {
  CHECK(encode<lb::int8>(2.5f) == 2);
  CHECK(encode<lb::int8>(3.5f) == 4);
  CHECK(encode<lb::int8>(-2.5f) == 0xFE);
  CHECK(encode<lb::int8, round_half_away>(-2.5f) == 0xFD);
  CHECK(encode<lb::int8>(127.5f) == 127);
  CHECK(encode<lb::int8>(-128.5f) == 0x80);  // -128 (even)
  CHECK(encode<lb::int8>(-129.0f) == 0x80);
  CHECK(encode<lb::uint8>(255.5f) == 255);
  CHECK(encode<lb::uint8>(-0.5f) == 0);
  CHECK(encode<lb::uint8>(-3.0f) == 0);
  CHECK(encode<lb::int4>(7.49f) == 7);
  CHECK(encode<lb::int4>(-8.5f) == 0x8);
  CHECK(encode<lb::int4>(100.0f) == 0x7);
  CHECK(encode<lb::int2, round_down>(-1.5f) == 0x2);  // -2
  CHECK(encode<lb::int2, round_up>(0.01f) == 0x1);
  CHECK(encode<lb::uint2, round_up>(2.01f) == 0x3);
  CHECK(decode<lb::int4>(0xF) == -1.0f);
  CHECK(decode<lb::int2>(0x2) == -2.0f);
}

TEST_CASE("format/int: sub-byte types match ml_dtypes' decodes and (truncating) casts") {
  // ml_dtypes' float -> intN cast truncates toward zero and wraps around, a C cast rather
  // than a quantizer: the golden file lists only inputs in (min - 1, max + 1), where it equals
  // lowbit's round_toward_zero (and round-to-nearest is proven against nearbyint above).
  auto run = [](auto f, const char* name) {
    using F = decltype(f);
    INFO(name);
    std::size_t compared = 0;
    LOWBIT_CHECK_NO_MISMATCH(golden_decode_mismatches<F>(name));
    LOWBIT_CHECK_NO_MISMATCH((golden_encode_mismatches<F, round_toward_zero, sat>(
        name, [](float) { return false; }, &compared)));
    CHECK(compared > 100);
  };
  run(lb::int4{}, "int4");
  run(lb::uint4{}, "uint4");
  run(lb::int2{}, "int2");
  run(lb::uint2{}, "uint2");
}

TEST_CASE("format/int: int8, uint8 and int4 on all 2^32 floats match nearbyint plus a clamp" * doctest::test_suite("slow")) {
  LOWBIT_CHECK_NO_MISMATCH(all_u32([](std::uint32_t u) {
    const float x = f32(u);
    return encode<lb::int8>(x) == int_reference<lb::int8, round_nearest_even>(x) &&
           encode<lb::uint8>(x) == int_reference<lb::uint8, round_nearest_even>(x) &&
           encode<lb::int4>(x) == int_reference<lb::int4, round_nearest_even>(x);
  }));
}
