// Tests for lowbit/kernel/gemm_int8.hpp. Oracle: exact int64 sums over the original
// (unpacked) int8 arrays, and a float64 product of the quantizer's dequantized operands.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <lowbit/kernel/gemm_int8.hpp>
#include <lowbit/quantize/quantizer.hpp>

namespace {

using Index = Eigen::Index;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::vector<std::int8_t> random_s8(std::size_t n, std::mt19937& g, int lo = -128, int hi = 127) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<std::int8_t> v(n);
  for (auto& x : v) x = std::int8_t(d(g));
  return v;
}

// Exact C[m][n] = Σ_k (A(m,k) − za[m])(W(n,k) − zw[n]) in int64.
std::vector<std::int64_t> exact(const lowbit::int8_view& a, const lowbit::int8_view& w, const std::int32_t* za,
                                const std::int32_t* zw) {
  std::vector<std::int64_t> c(static_cast<std::size_t>(a.rows * w.rows));
  for (Index m = 0; m < a.rows; ++m)
    for (Index n = 0; n < w.rows; ++n) {
      std::int64_t s = 0;
      for (Index k = 0; k < a.cols; ++k) s += (std::int64_t(a(m, k)) - (za ? za[m] : 0)) * (std::int64_t(w(n, k)) - (zw ? zw[n] : 0));
      c[std::size_t(m * w.rows + n)] = s;
    }
  return c;
}

const lowbit::kernel_path paths[] = {lowbit::kernel_path::best, lowbit::kernel_path::portable};

}  // namespace

TEST_CASE("kernel/gemm_int8: int32 result is the exact integer product over odd shapes, with and without zero points") {
  std::mt19937 g(1);
  const Index shapes[][3] = {{1, 1, 1}, {1, 33, 7}, {5, 37, 13}, {13, 31, 67}, {12, 32, 4}, {25, 65, 130}, {3, 100, 257}};
  for (auto& s : shapes) {
    const Index M = s[0], N = s[1], K = s[2];
    auto A = random_s8(std::size_t(M * K), g), W = random_s8(std::size_t(N * K), g);
    std::vector<std::int32_t> za(static_cast<std::size_t>(M)), zw(static_cast<std::size_t>(N));
    std::uniform_int_distribution<int> dz(-128, 127);
    for (auto& z : za) z = dz(g);
    for (auto& z : zw) z = dz(g);
    const lowbit::int8_view av{A.data(), M, K, K, 1}, wv{W.data(), N, K, K, 1};
    const lowbit::int8_weights pw(wv);
    for (int zcase = 0; zcase < 3; ++zcase) {
      const std::int32_t* zap = zcase >= 1 ? za.data() : nullptr;
      const std::int32_t* zwp = zcase == 2 ? zw.data() : nullptr;
      const auto ref = exact(av, wv, zap, zwp);
      for (auto path : paths) {
        CAPTURE(M); CAPTURE(N); CAPTURE(K); CAPTURE(zcase); CAPTURE(int(path));
        std::vector<std::int32_t> c(std::size_t(M * N), -7);
        lowbit::gemm_int8_s32(av, pw, c.data(), N, zap, zwp, {path, 1});
        for (std::size_t i = 0; i < c.size(); ++i) REQUIRE(std::int64_t(c[i]) == ref[i]);
      }
    }
  }
}

TEST_CASE("kernel/gemm_int8: extreme codes at the documented K limits stay exact") {
  // |Σ a·w| = 128·128·K: K = 131071 fits int32 (2^31 − 16384); the +128 trick wraps inside.
  const Index K = 131071, M = 2, N = 3;
  std::vector<std::int8_t> A(std::size_t(M * K), -128), W(std::size_t(N * K));
  for (Index k = 0; k < K; ++k) {
    W[std::size_t(k)] = -128;
    W[std::size_t(K + k)] = 127;
    W[std::size_t(2 * K + k)] = std::int8_t(k % 2 ? -128 : 127);
  }
  const lowbit::int8_view av{A.data(), M, K, K, 1}, wv{W.data(), N, K, K, 1};
  const lowbit::int8_weights pw(wv);
  const auto ref = exact(av, wv, nullptr, nullptr);
  for (auto path : paths) {
    std::vector<std::int32_t> c(static_cast<std::size_t>(M * N));
    lowbit::gemm_int8_s32(av, pw, c.data(), N, nullptr, nullptr, {path, 1});
    for (std::size_t i = 0; i < c.size(); ++i) CHECK(std::int64_t(c[i]) == ref[i]);
  }
  // With zero points the limit is 33025: (a − za)(w − zw) up to 255².
  const Index K2 = 33025;
  std::vector<std::int8_t> A2(std::size_t(K2), 127), W2(std::size_t(K2), 127);
  const std::int32_t za = -128, zw = -128;
  const lowbit::int8_view av2{A2.data(), 1, K2, K2, 1}, wv2{W2.data(), 1, K2, K2, 1};
  const lowbit::int8_weights pw2(wv2);
  for (auto path : paths) {
    std::int32_t c = 0;
    lowbit::gemm_int8_s32(av2, pw2, &c, 1, &za, &zw, {path, 1});
    CHECK(std::int64_t(c) == std::int64_t(255) * 255 * K2);
  }
}

TEST_CASE("kernel/gemm_int8: transposed and strided operands and a padded output stride") {
  std::mt19937 g(2);
  const Index M = 7, N = 45, K = 38, ldc = 50;
  // A stored transposed (K × M, row stride M + 3); W stored K × N with row stride N + 1.
  auto At = random_s8(std::size_t(K * (M + 3)), g), Wt = random_s8(std::size_t(K * (N + 1)), g);
  const lowbit::int8_view av{At.data(), M, K, /*stride_row=*/1, /*stride_col=*/M + 3};
  const lowbit::int8_view wv{Wt.data(), N, K, 1, N + 1};
  const lowbit::int8_weights pw(wv);
  std::vector<std::int32_t> za(std::size_t(M), 3), zw(std::size_t(N), -5);
  const auto ref = exact(av, wv, za.data(), zw.data());
  for (auto path : paths) {
    std::vector<std::int32_t> c(std::size_t(M * ldc), 12345);
    lowbit::gemm_int8_s32(av, pw, c.data(), ldc, za.data(), zw.data(), {path, 1});
    for (Index m = 0; m < M; ++m) {
      for (Index n = 0; n < N; ++n) REQUIRE(std::int64_t(c[std::size_t(m * ldc + n)]) == ref[std::size_t(m * N + n)]);
      for (Index n = N; n < ldc; ++n) REQUIRE(c[std::size_t(m * ldc + n)] == 12345);  // untouched padding
    }
  }
}

TEST_CASE("kernel/gemm_int8: float output equals the float64 product of the dequantized operands") {
  std::mt19937 g(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const Index M = 19, N = 53, K = 77;
  RowMat X(M, K), W(N, K);
  for (Index i = 0; i < X.size(); ++i) X.data()[i] = nd(g) + 0.7f;  // shifted: zero points matter
  for (Index i = 0; i < W.size(); ++i) W.data()[i] = nd(g) * 0.05f;
  Eigen::VectorXf bias(N);
  for (Index n = 0; n < N; ++n) bias(n) = nd(g);

  lowbit::quant_options wo;
  wo.gran = lowbit::per_channel(0);
  const lowbit::quantizer<lowbit::int8> qw(wo);
  const auto qW = qw.quantize(W);
  const RowMat Wd = qw.dequantize(qW);
  const lowbit::int8_weights pw(qW);

  auto check = [&](const RowMat& Xd, const RowMat& Y) {
    for (Index m = 0; m < M; ++m)
      for (Index n = 0; n < N; ++n) {
        double ref = bias(n), mag = std::fabs(bias(n));
        for (Index k = 0; k < K; ++k) {
          ref += double(Xd(m, k)) * double(Wd(n, k));
          mag += std::fabs(double(Xd(m, k)) * double(Wd(n, k)));
        }
        // float(C), sa·sw, the fma and the quantizer's own fp32 dequantization: a few ulps of Σ|x̂ŵ|.
        REQUIRE(std::fabs(double(Y(m, n)) - ref) <= 8 * 0x1p-24 * mag + 1e-30);
      }
  };
  SUBCASE("int8 per-token asymmetric activations") {
    lowbit::quant_options xo;
    xo.gran = lowbit::per_token();
    xo.map = lowbit::mapping::asymmetric;
    const lowbit::quantizer<lowbit::int8> qx(xo);
    const auto qX = qx.quantize(X);
    REQUIRE(qX.params.zero.cwiseAbs().maxCoeff() > 0);  // the zero-point path is exercised
    for (auto path : paths) check(qx.dequantize(qX), lowbit::gemm_int8(qX, pw, bias.data(), {path, 1}));
    // Both paths agree bit for bit.
    CHECK(lowbit::gemm_int8(qX, pw, bias.data(), {lowbit::kernel_path::best, 1}) ==
          lowbit::gemm_int8(qX, pw, bias.data(), {lowbit::kernel_path::portable, 1}));
  }
  SUBCASE("uint8 per-tensor asymmetric activations") {
    lowbit::quant_options xo;
    xo.map = lowbit::mapping::asymmetric;
    const lowbit::quantizer<lowbit::uint8> qx(xo);
    const auto qX = qx.quantize(X);
    for (auto path : paths) check(qx.dequantize(qX), lowbit::gemm_int8(qX, pw, bias.data(), {path, 1}));
  }
  SUBCASE("asymmetric uint8 weights (integer zero points on both sides)") {
    lowbit::quant_options wo2;
    wo2.gran = lowbit::per_channel(0);
    wo2.map = lowbit::mapping::asymmetric;
    const lowbit::quantizer<lowbit::uint8> qw2(wo2);
    const auto qW2 = qw2.quantize(W);
    const lowbit::int8_weights pw2(qW2);
    lowbit::quant_options xo;
    xo.gran = lowbit::per_token();
    xo.map = lowbit::mapping::asymmetric;
    const lowbit::quantizer<lowbit::int8> qx(xo);
    const auto qX = qx.quantize(X);
    const RowMat Wd2 = qw2.dequantize(qW2), Xd = qx.dequantize(qX);
    const RowMat Y = lowbit::gemm_int8(qX, pw2, nullptr);
    for (Index m = 0; m < M; ++m)
      for (Index n = 0; n < N; ++n) {
        double ref = 0, mag = 0;
        for (Index k = 0; k < K; ++k) {
          ref += double(Xd(m, k)) * double(Wd2(n, k));
          mag += std::fabs(double(Xd(m, k)) * double(Wd2(n, k)));
        }
        REQUIRE(std::fabs(double(Y(m, n)) - ref) <= 8 * 0x1p-24 * mag + 1e-30);
      }
  }
}

TEST_CASE("kernel/gemm_int8: results do not depend on the thread count") {
  std::mt19937 g(4);
  const Index M = 29, N = 300, K = 4101;  // several L2 column blocks
  auto A = random_s8(std::size_t(M * K), g), W = random_s8(std::size_t(N * K), g);
  const lowbit::int8_weights pw(lowbit::int8_view{W.data(), N, K, K, 1});
  std::vector<float> sa(std::size_t(M), 0.01f), sw(std::size_t(N), 0.003f);
  std::vector<float> y1(std::size_t(M * N)), y2(std::size_t(M * N));
  const lowbit::int8_view av{A.data(), M, K, K, 1};
  lowbit::gemm_int8(av, sa.data(), nullptr, pw, sw.data(), nullptr, y1.data(), N, nullptr, {lowbit::kernel_path::best, 1});
  lowbit::gemm_int8(av, sa.data(), nullptr, pw, sw.data(), nullptr, y2.data(), N, nullptr, {lowbit::kernel_path::best, 2});
  CHECK(y1 == y2);
}

TEST_CASE("kernel/gemm_int8: bad input is rejected with a message") {
  std::vector<std::int8_t> A(6 * 10, 1), W(4 * 12, 1);
  const lowbit::int8_weights pw(lowbit::int8_view{W.data(), 4, 12, 12, 1});
  std::vector<std::int32_t> c(6 * 4);
  std::vector<float> y(6 * 4), s(6, 1.0f);
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8_s32(lowbit::int8_view{A.data(), 6, 10, 10, 1}, pw, c.data(), 4),
                       doctest::Contains("K mismatch"), lowbit::error);
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8_s32(lowbit::int8_view{A.data(), 5, 12, 12, 1}, pw, c.data(), 3),
                       doctest::Contains("output row stride"), lowbit::error);
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8(lowbit::int8_view{A.data(), 5, 12, 12, 1}, nullptr, nullptr, pw, s.data(),
                                         nullptr, y.data(), 4),
                       doctest::Contains("scales are required"), lowbit::error);
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8_s32(lowbit::int8_view{A.data(), 0, 12, 12, 1}, pw, c.data(), 4),
                       doctest::Contains("empty activations"), lowbit::error);
  CHECK_THROWS_WITH_AS(lowbit::int8_weights(lowbit::int8_view{W.data(), 0, 12, 12, 1}), doctest::Contains("empty weights"),
                       lowbit::error);
  {  // K beyond the exact-int32 limit
    std::vector<std::int8_t> big(33026, 1);
    const lowbit::int8_weights pb(lowbit::int8_view{big.data(), 1, 33026, 33026, 1});
    const std::int32_t z = 1;
    std::int32_t out = 0;
    CHECK_NOTHROW(lowbit::gemm_int8_s32(lowbit::int8_view{big.data(), 1, 33026, 33026, 1}, pb, &out, 1));
    CHECK_THROWS_WITH_AS(lowbit::gemm_int8_s32(lowbit::int8_view{big.data(), 1, 33026, 33026, 1}, pb, &out, 1, &z),
                         doctest::Contains("overflow the int32 accumulator"), lowbit::error);
  }
  // Convenience overloads: scale grids of the wrong shape, weights without scales.
  RowMat X = RowMat::Random(4, 64), Wf = RowMat::Random(8, 64);
  lowbit::quant_options go;
  go.gran = lowbit::per_group(32);
  const lowbit::quantizer<lowbit::int8> qg(go);
  lowbit::quant_options co;
  co.gran = lowbit::per_channel(0);
  const lowbit::quantizer<lowbit::int8> qc(co);
  CHECK_THROWS_WITH_AS(lowbit::int8_weights(qg.quantize(Wf)), doctest::Contains("per-channel"), lowbit::error);
  const lowbit::int8_weights pq(qc.quantize(Wf));
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8(qg.quantize(X), pq), doctest::Contains("per-token"), lowbit::error);
  const std::vector<std::int8_t> raw(8 * 64, 1);
  const lowbit::int8_weights unscaled(lowbit::int8_view{raw.data(), 8, 64, 64, 1});
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8(qc.quantize(X), unscaled), doctest::Contains("carry no scales"), lowbit::error);
  const RowMat X2 = RowMat::Random(4, 63);
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8(qc.quantize(X2), pq), doctest::Contains("K mismatch"), lowbit::error);
}

TEST_CASE("kernel/gemm_int8: zero points outside the int8 range are rejected, naming the zero point") {
  // The K limits assume |a − za|·|w − zw| <= 255²; za = −32768 used to wrap C silently.
  std::vector<std::int8_t> A(3 * 16, 127), W(4 * 16, 127);
  const lowbit::int8_weights pw(lowbit::int8_view{W.data(), 4, 16, 16, 1});
  const lowbit::int8_view av{A.data(), 3, 16, 16, 1};
  std::vector<std::int32_t> c(3 * 4), za = {0, -128, 127}, zw = {127, -128, 0, 5};
  std::vector<float> y(3 * 4), s(4, 1.0f);
  for (auto path : paths) CHECK_NOTHROW(lowbit::gemm_int8_s32(av, pw, c.data(), 4, za.data(), zw.data(), {path, 1}));
  za[1] = -32768;
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8_s32(av, pw, c.data(), 4, za.data(), zw.data()),
                       doctest::Contains("activation zero point za[1] = -32768 is outside the int8 range"),
                       lowbit::error);
  za[1] = 0;
  zw[3] = 128;
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8(av, s.data(), za.data(), pw, s.data(), zw.data(), y.data(), 4),
                       doctest::Contains("weight zero point zw[3] = 128 is outside the int8 range"), lowbit::error);
  CHECK_THROWS_WITH_AS(lowbit::gemm_int8_s32(av, pw, c.data(), 4, nullptr, zw.data()),
                       doctest::Contains("zw[3] = 128"), lowbit::error);
  // quantized<uint8> zero points 0 and 255 (all-positive / all-negative rows) enter as −128 / 127.
  RowMat X(2, 16);
  X.row(0).setConstant(0.5f);
  X.row(1).setConstant(-0.5f);
  lowbit::quant_options o;
  o.gran = lowbit::per_channel(0);
  o.map = lowbit::mapping::asymmetric;
  const lowbit::quantizer<lowbit::uint8> q(o);
  const auto qX = q.quantize(X);
  REQUIRE(qX.params.zero(0, 0) == 0.0f);
  REQUIRE(qX.params.zero(1, 0) == 255.0f);
  const lowbit::int8_weights pq(q.quantize(X));  // the same rows as weights
  for (auto path : paths) CHECK_NOTHROW(lowbit::gemm_int8(qX, pq, nullptr, {path, 1}));
}
