// examples/tinyllama/forward.hpp — the Llama forward pass over a whole window at once, in
// float32 Eigen, with the hooks where quantization plugs in.
//
// Shapes: a window of T tokens is processed as T×dim matrices (one row per token), so every
// linear is one matrix product  Y (T×N) = X (T×K) · Wᵀ  with W stored N×K ([out][in]).
// The math follows llama2.c run.c (data/stories260K/README.md):
//   x = emb[token]
//   per layer l:  xb = rmsnorm(x)·rms_att;  Q = xb·Wqᵀ, K = xb·Wkᵀ, V = xb·Wvᵀ;  RoPE(Q, K);
//                 att = causal softmax(Q_h·K_gᵀ/√hs)·V_g  (query head h uses K/V head g = h/kv_mul);
//                 x += att·Woᵀ;
//                 xb = rmsnorm(x)·rms_ffn;  x += (silu(xb·W1ᵀ) ⊙ xb·W3ᵀ)·W2ᵀ
//   logits = (rmsnorm(x)·rms_final)·Wclsᵀ
// rmsnorm(v) = v / sqrt(mean(v²) + 1e-5). RoPE rotates the pairs (2i, 2i+1) of each head by
// angle pos·10000^(-2i/hs), computed in float exactly as run.c does.
//
// Extension points (all optional; an empty hooks{} is the FP32 model):
//   hooks::linear     replaces Y = X·Wᵀ for one linear (fake-quantized weights or activations,
//                     int8/int4/FP8 GEMM kernels, Hadamard-rotated inputs, LLM.int8() ...).
//   hooks::observe    sees X of every linear before it runs (calibration: GPTQ Hessians,
//                     SmoothQuant/AWQ statistics; see calibration.hpp).
//   hooks::qkv        edits Q, K, V of a layer in place after RoPE (per-head Q/K/V or KV-cache
//                     quantization; head h is columns [h·hs, (h+1)·hs), see head()). With a
//                     kv_cache it sees only the new rows, exactly what enters the cache.
//   hooks::attention  replaces the whole causal attention of a layer (int8 attention with
//                     online softmax, KIVI's per-query view of a quantized cache with a
//                     full-precision residual window ...); causal_attention() is the default.
// Incremental decoding: pass a kv_cache and forward() runs the new tokens at positions
// cache.length().., attending to the cached K/V plus their own. Without one (evaluation
// windows) the window is the whole sequence. Both are the same code path.
// Weights are not passed through hooks to be edited: a recipe copies the `model` and rewrites
// its matrices (model.hpp), e.g. with quantized-then-dequantized or norm-folded versions.
#pragma once

#include "model.hpp"

#include <lowbit/error.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

namespace tinyllama {

// Which linear of the model: the seven per-layer ones and the classifier (lm head).
enum class linear_kind { wq, wk, wv, wo, w1, w2, w3, cls };
inline constexpr linear_kind layer_linears[] = {linear_kind::wq, linear_kind::wk, linear_kind::wv, linear_kind::wo,
                                                linear_kind::w1, linear_kind::w2, linear_kind::w3};

inline const char* to_string(linear_kind k) {
  switch (k) {
    case linear_kind::wq: return "wq";
    case linear_kind::wk: return "wk";
    case linear_kind::wv: return "wv";
    case linear_kind::wo: return "wo";
    case linear_kind::w1: return "w1";
    case linear_kind::w2: return "w2";
    case linear_kind::w3: return "w3";
    case linear_kind::cls: return "cls";
  }
  return "?";
}

// Where a linear sits. layer is 0..n_layers-1, and -1 for the classifier.
struct linear_site {
  int layer = 0;
  linear_kind kind = linear_kind::wq;
  friend bool operator==(const linear_site& a, const linear_site& b) { return a.layer == b.layer && a.kind == b.kind; }
  friend bool operator<(const linear_site& a, const linear_site& b) {
    return a.layer != b.layer ? a.layer < b.layer : a.kind < b.kind;
  }
};

// The weight matrix (N×K) of a site, for reading or replacing.
inline matrix& weight(model& m, const linear_site& s) {
  if (s.kind == linear_kind::cls) return m.classifier;
  LOWBIT_CHECK(s.layer >= 0 && s.layer < m.cfg.n_layers, "layer ", s.layer, " is not in 0..", m.cfg.n_layers - 1);
  layer_weights& l = m.layers[static_cast<std::size_t>(s.layer)];
  switch (s.kind) {
    case linear_kind::wq: return l.wq;
    case linear_kind::wk: return l.wk;
    case linear_kind::wv: return l.wv;
    case linear_kind::wo: return l.wo;
    case linear_kind::w1: return l.w1;
    case linear_kind::w2: return l.w2;
    case linear_kind::w3: return l.w3;
    case linear_kind::cls: break;
  }
  return m.classifier;
}
inline const matrix& weight(const model& m, const linear_site& s) { return weight(const_cast<model&>(m), s); }

// Columns of head h in a Q (T×n_heads·hs) or K/V (T×n_kv_heads·hs) matrix.
inline auto head(matrix& m, int h, int head_size) { return m.middleCols(Eigen::Index{h} * head_size, head_size); }
inline auto head(const matrix& m, int h, int head_size) {
  return m.middleCols(Eigen::Index{h} * head_size, head_size);
}

struct hooks {
  // Y (T×N) = X (T×K) · Wᵀ, W is N×K. Empty: the FP32 product.
  std::function<matrix(const linear_site& site, const matrix& x, const matrix& w)> linear;
  // Called with X of each linear just before `linear` (wq, wk, wv see the same X; so do w1, w3).
  std::function<void(const linear_site& site, const matrix& x)> observe;
  // Q (T×n_heads·hs) and K, V (T×n_kv_heads·hs) of the T new tokens of `layer`, after RoPE,
  // editable in place (what is left in K and V is what a kv_cache stores).
  std::function<void(int layer, matrix& q, matrix& k, matrix& v)> qkv;
  // Returns the attention output (T×n_heads·hs) of `layer` for queries q (T rows) over keys and
  // values k, v (P+T rows: P cached positions, then the T new ones; query i is at position
  // P+i and sees keys 0..P+i). Empty: causal_attention().
  std::function<matrix(int layer, const matrix& q, const matrix& k, const matrix& v)> attention;
};

// K (after RoPE and hooks::qkv) and V of every layer for the positions run so far.
struct kv_cache {
  std::vector<matrix> k, v;  // per layer: positions × kv_dim
  Eigen::Index length() const { return k.empty() ? 0 : k.front().rows(); }
};

// softmax(Q_h·K_gᵀ/√hs + causal mask)·V_g for every query head h (g = h / kv_mul), where the
// T queries are the last T of the P+T positions of k and v (P = k.rows() − T). Queries go in
// blocks of 64 rows, each against keys 0..(last position of the block) only, which skips most
// of the masked half and keeps the score block in cache.
inline matrix causal_attention(const config& c, const matrix& q, const matrix& k, const matrix& v) {
  constexpr Eigen::Index block = 64;
  const Eigen::Index T = q.rows(), P = k.rows() - T;
  LOWBIT_CHECK(P >= 0 && v.rows() == k.rows(), "attention over ", T, " queries, ", k.rows(), " keys and ", v.rows(),
               " values");
  const int hs = c.head_size();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  matrix out(T, q.cols());
  matrix s;
  for (int h = 0; h < c.n_heads; ++h) {
    const int g = h / c.kv_mul();
    for (Eigen::Index r0 = 0; r0 < T; r0 += block) {
      const Eigen::Index nr = std::min(block, T - r0), nk = P + r0 + nr;  // rows r0.., keys 0..nk-1
      s.resize(nr, nk);
      s.noalias() = head(q, h, hs).middleRows(r0, nr) * head(k, g, hs).topRows(nk).transpose();
      for (Eigen::Index i = 0; i < nr; ++i) {  // query r0+i attends to keys 0..P+r0+i
        auto row = s.row(i).head(P + r0 + i + 1);
        row *= scale;
        row = (row.array() - row.maxCoeff()).exp();
        row /= row.sum();
        s.row(i).tail(nr - i - 1).setZero();
      }
      head(out, h, hs).middleRows(r0, nr).noalias() = s * head(v, g, hs).topRows(nk);
    }
  }
  return out;
}

namespace detail {

inline void rmsnorm(const matrix& x, const vector& w, matrix& out) {
  out.resize(x.rows(), x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const float ss = 1.0f / std::sqrt(x.row(t).squaredNorm() / static_cast<float>(x.cols()) + 1e-5f);
    out.row(t) = (x.row(t) * ss).cwiseProduct(w.transpose());
  }
}

// cos/sin of RoPE for positions P..P+T-1 and the hs/2 pairs of a head, as run.c computes them.
struct rope_table {
  matrix cos, sin;  // T × hs/2
  rope_table(Eigen::Index P, Eigen::Index T, int hs) : cos(T, hs / 2), sin(T, hs / 2) {
    for (Eigen::Index p = 0; p < T; ++p)
      for (int i = 0; i < hs / 2; ++i) {
        const float freq = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / static_cast<float>(hs));
        const float angle = static_cast<float>(P + p) * freq;
        cos(p, i) = std::cos(angle);
        sin(p, i) = std::sin(angle);
      }
  }
  void apply(matrix& m, int hs) const {
    for (Eigen::Index p = 0; p < m.rows(); ++p)
      for (Eigen::Index j = 0; j < m.cols(); j += 2) {
        const Eigen::Index i = (j % hs) / 2;
        const float c = cos(p, i), s = sin(p, i), a = m(p, j), b = m(p, j + 1);
        m(p, j) = a * c - b * s;
        m(p, j + 1) = a * s + b * c;
      }
  }
};

inline void append_rows(matrix& cache, const matrix& rows) {
  if (cache.size() == 0) {
    cache = rows;
    return;
  }
  cache.conservativeResize(cache.rows() + rows.rows(), Eigen::NoChange);
  cache.bottomRows(rows.rows()) = rows;
}

inline matrix run_linear(const hooks& hk, const linear_site& site, const matrix& x, const matrix& w) {
  if (hk.observe) hk.observe(site, x);
  if (!hk.linear) return x * w.transpose();
  matrix y = hk.linear(site, x, w);
  LOWBIT_CHECK(y.rows() == x.rows() && y.cols() == w.rows(), "hooks::linear for ", to_string(site.kind), " of layer ",
               site.layer, " returned ", y.rows(), "×", y.cols(), ", expected ", x.rows(), "×", w.rows());
  return y;
}

}  // namespace detail

// Which rows of the logits forward() computes.
enum class logits_rows { all, last };

// Logits (T×vocab, or 1×vocab for logits_rows::last) of the T tokens `tokens` at positions
// P..P+T-1, where P = cache->length() (0 without a cache: a window on its own); P+T <= seq_len.
// With a cache, their K and V are appended to it. Throws lowbit::error on an empty or too long
// window, an out-of-range token id, or a hook returning a wrongly shaped matrix.
inline matrix forward(const model& m, const std::vector<int>& tokens, const hooks& hk = {},
                      logits_rows rows = logits_rows::all, kv_cache* cache = nullptr) {
  const config& c = m.cfg;
  const auto T = static_cast<Eigen::Index>(tokens.size());
  const Eigen::Index P = cache ? cache->length() : 0;
  LOWBIT_CHECK(T >= 1 && P + T <= c.seq_len, "window of ", T, " tokens after ", P, " cached positions, expected 1..",
               c.seq_len - P);
  const int hs = c.head_size();
  if (cache && P == 0) {
    cache->k.assign(static_cast<std::size_t>(c.n_layers), matrix());
    cache->v.assign(static_cast<std::size_t>(c.n_layers), matrix());
  }
  LOWBIT_CHECK(!cache || cache->k.size() == static_cast<std::size_t>(c.n_layers), "kv_cache of ", cache->k.size(),
               " layers for a model of ", c.n_layers);

  matrix x(T, c.dim);
  for (Eigen::Index t = 0; t < T; ++t) {
    const int id = tokens[static_cast<std::size_t>(t)];
    LOWBIT_CHECK(id >= 0 && id < c.vocab_size, "token id ", id, " at position ", t, " is not in 0..", c.vocab_size - 1);
    x.row(t) = m.token_embedding.row(id);
  }
  const detail::rope_table rope(P, T, hs);
  matrix xb;
  for (int l = 0; l < c.n_layers; ++l) {
    const layer_weights& w = m.layers[static_cast<std::size_t>(l)];
    detail::rmsnorm(x, w.rms_att, xb);
    matrix q = detail::run_linear(hk, {l, linear_kind::wq}, xb, w.wq);
    matrix k = detail::run_linear(hk, {l, linear_kind::wk}, xb, w.wk);
    matrix v = detail::run_linear(hk, {l, linear_kind::wv}, xb, w.wv);
    rope.apply(q, hs);
    rope.apply(k, hs);
    if (hk.qkv) hk.qkv(l, q, k, v);
    if (cache) {
      detail::append_rows(cache->k[static_cast<std::size_t>(l)], k);
      detail::append_rows(cache->v[static_cast<std::size_t>(l)], v);
    }
    const matrix& keys = cache ? cache->k[static_cast<std::size_t>(l)] : k;
    const matrix& values = cache ? cache->v[static_cast<std::size_t>(l)] : v;
    matrix att = hk.attention ? hk.attention(l, q, keys, values) : causal_attention(c, q, keys, values);
    LOWBIT_CHECK(att.rows() == T && att.cols() == q.cols(), "hooks::attention of layer ", l, " returned ", att.rows(),
                 "×", att.cols(), ", expected ", T, "×", q.cols());
    x += detail::run_linear(hk, {l, linear_kind::wo}, att, w.wo);

    detail::rmsnorm(x, w.rms_ffn, xb);
    matrix gate = detail::run_linear(hk, {l, linear_kind::w1}, xb, w.w1);
    const matrix up = detail::run_linear(hk, {l, linear_kind::w3}, xb, w.w3);
    gate = (gate.array() / (1.0f + (-gate.array()).exp())) * up.array();  // silu(gate) ⊙ up
    x += detail::run_linear(hk, {l, linear_kind::w2}, gate, w.w2);
  }
  if (rows == logits_rows::last) {
    const matrix last = x.bottomRows(1);
    detail::rmsnorm(last, m.rms_final, xb);
  } else {
    detail::rmsnorm(x, m.rms_final, xb);
  }
  return detail::run_linear(hk, {-1, linear_kind::cls}, xb, m.classifier);
}

}  // namespace tinyllama
