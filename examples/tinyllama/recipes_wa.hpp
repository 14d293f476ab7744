// examples/tinyllama/recipes_wa.hpp — weight + activation (+ attention) recipes: the int8 W8A8
// lines, FP8 / E3M4 / MXFP8 lines and LLM.int8(), mirroring the Qwen3-0.6B tables of
// /work/shared/seeds (issue 7). Every quantization step is a lowbit call; this file only wires
// them into the harness hooks.
//
// What every recipe quantizes: the 35 transformer linears (weights in the model copy, their
// input activations in hooks::linear) and Q, K, V after RoPE (hooks::qkv, or hooks::attention for
// the real int8 path). The tied classifier/embedding and the norms stay FP32 (the classifier's
// input is not quantized either). Static parameters come from ctx.calibration only, which is
// disjoint from the evaluation windows; calibration runs the model after SmoothQuant folding and
// weight quantization, with FP32 activations.
//
// Building blocks (W: N×K weight, X: T×K activation; s, μ per input channel):
//   SmoothQuant   α searched per (layer, norm) with lowbit::smoothquant_search on calibration
//                 rows, using the recipe's own X and W quantizers; s folded into rms_att (wq/wk/wv)
//                 and rms_ffn (w1/w3): the float model is unchanged. wo/w2 are not smoothed
//                 (no norm precedes them, as in the reference).
//   static X      one per-tensor range per linear input, [−absmax, absmax] over calibration.
//   dynamic X     per token (row) on each call (asymmetric: min/max, integer zero point).
//   MeanShift     on the shared q/k/v input: X − μ enters the quantizer and the linear gets the
//   (input)       bias Ŵ·μ (lowbit::meanshift_fold_bias of the quantized weight): exact in float.
//   MeanShift (K) K − μ_k after RoPE (calibration mean): softmax is invariant, no correction.
//   per-head QKV  static: one range per head of Q, K, V from calibration (lowbit per_head(hs)),
//                 asymmetric (integer zero point) or symmetric. Their scales are constants, so the
//                 int8 cache holds 1 byte per K/V element and no per-token scale.
// KV bytes/token = 2 · layers · kv_dim · (bytes per element + per-token scale bytes).
//
// On stories260K (64 windows, FP32 4.2423) the int8 ranking of the seeds holds (per-token +
// per-head +0.38% < static per-head +1.36% < per-tensor Q/K +1.89% < no SmoothQuant +2.07%;
// real int8 within 0.003 PPL of fake), but the gaps are small: this model has no massive
// outlier channels. The float8 ranking does not transfer: E4M3's 3 mantissa bits on Q/K with
// head size 8 cost most of its +6.9% (Q/K/V alone: +4.3% on 16 windows, linears alone +1.5%),
// and E3M4 (+0.8%) wins because the per-tensor / per-head scale removes its range problem.
#pragma once

#include "calibration.hpp"
#include "recipe.hpp"
#include "recipe_util.hpp"

#include <lowbit/algo/attention.hpp>
#include <lowbit/algo/llm_int8.hpp>
#include <lowbit/algo/meanshift.hpp>
#include <lowbit/algo/smoothquant.hpp>
#include <lowbit/error.hpp>
#include <lowbit/format/float8.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/scale.hpp>
#include <lowbit/granularity/granularity.hpp>
#include <lowbit/kernel/gemm_block_scaled.hpp>
#include <lowbit/kernel/gemm_int8.hpp>
#include <lowbit/kernel/quantize.hpp>
#include <lowbit/observer/observer.hpp>
#include <lowbit/quantize/dynamic.hpp>
#include <lowbit/quantize/presets.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <Eigen/Core>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace tinyllama {
namespace wa {

using act_fn = std::function<matrix(const linear_site&, const matrix&)>;
using shift_map = std::map<linear_site, Eigen::VectorXd>;
using qkv_fn = std::function<void(int, matrix&, matrix&, matrix&)>;
using range_grid = std::pair<Eigen::MatrixXf, Eigen::MatrixXf>;

inline lowbit::attention_shape shape_of(const config& c) { return {c.n_heads, c.n_kv_heads, c.head_size()}; }

// Calibration rows kept per linear input for the SmoothQuant α search.
inline constexpr Eigen::Index smooth_sample_rows = 2048;

// SmoothQuant on the FP32 model m: per layer and norm, α is searched (21 candidates 0..1) so
// that Q_x(X/s)·Q_w(W·s)ᵀ best matches X·Wᵀ on the calibration rows, then s is folded.
// Returns the mean chosen α over the 2·n_layers searches (for diagnostics).
template <class XQ, class WQ>
double smooth(model& m, const std::vector<window>& calibration, const XQ& xq, const WQ& wq) {
  const calibration_recorder rec = calibrate(m, calibration, {}, smooth_sample_rows, /*xtx=*/false);
  double alpha_sum = 0;
  int n = 0;
  for (int l = 0; l < m.cfg.n_layers; ++l)
    for (norm_group g : {norm_group::attention, norm_group::ffn}) {
      const std::vector<linear_kind> kinds = linears_of(g);
      const linear_stats& s = rec.at({l, kinds.front()});
      std::vector<const matrix*> ws;
      for (linear_kind k : kinds) ws.push_back(&weight(m, {l, k}));
      lowbit::smoothquant_search_options so;
      so.on_zero = lowbit::zero_channel::identity;  // a channel never active keeps s = 1
      const lowbit::smoothquant_search_result r =
          lowbit::smoothquant_search(s.samples, s.absmax.cast<double>(), ws, xq, wq, so);
      LOWBIT_CHECK(r.status == lowbit::info::success, "SmoothQuant α search found no finite candidate in layer ", l);
      fold_input_scales(m, l, g, r.scales);
      alpha_sum += r.alpha;
      ++n;
    }
  return alpha_sum / n;
}

// MeanShift of the q/k/v input: μ of that input per layer (the three sites share it).
inline shift_map qkv_input_means(const activation_ranges& r, int n_layers) {
  shift_map mu;
  for (int l = 0; l < n_layers; ++l) {
    const Eigen::VectorXd m = r.linear.at({l, linear_kind::wq}).mean();
    for (linear_kind k : linears_of(norm_group::attention)) mu[{l, k}] = m;
  }
  return mu;
}

// Static per-tensor activations: quantizer q (granularity per_tensor()) with the calibrated
// [−absmax, absmax] of each linear input (of X − μ where a shift applies).
template <class Q>
act_fn static_tensor_acts(const Q& q, const activation_ranges& r, const shift_map& shifts = {}) {
  std::map<linear_site, range_grid> grid;
  for (const auto& [site, ranges] : r.linear) {
    const auto it = shifts.find(site);
    grid[site] = tensor_range(ranges, it == shifts.end() ? Eigen::VectorXd() : it->second);
  }
  return [q, grid](const linear_site& s, const matrix& x) -> matrix {
    const range_grid& g = grid.at(s);
    return q.fake_quantize(x, q.from_ranges(x.rows(), x.cols(), g.first, g.second));
  };
}

// Dynamic activations: q fitted on each call (per token, 1×128 blocks, MX blocks ...).
template <class Q>
act_fn dynamic_acts(const Q& q) {
  return [q](const linear_site&, const matrix& x) -> matrix { return q.fake_quantize(x); };
}

// hooks::linear: Y = act(X − μ)·Ŵᵀ (+ Ŵ·μ), Ŵ = the (already fake-quantized) weights of m.
// The classifier runs in FP32.
inline void set_linear_hook(hooks& h, const model& m, act_fn act, const shift_map& shifts = {}) {
  std::map<linear_site, std::pair<Eigen::VectorXd, vector>> shift_bias;
  for (const auto& [site, mu] : shifts) shift_bias[site] = {mu, lowbit::meanshift_fold_bias(weight(m, site), mu)};
  h.linear = [act = std::move(act), shift_bias](const linear_site& s, const matrix& x, const matrix& w) -> matrix {
    if (s.kind == linear_kind::cls) return x * w.transpose();
    const auto it = shift_bias.find(s);
    if (it == shift_bias.end()) return act(s, x) * w.transpose();
    matrix y = act(s, lowbit::meanshift_apply(x, it->second.first)) * w.transpose();
    y.rowwise() += it->second.second.transpose();
    return y;
  };
}

// Static per-head Q/K/V with quantizer q (per_head(hs)); with k_shift, K − μ_k (after RoPE) is
// what is quantized and kept (softmax-invariant MeanShift).
template <class Q>
qkv_fn per_head_qkv(const Q& q, const activation_ranges& r, int hs, bool k_shift = false) {
  struct layer_grids {
    range_grid q, k, v;
    Eigen::VectorXd mu_k;
  };
  std::vector<layer_grids> g;
  for (std::size_t l = 0; l < r.q.size(); ++l) {
    const Eigen::VectorXd mu = k_shift ? r.k[l].mean() : Eigen::VectorXd();
    g.push_back({head_ranges(r.q[l], hs), head_ranges(r.k[l], hs, mu), head_ranges(r.v[l], hs), mu});
  }
  return [q, g](int l, matrix& qm, matrix& km, matrix& vm) {
    const layer_grids& lg = g[std::size_t(l)];
    if (lg.mu_k.size()) km = lowbit::meanshift_apply(km, lg.mu_k);
    qm = q.fake_quantize(qm, q.from_ranges(qm.rows(), qm.cols(), lg.q.first, lg.q.second));
    km = q.fake_quantize(km, q.from_ranges(km.rows(), km.cols(), lg.k.first, lg.k.second));
    vm = q.fake_quantize(vm, q.from_ranges(vm.rows(), vm.cols(), lg.v.first, lg.v.second));
  };
}

// Static symmetric int8: Q and K per tensor, V per channel (one scale per column of V).
inline qkv_fn tensor_qk_channel_v(const activation_ranges& r) {
  const lowbit::quantizer<lowbit::int8> qt({lowbit::per_tensor()}), qc({lowbit::per_channel(1)});
  struct layer_grids {
    range_grid q, k, v;
  };
  std::vector<layer_grids> g;
  for (std::size_t l = 0; l < r.q.size(); ++l) {
    // per_channel(1) symmetric: each column's range [−absmax_c, absmax_c]
    auto [lo, hi] = column_ranges(r.v[l]);
    const Eigen::MatrixXf a = lo.cwiseAbs().cwiseMax(hi.cwiseAbs());
    g.push_back({tensor_range(r.q[l]), tensor_range(r.k[l]), {-a, a}});
  }
  return [qt, qc, g](int l, matrix& qm, matrix& km, matrix& vm) {
    const layer_grids& lg = g[std::size_t(l)];
    qm = qt.fake_quantize(qm, qt.from_ranges(qm.rows(), qm.cols(), lg.q.first, lg.q.second));
    km = qt.fake_quantize(km, qt.from_ranges(km.rows(), km.cols(), lg.k.first, lg.k.second));
    vm = qc.fake_quantize(vm, qc.from_ranges(vm.rows(), vm.cols(), lg.v.first, lg.v.second));
  };
}

// Dynamic Q/K/V: q fitted on each call (e.g. MX blocks of 32 along each row).
template <class Q>
qkv_fn dynamic_qkv(const Q& q) {
  return [q](int, matrix& qm, matrix& km, matrix& vm) {
    qm = q.fake_quantize(qm);
    km = q.fake_quantize(km);
    vm = q.fake_quantize(vm);
  };
}

// ---- the int8 lines -------------------------------------------------------------------------

inline lowbit::quantizer<lowbit::int8> int8_weight_q() { return lowbit::quantizer<lowbit::int8>({lowbit::per_channel(0)}); }
inline lowbit::quantizer<lowbit::int8> int8_tensor_q() { return lowbit::quantizer<lowbit::int8>({lowbit::per_tensor()}); }
inline lowbit::activation_quantizer<lowbit::int8> int8_token_asym_q() {
  return lowbit::activation_quantizer<lowbit::int8>::dynamic_per_token(lowbit::mapping::asymmetric);
}
inline lowbit::quantizer<lowbit::int8> int8_head_q(int hs, lowbit::mapping map) {
  return lowbit::head_quantizer<lowbit::int8>(hs, {map, false});
}

// 1. Plain int8: W per channel, X static per tensor, Q/K per tensor, V per channel. No SmoothQuant.
inline prepared int8_plain(const recipe_context& ctx) {
  prepared p = fp32_recipe(ctx);  // a copy of the FP32 weights
  p.weight_bits = fake_quantize_weights(p.m, int8_weight_q());
  const activation_ranges r = record_ranges(p.m, ctx.calibration);
  set_linear_hook(p.h, p.m, static_tensor_acts(int8_tensor_q(), r));
  p.h.qkv = tensor_qk_channel_v(r);
  p.kv_bytes_per_token = kv_bytes_per_token(p.m.cfg, 1);
  return p;
}

// SmoothQuant (α searched with static per-tensor X), int8 weights, static per-tensor X.
inline std::pair<prepared, activation_ranges> sq_int8_static(const recipe_context& ctx) {
  prepared p = fp32_recipe(ctx);  // a copy of the FP32 weights
  smooth(p.m, ctx.calibration, int8_tensor_q(), int8_weight_q());
  p.weight_bits = fake_quantize_weights(p.m, int8_weight_q());
  activation_ranges r = record_ranges(p.m, ctx.calibration);
  set_linear_hook(p.h, p.m, static_tensor_acts(int8_tensor_q(), r));
  p.kv_bytes_per_token = kv_bytes_per_token(p.m.cfg, 1);
  return {std::move(p), std::move(r)};
}

// 2. SmoothQuant + static per-tensor X + per-tensor Q/K + per-channel V.
inline prepared sq_int8_tensor_qk(const recipe_context& ctx) {
  auto [p, r] = sq_int8_static(ctx);
  p.h.qkv = tensor_qk_channel_v(r);
  return std::move(p);
}

// 3. SmoothQuant + static per-tensor X + asymmetric per-head Q/K/V.
inline prepared sq_int8_head(const recipe_context& ctx) {
  auto [p, r] = sq_int8_static(ctx);
  p.h.qkv = per_head_qkv(int8_head_q(p.m.cfg.head_size(), lowbit::mapping::asymmetric), r, p.m.cfg.head_size());
  return std::move(p);
}

// SmoothQuant (α searched with dynamic per-token asymmetric X), int8 weights, per-token X.
// smoothed: if given, receives the smoothed FP32 model (before weight quantization).
inline std::pair<prepared, activation_ranges> sq_int8_token(const recipe_context& ctx, model* smoothed = nullptr) {
  prepared p = fp32_recipe(ctx);  // a copy of the FP32 weights
  smooth(p.m, ctx.calibration, int8_token_asym_q(), int8_weight_q());
  if (smoothed) *smoothed = p.m;
  p.weight_bits = fake_quantize_weights(p.m, int8_weight_q());
  activation_ranges r = record_ranges(p.m, ctx.calibration);
  set_linear_hook(p.h, p.m, dynamic_acts(int8_token_asym_q()));
  p.kv_bytes_per_token = kv_bytes_per_token(p.m.cfg, 1);
  return {std::move(p), std::move(r)};
}

// 4a. SmoothQuant + dynamic per-token asymmetric X + asymmetric per-head Q/K/V (fake-quant).
inline prepared sq_int8_token_head(const recipe_context& ctx) {
  auto [p, r] = sq_int8_token(ctx);
  p.h.qkv = per_head_qkv(int8_head_q(p.m.cfg.head_size(), lowbit::mapping::asymmetric), r, p.m.cfg.head_size());
  return std::move(p);
}

// 4b. The same model run on int8 codes: every linear through lowbit::gemm_int8 (int8 X codes
// with per-token scale and zero, int8 W codes with per-channel scales, int32 accumulation), and
// attention through lowbit::attention_int8 (int32 QKᵀ with zero-point terms, online softmax,
// uint8 P·V) on the same static per-head codes the fake row dequantizes.
inline prepared sq_int8_token_head_real(const recipe_context& ctx) {
  model smoothed;
  auto [p, r] = sq_int8_token(ctx, &smoothed);  // p.m holds Ŵ = dequantize(codes) of these codes
  using wmap = std::map<linear_site, std::shared_ptr<const lowbit::int8_weights>>;
  auto packed = std::make_shared<wmap>();
  for (const linear_site& s : transformer_linears(p.m.cfg))
    (*packed)[s] = std::make_shared<const lowbit::int8_weights>(int8_weight_q().quantize(weight(smoothed, s)));
  const auto aq = int8_token_asym_q();
  p.h.linear = [packed, aq](const linear_site& s, const matrix& x, const matrix& w) -> matrix {
    if (s.kind == linear_kind::cls) return x * w.transpose();
    // = aq.quantize(x) bit for bit (dynamic per token: q.quantize(x, q.fit(x))), on the SIMD path
    return lowbit::gemm_int8(lowbit::kernel::quantize(aq.base(), x.data(), x.rows(), x.cols(), x.cols()),
                             *packed->at(s));
  };
  const int hs = p.m.cfg.head_size();
  const auto hq = int8_head_q(hs, lowbit::mapping::asymmetric);
  std::vector<std::array<range_grid, 3>> g;
  for (std::size_t l = 0; l < r.q.size(); ++l) g.push_back({head_ranges(r.q[l], hs), head_ranges(r.k[l], hs), head_ranges(r.v[l], hs)});
  const lowbit::attention_shape shape = shape_of(p.m.cfg);
  p.h.attention = [hq, g, shape](int l, const matrix& q, const matrix& k, const matrix& v) -> matrix {
    const auto& lg = g[std::size_t(l)];
    const auto quant = [&](const matrix& x, const range_grid& rg) {
      // = hq.quantize(x, p) bit for bit, on the SIMD path (static per-head scales and zeros)
      return lowbit::kernel::quantize(hq, hq.from_ranges(x.rows(), x.cols(), rg.first, rg.second), x.data(), x.rows(),
                                      x.cols(), x.cols());
    };
    return lowbit::attention_int8<lowbit::int8>(quant(q, lg[0]), quant(k, lg[1]), quant(v, lg[2]), shape);
  };
  return std::move(p);
}

// 5a. SmoothQuant + per-token asymmetric X + symmetric per-head Q/K/V.
inline prepared sq_int8_token_head_sym(const recipe_context& ctx) {
  auto [p, r] = sq_int8_token(ctx);
  p.h.qkv = per_head_qkv(int8_head_q(p.m.cfg.head_size(), lowbit::mapping::symmetric), r, p.m.cfg.head_size());
  return std::move(p);
}

// 5b. 5a with MeanShift: on the q/k/v input (X − μ quantized, Ŵ·μ as bias) and on K after RoPE.
inline prepared sq_int8_token_head_sym_ms(const recipe_context& ctx) {
  auto [p, r] = sq_int8_token(ctx);
  set_linear_hook(p.h, p.m, dynamic_acts(int8_token_asym_q()), qkv_input_means(r, p.m.cfg.n_layers));
  p.h.qkv = per_head_qkv(int8_head_q(p.m.cfg.head_size(), lowbit::mapping::symmetric), r, p.m.cfg.head_size(),
                         /*k_shift=*/true);
  return std::move(p);
}

// ---- FP8 lines ------------------------------------------------------------------------------

// F weights per channel, F activations static per tensor, F per-head Q/K/V (static), optional
// SmoothQuant (α searched with these quantizers) and MeanShift on the q/k/v input.
template <class F>
prepared float8_recipe(const recipe_context& ctx, bool meanshift, bool smoothquant) {
  const lowbit::quantizer<F> wq({lowbit::per_channel(0)}), xq({lowbit::per_tensor()});
  prepared p = fp32_recipe(ctx);  // a copy of the FP32 weights
  if (smoothquant) smooth(p.m, ctx.calibration, xq, wq);
  p.weight_bits = fake_quantize_weights(p.m, wq);
  const activation_ranges r = record_ranges(p.m, ctx.calibration);
  const shift_map mu = meanshift ? qkv_input_means(r, p.m.cfg.n_layers) : shift_map{};
  set_linear_hook(p.h, p.m, static_tensor_acts(xq, r, mu), mu);
  const int hs = p.m.cfg.head_size();
  p.h.qkv = per_head_qkv(lowbit::quantizer<F>({lowbit::per_head(hs)}), r, hs);
  p.kv_bytes_per_token = kv_bytes_per_token(p.m.cfg, 1);
  return p;
}

// 6. FP8 E4M3, without and with MeanShift on the Q/K/V input.
inline prepared fp8(const recipe_context& ctx) { return float8_recipe<lowbit::float8_e4m3fn>(ctx, false, false); }
inline prepared fp8_ms(const recipe_context& ctx) { return float8_recipe<lowbit::float8_e4m3fn>(ctx, true, false); }
// 7. FP8 + SmoothQuant.
inline prepared fp8_sq(const recipe_context& ctx) { return float8_recipe<lowbit::float8_e4m3fn>(ctx, false, true); }
// 8. E3M4 (max 15.5) in the same layout.
inline prepared e3m4(const recipe_context& ctx) { return float8_recipe<lowbit::float8_e3m4>(ctx, false, false); }

// 9. DeepSeek-V3 layout: E4M3 weights in 128×128 tiles, activations in dynamic 1×128 tiles
// (fp32 scales; the model's K = 64 or 172 gives partial tiles), per-head FP8 Q/K/V.
inline prepared fp8_block(const recipe_context& ctx) {
  const auto q = lowbit::presets::fp8_block128();
  prepared p = fp32_recipe(ctx);  // a copy of the FP32 weights
  p.weight_bits = fake_quantize_weights(p.m, q.weight);
  const activation_ranges r = record_ranges(p.m, ctx.calibration);
  set_linear_hook(p.h, p.m, dynamic_acts(q.activation));
  const int hs = p.m.cfg.head_size();
  p.h.qkv = per_head_qkv(lowbit::quantizer<lowbit::float8_e4m3fn>({lowbit::per_head(hs)}), r, hs);
  p.kv_bytes_per_token = kv_bytes_per_token(p.m.cfg, 1);
  return p;
}

// 9b. Row 9 with every linear through lowbit::gemm_block_scaled (the CPU emulation of the
// DeepGEMM kernel: exact 128-deep block dot products, fp32 promotion; partial last K block).
inline prepared fp8_block_kernel(const recipe_context& ctx) {
  prepared p = fp8_block(ctx);
  const auto q = lowbit::presets::fp8_block128();
  using wmap = std::map<linear_site, std::shared_ptr<const lowbit::quantized<lowbit::float8_e4m3fn>>>;
  auto codes = std::make_shared<wmap>();
  for (const linear_site& s : transformer_linears(p.m.cfg))  // the codes p.m holds dequantized
    (*codes)[s] = std::make_shared<const lowbit::quantized<lowbit::float8_e4m3fn>>(q.weight.quantize(weight(ctx.fp32, s)));
  p.h.linear = [codes, xq = q.activation](const linear_site& s, const matrix& x, const matrix& w) -> matrix {
    if (s.kind == linear_kind::cls) return x * w.transpose();
    return lowbit::gemm_block_scaled(xq.quantize(x), *codes->at(s), /*allow_partial_block=*/true);
  };
  return p;
}

// 10. MXFP8: E4M3 elements in blocks of 32 along K with an E8M0 scale for weights, activations
// and Q/K/V (all dynamic: an MX block scale is computed from its own 32 values); optional
// MeanShift on the q/k/v input. The cache holds one E8M0 byte per 32 K/V elements.
inline prepared mxfp8_recipe(const recipe_context& ctx, bool meanshift) {
  const auto q = lowbit::presets::mxfp8();
  prepared p = fp32_recipe(ctx);  // a copy of the FP32 weights
  p.weight_bits = fake_quantize_weights(p.m, q);
  shift_map mu;
  if (meanshift) mu = qkv_input_means(record_ranges(p.m, ctx.calibration), p.m.cfg.n_layers);
  set_linear_hook(p.h, p.m, dynamic_acts(q), mu);
  p.h.qkv = dynamic_qkv(q);
  p.kv_bytes_per_token = kv_bytes_per_token(p.m.cfg, 1.0 + 1.0 / 32.0);
  return p;
}
inline prepared mxfp8(const recipe_context& ctx) { return mxfp8_recipe(ctx, false); }
inline prepared mxfp8_ms(const recipe_context& ctx) { return mxfp8_recipe(ctx, true); }

// 11. LLM.int8(): every linear through lowbit::llm_int8_matmul (columns with |x| ≥ 6 in float
// against the dequantized int8 weight, the rest vector-wise int8). Attention and cache FP32.
inline prepared llm_int8(const recipe_context& ctx) {
  prepared p = fp32_recipe(ctx);  // a copy of the FP32 weights
  using wmap = std::map<linear_site, std::shared_ptr<const lowbit::quantized<lowbit::int8>>>;
  auto codes = std::make_shared<wmap>();
  weight_storage st;
  const auto wq = int8_weight_q();
  for (const linear_site& s : transformer_linears(p.m.cfg)) {
    auto c = std::make_shared<const lowbit::quantized<lowbit::int8>>(lowbit::llm_int8_quantize_weight(weight(p.m, s)));
    st.add(wq, c->params);
    (*codes)[s] = c;
  }
  p.weight_bits = st.bits_per_param();
  p.h.linear = [codes](const linear_site& s, const matrix& x, const matrix& w) -> matrix {
    if (s.kind == linear_kind::cls) return x * w.transpose();
    return lowbit::llm_int8_matmul(x, *codes->at(s)).out;
  };
  p.kv_bytes_per_token = kv_bytes_per_token(p.m.cfg, 4);
  return p;
}

}  // namespace wa

inline std::vector<recipe> weight_activation_recipes() {
  return {
      {"int8", "int8 W per-channel, X static per-tensor, Q/K per-tensor, V per-channel; no SmoothQuant", wa::int8_plain},
      {"sq-int8-pt", "SmoothQuant (searched alpha) + int8 static per-tensor X, Q/K per-tensor, V per-channel",
       wa::sq_int8_tensor_qk},
      {"sq-int8-ph", "SmoothQuant + int8 static per-tensor X + asymmetric per-head Q/K/V", wa::sq_int8_head},
      {"sq-int8-tok", "SmoothQuant + int8 dynamic per-token asymmetric X + asymmetric per-head Q/K/V (fake-quant)",
       wa::sq_int8_token_head},
      {"sq-int8-tok-real", "sq-int8-tok on int8 codes: gemm_int8 linears, attention_int8 (online softmax)",
       wa::sq_int8_token_head_real},
      {"sq-int8-sym", "SmoothQuant + per-token asymmetric X + symmetric per-head Q/K/V", wa::sq_int8_token_head_sym},
      {"sq-int8-sym-ms", "sq-int8-sym + MeanShift on the q/k/v input and on K after RoPE", wa::sq_int8_token_head_sym_ms},
      {"fp8", "E4M3 W per-channel, X static per-tensor, per-head Q/K/V", wa::fp8},
      {"fp8-ms", "fp8 + MeanShift on the q/k/v input (mean folded into a bias)", wa::fp8_ms},
      {"fp8-sq", "fp8 + SmoothQuant (searched alpha)", wa::fp8_sq},
      {"e3m4", "E3M4 (max 15.5) W per-channel, X static per-tensor, per-head Q/K/V", wa::e3m4},
      {"fp8-block", "E4M3 128x128 weight tiles + dynamic 1x128 activation tiles (DeepSeek-V3), per-head Q/K/V",
       wa::fp8_block},
      {"fp8-block-gemm", "fp8-block with every linear through gemm_block_scaled (CPU emulation)", wa::fp8_block_kernel},
      {"mxfp8", "MXFP8 (E4M3, blocks of 32, E8M0 scale) W, X and Q/K/V", wa::mxfp8},
      {"mxfp8-ms", "mxfp8 + MeanShift on the q/k/v input", wa::mxfp8_ms},
      {"llm-int8", "LLM.int8(): |x| >= 6 columns in float, the rest vector-wise int8; attention FP32", wa::llm_int8},
  };
}

}  // namespace tinyllama
