#include <lowbit/format/float8.hpp>
#include <lowbit/format/half.hpp>
#include <lowbit/quantize/metrics.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <random>

#include <doctest/doctest.h>

using namespace lowbit;

TEST_CASE("quantize/metrics: hand-computed values") {
  Eigen::Matrix2f x, y;
  x << 1, 2,  //
      3, 4;
  y << 1, 2.5f,  //
      2, 4;
  // errors {0, -0.5, 1, 0}: Σe² = 1.25, Σ|e| = 1.5, Σx² = 30
  CHECK(mse(x, y) == doctest::Approx(1.25 / 4));
  CHECK(mean_abs_error(x, y) == doctest::Approx(1.5 / 4));
  CHECK(max_abs_error(x, y) == 1.0);
  CHECK(sqnr_db(x, y) == doctest::Approx(10 * std::log10(30 / 1.25)));
  // Σxy = 1 + 5 + 6 + 16 = 28, Σy² = 1 + 6.25 + 4 + 16 = 27.25
  CHECK(cosine_similarity(x, y) == doctest::Approx(28 / std::sqrt(30 * 27.25)));
  const error_report r = compare(x, y);
  CHECK(r.n == 4);
  CHECK(r.cosine == doctest::Approx(28 / std::sqrt(30 * 27.25)));
  CHECK(r.overall == health::fail);
  CHECK(r.summary().rfind("FAIL  cos 0.9", 0) == 0);
  // Exact and zero cases.
  CHECK(std::isinf(sqnr_db(x, x)));
  CHECK(sqnr_db(x, x) > 0);
  CHECK(cosine_similarity(x, x) == doctest::Approx(1.0));
  const Eigen::Matrix2f z = Eigen::Matrix2f::Zero();
  CHECK(cosine_similarity(z, z) == 1.0);
  CHECK(cosine_similarity(z, x) == 0.0);
  CHECK(sqnr_db(z, x) < 0);
  CHECK(std::isinf(sqnr_db(z, x)));
  CHECK(cosine_similarity(x, Eigen::Matrix2f(-x)) == doctest::Approx(-1.0));
}

TEST_CASE("quantize/metrics: health bands at the seed toolkit's thresholds") {
  const health_bands b;
  CHECK(health_bands::higher_better(0.9997, b.cosine_good, b.cosine_warn) == health::good);
  CHECK(health_bands::higher_better(0.9996, b.cosine_good, b.cosine_warn) == health::warn);
  CHECK(health_bands::higher_better(0.9995, b.cosine_good, b.cosine_warn) == health::warn);
  CHECK(health_bands::higher_better(0.99949, b.cosine_good, b.cosine_warn) == health::fail);
  CHECK(health_bands::lower_better(0.0008, b.mae_good, b.mae_warn) == health::good);
  CHECK(health_bands::lower_better(0.0009, b.mae_good, b.mae_warn) == health::warn);
  CHECK(health_bands::lower_better(0.0011, b.mae_good, b.mae_warn) == health::fail);
  CHECK(health_bands::lower_better(0.015, b.max_good, b.max_warn) == health::warn);
  CHECK(health_bands::lower_better(0.021, b.max_good, b.max_warn) == health::fail);
  const health_bands s = health_bands::qwen35_script();
  CHECK(health_bands::higher_better(0.999, s.cosine_good, s.cosine_warn) == health::warn);
  CHECK(health_bands::higher_better(NAN, s.cosine_good, s.cosine_warn) == health::fail);
  // Worst band wins: one element off by 0.015 -> max WARN, the rest GOOD.
  Eigen::MatrixXf x = Eigen::MatrixXf::Constant(10, 100, 0.05f), y = x;
  y(3, 3) += 0.015f;
  const error_report r = compare(x, y);
  CHECK(r.cosine_band == health::good);
  CHECK(r.mae_band == health::good);
  CHECK(r.max_band == health::warn);
  CHECK(r.overall == health::warn);
}

TEST_CASE("quantize/metrics: fp8 block-128 Gaussian weights: errors GOOD, cosine WARN (e4m3's ~31.5 dB)") {
  std::mt19937 g(1);
  std::normal_distribution<float> n(0.0f, 0.02f);
  Eigen::MatrixXf w(256, 256);
  for (Eigen::Index i = 0; i < w.rows(); ++i)
    for (Eigen::Index j = 0; j < w.cols(); ++j) w(i, j) = n(g);
  quantizer<float8_e4m3fn, bfloat16_format> q({block(128, 128)});
  const error_report r = compare(w, q.fake_quantize(w));
  // Unbiased noise: cos ≈ 1 − 1/(2·SQNR) (linear SQNR); 3 mantissa bits give ~31.5 dB, so the
  // README's cosine GOOD (>= 0.9997, i.e. >= 32.2 dB) is out of reach for Gaussian data.
  CHECK(r.sqnr_db == doctest::Approx(31.5).epsilon(0.02));
  CHECK(r.cosine == doctest::Approx(1.0 - 0.5 * std::pow(10.0, -r.sqnr_db / 10.0)).epsilon(1e-5));
  CHECK(r.mae_band == health::good);
  CHECK(r.max_band == health::good);
  CHECK(r.cosine_band == health::warn);
  CHECK(r.overall == health::warn);
  CHECK(compare(w, q.fake_quantize(w), health_bands::qwen35_script()).overall == health::good);
  CHECK(r.summary().rfind("WARN", 0) == 0);
}

TEST_CASE("quantize/metrics: bad input and non-finite approximations") {
  Eigen::MatrixXf x = Eigen::MatrixXf::Ones(2, 3), y = x;
  CHECK_THROWS_AS(mse(x, Eigen::MatrixXf::Ones(3, 2)), lowbit::error);
  CHECK_THROWS_AS(compare(Eigen::MatrixXf(0, 3), Eigen::MatrixXf(0, 3)), lowbit::error);
  x(1, 1) = INFINITY;
  CHECK_THROWS_AS(compare(x, y), lowbit::error);
  x(1, 1) = 1;
  y(0, 2) = NAN;
  const error_report r = compare(x, y);
  CHECK(std::isnan(r.cosine));
  CHECK(r.overall == health::fail);
  CHECK(r.cosine_band == health::fail);
  CHECK(r.mae_band == health::fail);
}
