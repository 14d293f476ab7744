// examples/tinyllama/recipes_weight.hpp — weight-only, W4A4 and KV-cache recipes of the
// tiny-Llama table: MXFP4/NVFP4 W4A4, W4A16 RTN/GPTQ/AWQ, W3 RTN/GPTQ, KIVI 2/4-bit KV cache,
// and Hadamard-rotated int4 W4A4 (QuaRot-style) next to plain int4 W4A4.
//
// Everything quantizes through lowbit's public API; the classifier `cls` (tied to the
// embedding in stories260K) and its input stay FP32 in every row, as do norms and embedding.
// Calibration uses ctx.calibration (32 windows from the end of the text, disjoint from the
// evaluation windows).
//
// Shapes: K = 64 for wq, wk, wv, wo, w1, w3 and K = 172 = 4·43 for w2. Group size 32 ("g32")
// is used as a user would pick it for both: 64 = 2·32, and for w2 172 = 5·32 + 12, i.e. five
// groups of 32 and a short last group of 12 (tail::partial; kernel/gemm_w4 reads ceil(K/G)
// groups per row). MXFP4 uses the same blocks of 32 (short tail 12), NVFP4 blocks of 16
// (172 = 10·16 + 12). "pc" = per output channel (one scale per row, no groups).
//
// Rows:
//   mxfp4-w4a4       e2m1 + e8m0 block 32 (OCP floor rule) on W (RTN) and on X (dynamic, per
//                    call, what an MX GEMM consumes)
//   nvfp4-w4a4       e2m1 + ue4m3 block 16 + fp32 tensor scale on W (amax/(448·6) of W) and on X
//                    (tensor scale from the calibrated per-linear absmax, static as deployed)
//   w4a16-rtn-g32-gemm  w4a16-rtn-g32 run on packed codes through kernel/gemm_w4 (the deployed path)
//   w8a16-rtn-pc     int8 symmetric per channel (the 8-bit member of the RTN family)
//   w4a16-{rtn,gptq,awq}-{pc,g32}  uint4 asymmetric, GPTQ convention (scale (max−min)/15,
//                    integer zero): RTN = min/max per row or group; GPTQ = act-order, 1% damping,
//                    run layer by layer (layer l calibrated on the model with layers < l already
//                    quantized, as the reference's sequential llama.py); AWQ = scale search
//                    (20 ratios) per input group — {wq,wk,wv} scored on their concatenated
//                    outputs and folded into rms_att, {w1,w3} scored on the MLP output (w2 FP32)
//                    and folded into rms_ffn, w2 folded into w3's rows; wo is not scaled (GQA:
//                    two query heads share each V head, AutoAWQ skips v→o then) — then the clip
//                    search on every linear except wq/wk (as llm-awq), then RTN.
//   w3a16-{rtn,gptq}-g32  the same with uint3.
//   kivi2, kivi4     FP32 weights; K cache per channel in groups of G = 32 tokens, V cache per
//                    token (whole head of 8 channels), fp16 scale + offset, full-precision
//                    residual of R = 64 tokens. KIVI's defaults are G = 32, R = 128 for 4k+
//                    contexts; the 512-token windows here keep G (a token count) and halve R so
//                    most of a window (≥ 448 of 512 keys) is read quantized. Attention runs in
//                    KIVI's decode order, token by token (lowbit::kivi_cache::decode).
//   w4a4-gptq        int4 symmetric per-channel weights (GPTQ with clip search) and int4
//                    symmetric per-token dynamic activations, no rotation
//   w4a4-had-gptq    the same on the rotated model (QuaRot): the residual stream rotated by a
//                    random-sign Hadamard Q1 (64 = 2^6) folded offline in float64 into the
//                    embedding, wq/wk/wv/w1/w3 (after fusing rms_att/rms_ffn), wo/w2 outputs
//                    and the classifier (after fusing rms_final; it stays FP32); online
//                    Hadamard rotations of the inputs of wo (64) and w2 (172 = 172·2^0) with
//                    their inverse folded into wo and w2. Q/K/V and the KV cache are not
//                    quantized in these two rows.
//   w4a4-rtn, w4a4-had-rtn  the same two with absmax RTN int4 weights instead of GPTQ
// Weight bits/param include scales and zeros (recipe_util.hpp); KV bytes/token for KIVI are
// kivi_cache::bytes() of a full 512-token window, per token, over the 5 layers.
#pragma once

#include "calibration.hpp"
#include "recipe.hpp"
#include "recipe_util.hpp"

#include <lowbit/algo/awq.hpp>
#include <lowbit/algo/gptq.hpp>
#include <lowbit/algo/hadamard.hpp>
#include <lowbit/algo/kivi.hpp>
#include <lowbit/error.hpp>
#include <lowbit/format/float4.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/scale.hpp>
#include <lowbit/kernel/gemm_w4.hpp>
#include <lowbit/quantize/presets.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <Eigen/Core>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tinyllama {
namespace wo_detail {

using dmatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// ---- quantizers -------------------------------------------------------------------------------

// Weight quantizer of the W4A16/W3A16 rows: unsigned, asymmetric, GPTQ convention, min/max
// range; group 0 = per output channel.
template <class F>
lowbit::quantizer<F> asym_weight_quantizer(Eigen::Index group) {
  return lowbit::quantizer<F>({group > 0 ? lowbit::per_group(group) : lowbit::per_channel(0),
                               lowbit::mapping::asymmetric, lowbit::convention::gptq, lowbit::minmax_observer()});
}

// Symmetric per-channel (rows) absmax weight quantizer.
template <class F>
lowbit::quantizer<F> sym_channel_quantizer() {
  return lowbit::quantizer<F>(
      {lowbit::per_channel(0), lowbit::mapping::symmetric, lowbit::convention::lowbit, lowbit::absmax_observer()});
}

// Symmetric per-token absmax activation quantizer, fitted on every call.
template <class F>
lowbit::quantizer<F> per_token_quantizer() {
  return lowbit::quantizer<F>(
      {lowbit::per_token(), lowbit::mapping::symmetric, lowbit::convention::lowbit, lowbit::absmax_observer()});
}

// ---- GPTQ, AWQ ----------------------------------------------------------------------------

// Online input rotation of a site (empty: none) — the Hessian GPTQ needs is that of the rotated
// input X·Q: Qᵀ·H·Q.
using input_rotation = std::function<const lowbit::hadamard_rotation*(const linear_site&)>;

inline Eigen::MatrixXf rotated_hessian(const Eigen::MatrixXd& H, const lowbit::hadamard_rotation* r) {
  if (!r) return H.cast<float>();
  const dmatrix hq = r->apply(dmatrix(H));                     // H·Q
  return dmatrix(r->apply(dmatrix(hq.transpose())).transpose()).cast<float>();  // Qᵀ·H·Q
}

// GPTQ (act order, 1% damping) on every transformer linear, layer by layer: layer l is
// calibrated on m with layers < l already quantized (run with `run_hooks`). Returns bits/param.
template <class Q>
double gptq_weights(model& m, const std::vector<window>& calib, const Q& q, const hooks& run_hooks = {},
                    const input_rotation& rot = {}, bool clip_search = false) {
  lowbit::gptq_options o;
  o.act_order = true;
  o.clip_search = clip_search;
  weight_storage st;
  for (int l = 0; l < m.cfg.n_layers; ++l) {
    const calibration_recorder rec = calibrate(m, calib, run_hooks);
    for (linear_kind k : layer_linears) {
      const linear_site s{l, k};
      matrix& w = weight(m, s);
      const auto r = lowbit::gptq(w, rotated_hessian(rec.at(s).hessian(), rot ? rot(s) : nullptr), q, o);
      LOWBIT_CHECK(r.status != lowbit::info::numerical_issue, "GPTQ fell back to RTN on ", to_string(k),
                   " of layer ", l);
      w = r.Q;
      st.add(q, r.weight.params);
    }
  }
  return st.bits_per_param();
}

inline matrix silu_mul(const matrix& gate, const matrix& up) {
  return matrix((gate.array() / (1.0f + (-gate.array()).exp())) * up.array());
}

// AWQ (see the header comment). Returns bits/param.
template <class Q>
double awq_weights(model& m, const std::vector<window>& calib, const Q& q, Eigen::Index sample_rows = 4096) {
  using M = matrix;
  const auto concat = [](const M& x, const std::vector<M>& ws) {
    Eigen::Index n = 0;
    for (const M& w : ws) n += w.rows();
    M out(x.rows(), n);
    Eigen::Index c = 0;
    for (const M& w : ws) {
      out.middleCols(c, w.rows()).noalias() = x * w.transpose();
      c += w.rows();
    }
    return out;
  };
  const auto one = [](const M& x, const std::vector<M>& ws) { return M(x * ws[0].transpose()); };
  {
    // Activations of the FP32 model; every fold below keeps the float function unchanged, so
    // the inputs stay valid (only w2's input is divided by its own s, which the search models).
    const calibration_recorder rec = calibrate(m, calib, {}, sample_rows, false);
    for (int l = 0; l < m.cfg.n_layers; ++l) {
      layer_weights& lw = m.layers[std::size_t(l)];
      const auto sa = lowbit::awq_search_scale(rec.at({l, linear_kind::wq}).samples, {lw.wq, lw.wk, lw.wv}, q, concat);
      fold_input_scales(m, l, norm_group::attention, sa.scale.template cast<double>());
      const M w2 = lw.w2;
      const auto mlp = [&w2](const M& x, const std::vector<M>& ws) {
        return M(silu_mul(M(x * ws[0].transpose()), M(x * ws[1].transpose())) * w2.transpose());
      };
      const auto sf = lowbit::awq_search_scale(rec.at({l, linear_kind::w1}).samples, {lw.w1, lw.w3}, q, mlp);
      fold_input_scales(m, l, norm_group::ffn, sf.scale.template cast<double>());
      const auto sd = lowbit::awq_search_scale(rec.at({l, linear_kind::w2}).samples, {lw.w2}, q, one);
      lowbit::awq_fold_into_linear(lw.w3, sd.scale);  // rows of the producer of w2's input / s
      lowbit::awq_scale_columns(lw.w2, sd.scale);     // W2·diag(s)
    }
  }
  // Clip search on the scaled model's inputs, then round-to-nearest.
  const calibration_recorder rec = calibrate(m, calib, {}, sample_rows, false);
  const Eigen::Index G = q.options().gran.block_cols;
  weight_storage st;
  for (const linear_site& s : transformer_linears(m.cfg)) {
    matrix& w = weight(m, s);
    if (s.kind != linear_kind::wq && s.kind != linear_kind::wk)
      lowbit::awq_apply_clip(w, lowbit::awq_search_clip(rec.at(s).samples, w, q), G);
    const lowbit::qparams p = q.fit(w);
    w = q.fake_quantize(w, p);
    st.add(q, p);
  }
  return st.bits_per_param();
}

// ---- activation hooks -----------------------------------------------------------------------

// hooks::linear computing act(site, X)·Wᵀ for the transformer linears, X·Wᵀ for cls.
using act_fn = std::function<matrix(const linear_site&, const matrix&)>;
inline hooks activation_hooks(act_fn act) {
  hooks h;
  h.linear = [act = std::move(act)](const linear_site& s, const matrix& x, const matrix& w) -> matrix {
    if (s.kind == linear_kind::cls) return x * w.transpose();
    return act(s, x) * w.transpose();
  };
  return h;
}

// ---- Hadamard rotation (QuaRot) ---------------------------------------------------------------

struct rotations {
  lowbit::hadamard_rotation residual, attn_out, ffn_down;  // Q1 (dim), wo input (dim), w2 input (hidden)
  const lowbit::hadamard_rotation* online(const linear_site& s) const {
    if (s.kind == linear_kind::wo) return &attn_out;
    if (s.kind == linear_kind::w2) return &ffn_down;
    return nullptr;
  }
};

inline rotations make_rotations(const config& c) {
  return {lowbit::hadamard_rotation::random(c.dim, 1), lowbit::hadamard_rotation::random(c.n_heads * c.head_size(), 2),
          lowbit::hadamard_rotation::random(c.hidden_dim, 3)};
}

// Folds the rotations into m in float64 (the float function is unchanged up to rounding when
// the inputs of wo and w2 are rotated online, see rotation_hooks()).
inline void rotate_model(model& m, const rotations& r) {
  const auto d = [](const matrix& w) { return dmatrix(w.cast<double>()); };
  const auto consumer = [&](matrix& w, const vector& gamma) {  // W·diag(γ)·Q1
    w = r.residual.fold_into_input(lowbit::fuse_norm_into_linear(d(w), gamma.cast<double>())).cast<float>();
  };
  m.token_embedding = r.residual.apply(d(m.token_embedding)).cast<float>();  // x' = x·Q1
  for (layer_weights& l : m.layers) {
    for (matrix* w : {&l.wq, &l.wk, &l.wv}) consumer(*w, l.rms_att);
    for (matrix* w : {&l.w1, &l.w3}) consumer(*w, l.rms_ffn);
    l.rms_att.setOnes();
    l.rms_ffn.setOnes();
    l.wo = r.attn_out.fold_into_input(r.residual.fold_into_output(d(l.wo))).cast<float>();   // Q1ᵀ·Wo·Qo
    l.w2 = r.ffn_down.fold_into_input(r.residual.fold_into_output(d(l.w2))).cast<float>();  // Q1ᵀ·W2·Qd
  }
  consumer(m.classifier, m.rms_final);
  m.rms_final.setOnes();
}

// Online rotation of the wo / w2 inputs, then act (may be empty: rotation only).
inline hooks rotation_hooks(std::shared_ptr<const rotations> r, act_fn act = {}) {
  return activation_hooks([r, act = std::move(act)](const linear_site& s, const matrix& x) -> matrix {
    const lowbit::hadamard_rotation* q = r->online(s);
    matrix xr = q ? matrix(q->apply(x)) : x;
    return act ? act(s, xr) : xr;
  });
}

// ---- KIVI -----------------------------------------------------------------------------------

inline constexpr int kivi_group = 32, kivi_residual = 64;

inline lowbit::kivi_options kivi_config(const config& c) {
  lowbit::kivi_options o;
  o.kv_heads = c.n_kv_heads;
  o.head_dim = c.head_size();
  o.group_size = kivi_group;
  o.residual = kivi_residual;
  return o;
}

// Attention through a KIVI cache: the P cached positions are appended (same state as P decode
// steps), then each of the T new queries runs one decode step.
template <class F>
matrix kivi_attend(const config& c, const matrix& q, const matrix& k, const matrix& v) {
  lowbit::kivi_cache<F> cache(kivi_config(c));
  const Eigen::Index T = q.rows(), P = k.rows() - T;
  if (P > 0) cache.append(k.topRows(P), v.topRows(P));
  matrix out(T, q.cols());
  for (Eigen::Index t = 0; t < T; ++t)
    out.row(t) = cache.decode(q.row(t), k.row(P + t), v.row(P + t), c.n_heads);
  return out;
}

// K and V cache bytes per token, all layers, of a full window of `tokens` (kivi_cache::bytes()).
template <class F>
double kivi_bytes_per_token(const config& c, Eigen::Index tokens) {
  lowbit::kivi_cache<F> cache(kivi_config(c));
  const matrix z = matrix::Zero(tokens, c.kv_dim());
  cache.append(z, z);
  return double(c.n_layers) * double(cache.bytes()) / double(tokens);
}

}  // namespace wo_detail

// ---- the recipes --------------------------------------------------------------------------------

inline prepared mxfp4_w4a4(const recipe_context& ctx) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  const auto q = lowbit::presets::mxfp4();
  p.weight_bits = fake_quantize_weights(p.m, q);
  p.h = wo_detail::activation_hooks([q](const linear_site&, const matrix& x) { return q.fake_quantize(x); });
  return p;
}

inline prepared nvfp4_w4a4(const recipe_context& ctx) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  p.weight_bits = fake_quantize_weights(p.m, lowbit::presets::nvfp4());
  // Activation tensor scale amax/(448·6) from the calibrated absmax of each linear input.
  const activation_ranges r = record_ranges(ctx.fp32, ctx.calibration);
  auto qs = std::make_shared<std::map<linear_site, lowbit::presets::nvfp4_quantizer>>();
  for (const auto& [site, ranges] : r.linear) {
    lowbit::quant_options o = lowbit::presets::nvfp4().options();
    o.fixed_tensor_scale = ranges.absmax() / (448.0f * 6.0f);
    qs->emplace(site, lowbit::presets::nvfp4_quantizer(o));
  }
  p.h = wo_detail::activation_hooks([qs](const linear_site& s, const matrix& x) { return qs->at(s).fake_quantize(x); });
  return p;
}

template <class F>
prepared rtn_recipe(const recipe_context& ctx, Eigen::Index group) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  p.weight_bits = fake_quantize_weights(p.m, wo_detail::asym_weight_quantizer<F>(group));
  return p;
}

// w4a16-rtn-g32 on 4-bit codes: every transformer linear runs through lowbit::gemm_w4 (packed
// uint4 codes, fp32 scales, integer zeros, dequantized in registers); cls stays FP32. The model
// keeps the dequantized weights too, so the fake-quantized row is the oracle for this one.
inline prepared w4_rtn_g32_gemm(const recipe_context& ctx) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  const auto q = wo_detail::asym_weight_quantizer<lowbit::uint4>(32);
  auto packed = std::make_shared<std::map<linear_site, lowbit::w4_weights>>();
  weight_storage st;
  for (const linear_site& s : transformer_linears(p.m.cfg)) {
    matrix& w = weight(p.m, s);
    const auto qw = q.quantize(w);
    packed->emplace(s, lowbit::w4_weights(qw));
    w = q.dequantize(qw);
    st.add(q, qw.params);
  }
  p.weight_bits = st.bits_per_param();
  p.h.linear = [packed](const linear_site& s, const matrix& x, const matrix& w) -> matrix {
    if (s.kind == linear_kind::cls) return x * w.transpose();
    return lowbit::gemm_w4(x, packed->at(s));
  };
  return p;
}

inline prepared w8_rtn_pc(const recipe_context& ctx) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  p.weight_bits = fake_quantize_weights(p.m, wo_detail::sym_channel_quantizer<lowbit::int8>());
  return p;
}

template <class F>
prepared gptq_recipe(const recipe_context& ctx, Eigen::Index group) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  p.weight_bits = wo_detail::gptq_weights(p.m, ctx.calibration, wo_detail::asym_weight_quantizer<F>(group));
  return p;
}

template <class F>
prepared awq_recipe(const recipe_context& ctx, Eigen::Index group) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  p.weight_bits = wo_detail::awq_weights(p.m, ctx.calibration, wo_detail::asym_weight_quantizer<F>(group));
  return p;
}

template <class F>
prepared kivi(const recipe_context& ctx) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  const config c = p.m.cfg;
  p.h.attention = [c](int, const matrix& q, const matrix& k, const matrix& v) {
    return wo_detail::kivi_attend<F>(c, q, k, v);
  };
  p.kv_bytes_per_token = wo_detail::kivi_bytes_per_token<F>(c, c.seq_len);
  return p;
}

// int4 W (symmetric per channel, GPTQ with clip search, or RTN) and int4 per-token X, with or
// without the Hadamard rotations.
inline prepared int4_w4a4(const recipe_context& ctx, bool rotate, bool gptq) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  const auto wq = wo_detail::sym_channel_quantizer<lowbit::int4>();
  const auto aq = wo_detail::per_token_quantizer<lowbit::int4>();
  const wo_detail::act_fn act = [aq](const linear_site&, const matrix& x) { return aq.fake_quantize(x); };
  if (!rotate) {
    p.weight_bits = gptq ? wo_detail::gptq_weights(p.m, ctx.calibration, wq, {}, {}, true)
                         : fake_quantize_weights(p.m, wq);
    p.h = wo_detail::activation_hooks(act);
    return p;
  }
  auto r = std::make_shared<const wo_detail::rotations>(wo_detail::make_rotations(p.m.cfg));
  wo_detail::rotate_model(p.m, *r);
  p.weight_bits = gptq ? wo_detail::gptq_weights(p.m, ctx.calibration, wq, wo_detail::rotation_hooks(r),
                                                 [r](const linear_site& s) { return r->online(s); }, true)
                       : fake_quantize_weights(p.m, wq);
  p.h = wo_detail::rotation_hooks(r, act);
  return p;
}

// The rotated model without any quantization (a check that the folding is exact).
inline prepared hadamard_fp32(const recipe_context& ctx) {
  prepared p = fp32_recipe(ctx);  // FP32 copy, FP32 KV cache
  auto r = std::make_shared<const wo_detail::rotations>(wo_detail::make_rotations(p.m.cfg));
  wo_detail::rotate_model(p.m, *r);
  p.h = wo_detail::rotation_hooks(r);
  return p;
}

inline std::vector<recipe> weight_only_recipes() {
  using lowbit::uint3;
  using lowbit::uint4;
  return {
      {"mxfp4-w4a4", "MXFP4 (e2m1 + e8m0 block 32) W (RTN) and dynamic X; cls FP32", mxfp4_w4a4},
      {"nvfp4-w4a4", "NVFP4 (e2m1 + ue4m3 block 16 + fp32 tensor scale) W and X (static calibrated tensor scale)",
       nvfp4_w4a4},
      {"w8a16-rtn-pc", "int8 symmetric per-channel RTN weights, FP32 activations", w8_rtn_pc},
      {"w4a16-rtn-pc", "uint4 asymmetric per-channel RTN weights", [](auto& c) { return rtn_recipe<uint4>(c, 0); }},
      {"w4a16-rtn-g32", "uint4 asymmetric g32 RTN weights (w2: 5x32 + 12)",
       [](auto& c) { return rtn_recipe<uint4>(c, 32); }},
      {"w4a16-rtn-g32-gemm", "w4a16-rtn-g32 with every linear through gemm_w4 on packed uint4 codes",
       w4_rtn_g32_gemm},
      {"w4a16-gptq-pc", "uint4 per-channel GPTQ (act order, sequential layers)",
       [](auto& c) { return gptq_recipe<uint4>(c, 0); }},
      {"w4a16-gptq-g32", "uint4 g32 GPTQ (act order, sequential layers)",
       [](auto& c) { return gptq_recipe<uint4>(c, 32); }},
      {"w4a16-awq-pc", "uint4 per-channel AWQ (scale + clip search, folded)",
       [](auto& c) { return awq_recipe<uint4>(c, 0); }},
      {"w4a16-awq-g32", "uint4 g32 AWQ (scale + clip search, folded)", [](auto& c) { return awq_recipe<uint4>(c, 32); }},
      {"w3a16-rtn-g32", "uint3 asymmetric g32 RTN weights", [](auto& c) { return rtn_recipe<uint3>(c, 32); }},
      {"w3a16-gptq-g32", "uint3 g32 GPTQ (act order, sequential layers)",
       [](auto& c) { return gptq_recipe<uint3>(c, 32); }},
      {"kivi4", "KIVI 4-bit KV cache (K per-channel G=32, V per-token, residual R=64), FP32 weights",
       [](auto& c) { return kivi<uint4>(c); }},
      {"kivi2", "KIVI 2-bit KV cache (K per-channel G=32, V per-token, residual R=64), FP32 weights",
       [](auto& c) { return kivi<lowbit::uint2>(c); }},
      {"w4a4-gptq", "int4 W (sym per-channel GPTQ) + int4 per-token X, no rotation",
       [](auto& c) { return int4_w4a4(c, false, true); }},
      {"w4a4-rtn", "int4 W (sym per-channel RTN) + int4 per-token X, no rotation",
       [](auto& c) { return int4_w4a4(c, false, false); }},
      {"w4a4-had-gptq", "QuaRot-style Hadamard rotations + int4 W (GPTQ) + int4 per-token X",
       [](auto& c) { return int4_w4a4(c, true, true); }},
      {"w4a4-had-rtn", "QuaRot-style Hadamard rotations + int4 W (RTN) + int4 per-token X",
       [](auto& c) { return int4_w4a4(c, true, false); }},
  };
}

}  // namespace tinyllama
