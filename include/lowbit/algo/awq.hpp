// lowbit/algo/awq.hpp — AWQ (Lin et al., MLSys 2024), generic over every format.
//
//   Eigen::VectorXf m = awq_activation_mean(X);                 // per input channel mean |x|
//   awq_scale_result s = awq_search_scale(X, {Wq, Wk, Wv}, q, block);   // scale search
//   Eigen::MatrixXf clip = awq_search_clip(X_scaled, W_scaled, q);      // per (row, group)
//   awq_result<F> r = awq_linear(X, W, q);                      // the whole recipe, one linear
//   awq_fold_into_norm(gamma, s.scale);  awq_scale_columns(W, s.scale);  // exact folding
//
// Scale search (llm-awq auto_scale.py _search_module_scale, research/algorithms.md §2.1):
//   x̄_k = mean_t |x_tk|;  for ratio = i/n_grid, i = 0..n_grid−1 (never 1):
//     s = max(x̄^ratio, 1e-4);  s ← s / sqrt(max(s)·min(s))
//     out = block(X·diag(1/s), {Q(W_i·diag(s))})  ≡ the reference's X·(Q(W·diag(s))/s)ᵀ
//     loss = mean((block(X, {W_i}) − out)²)  (float64 sum)
//   the ratio with the least loss wins (the first on ties). ratio 0 is s ≡ 1, round-to-nearest,
//   so the chosen loss is never above RTN's on the calibration data.
//   `block` is any callable (const matrix& x_scaled, const std::vector<matrix>& weights) ->
//   Eigen matrix: one linear (x·Wᵀ) or a whole attention / MLP block using all the weights.
//   Dead channels (x̄ = 0) get s = 1e-4 before normalisation, never 0; a non-finite scale
//   becomes 1 (AutoAWQ); if every ratio gives a non-finite loss, s ≡ 1 and
//   status = numerical_issue (the reference raises).
// Clip search (auto_clip.py auto_clip_layer, §2.2), on the scaled weight and scaled input:
//   per (row n, group g): m0 = max|W_ng|; for i < clip_max_shrink·clip_grid:
//     m = m0·(1 − i/clip_grid); err = mean_t (Σ_{k∈g} x_tk (Q(clamp(W, ±m))_nk − W_nk))²
//   keep the m of least err; tokens subsampled with stride max(1, T / clip_tokens) (the
//   reference divides by zero below 512 tokens). Groups = the quantizer's K blocks (a short
//   last group is allowed); the tensor scale (NVFP4) is held at that of the unclipped W.
// Folding (apply_scale): preceding norm γ_k /= s_k (a norm bias β by the same call), or
// preceding linear rows /= s (its last len(s) rows, and bias), following linears W[:, k] *= s_k.
// In float64 the folded network equals the original to rounding (tests: ≤ 1e-13 relative).
// Bad input (lowbit::error): empty X, NaN/Inf in X or W, width mismatch between X and a weight,
// no weights, n_grid < 1, a quantizer whose blocks span several rows (clip search), block
// outputs of a different shape than the original output, fold scales of the wrong length or
// not finite and > 0.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "../quantize/quantizer.hpp"

namespace lowbit {

struct awq_options {
  int n_grid = 20;               // scale ratios i/n_grid, i = 0..n_grid−1
  bool clip_search = true;       // awq_linear: run the clip search after scaling
  int clip_grid = 20;
  double clip_max_shrink = 0.5;  // shrink steps i < clip_max_shrink·clip_grid
  Eigen::Index clip_tokens = 512;
};

struct awq_scale_result {
  Eigen::VectorXf scale;         // K, the chosen s (all ones for ratio 0)
  double ratio = 0.0;            // chosen ratio
  double loss = 0.0;             // its output MSE
  double rtn_loss = 0.0;         // ratio 0 (plain round-to-nearest) output MSE
  std::vector<double> losses;    // one per grid ratio
  info status = info::success;
};

template <class Format>
struct awq_result {
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  awq_scale_result search;
  Eigen::MatrixXf clip;          // N × groups, max |w| kept per (row, group) of W·diag(s)
  quantized<Format> weight;      // codes of clamp(W·diag(s)) (what a kernel stores)
  matrix Q;                      // effective dequantized weight in the input space: deq / s
  double loss = 0.0;             // mean((X·Wᵀ − X·Qᵀ)²)
  info status = info::success;
};

namespace detail {
using awq_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class A, class B>
double mean_sq_diff(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  LOWBIT_CHECK(a.rows() == b.rows() && a.cols() == b.cols(), "awq: block output is ", b.rows(), " x ", b.cols(),
               ", the original output is ", a.rows(), " x ", a.cols());
  double s = 0;
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      const double d = double(a(i, j)) - double(b(i, j));
      s += d * d;
    }
  return s / double(a.size());
}
}  // namespace detail

// x̄_k = mean over tokens of |x_tk|  (X: T × K).
template <class D>
Eigen::VectorXf awq_activation_mean(const Eigen::MatrixBase<D>& X) {
  LOWBIT_CHECK(X.rows() > 0 && X.cols() > 0, "awq_activation_mean: empty input (", X.rows(), " x ", X.cols(), ")");
  detail::check_finite<double>(X, "awq_activation_mean");
  Eigen::VectorXd s = Eigen::VectorXd::Zero(X.cols());
  for (Eigen::Index t = 0; t < X.rows(); ++t)
    for (Eigen::Index k = 0; k < X.cols(); ++k) s(k) += std::fabs(double(X(t, k)));
  return (s / double(X.rows())).cast<float>();
}

// The reference normalisation for one ratio: s = max(x̄^ratio, 1e-4) / sqrt(max(s)·min(s)).
inline Eigen::VectorXf awq_scales(const Eigen::VectorXf& mean_abs, double ratio) {
  LOWBIT_CHECK(mean_abs.size() > 0, "awq_scales: empty activation statistic");
  Eigen::VectorXf s(mean_abs.size());
  for (Eigen::Index k = 0; k < s.size(); ++k) s(k) = std::fmax(std::pow(mean_abs(k), float(ratio)), 1e-4f);
  const double norm = std::sqrt(double(s.maxCoeff()) * double(s.minCoeff()));
  for (Eigen::Index k = 0; k < s.size(); ++k) {
    const float v = float(double(s(k)) / norm);
    s(k) = std::isfinite(v) && v > 0 ? v : 1.0f;
  }
  return s;
}

// Scale search over the weights that share the input X (T × K), scored by block's output.
template <class F, class SF, class R, class Block>
awq_scale_result awq_search_scale(const detail::awq_matrix& X, const std::vector<detail::awq_matrix>& weights,
                                  const quantizer<F, SF, R>& q, Block&& block, const awq_options& opt = {}) {
  using M = detail::awq_matrix;
  LOWBIT_CHECK(!weights.empty(), "awq_search_scale: no weights to scale");
  LOWBIT_CHECK(opt.n_grid >= 1, "awq_search_scale: n_grid must be >= 1, got ", opt.n_grid);
  const Eigen::VectorXf xm = awq_activation_mean(X);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    LOWBIT_CHECK(weights[i].cols() == X.cols(), "awq_search_scale: weight ", i, " has ", weights[i].cols(),
                 " input channels, X has ", X.cols());
    detail::check_finite<double>(weights[i], "awq_search_scale (weight)");
  }
  const M org = block(X, weights);
  awq_scale_result r;
  r.scale = Eigen::VectorXf::Ones(X.cols());
  double best = std::numeric_limits<double>::infinity();
  int best_i = -1;
  std::vector<M> wq(weights.size());
  for (int i = 0; i < opt.n_grid; ++i) {
    const double ratio = double(i) / double(opt.n_grid);
    const Eigen::VectorXf s = awq_scales(xm, ratio);
    for (std::size_t w = 0; w < weights.size(); ++w)
      wq[w] = q.fake_quantize(weights[w] * s.asDiagonal());
    const M xs = X * s.cwiseInverse().asDiagonal();
    const M out = block(xs, wq);
    const double loss = detail::mean_sq_diff(org, out);
    r.losses.push_back(loss);
    if (loss < best) {
      best = loss;
      best_i = i;
      r.scale = s;
    }
  }
  r.rtn_loss = r.losses[0];
  if (best_i < 0) {
    r.status = info::numerical_issue;
    r.scale.setOnes();
    r.loss = r.rtn_loss;
    return r;
  }
  r.ratio = double(best_i) / double(opt.n_grid);
  r.loss = best;
  return r;
}

// Clip search: max |w| kept per (row, group) of W (N × K), input X (T × K), both already
// scaled by s (X·diag(1/s), W·diag(s)). Returns N × groups.
template <class F, class SF, class R>
Eigen::MatrixXf awq_search_clip(const detail::awq_matrix& X, const detail::awq_matrix& W, const quantizer<F, SF, R>& q,
                                const awq_options& opt = {}) {
  using M = detail::awq_matrix;
  const Eigen::Index N = W.rows(), K = W.cols(), T = X.rows();
  LOWBIT_CHECK(N > 0 && K > 0 && T > 0, "awq_search_clip: empty input (W ", N, " x ", K, ", X ", T, " x ", X.cols(),
               ")");
  LOWBIT_CHECK(X.cols() == K, "awq_search_clip: X has ", X.cols(), " channels, W has K = ", K);
  const granularity gran = q.options().gran;
  LOWBIT_CHECK(gran.block_rows == 1, "awq_search_clip: the quantizer's blocks must be one row high (per-channel "
               "or per-group), got ", gran.block_rows, " rows");
  LOWBIT_CHECK(opt.clip_grid >= 1 && opt.clip_max_shrink > 0 && opt.clip_max_shrink <= 1 && opt.clip_tokens >= 1,
               "awq_search_clip: needs clip_grid >= 1, 0 < clip_max_shrink <= 1, clip_tokens >= 1");
  detail::check_finite<double>(X, "awq_search_clip (X)");
  detail::check_finite<double>(W, "awq_search_clip (W)");
  gran.check(N, K, "awq_search_clip");
  const Eigen::Index G = gran.block_cols > 0 ? gran.block_cols : K, ng = (K + G - 1) / G;
  // tokens 0, stride, 2·stride, ...
  const Eigen::Index stride = std::max<Eigen::Index>(1, T / opt.clip_tokens);
  const Eigen::Index Ts = (T + stride - 1) / stride;
  M Xs(Ts, K);
  for (Eigen::Index t = 0; t < Ts; ++t) Xs.row(t) = X.row(t * stride);
  // tensor scale of the unclipped W, held fixed
  quant_options o = q.options();
  if (q.uses_tensor_scale() && o.fixed_tensor_scale <= 0) o.fixed_tensor_scale = q.fit(W).tensor_scale;
  const quantizer<F, SF, R> qf(o);

  Eigen::MatrixXf org_max(N, ng), best_max(N, ng), best_err(N, ng);
  for (Eigen::Index n = 0; n < N; ++n)
    for (Eigen::Index g = 0; g < ng; ++g)
      org_max(n, g) = W.row(n).segment(g * G, std::min(G, K - g * G)).cwiseAbs().maxCoeff();
  best_max = org_max;
  best_err.setConstant(1e9f);
  const int steps = int(opt.clip_max_shrink * opt.clip_grid);
  M Wc(N, K);
  for (int i = 0; i < steps; ++i) {
    const float p = float(1.0 - double(i) / double(opt.clip_grid));
    Eigen::MatrixXf mv = org_max * p;
    for (Eigen::Index n = 0; n < N; ++n)
      for (Eigen::Index k = 0; k < K; ++k) {
        const float m = mv(n, k / G);
        Wc(n, k) = std::fmin(std::fmax(W(n, k), -m), m);
      }
    const M D = qf.fake_quantize(Wc) - W;
    for (Eigen::Index g = 0; g < ng; ++g) {
      const Eigen::Index c0 = g * G, w = std::min(G, K - c0);
      const Eigen::MatrixXf out = Xs.middleCols(c0, w) * D.middleCols(c0, w).transpose();  // Ts × N
      for (Eigen::Index n = 0; n < N; ++n) {
        const float err = float(out.col(n).cast<double>().squaredNorm() / double(Ts));
        if (err < best_err(n, g)) {
          best_err(n, g) = err;
          best_max(n, g) = mv(n, g);
        }
      }
    }
  }
  return best_max;
}

// W ← clamp(W, −m, m) with m per (row, group of G columns; G = 0: whole rows).
template <class D>
void awq_apply_clip(Eigen::MatrixBase<D>& W, const Eigen::MatrixXf& max_val, Eigen::Index G) {
  const Eigen::Index K = W.cols(), g = G > 0 ? G : K;
  LOWBIT_CHECK(max_val.rows() == W.rows() && max_val.cols() == (K + g - 1) / g, "awq_apply_clip: clip grid is ",
               max_val.rows(), " x ", max_val.cols(), ", expected ", W.rows(), " x ", (K + g - 1) / g);
  for (Eigen::Index n = 0; n < W.rows(); ++n)
    for (Eigen::Index k = 0; k < K; ++k) {
      using S = typename D::Scalar;
      const S m = S(max_val(n, k / g));
      W(n, k) = std::min(std::max(W(n, k), S(-m)), m);
    }
}

// ---- folding ----------------------------------------------------------------------------------
// Every fold needs scales s_k finite and > 0 (a zero or negative s would zero, flip or blow up
// the folded weights instead of leaving the network unchanged).
namespace detail {
template <class DS>
void check_fold_scales(const Eigen::MatrixBase<DS>& s, const char* where) {
  for (Eigen::Index k = 0; k < s.size(); ++k)
    LOWBIT_CHECK(std::isfinite(double(s(k))) && double(s(k)) > 0.0, where, ": scale s[", k, "] = ", double(s(k)),
                 " must be finite and > 0");
}
}  // namespace detail

// Following linear(s): W[:, k] *= s_k  (W: N × K).
template <class D, class DS>
void awq_scale_columns(Eigen::MatrixBase<D>& W, const Eigen::MatrixBase<DS>& s) {
  LOWBIT_CHECK(s.size() == W.cols(), "awq_scale_columns: ", s.size(), " scales for ", W.cols(), " columns");
  detail::check_fold_scales(s, "awq_scale_columns");
  for (Eigen::Index k = 0; k < W.cols(); ++k) W.col(k) *= typename D::Scalar(s(k));
}
// Preceding norm: γ_k /= s_k. A norm with a bias β folds it the same way: call this on β too.
template <class D, class DS>
void awq_fold_into_norm(Eigen::MatrixBase<D>& gamma, const Eigen::MatrixBase<DS>& s) {
  LOWBIT_CHECK(gamma.size() == s.size(), "awq_fold_into_norm: ", s.size(), " scales for a norm of ", gamma.size());
  detail::check_fold_scales(s, "awq_fold_into_norm");
  for (Eigen::Index k = 0; k < s.size(); ++k) gamma(k) /= typename D::Scalar(s(k));
}
// Preceding linear (out × in): its last len(s) output rows (and bias entries) /= s.
template <class D, class DS>
void awq_fold_into_linear(Eigen::MatrixBase<D>& W_prev, const Eigen::MatrixBase<DS>& s) {
  LOWBIT_CHECK(W_prev.rows() >= s.size(), "awq_fold_into_linear: ", s.size(), " scales for a linear with ",
               W_prev.rows(), " output rows");
  detail::check_fold_scales(s, "awq_fold_into_linear");
  const Eigen::Index off = W_prev.rows() - s.size();
  for (Eigen::Index k = 0; k < s.size(); ++k) W_prev.row(off + k) /= typename D::Scalar(s(k));
}

// The whole recipe for one linear y = x·Wᵀ: scale search, clip search on the scaled weight
// and input, quantization of clamp(W·diag(s)). Q is the effective weight deq·diag(1/s).
template <class F, class SF, class R>
awq_result<F> awq_linear(const detail::awq_matrix& X, const detail::awq_matrix& W, const quantizer<F, SF, R>& q,
                         const awq_options& opt = {}) {
  using M = detail::awq_matrix;
  awq_result<F> r;
  auto linear = [](const M& x, const std::vector<M>& w) -> M { return x * w[0].transpose(); };
  r.search = awq_search_scale(X, std::vector<M>{W}, q, linear, opt);
  const Eigen::VectorXf& s = r.search.scale;
  M Ws = W * s.asDiagonal();
  const Eigen::Index G = q.options().gran.block_cols;
  if (opt.clip_search) {
    const M Xs = X * s.cwiseInverse().asDiagonal();
    r.clip = awq_search_clip(Xs, Ws, q, opt);
    awq_apply_clip(Ws, r.clip, G);
  }
  r.weight = q.quantize(Ws);
  r.Q = q.dequantize(r.weight) * s.cwiseInverse().asDiagonal();
  r.loss = detail::mean_sq_diff(M(X * W.transpose()), M(X * r.Q.transpose()));
  r.status = r.search.status;
  return r;
}

}  // namespace lowbit
