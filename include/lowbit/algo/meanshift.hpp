// lowbit/algo/meanshift.hpp — MeanShift: subtract a per-channel mean before quantizing and fold it
// into a bias so the float model is unchanged (precedents: Outlier Suppression+ channel shift,
// QuaRot bake_mean_into_linear, SageAttention smooth_k; research/algorithms.md §8).
//
// Shapes: activations X[T][C] (rows = tokens), linear W[N][C] with y = x·Wᵀ + b. Attention
// tensors are rows × (heads·head_dim), head h in columns [h·d, (h+1)·d); with grouped-query
// attention query head h reads K/V head g = h / (Hq/Hkv).
//
// 1. Linear inputs (the Q/K/V projection inputs of the recipe tables; exact for any linear):
//      μ = mean_t X[t, :]          (channel_mean, float64 running sums)
//      y = (x − μ)·Wᵀ + (b + W·μ)  (meanshift_fold_bias; the quantizer sees x − μ)
//    x − μ is subtracted at run time (meanshift_apply) or, after a LayerNorm, folded into its bias
//    β' = β − μ. RMSNorm has no bias, so there the subtraction stays a runtime op.
// 2. Which shifts of the attention tensors leave softmax(Q·Kᵀ·scale + mask) unchanged:
//    * K − 1·μ_kᵀ AFTER RoPE (or without RoPE): INVARIANT. Score (i, j) changes by q_i·μ_k, the
//      same for every key j of a row, and softmax ignores a per-row constant (the causal mask
//      included). Only a returned log-sum-exp moves: lse' = lse − scale·q_i·μ_k
//      (meanshift_key_lse_correction gives scale·q_i·μ_k per query and head).
//    * K shifted BEFORE RoPE (e.g. folded into k_proj's bias): NOT invariant in general — RoPE
//      turns μ_k into R_j·μ_k, which differs per key position j.
//    * Q − 1·μ_qᵀ: NOT invariant — score (i, j) changes by μ_q·k_j, which varies per key. Adding
//      back scale·μ_q·k_j as a per-key bias (meanshift_query_key_bias) restores it exactly.
//    * V − 1·μ_vᵀ: the output moves by exactly μ_v (softmax rows sum to 1); fold it into the
//      o_proj bias, b_o' = b_o + W_o·expand_kv_heads(μ_v) (GQA: μ_v repeated per query head).
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "channel_reduction.hpp"

namespace lowbit {

// Running per-channel mean over batches of rows (float64 sums).
class channel_mean {
 public:
  template <class Derived>
  void update(const Eigen::MatrixBase<Derived>& x) { sum_.update(x, "channel_mean::update"); }
  Eigen::VectorXd value() const {
    LOWBIT_CHECK(sum_.rows() > 0, "channel_mean::value: no rows seen");
    return sum_.value() / double(sum_.rows());
  }
  Eigen::Index rows() const { return sum_.rows(); }

 private:
  struct plus {
    double operator()(double s, double v) const { return s + v; }
  };
  channel_reduction<plus> sum_;
};

template <class Derived>
Eigen::VectorXd channel_mean_of(const Eigen::MatrixBase<Derived>& x) {
  channel_mean m;
  m.update(x);
  return m.value();
}

namespace detail {
inline void check_shift(const Eigen::VectorXd& mu, Eigen::Index channels, const char* where) {
  LOWBIT_CHECK(mu.size() == channels, where, ": shift has ", mu.size(), " entries for ", channels, " channels");
  LOWBIT_CHECK(all_finite<double>(mu), where, ": shift contains NaN or Inf");
}
inline void check_heads(Eigen::Index cols, Eigen::Index heads, Eigen::Index head_dim, const char* what, const char* where) {
  LOWBIT_CHECK(heads > 0 && head_dim > 0, where, ": ", what, " needs heads > 0 and head_dim > 0, got ", heads, " and ",
               head_dim);
  LOWBIT_CHECK(cols == heads * head_dim, where, ": ", what, " has ", cols, " columns, expected heads (", heads,
               ") x head_dim (", head_dim, ") = ", heads * head_dim);
}
inline void check_gqa(Eigen::Index q_heads, Eigen::Index kv_heads, const char* where) {
  LOWBIT_CHECK(q_heads > 0 && kv_heads > 0 && q_heads % kv_heads == 0, where, ": mismatched head counts: ", q_heads,
               " query heads is not a multiple of ", kv_heads, " key/value heads");
}
}  // namespace detail

// X − 1·μᵀ (the runtime subtraction in front of the quantizer).
template <class Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> meanshift_apply(
    const Eigen::MatrixBase<Derived>& x, const Eigen::VectorXd& mu) {
  using T = typename Derived::Scalar;
  detail::check_shift(mu, x.cols(), "meanshift_apply");
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out = x;
  for (Eigen::Index j = 0; j < x.cols(); ++j) out.col(j).array() -= T(mu(j));
  return out;
}

// b' = b + W·μ for y = x·Wᵀ + b fed with x − μ (W: N × C). An empty b means no bias (zero).
template <class Derived, class DerivedB>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1> meanshift_fold_bias(const Eigen::MatrixBase<Derived>& w,
                                                                              const Eigen::MatrixBase<DerivedB>& b,
                                                                              const Eigen::VectorXd& mu) {
  using T = typename Derived::Scalar;
  detail::check_shift(mu, w.cols(), "meanshift_fold_bias");
  LOWBIT_CHECK(b.size() == 0 || b.size() == w.rows(), "meanshift_fold_bias: bias has ", b.size(), " entries, the linear has ",
               w.rows(), " outputs");
  Eigen::Matrix<T, Eigen::Dynamic, 1> out(w.rows());
  for (Eigen::Index i = 0; i < w.rows(); ++i) {
    double acc = b.size() ? double(b(i)) : 0.0;  // accumulate in float64
    for (Eigen::Index j = 0; j < w.cols(); ++j) acc += double(w(i, j)) * mu(j);
    out(i) = T(acc);
  }
  return out;
}
template <class Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1> meanshift_fold_bias(const Eigen::MatrixBase<Derived>& w,
                                                                              const Eigen::VectorXd& mu) {
  return meanshift_fold_bias(w, Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1>(), mu);
}

// A LayerNorm bias that emits x − μ directly: β' = β − μ.
template <class Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1> meanshift_fold_norm_bias(const Eigen::MatrixBase<Derived>& beta,
                                                                                   const Eigen::VectorXd& mu) {
  using T = typename Derived::Scalar;
  detail::check_shift(mu, beta.size(), "meanshift_fold_norm_bias");
  Eigen::Matrix<T, Eigen::Dynamic, 1> out(beta.size());
  for (Eigen::Index j = 0; j < beta.size(); ++j) out(j) = T(beta(j)) - T(mu(j));
  return out;
}

// Per-head μ of size Hkv·d repeated to Hq·d (query head h takes K/V head h / (Hq/Hkv)).
inline Eigen::VectorXd expand_kv_heads(const Eigen::VectorXd& mu_kv, Eigen::Index q_heads, Eigen::Index kv_heads,
                                       Eigen::Index head_dim) {
  detail::check_gqa(q_heads, kv_heads, "expand_kv_heads");
  detail::check_heads(mu_kv.size(), kv_heads, head_dim, "the K/V shift", "expand_kv_heads");
  const Eigen::Index group = q_heads / kv_heads;
  Eigen::VectorXd out(q_heads * head_dim);
  for (Eigen::Index h = 0; h < q_heads; ++h) out.segment(h * head_dim, head_dim) = mu_kv.segment((h / group) * head_dim, head_dim);
  return out;
}

// scale·q_{i,h}·μ_{k,g}: the per-(query, head) constant a key shift K − 1·μ_kᵀ removes from the
// scores. softmax is unchanged; a log-sum-exp computed from shifted keys needs + this. T × Hq.
template <class DerivedQ>
Eigen::MatrixXd meanshift_key_lse_correction(const Eigen::MatrixBase<DerivedQ>& q, const Eigen::VectorXd& mu_k,
                                             Eigen::Index q_heads, Eigen::Index kv_heads, Eigen::Index head_dim,
                                             double scale) {
  detail::check_gqa(q_heads, kv_heads, "meanshift_key_lse_correction");
  detail::check_heads(q.cols(), q_heads, head_dim, "Q", "meanshift_key_lse_correction");
  detail::check_heads(mu_k.size(), kv_heads, head_dim, "the K shift", "meanshift_key_lse_correction");
  const Eigen::VectorXd mu = expand_kv_heads(mu_k, q_heads, kv_heads, head_dim);
  Eigen::MatrixXd c(q.rows(), q_heads);
  for (Eigen::Index i = 0; i < q.rows(); ++i)
    for (Eigen::Index h = 0; h < q_heads; ++h) {
      double acc = 0.0;
      for (Eigen::Index t = 0; t < head_dim; ++t) acc += double(q(i, h * head_dim + t)) * mu(h * head_dim + t);
      c(i, h) = scale * acc;
    }
  return c;
}

// scale·μ_{q,h}·k_{j,g}: the per-key bias to add to head h's scores after a query shift
// Q − 1·μ_qᵀ, which restores softmax exactly. Rows = keys (S), cols = query heads: S × Hq.
template <class DerivedK>
Eigen::MatrixXd meanshift_query_key_bias(const Eigen::MatrixBase<DerivedK>& k, const Eigen::VectorXd& mu_q,
                                         Eigen::Index q_heads, Eigen::Index kv_heads, Eigen::Index head_dim, double scale) {
  detail::check_gqa(q_heads, kv_heads, "meanshift_query_key_bias");
  detail::check_heads(k.cols(), kv_heads, head_dim, "K", "meanshift_query_key_bias");
  detail::check_heads(mu_q.size(), q_heads, head_dim, "the Q shift", "meanshift_query_key_bias");
  const Eigen::Index group = q_heads / kv_heads;
  Eigen::MatrixXd bias(k.rows(), q_heads);
  for (Eigen::Index j = 0; j < k.rows(); ++j)
    for (Eigen::Index h = 0; h < q_heads; ++h) {
      const Eigen::Index g = h / group;
      double acc = 0.0;
      for (Eigen::Index t = 0; t < head_dim; ++t) acc += mu_q(h * head_dim + t) * double(k(j, g * head_dim + t));
      bias(j, h) = scale * acc;
    }
  return bias;
}

}  // namespace lowbit
