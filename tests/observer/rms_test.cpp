#include <lowbit/format/float8.hpp>
#include <lowbit/format/half.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/observer/rms.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <cmath>
#include <limits>
#include <random>

#include <doctest/doctest.h>

using namespace lowbit;

TEST_CASE("observer/rms: k * rms with the 0.5 * absmax floor, by hand") {
  // rms of {3, 4} = sqrt(12.5) = 3.5355; k = 3 -> 10.607 > 0.5 * 4
  const float a[2] = {3.0f, -4.0f};
  CHECK(rms_range(a, nullptr, 2).hi == doctest::Approx(3.0 * std::sqrt(12.5)));
  CHECK(rms_range(a, nullptr, 2).lo == -rms_range(a, nullptr, 2).hi);
  // one outlier among zeros: rms = 100/sqrt(100) = 10, 3 * 10 = 30 < 0.5 * 100 -> floor 50
  float b[100] = {};
  b[7] = -100.0f;
  CHECK(rms_range(b, nullptr, 100).hi == 50.0f);
  CHECK(rms_range(b, nullptr, 100, 3.0f, 0.0f).hi == doctest::Approx(30.0f));
  // weights: Σ w x² / n; weight 0 on the outlier leaves the floor
  float w[100];
  for (float& v : w) v = 1.0f;
  w[7] = 0.0f;
  CHECK(rms_range(b, w, 100).hi == 50.0f);
  w[7] = 0.25f;  // rms = sqrt(0.25 * 10000 / 100) = 5, 3 * 5 = 15 < 50
  CHECK(rms_range(b, w, 100, 12.0f).hi == doctest::Approx(60.0f));
  CHECK(rms_range(b, nullptr, 0).hi == 0.0f);
  // k · rms beyond FLT_MAX (data near it) stops at FLT_MAX: a finite scale, no NaN x̂
  const float big[4] = {2e38f, -2e38f, 0.0f, 1.0f};
  CHECK(rms_range(big, nullptr, 4).hi == std::numeric_limits<float>::max());
  Eigen::Matrix<float, 1, 4> xb(big);
  const quantizer<int8> qr({per_tensor(), mapping::symmetric, convention::lowbit, rms_observer()});
  CHECK(std::isfinite(qr.fit(xb).scale(0, 0)));
  CHECK(qr.fake_quantize(xb).allFinite());
}

TEST_CASE("observer/rms: fp8 128x128 blocks reproduce the Quantize-Qwen3.5 scale formula") {
  // quantize_fp8.py: scale = max(rms(block) * k / 448, 0.5 * max|block| / 448), stored bf16;
  // lowbit: range r = max(k rms, 0.5 amax), s = bf16(r / 448). Independent float64 recomputation.
  std::mt19937 g(5);
  std::student_t_distribution<double> t(3.0);
  Eigen::MatrixXf w(200, 300);
  for (Eigen::Index i = 0; i < w.rows(); ++i)
    for (Eigen::Index j = 0; j < w.cols(); ++j) w(i, j) = float(0.02 * t(g));
  w(5, 5) = 3.0f;  // an outlier that the floor governs
  quant_options o;
  o.gran = block(128, 128, tail::pad);  // the toolkit zero-pads partial tiles
  o.obs = rms_observer(3.0f);
  quantizer<float8_e4m3fn, bfloat16_format> q(o);
  const qparams p = q.fit(w);
  REQUIRE(p.scale.rows() == 2);
  REQUIRE(p.scale.cols() == 3);
  for (Eigen::Index bi = 0; bi < 2; ++bi)
    for (Eigen::Index bj = 0; bj < 3; ++bj) {
      double ss = 0, amax = 0;
      for (Eigen::Index i = bi * 128; i < std::min<Eigen::Index>(200, bi * 128 + 128); ++i)
        for (Eigen::Index j = bj * 128; j < std::min<Eigen::Index>(300, bj * 128 + 128); ++j) {
          ss += double(w(i, j)) * w(i, j);
          amax = std::max(amax, double(std::fabs(w(i, j))));
        }
      const double rms = std::sqrt(ss / (128.0 * 128.0));  // padded zeros count in the mean
      const double s = std::max(rms * 3.0 / 448.0, 0.5 * amax / 448.0);
      CHECK(p.scale(bi, bj) == doctest::Approx(s).epsilon(1.0 / 256));  // bf16 has 8 bits
      CHECK(decode<bfloat16_format>(encode<bfloat16_format>(p.scale(bi, bj))) == p.scale(bi, bj));
    }
  CHECK(p.scale(0, 0) == decode<bfloat16_format>(encode<bfloat16_format>(3.0f * 0.5f / 448.0f)));
  // The outlier saturates at most 2x beyond the format: |w|/s <= 2 * 448.
  CHECK(std::fabs(w(5, 5)) / p.scale(0, 0) <= 2.0f * 448.0f * 1.01f);
}
