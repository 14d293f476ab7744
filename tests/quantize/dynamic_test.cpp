#include <lowbit/quantize/dynamic.hpp>

#include <lowbit/format/float8.hpp>
#include <lowbit/format/int.hpp>

#include <cmath>
#include <limits>
#include <random>

#include <doctest/doctest.h>

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
// Activations with a per-row offset and per-row spread, plus one outlier channel (LLM-like).
Mat activations(Eigen::Index t, Eigen::Index k, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Mat x(t, k);
  for (Eigen::Index i = 0; i < t; ++i) {
    const float mu = 0.5f * n(g), sd = 0.2f + std::fabs(n(g));
    for (Eigen::Index j = 0; j < k; ++j) x(i, j) = mu + sd * n(g);
    x(i, 3) *= 20.0f;
  }
  return x;
}
}  // namespace

TEST_CASE("quantize/dynamic: per-token symmetric int8 codes equal round-half-even(x / (amax_row/127))") {
  const Mat x = activations(9, 40, 1);
  const auto a = activation_quantizer<int8>::dynamic_per_token();
  const auto qx = a.quantize(x);
  REQUIRE(qx.params.scale.rows() == 9);
  REQUIRE(qx.params.scale.cols() == 1);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const float s = x.row(i).cwiseAbs().maxCoeff() / 127.0f;
    CHECK(qx.params.scale(i, 0) == s);
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      const float v = std::nearbyint(x(i, j) / s);  // |v| <= 127 by construction
      CHECK(int8::to_int(qx.codes(i, j)) == int(v));
    }
  }
}

TEST_CASE("quantize/dynamic: per-token rows are independent (a row alone quantizes as inside the batch)") {
  const Mat x = activations(6, 33, 2);
  const auto a = activation_quantizer<int8>::dynamic_per_token(mapping::asymmetric);
  const auto all = a.quantize(x);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const Mat row = x.row(i);
    const auto one = a.quantize(row);
    CHECK(one.codes == all.codes.row(i));
    CHECK(one.params.scale(0, 0) == all.params.scale(i, 0));
    CHECK(one.params.zero(0, 0) == all.params.zero(i, 0));
  }
}

TEST_CASE("quantize/dynamic: per-token asymmetric int8 and uint8 error <= s/2, row extremes hit the end codes") {
  const Mat x = activations(8, 48, 3) + Mat::Constant(8, 48, 2.0f);  // mostly positive rows
  auto check = [&](auto fmt) {
    using F = decltype(fmt);
    const auto a = activation_quantizer<F>::dynamic_per_token(mapping::asymmetric);
    const auto qx = a.quantize(x);
    const Mat y = a.dequantize(qx);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const double lo = std::min(0.0f, x.row(i).minCoeff()), hi = std::max(0.0f, x.row(i).maxCoeff());
      const float s = qx.params.scale(i, 0);
      CHECK(s == doctest::Approx((hi - lo) / 255.0).epsilon(1e-6));
      const float z = qx.params.zero(i, 0);
      CHECK(z == std::nearbyint(z));  // integer zero point
      CHECK(z >= F::min_int);
      CHECK(z <= F::max_int);
      for (Eigen::Index j = 0; j < x.cols(); ++j) CHECK(std::fabs(y(i, j) - x(i, j)) <= 0.5f * s * 1.0001f);
      int cmax = -1000;
      for (Eigen::Index j = 0; j < x.cols(); ++j) cmax = std::max(cmax, F::to_int(qx.codes(i, j)));
      CHECK(cmax == F::max_int);  // the row max maps to the top code (range widened to 0 at the bottom)
    }
  };
  check(int8{});
  check(uint8{});
}

TEST_CASE("quantize/dynamic: per-token fp8 e4m3fn scale amax/448, row max encodes to 448, codes are RNE casts") {
  const Mat x = activations(5, 64, 4);
  const auto a = activation_quantizer<float8_e4m3fn>::dynamic_per_token();
  const auto qx = a.quantize(x);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const float s = x.row(i).cwiseAbs().maxCoeff() / 448.0f;
    CHECK(qx.params.scale(i, 0) == s);
    bool saw_max = false;
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      CHECK(qx.codes(i, j) == encode<float8_e4m3fn>(x(i, j) / s));
      saw_max = saw_max || (qx.codes(i, j) & 0x7F) == 0x7E;
    }
    CHECK(saw_max);
  }
  // e5m2 works the same way with max 57344.
  const auto b = activation_quantizer<float8_e5m2>::dynamic_per_token();
  CHECK(b.quantize(x).params.scale(0, 0) == x.row(0).cwiseAbs().maxCoeff() / 57344.0f);
}

TEST_CASE("quantize/dynamic: static per-tensor uses the calibrated range for every batch and saturates outside it") {
  range_tracker cal;
  const Mat c1 = activations(4, 16, 5), c2 = activations(4, 16, 6);
  cal.observe(c1);
  cal.observe(c2);
  CHECK(cal.batches() == 2);
  CHECK(cal.range().lo == std::min(c1.minCoeff(), c2.minCoeff()));
  CHECK(cal.range().hi == std::max(c1.maxCoeff(), c2.maxCoeff()));

  const auto a = activation_quantizer<int8>::static_per_tensor(cal.range());
  const float s = std::max(-cal.range().lo, cal.range().hi) / 127.0f;
  Mat x = activations(3, 16, 7);
  x(1, 2) = 1000.0f;  // far outside the calibrated range
  x(2, 5) = -1000.0f;
  const auto qx = a.quantize(x);
  CHECK(qx.params.scale.size() == 1);
  CHECK(qx.params.scale(0, 0) == s);
  CHECK(int8::to_int(qx.codes(1, 2)) == 127);
  CHECK(int8::to_int(qx.codes(2, 5)) == -128);
  // The scale does not depend on the batch: a different batch shape gets the same scale.
  CHECK(a.quantize(activations(7, 16, 8)).params.scale(0, 0) == s);

  // Asymmetric static: integer zero from the calibrated range (widened to include 0).
  const auto b = activation_quantizer<uint8>::static_per_tensor({0.5f, 6.0f}, mapping::asymmetric);
  const auto qb = b.quantize(Mat::Constant(2, 3, 3.0f));
  CHECK(qb.params.scale(0, 0) == doctest::Approx(6.0 / 255.0));
  CHECK(qb.params.zero(0, 0) == 0.0f);
  CHECK(uint8::to_int(qb.codes(0, 0)) == int(std::nearbyint(3.0f / qb.params.scale(0, 0))));
}

TEST_CASE("quantize/dynamic: EMA range tracker follows lo <- m*lo + (1-m)*lo_batch") {
  range_tracker ema(range_update::ema, 0.75f);
  ema.observe(Mat::Constant(1, 2, 2.0f));
  Mat b(1, 2);
  b << -4.0f, 6.0f;
  ema.observe(b);
  CHECK(ema.range().lo == doctest::Approx(0.75 * 2.0 + 0.25 * -4.0));
  CHECK(ema.range().hi == doctest::Approx(0.75 * 2.0 + 0.25 * 6.0));
  // float32 with each product rounded before the sum: fl(fl(0.9·3) + fl(0.1·b)), worked out in
  // Python (float64 products are exact; struct 'f' rounds to float). Contracting either product
  // into an FMA gives 0x1.a5a512p+1, one ulp up.
  range_tracker m9(range_update::ema, 0.9f);
  m9.observe(Mat::Constant(1, 2, 3.0f));
  m9.observe(Mat::Constant(1, 2, 0x1.7c3958p+2f));
  CHECK(m9.range().lo == 0x1.a5a51p+1f);
  CHECK(m9.range().hi == 0x1.a5a51p+1f);
  // near FLT_MAX the rounded products can sum past it: the average stays between its inputs
  range_tracker big(range_update::ema, 0.3f);
  big.observe(Mat::Constant(1, 2, std::numeric_limits<float>::max()));
  big.observe(Mat::Constant(1, 2, std::numeric_limits<float>::max()));
  CHECK(big.range().hi == std::numeric_limits<float>::max());
  CHECK(big.range().lo == std::numeric_limits<float>::max());
}

TEST_CASE("quantize/dynamic: bad input is a clear error") {
  const auto a = activation_quantizer<int8>::dynamic_per_token();
  CHECK_THROWS_AS(a.quantize(Mat(0, 4)), lowbit::error);
  Mat x = Mat::Ones(2, 3);
  x(1, 1) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(a.quantize(x), doctest::Contains("non-finite"), lowbit::error);
  CHECK_THROWS_WITH_AS(activation_quantizer<float8_e4m3fn>::dynamic_per_token(mapping::asymmetric),
                       doctest::Contains("asymmetric mapping needs an integer format"), lowbit::error);
  CHECK_THROWS_WITH_AS(activation_quantizer<int8>::static_per_tensor({2.0f, 1.0f}),
                       doctest::Contains("lo <= hi"), lowbit::error);
  CHECK_THROWS_AS(activation_quantizer<int8>::static_per_tensor({0.0f, std::numeric_limits<float>::infinity()}),
                  lowbit::error);
  range_tracker t;
  CHECK_THROWS_WITH_AS(t.range(), doctest::Contains("no batch observed"), lowbit::error);
  CHECK_THROWS_WITH_AS(t.observe(x), doctest::Contains("non-finite"), lowbit::error);
  CHECK_THROWS_AS(range_tracker(range_update::ema, 1.0f), lowbit::error);
}
