// Proof of lowbit/format/nf4.hpp: the code book against the QLoRA construction (normal
// quantiles, recomputed here), and encode against a brute-force nearest search.
#include <lowbit/format/nf4.hpp>

#include <array>

#include "format_oracle.hpp"

using namespace lowbit;
using namespace lowbit_test;

namespace {
// Brute force: the code whose value is nearest to x; a tie goes to the lower code; NaN -> 7.
unsigned nf4_reference(double x) {
  static const std::array<double, 16> v = [] {
    std::array<double, 16> t{};
    for (int k = 0; k < 16; ++k) t[std::size_t(k)] = nf4::value(k);
    return t;
  }();
  if (std::isnan(x)) return 7;
  x = std::min(std::max(x, -2.0), 2.0);  // keeps the nearest code; avoids inf - inf ties
  unsigned best = 0;
  double best_d = std::fabs(x - v[0]);
  for (unsigned k = 1; k < 16; ++k) {
    const double d = std::fabs(x - v[k]);
    if (d < best_d) {
      best = k;
      best_d = d;
    }
  }
  return best;
}

// Standard normal quantile by bisection on the CDF 0.5·erfc(-x/√2).
double normal_ppf(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}
}  // namespace

TEST_CASE("format/nf4: the code book is the QLoRA normal-quantile construction") {
  // bitsandbytes create_normal_map(offset = 0.9677083, use_extra_value = True): 8 positive
  // quantiles at linspace(offset, 0.5, 9)[:-1], 7 negative at linspace(offset, 0.5, 8)[:-1],
  // and 0, normalised by the largest. The table stores bitsandbytes' float32 literals; they
  // agree with this double-precision recomputation to float rounding.
  const double offset = 0.9677083;
  std::vector<double> v;
  for (int i = 0; i < 8; ++i) v.push_back(normal_ppf(offset + (0.5 - offset) * i / 8.0));
  for (int i = 0; i < 7; ++i) v.push_back(-normal_ppf(offset + (0.5 - offset) * i / 7.0));
  v.push_back(0.0);
  std::sort(v.begin(), v.end());
  const double top = v.back();
  for (int k = 0; k < 16; ++k) {
    INFO("code " << k);
    CHECK(double(nf4::value(k)) == doctest::Approx(v[std::size_t(k)] / top).epsilon(2e-6));
  }
  CHECK(nf4::value(0) == -1.0f);
  CHECK(nf4::value(7) == 0.0f);
  CHECK(nf4::value(15) == 1.0f);
  for (int k = 0; k < 15; ++k) CHECK(nf4::value(k) < nf4::value(k + 1));
  CHECK(nf4::max_value == 1.0);
  CHECK(nf4::min_positive == double(nf4::value(8)));
  for (unsigned c = 0; c < 256; ++c) CHECK(decode<nf4>(std::uint8_t(c)) == nf4::value(int(c & 15)));
}

TEST_CASE("format/nf4: every code is a fixed point, ties go to the lower code") {
  for (unsigned c = 0; c < 16; ++c) {
    CHECK(encode<nf4>(decode<nf4>(std::uint8_t(c))) == c);
    CHECK(encode<nf4, round_half_away>(double(decode<nf4>(std::uint8_t(c)))) == c);
  }
  for (int k = 0; k < 15; ++k) {
    // The midpoint of two float32 values is exact in double: a tie, which goes down.
    const double mid = (double(nf4::value(k)) + double(nf4::value(k + 1))) / 2;
    CHECK(encode<nf4>(mid) == unsigned(k));
    CHECK(encode<nf4>(std::nextafter(mid, 2.0)) == unsigned(k + 1));
    CHECK(encode<nf4>(std::nextafter(mid, -2.0)) == unsigned(k));
    CHECK(encode<nf4, round_half_away>(mid) == unsigned(k));  // nearest either way
  }
}

TEST_CASE("format/nf4: encode is the nearest code and monotone") {
  std::vector<double> xs;
  std::mt19937_64 g(71);
  std::uniform_real_distribution<double> u(-1.25, 1.25);
  for (int i = 0; i < 200000; ++i) xs.push_back(u(g));
  for (int k = 0; k < 15; ++k) {
    const double mid = (double(nf4::value(k)) + double(nf4::value(k + 1))) / 2;
    for (double d : {mid, std::nextafter(mid, 2.0), std::nextafter(mid, -2.0)}) xs.push_back(d);
    const float fm = float(mid);
    for (float f : {fm, std::nextafter(fm, 2.0f), std::nextafter(fm, -2.0f)}) xs.push_back(f);
  }
  LOWBIT_CHECK_NO_MISMATCH(compare_codes(xs, [](double x) { return encode<nf4>(x); }, nf4_reference));
  const std::vector<float> fs = random_floats(200000, 1.0, 72);
  LOWBIT_CHECK_NO_MISMATCH(compare_codes(fs, [](float x) { return encode<nf4>(x); },
                                         [](float x) { return nf4_reference(x); }));
  std::sort(xs.begin(), xs.end());
  unsigned prev = 0, drops = 0;
  for (double x : xs) {
    const unsigned c = encode<nf4>(x);
    if (c < prev) ++drops;
    prev = c;
  }
  CHECK(drops == 0);
}

TEST_CASE("format/nf4: special inputs follow the documented rules") {
  CHECK(encode<nf4>(NAN) == 7);
  CHECK(encode<nf4>(-NAN) == 7);
  CHECK(encode<nf4>(INFINITY) == 15);
  CHECK(encode<nf4>(-INFINITY) == 0);
  CHECK(encode<nf4>(1e300) == 15);
  CHECK(encode<nf4>(-1.5f) == 0);
  CHECK(encode<nf4>(-0.0f) == 7);
  CHECK(encode<nf4>(1e-40f) == 7);
  CHECK(encode<nf4>(-1e-40f) == 7);
  // Both overflow policies are the same for a code book.
  for (float x : random_floats(10000, 1.0, 73))
    CHECK(encode<nf4, round_nearest_even, overflow::propagate>(x) == encode<nf4>(x));
}

TEST_CASE("format/nf4: all 2^32 floats give the nearest code" * doctest::test_suite("slow")) {
  LOWBIT_CHECK_NO_MISMATCH(all_u32([](std::uint32_t u) {
    const float x = f32(u);
    return encode<nf4>(x) == nf4_reference(x);
  }));
}
