// lowbit/algo/attention.hpp — per-head Q/K/V quantization, grouped-query attention, and an
// int8 attention path (int32 QKᵀ with zero-point corrections, online softmax, int8 P·V).
//
// Layout: Q is Tq × (Hq·d), K and V are Tk × (Hkv·d); row = token, head h occupies columns
// h·d .. h·d+d−1 (the tiny-Llama hook layout). Grouped-query attention: query head h reads
// kv head g = h / (Hq/Hkv). Output: Tq × (Hq·d),
//     O_h = softmax(α · Q_h K_gᵀ + mask) V_g,     α = softmax_scale (default 1/√d)
// Causal mask: query row i sits at absolute position Tk − Tq + i (so decode with Tq = 1 sees
// every key) and sees keys 0 .. that position.
//
// Per-head quantization (head_quantizer): granularity per_head(d) (one scale/zero per head,
// shared by all tokens: static) or per_token_head(d) (one per token and head: dynamic),
// symmetric or asymmetric (integer zero point, convention::lowbit). GQA: K/V are quantized per
// *kv* head; a query head uses its kv head's scales, so replicating K/V to Hq heads
// (repeat_kv / repeat_kv_params) gives the same scales for every copy — tested bit-exact.
//
// int8 path (attention_int8), for Format = int8 or uint8 with codes q, scale s, zero z:
//   x̂ = s·(q − z).  Scores for query row a (head h) and key row b (kv head g):
//     D_ab = Σ_k (qa_k − za)(qb_k − zb) = Σ qa·qb − zb·Σqa − za·Σqb + d·za·zb     (int32, exact)
//     score_ab = α · sa · sb · D_ab                                                (fp32)
//   Online softmax over key blocks of `key_block` keys: per row running max m and sum ℓ;
//     m' = max(m, max_b score_ab), c = e^(m − m'), acc ← c·acc, ℓ ← c·ℓ,
//     p̃_b = e^(score_ab − m') ∈ [0, 1],  u_b = RNE(255·p̃_b) ∈ [0, 255]   (uint8, scale 1/255)
//     ℓ ← ℓ + Σ u_b / 255,  acc ← acc + (sv/255) · (Σ_b u_b·qv_b − zv·Σ_b u_b)    (int32)
//   O = acc / ℓ.  P is unsigned with the fixed scale 1/255 because p̃ ∈ [0, 1] by construction
//   (the block maximum is exactly 1 → 255): no per-row reduction is needed, and all 256 levels
//   cover the range (a signed int8 P would have step 1/127, twice the error).
//   V must share its scale across tokens (per_head) so that sv factors out of the int32 sum.
//
// Error bound (what tests/algo/attention_test.cpp checks). Against the exact softmax attention
// on the dequantized Q̂, K̂, V̂, with ℓ̂ = the normaliser used, n = number of visible keys:
//   ô − o = (1/ℓ̂) Σ_b δ_b (v̂_b − o),   |δ_b| ≤ 1/510   (P rounding, in final units ≤ 1)
//   ⇒ |ô_c − o_c| ≤ n / (510 · ℓ̂) · (max_b v̂_bc − min_b v̂_bc)    + fp32 rounding,
//   and ℓ̂ ≥ max(1, ℓ − n/510), ℓ = Σ_b e^(score_b − max) of the exact scores. Diffuse rows
//   (ℓ ~ n) are within ~range/510; a row dominated by one key is exact up to the keys whose
//   p̃ rounds to 0. The QKᵀ part adds only fp32 rounding: D is exact in int32.
// int32 range: |D| ≤ d·255² and Σ_b u_b·|qv_b − zv| ≤ key_block·255², so d ≤ 4096 and
// key_block ≤ 4096 are required (checked).
// Kernels: both int32 products go through kernel/gemm_int8.hpp (AVX-512 VNNI where compiled
// in): K blocks and Vᵀ blocks are packed once per kv head and call, P is passed as u − 128
// with zero point −128. Calls with Tq <= 8 (decode) use plain int32 loops instead (no packing);
// both give the same exact integers, so rows do not depend on the path (tested).
//
// Bad input throws lowbit::error: head counts that do not match the column counts, Hq not a
// multiple of Hkv, K and V with different token counts, causal with Tq > Tk, qparams that are
// not per-head with the shape's head_dim, V scales that vary per token in the int8 path, NaN/Inf
// in Q, K or V (named with its place), and finite inputs whose scores or outputs overflow fp32
// (|α·q·k| or the weighted V sums beyond FLT_MAX; the error names the query row and head)
// instead of NaN output.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "../format/int.hpp"
#include "../granularity/granularity.hpp"
#include "../kernel/gemm_int8.hpp"
#include "../observer/observer.hpp"
#include "../quantize/mapping.hpp"
#include "../quantize/qparams.hpp"
#include "../rounding/directed.hpp"  // quantizer.hpp uses round_toward_zero / round_up
#include "../rounding/nearest.hpp"
#include "../quantize/quantizer.hpp"

namespace lowbit {

struct attention_shape {
  int q_heads = 0;   // Hq
  int kv_heads = 0;  // Hkv (divides Hq)
  int head_dim = 0;  // d

  int group() const { return q_heads / kv_heads; }
  int kv_head_of(int h) const { return h / group(); }

  void check(const char* where) const {
    LOWBIT_CHECK(q_heads > 0 && kv_heads > 0 && head_dim > 0, where, ": head counts and head_dim must be > 0, got Hq=",
                 q_heads, " Hkv=", kv_heads, " d=", head_dim);
    LOWBIT_CHECK(q_heads % kv_heads == 0, where, ": query heads (", q_heads, ") must be a multiple of kv heads (",
                 kv_heads, ")");
  }
  // Q: Tq × Hq·d, K and V: Tk × Hkv·d.
  void check(Eigen::Index q_rows, Eigen::Index q_cols, Eigen::Index k_rows, Eigen::Index k_cols, Eigen::Index v_rows,
             Eigen::Index v_cols, const char* where) const {
    check(where);
    LOWBIT_CHECK(q_rows > 0 && k_rows > 0, where, ": empty Q or K (", q_rows, " and ", k_rows, " tokens)");
    LOWBIT_CHECK(q_cols == Eigen::Index{q_heads} * head_dim, where, ": Q has ", q_cols, " columns, expected Hq·d = ",
                 q_heads, "·", head_dim);
    LOWBIT_CHECK(k_cols == Eigen::Index{kv_heads} * head_dim, where, ": K has ", k_cols,
                 " columns, expected Hkv·d = ", kv_heads, "·", head_dim);
    LOWBIT_CHECK(v_cols == Eigen::Index{kv_heads} * head_dim, where, ": V has ", v_cols,
                 " columns, expected Hkv·d = ", kv_heads, "·", head_dim);
    LOWBIT_CHECK(v_rows == k_rows, where, ": K has ", k_rows, " tokens but V has ", v_rows);
  }
};

struct attention_options {
  bool causal = true;
  float softmax_scale = 0.0f;     // α; 0 → 1/√d
  Eigen::Index key_block = 128;   // keys per online-softmax step
  Eigen::Index query_block = 64;  // queries processed together

  float alpha(int head_dim) const {
    return softmax_scale > 0.0f ? softmax_scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
  }
};

using attention_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace detail {
inline void check_attention_options(const attention_options& o, Eigen::Index tq, Eigen::Index tk, const char* where) {
  LOWBIT_CHECK(o.key_block > 0 && o.key_block <= 4096 && o.query_block > 0, where,
               ": key_block must be in 1..4096 and query_block > 0, got ", o.key_block, " and ", o.query_block);
  LOWBIT_CHECK(std::isfinite(o.softmax_scale) && o.softmax_scale >= 0.0f, where,
               ": softmax_scale must be finite and >= 0 (0 = 1/sqrt(d))");
  LOWBIT_CHECK(!o.causal || tq <= tk, where, ": causal attention with more queries (", tq, ") than keys (", tk, ")");
}

// e^x for x <= 0 (softmax arguments; −inf → ~1e-38, i.e. 0 after ×255 and rounding). Range
// reduction x·log2(e) = n + f, |f| <= 1/2, and 2^f by its degree-7 Taylor polynomial (relative
// error < 1e-7 + fp32 rounding). Plain arithmetic so the int8 softmax loop vectorises.
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float t = x * 1.44269504088896341f;
  const float n = std::floor(t + 0.5f);
  const float f = t - n;
  float p = 1.52527338e-5f;
  p = p * f + 1.54035304e-4f;
  p = p * f + 1.33335581e-3f;
  p = p * f + 9.61812911e-3f;
  p = p * f + 5.55041087e-2f;
  p = p * f + 2.40226507e-1f;
  p = p * f + 6.93147181e-1f;
  p = p * f + 1.0f;
  const std::uint32_t bits = std::uint32_t(static_cast<std::int32_t>(n) + 127) << 23;  // 2^n, n in [−126, 0]
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

// Scores of finite inputs can still overflow fp32 (|α·q·k| > FLT_MAX), and the online softmax
// would then take inf − inf: an error instead of NaN output. n visible scores of query row i.
inline void check_scores(const float* s, Eigen::Index n, Eigen::Index i, int h, const char* where) {
  if (all_finite(Eigen::Map<const Eigen::ArrayXf>(s, n))) return;  // the loop names the score
  for (Eigen::Index c = 0; c < n; ++c)
    LOWBIT_CHECK(std::isfinite(s[c]), where, ": score ", s[c], " of query row ", i, ", head ", h,
                 " overflows fp32 (|softmax_scale · q·k| > FLT_MAX); scale Q or K down");
}

// An output block that overflowed fp32 (a weighted mean of V rows near ±FLT_MAX).
template <class D>
void check_output(const Eigen::MatrixBase<D>& o, Eigen::Index i0, int h, const char* where) {
  LOWBIT_CHECK(all_finite(o), where, ": the output of query rows from ", i0, ", head ", h,
               " overflows fp32 (V values near FLT_MAX)");
}

// Last key index (inclusive) query row i may see.
inline Eigen::Index last_visible_key(const attention_options& o, Eigen::Index i, Eigen::Index tq, Eigen::Index tk) {
  return o.causal ? tk - tq + i : tk - 1;
}
}  // namespace detail

// ---- float attention (fp32, the same blocking and online softmax) ---------------------------

template <class DQ, class DK, class DV>
attention_matrix attention(const Eigen::MatrixBase<DQ>& q, const Eigen::MatrixBase<DK>& k,
                           const Eigen::MatrixBase<DV>& v, const attention_shape& shape,
                           const attention_options& opt = {}) {
  shape.check(q.rows(), q.cols(), k.rows(), k.cols(), v.rows(), v.cols(), "attention");
  const Eigen::Index tq = q.rows(), tk = k.rows();
  detail::check_attention_options(opt, tq, tk, "attention");
  detail::check_finite(q, "attention", "value", " of Q");
  detail::check_finite(k, "attention", "value", " of K");
  detail::check_finite(v, "attention", "value", " of V");
  const int d = shape.head_dim;
  const float alpha = opt.alpha(d);
  const Eigen::Index bq = opt.query_block, bk = opt.key_block;
  attention_matrix out(tq, q.cols());
  attention_matrix qh, kh, vh, s, acc;
  std::vector<float> m, l;
  for (int g = 0; g < shape.kv_heads; ++g) {
    kh = k.middleCols(Eigen::Index{g} * d, d).template cast<float>();
    vh = v.middleCols(Eigen::Index{g} * d, d).template cast<float>();
    for (int h = g * shape.group(); h < (g + 1) * shape.group(); ++h) {
      for (Eigen::Index i0 = 0; i0 < tq; i0 += bq) {
        const Eigen::Index nq = std::min(bq, tq - i0);
        qh = q.block(i0, Eigen::Index{h} * d, nq, d).template cast<float>() * alpha;
        acc.setZero(nq, d);
        m.assign(std::size_t(nq), -std::numeric_limits<float>::infinity());
        l.assign(std::size_t(nq), 0.0f);
        const Eigen::Index kend = detail::last_visible_key(opt, i0 + nq - 1, tq, tk) + 1;
        for (Eigen::Index j0 = 0; j0 < kend; j0 += bk) {
          const Eigen::Index nk = std::min(bk, kend - j0);
          s.noalias() = qh * kh.middleRows(j0, nk).transpose();
          for (Eigen::Index r = 0; r < nq; ++r) {
            const Eigen::Index nvis = std::min(nk, detail::last_visible_key(opt, i0 + r, tq, tk) - j0 + 1);
            if (nvis <= 0) {
              s.row(r).setZero();
              continue;
            }
            auto row = s.row(r);
            detail::check_scores(&s(r, 0), nvis, i0 + r, h, "attention");
            const float mnew = std::max(m[std::size_t(r)], row.head(nvis).maxCoeff());
            const float c = std::exp(m[std::size_t(r)] - mnew);
            row.head(nvis) = (row.head(nvis).array() - mnew).exp();
            row.tail(nk - nvis).setZero();
            l[std::size_t(r)] = c * l[std::size_t(r)] + row.sum();
            m[std::size_t(r)] = mnew;
            acc.row(r) *= c;
          }
          acc.noalias() += s * vh.middleRows(j0, nk);
        }
        for (Eigen::Index r = 0; r < nq; ++r)
          out.block(i0 + r, Eigen::Index{h} * d, 1, d) = acc.row(r) / l[std::size_t(r)];
        detail::check_output(out.block(i0, Eigen::Index{h} * d, nq, d), i0, h, "attention");
      }
    }
  }
  return out;
}

// ---- GQA replication ------------------------------------------------------------------------

// K or V (Tk × Hkv·d) with kv head g copied to query heads g·group .. g·group+group−1.
template <class D>
attention_matrix repeat_kv(const Eigen::MatrixBase<D>& kv, const attention_shape& shape) {
  shape.check("repeat_kv");
  const int d = shape.head_dim;
  LOWBIT_CHECK(kv.cols() == Eigen::Index{shape.kv_heads} * d, "repeat_kv: input has ", kv.cols(),
               " columns, expected Hkv·d = ", shape.kv_heads, "·", d);
  attention_matrix out(kv.rows(), Eigen::Index{shape.q_heads} * d);
  for (int h = 0; h < shape.q_heads; ++h)
    out.middleCols(Eigen::Index{h} * d, d) = kv.middleCols(Eigen::Index{shape.kv_head_of(h)} * d, d).template cast<float>();
  return out;
}

// Per-head quantized K or V replicated the same way: codes, scales and zeros of kv head g are
// copied to each of its query heads.
template <class Format>
quantized<Format> repeat_kv(const quantized<Format>& kv, const attention_shape& shape) {
  shape.check("repeat_kv");
  const int d = shape.head_dim;
  const qparams& p = kv.params;
  LOWBIT_CHECK(kv.cols() == Eigen::Index{shape.kv_heads} * d && p.gran.block_cols == d && p.scale.cols() == shape.kv_heads,
               "repeat_kv: expected per-head qparams over Hkv·d = ", shape.kv_heads, "·", d, " columns, got ",
               kv.cols(), " columns, block_cols ", p.gran.block_cols);
  quantized<Format> out;
  out.codes.resize(kv.rows(), Eigen::Index{shape.q_heads} * d);
  out.params = p;
  out.params.cols = out.codes.cols();
  out.params.scale.resize(p.scale.rows(), shape.q_heads);
  if (p.zeros != zero_kind::none) out.params.zero.resize(p.zero.rows(), shape.q_heads);
  for (int h = 0; h < shape.q_heads; ++h) {
    const int g = shape.kv_head_of(h);
    out.codes.middleCols(Eigen::Index{h} * d, d) = kv.codes.middleCols(Eigen::Index{g} * d, d);
    out.params.scale.col(h) = p.scale.col(g);
    if (p.zeros != zero_kind::none) out.params.zero.col(h) = p.zero.col(g);
  }
  return out;
}

// ---- per-head quantization ------------------------------------------------------------------

struct head_quant_options {
  mapping map = mapping::asymmetric;
  bool per_token = false;  // false: per_head(d) (static across tokens); true: per_token_head(d)
};

// The quantizer for one of Q, K, V with head dimension d. Asymmetric uses min/max, symmetric
// absmax; convention::lowbit (integer zero point, range widened to include 0).
template <class Format = int8, class Rounding = round_nearest_even>
quantizer<Format, float, Rounding> head_quantizer(int head_dim, head_quant_options o = {}) {
  LOWBIT_CHECK(head_dim > 0, "head_quantizer: head_dim must be > 0, got ", head_dim);
  quant_options qo;
  qo.gran = o.per_token ? per_token_head(head_dim) : per_head(head_dim);
  qo.map = o.map;
  qo.conv = convention::lowbit;
  qo.obs = o.map == mapping::symmetric ? absmax_observer() : minmax_observer();
  return quantizer<Format, float, Rounding>(qo);
}

// Fake-quantize Q, K, V in place, each per head (the hooks::qkv step of a recipe).
template <class Format = int8, class MQ, class MK, class MV>
void fake_quantize_qkv(MQ& q, MK& k, MV& v, const attention_shape& shape, head_quant_options o = {}) {
  shape.check(q.rows(), q.cols(), k.rows(), k.cols(), v.rows(), v.cols(), "fake_quantize_qkv");
  const auto hq = head_quantizer<Format>(shape.head_dim, o);
  q = hq.fake_quantize(q);
  k = hq.fake_quantize(k);
  v = hq.fake_quantize(v);
}

// ---- int8 attention -------------------------------------------------------------------------

namespace detail {
// Per-row (token) scale and zero of head `head` in per-head qparams (per_head or per_token_head).
struct head_view {
  std::vector<std::int8_t> codes;   // T × d, code value − shift (shift = 128 for uint8, 0 for int8)
  std::vector<float> scale;         // per token
  std::vector<std::int32_t> zero;   // per token, zero point − shift
};

template <class Format>
void check_head_params(const quantized<Format>& x, int heads, int d, const char* where, const char* what) {
  const qparams& p = x.params;
  LOWBIT_CHECK(x.cols() == Eigen::Index{heads} * d && p.rows == x.rows() && p.cols == x.cols(), where, ": ", what,
               " has ", x.cols(), " columns (qparams ", p.rows, " x ", p.cols, "), expected ", heads, "·", d);
  LOWBIT_CHECK(p.gran.block_cols == d && (p.gran.block_rows == 0 || p.gran.block_rows == 1) &&
                   p.scale.cols() == heads && p.scale.rows() == p.gran.grid_rows(x.rows()),
               where, ": ", what, " must be quantized per_head(", d, ") or per_token_head(", d,
               "), got blocks of ", p.gran.block_rows, " x ", p.gran.block_cols);
  LOWBIT_CHECK(p.zeros != zero_kind::offset && p.tensor_scale == 1.0f, where, ": ", what,
               " needs integer zero points (convention::lowbit/gptq/awq) and no tensor scale");
}

template <class Format>
void load_head(const quantized<Format>& x, int head, int d, head_view& hv) {
  const Eigen::Index t = x.rows();
  const std::int32_t shift = Format::is_signed ? 0 : 128;
  hv.codes.resize(std::size_t(t) * std::size_t(d));
  hv.scale.resize(std::size_t(t));
  hv.zero.resize(std::size_t(t));
  const qparams& p = x.params;
  for (Eigen::Index i = 0; i < t; ++i) {
    for (int c = 0; c < d; ++c)
      hv.codes[std::size_t(i) * std::size_t(d) + std::size_t(c)] =
          std::int8_t(Format::to_int(x.codes(i, Eigen::Index{head} * d + c)) - shift);
    const Eigen::Index gi = p.block_row(i);
    hv.scale[std::size_t(i)] = p.scale(gi, head);
    hv.zero[std::size_t(i)] = (p.zeros == zero_kind::none ? 0 : std::int32_t(p.zero(gi, head))) - shift;
  }
}
}  // namespace detail

// int8 attention over per-head quantized Q (Tq × Hq·d), K and V (Tk × Hkv·d). Returns fp32
// Tq × Hq·d. See the header comment for the arithmetic and the error bound.
template <class Format>
attention_matrix attention_int8(const quantized<Format>& q, const quantized<Format>& k, const quantized<Format>& v,
                                const attention_shape& shape, const attention_options& opt = {}) {
  static_assert(Format::kind == format_kind::integer && Format::bits == 8,
                "lowbit: attention_int8 needs int8 or uint8 codes (see lowbit/algo/attention.hpp)");
  const char* where = "attention_int8";
  shape.check(q.rows(), q.cols(), k.rows(), k.cols(), v.rows(), v.cols(), where);
  const Eigen::Index tq = q.rows(), tk = k.rows();
  detail::check_attention_options(opt, tq, tk, where);
  const int d = shape.head_dim;
  LOWBIT_CHECK(d <= 4096, where, ": head_dim ", d, " > 4096 could overflow the int32 dot products");
  detail::check_head_params(q, shape.q_heads, d, where, "Q");
  detail::check_head_params(k, shape.kv_heads, d, where, "K");
  detail::check_head_params(v, shape.kv_heads, d, where, "V");
  LOWBIT_CHECK(v.params.scale.rows() == 1, where,
               ": V must share one scale per head across tokens (per_head), got per-token V scales; "
               "dequantize V and use attention() for per-token V");

  using imat = Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using farr = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using fcol = Eigen::Array<float, Eigen::Dynamic, 1>;
  const float alpha = opt.alpha(d);
  const float ninf = -std::numeric_limits<float>::infinity();
  const Eigen::Index bq = opt.query_block, bk = opt.key_block, nkb = (tk + bk - 1) / bk;
  const bool direct = tq <= 8;
  attention_matrix out(tq, q.cols());
  detail::head_view qv, kv, vv;
  std::vector<int8_weights> kpack(static_cast<std::size_t>(nkb)), vpack(static_cast<std::size_t>(nkb));
  std::vector<std::int8_t> u8(static_cast<std::size_t>(bq * bk));
  const std::vector<std::int32_t> zu(static_cast<std::size_t>(bq), -128);  // P codes u − 128, zero −128
  imat sint, pv;
  farr sc;
  attention_matrix acc;
  for (int g = 0; g < shape.kv_heads; ++g) {
    detail::load_head(k, g, d, kv);
    detail::load_head(v, g, d, vv);
    const float w = vv.scale[0] * (1.0f / 255.0f);  // V scale × P scale
    const std::vector<std::int32_t> zv(static_cast<std::size_t>(d), vv.zero[0]);
    // Pack each key block of K (N = keys, K = d) and of Vᵀ (N = d, K = keys) once per kv head.
    // Decode-sized calls (Tq <= 8) skip the packing, which would cost more than it saves, and
    // use plain int32 loops with the same exact results.
    for (Eigen::Index b = 0; b < (direct ? 0 : nkb); ++b) {
      const Eigen::Index j0 = b * bk, nk = std::min(bk, tk - j0);
      kpack[std::size_t(b)] = int8_weights(int8_view{kv.codes.data() + j0 * d, nk, d, d, 1});
      vpack[std::size_t(b)] = int8_weights(int8_view{vv.codes.data() + j0 * d, d, nk, 1, d});
    }
    const Eigen::Map<const fcol> ks(kv.scale.data(), tk);
    for (int h = g * shape.group(); h < (g + 1) * shape.group(); ++h) {
      detail::load_head(q, h, d, qv);
      const Eigen::Map<const fcol> qs(qv.scale.data(), tq);
      for (Eigen::Index i0 = 0; i0 < tq; i0 += bq) {
        const Eigen::Index nq = std::min(bq, tq - i0);
        acc.setZero(nq, d);
        fcol m = fcol::Constant(nq, ninf), l = fcol::Zero(nq), corr(nq);
        const fcol sa = alpha * qs.segment(i0, nq);
        const Eigen::Index kend = detail::last_visible_key(opt, i0 + nq - 1, tq, tk) + 1;
        for (Eigen::Index j0 = 0; j0 < kend; j0 += bk) {
          const Eigen::Index b = j0 / bk, nk = std::min(bk, tk - j0);
          // D = Σ (qa − za)(qb − zb)  (int32, kernel/gemm_int8.hpp), score = α·sa·sb·D  (fp32)
          sint.resize(nq, nk);
          if (direct) {
            for (Eigen::Index r = 0; r < nq; ++r) {
              const std::int8_t* qa = qv.codes.data() + (i0 + r) * d;
              const std::int32_t za = qv.zero[std::size_t(i0 + r)];
              for (Eigen::Index c = 0; c < nk; ++c) {
                const std::int8_t* kb = kv.codes.data() + (j0 + c) * d;
                const std::int32_t zb = kv.zero[std::size_t(j0 + c)];
                std::int32_t dot = 0;
                for (int e = 0; e < d; ++e) dot += (std::int32_t(qa[e]) - za) * (std::int32_t(kb[e]) - zb);
                sint(r, c) = dot;
              }
            }
          } else {
            gemm_int8_s32(int8_view{qv.codes.data() + i0 * d, nq, d, d, 1}, kpack[std::size_t(b)], sint.data(), nk,
                          qv.zero.data() + i0, kv.zero.data() + j0);
          }
          sc = sint.array().template cast<float>() * (sa.matrix() * ks.segment(j0, nk).matrix().transpose()).array();
          // Visible scores must be finite; under the causal mask the keys after a row's last
          // visible one (inside this block or not) become −inf.
          for (Eigen::Index r = 0; r < nq; ++r) {
            const Eigen::Index nvis =
                std::max<Eigen::Index>(std::min(nk, detail::last_visible_key(opt, i0 + r, tq, tk) - j0 + 1), 0);
            detail::check_scores(&sc(r, 0), nvis, i0 + r, h, where);
            if (nvis < nk) sc.row(r).tail(nk - nvis).setConstant(ninf);
          }
          // Online softmax per row: m' = max(m, rowmax), c = e^(m − m'), p̃ = e^(score − m'),
          // u = RNE(255·p̃), stored as u − 128 for the s8 kernel. A row with every key of this
          // block masked keeps m' = −inf and gets u = 0.
          corr.setOnes();
          for (Eigen::Index r = 0; r < nq; ++r) {
            const float mnew = std::max(m(r), sc.row(r).maxCoeff());
            std::int8_t* urow = u8.data() + r * nk;
            if (mnew == ninf) {
              std::fill(urow, urow + nk, std::int8_t(-128));
              continue;
            }
            corr(r) = detail::exp_nonpositive(m(r) - mnew);
            m(r) = mnew;
            const float* srow = &sc(r, 0);
            std::int32_t su = 0;
            for (Eigen::Index c = 0; c < nk; ++c) {
              const std::int32_t ub =
                  static_cast<std::int32_t>(std::nearbyint(255.0f * detail::exp_nonpositive(srow[c] - mnew)));
              urow[c] = std::int8_t(ub - 128);
              su += ub;
            }
            l(r) = corr(r) * l(r) + float(su) * (1.0f / 255.0f);
          }
          // acc = c·acc + (sv/255)·Σ_b u_b·(qv_b − zv)   (int32, kernel/gemm_int8.hpp)
          pv.resize(nq, d);
          if (direct) {
            pv.setZero();
            for (Eigen::Index r = 0; r < nq; ++r) {
              std::int32_t* pr = &pv(r, 0);
              for (Eigen::Index c = 0; c < nk; ++c) {
                const std::int32_t ub = std::int32_t(u8[std::size_t(r * nk + c)]) + 128;
                if (ub == 0) continue;
                const std::int8_t* vb = vv.codes.data() + (j0 + c) * d;
                for (int e = 0; e < d; ++e) pr[e] += ub * (std::int32_t(vb[e]) - zv[0]);
              }
            }
          } else {
            gemm_int8_s32(int8_view{u8.data(), nq, nk, nk, 1}, vpack[std::size_t(b)], pv.data(), d, zu.data(),
                          zv.data());
          }
          acc = (acc.array().colwise() * corr).matrix() + w * pv.template cast<float>();
        }
        out.block(i0, Eigen::Index{h} * d, nq, d) = (acc.array().colwise() / l).matrix();
        detail::check_output(out.block(i0, Eigen::Index{h} * d, nq, d), i0, h, where);
      }
    }
  }
  return out;
}

// Quantize Q, K, V per head (head_quantizer with `hq`) and run attention_int8. V is always
// quantized per_head (tokens share its scale), whatever hq.per_token says for Q and K.
template <class Format = int8, class DQ, class DK, class DV>
attention_matrix attention_int8(const Eigen::MatrixBase<DQ>& q, const Eigen::MatrixBase<DK>& k,
                                const Eigen::MatrixBase<DV>& v, const attention_shape& shape,
                                head_quant_options hq = {}, const attention_options& opt = {}) {
  shape.check(q.rows(), q.cols(), k.rows(), k.cols(), v.rows(), v.cols(), "attention_int8");
  const auto qk = head_quantizer<Format>(shape.head_dim, hq);
  const auto qvq = head_quantizer<Format>(shape.head_dim, {hq.map, false});
  return attention_int8<Format>(qk.quantize(q), qk.quantize(k), qvq.quantize(v), shape, opt);
}

}  // namespace lowbit
