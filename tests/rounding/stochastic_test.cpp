// Proof of lowbit/rounding/stochastic.hpp: the exact rounding-up probability, the quality of
// the counter-based bits, unbiasedness in every format family (a statistical test with a
// stated tolerance), and independence of thread count and order.
#include <lowbit/format/float4.hpp>
#include <lowbit/format/float8.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/scale.hpp>
#include <lowbit/rounding/directed.hpp>
#include <lowbit/rounding/stochastic.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace lowbit;

namespace {
constexpr std::uint64_t two32 = std::uint64_t(1) << 32;
constexpr std::size_t n_samples = std::size_t(1) << 20;
// Statistical checks allow 5 standard errors: a false alarm has probability < 6e-7 per check
// (and the seeds are fixed, so a run is reproducible).
constexpr double z_tolerance = 5.0;
}  // namespace

TEST_CASE("rounding/stochastic: rounds up for exactly frac(v)·2^32 of the 2^32 random values") {
  // floor(v + r·2^-32) is monotone in r, so it is enough to find the threshold: with
  // v = k + m·2^-32, it rounds up exactly for r >= 2^32 - m, i.e. for m values of r.
  for (double k : {0.0, 5.0, -3.0, 1000.0, -524287.0}) {
    for (std::uint64_t m : {std::uint64_t(1), std::uint64_t(12345), two32 / 4, two32 / 2, 3 * two32 / 4, two32 - 1}) {
      const double v = k + double(m) * 0x1p-32;
      REQUIRE(v - k == double(m) * 0x1p-32);  // v is exact
      const std::uint32_t t = std::uint32_t(two32 - m);
      CHECK(round_stochastic::apply(v, 0) == k);
      CHECK(round_stochastic::apply(v, t - 1) == k);
      CHECK(round_stochastic::apply(v, t) == k + 1);
      CHECK(round_stochastic::apply(v, 0xFFFFFFFFu) == k + 1);
    }
    for (std::uint32_t r : {0u, 1u, 0x80000000u, 0xFFFFFFFFu}) CHECK(round_stochastic::apply(k, r) == k);  // exact stays
  }
  CHECK(round_stochastic::is_stochastic);
  CHECK(is_rounding_v<round_stochastic>);
}

TEST_CASE("rounding/stochastic: stochastic_bits is a pure, uniform, decorrelated function of (seed, index)") {
  const std::uint64_t seed = 0x5EED;
  std::vector<std::uint32_t> a(n_samples), b(n_samples);
  for (std::size_t i = 0; i < n_samples; ++i) {
    a[i] = stochastic_bits(seed, i);
    b[i] = stochastic_bits(seed + 1, i);
  }
  for (std::size_t i = 0; i < n_samples; i += 4099) CHECK(stochastic_bits(seed, i) == a[i]);  // pure
  // Chi-square over 256 bins of the top and the bottom byte: 255 degrees of freedom, mean 255,
  // standard deviation sqrt(510) ≈ 22.6.
  for (int shift : {24, 0}) {
    std::vector<double> bins(256, 0.0);
    for (std::uint32_t r : a) bins[(r >> shift) & 255] += 1;
    const double expect = double(n_samples) / 256;
    double chi2 = 0;
    for (double c : bins) chi2 += (c - expect) * (c - expect) / expect;
    CHECK_MESSAGE(std::fabs(chi2 - 255) < z_tolerance * std::sqrt(510.0), "byte at bit " << shift << " chi2 " << chi2);
  }
  // Every bit is set half of the time.
  const double se_bit = 0.5 / std::sqrt(double(n_samples));
  for (int bit = 0; bit < 32; ++bit) {
    std::size_t ones = 0;
    for (std::uint32_t r : a) ones += (r >> bit) & 1u;
    CHECK_MESSAGE(std::fabs(double(ones) / n_samples - 0.5) < z_tolerance * se_bit, "bit " << bit);
  }
  // Neighbouring indices and neighbouring seeds are uncorrelated (standard error 1/sqrt(N)).
  auto corr = [](const std::vector<std::uint32_t>& x, const std::vector<std::uint32_t>& y, std::size_t lag) {
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    const std::size_t n = x.size() - lag;
    for (std::size_t i = 0; i < n; ++i) {
      const double p = x[i + lag] * 0x1p-32, q = y[i] * 0x1p-32;
      sx += p; sy += q; sxx += p * p; syy += q * q; sxy += p * q;
    }
    const double cov = sxy / n - sx / n * sy / n;
    return cov / std::sqrt((sxx / n - sx / n * sx / n) * (syy / n - sy / n * sy / n));
  };
  const double se_corr = 1.0 / std::sqrt(double(n_samples));
  CHECK(std::fabs(corr(a, a, 1)) < z_tolerance * se_corr);
  CHECK(std::fabs(corr(a, b, 0)) < z_tolerance * se_corr);
  std::size_t same = 0;
  for (std::size_t i = 0; i < n_samples; ++i) same += a[i] == b[i];
  CHECK(same < 16);  // expected 2^20 / 2^32 ≈ 0.0002
}

namespace {
// Encodes x n_samples times with stochastic_bits(seed, i); returns how far the mean decoded
// value is from x in standard errors, after checking that only the two neighbours occur.
template <class F>
double bias_in_standard_errors(double x, std::uint64_t seed) {
  INFO(std::string(F::name) << " x = " << x);
  const double lo = decode<F>(encode<F, round_down>(x)), hi = decode<F>(encode<F, round_up>(x));
  REQUIRE(lo < x);
  REQUIRE(x < hi);
  const double p = (x - lo) / (hi - lo);
  double sum = 0;
  std::size_t ups = 0, others = 0;
  for (std::size_t i = 0; i < n_samples; ++i) {
    const double v = decode<F>(encode<F, round_stochastic>(x, stochastic_bits(seed, i)));
    if (v == hi) ++ups;
    else if (v != lo) ++others;
    sum += v;
  }
  CHECK(others == 0);
  const double se = (hi - lo) * std::sqrt(p * (1 - p) / double(n_samples));
  INFO("P(up) expected " << p << ", observed " << double(ups) / double(n_samples));
  CHECK(std::fabs(double(ups) / double(n_samples) - p) < z_tolerance * std::sqrt(p * (1 - p) / double(n_samples)));
  return std::fabs(sum / double(n_samples) - x) / se;
}
}  // namespace

TEST_CASE("rounding/stochastic: unbiased in every format family, within 5 standard errors") {
  CHECK(bias_in_standard_errors<float8_e4m3fn>(1.03, 1) < z_tolerance);
  CHECK(bias_in_standard_errors<float8_e4m3fn>(-0.0031, 2) < z_tolerance);  // subnormal range
  CHECK(bias_in_standard_errors<float8_e5m2>(-300.5, 3) < z_tolerance);
  CHECK(bias_in_standard_errors<float8_e3m4>(7.77, 4) < z_tolerance);
  CHECK(bias_in_standard_errors<float4_e2m1fn>(2.7, 5) < z_tolerance);
  CHECK(bias_in_standard_errors<float4_e2m1fn>(-0.1, 6) < z_tolerance);
  CHECK(bias_in_standard_errors<int8>(13.37, 7) < z_tolerance);
  CHECK(bias_in_standard_errors<int8>(-0.25, 8) < z_tolerance);
  CHECK(bias_in_standard_errors<uint4>(14.999, 9) < z_tolerance);
  CHECK(bias_in_standard_errors<float8_e8m0fnu>(3.0, 10) < z_tolerance);   // 2 or 4, p = 1/2
  CHECK(bias_in_standard_errors<float8_e8m0fnu>(5.0, 11) < z_tolerance);   // 4 or 8, p = 1/4
  CHECK(bias_in_standard_errors<float8_ue4m3>(0.07, 12) < z_tolerance);
}

TEST_CASE("rounding/stochastic: results do not depend on thread count, chunking or order") {
  std::mt19937_64 g(93);
  std::uniform_real_distribution<double> u(-500, 500);
  std::vector<float> x(n_samples);
  for (float& v : x) v = float(u(g));
  const std::uint64_t seed = 42;
  auto one = [&](std::size_t i) { return encode<float8_e4m3fn, round_stochastic>(x[i], stochastic_bits(seed, i)); };
  std::vector<std::uint8_t> serial(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) serial[i] = one(i);

  auto run = [&](unsigned threads, bool interleaved) {
    std::vector<std::uint8_t> out(x.size());
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        if (interleaved) {
          for (std::size_t i = t; i < x.size(); i += threads) out[i] = one(i);
        } else {
          const std::size_t b = x.size() * t / threads, e = x.size() * (t + 1) / threads;
          for (std::size_t i = e; i-- > b;) out[i] = one(i);  // backwards, for good measure
        }
      });
    }
    for (auto& th : pool) th.join();
    return out;
  };
  for (unsigned threads : {1u, 2u, 3u, 7u, 16u}) {
    CHECK(run(threads, false) == serial);
    CHECK(run(threads, true) == serial);
  }
  // A different seed gives a different (but equally valid) rounding.
  std::size_t differ = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    differ += encode<float8_e4m3fn, round_stochastic>(x[i], stochastic_bits(seed + 1, i)) != serial[i];
  CHECK(differ > x.size() / 10);
}
