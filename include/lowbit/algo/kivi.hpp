// lowbit/algo/kivi.hpp — KIVI KV cache (jy-yuan/KIVI, arXiv 2402.02750): keys quantized per
// channel in groups of G tokens, values per token, a full-precision residual window of R tokens.
//
//   kivi_cache<uint2> cache({Hkv, d, /*G*/ 32, /*R*/ 128});
//   cache.append(k, v);                  // k, v: T × (Hkv·d), a prompt (T rows) or one token
//   matrix o = cache.attend(q, Hq);      // q: n × (Hq·d), every row attends to the whole cache
//   matrix o = cache.decode(q, k, v, Hq) // one step in the reference order (see below)
//   std::size_t b = cache.bytes();      // memory held, analytic (see "Memory")
//
// Layout: rows are tokens, kv head g occupies columns g·d .. g·d+d−1 (C = Hkv·d channels), as
// in lowbit/algo/attention.hpp; a query head h reads kv head h / (Hq/Hkv) (GQA).
//
// Quantization (convention::kivi, asymmetric, unsigned Format uint2/uint4 (uint8 also works)):
//   levels = 2^b − 1;  s = (hi − lo)/levels;  q = clamp(RNE((x − lo)/s), 0, levels);  x̂ = q·s + lo
//   Keys: one (s, lo) per channel per group of G consecutive tokens (KIVI's per-channel K);
//   values: one (s, lo) per token per `value_group` channels of a head (KIVI's per-token V;
//   value_group = 0 → the whole head, the reference uses G and needs d % G == 0).
//   s and lo are stored in ScaleFormat (default fp16, as the reference's fp16 tensors; float
//   for fp32). lo is rounded toward −inf to ScaleFormat first (so every x ≥ lo), then s is
//   rounded (RNE) to ScaleFormat before any code is computed: x̂ is exactly what is stored.
//   A constant group (hi == lo) gets s = 1 and codes 0, so it reconstructs to lo exactly
//   whenever the constant is representable in ScaleFormat (always for float; e.g. zero padding
//   for fp16) — the reference divides 0/0 there (research/algorithms.md §9 row 9).
//
// FIFO policy (the reference's decode path, models/llama_kivi.py):
//   keys:   new keys go to the full-precision residual; when it holds R keys, all R are
//           quantized (R/G groups, aligned to absolute multiples of G) and the residual empties.
//           So 0..R−1 keys are full precision; quantized keys = floor(N/R)·R.
//   values: new values go to the residual; while it holds more than R, the oldest is quantized
//           (per token). So min(N, R) values are full precision.
//   append() applies the policy immediately; a prompt of T tokens lands in the same state as T
//   single appends (tested bit for bit). decode() follows the reference order for one token:
//   push k, v to the residuals, attend (the newest R-block of keys and R+1 values still in full
//   precision), then apply the policy.
//
// Memory (bytes(), analytic, no container overhead):
//   codes     = n_kgroups · ceil(G·C·b/8) + n_vq · ceil(C·b/8)        (packed, low bits first)
//   scales    = (n_kgroups·C + n_vq·Hkv·d/value_group) · 2 · sizeof(ScaleFormat)  (s and lo)
//   residual  = (residual keys + residual values) · C · 4               (fp32)
//
// Bad input throws lowbit::error: non-positive sizes, R % G != 0, d % value_group != 0,
// appending a k or v whose column count is not Hkv·d or whose row counts differ, non-finite
// values, attending on an empty cache, Hq not a multiple of Hkv or q with the wrong width.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "../format/half.hpp"
#include "../format/int.hpp"
#include "../granularity/granularity.hpp"
#include "../observer/observer.hpp"
#include "../quantize/mapping.hpp"
#include "../rounding/directed.hpp"
#include "../rounding/nearest.hpp"
#include "../quantize/quantizer.hpp"

namespace lowbit {

struct kivi_options {
  int kv_heads = 0;      // Hkv
  int head_dim = 0;      // d
  int group_size = 32;   // G: key tokens per (channel) scale
  int residual = 128;    // R: full-precision window, R % G == 0
  int value_group = 0;   // value channels per (token) scale within a head; 0 = head_dim
  float softmax_scale = 0.0f;  // α; 0 → 1/√d

  int channels() const { return kv_heads * head_dim; }
  int vgroup() const { return value_group > 0 ? value_group : head_dim; }
};

struct kivi_bytes {
  std::size_t codes = 0, scales = 0, residual = 0;
  std::size_t total() const { return codes + scales + residual; }
};

template <class Format = uint2, class ScaleFormat = float16_format>
class kivi_cache {
  static_assert(Format::kind == format_kind::integer && !Format::is_signed,
                "lowbit: kivi_cache stores unsigned codes (uint2, uint4, uint8; see lowbit/algo/kivi.hpp)");
  static_assert(8 % Format::bits == 0, "lowbit: kivi_cache packs 2, 4 or 8-bit codes (see lowbit/algo/kivi.hpp)");
  static_assert(std::is_same_v<ScaleFormat, float> || std::is_same_v<ScaleFormat, float16_format> ||
                    std::is_same_v<ScaleFormat, bfloat16_format>,
                "lowbit: kivi_cache scales are float, float16_format or bfloat16_format (see lowbit/algo/kivi.hpp)");

 public:
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  static constexpr int bits = Format::bits;
  static constexpr int per_byte = 8 / Format::bits;
  static constexpr std::size_t scale_bytes = std::is_same_v<ScaleFormat, float> ? 4 : 2;

  explicit kivi_cache(kivi_options o) : o_(o), q_(quant_options{per_tensor(), mapping::asymmetric, convention::kivi}) {
    LOWBIT_CHECK(o.kv_heads > 0 && o.head_dim > 0 && o.group_size > 0 && o.residual > 0 && o.value_group >= 0,
                 "kivi_cache: kv_heads, head_dim, group_size, residual must be > 0, got ", o.kv_heads, ", ",
                 o.head_dim, ", ", o.group_size, ", ", o.residual);
    LOWBIT_CHECK(o.residual % o.group_size == 0, "kivi_cache: residual R (", o.residual,
                 ") must be a multiple of group_size G (", o.group_size, ")");
    LOWBIT_CHECK(o.head_dim % o.vgroup() == 0, "kivi_cache: value_group (", o.vgroup(), ") must divide head_dim (",
                 o.head_dim, ")");
    LOWBIT_CHECK(std::isfinite(o.softmax_scale) && o.softmax_scale >= 0.0f,
                 "kivi_cache: softmax_scale must be finite and >= 0");
  }

  const kivi_options& options() const { return o_; }
  Eigen::Index size() const { return quantized_keys() + residual_keys(); }
  Eigen::Index quantized_keys() const { return Eigen::Index(kgroups_) * o_.group_size; }
  Eigen::Index residual_keys() const { return Eigen::Index(kres_.size() / std::size_t(o_.channels())); }
  Eigen::Index quantized_values() const { return Eigen::Index(vq_); }
  Eigen::Index residual_values() const { return Eigen::Index(vres_.size() / std::size_t(o_.channels())); }

  void clear() {
    kgroups_ = vq_ = 0;
    kcodes_.clear();
    kscale_.clear();
    kmin_.clear();
    vcodes_.clear();
    vscale_.clear();
    vmin_.clear();
    kres_.clear();
    vres_.clear();
  }

  // Append T tokens (a prompt, or T = 1) and apply the FIFO policy.
  template <class DK, class DV>
  void append(const Eigen::MatrixBase<DK>& k, const Eigen::MatrixBase<DV>& v) {
    push(k, v, "kivi_cache::append");
    flush();
  }

  // One decode step in the reference order: push, attend q (n × Hq·d) over the cache with the
  // new token in full precision, then apply the FIFO policy.
  template <class DQ, class DK, class DV>
  matrix decode(const Eigen::MatrixBase<DQ>& q, const Eigen::MatrixBase<DK>& k, const Eigen::MatrixBase<DV>& v,
                int q_heads) {
    check_query(q, q_heads, "kivi_cache::decode");
    push(k, v, "kivi_cache::decode");
    matrix out = attend(q, q_heads);
    flush();
    return out;
  }

  // softmax(α·q·K̂ᵀ)·V̂ over every cached token for each row of q (n × Hq·d); n × Hq·d.
  // Quantized keys contribute α·(Σ_c q_c·s_c·code_c + Σ_c q_c·lo_c) per group, quantized values
  // Σ_j p_j·(s_j·code_j + lo_j). Codes are expanded one key group / one 64-token value chunk
  // at a time, once for all heads — never into a whole float cache.
  template <class DQ>
  matrix attend(const Eigen::MatrixBase<DQ>& q, int q_heads) const {
    check_query(q, q_heads, "kivi_cache::attend");
    LOWBIT_CHECK(size() > 0, "kivi_cache::attend: the cache is empty");
    using vec = Eigen::Matrix<float, Eigen::Dynamic, 1>;
    using cmap = Eigen::Map<const matrix>;
    const int d = o_.head_dim, C = o_.channels(), G = o_.group_size, group = q_heads / o_.kv_heads;
    const int vg = o_.vgroup(), vgroups = C / vg;
    const float alpha = o_.softmax_scale > 0.0f ? o_.softmax_scale : 1.0f / std::sqrt(float(d));
    const Eigen::Index n = size(), nkq = quantized_keys(), nvq = quantized_values();
    const Eigen::Index nkr = n - nkq, nvr = n - nvq;
    constexpr Eigen::Index chunk = 64;  // value tokens dequantized at a time
    matrix out(q.rows(), q.cols());
    matrix S(q_heads, n);                               // scores, then probabilities, per head
    matrix buf(std::max<Eigen::Index>(G, chunk), C);    // one dequantized key group / value chunk
    std::vector<std::uint8_t> codes(std::size_t(std::max<Eigen::Index>(G, chunk)) * std::size_t(C));
    vec qs(d), qh(d);
    const cmap kres(kres_.data(), nkr, C), vres(vres_.data(), nvr, C);
    for (Eigen::Index r = 0; r < q.rows(); ++r) {
      // Scores of quantized key groups: α·q·(s∘code + lo) = (α·q∘s)·code + α·q·lo.
      for (std::size_t blk = 0; blk < kgroups_; ++blk) {
        unpack(kcodes_.data() + blk * kgroup_bytes(), std::size_t(G) * std::size_t(C), codes.data());
        for (Eigen::Index j = 0; j < G; ++j)
          for (Eigen::Index c = 0; c < C; ++c) buf(j, c) = float(codes[std::size_t(j * C + c)]);
        const cmap s(kscale_.data() + blk * std::size_t(C), 1, C), m(kmin_.data() + blk * std::size_t(C), 1, C);
        for (int h = 0; h < q_heads; ++h) {
          const Eigen::Index c0 = Eigen::Index{h / group} * d;
          qh = alpha * q.row(r).segment(Eigen::Index{h} * d, d).transpose().template cast<float>();
          qs = qh.cwiseProduct(s.row(0).segment(c0, d).transpose());
          const float base = m.row(0).segment(c0, d).dot(qh.transpose());
          S.row(h).segment(Eigen::Index(blk) * G, G).noalias() = (buf.topRows(G).middleCols(c0, d) * qs).transpose();
          S.row(h).segment(Eigen::Index(blk) * G, G).array() += base;
        }
      }
      // Residual keys, softmax.
      for (int h = 0; h < q_heads; ++h) {
        const Eigen::Index c0 = Eigen::Index{h / group} * d;
        qh = alpha * q.row(r).segment(Eigen::Index{h} * d, d).transpose().template cast<float>();
        if (nkr > 0) S.row(h).tail(nkr).noalias() = (kres.middleCols(c0, d) * qh).transpose();
        const float mx = S.row(h).maxCoeff();
        S.row(h) = (S.row(h).array() - mx).exp();
      }
      // P·V: quantized values chunk by chunk (dequantized once for every head), then the residual.
      matrix acc = matrix::Zero(q_heads, d);
      for (Eigen::Index j0 = 0; j0 < nvq; j0 += chunk) {
        const Eigen::Index nc = std::min(chunk, nvq - j0);
        for (Eigen::Index j = 0; j < nc; ++j) {
          unpack(vcodes_.data() + std::size_t(j0 + j) * vtoken_bytes(), std::size_t(C), codes.data());
          const std::size_t sb = std::size_t(j0 + j) * std::size_t(vgroups);
          for (Eigen::Index c = 0; c < C; ++c) {
            const std::size_t gi = sb + std::size_t(c / vg);
            buf(j, c) = vscale_[gi] * float(codes[std::size_t(c)]) + vmin_[gi];
          }
        }
        for (int h = 0; h < q_heads; ++h)
          acc.row(h).noalias() += S.row(h).segment(j0, nc) * buf.topRows(nc).middleCols(Eigen::Index{h / group} * d, d);
      }
      for (int h = 0; h < q_heads; ++h) {
        if (nvr > 0) acc.row(h).noalias() += S.row(h).tail(nvr) * vres.middleCols(Eigen::Index{h / group} * d, d);
        out.row(r).segment(Eigen::Index{h} * d, d) = acc.row(h) / S.row(h).sum();
      }
    }
    return out;
  }

  // The dequantized cache, size() × C (quantized tokens then the residual), for inspection.
  matrix keys() const {
    const int C = o_.channels(), G = o_.group_size;
    matrix k(size(), C);
    std::vector<std::uint8_t> codes(std::size_t(G) * std::size_t(C));
    for (std::size_t blk = 0; blk < kgroups_; ++blk) {
      unpack(kcodes_.data() + blk * kgroup_bytes(), codes.size(), codes.data());
      for (int j = 0; j < G; ++j)
        for (int c = 0; c < C; ++c) {
          const std::size_t si = blk * std::size_t(C) + std::size_t(c);
          k(Eigen::Index(blk) * G + j, c) = kscale_[si] * float(codes[std::size_t(j) * std::size_t(C) + std::size_t(c)]) + kmin_[si];
        }
    }
    for (Eigen::Index j = quantized_keys(); j < size(); ++j)
      for (int c = 0; c < C; ++c) k(j, c) = kres_[std::size_t(j - quantized_keys()) * std::size_t(C) + std::size_t(c)];
    return k;
  }
  matrix values() const {
    const int C = o_.channels(), vg = o_.vgroup();
    matrix v(size(), C);
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(C));
    for (std::size_t j = 0; j < vq_; ++j) {
      unpack(vcodes_.data() + j * vtoken_bytes(), std::size_t(C), codes.data());
      for (int c = 0; c < C; ++c) {
        const std::size_t gi = j * std::size_t(C / vg) + std::size_t(c / vg);
        v(Eigen::Index(j), c) = vscale_[gi] * float(codes[std::size_t(c)]) + vmin_[gi];
      }
    }
    for (Eigen::Index j = quantized_values(); j < size(); ++j)
      for (int c = 0; c < C; ++c)
        v(j, c) = vres_[std::size_t(j - quantized_values()) * std::size_t(C) + std::size_t(c)];
    return v;
  }

  // Stored state, for tests and serialisation: packed codes, scales and offsets (values exact in
  // ScaleFormat, held as float), fp32 residuals.
  const std::vector<std::uint8_t>& key_codes() const { return kcodes_; }
  const std::vector<std::uint8_t>& value_codes() const { return vcodes_; }
  const std::vector<float>& key_scales() const { return kscale_; }   // [group][channel]
  const std::vector<float>& key_offsets() const { return kmin_; }
  const std::vector<float>& value_scales() const { return vscale_; } // [token][head·d/value_group]
  const std::vector<float>& value_offsets() const { return vmin_; }
  const std::vector<float>& residual_key_data() const { return kres_; }
  const std::vector<float>& residual_value_data() const { return vres_; }

  kivi_bytes memory() const {
    kivi_bytes b;
    const std::size_t C = std::size_t(o_.channels());
    b.codes = kgroups_ * kgroup_bytes() + vq_ * vtoken_bytes();
    b.scales = (kgroups_ * C + vq_ * (C / std::size_t(o_.vgroup()))) * 2 * scale_bytes;
    b.residual = (kres_.size() + vres_.size()) * sizeof(float);
    return b;
  }
  std::size_t bytes() const { return memory().total(); }

 private:
  kivi_options o_;
  quantizer<Format, ScaleFormat> q_;  // convention::kivi element primitives
  std::size_t kgroups_ = 0, vq_ = 0;
  std::vector<std::uint8_t> kcodes_, vcodes_;
  std::vector<float> kscale_, kmin_, vscale_, vmin_;
  std::vector<float> kres_, vres_;  // row-major tokens × C

  std::size_t kgroup_bytes() const {
    return (std::size_t(o_.group_size) * std::size_t(o_.channels()) * bits + 7) / 8;
  }
  std::size_t vtoken_bytes() const { return (std::size_t(o_.channels()) * bits + 7) / 8; }

  // Code e of a packed stream lives in byte e / per_byte at bit offset (e % per_byte)·bits.
  static void pack_code(std::vector<std::uint8_t>& out, std::size_t base, std::size_t e, unsigned code) {
    out[base + e / per_byte] |= std::uint8_t((code & Format::code_mask) << ((e % per_byte) * bits));
  }
  static void unpack(const std::uint8_t* in, std::size_t n, std::uint8_t* out) {
    for (std::size_t e = 0; e < n; ++e) out[e] = std::uint8_t((in[e / per_byte] >> ((e % per_byte) * bits)) & Format::code_mask);
  }

  template <class D>
  void check_query(const Eigen::MatrixBase<D>& q, int q_heads, const char* where) const {
    LOWBIT_CHECK(q_heads > 0 && q_heads % o_.kv_heads == 0, where, ": query heads (", q_heads,
                 ") must be a positive multiple of kv heads (", o_.kv_heads, ")");
    LOWBIT_CHECK(q.rows() > 0 && q.cols() == Eigen::Index{q_heads} * o_.head_dim, where, ": q is ", q.rows(), " x ",
                 q.cols(), ", expected n x Hq·d = ", q_heads, "·", o_.head_dim);
    detail::check_finite(q, where, "query value");
  }

  template <class DK, class DV>
  void push(const Eigen::MatrixBase<DK>& k, const Eigen::MatrixBase<DV>& v, const char* where) {
    const Eigen::Index C = o_.channels();
    LOWBIT_CHECK(k.cols() == C && v.cols() == C, where, ": k is ", k.rows(), " x ", k.cols(), " and v is ", v.rows(),
                 " x ", v.cols(), ", expected T x Hkv·d = T x ", o_.kv_heads, "·", o_.head_dim);
    LOWBIT_CHECK(k.rows() == v.rows() && k.rows() > 0, where, ": k has ", k.rows(), " tokens and v has ", v.rows(),
                 " (must be equal and > 0)");
    for (Eigen::Index i = 0; i < k.rows(); ++i)
      for (Eigen::Index j = 0; j < C; ++j)
        LOWBIT_CHECK(std::isfinite(static_cast<float>(k(i, j))) && std::isfinite(static_cast<float>(v(i, j))), where,
                     ": non-finite k or v at token ", i, ", channel ", j);
    for (Eigen::Index i = 0; i < k.rows(); ++i)
      for (Eigen::Index j = 0; j < C; ++j) {
        kres_.push_back(static_cast<float>(k(i, j)));
        vres_.push_back(static_cast<float>(v(i, j)));
      }
  }

  // Parameters of a group with range [lo, hi]: lo rounded toward −inf into ScaleFormat, then
  // the quantizer's convention::kivi rule (s = (hi − lo)/levels in ScaleFormat, s = 1 if 0).
  block_params group_params(float lo, float hi) const {
    if constexpr (!std::is_same_v<ScaleFormat, float>) lo = ::lowbit::decode<ScaleFormat>(::lowbit::encode<ScaleFormat, round_down>(lo));
    return q_.block_from_range({lo, hi});
  }

  void flush() {
    const std::size_t C = std::size_t(o_.channels()), R = std::size_t(o_.residual), G = std::size_t(o_.group_size);
    // Keys: quantize whole R-blocks.
    std::size_t done = 0;
    const std::size_t nres = kres_.size() / C;
    while (nres - done >= R) {
      for (std::size_t g0 = done; g0 < done + R; g0 += G) {
        const std::size_t base = kcodes_.size();
        kcodes_.resize(base + kgroup_bytes(), 0);
        for (std::size_t c = 0; c < C; ++c) {
          float lo = kres_[g0 * C + c], hi = lo;
          for (std::size_t j = 1; j < G; ++j) {
            lo = std::fmin(lo, kres_[(g0 + j) * C + c]);
            hi = std::fmax(hi, kres_[(g0 + j) * C + c]);
          }
          const block_params b = group_params(lo, hi);
          kscale_.push_back(b.scale);
          kmin_.push_back(b.zero);
          for (std::size_t j = 0; j < G; ++j)
            pack_code(kcodes_, base, j * C + c, q_.encode_value(kres_[(g0 + j) * C + c], b));
        }
        ++kgroups_;
      }
      done += R;
    }
    kres_.erase(kres_.begin(), kres_.begin() + std::ptrdiff_t(done * C));
    // Values: quantize the oldest tokens while more than R are held.
    const std::size_t vres = vres_.size() / C, vg = std::size_t(o_.vgroup());
    const std::size_t pop = vres > R ? vres - R : 0;
    for (std::size_t t = 0; t < pop; ++t) {
      const std::size_t base = vcodes_.size();
      vcodes_.resize(base + vtoken_bytes(), 0);
      for (std::size_t c0 = 0; c0 < C; c0 += vg) {
        float lo = vres_[t * C + c0], hi = lo;
        for (std::size_t c = c0 + 1; c < c0 + vg; ++c) {
          lo = std::fmin(lo, vres_[t * C + c]);
          hi = std::fmax(hi, vres_[t * C + c]);
        }
        const block_params b = group_params(lo, hi);
        vscale_.push_back(b.scale);
        vmin_.push_back(b.zero);
        for (std::size_t c = c0; c < c0 + vg; ++c) pack_code(vcodes_, base, c, q_.encode_value(vres_[t * C + c], b));
      }
      ++vq_;
    }
    vres_.erase(vres_.begin(), vres_.begin() + std::ptrdiff_t(pop * C));
  }
};

// Causal attention of a whole window through a KIVI cache, one token at a time in the
// reference decode order: row t is cache.decode(q_t, k_t, v_t) after tokens 0..t−1 went
// through the same steps, so it sees exactly the quantized state decoding would give (the
// tiny-Llama hooks::attention form). q: T × Hq·d, k, v: T × Hkv·d; returns T × Hq·d.
template <class Format = uint2, class ScaleFormat = float16_format, class DQ, class DK, class DV>
Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> kivi_attention(
    const Eigen::MatrixBase<DQ>& q, const Eigen::MatrixBase<DK>& k, const Eigen::MatrixBase<DV>& v, int q_heads,
    const kivi_options& o) {
  LOWBIT_CHECK(q.rows() == k.rows(), "kivi_attention: q has ", q.rows(), " tokens, k has ", k.rows());
  kivi_cache<Format, ScaleFormat> cache(o);
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out(q.rows(), q.cols());
  for (Eigen::Index t = 0; t < q.rows(); ++t) out.row(t) = cache.decode(q.row(t), k.row(t), v.row(t), q_heads);
  return out;
}

}  // namespace lowbit
