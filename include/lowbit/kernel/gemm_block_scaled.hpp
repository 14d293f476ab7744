// lowbit/kernel/gemm_block_scaled.hpp — block-scaled low-precision GEMM, emulated on the CPU:
// FP8 in the DeepSeek-V3 layout (activations 1×128 scales, weights 128×128 scales), MXFP8 /
// MXFP4 (1×32 e8m0 scales) and NVFP4 (1×16 ue4m3 scales + fp32 tensor scales).
//
//   Y[m][n] = ta·tb · acc[m][n],  acc = fp32 sum over K blocks kb = 0, 1, ... in order of
//   acc ← fmaf(s, P, acc),  s = fp32(sa[m / ra][kb] · sb[n / rb][kb]),
//   P = fp32(Σ_{k in block kb} a[m][k] · b[n][k])   (the decoded element values)
//
// This is the promotion scheme of DeepGEMM / CUTLASS on Hopper (one FFMA per accumulator per
// 128-deep K block, research/perf.md §1.3), and with block_k = 32 / 16 the per-block scale
// application of Blackwell's block-scaled MMA. P is the exactly rounded block dot product: it
// is summed in double, which is exact whenever the products share a grid that fits 53 bits
// (e4m3 × e4m3: multiples of 2^-18 below 2^25 for block_k ≤ 128; anything × e2m1 likewise),
// so P does not depend on the summation order and the SIMD and portable paths agree bit for
// bit. (e5m2 × e5m2 spans more than 53 bits; its P is then a correctly ordered double sum
// rounded once, still deterministic.) Tensor cores round inside a block differently and
// undocumentedly: a GPU kernel matches this host reference to within the rounding of P, i.e.
// a few fp32 ulps of Σ|a·b| per block, and matches the scale/promotion structure exactly.
//
// Operands: codes one per byte (or packed 4-bit, low nibble first, `packed4`), rows × K with K
// the reduction axis (activations M × K, weights N × K, "NT" as DeepGEMM). Scales are fp32
// values (MX e8m0 / NVFP4 ue4m3 scales enter decoded, as qparams::scale stores them) of a grid
// [ceil(rows / block_rows) × ceil(K / block_k)], element (i, kb) at
// scale[i·scale_row_stride + kb·scale_col_stride]: row-major grids have strides (cols, 1);
// DeepGEMM's "transposed", M-major activation scales have (1, aligned M).
// K must be a multiple of block_k (all GPU layouts need whole blocks) unless
// allow_partial_block is set; the short last block then behaves as zero-padded.
// Codes that decode to NaN (e4m3 0x7F/0xFF, e5m2 NaNs) are rejected.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../format/traits.hpp"
#include "../quantize/qparams.hpp"
#include "gemm_options.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#define LOWBIT_KERNEL_BLOCK_SCALED_AVX512 1
#endif

namespace lowbit {

// One operand of gemm_block_scaled (non-owning).
struct block_scaled_operand {
  const std::uint8_t* codes = nullptr;
  Eigen::Index rows = 0, cols = 0;   // rows × K
  Eigen::Index stride = 0;           // bytes per row (>= K, or ceil(K/2) when packed4)
  bool packed4 = false;              // two 4-bit codes per byte, low nibble first
  const float* scale = nullptr;
  Eigen::Index scale_rows = 0, scale_cols = 0;             // the grid shape, checked
  Eigen::Index scale_row_stride = 0, scale_col_stride = 1;  // element (i, kb) address
  Eigen::Index block_rows = 1;       // rows per scale block (1 activations / MX / NVFP4, 128 DeepSeek weights)
  float tensor_scale = 1.0f;         // NVFP4 second level; 1 otherwise

  std::uint8_t code(Eigen::Index i, Eigen::Index k) const {
    return packed4 ? std::uint8_t((codes[i * stride + k / 2] >> (4 * (k & 1))) & 0xF) : codes[i * stride + k];
  }
  float scale_at(Eigen::Index i, Eigen::Index kb) const {
    return scale[(i / block_rows) * scale_row_stride + kb * scale_col_stride];
  }
};

struct block_scaled_options {
  Eigen::Index block_k = 128;        // K per scale block = promotion interval
  bool allow_partial_block = false;  // accept K % block_k != 0 (zero-padded last block)
};

namespace detail {

template <class F>
std::array<double, 256> block_scaled_lut() {
  std::array<double, 256> t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = double(F::decode(typename F::storage(c & ((1u << F::bits) - 1u))));
  return t;
}

inline void check_block_scaled_operand(const block_scaled_operand& o, Eigen::Index bk, const char* name) {
  LOWBIT_CHECK(o.codes != nullptr && o.rows > 0 && o.cols > 0, "gemm_block_scaled: empty operand ", name, " (",
               o.rows, " x ", o.cols, ")");
  LOWBIT_CHECK(o.stride >= (o.packed4 ? (o.cols + 1) / 2 : o.cols), "gemm_block_scaled: ", name, " row stride ",
               o.stride, " bytes is shorter than a row of ", o.cols, o.packed4 ? " packed 4-bit codes" : " codes");
  LOWBIT_CHECK(o.scale != nullptr, "gemm_block_scaled: ", name, " has no scales");
  LOWBIT_CHECK(o.block_rows > 0, "gemm_block_scaled: ", name, " block_rows must be > 0");
  const Eigen::Index gr = (o.rows + o.block_rows - 1) / o.block_rows, gc = (o.cols + bk - 1) / bk;
  LOWBIT_CHECK(o.scale_rows == gr && o.scale_cols == gc, "gemm_block_scaled: ", name, " scale grid is ",
               o.scale_rows, " x ", o.scale_cols, ", ", o.rows, " x ", o.cols, " with blocks of ", o.block_rows,
               " x ", bk, " needs ", gr, " x ", gc);
  LOWBIT_CHECK(o.scale_row_stride >= 0 && o.scale_col_stride >= 0 &&
                   (gr == 1 || o.scale_row_stride > 0) && (gc == 1 || o.scale_col_stride > 0),
               "gemm_block_scaled: ", name, " scale strides (", o.scale_row_stride, ", ", o.scale_col_stride,
               ") do not address a ", gr, " x ", gc, " grid");
  LOWBIT_CHECK(std::isfinite(o.tensor_scale), "gemm_block_scaled: ", name, " tensor scale is not finite");
}

template <class F>
void check_codes_not_nan(const block_scaled_operand& o, const std::array<double, 256>& lut, const char* name) {
  bool any_nan = false;
  for (unsigned c = 0; c < 256; ++c) any_nan = any_nan || std::isnan(lut[c]);
  if (!any_nan) return;
  for (Eigen::Index i = 0; i < o.rows; ++i)
    for (Eigen::Index k = 0; k < o.cols; ++k)
      LOWBIT_CHECK(!std::isnan(lut[o.code(i, k)]), "gemm_block_scaled: ", name, " code 0x", std::hex,
                   unsigned(o.code(i, k)), std::dec, " at (", i, ", ", k, ") is NaN in ", F::name);
}

// The specification, element by element.
inline void block_scaled_portable(const block_scaled_operand& a, const block_scaled_operand& b,
                                  const std::array<double, 256>& la, const std::array<double, 256>& lb,
                                  Eigen::Index bk, float* y, Eigen::Index ldy, int nt) {
  const Eigen::Index M = a.rows, N = b.rows, K = a.cols, nb = (K + bk - 1) / bk;
  const float t = a.tensor_scale * b.tensor_scale;
  (void)nt;
  LOWBIT_OMP_PARALLEL_FOR(nt)
  for (Eigen::Index n = 0; n < N; ++n)
    for (Eigen::Index m = 0; m < M; ++m) {
      float acc = 0.0f;
      for (Eigen::Index kb = 0; kb < nb; ++kb) {
        double p = 0.0;
        for (Eigen::Index k = kb * bk; k < std::min(K, (kb + 1) * bk); ++k) p += la[a.code(m, k)] * lb[b.code(n, k)];
        const float s = a.scale_at(m, kb) * b.scale_at(n, kb);
        acc = std::fma(s, float(p), acc);
      }
      y[m * ldy + n] = acc * t;
    }
}

#if defined(LOWBIT_KERNEL_BLOCK_SCALED_AVX512)
constexpr int bs_mr = 12;  // rows per register tile (2 × 12 zmm double accumulators)
constexpr int bs_nr = 16;  // columns per panel

#define LOWBIT_BS_ACC(i) __m512d c##i##0 = _mm512_setzero_pd(), c##i##1 = _mm512_setzero_pd();
#define LOWBIT_BS_STEP(i)                                        \
  if constexpr (R > i) {                                         \
    const __m512d av = _mm512_set1_pd(ap[i]);                    \
    c##i##0 = _mm512_fmadd_pd(av, b0, c##i##0);                  \
    c##i##1 = _mm512_fmadd_pd(av, b1, c##i##1);                  \
  }
#define LOWBIT_BS_SAVE(i)                                        \
  if constexpr (R > i) {                                         \
    _mm512_store_pd(acc + 16 * i, c##i##0);                      \
    _mm512_store_pd(acc + 16 * i + 8, c##i##1);                  \
  }

// acc[i][0..15] = Σ_k A[i][k]·B[k][0..15] in double over one K block (exact products).
// ap: [kk][bs_mr] decoded A of this row tile, bp: [kk][16] decoded B panel.
template <int R>
[[gnu::noinline]] inline void bs_tile(const double* ap, const double* bp, Eigen::Index kk, double* acc) {
  LOWBIT_BS_ACC(0) LOWBIT_BS_ACC(1) LOWBIT_BS_ACC(2) LOWBIT_BS_ACC(3) LOWBIT_BS_ACC(4) LOWBIT_BS_ACC(5)
  LOWBIT_BS_ACC(6) LOWBIT_BS_ACC(7) LOWBIT_BS_ACC(8) LOWBIT_BS_ACC(9) LOWBIT_BS_ACC(10) LOWBIT_BS_ACC(11)
  for (Eigen::Index k = 0; k < kk; ++k, ap += bs_mr, bp += bs_nr) {
    const __m512d b0 = _mm512_loadu_pd(bp), b1 = _mm512_loadu_pd(bp + 8);
    LOWBIT_BS_STEP(0) LOWBIT_BS_STEP(1) LOWBIT_BS_STEP(2) LOWBIT_BS_STEP(3) LOWBIT_BS_STEP(4) LOWBIT_BS_STEP(5)
    LOWBIT_BS_STEP(6) LOWBIT_BS_STEP(7) LOWBIT_BS_STEP(8) LOWBIT_BS_STEP(9) LOWBIT_BS_STEP(10) LOWBIT_BS_STEP(11)
  }
  LOWBIT_BS_SAVE(0) LOWBIT_BS_SAVE(1) LOWBIT_BS_SAVE(2) LOWBIT_BS_SAVE(3) LOWBIT_BS_SAVE(4) LOWBIT_BS_SAVE(5)
  LOWBIT_BS_SAVE(6) LOWBIT_BS_SAVE(7) LOWBIT_BS_SAVE(8) LOWBIT_BS_SAVE(9) LOWBIT_BS_SAVE(10) LOWBIT_BS_SAVE(11)
}
#undef LOWBIT_BS_ACC
#undef LOWBIT_BS_STEP
#undef LOWBIT_BS_SAVE

inline void bs_tile_dispatch(int r, const double* ap, const double* bp, Eigen::Index kk, double* acc) {
  switch (r) {
    case 1: bs_tile<1>(ap, bp, kk, acc); break;
    case 2: bs_tile<2>(ap, bp, kk, acc); break;
    case 3: bs_tile<3>(ap, bp, kk, acc); break;
    case 4: bs_tile<4>(ap, bp, kk, acc); break;
    case 5: bs_tile<5>(ap, bp, kk, acc); break;
    case 6: bs_tile<6>(ap, bp, kk, acc); break;
    case 7: bs_tile<7>(ap, bp, kk, acc); break;
    case 8: bs_tile<8>(ap, bp, kk, acc); break;
    case 9: bs_tile<9>(ap, bp, kk, acc); break;
    case 10: bs_tile<10>(ap, bp, kk, acc); break;
    case 11: bs_tile<11>(ap, bp, kk, acc); break;
    default: bs_tile<12>(ap, bp, kk, acc); break;
  }
}

inline void block_scaled_avx512(const block_scaled_operand& a, const block_scaled_operand& b,
                                const std::array<double, 256>& la, const std::array<double, 256>& lb,
                                Eigen::Index bk, float* y, Eigen::Index ldy, int nt) {
  const Eigen::Index M = a.rows, N = b.rows, K = a.cols, nb = (K + bk - 1) / bk;
  const Eigen::Index mt = (M + bs_mr - 1) / bs_mr, np = (N + bs_nr - 1) / bs_nr;
  for (Eigen::Index m = 0; m < M; ++m) std::fill(y + m * ldy, y + m * ldy + N, 0.0f);
  std::vector<double> ad(static_cast<std::size_t>(mt * bk * bs_mr));
  (void)nt;
  for (Eigen::Index kb = 0; kb < nb; ++kb) {
    const Eigen::Index k0 = kb * bk, kk = std::min(K, k0 + bk) - k0;
    // A of this K block, decoded, [tile][k][bs_mr] (rows past M are zero).
    std::fill(ad.begin(), ad.end(), 0.0);
    for (Eigen::Index m = 0; m < M; ++m) {
      double* d = ad.data() + (m / bs_mr) * kk * bs_mr + m % bs_mr;
      for (Eigen::Index k = 0; k < kk; ++k) d[k * bs_mr] = la[a.code(m, k0 + k)];
    }
    LOWBIT_OMP_PARALLEL_FOR(nt)
    for (Eigen::Index p = 0; p < np; ++p) {
      const Eigen::Index n0 = p * bs_nr, nc = std::min<Eigen::Index>(bs_nr, N - n0);
      alignas(64) double bd[128 * bs_nr];  // block_k <= 128 on this path
      alignas(64) double acc[bs_mr * bs_nr];
      alignas(64) float sb[bs_nr];
      for (Eigen::Index j = 0; j < bs_nr; ++j) {
        sb[j] = j < nc ? b.scale_at(n0 + j, kb) : 0.0f;
        for (Eigen::Index k = 0; k < kk; ++k) bd[k * bs_nr + j] = j < nc ? lb[b.code(n0 + j, k0 + k)] : 0.0;
      }
      const __m512 sbv = _mm512_load_ps(sb);
      const __mmask16 mask = __mmask16((1u << nc) - 1u);
      for (Eigen::Index t = 0; t < mt; ++t) {
        const int r = int(std::min<Eigen::Index>(bs_mr, M - t * bs_mr));
        bs_tile_dispatch(r, ad.data() + t * kk * bs_mr, bd, kk, acc);
        for (int i = 0; i < r; ++i) {
          const Eigen::Index m = t * bs_mr + i;
          // P rounded once to fp32, then acc ← fmaf(sa·sb, P, acc) per column.
          const __m256 p0 = _mm512_cvtpd_ps(_mm512_load_pd(acc + 16 * i));
          const __m256 p1 = _mm512_cvtpd_ps(_mm512_load_pd(acc + 16 * i + 8));
          const __m512 pv = _mm512_insertf32x8(_mm512_castps256_ps512(p0), p1, 1);
          const __m512 s = _mm512_mul_ps(_mm512_set1_ps(a.scale_at(m, kb)), sbv);
          float* yr = y + m * ldy + n0;
          _mm512_mask_storeu_ps(yr, mask, _mm512_fmadd_ps(s, pv, _mm512_maskz_loadu_ps(mask, yr)));
        }
      }
    }
  }
  const float t = a.tensor_scale * b.tensor_scale;
  if (t != 1.0f)
    for (Eigen::Index m = 0; m < M; ++m)
      for (Eigen::Index n = 0; n < N; ++n) y[m * ldy + n] *= t;
}
#endif  // LOWBIT_KERNEL_BLOCK_SCALED_AVX512

}  // namespace detail

// Y (M × N, row stride ldy) = the block-scaled product of A (M × K, format FA) and B (N × K,
// format FB) as specified in the header comment.
template <class FA, class FB>
void gemm_block_scaled(const block_scaled_operand& a, const block_scaled_operand& b, float* y, Eigen::Index ldy,
                       const block_scaled_options& bo = {}, const gemm_options& opt = {}) {
  static_assert(is_format_v<FA> && is_format_v<FB> && FA::bits <= 8 && FB::bits <= 8,
                "lowbit: gemm_block_scaled takes 8-bit or narrower element formats (see lowbit/kernel/gemm_block_scaled.hpp)");
  const Eigen::Index bk = bo.block_k;
  LOWBIT_CHECK(bk > 0, "gemm_block_scaled: block_k must be > 0, got ", bk);
  detail::check_block_scaled_operand(a, bk, "A");
  detail::check_block_scaled_operand(b, bk, "B");
  LOWBIT_CHECK(a.cols == b.cols, "gemm_block_scaled: K mismatch: A is ", a.rows, " x ", a.cols, ", B is ", b.rows,
               " x ", b.cols, " (N x K)");
  LOWBIT_CHECK(bo.allow_partial_block || a.cols % bk == 0, "gemm_block_scaled: K = ", a.cols,
               " is not a multiple of the scale block ", bk,
               " (GPU layouts need whole blocks; set allow_partial_block for a zero-padded tail)");
  LOWBIT_CHECK(y != nullptr && ldy >= b.rows, "gemm_block_scaled: output row stride ", ldy, " < N = ", b.rows);
  const auto la = detail::block_scaled_lut<FA>();
  const auto lb = detail::block_scaled_lut<FB>();
  LOWBIT_CHECK(!a.packed4 || FA::bits <= 4, "gemm_block_scaled: A is marked packed4 but ", FA::name, " has ", FA::bits, " bits");
  LOWBIT_CHECK(!b.packed4 || FB::bits <= 4, "gemm_block_scaled: B is marked packed4 but ", FB::name, " has ", FB::bits, " bits");
  detail::check_codes_not_nan<FA>(a, la, "A");
  detail::check_codes_not_nan<FB>(b, lb, "B");
  const int nt = detail::gemm_threads(opt);
#if defined(LOWBIT_KERNEL_BLOCK_SCALED_AVX512)
  if (opt.path == kernel_path::best && bk <= 128) {
    detail::block_scaled_avx512(a, b, la, lb, bk, y, ldy, nt);
    return;
  }
#endif
  detail::block_scaled_portable(a, b, la, lb, bk, y, ldy, nt);
}

// The operand view of a quantizer output (codes one per byte, row-major scale grid).
template <class F>
block_scaled_operand block_scaled_view(const quantized<F>& q) {
  const qparams& p = q.params;
  LOWBIT_CHECK(p.zeros == zero_kind::none, "gemm_block_scaled: zero points are not part of block scaling");
  block_scaled_operand o;
  o.codes = q.codes.data();
  o.rows = q.rows();
  o.cols = q.cols();
  o.stride = q.cols();
  o.scale = p.scale.data();
  o.scale_rows = p.scale.rows();
  o.scale_cols = p.scale.cols();
  o.scale_row_stride = p.scale.cols();
  o.scale_col_stride = 1;
  o.block_rows = p.gran.rows_per_block(q.rows());
  o.tensor_scale = p.tensor_scale;
  return o;
}

// Convenience: Y = A·Bᵀ block-scaled, from two quantizer outputs whose granularities share the
// K block (1×128 and 128×128, MX 1×32, NVFP4 1×16 ...). Returns Y, M × N row-major.
template <class FA, class FB>
Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> gemm_block_scaled(
    const quantized<FA>& a, const quantized<FB>& b, bool allow_partial_block = false, const gemm_options& opt = {}) {
  const Eigen::Index bka = a.params.gran.block_cols, bkb = b.params.gran.block_cols;
  LOWBIT_CHECK(bka > 0 && bka == bkb, "gemm_block_scaled: A and B must share one K block size, got ", bka, " and ",
               bkb, " (0 = whole K is not a block-scaled layout)");
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> y(a.rows(), b.rows());
  gemm_block_scaled<FA, FB>(block_scaled_view(a), block_scaled_view(b), y.data(), b.rows(),
                            block_scaled_options{bka, allow_partial_block}, opt);
  return y;
}

}  // namespace lowbit
