#include <lowbit/lowbit.hpp>

#include <random>

#include <doctest/doctest.h>

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
Mat random_matrix(Eigen::Index r, Eigen::Index c, unsigned seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, scale);
  Mat m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = n(g);
  return m;
}
}  // namespace

TEST_CASE("quantize/quantizer: int8 per-channel symmetric error <= scale/2") {
  const Mat x = random_matrix(7, 33, 1);
  quantizer<int8> q({per_channel(0)});
  const qparams p = q.fit(x);
  CHECK(p.scale.rows() == 7);
  CHECK(p.scale.cols() == 1);
  const Mat y = q.fake_quantize(x, p);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    CHECK(p.scale(i, 0) == doctest::Approx(x.row(i).cwiseAbs().maxCoeff() / 127.0f));
    for (Eigen::Index j = 0; j < x.cols(); ++j) CHECK(std::fabs(x(i, j) - y(i, j)) <= p.scale(i, 0) * 0.5f * 1.0001f);
  }
}

TEST_CASE("quantize/quantizer: uint4 asymmetric gptq convention, group 8 with short tail") {
  const Mat x = random_matrix(3, 20, 2);
  quantizer<uint4> q({per_group(8), mapping::asymmetric, convention::gptq});
  const auto qx = q.quantize(x);
  CHECK(qx.params.scale.cols() == 3);
  const Mat y = q.dequantize(qx);
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 20; ++j) {
      const float s = qx.params.scale(i, j / 8);
      CHECK(std::fabs(x(i, j) - y(i, j)) <= s * 0.5f * 1.0001f + 1e-7f);
    }
}

TEST_CASE("quantize/quantizer: mxfp4 scale is 2^(floor(log2 amax) - 2)") {
  Mat x = Mat::Zero(1, 64);
  x(0, 3) = 5.0f;   // block 0: amax 5 -> 2^(2-2) = 1
  x(0, 40) = 0.3f;  // block 1: amax 0.3 -> 2^(-2-2)
  quantizer<float4_e2m1fn, float8_e8m0fnu> q({mx_block(32)});
  const qparams p = q.fit(x);
  CHECK(p.scale(0, 0) == 1.0f);
  CHECK(p.scale(0, 1) == 0x1p-4f);
}

TEST_CASE("quantize/quantizer: nvfp4 two-level scales") {
  const Mat x = random_matrix(4, 32, 3, 2.0f);
  quantizer<float4_e2m1fn, float8_ue4m3> q({nvfp4_block(16)});
  const qparams p = q.fit(x);
  const float amax = x.cwiseAbs().maxCoeff();
  CHECK(p.tensor_scale == amax / (448.0f * 6.0f));
  const Mat y = q.fake_quantize(x, p);
  CHECK((x - y).cwiseAbs().maxCoeff() < amax * 0.25f);
}

TEST_CASE("quantize/quantizer: bad input") {
  quantizer<int8> q({per_group(4, tail::exact)});
  CHECK_THROWS_AS(q.fit(Mat(2, 6)), lowbit::error);
  CHECK_THROWS_AS(q.fit(Mat(0, 4)), lowbit::error);
  Mat x = Mat::Ones(2, 8);
  x(1, 2) = std::nanf("");
  CHECK_THROWS_AS(q.fit(x), lowbit::error);
  CHECK_THROWS_AS((quantizer<float8_e4m3fn>({per_tensor(), mapping::asymmetric})), lowbit::error);
}
