// lowbit/kernel/gemm_int8.hpp — int8 × int8 GEMM with int32 accumulation (W8A8).
//
//   Y[m][n] = sa[m] · sw[n] · C[m][n]  (+ bias[n])                      float output
//   C[m][n] = Σ_k (A[m][k] − za[m]) · (W[n][k] − zw[n])                  int32 output
//
// A: activations M × K (int8 codes, per-token scale sa and optional zero point za);
// W: weights N × K (K = reduction axis, one row per output channel; per-channel scale sw,
// optional zero point zw). The zero points never materialise corrected matrices:
//   C = Σ a·w − zw[n]·ra[m] − za[m]·(cw[n] − K·zw[n]),   ra = Σ_k A[m][k], cw = Σ_k W[n][k]
// AVX-512 VNNI path (`vpdpbusd`, u8 × s8 → s32): W is packed once (int8_weights) as
// w + 128 (unsigned) in 32-column panels, K in groups of 4; activations stay signed (copied
// per call into 12-row tiles, 4 K bytes per broadcast word), so Σ a·(w+128) = Σ a·w + 128·ra
// and the 128·ra term folds into the zero-point correction above. Register tile 12 × 32
// (24 zmm accumulators); W is walked in ~512 KiB column blocks that stay in L2. Wrapping int32 arithmetic throughout: C is
// exact whenever the true C fits in int32, guaranteed for K ≤ 131071 without zero points
// (|a·w| ≤ 2^14) and K ≤ 33025 with them (|a−za|·|w−zw| ≤ 255²); larger K is rejected, and
// so are zero points outside the int8 range [−128, 127].
// Float output: y = fma(float(C), sa[m]·sw[n], bias[n]) (fp32), identical on every path.
//
// Shapes and strides: A(m, k) = a[m·lda + k] (rows contiguous in K; other layouts, e.g. a
// transposed A, go through int8_view with any strides and are copied once per call).
// W(n, k) = w[n·stride_n + k·stride_k] at packing time (row-major N × K: stride_n = ldw,
// stride_k = 1; a K × N "transposed" W: stride_n = 1, stride_k = ldw). Y(m, n) = y[m·ldy + n].
// Codes from the quantizer are `quantized<int8>` (two's complement bytes) or
// `quantized<uint8>` (taken as code − 128 with zero − 128, the same product).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../format/int.hpp"
#include "../quantize/qparams.hpp"
#include "gemm_options.hpp"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>
#define LOWBIT_KERNEL_INT8_VNNI 1
#endif

namespace lowbit {

// A strided view of an int8 matrix: element (r, c) = data[r·stride_row + c·stride_col].
struct int8_view {
  const std::int8_t* data = nullptr;
  Eigen::Index rows = 0, cols = 0;
  Eigen::Index stride_row = 0, stride_col = 1;
  std::int8_t operator()(Eigen::Index r, Eigen::Index c) const { return data[r * stride_row + c * stride_col]; }
};

namespace detail {
// int8 codes as signed bytes; uint8 codes shifted by −128 (the caller shifts the zero too).
template <class F>
std::vector<std::int8_t> int8_codes_to_s8(const std::uint8_t* codes, Eigen::Index count) {
  std::vector<std::int8_t> out(static_cast<std::size_t>(count));
  for (Eigen::Index i = 0; i < count; ++i)
    out[std::size_t(i)] = std::int8_t(F::is_signed ? F::to_int(codes[i]) : int(codes[i]) - 128);
  return out;
}
}  // namespace detail

// Weights W[N][K] packed once for gemm_int8 (VNNI panel layout, see the header comment),
// with their column sums cw[n] = Σ_k W[n][k] and, optionally, per-channel scales and zero
// points (filled by the quantized<> constructor; the raw-pointer gemm_int8 takes its own).
class int8_weights {
 public:
  static constexpr Eigen::Index panel_cols = 32;  // N per panel
  static constexpr Eigen::Index k_group = 4;      // K per vpdpbusd lane

  int8_weights() = default;

  // Pack W with W(n, k) = w.data[n·stride_row + k·stride_col] (n < N = w.rows, k < K = w.cols).
  explicit int8_weights(const int8_view& w) { pack(w); }

  // From the quantizer: per-channel (per_channel(0) / per_token()) or per-tensor scales,
  // symmetric or integer zero points.
  template <class F, class = std::enable_if_t<std::is_base_of_v<integer<8, F::is_signed>, F>>>
  explicit int8_weights(const quantized<F>& qw) {
    const qparams& p = qw.params;
    LOWBIT_CHECK(p.gran.block_cols == 0 && (p.gran.block_rows == 1 || p.gran.block_rows == 0 ||
                                            p.gran.block_rows >= qw.rows()),
                 "int8_weights: weights need per-channel (1 x K) or per-tensor scales, got blocks of ",
                 p.gran.block_rows, " x ", p.gran.block_cols);
    LOWBIT_CHECK(p.zeros != zero_kind::offset, "int8_weights: float offsets (KIVI) are not integer zero points");
    const std::vector<std::int8_t> s8 = detail::int8_codes_to_s8<F>(qw.codes.data(), qw.codes.size());
    pack(int8_view{s8.data(), qw.rows(), qw.cols(), qw.cols(), 1});
    scale_.resize(std::size_t(n_));
    zero_.assign(std::size_t(n_), 0);
    const std::int32_t shift = F::is_signed ? 0 : 128;
    for (Eigen::Index n = 0; n < n_; ++n) {
      const Eigen::Index g = p.block_row(n);
      scale_[std::size_t(n)] = p.scale(g, 0) * p.tensor_scale;
      zero_[std::size_t(n)] = (p.zeros == zero_kind::integer ? std::int32_t(std::lrint(p.zero(g, 0))) : 0) - shift;
    }
    has_zero_ = p.zeros == zero_kind::integer || !F::is_signed;
  }

  Eigen::Index rows() const { return n_; }  // N
  Eigen::Index cols() const { return k_; }  // K
  Eigen::Index panels() const { return (n_ + panel_cols - 1) / panel_cols; }
  Eigen::Index k_groups() const { return (k_ + k_group - 1) / k_group; }
  // Panel p: k_groups() × 32 columns × 4 bytes, byte = W[32p + c][4q + j] + 128 (0 + 128 padding).
  const std::uint8_t* panel(Eigen::Index p) const { return data_.data() + p * k_groups() * panel_cols * k_group; }
  const std::int32_t* col_sums() const { return colsum_.data(); }
  // Per-channel scales / zero points from a quantized<> source (empty otherwise).
  const std::vector<float>& scales() const { return scale_; }
  const std::vector<std::int32_t>& zeros() const { return zero_; }
  bool has_zeros() const { return has_zero_; }
  // W(n, k) as stored (for references and tests).
  std::int8_t at(Eigen::Index n, Eigen::Index k) const {
    const std::uint8_t b = panel(n / panel_cols)[((k / k_group) * panel_cols + n % panel_cols) * k_group + k % k_group];
    return std::int8_t(int(b) - 128);
  }

 private:
  Eigen::Index n_ = 0, k_ = 0;
  std::vector<std::uint8_t> data_;
  std::vector<std::int32_t> colsum_;
  std::vector<float> scale_;
  std::vector<std::int32_t> zero_;
  bool has_zero_ = false;

  void pack(const int8_view& w) {
    LOWBIT_CHECK(w.data != nullptr && w.rows > 0 && w.cols > 0, "int8_weights: empty weights (", w.rows, " x ",
                 w.cols, ")");
    n_ = w.rows;
    k_ = w.cols;
    const Eigen::Index kq = k_groups(), np = panels();
    data_.assign(std::size_t(np * kq * panel_cols * k_group), std::uint8_t(128));
    colsum_.assign(std::size_t(np * panel_cols), 0);
    for (Eigen::Index n = 0; n < n_; ++n) {
      std::uint8_t* dst = data_.data() + (n / panel_cols) * kq * panel_cols * k_group + (n % panel_cols) * k_group;
      std::int32_t s = 0;
      for (Eigen::Index k = 0; k < k_; ++k) {
        const std::int8_t v = w(n, k);
        s += v;
        dst[(k / k_group) * panel_cols * k_group + k % k_group] = std::uint8_t(int(v) + 128);
      }
      colsum_[std::size_t(n)] = s;
    }
  }
};

namespace detail {

inline std::int32_t wrap32(std::int64_t v) { return std::int32_t(std::uint32_t(std::uint64_t(v))); }

// Everything the tile loops need besides A and the packed W.
struct int8_epilogue {
  const std::int32_t* ra = nullptr;   // [M]  Σ_k A[m][k]
  const std::int32_t* za = nullptr;   // [M]  activation zero points (0s if none)
  const std::int32_t* u = nullptr;    // [Np] 128 + zw[n]
  const std::int32_t* v = nullptr;    // [Np] cw[n] − K·zw[n]
  const float* sa = nullptr;          // [M]  (float output)
  const float* sw = nullptr;          // [Np] (float output, 0-padded)
  const float* bias = nullptr;        // [Np] (float output, 0-padded)
  std::int32_t* c = nullptr;          // int32 output
  float* y = nullptr;                 // float output
  Eigen::Index ldc = 0;
};

#if defined(LOWBIT_KERNEL_INT8_VNNI)
constexpr int int8_mr = 12;  // rows of A per register tile (2 × 12 zmm accumulators)

// Accumulator names c<i><h>: row i, columns 16h..16h+15 of the 32-column panel.
#define LOWBIT_INT8_ACC(i) __m512i c##i##0 = _mm512_setzero_si512(), c##i##1 = _mm512_setzero_si512();
#define LOWBIT_INT8_SAVE(i)                                                    \
  if constexpr (R > i) {                                                       \
    _mm512_storeu_si512(acc + 32 * i, c##i##0);                                \
    _mm512_storeu_si512(acc + 32 * i + 16, c##i##1);                           \
  }
#define LOWBIT_INT8_STEP(i)                                   \
  if constexpr (R > i) {                                       \
    const __m512i av = _mm512_set1_epi32(ap[i]);               \
    c##i##0 = _mm512_dpbusd_epi32(c##i##0, b0, av);            \
    c##i##1 = _mm512_dpbusd_epi32(c##i##1, b1, av);            \
  }
template <bool FloatOut>
inline void int8_tile_store(__m512i acc0, __m512i acc1, Eigen::Index m, Eigen::Index n0, __mmask16 k0, __mmask16 k1,
                            __m512i u0, __m512i u1, __m512i v0, __m512i v1, const int8_epilogue& e) {
  const __m512i ra = _mm512_set1_epi32(e.ra[m]), za = _mm512_set1_epi32(e.za[m]);
  // C = acc − ra·(128 + zw) − za·(cw − K·zw)   (wrapping int32)
  const __m512i c0 = _mm512_sub_epi32(_mm512_sub_epi32(acc0, _mm512_mullo_epi32(ra, u0)), _mm512_mullo_epi32(za, v0));
  const __m512i c1 = _mm512_sub_epi32(_mm512_sub_epi32(acc1, _mm512_mullo_epi32(ra, u1)), _mm512_mullo_epi32(za, v1));
  if constexpr (FloatOut) {
    const __m512 sa = _mm512_set1_ps(e.sa[m]);
    const __m512 s0 = _mm512_mul_ps(sa, _mm512_loadu_ps(e.sw + n0)), s1 = _mm512_mul_ps(sa, _mm512_loadu_ps(e.sw + n0 + 16));
    const __m512 y0 = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(__mmask16(0xFFFF), c0), s0, _mm512_loadu_ps(e.bias + n0));
    const __m512 y1 = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(__mmask16(0xFFFF), c1), s1, _mm512_loadu_ps(e.bias + n0 + 16));
    _mm512_mask_storeu_ps(e.y + m * e.ldc + n0, k0, y0);
    if (k1) _mm512_mask_storeu_ps(e.y + m * e.ldc + n0 + 16, k1, y1);
  } else {
    _mm512_mask_storeu_epi32(e.c + m * e.ldc + n0, k0, c0);
    if (k1) _mm512_mask_storeu_epi32(e.c + m * e.ldc + n0 + 16, k1, c1);
  }
}

// One R × 32 tile over the whole K: acc[i][0..31] = Σ a·(w+128) of row i (wrapping int32).
// ap: packed A of this row tile, [kq][int8_mr] int32 (4 consecutive K bytes of one row each).
// Kept out of line and free of the epilogue so that the 24 accumulators stay in registers.
template <int R>
[[gnu::noinline]] inline void int8_tile_vnni(const std::int32_t* ap, Eigen::Index kq, const std::uint8_t* bp,
                                             std::int32_t* acc) {
  LOWBIT_INT8_ACC(0) LOWBIT_INT8_ACC(1) LOWBIT_INT8_ACC(2) LOWBIT_INT8_ACC(3) LOWBIT_INT8_ACC(4) LOWBIT_INT8_ACC(5)
  LOWBIT_INT8_ACC(6) LOWBIT_INT8_ACC(7) LOWBIT_INT8_ACC(8) LOWBIT_INT8_ACC(9) LOWBIT_INT8_ACC(10) LOWBIT_INT8_ACC(11)
  for (Eigen::Index q = 0; q < kq; ++q, bp += 128, ap += int8_mr) {
    const __m512i b0 = _mm512_loadu_si512(bp);
    const __m512i b1 = _mm512_loadu_si512(bp + 64);
    LOWBIT_INT8_STEP(0) LOWBIT_INT8_STEP(1) LOWBIT_INT8_STEP(2) LOWBIT_INT8_STEP(3) LOWBIT_INT8_STEP(4)
    LOWBIT_INT8_STEP(5) LOWBIT_INT8_STEP(6) LOWBIT_INT8_STEP(7) LOWBIT_INT8_STEP(8) LOWBIT_INT8_STEP(9)
    LOWBIT_INT8_STEP(10) LOWBIT_INT8_STEP(11)
  }
  LOWBIT_INT8_SAVE(0) LOWBIT_INT8_SAVE(1) LOWBIT_INT8_SAVE(2) LOWBIT_INT8_SAVE(3) LOWBIT_INT8_SAVE(4)
  LOWBIT_INT8_SAVE(5) LOWBIT_INT8_SAVE(6) LOWBIT_INT8_SAVE(7) LOWBIT_INT8_SAVE(8) LOWBIT_INT8_SAVE(9)
  LOWBIT_INT8_SAVE(10) LOWBIT_INT8_SAVE(11)
}
#undef LOWBIT_INT8_ACC
#undef LOWBIT_INT8_STEP
#undef LOWBIT_INT8_SAVE

template <bool FloatOut>
inline void int8_tile(int mr, const std::int32_t* ap, Eigen::Index kq, const std::uint8_t* panel, Eigen::Index m0,
                      Eigen::Index n0, Eigen::Index ncols, const int8_epilogue& e) {
  alignas(64) std::int32_t acc[int8_mr * 32];
  switch (mr) {
    case 1: int8_tile_vnni<1>(ap, kq, panel, acc); break;
    case 2: int8_tile_vnni<2>(ap, kq, panel, acc); break;
    case 3: int8_tile_vnni<3>(ap, kq, panel, acc); break;
    case 4: int8_tile_vnni<4>(ap, kq, panel, acc); break;
    case 5: int8_tile_vnni<5>(ap, kq, panel, acc); break;
    case 6: int8_tile_vnni<6>(ap, kq, panel, acc); break;
    case 7: int8_tile_vnni<7>(ap, kq, panel, acc); break;
    case 8: int8_tile_vnni<8>(ap, kq, panel, acc); break;
    case 9: int8_tile_vnni<9>(ap, kq, panel, acc); break;
    case 10: int8_tile_vnni<10>(ap, kq, panel, acc); break;
    case 11: int8_tile_vnni<11>(ap, kq, panel, acc); break;
    default: int8_tile_vnni<12>(ap, kq, panel, acc); break;
  }
  const __m512i u0 = _mm512_loadu_si512(e.u + n0), u1 = _mm512_loadu_si512(e.u + n0 + 16);
  const __m512i v0 = _mm512_loadu_si512(e.v + n0), v1 = _mm512_loadu_si512(e.v + n0 + 16);
  const __mmask16 k0 = ncols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << ncols) - 1u);
  const __mmask16 k1 = ncols >= 32 ? __mmask16(0xFFFF)
                                   : (ncols <= 16 ? __mmask16(0) : __mmask16((1u << (ncols - 16)) - 1u));
  for (int i = 0; i < mr; ++i)
    int8_tile_store<FloatOut>(_mm512_load_si512(acc + 32 * i), _mm512_load_si512(acc + 32 * i + 16), m0 + i, n0, k0,
                              k1, u0, u1, v0, v1, e);
}
#endif  // LOWBIT_KERNEL_INT8_VNNI

// The driver shared by the int32 and float entry points. A is M × K with rows contiguous.
template <bool FloatOut>
inline void gemm_int8_run(const std::int8_t* a, Eigen::Index M, Eigen::Index lda, const int8_weights& w,
                          const std::int32_t* za_in, const std::int32_t* zw_in, const float* sa, const float* sw_in,
                          const float* bias_in, std::int32_t* c, float* y, Eigen::Index ldc, const gemm_options& opt) {
  const Eigen::Index K = w.cols(), N = w.rows();
  const Eigen::Index np = w.panels(), Np = np * int8_weights::panel_cols;
  std::vector<std::int32_t> ra(static_cast<std::size_t>(M)), za(std::size_t(M), 0);
  for (Eigen::Index m = 0; m < M; ++m) {
    const std::int8_t* r = a + m * lda;
    std::int32_t s = 0;
    for (Eigen::Index k = 0; k < K; ++k) s += r[k];
    ra[std::size_t(m)] = s;
    if (za_in) za[std::size_t(m)] = za_in[m];
  }
  std::vector<std::int32_t> u(std::size_t(Np), 128), v(std::size_t(Np), 0);
  std::vector<float> sw(std::size_t(Np), 0.0f), bias(std::size_t(Np), 0.0f);
  for (Eigen::Index n = 0; n < N; ++n) {
    const std::int64_t zw = zw_in ? zw_in[n] : 0;
    u[std::size_t(n)] = wrap32(128 + zw);
    v[std::size_t(n)] = wrap32(std::int64_t(w.col_sums()[n]) - std::int64_t(K) * zw);
    if (FloatOut) {
      sw[std::size_t(n)] = sw_in[n];
      if (bias_in) bias[std::size_t(n)] = bias_in[n];
    }
  }
  int8_epilogue e;
  e.ra = ra.data();
  e.za = za.data();
  e.u = u.data();
  e.v = v.data();
  e.sa = sa;
  e.sw = sw.data();
  e.bias = bias.data();
  e.c = c;
  e.y = y;
  e.ldc = ldc;

  // Panels per L2 block: keep NC·K bytes of packed W (≈ 512 KiB) hot across all M tiles.
  const Eigen::Index pb = std::max<Eigen::Index>(1, (Eigen::Index(512) * 1024) / (int8_weights::panel_cols * std::max<Eigen::Index>(K, 1)));
  const Eigen::Index nblocks = (np + pb - 1) / pb;
  const int nt = gemm_threads(opt);
  (void)nt;

#if defined(LOWBIT_KERNEL_INT8_VNNI)
  if (opt.path == kernel_path::best) {
    // Pack A once per call: row tiles of int8_mr rows, [kq][int8_mr] words of 4 K bytes,
    // zero-padded in K and in rows (zeros add nothing to Σ a·(w+128)).
    constexpr int MR = int8_mr;
    const Eigen::Index kq = w.k_groups(), mt = (M + MR - 1) / MR;
    std::vector<std::int32_t> apack(std::size_t(mt * kq * MR), 0);
    for (Eigen::Index m = 0; m < M; ++m) {
      const std::int8_t* r = a + m * lda;
      std::int32_t* dst = apack.data() + (m / MR) * kq * MR + m % MR;
      for (Eigen::Index q = 0; q < kq; ++q) {
        std::uint8_t t[4] = {0, 0, 0, 0};
        for (Eigen::Index j = 0; j < 4 && 4 * q + j < K; ++j) t[j] = std::uint8_t(r[4 * q + j]);
        std::memcpy(dst + q * MR, t, 4);
      }
    }
    LOWBIT_OMP_PARALLEL_FOR(nt)
    for (Eigen::Index b = 0; b < nblocks; ++b) {
      const Eigen::Index p0 = b * pb, p1 = std::min(np, p0 + pb);
      for (Eigen::Index t = 0; t < mt; ++t) {
        const int mr = int(std::min<Eigen::Index>(MR, M - t * MR));
        for (Eigen::Index p = p0; p < p1; ++p) {
          const Eigen::Index n0 = p * int8_weights::panel_cols;
          int8_tile<FloatOut>(mr, apack.data() + t * kq * MR, kq, w.panel(p), t * MR, n0,
                                       std::min<Eigen::Index>(int8_weights::panel_cols, N - n0), e);
        }
      }
    }
    return;
  }
#endif
  // Portable path: exact int64 sums of the zero-corrected products, wrapped to int32.
  LOWBIT_OMP_PARALLEL_FOR(nt)
  for (Eigen::Index b = 0; b < nblocks; ++b) {
    const Eigen::Index n_lo = b * pb * int8_weights::panel_cols;
    const Eigen::Index n_hi = std::min(N, (b + 1) * pb * int8_weights::panel_cols);
    for (Eigen::Index m = 0; m < M; ++m) {
      const std::int8_t* r = a + m * lda;
      for (Eigen::Index n = n_lo; n < n_hi; ++n) {
        const std::int64_t zw = zw_in ? zw_in[n] : 0, zam = za[std::size_t(m)];
        std::int64_t s = 0;
        for (Eigen::Index k = 0; k < K; ++k) s += (std::int64_t(r[k]) - zam) * (std::int64_t(w.at(n, k)) - zw);
        const std::int32_t cv = wrap32(s);
        if (FloatOut) {
          y[m * ldc + n] = std::fma(float(cv), sa[m] * sw[std::size_t(n)], bias[std::size_t(n)]);
        } else {
          c[m * ldc + n] = cv;
        }
      }
    }
  }
}

// Copies A to contiguous rows if needed; returns the row pointer and lda to use.
inline const std::int8_t* int8_rows(const int8_view& a, std::vector<std::int8_t>& buf, Eigen::Index& lda) {
  if (a.stride_col == 1 && a.stride_row >= a.cols) {
    lda = a.stride_row;
    return a.data;
  }
  buf.resize(std::size_t(a.rows * a.cols));
  for (Eigen::Index r = 0; r < a.rows; ++r)
    for (Eigen::Index c = 0; c < a.cols; ++c) buf[std::size_t(r * a.cols + c)] = a(r, c);
  lda = a.cols;
  return buf.data();
}

inline void check_int8_gemm(const int8_view& a, const int8_weights& w, const std::int32_t* za, const std::int32_t* zw,
                            const char* where) {
  LOWBIT_CHECK(a.data != nullptr && a.rows > 0 && a.cols > 0, where, ": empty activations (", a.rows, " x ", a.cols, ")");
  LOWBIT_CHECK(w.rows() > 0, where, ": weights are not packed");
  LOWBIT_CHECK(a.cols == w.cols(), where, ": K mismatch: activations are ", a.rows, " x ", a.cols,
               ", weights are ", w.rows(), " x ", w.cols(), " (N x K)");
  const bool zeros = za || zw;
  const Eigen::Index kmax = zeros ? 33025 : 131071;
  LOWBIT_CHECK(a.cols <= kmax, where, ": K = ", a.cols, " can overflow the int32 accumulator (limit ", kmax,
               zeros ? " with zero points)" : ")");
  // The K limits assume |a − za|·|w − zw| <= 255², i.e. zero points in the int8 range
  // (a quantized<uint8>'s zero points 0..255 arrive here as zero − 128).
  for (Eigen::Index m = 0; za && m < a.rows; ++m)
    LOWBIT_CHECK(za[m] >= -128 && za[m] <= 127, where, ": activation zero point za[", m, "] = ", za[m],
                 " is outside the int8 range [-128, 127]");
  for (Eigen::Index n = 0; zw && n < w.rows(); ++n)
    LOWBIT_CHECK(zw[n] >= -128 && zw[n] <= 127, where, ": weight zero point zw[", n, "] = ", zw[n],
                 " is outside the int8 range [-128, 127]");
}
}  // namespace detail

// C[m][n] = Σ_k (A[m][k] − za[m])·(W[n][k] − zw[n]) into c (M × N, row stride ldc ≥ N).
// za (length M) and zw (length N) may be null (= 0).
inline void gemm_int8_s32(const int8_view& a, const int8_weights& w, std::int32_t* c, Eigen::Index ldc,
                          const std::int32_t* za = nullptr, const std::int32_t* zw = nullptr,
                          const gemm_options& opt = {}) {
  detail::check_int8_gemm(a, w, za, zw, "gemm_int8_s32");
  LOWBIT_CHECK(c != nullptr && ldc >= w.rows(), "gemm_int8_s32: output row stride ", ldc, " < N = ", w.rows());
  std::vector<std::int8_t> buf;
  Eigen::Index lda = 0;
  const std::int8_t* ap = detail::int8_rows(a, buf, lda);
  detail::gemm_int8_run<false>(ap, a.rows, lda, w, za, zw, nullptr, nullptr, nullptr, c, nullptr, ldc, opt);
}

// Y[m][n] = sa[m]·sw[n]·C[m][n] + bias[n] into y (M × N, row stride ldy ≥ N).
// sa: length M (per-token scales; pass M copies of a per-tensor scale), sw: length N.
// za, zw, bias may be null.
inline void gemm_int8(const int8_view& a, const float* sa, const std::int32_t* za, const int8_weights& w,
                      const float* sw, const std::int32_t* zw, float* y, Eigen::Index ldy,
                      const float* bias = nullptr, const gemm_options& opt = {}) {
  detail::check_int8_gemm(a, w, za, zw, "gemm_int8");
  LOWBIT_CHECK(sa != nullptr && sw != nullptr, "gemm_int8: activation and weight scales are required");
  LOWBIT_CHECK(y != nullptr && ldy >= w.rows(), "gemm_int8: output row stride ", ldy, " < N = ", w.rows());
  std::vector<std::int8_t> buf;
  Eigen::Index lda = 0;
  const std::int8_t* ap = detail::int8_rows(a, buf, lda);
  detail::gemm_int8_run<true>(ap, a.rows, lda, w, za, zw, sa, sw, bias, nullptr, y, ldy, opt);
}

// Convenience: Y = X̂ · Ŵᵀ from the quantizer's outputs. x: quantized<int8|uint8> with
// per-token (1 × K) or per-tensor scales, symmetric or integer zero points; w built from a
// quantized<> (it carries its scales). Returns Y, M × N row-major.
template <class F, class = std::enable_if_t<std::is_base_of_v<integer<8, F::is_signed>, F>>>
Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> gemm_int8(
    const quantized<F>& x, const int8_weights& w, const float* bias = nullptr, const gemm_options& opt = {}) {
  const qparams& p = x.params;
  LOWBIT_CHECK(p.gran.block_cols == 0 && (p.gran.block_rows == 1 || p.gran.block_rows == 0 ||
                                          p.gran.block_rows >= x.rows()),
               "gemm_int8: activations need per-token (1 x K) or per-tensor scales, got blocks of ",
               p.gran.block_rows, " x ", p.gran.block_cols);
  LOWBIT_CHECK(p.zeros != zero_kind::offset, "gemm_int8: float offsets (KIVI) are not integer zero points");
  LOWBIT_CHECK(Eigen::Index(w.scales().size()) == w.rows(),
               "gemm_int8: these weights carry no scales (pack them from a quantized<> or use the raw overload)");
  LOWBIT_CHECK(x.cols() == w.cols(), "gemm_int8: K mismatch: activations are ", x.rows(), " x ", x.cols(),
               ", weights are ", w.rows(), " x ", w.cols(), " (N x K)");
  const Eigen::Index M = x.rows();
  const std::vector<std::int8_t> s8 = detail::int8_codes_to_s8<F>(x.codes.data(), x.codes.size());
  std::vector<float> sa(static_cast<std::size_t>(M));
  std::vector<std::int32_t> za(std::size_t(M), 0);
  const std::int32_t shift = F::is_signed ? 0 : 128;
  const bool zeros = p.zeros == zero_kind::integer || !F::is_signed;
  for (Eigen::Index m = 0; m < M; ++m) {
    const Eigen::Index g = p.block_row(m);
    sa[std::size_t(m)] = p.scale(g, 0) * p.tensor_scale;
    za[std::size_t(m)] = (p.zeros == zero_kind::integer ? std::int32_t(std::lrint(p.zero(g, 0))) : 0) - shift;
  }
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> y(M, w.rows());
  gemm_int8(int8_view{s8.data(), M, x.cols(), x.cols(), 1}, sa.data(), zeros ? za.data() : nullptr, w,
            w.scales().data(), w.has_zeros() ? w.zeros().data() : nullptr, y.data(), w.rows(), bias, opt);
  return y;
}

}  // namespace lowbit
