#include <lowbit/quantize/metrics.hpp>
#include <lowbit/quantize/presets.hpp>

#include <random>

#include <doctest/doctest.h>

#include "support/random.hpp"

using namespace lowbit;
using lowbit_test::randn;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

TEST_CASE("quantize/presets: w8a8 = int8 per-channel weights x per-token activations, exact int32 GEMM") {
  const Mat w = randn(16, 64, 1, 0.05f), x = randn(5, 64, 2);
  const auto p = presets::w8a8();
  const auto qw = p.weight.quantize(w);
  const auto qx = p.activation.quantize(x);
  CHECK(qw.params.scale.rows() == 16);
  CHECK(qw.params.scale.cols() == 1);
  CHECK(qx.params.scale.rows() == 5);
  for (Eigen::Index n = 0; n < 16; ++n) CHECK(qw.params.scale(n, 0) == w.row(n).cwiseAbs().maxCoeff() / 127.0f);
  // y_tn = s_t s_n Σ_k qx_tk qw_nk equals the product of the dequantized matrices (fp64).
  const Mat xd = p.activation.dequantize(qx), wd = p.weight.dequantize(qw);
  for (Eigen::Index t = 0; t < 5; ++t)
    for (Eigen::Index n = 0; n < 16; ++n) {
      long acc = 0;
      for (Eigen::Index k = 0; k < 64; ++k) acc += long(int8::to_int(qx.codes(t, k))) * int8::to_int(qw.codes(n, k));
      const double y = double(acc) * qx.params.scale(t, 0) * qw.params.scale(n, 0);
      double ref = 0;
      for (Eigen::Index k = 0; k < 64; ++k) ref += double(xd(t, k)) * wd(n, k);
      CHECK(y == doctest::Approx(ref).epsilon(1e-6));
    }
  const Eigen::MatrixXd yref = x.cast<double>() * w.cast<double>().transpose();
  const Eigen::MatrixXd yq = xd.cast<double>() * wd.cast<double>().transpose();
  CHECK(compare(yref, yq).cosine > 0.999);
}

TEST_CASE("quantize/presets: w4a16_g128 = uint4 asymmetric GPTQ groups of 128 along K") {
  const Mat w = randn(4, 300, 3, 0.02f);
  const auto q = presets::w4a16_g128();
  const auto qw = q.quantize(w);
  CHECK(qw.params.scale.cols() == 3);  // 128 + 128 + a short group of 44
  CHECK(qw.params.zeros == zero_kind::integer);
  const Mat y = q.dequantize(qw);
  for (Eigen::Index i = 0; i < 4; ++i)
    for (Eigen::Index j = 0; j < 300; ++j) {
      const float s = qw.params.scale(i, j / 128);
      CHECK(std::fabs(y(i, j) - w(i, j)) <= 0.5f * s * 1.0001f);
      const auto g = w.row(i).segment(j / 128 * 128, std::min<Eigen::Index>(128, 300 - j / 128 * 128));
      CHECK(s == (std::fmax(g.maxCoeff(), 0.0f) - std::fmin(g.minCoeff(), 0.0f)) / 15.0f);
    }
}

TEST_CASE("quantize/presets: fp8_block128 stores DeepSeek-V3 weight_scale_inv, W ≈ W_fp8 · scale per tile") {
  const Mat w = randn(300, 200, 4, 0.02f), x = randn(3, 200, 5);
  const auto p = presets::fp8_block128();
  const auto qw = p.weight.quantize(w);
  CHECK(qw.params.scale.rows() == 3);  // ceil(300/128)
  CHECK(qw.params.scale.cols() == 2);  // ceil(200/128)
  const Mat y = p.weight.dequantize(qw);
  for (Eigen::Index i = 0; i < 300; i += 7)
    for (Eigen::Index j = 0; j < 200; j += 3) {
      const float s = qw.params.scale(i / 128, j / 128);
      CHECK(y(i, j) == decode<float8_e4m3fn>(qw.codes(i, j)) * s);
      CHECK(s == w.block(i / 128 * 128, j / 128 * 128, std::min<Eigen::Index>(128, 300 - i / 128 * 128),
                         std::min<Eigen::Index>(128, 200 - j / 128 * 128)).cwiseAbs().maxCoeff() / 448.0f);
    }
  const auto qx = p.activation.quantize(x);
  CHECK(qx.params.scale.rows() == 3);
  CHECK(qx.params.scale.cols() == 2);
}

TEST_CASE("quantize/presets: mxfp4 / mxfp8 scale rules on hand-worked blocks (research/formats.md §3)") {
  Mat x = Mat::Zero(1, 96);
  x(0, 0) = 5.0f;   // block 0: amax 5 = 1.25·2^2
  x(0, 32) = 7.0f;  // block 1: amax 7 = 1.75·2^2
  x(0, 70) = 0.0f;  // block 2: all zero -> 2^-127
  struct row {
    mx_scale_rule r;
    float s0, s1;
  };
  // e2m1 (emax 2, max 6): floor 2^(2-2); ceil 2^(3-2); even rounds 1.75 up to 2 -> 2^(3-2) for
  // block 1; rceil = 2^ceil(log2(amax/6)): 5/6 -> 2^0, 7/6 -> 2^1.
  for (const row& c : {row{mx_scale_rule::floor, 1, 1}, row{mx_scale_rule::ceil, 2, 2},
                       row{mx_scale_rule::even, 1, 2}, row{mx_scale_rule::rceil, 1, 2}}) {
    const auto q = presets::mxfp4(c.r);
    const qparams p = q.fit(x);
    CHECK(p.scale(0, 0) == c.s0);
    CHECK(p.scale(0, 1) == c.s1);
    CHECK(p.scale(0, 2) == 0x1p-127f);
  }
  // floor clips: 7 / 1 = 7 -> 6 (max normal, sign kept)
  const auto q = presets::mxfp4();
  CHECK(q.fake_quantize(x)(0, 32) == 6.0f);
  CHECK(presets::mxfp4(mx_scale_rule::rceil).fake_quantize(x)(0, 32) == 8.0f);  // 7/2 = 3.5 -> 4 (RNE) · 2
  // e4m3 (emax 8): amax 5 -> floor 2^(2-8)
  CHECK(presets::mxfp8().fit(x).scale(0, 0) == 0x1p-6f);
}

TEST_CASE("quantize/presets: nvfp4 and nf4") {
  const Mat x = randn(2, 64, 6, 3.0f);
  const auto q = presets::nvfp4();
  const qparams p = q.fit(x);
  CHECK(p.scale.cols() == 4);
  CHECK(p.tensor_scale == x.cwiseAbs().maxCoeff() / 2688.0f);
  const auto b = presets::nf4();
  const auto qb = b.quantize(x);
  CHECK(qb.params.scale.cols() == 1);
  CHECK(qb.params.scale(1, 0) == x.row(1).cwiseAbs().maxCoeff());
  const Mat y = b.dequantize(qb);
  for (Eigen::Index j = 0; j < 64; ++j) {  // the code is the nearest table value to x / absmax
    const float v = x(1, j) / qb.params.scale(1, 0);
    float best = 2;
    for (int k = 0; k < 16; ++k) best = std::fmin(best, std::fabs(v - lowbit::nf4::value(k)));
    CHECK(std::fabs(v - lowbit::nf4::value(qb.codes(1, j))) == best);
    CHECK(y(1, j) == lowbit::nf4::value(qb.codes(1, j)) * qb.params.scale(1, 0));
  }
}
