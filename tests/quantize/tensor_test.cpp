#include <lowbit/format/float8.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/quantize/quantizer.hpp>
#include <lowbit/quantize/tensor.hpp>

#include <random>

#include <doctest/doctest.h>

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
template <class T>
void fill_randn(T& t, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n;
  for (Eigen::Index k = 0; k < t.size(); ++k) t.data()[k] = n(g);
}
}  // namespace

TEST_CASE("quantize/tensor: KV cache [B,H,T,D] split {2,1}: KIVI keys per channel, values per token, per head") {
  const Eigen::Index B = 2, H = 3, T = 5, D = 8;
  Eigen::Tensor<float, 4, Eigen::RowMajor> kv(B, H, T, D);
  fill_randn(kv, 1);
  const quantizer<uint4> kq({per_channel(1), mapping::asymmetric, convention::kivi, minmax_observer()});
  const quantizer<uint4> vq({per_token(), mapping::asymmetric, convention::kivi, minmax_observer()});
  const auto qk = quantize_tensor(kq, kv, {2, 1});
  REQUIRE(qk.slices.size() == std::size_t(B * H));
  CHECK(qk.rows == T);
  CHECK(qk.cols == D);
  CHECK(qk.slices[0].params.scale.rows() == 1);
  CHECK(qk.slices[0].params.scale.cols() == D);
  const auto qv = quantize_tensor(vq, kv, {2, 1});
  CHECK(qv.slices[4].params.scale.rows() == T);
  // Slice (b, h) holds kv(b, h, :, :) and its scale is the per-channel range of that head only.
  for (Eigen::Index b = 0; b < B; ++b)
    for (Eigen::Index h = 0; h < H; ++h)
      for (Eigen::Index d = 0; d < D; ++d) {
        float lo = 1e9f, hi = -1e9f;
        for (Eigen::Index t = 0; t < T; ++t) {
          lo = std::fmin(lo, kv(b, h, t, d));
          hi = std::fmax(hi, kv(b, h, t, d));
        }
        const auto& p = qk.slices[std::size_t(b * H + h)].params;
        CHECK(p.scale(0, d) == (hi - lo) / 15.0f);
        CHECK(p.zero(0, d) == lo);
      }
  const auto y = dequantize_tensor<4>(kq, qk);
  const auto y2 = fake_quantize_tensor(kq, kv, {2, 1});
  for (Eigen::Index b = 0; b < B; ++b)
    for (Eigen::Index h = 0; h < H; ++h)
      for (Eigen::Index t = 0; t < T; ++t)
        for (Eigen::Index d = 0; d < D; ++d) {
          const float s = qk.slices[std::size_t(b * H + h)].params.scale(0, d);
          CHECK(std::fabs(y(b, h, t, d) - kv(b, h, t, d)) <= 0.5f * s * 1.0001f);
          CHECK(y2(b, h, t, d) == y(b, h, t, d));
        }
}

TEST_CASE("quantize/tensor: [T,H,D] split {0,2}: per_head(D) is one scale per head over all tokens") {
  const Eigen::Index T = 6, H = 4, D = 16;
  Eigen::Tensor<float, 3, Eigen::RowMajor> x(T, H, D);
  fill_randn(x, 2);
  x(3, 2, 5) = 9.0f;  // head 2's outlier
  const quantizer<int8> q({per_head(D)});
  const auto qx = quantize_tensor(q, x, {0, 2});
  REQUIRE(qx.slices.size() == 1);
  CHECK(qx.rows == T);
  CHECK(qx.cols == H * D);
  CHECK(qx.slices[0].params.scale.cols() == H);
  CHECK(qx.slices[0].params.scale(0, 2) == 9.0f / 127.0f);
  const auto qt = quantize_tensor(quantizer<int8>({per_token_head(D)}), x, {0, 2});
  CHECK(qt.slices[0].params.scale.rows() == T);
  CHECK(qt.slices[0].params.scale.cols() == H);
  CHECK(qt.slices[0].params.scale(3, 2) == 9.0f / 127.0f);
  // Same as the plain matrix path on the T × (H·D) view.
  Eigen::Map<const Mat> m(x.data(), T, H * D);
  CHECK(q.quantize(m).codes == qx.slices[0].codes);
}

TEST_CASE("quantize/tensor: column-major tensors and TensorMaps give the row-major codes") {
  Eigen::Tensor<float, 3, Eigen::RowMajor> r(3, 4, 10);
  fill_randn(r, 3);
  Eigen::Tensor<float, 3, Eigen::ColMajor> c(3, 4, 10);
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 4; ++j)
      for (Eigen::Index k = 0; k < 10; ++k) c(i, j, k) = r(i, j, k);
  const quantizer<float8_e4m3fn> q({per_group(5)});
  for (tensor_split s : {tensor_split{0, 1}, tensor_split{1, 1}, tensor_split{0, 2}}) {
    const auto a = quantize_tensor(q, r, s), b = quantize_tensor(q, c, s);
    REQUIRE(a.slices.size() == b.slices.size());
    for (std::size_t k = 0; k < a.slices.size(); ++k) CHECK(a.slices[k].codes == b.slices[k].codes);
    const auto fc = fake_quantize_tensor(q, c, s);  // keeps ColMajor
    const auto fr = fake_quantize_tensor(q, r, s);
    for (Eigen::Index i = 0; i < 3; ++i)
      for (Eigen::Index j = 0; j < 4; ++j)
        for (Eigen::Index k = 0; k < 10; ++k) CHECK(fc(i, j, k) == fr(i, j, k));
  }
  Eigen::TensorMap<Eigen::Tensor<const float, 3, Eigen::RowMajor>> map(r.data(), 3, 4, 10);
  CHECK(quantize_tensor(q, map).slices[0].codes == quantize_tensor(q, r).slices[0].codes);
}

TEST_CASE("quantize/tensor: bad input") {
  Eigen::Tensor<float, 3, Eigen::RowMajor> x(2, 3, 4);
  x.setConstant(1.0f);
  const quantizer<int8> q({per_tensor()});
  CHECK_THROWS_AS(quantize_tensor(q, x, {1, 2}), lowbit::error);  // no row axis
  CHECK_THROWS_AS(quantize_tensor(q, x, {0, 0}), lowbit::error);
  CHECK_THROWS_AS(quantize_tensor(q, x, {-1, 1}), lowbit::error);
  Eigen::Tensor<float, 3, Eigen::RowMajor> e(2, 0, 4);
  CHECK_THROWS_AS(quantize_tensor(q, e), lowbit::error);
  CHECK_THROWS_AS(quantize_tensor(quantizer<int8>({per_head(3)}), x, {0, 1}), lowbit::error);  // 4 % 3
  const auto qx = quantize_tensor(q, x);
  CHECK_THROWS_AS(dequantize_tensor<4>(q, qx), lowbit::error);
}

TEST_CASE("quantize/tensor: errors name the tensor index or the slice") {
  // NaN/Inf by its tensor index (logical order, whatever the Layout), before any slice is done
  Eigen::Tensor<float, 4, Eigen::ColMajor> kv(2, 2, 3, 4);
  kv.setConstant(0.5f);
  kv(1, 0, 2, 3) = NAN;
  const quantizer<int8> q({per_channel(1)});
  CHECK_THROWS_WITH_AS(quantize_tensor(q, kv, {2, 1}), doctest::Contains("non-finite value nan at [1, 0, 2, 3]"),
                       lowbit::error);
  kv(1, 0, 2, 3) = 0.5f;
  kv(0, 1, 0, 2) = -INFINITY;
  CHECK_THROWS_WITH_AS(fake_quantize_tensor(q, kv, {2, 1}),
                       doctest::Contains("fake_quantize_tensor: non-finite value -inf at [0, 1, 0, 2]"),
                       lowbit::error);
  kv(0, 1, 0, 2) = 0.5f;
  // the quantizer's own rejection, prefixed with the slice and its batch index
  const quantizer<int8> exact({per_group(3, tail::exact)});  // 4 columns
  CHECK_THROWS_WITH_AS(quantize_tensor(exact, kv, {2, 1}),
                       doctest::Contains("quantize_tensor: slice 0 (batch index [0, 0]) of 3 x 4: "), lowbit::error);
  CHECK_THROWS_WITH_AS(fake_quantize_tensor(exact, kv, {2, 1}), doctest::Contains("tail::exact"), lowbit::error);
  // a damaged slice of a quantized tensor
  auto qkv = quantize_tensor(q, kv, {2, 1});
  qkv.slices[3].params.scale.resize(1, 1);
  CHECK_THROWS_WITH_AS(dequantize_tensor<4>(q, qkv),
                       doctest::Contains("dequantize_tensor: slice 3 (batch index [1, 1]) of 3 x 4: "), lowbit::error);
  qkv.split.batch_axes = 7;  // a split the dims cannot take: the slice alone is named
  CHECK_THROWS_WITH_AS(dequantize_tensor<4>(q, qkv), doctest::Contains("dequantize_tensor: slice 3 of 3 x 4: "),
                       lowbit::error);
}
