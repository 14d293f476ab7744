// examples/tinyllama/recipe_util.hpp — small helpers shared by the recipe files
// (recipes_wa.hpp, recipes_weight.hpp): which linears a recipe rewrites, what their storage
// costs, folding per-channel scales into the norms, and calibration ranges of the inputs of
// every linear and of Q/K/V. No quantization math lives here: that is lowbit's.
//
//   prepared p{ctx.fp32};
//   p.weight_bits = fake_quantize_weights(p.m, lowbit::quantizer<lowbit::int8>({lowbit::per_channel(0)}));
//   const activation_ranges r = record_ranges(p.m, ctx.calibration);   // static activation scales
//   r.linear.at({l, linear_kind::w2}).absmax()                          // per-tensor X range
//   head_ranges(r.k[l], hs)                                             // per-head K ranges (1 × H)
//
// Storage accounting (report.hpp's weight_bits): a quantized N×K matrix stores
//   N·K·element_bits + (#scales)·scale_bits + (#zeros)·zero_bits (+ 32 for a tensor scale)
// where element_bits = Format::bits (sub-byte codes packed), scale_bits = 32 for float scales
// and 8·sizeof(storage) for a format scale (e8m0, ue4m3), zero_bits = Format::bits for integer
// zero points and 32 for float offsets. bits/param = Σ bits / Σ N·K over the 35 linears.
#pragma once

#include "forward.hpp"
#include "model.hpp"

#include <lowbit/algo/smoothquant.hpp>
#include <lowbit/error.hpp>
#include <lowbit/quantize/qparams.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

namespace tinyllama {

// The 7·n_layers transformer linears (wq..w3 of every layer; not the classifier).
inline std::vector<linear_site> transformer_linears(const config& c) {
  std::vector<linear_site> s;
  for (int l = 0; l < c.n_layers; ++l)
    for (linear_kind k : layer_linears) s.push_back({l, k});
  return s;
}

// ---- storage accounting ---------------------------------------------------------------------

// Bits of one stored scale of a quantizer Q (float: 32; a format scale: its storage byte(s)).
template <class Q>
constexpr double scale_storage_bits() {
  using SF = typename Q::scale_format;
  if constexpr (std::is_same_v<SF, float>) return 32.0;
  else return 8.0 * sizeof(typename SF::storage);
}

// Total bits of a quantized matrix described by p (see the header comment).
inline double storage_bits(const lowbit::qparams& p, double element_bits, double scale_bits, double zero_bits) {
  double bits = double(p.rows) * double(p.cols) * element_bits + double(p.scale.size()) * scale_bits;
  if (p.zeros != lowbit::zero_kind::none) bits += double(p.zero.size()) * zero_bits;
  if (p.tensor_scale != 1.0f) bits += 32.0;
  return bits;
}

// Total bits of the matrix quantized by q with parameters p.
template <class Q>
double storage_bits(const Q& q, const lowbit::qparams& p) {
  using F = typename Q::format;
  const double zero_bits = p.zeros == lowbit::zero_kind::offset ? 32.0 : double(F::bits);
  (void)q;
  return storage_bits(p, double(F::bits), scale_storage_bits<Q>(), zero_bits);
}

// Σ bits / Σ parameters over the linears a recipe quantized.
struct weight_storage {
  double bits = 0, params = 0;
  void add(double matrix_bits, double matrix_params) {
    bits += matrix_bits;
    params += matrix_params;
  }
  template <class Q>
  void add(const Q& q, const lowbit::qparams& p) {
    add(storage_bits(q, p), double(p.rows) * double(p.cols));
  }
  double bits_per_param() const { return params > 0 ? bits / params : 32.0; }
};

// Replace every transformer linear of m by its quantized-then-dequantized version under q
// (fitted on the weight itself). Returns the stored bits per parameter, scales included.
template <class Q>
double fake_quantize_weights(model& m, const Q& q) {
  weight_storage st;
  for (const linear_site& s : transformer_linears(m.cfg)) {
    matrix& w = weight(m, s);
    const lowbit::qparams p = q.fit(w);
    w = q.fake_quantize(w, p);
    st.add(q, p);
  }
  return st.bits_per_param();
}

// ---- folding a per-input-channel scale (SmoothQuant, AWQ) ----------------------------------

// The norm in front of a group of linears that share one input.
enum class norm_group { attention, ffn };  // rms_att -> wq, wk, wv;  rms_ffn -> w1, w3

inline std::vector<linear_kind> linears_of(norm_group g) {
  if (g == norm_group::attention) return {linear_kind::wq, linear_kind::wk, linear_kind::wv};
  return {linear_kind::w1, linear_kind::w3};
}

// γ ← γ / s and W ← W·diag(s) for every linear after the norm: the float model is unchanged
// and the linears now see X·diag(s)⁻¹ (lowbit::smooth_fold_norm / smooth_fold_linear).
inline void fold_input_scales(model& m, int layer, norm_group g, const Eigen::VectorXd& s) {
  layer_weights& lw = m.layers.at(static_cast<std::size_t>(layer));
  vector& gamma = g == norm_group::attention ? lw.rms_att : lw.rms_ffn;
  gamma = lowbit::smooth_fold_norm(gamma, s);
  for (linear_kind k : linears_of(g)) {
    matrix& w = weight(m, {layer, k});
    w = lowbit::smooth_fold_linear(w, s);
  }
}

// ---- calibration ranges ---------------------------------------------------------------------

// Per-channel min, max and mean of a stream of T×C matrices.
struct channel_ranges {
  Eigen::VectorXf lo, hi;
  Eigen::VectorXd sum;
  Eigen::Index rows = 0;

  void update(const matrix& x) {
    LOWBIT_CHECK(x.rows() > 0 && x.allFinite(), "channel_ranges: empty or non-finite calibration batch");
    if (rows == 0) {
      lo = x.colwise().minCoeff().transpose();
      hi = x.colwise().maxCoeff().transpose();
      sum = Eigen::VectorXd::Zero(x.cols());
    }
    LOWBIT_CHECK(x.cols() == lo.size(), "channel_ranges: batch of ", x.cols(), " channels after ", lo.size());
    lo = lo.cwiseMin(x.colwise().minCoeff().transpose());
    hi = hi.cwiseMax(x.colwise().maxCoeff().transpose());
    sum += x.cast<double>().colwise().sum().transpose();
    rows += x.rows();
  }
  Eigen::VectorXd mean() const {
    LOWBIT_CHECK(rows > 0, "channel_ranges: no calibration rows");
    return sum / double(rows);
  }
  // Per-channel range of x − shift (exact: [lo − μ, hi − μ]); shift empty = none.
  std::pair<Eigen::VectorXf, Eigen::VectorXf> shifted(const Eigen::VectorXd& shift = {}) const {
    LOWBIT_CHECK(rows > 0, "channel_ranges: no calibration rows");
    if (shift.size() == 0) return {lo, hi};
    LOWBIT_CHECK(shift.size() == lo.size(), "channel_ranges: shift of ", shift.size(), " for ", lo.size(), " channels");
    const Eigen::VectorXf s = shift.cast<float>();
    return {lo - s, hi - s};
  }
  // max_t,c |x − shift|: the calibrated per-tensor absmax.
  float absmax(const Eigen::VectorXd& shift = {}) const {
    const auto [l, h] = shifted(shift);
    return std::max(l.cwiseAbs().maxCoeff(), h.cwiseAbs().maxCoeff());
  }
};

// Ranges of the input X of every transformer linear (as hooks::observe sees it) and of Q, K, V
// of every layer after RoPE (as hooks::qkv sees them), over calibration windows.
struct activation_ranges {
  std::map<linear_site, channel_ranges> linear;
  std::vector<channel_ranges> q, k, v;  // per layer, channels = heads·hs
};

// Runs m over `windows` with `base` hooks (their linear / qkv / attention are kept; ranges are
// recorded on what base.qkv leaves in Q, K, V) and records activation_ranges.
inline activation_ranges record_ranges(const model& m, const std::vector<std::vector<int>>& windows,
                                       const hooks& base = {}) {
  LOWBIT_CHECK(!windows.empty(), "record_ranges: no calibration windows");
  activation_ranges r;
  const auto L = static_cast<std::size_t>(m.cfg.n_layers);
  r.q.resize(L);
  r.k.resize(L);
  r.v.resize(L);
  hooks h = base;
  h.observe = [&](const linear_site& s, const matrix& x) {
    if (base.observe) base.observe(s, x);
    if (s.kind != linear_kind::cls) r.linear[s].update(x);
  };
  h.qkv = [&](int l, matrix& q, matrix& k, matrix& v) {
    if (base.qkv) base.qkv(l, q, k, v);
    r.q[std::size_t(l)].update(q);
    r.k[std::size_t(l)].update(k);
    r.v[std::size_t(l)].update(v);
  };
  for (const auto& w : windows) forward(m, w, h, logits_rows::last);
  return r;
}

// Range grids (1 × H) per head of width hs from per-channel ranges, optionally of x − shift:
// the lo/hi arguments of quantizer::from_ranges for granularity per_head(hs).
inline std::pair<Eigen::MatrixXf, Eigen::MatrixXf> head_ranges(const channel_ranges& c, int hs,
                                                               const Eigen::VectorXd& shift = {}) {
  const auto [l, h] = c.shifted(shift);
  LOWBIT_CHECK(hs > 0 && l.size() % hs == 0, "head_ranges: ", l.size(), " channels are not heads of ", hs);
  const Eigen::Index H = l.size() / hs;
  Eigen::MatrixXf lo(1, H), hi(1, H);
  for (Eigen::Index i = 0; i < H; ++i) {
    lo(0, i) = l.segment(i * hs, hs).minCoeff();
    hi(0, i) = h.segment(i * hs, hs).maxCoeff();
  }
  return {lo, hi};
}

// Range grids for a per-tensor (1 × 1) granularity: [−absmax, absmax] of x − shift.
inline std::pair<Eigen::MatrixXf, Eigen::MatrixXf> tensor_range(const channel_ranges& c,
                                                                const Eigen::VectorXd& shift = {}) {
  const float a = c.absmax(shift);
  return {Eigen::MatrixXf::Constant(1, 1, -a), Eigen::MatrixXf::Constant(1, 1, a)};
}

// Range grids for per_channel(1) (one range per column, 1 × C) of x − shift.
inline std::pair<Eigen::MatrixXf, Eigen::MatrixXf> column_ranges(const channel_ranges& c,
                                                                const Eigen::VectorXd& shift = {}) {
  const auto [l, h] = c.shifted(shift);
  return {Eigen::MatrixXf(l.transpose()), Eigen::MatrixXf(h.transpose())};
}

}  // namespace tinyllama
