// Tests for lowbit/kernel/gemm_w4.hpp. Oracle: float64 products of the activations and the
// quantizer's own dequantized weights (quantizer::dequantize), never the kernel's decoding.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <lowbit/format/scale.hpp>
#include <lowbit/kernel/gemm_w4.hpp>
#include <lowbit/quantize/quantizer.hpp>

namespace {

using Index = Eigen::Index;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMat randn(Index r, Index c, unsigned seed, float mean = 0.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(mean, 1.0f);
  RowMat m(r, c);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = d(g);
  return m;
}

// |Y − X·Ŵᵀ| <= (K + 4)·2^-24·Σ|x·ŵ| elementwise (fp32 summation bound + the weight rounding).

template <class Y, class X>
void require_close(const Y& y, Index ldy, const X& x, const RowMat& wd) {
  const Index K = wd.cols();
  for (Index m = 0; m < x.rows(); ++m)
    for (Index n = 0; n < wd.rows(); ++n) {
      double ref = 0, mag = 0;
      for (Index k = 0; k < K; ++k) {
        ref += double(x(m, k)) * double(wd(n, k));
        mag += std::fabs(double(x(m, k)) * double(wd(n, k)));
      }
      CAPTURE(m);
      CAPTURE(n);
      REQUIRE(std::fabs(double(y[m * ldy + n]) - ref) <= double(K + 4) * 0x1p-24 * mag + 1e-30);
    }
}

template <class Q, class Mat>
void run_format(const Q& q, const Mat& Wf, const char* what) {
  const auto qW = q.quantize(Wf);
  const RowMat Wd = q.dequantize(qW);
  const lowbit::w4_weights pw(qW);
  const Index shapes[][2] = {{1, 0}, {3, 0}, {4, 0}, {7, 0}};
  for (auto& s : shapes) {
    const Index M = s[0];
    const RowMat X = randn(M, Wf.cols(), unsigned(M) + 11);
    for (auto path : {lowbit::kernel_path::best, lowbit::kernel_path::portable}) {
      CAPTURE(what);
      CAPTURE(M);
      CAPTURE(int(path));
      const RowMat Y = lowbit::gemm_w4(X, pw, {path, 1});
      require_close(Y.data(), Y.cols(), X, Wd);
    }
  }
}

}  // namespace

TEST_CASE("kernel/gemm_w4: every 4-bit weight format equals the float64 product of its dequantized weights") {
  // N = 37 (not a multiple of the 4-row tile), K = 203 (6 whole 32-chunks + an odd tail).
  const RowMat W = randn(37, 203, 1) * 0.1f;
  SUBCASE("int4 symmetric, group 32") {
    lowbit::quant_options o;
    o.gran = lowbit::per_group(32);
    run_format(lowbit::quantizer<lowbit::int4>(o), W, "int4 g32");
  }
  SUBCASE("uint4 asymmetric with zero points, group 64 (partial last group)") {
    lowbit::quant_options o;
    o.gran = lowbit::per_group(64);
    o.map = lowbit::mapping::asymmetric;
    o.conv = lowbit::convention::gptq;
    const RowMat Ws = W.array() + 0.05f;  // off-centre: zero points differ from 8
    run_format(lowbit::quantizer<lowbit::uint4>(o), Ws, "uint4 asym g64");
  }
  SUBCASE("int4 asymmetric (AWQ), group 128") {
    lowbit::quant_options o;
    o.gran = lowbit::per_group(128);
    o.map = lowbit::mapping::asymmetric;
    o.conv = lowbit::convention::awq;
    run_format(lowbit::quantizer<lowbit::int4>(o), W, "int4 awq g128");
  }
  SUBCASE("e2m1 with MX e8m0 scales, block 32") {
    lowbit::quant_options o;
    o.gran = lowbit::mx_block(32);
    run_format(lowbit::quantizer<lowbit::float4_e2m1fn, lowbit::float8_e8m0fnu>(o), W, "mxfp4");
  }
  SUBCASE("e2m1 with NVFP4 ue4m3 scales, block 16, and a tensor scale") {
    lowbit::quant_options o;
    o.gran = lowbit::nvfp4_block(16);
    const lowbit::quantizer<lowbit::float4_e2m1fn, lowbit::float8_ue4m3> q(o);
    REQUIRE(q.fit(W).tensor_scale != 1.0f);
    run_format(q, W, "nvfp4");
  }
  SUBCASE("nf4, absmax per group of 64") {
    lowbit::quant_options o;
    o.gran = lowbit::per_group(64);
    run_format(lowbit::quantizer<lowbit::nf4>(o), W, "nf4 g64");
  }
  SUBCASE("group 48 (not a SIMD group) and per-channel scales take the portable path correctly") {
    lowbit::quant_options o;
    o.gran = lowbit::per_group(48);
    run_format(lowbit::quantizer<lowbit::int4>(o), W, "int4 g48");
    o.gran = lowbit::per_channel(0);
    run_format(lowbit::quantizer<lowbit::int4>(o), W, "int4 per-channel");
  }
}

TEST_CASE("kernel/gemm_w4: packing is low-nibble-first and raw views honour padded strides") {
  // Two codes 3, 10 -> byte 0xA3 (element 0 in bits 0-3).
  lowbit::quant_options o;
  o.gran = lowbit::per_channel(0);
  const lowbit::quantizer<lowbit::uint4> q(lowbit::quant_options{lowbit::per_channel(0), lowbit::mapping::asymmetric});
  RowMat w2(1, 2);
  w2 << 0.0f, 1.0f;
  auto qw = q.quantize(w2);
  qw.codes(0, 0) = 3;
  qw.codes(0, 1) = 10;
  const lowbit::w4_weights pw(qw);
  CHECK(pw.view().codes[0] == 0xA3);
  CHECK(pw.view().code(0, 0) == 3);
  CHECK(pw.view().code(0, 1) == 10);

  // A hand-made view: N = 5, K = 64, 40 bytes per row (8 bytes padding, filled with 0xFF),
  // group 32, scale rows of 3 floats (1 padding), zero points, tensor scale 0.5; X transposed.
  const Index N = 5, K = 64, M = 3, stride = 40, ss = 3;
  std::mt19937 g(5);
  std::uniform_int_distribution<int> dc(0, 15);
  std::vector<std::uint8_t> codes(std::size_t(N * stride), 0xFF);
  std::vector<int> q4(std::size_t(N * K));
  for (Index n = 0; n < N; ++n)
    for (Index k = 0; k < K; ++k) {
      const int c = dc(g);
      q4[std::size_t(n * K + k)] = c;
      std::uint8_t& b = codes[std::size_t(n * stride + k / 2)];
      if (k % 2 == 0) b = std::uint8_t(c);
      else b = std::uint8_t(b | (c << 4));
    }
  std::vector<float> scale(std::size_t(N * ss)), zero(std::size_t(N * ss));
  for (std::size_t i = 0; i < scale.size(); ++i) {
    scale[i] = 0.01f * float(i + 1);
    zero[i] = float(i % 16);
  }
  lowbit::w4_view v;
  v.codes = codes.data();
  v.rows = N;
  v.cols = K;
  v.stride = stride;
  v.lut = lowbit::w4_lut<lowbit::uint4>();
  v.scale = scale.data();
  v.scale_stride = ss;
  v.group = 32;
  v.zero = zero.data();
  v.tensor_scale = 0.5f;
  RowMat Wd(N, K);  // independent decoding: (q − z)·s·t
  for (Index n = 0; n < N; ++n)
    for (Index k = 0; k < K; ++k)
      Wd(n, k) = float((double(q4[std::size_t(n * K + k)]) - zero[std::size_t(n * ss + k / 32)]) *
                       double(scale[std::size_t(n * ss + k / 32)]) * 0.5);
  const RowMat Xt = randn(K, M + 2, 9);  // X = first M columns of Xt, transposed
  const lowbit::float_view xv{Xt.data(), M, K, /*stride_row=*/1, /*stride_col=*/M + 2};
  const Index ldy = N + 3;
  for (auto path : {lowbit::kernel_path::best, lowbit::kernel_path::portable}) {
    std::vector<float> y(std::size_t(M * ldy), -1.0f);
    lowbit::gemm_w4(xv, v, y.data(), ldy, {path, 1});
    const RowMat X = Xt.leftCols(M).transpose();
    require_close(y.data(), ldy, X, Wd);
    for (Index m = 0; m < M; ++m)
      for (Index n = N; n < ldy; ++n) CHECK(y[std::size_t(m * ldy + n)] == -1.0f);
  }
}

TEST_CASE("kernel/gemm_w4: results do not depend on the thread count") {
  lowbit::quant_options o;
  o.gran = lowbit::per_group(128);
  const lowbit::quantizer<lowbit::int4> q(o);
  const lowbit::w4_weights pw(q.quantize(randn(203, 512, 3)));
  const RowMat X = randn(5, 512, 4);
  CHECK(lowbit::gemm_w4(X, pw, {lowbit::kernel_path::best, 1}) == lowbit::gemm_w4(X, pw, {lowbit::kernel_path::best, 2}));
}

TEST_CASE("kernel/gemm_w4: bad input is rejected with a message") {
  lowbit::quant_options o;
  o.gran = lowbit::per_group(32);
  const lowbit::quantizer<lowbit::int4> q(o);
  const lowbit::w4_weights pw(q.quantize(randn(8, 64, 1)));
  CHECK_THROWS_WITH_AS(lowbit::gemm_w4(randn(2, 63, 2), pw), doctest::Contains("K mismatch"), lowbit::error);
  std::vector<float> x(2 * 64, 1.0f), y(2 * 8);
  const lowbit::float_view xv{x.data(), 2, 64, 64, 1};
  lowbit::w4_view v = pw.view();
  CHECK_THROWS_WITH_AS(lowbit::gemm_w4(xv, v, y.data(), 7), doctest::Contains("output row stride"), lowbit::error);
  v.scale_stride = 1;
  CHECK_THROWS_WITH_AS(lowbit::gemm_w4(xv, v, y.data(), 8), doctest::Contains("needs 2"), lowbit::error);
  v = pw.view();
  v.stride = 31;
  CHECK_THROWS_WITH_AS(lowbit::gemm_w4(xv, v, y.data(), 8), doctest::Contains("row stride 31 bytes"), lowbit::error);
  v = pw.view();
  v.group = 0;
  CHECK_THROWS_WITH_AS(lowbit::gemm_w4(xv, v, y.data(), 8), doctest::Contains("group size"), lowbit::error);
  v = pw.view();
  v.scale = nullptr;
  CHECK_THROWS_WITH_AS(lowbit::gemm_w4(xv, v, y.data(), 8), doctest::Contains("scales are required"), lowbit::error);
  lowbit::quant_options ko;
  ko.gran = lowbit::per_group(32);
  ko.map = lowbit::mapping::asymmetric;
  ko.conv = lowbit::convention::kivi;
  const lowbit::quantizer<lowbit::uint4> qk(ko);
  CHECK_THROWS_WITH_AS(lowbit::w4_weights(qk.quantize(randn(4, 64, 3))), doctest::Contains("KIVI"), lowbit::error);
}

namespace {

// A raw w4_view over random codes / scales (/ zeros), the code buffer sized exactly
// (N−1)·stride + ceil(K/2) bytes so that a read past the last row's codes is caught under ASan.
// cluster < 0: codes uniform in 0..15; else (with zeros) each group has a zero-point code
// zc in 1..14, z = lut[zc], and the codes are zc, one in `cluster` of them (none if 0) zc ± 1.
struct raw_w4 {
  std::vector<std::uint8_t> codes;
  std::vector<float> scale, zero;
  lowbit::w4_view v;
  RowMat wd;  // Ŵ decoded independently: (lut[q] − z)·s·t in float64, rounded once

  raw_w4(Index N, Index K, Index G, Index pad, bool with_zero, float t, const std::array<float, 16>& lut,
         unsigned seed, int cluster = -1) {
    const Index stride = (K + 1) / 2 + pad, ng = (K + G - 1) / G, ss = ng + 1;
    std::mt19937 g(seed);
    std::uniform_int_distribution<int> dc(0, 15), dzc(1, 14);
    std::uniform_real_distribution<float> ds(0.01f, 0.1f);
    std::vector<int> zc;
    if (cluster >= 0) {
      zc.resize(std::size_t(N * ss));
      for (auto& c : zc) c = dzc(g);
    }
    codes.assign(std::size_t((N - 1) * stride + (K + 1) / 2), 0xFF);  // padding 0xFF
    std::vector<int> q(std::size_t(N * K));
    for (Index n = 0; n < N; ++n)
      for (Index k = 0; k < K; ++k) {
        int c = cluster < 0 ? dc(g) : zc[std::size_t(n * ss + k / G)];
        if (cluster > 0 && int(g() % unsigned(cluster)) == 0) c += g() % 2 ? 1 : -1;
        q[std::size_t(n * K + k)] = c;
        std::uint8_t& b = codes[std::size_t(n * stride + k / 2)];
        b = k % 2 == 0 ? std::uint8_t((b & 0xF0) | c) : std::uint8_t((b & 0x0F) | (c << 4));
      }
    scale.resize(std::size_t(N * ss));
    for (auto& s : scale) s = ds(g);
    if (with_zero) {
      zero.resize(std::size_t(N * ss));
      for (std::size_t i = 0; i < zero.size(); ++i) zero[i] = cluster < 0 ? float(dc(g)) : lut[std::size_t(zc[i])];
    }
    v.codes = codes.data();
    v.rows = N;
    v.cols = K;
    v.stride = stride;
    v.lut = lut;
    v.scale = scale.data();
    v.scale_stride = ss;
    v.group = G;
    v.zero = with_zero ? zero.data() : nullptr;
    v.tensor_scale = t;
    wd.resize(N, K);
    for (Index n = 0; n < N; ++n)
      for (Index k = 0; k < K; ++k) {
        const std::size_t gi = std::size_t(n * ss + k / G);
        const double z = with_zero ? double(zero[gi]) : 0.0;
        wd(n, k) = float((double(lut[std::size_t(q[std::size_t(n * K + k)])]) - z) * double(scale[gi]) * double(t));
      }
  }
};

}  // namespace

TEST_CASE("kernel/gemm_w4: the M = 1 GEMV path, every group size that is a multiple of 8") {
  // K: whole 128-chunks (the last row's last chunk may not read past its codes), a 1-byte
  // tail, a 7-element tail, less than one chunk. N = 13: three 4-row tiles + one row.
  const Index N = 13;
  const auto int4 = lowbit::w4_lut<lowbit::int4>(), uint4 = lowbit::w4_lut<lowbit::uint4>(),
             e2m1 = lowbit::w4_lut<lowbit::float4_e2m1fn>(), nf4 = lowbit::w4_lut<lowbit::nf4>();
  unsigned seed = 100;
  for (Index K : {Index(512), Index(386), Index(391), Index(120)})
    for (Index G : {Index(8), Index(16), Index(24), Index(48), Index(64), Index(128), Index(256), Index(384)})
      for (int variant = 0; variant < 4; ++variant) {
        // 0: int4, 1: uint4 + zero points, 2: e2m1 + tensor scale, padded rows, 3: nf4 + zeros, padded
        const bool zero = variant == 1 || variant == 3;
        const Index pad = variant >= 2 ? 5 : 0;
        const float t = variant == 2 ? 0.375f : 1.0f;
        const auto& lut = variant == 0 ? int4 : variant == 1 ? uint4 : variant == 2 ? e2m1 : nf4;
        const raw_w4 w(N, K, G, pad, zero, t, lut, ++seed);
        const RowMat Xt = randn(K, 3, seed);  // x = column 1 of Xt (stride_col 3)
        const lowbit::float_view xv{Xt.data() + 1, 1, K, 1, 3};
        const RowMat X = Xt.col(1).transpose();
        CAPTURE(K);
        CAPTURE(G);
        CAPTURE(variant);
        for (int threads : {1, 3}) {
          std::vector<float> y(N + 2, -1.0f);
          lowbit::gemm_w4(xv, w.v, y.data(), N, {lowbit::kernel_path::best, threads});
          require_close(y.data(), N, X, w.wd);
          CHECK(y[N] == -1.0f);
          CHECK(y[N + 1] == -1.0f);
        }
        std::vector<float> y1(N), y3(N);
        lowbit::gemm_w4(xv, w.v, y1.data(), N, {lowbit::kernel_path::best, 1});
        lowbit::gemm_w4(xv, w.v, y3.data(), N, {lowbit::kernel_path::best, 3});
        CHECK(y1 == y3);
      }
}

TEST_CASE("kernel/gemm_w4: weights at the zero point are exactly 0 on every path, ones near it within round-off") {
  // GPTQ/AWQ codes sit at or near z: lut[q] − z must be formed before the product (a
  // Σ lut[q]·x − z·Σx correction cancels). G = 8/16/32: non-uniform GEMV (M = 1), portable,
  // pair and c32 (M = 2); G = 128: uniform GEMV, c128. N = 13: 4-row tiles + 1-row tail.
  const Index N = 13, K = 256;
  unsigned seed = 300;
  for (const auto& lut : {lowbit::w4_lut<lowbit::uint4>(), lowbit::w4_lut<lowbit::int4>()})
    for (Index G : {Index(8), Index(16), Index(32), Index(128)}) {
      const raw_w4 w(N, K, G, 0, true, 1.0f, lut, ++seed, /*cluster=*/0);
      CAPTURE(G);
      for (Index M : {Index(1), Index(2)})
        for (auto path : {lowbit::kernel_path::best, lowbit::kernel_path::portable}) {
          CAPTURE(M);
          CAPTURE(int(path));
          const RowMat X = randn(M, K, seed);
          std::vector<float> y(std::size_t(M * N), -1.0f);
          lowbit::gemm_w4(lowbit::float_view{X.data(), M, K, K, 1}, w.v, y.data(), N, {path, 1});
          for (float v : y) REQUIRE(v == 0.0f);
        }
      // One code in 128 at z ± 1, positive activations (Σx does not cancel): the GEMV stays
      // within the bound of the other paths (with the z·Σx correction: up to 5× beyond it).
      const raw_w4 c(N, K, G, 0, true, 1.0f, lut, ++seed, /*cluster=*/128);
      const RowMat X = (randn(1, K, seed).array().abs() + 1.0f).matrix();
      std::vector<float> y(static_cast<std::size_t>(N));
      lowbit::gemm_w4(lowbit::float_view{X.data(), 1, K, K, 1}, c.v, y.data(), N, {lowbit::kernel_path::best, 1});
      require_close(y.data(), N, X, c.wd);
    }
}

TEST_CASE("kernel/gemm_w4: the scale factor is s·t, formed before use on every path (s = 2^120, t = 2^-120)") {
  // s·t = s' ∈ [0.01, 0.1]: Ŵ and Y are finite (|x| ~ 2^10); applying t only at the end overflows.
  const Index N = 5, K = 256;
  for (Index G : {Index(32), Index(128)})
    for (bool zero : {false, true}) {
      raw_w4 w(N, K, G, 0, zero, 1.0f, lowbit::w4_lut<lowbit::uint4>(), unsigned(400 + G + zero));
      for (auto& s : w.scale) s *= 0x1p120f;  // wd = (lut − z)·s' is unchanged
      w.v.tensor_scale = 0x1p-120f;
      CAPTURE(G);
      CAPTURE(zero);
      for (Index M : {Index(1), Index(2)})
        for (auto path : {lowbit::kernel_path::best, lowbit::kernel_path::portable}) {
          CAPTURE(M);
          CAPTURE(int(path));
          const RowMat X = randn(M, K, unsigned(M) + 7) * 1024.0f;
          std::vector<float> y(std::size_t(M * N));
          lowbit::gemm_w4(lowbit::float_view{X.data(), M, K, K, 1}, w.v, y.data(), N, {path, 1});
          for (float v : y) REQUIRE(std::isfinite(v));
          require_close(y.data(), N, X, w.wd);
        }
    }
}
