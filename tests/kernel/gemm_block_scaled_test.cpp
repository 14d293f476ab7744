// Tests for lowbit/kernel/gemm_block_scaled.hpp. Oracles: float64 products of the quantizer's
// dequantized operands (within the fp32 promotion round-off), a hand-made case whose exact
// fp32-promoted answer differs from the float64 one, and bit-identity between layouts/paths.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <lowbit/format/float4.hpp>
#include <lowbit/format/float8.hpp>
#include <lowbit/format/scale.hpp>
#include <lowbit/kernel/gemm_block_scaled.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include "support/random.hpp"

namespace {

using Index = Eigen::Index;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

using lowbit_test::randn;

// |Y − Â·B̂ᵀ| <= (K/bk + 8)·2^-24·Σ|â·b̂| (one rounding of P and of the promotion FMA per block,
// the scale product, the tensor scale and the quantizer's own fp32 dequantization).
void require_close(const RowMat& y, const RowMat& ad, const RowMat& bd, Index bk) {
  const Index K = ad.cols();
  const double tol = double((K + bk - 1) / bk + 8) * 0x1p-24;
  for (Index m = 0; m < ad.rows(); ++m)
    for (Index n = 0; n < bd.rows(); ++n) {
      double ref = 0, mag = 0;
      for (Index k = 0; k < K; ++k) {
        ref += double(ad(m, k)) * double(bd(n, k));
        mag += std::fabs(double(ad(m, k)) * double(bd(n, k)));
      }
      CAPTURE(m);
      CAPTURE(n);
      REQUIRE(std::fabs(double(y(m, n)) - ref) <= tol * mag + 1e-37);
    }
}

const lowbit::gemm_options best{lowbit::kernel_path::best, 1}, portable{lowbit::kernel_path::portable, 1};

}  // namespace

TEST_CASE("kernel/gemm_block_scaled: DeepSeek-V3 FP8 (1x128 activations, 128x128 weights) over odd shapes") {
  using e4m3 = lowbit::float8_e4m3fn;
  lowbit::quant_options ao, wo;
  ao.gran = lowbit::block(1, 128);
  wo.gran = lowbit::block(128, 128);
  const lowbit::quantizer<e4m3> qa(ao), qw(wo);
  const Index shapes[][3] = {{1, 150, 256}, {13, 37, 128}, {37, 150, 384}, {12, 16, 128}};
  for (auto& s : shapes) {
    const Index M = s[0], N = s[1], K = s[2];
    CAPTURE(M); CAPTURE(N); CAPTURE(K);
    const auto qA = qa.quantize(randn(M, K, 1, 3.0f));
    const auto qW = qw.quantize(randn(N, K, 2, 0.02f));
    const RowMat y = lowbit::gemm_block_scaled(qA, qW, false, best);
    require_close(y, qa.dequantize(qA), qw.dequantize(qW), 128);
    CHECK(y == lowbit::gemm_block_scaled(qA, qW, false, portable));  // bit for bit
  }
}

TEST_CASE("kernel/gemm_block_scaled: M-major (DeepGEMM TMA-aligned) activation scales and strided codes give the same bits") {
  using e4m3 = lowbit::float8_e4m3fn;
  const Index M = 7, N = 20, K = 256, Ma = 8;  // Ma = align(M, 4)
  lowbit::quant_options ao, wo;
  ao.gran = lowbit::block(1, 128);
  wo.gran = lowbit::block(128, 128);
  const lowbit::quantizer<e4m3> qa(ao), qw(wo);
  const auto qA = qa.quantize(randn(M, K, 3));
  const auto qW = qw.quantize(randn(N, K, 4));
  const RowMat ref = lowbit::gemm_block_scaled(qA, qW);
  // A's scales stored [kb][Ma] (stride(-2) = 1), codes with a padded row stride.
  std::vector<float> sa_t(std::size_t(2 * Ma), -1.0f);
  for (Index m = 0; m < M; ++m)
    for (Index kb = 0; kb < 2; ++kb) sa_t[std::size_t(kb * Ma + m)] = qA.params.scale(m, kb);
  const Index lda = K + 16;
  std::vector<std::uint8_t> codes(std::size_t(M * lda), 0x7F);  // padding bytes would be NaN if read
  for (Index m = 0; m < M; ++m)
    for (Index k = 0; k < K; ++k) codes[std::size_t(m * lda + k)] = qA.codes(m, k);
  lowbit::block_scaled_operand a;
  a.codes = codes.data();
  a.rows = M;
  a.cols = K;
  a.stride = lda;
  a.scale = sa_t.data();
  a.scale_rows = M;
  a.scale_cols = 2;
  a.scale_row_stride = 1;
  a.scale_col_stride = Ma;
  const Index ldy = N + 5;
  for (auto opt : {best, portable}) {
    std::vector<float> y(std::size_t(M * ldy), 42.0f);
    lowbit::gemm_block_scaled<e4m3, e4m3>(a, lowbit::block_scaled_view(qW), y.data(), ldy, {128, false}, opt);
    for (Index m = 0; m < M; ++m) {
      for (Index n = 0; n < N; ++n) REQUIRE(y[std::size_t(m * ldy + n)] == ref(m, n));
      for (Index n = N; n < ldy; ++n) REQUIRE(y[std::size_t(m * ldy + n)] == 42.0f);
    }
  }
}

TEST_CASE("kernel/gemm_block_scaled: partial sums are promoted into an fp32 accumulator once per block") {
  // K = 256, two blocks. A = 1.0 everywhere; B block 0 = 1.0 (P0 = 128), block 1 = one 1.0 (P1 = 1).
  // Scales: block 0 · 2^17 -> s·P0 = 2^24; block 1 · 1 -> fp32 acc = fmaf(1, 1, 2^24) = 2^24
  // (the tie rounds to even), where the float64 product is 2^24 + 1.
  using e4m3 = lowbit::float8_e4m3fn;
  const Index K = 256;
  const std::uint8_t one = lowbit::encode<e4m3>(1.0f);
  std::vector<std::uint8_t> ac(K, one), bc(K, 0);
  for (Index k = 0; k < 128; ++k) bc[std::size_t(k)] = one;
  bc[200] = one;
  const float sa[2] = {1.0f, 1.0f}, sb[2] = {0x1p17f, 1.0f};
  lowbit::block_scaled_operand a{ac.data(), 1, K, K, false, sa, 1, 2, 2, 1, 1, 1.0f};
  lowbit::block_scaled_operand b{bc.data(), 1, K, K, false, sb, 1, 2, 2, 1, 128, 1.0f};
  for (auto opt : {best, portable}) {
    float y = 0;
    lowbit::gemm_block_scaled<e4m3, e4m3>(a, b, &y, 1, {128, false}, opt);
    CHECK(y == 0x1p24f);
    // With the roles of the blocks swapped the small block comes first and survives: 1 + 2^24
    // is still a tie, but 2^24 + 1 added to 3 = 2^24 + 4 is exact.
  }
  bc[201] = one;
  bc[202] = one;  // P1 = 3 -> 2^24 + 3 rounds to 2^24 + 4
  for (auto opt : {best, portable}) {
    float y = 0;
    lowbit::gemm_block_scaled<e4m3, e4m3>(a, b, &y, 1, {128, false}, opt);
    CHECK(y == 0x1p24f + 4.0f);
  }
}

TEST_CASE("kernel/gemm_block_scaled: MXFP8, MXFP4 and NVFP4 (packed 4-bit codes, tensor scales)") {
  SUBCASE("MXFP8 e4m3 x e5m2, e8m0 scales, block 32") {
    lowbit::quant_options o;
    o.gran = lowbit::mx_block(32);
    const lowbit::quantizer<lowbit::float8_e4m3fn, lowbit::float8_e8m0fnu> qa(o);
    const lowbit::quantizer<lowbit::float8_e5m2, lowbit::float8_e8m0fnu> qb(o);
    const auto A = qa.quantize(randn(9, 96, 5));
    const auto B = qb.quantize(randn(19, 96, 6));
    require_close(lowbit::gemm_block_scaled(A, B), qa.dequantize(A), qb.dequantize(B), 32);
    require_close(lowbit::gemm_block_scaled(A, B, false, portable), qa.dequantize(A), qb.dequantize(B), 32);
  }
  SUBCASE("MXFP4 e2m1, e8m0 scales, block 32") {
    lowbit::quant_options o;
    o.gran = lowbit::mx_block(32);
    const lowbit::quantizer<lowbit::float4_e2m1fn, lowbit::float8_e8m0fnu> q(o);
    const auto A = q.quantize(randn(14, 64, 7)), B = q.quantize(randn(33, 64, 8));
    const RowMat y = lowbit::gemm_block_scaled(A, B);
    require_close(y, q.dequantize(A), q.dequantize(B), 32);
    CHECK(y == lowbit::gemm_block_scaled(A, B, false, portable));
  }
  SUBCASE("NVFP4: ue4m3 scales per 16, fp32 tensor scales, B packed two codes per byte") {
    lowbit::quant_options o;
    o.gran = lowbit::nvfp4_block(16);
    const lowbit::quantizer<lowbit::float4_e2m1fn, lowbit::float8_ue4m3> q(o);
    const auto A = q.quantize(randn(5, 80, 9)), B = q.quantize(randn(21, 80, 10, 0.1f));
    REQUIRE(A.params.tensor_scale != 1.0f);
    const RowMat y = lowbit::gemm_block_scaled(A, B);
    require_close(y, q.dequantize(A), q.dequantize(B), 16);
    std::vector<std::uint8_t> packed(std::size_t(21 * 40), 0);
    for (Index n = 0; n < 21; ++n)
      for (Index k = 0; k < 80; ++k) packed[std::size_t(n * 40 + k / 2)] |= std::uint8_t(B.codes(n, k) << (4 * (k & 1)));
    lowbit::block_scaled_operand bp = lowbit::block_scaled_view(B);
    bp.codes = packed.data();
    bp.stride = 40;
    bp.packed4 = true;
    for (auto opt : {best, portable}) {
      RowMat y2(5, 21);
      lowbit::gemm_block_scaled<lowbit::float4_e2m1fn, lowbit::float4_e2m1fn>(lowbit::block_scaled_view(A), bp,
                                                                             y2.data(), 21, {16, false}, opt);
      CHECK(y2 == y);
    }
  }
}

TEST_CASE("kernel/gemm_block_scaled: results do not depend on the thread count") {
  lowbit::quant_options ao, wo;
  ao.gran = lowbit::block(1, 128);
  wo.gran = lowbit::block(128, 128);
  const lowbit::quantizer<lowbit::float8_e4m3fn> qa(ao), qw(wo);
  const auto A = qa.quantize(randn(30, 256, 11)), W = qw.quantize(randn(200, 256, 12));
  CHECK(lowbit::gemm_block_scaled(A, W, false, {lowbit::kernel_path::best, 1}) ==
        lowbit::gemm_block_scaled(A, W, false, {lowbit::kernel_path::best, 2}));
}

TEST_CASE("kernel/gemm_block_scaled: bad input is rejected with a message") {
  using e4m3 = lowbit::float8_e4m3fn;
  lowbit::quant_options ao, wo;
  ao.gran = lowbit::block(1, 128);
  wo.gran = lowbit::block(128, 128);
  const lowbit::quantizer<e4m3> qa(ao), qw(wo);
  const auto A = qa.quantize(randn(4, 256, 1)), W = qw.quantize(randn(8, 256, 2));
  const auto W2 = qw.quantize(randn(8, 128, 3));
  CHECK_THROWS_WITH_AS(lowbit::gemm_block_scaled(A, W2), doctest::Contains("K mismatch"), lowbit::error);
  // K not a multiple of the block
  const auto A3 = qa.quantize(randn(4, 200, 4)), W3 = qw.quantize(randn(8, 200, 5));
  CHECK_THROWS_WITH_AS(lowbit::gemm_block_scaled(A3, W3), doctest::Contains("not a multiple of the scale block 128"),
                       lowbit::error);
  {  // ... accepted on request, and equal to zero-padding K to 256
    RowMat a3 = qa.dequantize(A3), w3 = qw.dequantize(W3);
    (void)a3;
    (void)w3;
    const RowMat y = lowbit::gemm_block_scaled(A3, W3, true);
    require_close(y, qa.dequantize(A3), qw.dequantize(W3), 128);
  }
  // Different K blocks on the two sides
  lowbit::quant_options mo;
  mo.gran = lowbit::mx_block(32);
  const lowbit::quantizer<e4m3, lowbit::float8_e8m0fnu> qm(mo);
  CHECK_THROWS_WITH_AS(lowbit::gemm_block_scaled(A, qm.quantize(randn(8, 256, 6))),
                       doctest::Contains("share one K block"), lowbit::error);
  // Scale grid of the wrong shape
  std::vector<float> y(4 * 8);
  lowbit::block_scaled_operand a = lowbit::block_scaled_view(A), w = lowbit::block_scaled_view(W);
  a.scale_cols = 3;
  CHECK_THROWS_WITH_AS((lowbit::gemm_block_scaled<e4m3, e4m3>(a, w, y.data(), 8)), doctest::Contains("needs 4 x 2"),
                       lowbit::error);
  a = lowbit::block_scaled_view(A);
  w.block_rows = 4;  // the grid was made for 128-row blocks: 2 x 2 would be needed
  CHECK_THROWS_WITH_AS((lowbit::gemm_block_scaled<e4m3, e4m3>(a, w, y.data(), 8)), doctest::Contains("scale grid"),
                       lowbit::error);
  w = lowbit::block_scaled_view(W);
  CHECK_THROWS_WITH_AS((lowbit::gemm_block_scaled<e4m3, e4m3>(a, w, y.data(), 7)), doctest::Contains("output row stride"),
                       lowbit::error);
  w.packed4 = true;
  w.stride = 128;
  CHECK_THROWS_WITH_AS((lowbit::gemm_block_scaled<e4m3, e4m3>(a, w, y.data(), 8)), doctest::Contains("packed4"),
                       lowbit::error);
  // A NaN code
  auto An = A;
  An.codes(2, 17) = 0x7F;
  CHECK_THROWS_WITH_AS(lowbit::gemm_block_scaled(An, W), doctest::Contains("(2, 17) is NaN"), lowbit::error);
}
