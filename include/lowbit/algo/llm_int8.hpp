// lowbit/algo/llm_int8.hpp — LLM.int8() mixed-precision decomposition (bitsandbytes
// int8_vectorwise_quant + int8_mixed_scaled_mm; research/algorithms.md §6).
//
// Shapes: X[T][K] activations, W[N][K] weight, Y[T][N] = X·Wᵀ (+ bias).
//   outlier columns O = { k : |X[t, k]| ≥ threshold for some t }   (threshold > 0; 0 or +inf: none)
//   X_in   = X with every outlier ENTRY set to 0 (so row maxima see only |x| < threshold, as bnb)
//   x codes: quantizer<int8>{per_token()} on X_in: s_t = max_k |X_in[t, k]| / 127,
//            c = RNE(x / s_t); then the codes of the outlier COLUMNS are zeroed in every row
//   w codes: quantizer<int8>{per_channel(0)} on W: one scale per output row, s_n = max|W[n,:]|/127
//   Y = C·s_t·s_n  +  X[:, O]·Ŵ[:, O]ᵀ  + bias       C = Σ_k cx[t,k]·cw[n,k]  (exact, int32)
// where Ŵ is the dequantized int8 weight (bnb default, outlier_weights::dequantized) or the
// original float weight (outlier_weights::original, "has_fp16_weights"). The outlier part is
// an ordinary float product (accumulated in float64), so on the outlier columns the result
// equals the float product exactly up to float round-off; the rest is vector-wise int8.
// bnb scales by 127/absmax (a multiply) where lowbit divides by absmax/127; codes can differ at
// exact .5 ties only. The paper's threshold is 6.0 (HF llm_int8_threshold); bnb's
// Linear8bitLt default of 0 disables the decomposition.
// Errors (lowbit::error): empty X or W, K or bias length mismatched, threshold < 0 or NaN,
// NaN/Inf in X, W or the bias, and an output that overflows fp32 (finite X near 1e37).
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "../format/int.hpp"
#include "../granularity/granularity.hpp"
#include "../quantize/quantizer.hpp"

namespace lowbit {

enum class outlier_weights { dequantized, original };

struct llm_int8_options {
  float threshold = 6.0f;  // |x| ≥ threshold marks a column as outlier; 0 or +inf disables
  outlier_weights weights = outlier_weights::dequantized;
};

struct llm_int8_result {
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  matrix out;                               // T × N: int8_part + outlier_part (+ bias)
  matrix int8_part;                         // C·s_t·s_n
  matrix outlier_part;                      // X[:, O]·Ŵ[:, O]ᵀ (zero when O is empty)
  std::vector<Eigen::Index> outlier_cols;   // O, ascending
  quantized<int8> x_codes;                  // outlier columns zeroed
  quantized<int8> w_codes;
  info status = info::success;
};

// Columns of x holding at least one |value| ≥ threshold (ascending); none if threshold is 0 or +inf.
template <class Derived>
std::vector<Eigen::Index> llm_int8_outlier_columns(const Eigen::MatrixBase<Derived>& x, float threshold) {
  LOWBIT_CHECK(threshold >= 0.0f, "llm_int8_outlier_columns: threshold must be >= 0 (0 disables), got ", threshold);
  std::vector<Eigen::Index> cols;
  if (threshold == 0.0f || std::isinf(threshold)) return cols;
  for (Eigen::Index k = 0; k < x.cols(); ++k)
    for (Eigen::Index t = 0; t < x.rows(); ++t)
      if (std::fabs(float(x(t, k))) >= threshold) {
        cols.push_back(k);
        break;
      }
  return cols;
}

// The vector-wise int8 weight (one scale per output row), reusable across calls.
template <class Derived>
quantized<int8> llm_int8_quantize_weight(const Eigen::MatrixBase<Derived>& w) {
  LOWBIT_CHECK(w.rows() > 0 && w.cols() > 0, "llm_int8_quantize_weight: empty weight (", w.rows(), " x ", w.cols(), ")");
  return quantizer<int8>(quant_options{per_channel(0)}).quantize(w);
}

namespace detail {
template <class DerivedX, class DerivedW>
llm_int8_result llm_int8_core(const Eigen::MatrixBase<DerivedX>& x, const quantized<int8>& wq,
                              const Eigen::MatrixBase<DerivedW>* w_original, const float* bias, Eigen::Index bias_size,
                              const llm_int8_options& o) {
  using matrix = llm_int8_result::matrix;
  const Eigen::Index T = x.rows(), K = x.cols(), N = wq.rows();
  LOWBIT_CHECK(T > 0 && K > 0, "llm_int8_matmul: empty activations (", T, " x ", K, ")");
  LOWBIT_CHECK(wq.cols() == K, "llm_int8_matmul: activations have ", K, " columns, weight has ", wq.cols(),
               " input channels");
  LOWBIT_CHECK(!(o.threshold < 0.0f) && !std::isnan(o.threshold),
               "llm_int8_matmul: threshold must be >= 0 (0 disables), got ", o.threshold);
  LOWBIT_CHECK(bias_size == 0 || bias_size == N, "llm_int8_matmul: bias has ", bias_size, " entries, weight has ", N,
               " outputs");
  LOWBIT_CHECK(K <= (std::numeric_limits<std::int32_t>::max)() / (128 * 128),
               "llm_int8_matmul: K = ", K, " could overflow the int32 accumulator");
  detail::check_finite(x, "llm_int8_matmul", "activation");
  if (bias_size) detail::check_finite(Eigen::Map<const Eigen::RowVectorXf>(bias, bias_size), "llm_int8_matmul", "bias");

  llm_int8_result r;
  r.outlier_cols = llm_int8_outlier_columns(x, o.threshold);
  std::vector<char> is_out(std::size_t(K), 0);
  for (Eigen::Index k : r.outlier_cols) is_out[std::size_t(k)] = 1;

  // Activations: outlier entries zeroed for the row statistics, outlier columns zeroed in codes.
  matrix x_in = x.template cast<float>();
  if (!r.outlier_cols.empty())
    for (Eigen::Index t = 0; t < T; ++t)
      for (Eigen::Index k = 0; k < K; ++k)
        if (std::fabs(x_in(t, k)) >= o.threshold) x_in(t, k) = 0.0f;
  const quantizer<int8> xq(quant_options{per_token()});
  r.x_codes = xq.quantize(x_in);
  for (Eigen::Index k : r.outlier_cols) r.x_codes.codes.col(k).setConstant(int8::from_int(0));
  r.w_codes = wq;

  // int32 product of the codes, scaled per row and per output channel in fp32.
  Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> cx(T, K), cw(N, K);
  for (Eigen::Index t = 0; t < T; ++t)
    for (Eigen::Index k = 0; k < K; ++k) cx(t, k) = int8::to_int(r.x_codes.codes(t, k));
  for (Eigen::Index n = 0; n < N; ++n)
    for (Eigen::Index k = 0; k < K; ++k) cw(n, k) = int8::to_int(wq.codes(n, k));
  r.int8_part.resize(T, N);
  for (Eigen::Index t = 0; t < T; ++t) {
    const float st = r.x_codes.params.effective_scale(t, 0);
    for (Eigen::Index n = 0; n < N; ++n) {
      const std::int32_t c = cx.row(t).dot(cw.row(n));
      r.int8_part(t, n) = float(c) * st * wq.params.effective_scale(n, 0);
    }
  }

  // Outlier columns in floating point.
  r.outlier_part = matrix::Zero(T, N);
  if (!r.outlier_cols.empty()) {
    const quantizer<int8> wdq(quant_options{per_channel(0)});
    for (Eigen::Index n = 0; n < N; ++n)
      for (Eigen::Index t = 0; t < T; ++t) {
        double acc = 0.0;
        for (Eigen::Index k : r.outlier_cols) {
          const double wv = w_original ? double((*w_original)(n, k))
                                       : double(wdq.decode_value(wq.codes(n, k), wdq.block_at(wq.params, n, k)));
          acc += double(x(t, k)) * wv;
        }
        r.outlier_part(t, n) = float(acc);
      }
  }
  r.out = r.int8_part + r.outlier_part;
  if (bias_size)
    for (Eigen::Index n = 0; n < N; ++n) r.out.col(n).array() += bias[n];
  // Finite inputs can still overflow fp32 (|x| near 1e37): an error, not an inf in the output.
  if (!detail::all_finite(r.out))
    for (Eigen::Index t = 0; t < T; ++t)
      for (Eigen::Index n = 0; n < N; ++n)
        LOWBIT_CHECK(std::isfinite(r.out(t, n)), "llm_int8_matmul: output (", t, ", ", n, ") = ", r.out(t, n),
                     " overflows fp32 (int8 part ", r.int8_part(t, n), ", outlier part ", r.outlier_part(t, n), ")");
  return r;
}
}  // namespace detail

// Y = X·Wᵀ (+ bias) with the LLM.int8() decomposition; see the header comment.
// bias: empty or N entries.
template <class DerivedX, class DerivedW>
llm_int8_result llm_int8_matmul(const Eigen::MatrixBase<DerivedX>& x, const Eigen::MatrixBase<DerivedW>& w,
                                const Eigen::VectorXf& bias = Eigen::VectorXf(), const llm_int8_options& o = {}) {
  LOWBIT_CHECK(w.rows() > 0 && w.cols() > 0, "llm_int8_matmul: empty weight (", w.rows(), " x ", w.cols(), ")");
  LOWBIT_CHECK(w.cols() == x.cols(), "llm_int8_matmul: activations have ", x.cols(), " columns, weight has ", w.cols(),
               " input channels");
  const quantized<int8> wq = llm_int8_quantize_weight(w);
  return detail::llm_int8_core(x, wq, o.weights == outlier_weights::original ? &w : nullptr, bias.data(), bias.size(), o);
}

// Same with a weight quantized beforehand by llm_int8_quantize_weight (outliers use Ŵ).
template <class DerivedX>
llm_int8_result llm_int8_matmul(const Eigen::MatrixBase<DerivedX>& x, const quantized<int8>& wq,
                                const Eigen::VectorXf& bias = Eigen::VectorXf(), float threshold = 6.0f) {
  LOWBIT_CHECK(wq.params.gran == per_channel(0) && wq.params.zeros == zero_kind::none,
               "llm_int8_matmul: the weight must be symmetric per-output-channel int8 (llm_int8_quantize_weight)");
  llm_int8_options o;
  o.threshold = threshold;
  return detail::llm_int8_core(x, wq, static_cast<const Eigen::MatrixBase<Eigen::MatrixXf>*>(nullptr), bias.data(),
                               bias.size(), o);
}

}  // namespace lowbit
