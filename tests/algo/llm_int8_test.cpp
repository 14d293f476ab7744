#include <lowbit/algo/llm_int8.hpp>

#include <cmath>
#include <random>
#include <string>

#include <doctest/doctest.h>

#include "support/error_of.hpp"
#include "support/random.hpp"

using namespace lowbit;
using namespace lowbit_test;
using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
double rel_err(const MatF& a, const MatD& ref) { return (a.cast<double>() - ref).norm() / ref.norm(); }

// Independent reimplementation of bitsandbytes' default-backend ops (int8_vectorwise_quant,
// int8_mixed_scaled_mm) in float64: row stats ignore outlier entries, codes = round(x·127/absmax)
// (ties to even), outlier columns zeroed, out = C·sA·sB/127² + X[:, O]·deq(W)[:, O]ᵀ.
struct bnb_ref {
  MatD out, int8_part, outlier_part;
  std::vector<Eigen::Index> cols;
};
bnb_ref bnb(const MatF& a, const MatF& w, double thr) {
  const Eigen::Index T = a.rows(), K = a.cols(), N = w.rows();
  bnb_ref r;
  std::vector<bool> out(std::size_t(K), false);
  for (Eigen::Index k = 0; k < K; ++k)
    for (Eigen::Index t = 0; t < T; ++t)
      if (thr > 0 && std::fabs(double(a(t, k))) >= thr) out[std::size_t(k)] = true;
  for (Eigen::Index k = 0; k < K; ++k)
    if (out[std::size_t(k)]) r.cols.push_back(k);
  MatD ca(T, K), cb(N, K);
  Eigen::VectorXd sa(T), sb(N);
  for (Eigen::Index t = 0; t < T; ++t) {
    double m = 0;
    for (Eigen::Index k = 0; k < K; ++k)
      if (!(thr > 0 && std::fabs(double(a(t, k))) >= thr)) m = std::max(m, std::fabs(double(a(t, k))));
    sa(t) = m;
    for (Eigen::Index k = 0; k < K; ++k)
      ca(t, k) = out[std::size_t(k)] || m == 0 ? 0.0 : std::nearbyint(double(a(t, k)) * 127.0 / m);
  }
  for (Eigen::Index n = 0; n < N; ++n) {
    sb(n) = w.row(n).cwiseAbs().maxCoeff();
    for (Eigen::Index k = 0; k < K; ++k) cb(n, k) = std::nearbyint(double(w(n, k)) * 127.0 / sb(n));
  }
  r.int8_part = (ca * cb.transpose()).array() * (sa * sb.transpose()).array() / (127.0 * 127.0);
  r.outlier_part = MatD::Zero(T, N);
  for (Eigen::Index k : r.cols)
    for (Eigen::Index n = 0; n < N; ++n)
      for (Eigen::Index t = 0; t < T; ++t) r.outlier_part(t, n) += double(a(t, k)) * cb(n, k) * sb(n) / 127.0;
  r.out = r.int8_part + r.outlier_part;
  return r;
}

// Activations with a few large-magnitude feature dimensions (the emergent outliers of the paper).
MatF with_outlier_features(Eigen::Index T, Eigen::Index K, unsigned seed) {
  MatF x = randn(T, K, seed);
  for (Eigen::Index k : {5, 21, 50}) x.col(k) *= 25.0f;
  return x;
}
}  // namespace

TEST_CASE("algo/llm_int8: outlier columns are those with any |x| >= threshold") {
  MatF x = MatF::Zero(3, 6);
  x(0, 1) = 6.0f;    // exactly the threshold counts
  x(2, 4) = -7.5f;
  x(1, 2) = 5.999f;  // just below does not
  CHECK(llm_int8_outlier_columns(x, 6.0f) == std::vector<Eigen::Index>{1, 4});
  CHECK(llm_int8_outlier_columns(x, 0.0f).empty());
  CHECK(llm_int8_outlier_columns(x, INFINITY).empty());
  CHECK(llm_int8_outlier_columns(x, 1.0f) == std::vector<Eigen::Index>{1, 2, 4});
}

TEST_CASE("algo/llm_int8: matches an independent float64 bitsandbytes reimplementation") {
  const MatF x = with_outlier_features(24, 64, 1), w = randn(40, 64, 2, 0.05f);
  for (float thr : {0.0f, 6.0f, 20.0f}) {
    CAPTURE(thr);
    const llm_int8_result r = llm_int8_matmul(x, w, Eigen::VectorXf(), {thr});
    const bnb_ref ref = bnb(x, w, thr);
    CHECK(r.status == info::success);
    CHECK(r.outlier_cols == ref.cols);
    CHECK(rel_err(r.int8_part, ref.int8_part) < 1e-6);
    if (!ref.cols.empty()) CHECK(rel_err(r.outlier_part, ref.outlier_part) < 1e-6);
    CHECK(rel_err(r.out, ref.out) < 1e-6);
  }
  CHECK(llm_int8_matmul(x, w).outlier_cols == std::vector<Eigen::Index>{5, 21, 50});
}

TEST_CASE("algo/llm_int8: int8 part is the exact integer product, outlier part the float product") {
  const MatF x = with_outlier_features(16, 64, 3), w = randn(8, 64, 4);
  const llm_int8_result r = llm_int8_matmul(x, w);
  REQUIRE(r.outlier_cols.size() == 3);
  const quantizer<int8> wq({per_channel(0)});
  const MatF w_hat = wq.dequantize(r.w_codes);
  // outlier part == X[:, O].W_hat[:, O]^T in float64 (to float rounding of the result)
  MatD ref = MatD::Zero(16, 8);
  for (Eigen::Index k : r.outlier_cols) ref += x.col(k).cast<double>() * w_hat.col(k).cast<double>().transpose();
  CHECK((r.outlier_part.cast<double>() - ref).cwiseAbs().maxCoeff() <= 1e-6 * ref.cwiseAbs().maxCoeff());
  // outlier columns carry zero codes; every other code is within [-127, 127]
  for (Eigen::Index t = 0; t < 16; ++t)
    for (Eigen::Index k = 0; k < 64; ++k) {
      const int c = int8::to_int(r.x_codes.codes(t, k));
      if (k == 5 || k == 21 || k == 50) CHECK(c == 0);
      CHECK(std::abs(c) <= 127);
    }
  // int8 part == (sum of code products, in int64) . s_t . s_n
  for (Eigen::Index t = 0; t < 16; ++t)
    for (Eigen::Index n = 0; n < 8; ++n) {
      std::int64_t c = 0;
      for (Eigen::Index k = 0; k < 64; ++k) c += int8::to_int(r.x_codes.codes(t, k)) * int8::to_int(r.w_codes.codes(n, k));
      CHECK(r.int8_part(t, n) == float(c) * r.x_codes.params.scale(t, 0) * r.w_codes.params.scale(n, 0));
    }
  // row scales ignore the outlier entries: max over the remaining |x| / 127
  for (Eigen::Index t = 0; t < 16; ++t) {
    float m = 0;
    for (Eigen::Index k = 0; k < 64; ++k)
      if (std::fabs(x(t, k)) < 6.0f) m = std::max(m, std::fabs(x(t, k)));
    CHECK(r.x_codes.params.scale(t, 0) == m / 127.0f);
  }
}

TEST_CASE("algo/llm_int8: every column an outlier gives the float product") {
  const MatF x = randn(6, 32, 5), w = randn(10, 32, 6);
  Eigen::VectorXf bias(10);
  for (int i = 0; i < 10; ++i) bias(i) = float(i) - 4.5f;
  const float tiny = 1e-30f;  // every column has an entry >= tiny
  const llm_int8_result rd = llm_int8_matmul(x, w, bias, {tiny});
  CHECK(rd.outlier_cols.size() == 32);
  CHECK(rd.int8_part.cwiseAbs().maxCoeff() == 0.0f);
  const MatF w_hat = quantizer<int8>({per_channel(0)}).dequantize(rd.w_codes);
  MatD ref = x.cast<double>() * w_hat.cast<double>().transpose();
  ref.rowwise() += bias.cast<double>().transpose();
  CHECK(rel_err(rd.out, ref) < 1e-7);
  // with the original weights (has_fp16_weights) the result is X.W^T itself
  const llm_int8_result ro = llm_int8_matmul(x, w, bias, {tiny, outlier_weights::original});
  MatD ref_o = x.cast<double>() * w.cast<double>().transpose();
  ref_o.rowwise() += bias.cast<double>().transpose();
  CHECK(rel_err(ro.out, ref_o) < 1e-7);
}

TEST_CASE("algo/llm_int8: threshold 0 and +inf are pure vector-wise int8; decomposition beats it on outlier features") {
  const MatF x = with_outlier_features(64, 128, 7), w = randn(48, 128, 8, 0.05f);
  const llm_int8_result none = llm_int8_matmul(x, w, Eigen::VectorXf(), {0.0f});
  const llm_int8_result inf = llm_int8_matmul(x, w, Eigen::VectorXf(), {INFINITY});
  CHECK(none.out == inf.out);
  CHECK(none.outlier_part.cwiseAbs().maxCoeff() == 0.0f);
  // vector-wise int8 from the quantizers directly
  const quantizer<int8> xq({per_token()}), wq({per_channel(0)});
  const MatD vw = xq.fake_quantize(x).cast<double>() * wq.fake_quantize(w).cast<double>().transpose();
  CHECK(rel_err(none.out, vw) < 1e-6);
  const MatD ref = x.cast<double>() * w.cast<double>().transpose();
  const double e_vw = rel_err(none.out, ref), e_mixed = rel_err(llm_int8_matmul(x, w).out, ref);
  CAPTURE(e_vw);
  CAPTURE(e_mixed);
  CHECK(e_mixed < e_vw / 3);  // measured 0.0063 vs 0.0215
  // a pre-quantized weight gives the same result
  CHECK(llm_int8_matmul(x, llm_int8_quantize_weight(w)).out == llm_int8_matmul(x, w).out);
}

TEST_CASE("algo/llm_int8: bad input") {
  const MatF x = randn(4, 16, 1), w = randn(3, 16, 2);
  CHECK(error_of([&] { llm_int8_matmul(x, randn(3, 15, 2)); }).find("activations have 16 columns, weight has 15") !=
        std::string::npos);
  CHECK(error_of([&] { llm_int8_matmul(x, w, Eigen::VectorXf(), {-1.0f}); }).find("threshold must be >= 0") !=
        std::string::npos);
  CHECK(error_of([&] { llm_int8_matmul(x, w, Eigen::VectorXf(), {NAN}); }).find("threshold must be >= 0") !=
        std::string::npos);
  CHECK(error_of([&] { llm_int8_matmul(x, w, Eigen::VectorXf::Zero(4)); }).find("bias has 4 entries, weight has 3") !=
        std::string::npos);
  MatF xn = x;
  xn(2, 7) = NAN;
  CHECK(error_of([&] { llm_int8_matmul(xn, w); }).find("llm_int8_matmul: non-finite activation nan at (2, 7)") != std::string::npos);
  Eigen::VectorXf bn = Eigen::VectorXf::Zero(3);
  bn(1) = INFINITY;
  CHECK(error_of([&] { llm_int8_matmul(x, w, bn); }).find("non-finite bias inf at (0, 1)") != std::string::npos);
  // Finite activations whose product overflows fp32: with the decomposition off (int8 part,
  // s_t = 3e38/127) and on (the outlier column in float64, rounded to an fp32 inf).
  MatF xo = x;
  xo(1, 3) = 3e38f;
  MatF wo = w;
  wo.col(3).setConstant(4.0f);
  CHECK(error_of([&] { llm_int8_matmul(xo, wo, Eigen::VectorXf(), {0.0f}); }).find("llm_int8_matmul: output (1, 0) = inf overflows fp32") != std::string::npos);
  CHECK(error_of([&] { llm_int8_matmul(xo, wo); }).find("overflows fp32 (int8 part") != std::string::npos);
  CHECK(error_of([&] { llm_int8_matmul(MatF(0, 16), w); }).find("empty activations") != std::string::npos);
  const quantized<int8> wt = quantizer<int8>({per_tensor()}).quantize(w);
  CHECK(error_of([&] { llm_int8_matmul(x, wt); }).find("symmetric per-output-channel int8") != std::string::npos);
}
