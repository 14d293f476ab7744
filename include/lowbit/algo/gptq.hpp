// lowbit/algo/gptq.hpp — GPTQ (Frantar et al., ICLR 2023), generic over every format.
//
//   quantizer<uint4> q({per_group(128), mapping::asymmetric, convention::gptq, minmax_observer()});
//   gptq_result<uint4> r = gptq(W, H, q);          // W: N × K (out × in), H: K × K
//   r.weight   codes N × K in the ORIGINAL column order + qparams (grid rows × groups)
//   r.g_idx    group (scale column) of each original column;  r.perm  processing order
//   r.Q        dequantized weights (N × K, original order);    r.loss  tr((W−Q)H(W−Q)ᵀ)
//
// Steps (IST-DASLab/gptq fasterquant, research/algorithms.md §1.2):
//  1. no groups (granularity without a K block): parameters fitted on the original W
//  2. dead columns diag(H) = 0: H_dd = 1, W[:, d] = 0 (they quantize to an exact 0 column)
//  3. static_groups: every group's parameters fitted up front on the dead-zeroed W
//  4. act_order: columns processed by descending diag(H) (stable sort), perm returned
//  5. damping λ = percdamp · mean(diag H) added to the diagonal
//  6. the reference's U (upper, H⁻¹ = UᵀU) is never formed: one Cholesky gives R upper with
//     H = R·Rᵀ, U = R⁻¹ (detail::reversed_cholesky; float64 by default, see below)
//  7. per column k (blocks of block_size, lazy update of the columns after the block as one
//     GEMM): the reference's q = Q(w_k), e = (w_k − q)/U_kk, w_j −= e·U_kj for j > k, run as
//     q = Q(w_k), d = W'_k − q, w_j += d·R_kj/R_jj (the same w_k in exact arithmetic)
//     dynamic groups are fitted when k % G == 0 on the columns [k, k+G):
//       gptq_mode::reference  reads the global W, which lacks the updates made inside the
//                             current block (the reference's quirk when G < block_size, §1.4)
//                             and, for convention::gptq symmetric, keeps the reference's
//                             range [0, max] for a row with no negative value (§9 #15)
//       gptq_mode::corrected  reads the fully updated columns (the result then does not depend
//                             on block_size) and uses the quantizer's mirrored range
//  8. act_order: everything is returned in the original column order
// The quantizer's granularity gives the groups: G = block_cols (0: no groups), block_rows
// rows share a scale (1 = per output channel, 0 = all rows). Parameters are fitted with the
// quantizer itself (observer, mapping, convention, scale format), the NVFP4 tensor scale is
// computed once from the whole W and held fixed. Elements use q.encode_value/decode_value.
// With clip_search, or the §9 #15 reference range, blocks are fitted here from the quantizer's
// observer range (tail::pad zeros are not added to a short last group there).
//
// loss = tr((W−Q)H(W−Q)ᵀ) for the H passed in, from the identity W' − Q = E·U (E the scaled
// errors e_k = (w_k − q_k)·R_kk): tr((W'−Q)(H+λI)(W'−Q)ᵀ) = ‖E‖², so loss = ‖E‖² − λ‖W'−Q‖²
// (no extra K² work).
// layer_loss() computes the same trace directly (float64).
//
// Failure path (info in the result, never NaN): if the Cholesky fails, percdamp grows by
// damp_increment while it is below max_percdamp (GPTQModel's recovery); status = fallback.
// If it never succeeds, or mean(diag H) ≤ 0, or the loop produced a non-finite value, the
// result is round-to-nearest q.quantize(W) with status = numerical_issue.
// Bad input (lowbit::error): empty W, H not K × K, NaN/Inf in W or H, group size > K,
// a granularity that cannot tile W (tail::exact), bad option values.
//
// Memory: W' and the corrections (2·N·K floats), Q and codes in processing order and in the
// original order (2·N·K floats, 2·N·K codes), H and Rs (2·K² floats), the float64 factor (K²
// doubles, while factoring), one N × block_size block of D: O(K² + N·K).
// Time: ≈ N·K²/2 (lazy GEMMs) + K³/6 (one Cholesky) multiply-adds; the reference's route (chol,
// cholesky_inverse, chol) costs ≈ K³/2 and lowbit's earlier chol + triangular inverse K³/3.
//
// Precision (bench/algo/gptq_vs_torch.py, 4096 × 4096, W4 g128, codes identical to the
// reference run in float64, i.e. to the algorithm without float32 rounding): the reference
// itself in float32 99.40 %; lowbit with the float64 factor 99.986 %, with a float32 factor
// 99.66 % (the float32 Cholesky's error grows with cond(H), see the factor test). The loop is
// float32 either way; the float64 factor costs ≈ 10 % more time and is the default.
// Speed (same script, one thread, medians of 3, CPU time; 2-core machine shared at load ≈ 7):
// lowbit 3.40 s vs the torch 2.15 reference 8.87 s (2.61×; float32 factor 3.73×); in units of
// one 4096³ float GEMM of the same run, 1.75 vs 4.56. Before this route: 1.73× (float64).
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "../observer/observer.hpp"
#include "../quantize/quantizer.hpp"
#include "hessian.hpp"

namespace lowbit {

enum class gptq_mode { reference, corrected };

struct gptq_options {
  Eigen::Index block_size = 128;  // lazy-update block (B)
  double percdamp = 0.01;         // λ = percdamp · mean(diag H)
  bool act_order = false;         // descending diag(H)
  bool static_groups = false;     // group parameters fixed before the loop (g_idx = j / G)
  gptq_mode mode = gptq_mode::reference;
  // quant.py mse=True: per block, shrink the range by p = 1 − i/clip_grid,
  // i < clip_max_shrink·clip_grid, keep the p with the least Σ|x − x̂|^clip_norm.
  bool clip_search = false;
  double clip_norm = 2.4;
  int clip_grid = 100;
  double clip_max_shrink = 0.8;
  // Failure path: percdamp += damp_increment while percdamp < max_percdamp, then RTN.
  double damp_increment = 0.01;
  double max_percdamp = 1.0;
  bool factor_in_double = true;   // Cholesky and triangular inverse in float64 (else float32)
};

template <class Format>
struct gptq_result {
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  quantized<Format> weight;           // codes N × K (original order); params grid rows × groups
  std::vector<Eigen::Index> g_idx;    // K: params column of original column j
  std::vector<Eigen::Index> perm;     // K: perm[k] = original column processed k-th
  matrix Q;                           // dequantized, N × K, original column order
  double loss = 0.0;                  // tr((W − Q) H (W − Q)ᵀ), H as given
  double percdamp = 0.0;              // relative damping actually used
  double damp = 0.0;                  // absolute λ added to the diagonal
  Eigen::Index dead_columns = 0;
  info status = info::success;
};

// tr((W − Q) H (W − Q)ᵀ) in float64. W, Q: N × K; H: K × K.
template <class DW, class DQ, class DH>
double layer_loss(const Eigen::MatrixBase<DW>& W, const Eigen::MatrixBase<DQ>& Q, const Eigen::MatrixBase<DH>& H) {
  LOWBIT_CHECK(W.rows() == Q.rows() && W.cols() == Q.cols(), "layer_loss: W is ", W.rows(), " x ", W.cols(),
               ", Q is ", Q.rows(), " x ", Q.cols());
  LOWBIT_CHECK(H.rows() == W.cols() && H.cols() == W.cols(), "layer_loss: H is ", H.rows(), " x ", H.cols(),
               ", expected ", W.cols(), " x ", W.cols());
  const Eigen::MatrixXd D = W.template cast<double>() - Q.template cast<double>();
  const Eigen::MatrixXd Hd = H.template cast<double>();
  const Eigen::MatrixXd DtH = D * Hd;
  return DtH.cwiseProduct(D).sum();
}

// Dequantize GPTQ codes whose scale column is chosen per original column by g_idx (act-order
// with dynamic groups stores groups of permuted columns: g_idx is then not j / G).
template <class F, class SF, class R>
Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> gptq_dequantize(
    const quantizer<F, SF, R>& q, const quantized<F>& w, const std::vector<Eigen::Index>& g_idx) {
  const qparams& p = w.params;
  LOWBIT_CHECK(Eigen::Index(g_idx.size()) == w.cols(), "gptq_dequantize: g_idx has ", g_idx.size(),
               " entries, the weight has ", w.cols(), " columns");
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> y(w.rows(), w.cols());
  for (Eigen::Index j = 0; j < w.cols(); ++j)
    LOWBIT_CHECK(g_idx[std::size_t(j)] >= 0 && g_idx[std::size_t(j)] < p.scale.cols(), "gptq_dequantize: g_idx[", j,
                 "] = ", g_idx[std::size_t(j)], " outside [0, ", p.scale.cols(), ")");
  for (Eigen::Index i = 0; i < w.rows(); ++i)
    for (Eigen::Index j = 0; j < w.cols(); ++j) {
      block_params b;
      const Eigen::Index gi = p.block_row(i), gj = g_idx[std::size_t(j)];
      b.scale = p.scale(gi, gj);
      b.tensor = p.tensor_scale;
      b.eff = b.scale * p.tensor_scale;
      if (p.zeros != zero_kind::none) b.zero = p.zero(gi, gj);
      y(i, j) = q.decode_value(w.codes(i, j), b);
    }
  return y;
}

namespace detail {

// The factor GPTQ's loop runs on, from ONE Cholesky and no inverse. With J the reversal
// permutation, J·H·J = L·Lᵀ (L lower) gives H = R·Rᵀ with R = J·L·J upper, so the reference's
// U (upper, H⁻¹ = UᵀU, torch cholesky(cholesky_inverse(cholesky(H)), upper=True)) is U = R⁻¹.
// From E·U = W' − Q (E the scaled errors e_k = (w_k − q_k)/U_kk, W' the input weights, D = W' − Q)
// follows E = D·R, and the weight column k reached after the updates of columns j < k is
//   w_k = W'_k − Σ_{j<k} e_j U_jk = W'_k + Σ_{j<k} d_j R_jk / R_kk,   e_k = (w_k − q_k)·R_kk
// (U_kk·R_kk = 1): the loop needs only Rs = R·diag(R)⁻¹ (unit diagonal) and diag(R).
// Storage: with column-major A, J·A·J is A's buffer reversed, so both copies stream.
// Rs: K × K column-major float, upper part (the strictly lower part is set to 0); rdiag = diag(R).
// Returns false when H is not numerically positive definite.
template <class S>
bool reversed_cholesky(const Eigen::MatrixXf& H, Eigen::MatrixXf& Rs, Eigen::VectorXf& rdiag) {
  using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  const Eigen::Index K = H.rows(), K2 = K * K;
  M A(K, K);
  const float* h = H.data();
  S* a = A.data();
  for (Eigen::Index p = 0; p < K2; ++p) a[p] = S(h[K2 - 1 - p]);  // A = J·H·J
  Eigen::LLT<Eigen::Ref<M>, Eigen::Lower> llt(A);
  if (llt.info() != Eigen::Success) return false;
  Rs.resize(K, K);
  rdiag.resize(K);
  for (Eigen::Index j = 0; j < K; ++j) {  // column j of R = column K−1−j of L, reversed
    const S* l = A.data() + (K - 1 - j) * K;  // R(i, j) = l[K − 1 − i], i ≤ j
    const S d = l[K - 1 - j];
    if (!(d > S(0)) || !std::isfinite(double(d))) return false;
    const S inv = S(1) / d;
    float* r = Rs.data() + j * K;
    for (Eigen::Index i = 0; i < j; ++i) {
      r[i] = float(l[K - 1 - i] * inv);
      if (!std::isfinite(r[i])) return false;
    }
    r[j] = 1.0f;
    std::fill(r + j + 1, r + K, 0.0f);
    rdiag(j) = float(d);
  }
  return true;
}

// dst = src (any Eigen expression) into a column-major matrix; a row-major source is copied in
// cache-sized tiles (a plain assignment walks it with a stride of one row per element).
template <class Src, class Dst>
void copy_to_col_major(const Src& src, Dst& dst) {
  dst.resize(src.rows(), src.cols());
  if constexpr (!Src::IsRowMajor) {
    dst = src.template cast<typename Dst::Scalar>();
  } else {
    constexpr Eigen::Index T = 32;
    for (Eigen::Index j0 = 0; j0 < src.cols(); j0 += T)
      for (Eigen::Index i0 = 0; i0 < src.rows(); i0 += T) {
        const Eigen::Index i1 = std::min(src.rows(), i0 + T), j1 = std::min(src.cols(), j0 + T);
        for (Eigen::Index j = j0; j < j1; ++j)
          for (Eigen::Index i = i0; i < i1; ++i) dst(i, j) = typename Dst::Scalar(src(i, j));
      }
  }
}

// dst(i, perm[k]) = src(i, k): column-major src to row-major dst, in cache-sized tiles.
template <class Src, class Dst>
void unpermute_to_row_major(const Src& src, const std::vector<Eigen::Index>& perm, Dst& dst) {
  constexpr Eigen::Index T = 32;
  for (Eigen::Index i0 = 0; i0 < src.rows(); i0 += T)
    for (Eigen::Index k0 = 0; k0 < src.cols(); k0 += T) {
      const Eigen::Index i1 = std::min(src.rows(), i0 + T), k1 = std::min(src.cols(), k0 + T);
      for (Eigen::Index i = i0; i < i1; ++i)
        for (Eigen::Index k = k0; k < k1; ++k) dst(i, perm[std::size_t(k)]) = src(i, k);
    }
}

}  // namespace detail

template <class F, class SF, class R, class DW, class DH>
gptq_result<F> gptq(const Eigen::MatrixBase<DW>& W_in, const Eigen::MatrixBase<DH>& H_in, const quantizer<F, SF, R>& q,
                    const gptq_options& opt = {}) {
  using colmat = Eigen::MatrixXf;
  using rowmat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Index = Eigen::Index;
  const Index N = W_in.rows(), K = W_in.cols();
  const granularity gran = q.options().gran;

  // ---- validation ------------------------------------------------------------------------
  LOWBIT_CHECK(N > 0 && K > 0, "gptq: empty weight (", N, " x ", K, ")");
  LOWBIT_CHECK(H_in.rows() == K && H_in.cols() == K, "gptq: H is ", H_in.rows(), " x ", H_in.cols(),
               ", the weight has K = ", K, " columns: expected ", K, " x ", K);
  gran.check(N, K, "gptq");
  LOWBIT_CHECK(gran.block_cols <= K, "gptq: group size ", gran.block_cols, " is larger than K = ", K);
  LOWBIT_CHECK(opt.block_size > 0, "gptq: block_size must be > 0, got ", opt.block_size);
  LOWBIT_CHECK(std::isfinite(opt.percdamp) && opt.percdamp >= 0, "gptq: percdamp must be finite and >= 0, got ",
               opt.percdamp);
  LOWBIT_CHECK(std::isfinite(opt.damp_increment) && opt.damp_increment >= 0,
               "gptq: damp_increment must be finite and >= 0");
  LOWBIT_CHECK(std::isfinite(opt.max_percdamp) && opt.max_percdamp >= 0, "gptq: max_percdamp must be finite and >= 0, ",
               "got ", opt.max_percdamp);
  // each retry is a Cholesky of K × K: a step too small to reach max_percdamp in 10^4 retries
  // (or to change percdamp at all) would run for hours or forever
  LOWBIT_CHECK(opt.damp_increment == 0 || (opt.max_percdamp - opt.percdamp) / opt.damp_increment <= 1e4,
               "gptq: damp_increment ", opt.damp_increment, " takes more than 10000 retries from percdamp ",
               opt.percdamp, " to max_percdamp ", opt.max_percdamp);
  LOWBIT_CHECK(!opt.clip_search || (opt.clip_grid > 0 && opt.clip_max_shrink > 0 && opt.clip_max_shrink <= 1 &&
                                    opt.clip_norm > 0),
               "gptq: clip search needs clip_grid > 0, 0 < clip_max_shrink <= 1, clip_norm > 0");
  colmat W0;  // becomes W' (dead columns zeroed, processing order); never updated
  colmat Hp;  // becomes H (dead diagonal 1, processing order)
  detail::copy_to_col_major(W_in, W0);
  detail::copy_to_col_major(H_in, Hp);
  detail::check_finite(W0, "gptq", "weight");
  detail::check_finite(Hp, "gptq", "Hessian entry");

  const bool grouped = gran.block_cols > 0;
  const Index G = grouped ? gran.block_cols : K;
  const Index ngroups = (K + G - 1) / G;
  const Index br = gran.block_rows;                       // 0 = all rows share
  const Index grid_rows = gran.grid_rows(N);
  const Index rows_per_block = gran.rows_per_block(N);
  const Index panel = br == 0 ? N : br * std::max<Index>(1, 64 / br);

  // Tensor scale (NVFP4): once, from the whole original W.
  float t = 1.0f;
  if (q.uses_tensor_scale()) {
    const Eigen::MatrixXf zero_grid = Eigen::MatrixXf::Zero(grid_rows, gran.grid_cols(K));
    t = q.from_ranges(N, K, zero_grid, zero_grid, W0.cwiseAbs().maxCoeff()).tensor_scale;
  }
  quant_options so = q.options();
  so.gran = granularity{br, grouped ? G : 0, gran.tail_rule};
  if (q.uses_tensor_scale()) so.fixed_tensor_scale = t;
  const quantizer<F, SF, R> qs(so);

  gptq_result<F> res;
  auto rtn = [&](info status) {
    const colmat Wf = W_in.template cast<float>();
    const colmat Hf = H_in.template cast<float>();
    res.weight = q.quantize(Wf);
    res.Q = q.dequantize(res.weight);
    res.g_idx.resize(std::size_t(K));
    res.perm.resize(std::size_t(K));
    for (Index j = 0; j < K; ++j) {
      res.g_idx[std::size_t(j)] = res.weight.params.block_col(j);
      res.perm[std::size_t(j)] = j;
    }
    res.loss = layer_loss(Wf, res.Q, Hf);
    res.status = status;
    return res;
  };

  // ---- parameters of one column slice ------------------------------------------------------
  qparams P;  // result parameters, grid rows × groups
  P.gran = gran;
  P.rows = N;
  P.cols = K;
  P.zeros = q.zeros();
  P.tensor_scale = q.uses_tensor_scale() ? t : 1.0f;
  P.scale.setOnes(grid_rows, ngroups);
  if (P.zeros != zero_kind::none) P.zero.setZero(grid_rows, ngroups);

  constexpr bool is_int = quantizer<F, SF, R>::is_integer;
  const bool sym = q.options().map == mapping::symmetric;
  const bool quirk15 = is_int && sym && q.options().conv == convention::gptq && opt.mode == gptq_mode::reference;
  const bool custom = opt.clip_search || quirk15;
  std::vector<float> buf;

  // Block parameters for the observed range [lo, hi] shrunk by p; mn = min of the block values.
  auto candidate = [&](value_range r, float p, float mn) -> block_params {
    const float lo = r.lo * p, hi = r.hi * p;
    if constexpr (is_int) {
      if (quirk15 && mn >= 0.0f && hi > 0.0f) {  // reference: xmin = 0 is not mirrored
        block_params b;
        b.scale = detail::store_scale<SF>(hi / float(F::max_int));
        b.tensor = t;
        b.eff = b.scale * t;
        b.zero = float((F::max_int + 1) / 2);
        return b;
      }
    }
    return q.block_from_range({lo, hi}, t);
  };
  auto custom_block = [&](const std::vector<float>& v) -> block_params {
    const Index n = Index(v.size());
    float mn = v.empty() ? 0.0f : v[0];
    for (float x : v) mn = std::fmin(mn, x);
    auto err = [&](const value_range& r, double norm) {
      const block_params b = q.block_from_range(r, t);
      double e = 0;
      for (float x : v) e += std::pow(std::fabs(double(x) - double(q.decode_value(q.encode_value(x, b), b))), norm);
      return e;
    };
    const value_range r0 = observe(q.options().obs, v.data(), nullptr, n, sym, err);
    if (!opt.clip_search) return candidate(r0, 1.0f, mn);
    block_params best = candidate(r0, 1.0f, mn);
    double best_err = INFINITY;
    const int steps = int(opt.clip_max_shrink * opt.clip_grid);
    for (int i = 0; i < steps; ++i) {
      const float p = float(1.0 - double(i) / opt.clip_grid);
      const block_params b = candidate(r0, p, mn);
      double e = 0;
      for (float x : v) {
        const double d = std::fabs(double(q.decode_value(q.encode_value(x, b), b)) - double(x));
        e += opt.clip_norm == 2.0 ? d * d : std::pow(d, opt.clip_norm);
      }
      if (e < best_err) {
        best_err = e;
        best = b;
      }
    }
    return best;
  };
  // Fit group g on rows [r0, r0 + X.rows()) of slice X; false if X holds a non-finite value.
  auto fit_slice = [&](const auto& X, Index r0, Index g) -> bool {
    if (!detail::all_finite(X)) return false;
    const Index rows = X.rows();
    if (!custom) {
      const qparams p = qs.fit(X);
      for (Index bi = 0; bi < p.scale.rows(); ++bi) {
        const Index gi = r0 / rows_per_block + bi;
        P.scale(gi, g) = p.scale(bi, 0);
        if (P.zeros != zero_kind::none) P.zero(gi, g) = p.zero(bi, 0);
      }
      return true;
    }
    const Index rb = br == 0 ? rows : br;
    for (Index b0 = 0; b0 < rows; b0 += rb) {
      const Index b1 = std::min(rows, b0 + rb);
      buf.clear();
      for (Index i = b0; i < b1; ++i)
        for (Index j = 0; j < X.cols(); ++j) buf.push_back(X(i, j));
      const block_params b = custom_block(buf);
      const Index gi = (r0 + b0) / rows_per_block;
      P.scale(gi, g) = b.scale;
      if (P.zeros != zero_kind::none) P.zero(gi, g) = b.zero;
    }
    return true;
  };
  auto params_at = [&](Index gi, Index g) {
    block_params b;
    b.scale = P.scale(gi, g);
    b.tensor = P.tensor_scale;
    b.eff = b.scale * P.tensor_scale;
    if (P.zeros != zero_kind::none) b.zero = P.zero(gi, g);
    return b;
  };

  // ---- 1. no groups: fit on the original W --------------------------------------------------
  if (!grouped) {
    for (Index r0 = 0; r0 < N; r0 += panel) {
      const Index pr = std::min(panel, N - r0);
      fit_slice(W0.middleRows(r0, pr), r0, 0);
    }
  }

  // ---- 2. dead columns ----------------------------------------------------------------------
  Index dead = 0;
  for (Index j = 0; j < K; ++j)
    if (Hp(j, j) == 0.0f) {
      Hp(j, j) = 1.0f;
      W0.col(j).setZero();
      ++dead;
    }
  res.dead_columns = dead;

  // ---- 3. static groups -----------------------------------------------------------------------
  const bool static_groups = grouped && opt.static_groups;
  if (static_groups) {
    for (Index g = 0; g < ngroups; ++g)
      for (Index r0 = 0; r0 < N; r0 += panel) {
        const Index pr = std::min(panel, N - r0);
        fit_slice(W0.block(r0, g * G, pr, std::min(G, K - g * G)), r0, g);
      }
  }

  // ---- 4. act order --------------------------------------------------------------------------
  std::vector<Index> perm(static_cast<std::size_t>(K));
  std::iota(perm.begin(), perm.end(), Index(0));
  if (opt.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](Index a, Index b) { return Hp(a, a) > Hp(b, b); });
    colmat tmp = W0;
    for (Index k = 0; k < K; ++k) W0.col(k) = tmp.col(perm[std::size_t(k)]);
    tmp = Hp;
    for (Index k = 0; k < K; ++k)
      for (Index l = 0; l < K; ++l) Hp(l, k) = tmp(perm[std::size_t(l)], perm[std::size_t(k)]);
  }

  // ---- 5./6. damping and the factor R (H + λI = R·Rᵀ), with the recovery path -----------------
  double mean_diag = 0;
  for (Index k = 0; k < K; ++k) mean_diag += double(Hp(k, k));
  mean_diag /= double(K);
  if (!(mean_diag > 0) || !std::isfinite(mean_diag)) return rtn(info::numerical_issue);
  colmat Rs;
  Eigen::VectorXf rdiag;
  double pd = opt.percdamp;
  bool ok = false, escalated = false;
  while (true) {
    const float lambda = float(pd * mean_diag);
    for (Index k = 0; k < K; ++k) Hp(k, k) += lambda;
    ok = opt.factor_in_double ? detail::reversed_cholesky<double>(Hp, Rs, rdiag)
                              : detail::reversed_cholesky<float>(Hp, Rs, rdiag);
    for (Index k = 0; k < K; ++k) Hp(k, k) -= lambda;
    if (ok) {
      res.damp = double(lambda);
      break;
    }
    if (!(opt.damp_increment > 0) || !(pd + opt.damp_increment > pd)) break;  // no step: no retry
    pd += opt.damp_increment;
    escalated = true;
    if (!(pd < opt.max_percdamp)) break;
  }
  if (!ok) return rtn(info::numerical_issue);
  res.percdamp = pd;
  colmat().swap(Hp);

  // ---- 7. the column loop ----------------------------------------------------------------------
  // W0 holds W', Cw the corrections: Cw_k = Σ_{j<k} d_j·Rs_jk once columns j < k are done, so the
  // weight quantized at column k is w_k = W'_k + Cw_k (detail::reversed_cholesky); D holds the
  // block's D = W' − Q, and the lazy update of the columns after a block is Cw += D·Rs (one GEMM).
  // Part-updated columns (dynamic group fits) are the reference's W' − E·U over the updates of
  // columns j < m: with R's block T = Rs[m:c, m:c] (unit upper), W'[:, m:c] + Cw[:, m:c]·T⁻¹.
  // Codes and Q column-major in processing order while the loop runs (contiguous writes).
  using storage_t = typename quantized<F>::code_matrix::Scalar;
  Eigen::Matrix<storage_t, Eigen::Dynamic, Eigen::Dynamic> Cp(N, K);
  colmat Qp(N, K);
  colmat Cw = colmat::Zero(N, K);
  const Index B = opt.block_size;
  colmat W1, D(N, std::min(B, K)), tmp;
  rowmat Rb;   // Rs[i1:i2, i1:i2], row-major: the in-block updates read its rows
  // W'[r0 +: pr, k:kend] + X·Rs[m:kend, m:kend]⁻¹, X = corrections of columns [m, kend).
  auto part_updated = [&](colmat& X, Index r0, Index pr, Index m, Index k, Index kend) {
    Rs.block(m, m, kend - m, kend - m).template triangularView<Eigen::UnitUpper>().template solveInPlace<Eigen::OnTheRight>(X);
    tmp = W0.block(r0, k, pr, kend - k) + X.rightCols(kend - k);
    return fit_slice(tmp, r0, k / G);
  };
  colmat X;
  Eigen::VectorXf dcol;
  std::vector<block_params> bp(static_cast<std::size_t>(panel));
  double sum_e2 = 0, dq2 = 0;  // ‖E‖², ‖W' − Q‖²
  bool finite = true;

  for (Index i1 = 0; i1 < K && finite; i1 += B) {
    const Index i2 = std::min(K, i1 + B), bw = i2 - i1;
    Rb = Rs.block(i1, i1, bw, bw);
    for (Index r0 = 0; r0 < N && finite; r0 += panel) {
      const Index pr = std::min(panel, N - r0);
      W1 = Cw.block(r0, i1, pr, bw);
      Index cur_group = -1;
      for (Index c = 0; c < bw; ++c) {
        const Index k = i1 + c;
        Index g;
        if (!grouped) {
          g = 0;
        } else if (static_groups) {
          g = perm[std::size_t(k)] / G;
        } else {
          g = k / G;
          if (k % G == 0) {
            const Index kend = std::min(K, k + G);
            bool fitted;
            if (opt.mode == gptq_mode::reference) {  // the global W: updates of the blocks before
              X = Cw.block(r0, i1, pr, kend - i1);
              fitted = part_updated(X, r0, pr, i1, k, kend);
            } else {  // every column j < k
              X.resize(pr, kend - k);
              const Index in_block = std::min(kend, i2) - k;
              X.leftCols(in_block) = W1.middleCols(c, in_block);
              if (kend > i2) {
                X.rightCols(kend - i2) = Cw.block(r0, i2, pr, kend - i2);
                if (c > 0)
                  X.rightCols(kend - i2).noalias() += D.block(r0, 0, pr, c) * Rs.block(i1, i2, c, kend - i2);
              }
              fitted = part_updated(X, r0, pr, k, k, kend);
            }
            if (!fitted) {
              finite = false;
              break;
            }
            cur_group = -1;
          }
        }
        if (g != cur_group) {
          for (Index r = 0; r < pr; ++r) bp[std::size_t(r)] = params_at((r0 + r) / rows_per_block, g);
          cur_group = g;
        }
        const float rk = rdiag(k);  // = 1 / U_kk
        const Index col = perm[std::size_t(k)];
        const float* w0 = &W0(r0, k);
        dcol.resize(pr);
        for (Index r = 0; r < pr; ++r) {
          const float w = w0[r] + W1(r, c);
          const block_params& b = bp[std::size_t(r)];
          const auto code = q.encode_value(w, b, std::uint64_t(r0 + r) * std::uint64_t(K) + std::uint64_t(col));
          const float qv = q.decode_value(code, b);
          Cp(r0 + r, k) = code;
          Qp(r0 + r, k) = qv;
          const float er = (w - qv) * rk, dr = w0[r] - qv;
          dcol(r) = dr;
          sum_e2 += double(er) * double(er);
          dq2 += double(dr) * double(dr);
        }
        D.block(r0, c, pr, 1) = dcol;
        const Index rem = bw - c - 1;
        if (rem > 0) W1.rightCols(rem).noalias() += dcol * Rb.block(c, c + 1, 1, rem);
      }
    }
    if (!finite) break;
    if (i2 < K) Cw.rightCols(K - i2).noalias() += D.leftCols(bw) * Rs.block(i1, i2, bw, K - i2);
  }
  if (!finite || !std::isfinite(sum_e2) || !detail::all_finite(Qp)) return rtn(info::numerical_issue);

  // ---- 8. results in the original order --------------------------------------------------------
  res.loss = sum_e2 - res.damp * dq2;
  res.Q.resize(N, K);
  res.weight.codes.resize(N, K);
  detail::unpermute_to_row_major(Qp, perm, res.Q);
  detail::unpermute_to_row_major(Cp, perm, res.weight.codes);
  res.weight.params = std::move(P);
  res.perm = perm;
  res.g_idx.resize(std::size_t(K));
  for (Index k = 0; k < K; ++k) {
    const Index col = perm[std::size_t(k)];
    res.g_idx[std::size_t(col)] = !grouped ? 0 : (static_groups ? col / G : k / G);
  }
  res.status = escalated ? info::fallback : info::success;
  return res;
}

// Same, with the Hessian taken from a streaming accumulator (throws on zero samples).
template <class F, class SF, class R, class DW, class S>
gptq_result<F> gptq(const Eigen::MatrixBase<DW>& W, const hessian_accumulator<S>& h, const quantizer<F, SF, R>& q,
                    const gptq_options& opt = {}) {
  LOWBIT_CHECK(h.channels() == W.cols(), "gptq: the Hessian accumulator has ", h.channels(),
               " channels, the weight has K = ", W.cols());
  const Eigen::MatrixXf H = h.matrix();
  return gptq(W, H, q, opt);
}

}  // namespace lowbit
