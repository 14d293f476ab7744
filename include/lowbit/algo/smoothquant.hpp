// lowbit/algo/smoothquant.hpp — SmoothQuant (mit-han-lab/smoothquant): migrate activation
// outliers into the weights with a per-input-channel scale, folded exactly into the preceding
// norm and the following linears, plus an α search that scores the quantized output error.
//
// Shapes: activations X[T][K] (K = input channels, the reduction axis), each linear W[N][K]
// (y = x·Wᵀ). Every linear that reads the same X (q/k/v; gate/up) shares one scale vector.
//
//   act_scale_j    = max_t |X[t, j]|                        (channel_absmax; running max over batches)
//   weight_scale_j = max(max over linears, rows |W[n, j]|, min_scale)       (smooth.py)
//   s_j            = max(act_scale_j^α / weight_scale_j^(1−α), min_scale)   (smooth.py, min_scale 1e-5)
//   X' = X·diag(s)⁻¹,  W' = W·diag(s)   =>   X'·W'ᵀ = X·Wᵀ
// Folding: a norm weight γ (RMSNorm/LayerNorm) and LayerNorm bias β become γ/s, β/s, so the norm
// emits X' directly; each following linear gets W·diag(s). o_proj and down_proj are not smoothed
// in the reference (no norm precedes them).
// Limits: α = 0 gives s = 1/weight_scale (every folded weight column has max |W'| = 1 across the
// linears); α = 1 gives s = act_scale (every smoothed activation channel has max |X'| = 1);
// α = 1/2 balances them: max|X'_j| = max|W'_j| = √(act_scale_j · weight_scale_j).
// A channel with act_scale 0 is rejected by default (zero_channel::error): the reference clamps
// s to 1e-5 there and γ/1e-5 overflows fp16 (research/algorithms.md §9 row 11).
// zero_channel::identity keeps s_j = 1 for such channels (nothing to migrate); ::reference
// reproduces smooth.py's clamp. The reference casts s to the weight dtype before folding; lowbit
// folds with s cast to the scalar type of the tensors it is given.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "channel_reduction.hpp"

namespace lowbit {

enum class zero_channel { error, identity, reference };

struct smoothquant_options {
  double alpha = 0.5;       // migration strength in [0, 1]
  double min_scale = 1e-5;  // clamp of weight scales and of s (smooth.py)
  zero_channel on_zero = zero_channel::error;
};

// Running per-channel max |x| over batches of rows (calibration.py get_act_scales).
class channel_absmax {
 public:
  template <class Derived>
  void update(const Eigen::MatrixBase<Derived>& x) { max_.update(x, "channel_absmax::update"); }
  const Eigen::VectorXd& value() const { return max_.value(); }
  Eigen::Index rows() const { return max_.rows(); }

 private:
  struct abs_max {
    double operator()(double m, double v) const { return std::max(m, std::abs(v)); }  // v finite
  };
  channel_reduction<abs_max> max_;
};

template <class Derived>
Eigen::VectorXd channel_absmax_of(const Eigen::MatrixBase<Derived>& x) {
  channel_absmax m;
  m.update(x);
  return m.value();
}

namespace detail {
template <class M>
const M& deref_matrix(const M& m) { return m; }
template <class M>
const M& deref_matrix(const M* m) { return *m; }
}  // namespace detail

// weight_scale_j = max(max over the linears and their rows of |W[n, j]|, min_scale).
// `weights` is any range of Eigen matrices (or pointers to them), each N_i × K.
template <class Range>
Eigen::VectorXd smoothquant_weight_scales(const Range& weights, double min_scale = 1e-5) {
  Eigen::VectorXd ws;
  Eigen::Index count = 0;
  for (const auto& item : weights) {
    const auto& w = detail::deref_matrix(item);
    LOWBIT_CHECK(w.rows() > 0 && w.cols() > 0, "smoothquant_weight_scales: linear ", count, " is empty (", w.rows(), " x ",
                 w.cols(), ")");
    if (count == 0) ws = Eigen::VectorXd::Zero(w.cols());
    LOWBIT_CHECK(w.cols() == ws.size(), "smoothquant_weight_scales: linear ", count, " has ", w.cols(),
                 " input channels, linear 0 has ", ws.size());
    for (Eigen::Index i = 0; i < w.rows(); ++i)
      for (Eigen::Index j = 0; j < w.cols(); ++j) {
        const double v = double(w(i, j));
        LOWBIT_CHECK(std::isfinite(v), "smoothquant_weight_scales: linear ", count, " has a non-finite weight at (", i,
                     ", ", j, ")");
        ws(j) = std::fmax(ws(j), std::fabs(v));
      }
    ++count;
  }
  LOWBIT_CHECK(count > 0, "smoothquant_weight_scales: no linears given");
  return ws.cwiseMax(min_scale);
}

// s_j = max(act_scale_j^α / weight_scale_j^(1−α), min_scale); see the header comment.
inline Eigen::VectorXd smoothquant_scales(const Eigen::VectorXd& act_scales, const Eigen::VectorXd& weight_scales,
                                          const smoothquant_options& o = {}) {
  LOWBIT_CHECK(o.alpha >= 0.0 && o.alpha <= 1.0, "smoothquant_scales: alpha must be in [0, 1], got ", o.alpha);
  LOWBIT_CHECK(o.min_scale > 0.0 && std::isfinite(o.min_scale), "smoothquant_scales: min_scale must be finite and > 0, got ",
               o.min_scale);
  LOWBIT_CHECK(act_scales.size() > 0, "smoothquant_scales: no channels");
  LOWBIT_CHECK(act_scales.size() == weight_scales.size(), "smoothquant_scales: ", act_scales.size(),
               " activation scales but ", weight_scales.size(), " weight scales");
  Eigen::VectorXd s(act_scales.size());
  for (Eigen::Index j = 0; j < s.size(); ++j) {
    const double a = act_scales(j), w = weight_scales(j);
    LOWBIT_CHECK(std::isfinite(a) && a >= 0.0, "smoothquant_scales: activation scale of channel ", j, " is ", a,
                 " (must be finite and >= 0)");
    LOWBIT_CHECK(std::isfinite(w) && w > 0.0, "smoothquant_scales: weight scale of channel ", j, " is ", w,
                 " (must be finite and > 0)");
    if (a == 0.0) {
      LOWBIT_CHECK(o.on_zero != zero_channel::error, "smoothquant_scales: activation channel ", j,
                   " is all zero in the calibration data (max |x| = 0); s would be clamped to ", o.min_scale,
                   " and the norm weight divided by it. Use more calibration data, or zero_channel::identity");
      if (o.on_zero == zero_channel::identity) {
        s(j) = 1.0;
        continue;
      }
    }
    s(j) = std::fmax(std::pow(a, o.alpha) / std::pow(w, 1.0 - o.alpha), o.min_scale);
  }
  return s;
}

// Convenience: weight scales of `weights`, then s.
template <class Range>
Eigen::VectorXd smoothquant_scales_for(const Eigen::VectorXd& act_scales, const Range& weights,
                                      const smoothquant_options& o = {}) {
  return smoothquant_scales(act_scales, smoothquant_weight_scales(weights, o.min_scale), o);
}

namespace detail {
inline void check_smooth_scales(const Eigen::VectorXd& s, Eigen::Index k, const char* where) {
  LOWBIT_CHECK(s.size() == k, where, ": ", s.size(), " smoothing scales for ", k, " channels");
  for (Eigen::Index j = 0; j < s.size(); ++j)
    LOWBIT_CHECK(std::isfinite(s(j)) && s(j) > 0.0, where, ": smoothing scale ", j, " is ", s(j), " (must be finite and > 0)");
}
}  // namespace detail

// W' = W·diag(s): every input column j of a following linear times s_j (W: N × K).
template <class Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> smooth_fold_linear(
    const Eigen::MatrixBase<Derived>& w, const Eigen::VectorXd& s) {
  using T = typename Derived::Scalar;
  detail::check_smooth_scales(s, w.cols(), "smooth_fold_linear");
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out = w;
  for (Eigen::Index j = 0; j < w.cols(); ++j) out.col(j) *= T(s(j));
  return out;
}

// γ' = γ / s (and β' = β / s for a LayerNorm): the norm now emits X·diag(s)⁻¹.
template <class Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1> smooth_fold_norm(const Eigen::MatrixBase<Derived>& gamma,
                                                                           const Eigen::VectorXd& s) {
  using T = typename Derived::Scalar;
  detail::check_smooth_scales(s, gamma.size(), "smooth_fold_norm");
  Eigen::Matrix<T, Eigen::Dynamic, 1> out(gamma.size());
  for (Eigen::Index j = 0; j < gamma.size(); ++j) out(j) = T(gamma(j)) / T(s(j));
  return out;
}

// X' = X·diag(s)⁻¹, for inputs that have no norm to fold into (runtime division).
template <class Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> smooth_activations(
    const Eigen::MatrixBase<Derived>& x, const Eigen::VectorXd& s) {
  using T = typename Derived::Scalar;
  detail::check_smooth_scales(s, x.cols(), "smooth_activations");
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out = x;
  for (Eigen::Index j = 0; j < x.cols(); ++j) out.col(j) /= T(s(j));
  return out;
}

// ---- α search -----------------------------------------------------------------------------

struct smoothquant_search_options {
  std::vector<double> alphas = default_alphas();  // candidates, each in [0, 1]
  double min_scale = 1e-5;
  zero_channel on_zero = zero_channel::error;

  static std::vector<double> default_alphas() {  // 0, 0.05, ..., 1
    std::vector<double> a;
    for (int i = 0; i <= 20; ++i) a.push_back(i / 20.0);
    return a;
  }
};

struct smoothquant_search_result {
  double alpha = -1.0;        // the chosen α; −1 when status is numerical_issue
  Eigen::VectorXd scales;     // s at that α; all ones when status is numerical_issue
  std::vector<double> alphas; // the candidates, as given
  std::vector<double> errors; // relative output error per candidate (+inf: not finite)
  info status = info::success;
};

// Pick α minimising  Σ_i ‖Q_x(X')·Q_w(W_i')ᵀ − X·W_iᵀ‖²_F / Σ_i ‖X·W_iᵀ‖²_F  over the candidates,
// with X' = X·diag(s_α)⁻¹, W_i' = W_i·diag(s_α), and Q_x / Q_w user quantizers (anything with
// fake_quantize(float matrix) -> float matrix, e.g. lowbit::quantizer<int8>{per_tensor()} and
// quantizer<int8>{per_channel(0)}). x is a calibration sample (T × K); act_scales come from all of
// the calibration data (or channel_absmax_of(x)). Ties go to the first candidate. Candidates
// whose smoothed tensors overflow float are scored +inf; if none is finite the status is
// info::numerical_issue and the result carries s = 1 (no migration).
template <class DerivedX, class WeightRange, class XQuant, class WQuant>
smoothquant_search_result smoothquant_search(const Eigen::MatrixBase<DerivedX>& x, const Eigen::VectorXd& act_scales,
                                             const WeightRange& weights, const XQuant& xq, const WQuant& wq,
                                             const smoothquant_search_options& o = {}) {
  using matf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using matd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  LOWBIT_CHECK(!o.alphas.empty(), "smoothquant_search: no alpha candidates");
  for (double a : o.alphas)
    LOWBIT_CHECK(a >= 0.0 && a <= 1.0, "smoothquant_search: alpha must be in [0, 1], got ", a);
  LOWBIT_CHECK(x.rows() > 0 && x.cols() > 0, "smoothquant_search: empty calibration sample (", x.rows(), " x ", x.cols(), ")");
  LOWBIT_CHECK(x.cols() == act_scales.size(), "smoothquant_search: sample has ", x.cols(), " channels, act_scales has ",
               act_scales.size());
  LOWBIT_CHECK(detail::all_finite<typename DerivedX::Scalar>(x), "smoothquant_search: calibration sample contains NaN or Inf");
  const Eigen::VectorXd wscale = smoothquant_weight_scales(weights, o.min_scale);
  LOWBIT_CHECK(wscale.size() == x.cols(), "smoothquant_search: linears have ", wscale.size(), " input channels, sample has ",
               x.cols());

  const matd xd = x.template cast<double>();
  std::vector<matd> ref;
  double ref_energy = 0.0;
  for (const auto& item : weights) {
    ref.push_back(xd * detail::deref_matrix(item).template cast<double>().transpose());
    ref_energy += ref.back().squaredNorm();
  }
  if (ref_energy == 0.0) ref_energy = 1.0;  // all outputs zero: absolute error

  smoothquant_search_result r;
  r.alphas = o.alphas;
  double best = std::numeric_limits<double>::infinity();
  for (double a : o.alphas) {
    const Eigen::VectorXd s = smoothquant_scales(act_scales, wscale, {a, o.min_scale, o.on_zero});
    const matf xs = smooth_activations(x.template cast<float>(), s);
    double err = 0.0;
    bool finite = detail::all_finite(xs);
    const matf xq_s = finite ? matf(xq.fake_quantize(xs)) : matf();
    std::size_t i = 0;
    for (const auto& item : weights) {
      if (!finite) break;
      const matf w = smooth_fold_linear(detail::deref_matrix(item).template cast<float>(), s);
      if (!detail::all_finite(w)) {
        finite = false;
        break;
      }
      const matf wq_s = wq.fake_quantize(w);
      err += (xq_s.template cast<double>() * wq_s.template cast<double>().transpose() - ref[i]).squaredNorm();
      ++i;
    }
    err = finite && std::isfinite(err) ? err / ref_energy : std::numeric_limits<double>::infinity();
    r.errors.push_back(err);
    if (err < best) {
      best = err;
      r.alpha = a;
      r.scales = s;
    }
  }
  if (!std::isfinite(best)) {
    r.status = info::numerical_issue;
    r.alpha = -1.0;
    r.scales = Eigen::VectorXd::Ones(x.cols());
  }
  return r;
}

}  // namespace lowbit
