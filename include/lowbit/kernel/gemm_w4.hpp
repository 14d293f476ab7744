// lowbit/kernel/gemm_w4.hpp — weight-only 4-bit GEMM / GEMV (W4A16-style, float activations).
//
//   Y[m][n] = Σ_k X[m][k] · Ŵ[n][k]
//   Ŵ[n][k] = (lut[q[n][k]] − z[n][g]) · (s[n][g] · t),   g = k / G (group along K)
//
// q: packed 4-bit codes, row n at codes + n·stride bytes, element k in byte k/2, low nibble
// first (quantize/packed.hpp, CUDA/CUTLASS order): byte b = q[2b] | q[2b+1] << 4.
// lut: the value of each of the 16 codes: int4 −8..7, uint4 0..15, e2m1 ±{0..6}, nf4 table
// (w4_lut<F>()). s: scales [N × ceil(K/G)] (row stride scale_stride), t: tensor scale
// (NVFP4's second level; 1 otherwise), z: optional zero points in code units (GPTQ/AWQ
// asymmetric int4/uint4), same shape as s. MX (e8m0) and NVFP4 (ue4m3) scales enter as their
// decoded float values, which is what qparams::scale holds.
//
// Dequantization happens in registers, with `vpermps` as a 16-entry float lookup (16 lanes =
// 16 codes, index bits 0-3), against activations reordered once per call into the decoded
// lane order. Two kernels (AVX-512F):
//  * M = 1 (decode GEMV), G any multiple of 8: 128-element chunks, lane i holding elements
//    8i..8i+7 (one group per lane); the weights are looked up as lut[q] − z (a per-row table
//    lut − z when G is a multiple of 128, else the format's lut and one vsubps of the lanes'
//    zero points after each vpermps) and the group scale is applied per lane per chunk,
//    y = Σ (s·t)·Σ (lut[q] − z)·x. The codes are decoded without widening: loads at byte
//    offsets 0..3 + one 4-bit shift each = 8 index vectors per 64 bytes, so 4 shifts +
//    8 vpermps + 9 FMA/mul per 128 weights and row (+ 8 vsubps with zero points and G not a
//    multiple of 128); 4 rows per tile share the x loads; the next tile's codes are
//    prefetched chunk by chunk (see w4_gemv_tile).
//  * M > 1: per group a table (lut − z)·(s·t) is built once per W row; 128-element chunks
//    when G is a multiple of 128 (64 code bytes as 16 dwords, one shift + one vpermps per
//    16 weights), else 32-element chunks (vpmovzxbd + two vpermps); NVFP4's 16-element
//    groups use two tables per chunk (`vpermt2ps`). Register tile: up to 4 rows of X ×
//    4 rows of W. Needs G a multiple of 32 or G = 16.
// Other G (or no AVX-512): the portable path. A K tail that is not a whole chunk is finished
// in scalar code. fp32 accumulation; the order is fixed, so results never depend on the
// thread count (they differ from the portable path's order, and between the two SIMD
// kernels, in the last bits: all are within float round-off of the float64 product).
//
// Measured (bench/kernel/gemm_w4_bench.cpp, 1 thread, N = K = 4096, weights streamed from
// DRAM, shared 2-core VM at load 4-7, medians of 3, two runs): M = 1 int4 g128 28-30 GFLOPS
// = 3.8-4.3× Eigen's float GEMV and 0.94-1.02× memcpy's bytes/s on the 8.5 MiB of codes +
// scales (before the GEMV kernel: 2.75×, 0.64×); uint4+zeros g128 3.5-3.6×, nf4 g64 3.1×,
// mxfp4 g32 3.0-3.1×, nvfp4 g16 2.7-2.8×; M = 16 int4 g128 1.8-2.1× Eigen. The GEMV runs at
// ~20 G weights/s even from L2: it is bound by the decode uops above, not by DRAM. The exact
// lut − z of the GEMV's non-uniform case (zero points, G not a multiple of 128: +8 vsubps)
// costs uint4+zeros g32/g64 ~14 % from L2 and ~10 % streamed (2-core EPYC VM, interleaved
// runs against the z·Σx form it replaced); the uniform case and no-zero formats are unchanged.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../format/float4.hpp"
#include "../format/int.hpp"
#include "../format/nf4.hpp"
#include "../quantize/qparams.hpp"
#include "gemm_options.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#define LOWBIT_KERNEL_W4_AVX512 1
#endif

namespace lowbit {

// Value of each 4-bit code of format F (int4, uint4, float4_e2m1fn, nf4, ...).
template <class F>
std::array<float, 16> w4_lut() {
  static_assert(F::bits == 4, "lowbit: gemm_w4 takes 4-bit formats (see lowbit/kernel/gemm_w4.hpp)");
  std::array<float, 16> t{};
  for (unsigned c = 0; c < 16; ++c) t[c] = float(F::decode(typename F::storage(c)));
  return t;
}

// Packed 4-bit weights as gemm_w4 reads them (non-owning; see the header comment).
struct w4_view {
  const std::uint8_t* codes = nullptr;
  Eigen::Index rows = 0, cols = 0;  // N, K
  Eigen::Index stride = 0;          // bytes per row, >= ceil(K/2)
  std::array<float, 16> lut{};
  const float* scale = nullptr;     // [N × ceil(K/G)]
  Eigen::Index scale_stride = 0;    // floats per row of scale (and zero), >= ceil(K/G)
  Eigen::Index group = 0;           // G
  const float* zero = nullptr;      // optional, code units
  float tensor_scale = 1.0f;

  std::uint8_t code(Eigen::Index n, Eigen::Index k) const {
    return std::uint8_t((codes[n * stride + k / 2] >> (4 * (k & 1))) & 0xF);
  }
  // Ŵ[n][k] in fp32, as the kernels form it.
  float value(Eigen::Index n, Eigen::Index k) const {
    const Eigen::Index g = n * scale_stride + k / group;
    const float z = zero ? zero[g] : 0.0f;
    return (lut[code(n, k)] - z) * (scale[g] * tensor_scale);
  }
};

// A strided float matrix: element (r, c) = data[r·stride_row + c·stride_col].
struct float_view {
  const float* data = nullptr;
  Eigen::Index rows = 0, cols = 0;
  Eigen::Index stride_row = 0, stride_col = 1;
  float operator()(Eigen::Index r, Eigen::Index c) const { return data[r * stride_row + c * stride_col]; }
};

// Owning packed weights built from the quantizer's output (int4, uint4, e2m1 with float, MX
// e8m0 or NVFP4 ue4m3 + tensor scales, nf4) with any granularity whose blocks span G columns
// (per-group 1 × G, MX/NVFP4 blocks, per-channel, per-tensor, r × G blocks).
class w4_weights {
 public:
  w4_weights() = default;

  template <class F, class = std::enable_if_t<F::bits == 4>>
  explicit w4_weights(const quantized<F>& q) {
    const qparams& p = q.params;
    LOWBIT_CHECK(q.rows() > 0 && q.cols() > 0, "w4_weights: empty weights");
    LOWBIT_CHECK(p.zeros != zero_kind::offset, "w4_weights: float offsets (KIVI) are not supported, use integer zero points");
    n_ = q.rows();
    k_ = q.cols();
    stride_ = (k_ + 1) / 2;
    group_ = p.gran.cols_per_block(k_);
    codes_.assign(std::size_t(n_ * stride_), 0);
    for (Eigen::Index n = 0; n < n_; ++n)
      for (Eigen::Index k = 0; k < k_; ++k)
        codes_[std::size_t(n * stride_ + k / 2)] |= std::uint8_t((q.codes(n, k) & 0xF) << (4 * (k & 1)));
    // One scale row per output channel (blocks of r × G with r > 1 are expanded).
    const Eigen::Index ng = p.scale.cols();
    scale_.resize(std::size_t(n_ * ng));
    if (p.zeros == zero_kind::integer) zero_.resize(std::size_t(n_ * ng));
    for (Eigen::Index n = 0; n < n_; ++n)
      for (Eigen::Index g = 0; g < ng; ++g) {
        scale_[std::size_t(n * ng + g)] = p.scale(p.block_row(n), g);
        if (!zero_.empty()) zero_[std::size_t(n * ng + g)] = p.zero(p.block_row(n), g);
      }
    tensor_ = p.tensor_scale;
    lut_ = w4_lut<F>();
  }

  w4_view view() const {
    w4_view v;
    v.codes = codes_.data();
    v.rows = n_;
    v.cols = k_;
    v.stride = stride_;
    v.lut = lut_;
    v.scale = scale_.data();
    v.scale_stride = group_ > 0 ? (k_ + group_ - 1) / group_ : 0;
    v.group = group_;
    v.zero = zero_.empty() ? nullptr : zero_.data();
    v.tensor_scale = tensor_;
    return v;
  }
  Eigen::Index rows() const { return n_; }
  Eigen::Index cols() const { return k_; }
  // Bytes a product streams: packed codes + scales (+ zeros).
  std::size_t bytes() const { return codes_.size() + 4 * (scale_.size() + zero_.size()); }

 private:
  Eigen::Index n_ = 0, k_ = 0, stride_ = 0, group_ = 0;
  std::vector<std::uint8_t> codes_;
  std::vector<float> scale_, zero_;
  float tensor_ = 1.0f;
  std::array<float, 16> lut_{};
};

namespace detail {

inline void check_w4(const float_view& x, const w4_view& w, float* y, Eigen::Index ldy) {
  LOWBIT_CHECK(x.data != nullptr && x.rows > 0 && x.cols > 0, "gemm_w4: empty activations (", x.rows, " x ", x.cols, ")");
  LOWBIT_CHECK(w.codes != nullptr && w.rows > 0 && w.cols > 0, "gemm_w4: empty weights (", w.rows, " x ", w.cols, ")");
  LOWBIT_CHECK(x.cols == w.cols, "gemm_w4: K mismatch: activations are ", x.rows, " x ", x.cols, ", weights are ",
               w.rows, " x ", w.cols, " (N x K)");
  LOWBIT_CHECK(w.group > 0, "gemm_w4: group size must be > 0, got ", w.group);
  LOWBIT_CHECK(w.stride >= (w.cols + 1) / 2, "gemm_w4: weight row stride ", w.stride, " bytes < ceil(K/2) = ",
               (w.cols + 1) / 2);
  const Eigen::Index ng = (w.cols + w.group - 1) / w.group;
  LOWBIT_CHECK(w.scale != nullptr, "gemm_w4: scales are required");
  LOWBIT_CHECK(w.scale_stride >= ng, "gemm_w4: scale rows hold ", w.scale_stride, " groups, K = ", w.cols,
               " with group ", w.group, " needs ", ng);
  LOWBIT_CHECK(y != nullptr && ldy >= w.rows, "gemm_w4: output row stride ", ldy, " < N = ", w.rows);
}

// Portable: Ŵ formed element by element (w4_view::value), fp32 accumulation in K order.
inline void gemm_w4_portable(const float_view& x, const w4_view& w, float* y, Eigen::Index ldy, int nt) {
  (void)nt;
  LOWBIT_OMP_PARALLEL_FOR(nt)
  for (Eigen::Index n = 0; n < w.rows; ++n)
    for (Eigen::Index m = 0; m < x.rows; ++m) {
      float acc = 0.0f;
      for (Eigen::Index k = 0; k < w.cols; ++k) acc = std::fma(x(m, k), w.value(n, k), acc);
      y[m * ldy + n] = acc;
    }
}

#if defined(LOWBIT_KERNEL_W4_AVX512)
constexpr int w4_nr = 4;  // rows of W per register tile
constexpr int w4_mr = 4;  // rows of X per register tile

// Horizontal sum in a fixed order (pairwise over the 16 lanes).
inline float w4_hsum(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  for (int w = 8; w > 0; w /= 2)
    for (int i = 0; i < w; ++i) t[i] += t[i + w];
  return t[0];
}

// Table (lut − z)·(s·t) of group g of row n.
inline __m512 w4_table(const w4_view& w, __m512 lut, Eigen::Index n, Eigen::Index g) {
  const Eigen::Index i = n * w.scale_stride + g;
  const __m512 s = _mm512_set1_ps(w.scale[i] * w.tensor_scale);
  return w.zero ? _mm512_mul_ps(_mm512_sub_ps(lut, _mm512_set1_ps(w.zero[i])), s) : _mm512_mul_ps(lut, s);
}

// Chunk layouts (the activations are reordered once per call to match):
//   w4_mode::c32   32 elements = 16 code bytes widened to 16 dword lanes (vpmovzxbd); lane i
//                  holds elements 2i (low nibble) and 2i+1 (high); x order: evens, then odds.
//                  One table per chunk (G a multiple of 32).
//   w4_mode::pair  as c32 with G = 16: lanes 0-7 and 8-15 belong to two groups, two tables
//                  picked by index bit 4 (vpermt2ps).
//   w4_mode::c128  128 elements = 64 code bytes loaded as 16 dwords; lane i holds elements
//                  8i..8i+7, nibble p of the dword is element 8i+p: 8 shifts and 8 vpermps, no
//                  widening shuffle (G a multiple of 128); x order: for p = 0..7, x[8i+p].
enum class w4_mode { c32, pair, c128 };

template <w4_mode Mode>
constexpr Eigen::Index w4_chunk = Mode == w4_mode::c128 ? 128 : 32;

// R rows of X (xp: reordered, row stride kp) × NR rows of W (n0 ..) over `chunks` chunks.
// out[r·NR + j] = Σ X[r]·Ŵ[n0 + j] over those chunks (fp32, fixed order).
template <int R, int NR, w4_mode Mode>
[[gnu::noinline]] inline void w4_tile(const float* xp, Eigen::Index kp, Eigen::Index chunks, const w4_view& w,
                                      Eigen::Index n0, float* out) {
  constexpr Eigen::Index CH = w4_chunk<Mode>;
  const __m512 lut = _mm512_loadu_ps(w.lut.data());
  // Two accumulators per output while registers allow it, so FMA chains stay independent.
  constexpr bool two = R * NR <= 8;
  __m512 acc[R][NR], acc2[R][NR];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = acc2[r][j] = _mm512_setzero_ps();
  const __m512i hi_lanes = _mm512_set_epi32(16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i low4 = _mm512_set1_epi32(0xF);
  const Eigen::Index cpg = Mode == w4_mode::pair ? 1 : w.group / CH;  // chunks per table
  __m512 ta[NR], tb[NR];
  for (Eigen::Index c = 0; c < chunks;) {
    const Eigen::Index g = Mode == w4_mode::pair ? 2 * c : c / cpg;
    for (int j = 0; j < NR; ++j) {
      ta[j] = w4_table(w, lut, n0 + j, g);
      if (Mode == w4_mode::pair) tb[j] = w4_table(w, lut, n0 + j, g + 1);
    }
    const Eigen::Index c_end = std::min(chunks, c + cpg);
    for (; c < c_end; ++c) {
      if constexpr (Mode == w4_mode::c128) {
        for (int j = 0; j < NR; ++j) {
          const __m512i v = _mm512_loadu_si512(w.codes + (n0 + j) * w.stride + 64 * c);
#define LOWBIT_W4_NIBBLES(P)                                                                   \
  {                                                                                            \
    const __m512 w0 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4 * (P)), ta[j]);            \
    const __m512 w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4 * (P) + 4), ta[j]);        \
    for (int r = 0; r < R; ++r) {                                                              \
      const float* xr = xp + r * kp + CH * c + 16 * (P);                                       \
      acc[r][j] = _mm512_fmadd_ps(_mm512_loadu_ps(xr), w0, acc[r][j]);                         \
      if (two) acc2[r][j] = _mm512_fmadd_ps(_mm512_loadu_ps(xr + 16), w1, acc2[r][j]);        \
      else acc[r][j] = _mm512_fmadd_ps(_mm512_loadu_ps(xr + 16), w1, acc[r][j]);              \
    }                                                                                          \
  }
          LOWBIT_W4_NIBBLES(0) LOWBIT_W4_NIBBLES(2) LOWBIT_W4_NIBBLES(4) LOWBIT_W4_NIBBLES(6)
#undef LOWBIT_W4_NIBBLES
        }
      } else {
        __m512 xe[R], xo[R];
        for (int r = 0; r < R; ++r) {
          xe[r] = _mm512_loadu_ps(xp + r * kp + CH * c);
          xo[r] = _mm512_loadu_ps(xp + r * kp + CH * c + 16);
        }
        for (int j = 0; j < NR; ++j) {
          const __m512i v = _mm512_cvtepu8_epi32(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.codes + (n0 + j) * w.stride + 16 * c)));
          __m512 we, wo;
          if constexpr (Mode == w4_mode::pair) {
            const __m512i ie = _mm512_or_si512(_mm512_and_si512(v, low4), hi_lanes);
            const __m512i io = _mm512_or_si512(_mm512_srli_epi32(v, 4), hi_lanes);
            we = _mm512_permutex2var_ps(ta[j], ie, tb[j]);
            wo = _mm512_permutex2var_ps(ta[j], io, tb[j]);
          } else {
            we = _mm512_permutexvar_ps(v, ta[j]);  // uses the low 4 bits of each index
            wo = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), ta[j]);
          }
          for (int r = 0; r < R; ++r) {
            acc[r][j] = _mm512_fmadd_ps(xe[r], we, acc[r][j]);
            if (two) acc2[r][j] = _mm512_fmadd_ps(xo[r], wo, acc2[r][j]);
            else acc[r][j] = _mm512_fmadd_ps(xo[r], wo, acc[r][j]);
          }
        }
      }
    }
  }
  (void)hi_lanes;
  (void)low4;
  if (two)
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_add_ps(acc[r][j], acc2[r][j]);
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) out[r * NR + j] = w4_hsum(acc[r][j]);
}

template <w4_mode Mode>
inline void w4_tile_dispatch(int r, int nr, const float* xp, Eigen::Index kp, Eigen::Index chunks, const w4_view& w,
                             Eigen::Index n0, float* out) {
  if (nr == w4_nr) {
    switch (r) {
      case 1: w4_tile<1, w4_nr, Mode>(xp, kp, chunks, w, n0, out); break;
      case 2: w4_tile<2, w4_nr, Mode>(xp, kp, chunks, w, n0, out); break;
      case 3: w4_tile<3, w4_nr, Mode>(xp, kp, chunks, w, n0, out); break;
      default: w4_tile<4, w4_nr, Mode>(xp, kp, chunks, w, n0, out); break;
    }
  } else {  // N tail: one W row at a time
    for (int j = 0; j < nr; ++j) {
      float o[w4_mr];
      switch (r) {
        case 1: w4_tile<1, 1, Mode>(xp, kp, chunks, w, n0 + j, o); break;
        case 2: w4_tile<2, 1, Mode>(xp, kp, chunks, w, n0 + j, o); break;
        case 3: w4_tile<3, 1, Mode>(xp, kp, chunks, w, n0 + j, o); break;
        default: w4_tile<4, 1, Mode>(xp, kp, chunks, w, n0 + j, o); break;
      }
      for (int i = 0; i < r; ++i) out[i * w4_nr + j] = o[i];
    }
  }
}

template <w4_mode Mode>
inline void gemm_w4_avx512(const float_view& x, const w4_view& w, float* y, Eigen::Index ldy, int nt) {
  constexpr Eigen::Index CH = w4_chunk<Mode>;
  const Eigen::Index M = x.rows, N = w.rows, K = w.cols;
  const Eigen::Index chunks = K / CH, kp = CH * chunks;
  // X reordered per chunk into the lane order of the decoded weights (see w4_mode).
  std::vector<float> xp(static_cast<std::size_t>(std::max<Eigen::Index>(1, M * kp)));
  for (Eigen::Index m = 0; m < M; ++m)
    for (Eigen::Index c = 0; c < chunks; ++c) {
      float* d = xp.data() + m * kp + CH * c;
      if (Mode == w4_mode::c128) {
        for (Eigen::Index p = 0; p < 8; ++p)
          for (Eigen::Index i = 0; i < 16; ++i) d[16 * p + i] = x(m, CH * c + 8 * i + p);
      } else {
        for (Eigen::Index j = 0; j < 16; ++j) {
          d[j] = x(m, CH * c + 2 * j);
          d[16 + j] = x(m, CH * c + 2 * j + 1);
        }
      }
    }
  const Eigen::Index ntiles = (N + w4_nr - 1) / w4_nr;
  (void)nt;
  LOWBIT_OMP_PARALLEL_FOR(nt)
  for (Eigen::Index t = 0; t < ntiles; ++t) {
    const Eigen::Index n0 = t * w4_nr;
    const int nr = int(std::min<Eigen::Index>(w4_nr, N - n0));
    for (Eigen::Index m0 = 0; m0 < M; m0 += w4_mr) {
      const int r = int(std::min<Eigen::Index>(w4_mr, M - m0));
      float out[w4_mr * w4_nr];
      w4_tile_dispatch<Mode>(r, nr, xp.data() + m0 * kp, kp, chunks, w, n0, out);
      for (int i = 0; i < r; ++i)
        for (int j = 0; j < nr; ++j) {
          float acc = out[i * w4_nr + j];  // the K tail (< one chunk) in scalar code
          for (Eigen::Index k = kp; k < K; ++k) acc = std::fma(x(m0 + i, k), w.value(n0 + j, k), acc);
          y[(m0 + i) * ldy + n0 + j] = acc;
        }
    }
  }
}

// ---- M = 1 (decode GEMV) path, any G that is a multiple of 8 ----
// Same 128-element chunks and x order as w4_mode::c128 (lane i holds elements 8i..8i+7, so
// its 8 weights share one group whenever 8 | G); the group's s·t is applied per lane once per
// chunk:
//   y[n] = Σ_c Σ_lanes (s·t)_lane · Σ_p (lut[q_p] − z_lane)·x_p
// lut − z is formed in fp32 before the product, as in Ŵ's definition (a z·Σx correction
// instead cancels when codes sit at or near z), and s·t is the same fp32 product as on the
// other paths (Scaled; with t = 1 it is s and the multiply is skipped). Uniform (G a multiple
// of 128, a chunk's 16 lanes in one group): per row and group a table lut − z (one vsubps) is
// what that row's vpermps read, and s·t is a broadcast. Otherwise the chunk's ≤ 16 scales
// (and zeros) are a masked load + one vpermps each, and z is subtracted after each vpermps.
// Nibble decode without widening: loads at byte offsets 0..3 put byte 4i+o in the low byte of
// lane i, the low nibble is element 8i+2o and a 4-bit shift gives element 8i+2o+1 (vpermps
// reads index bits 0-3): 4 loads + 4 shifts + 8 vpermps + 9 FMA/mul per 128 weights and row,
// + 8 vsubps with zero points when G is not a multiple of 128. The next tile's codes are
// prefetched one chunk at a time. Error: a product term passes ≤ 8 (lane sum) + K/128
// (chunks) + 4 (w4_hsum) + the K tail's fp32 roundings: within (K+4)·2^-24·Σ|x·ŵ|.
constexpr int w4_gemv_nr = 4;  // rows of W per tile

struct w4_gemv_plan {
  const float* x = nullptr;         // reordered activations, 128 per chunk
  const std::int32_t* idx = nullptr;  // non-uniform: lane -> group offset, 16 per chunk
  const Eigen::Index* g0 = nullptr;   // non-uniform: first group of each chunk
  const __mmask16* mask = nullptr;    // non-uniform: groups present in each chunk
  Eigen::Index chunks = 0, cpg = 0;   // uniform: chunks per group
  bool safe_last = true;              // the last chunk may read 3 bytes past the row's codes
};

// NR rows of W from n0; out[j] = y[n0 + j] over the whole chunks.
template <int NR, bool Uniform, bool Zero, bool Scaled>
[[gnu::noinline]] inline void w4_gemv_tile(const w4_gemv_plan& p, const w4_view& w, Eigen::Index n0, bool last,
                                           float* out) {
  const __m512 lut = _mm512_loadu_ps(w.lut.data()), t = _mm512_set1_ps(w.tensor_scale);
  // Prefetch the same chunk of the next tile's rows (none past the last row).
  const Eigen::Index pf = n0 + 2 * NR <= w.rows ? NR * w.stride : 0;
  __m512 y[NR], tab[NR];  // tab: uniform with zero points: row j's lut − z for group g, else lut
  for (int j = 0; j < NR; ++j) {
    y[j] = _mm512_setzero_ps();
    tab[j] = lut;
  }
  Eigen::Index g = Uniform ? -1 : 0, gc = 0;  // uniform: group of chunk c, chunks of it left
  for (Eigen::Index c = 0; c < p.chunks; ++c) {
    const float* xc = p.x + 128 * c;
    __m512i gi = _mm512_setzero_si512();
    __mmask16 gm = 0;
    if constexpr (Uniform) {
      if (gc == 0) {
        ++g;
        gc = p.cpg;
        for (int j = 0; Zero && j < NR; ++j)
          tab[j] = _mm512_sub_ps(lut, _mm512_set1_ps(w.zero[(n0 + j) * w.scale_stride + g]));
      }
      --gc;
    } else {
      g = p.g0[c];
      gi = _mm512_loadu_si512(p.idx + 16 * c);
      gm = p.mask[c];
    }
    // Row N−1's last chunk must not read past the codes: shifts instead of offset loads.
    const bool shifts = last && c + 1 == p.chunks && !p.safe_last;
    for (int j = 0; j < NR; ++j) {
      const std::uint8_t* q = w.codes + (n0 + j) * w.stride + 64 * c;
      if (pf) _mm_prefetch(reinterpret_cast<const char*>(q + pf), _MM_HINT_T0);
      const Eigen::Index si = (n0 + j) * w.scale_stride + g;
      __m512 s = _mm512_setzero_ps(), z = s;  // non-uniform: the lanes' s·t and z
      if constexpr (!Uniform) {
        s = _mm512_permutexvar_ps(gi, _mm512_maskz_loadu_ps(gm, w.scale + si));
        if (Scaled) s = _mm512_mul_ps(s, t);
        if (Zero) z = _mm512_permutexvar_ps(gi, _mm512_maskz_loadu_ps(gm, w.zero + si));
      }
      // Weights lut[q] − z of the 16 lanes for index vector i (z in the table when uniform).
      const auto wv = [&](__m512i i) {
        const __m512 v = _mm512_permutexvar_ps(i, tab[j]);
        return !Uniform && Zero ? _mm512_sub_ps(v, z) : v;
      };
      __m512i v[4];
      v[0] = _mm512_loadu_si512(q);
      for (int o = 1; o < 4; ++o) v[o] = shifts ? _mm512_srli_epi32(v[0], 8 * o) : _mm512_loadu_si512(q + o);
      __m512 a = _mm512_mul_ps(wv(v[0]), _mm512_loadu_ps(xc));
      a = _mm512_fmadd_ps(wv(_mm512_srli_epi32(v[0], 4)), _mm512_loadu_ps(xc + 16), a);
      for (int o = 1; o < 4; ++o) {
        a = _mm512_fmadd_ps(wv(v[o]), _mm512_loadu_ps(xc + 32 * o), a);
        a = _mm512_fmadd_ps(wv(_mm512_srli_epi32(v[o], 4)), _mm512_loadu_ps(xc + 32 * o + 16), a);
      }
      if constexpr (Uniform) {  // s·t after the decode: a broadcast operand of the FMA when t = 1
        s = _mm512_set1_ps(w.scale[si]);
        if (Scaled) s = _mm512_mul_ps(s, t);
      }
      y[j] = _mm512_fmadd_ps(a, s, y[j]);
    }
  }
  for (int j = 0; j < NR; ++j) out[j] = w4_hsum(y[j]);
}

template <bool Uniform, bool Zero, bool Scaled>
inline void gemv_w4_avx512_run(const float_view& x, const w4_view& w, float* y, const w4_gemv_plan& p, int nt) {
  const Eigen::Index N = w.rows, K = w.cols, kp = 128 * p.chunks;
  const Eigen::Index ntiles = (N + w4_gemv_nr - 1) / w4_gemv_nr;
  (void)nt;
  LOWBIT_OMP_PARALLEL_FOR(nt)
  for (Eigen::Index t = 0; t < ntiles; ++t) {
    const Eigen::Index n0 = t * w4_gemv_nr;
    const int nr = int(std::min<Eigen::Index>(w4_gemv_nr, N - n0));
    float out[w4_gemv_nr];
    if (nr == w4_gemv_nr) {
      w4_gemv_tile<w4_gemv_nr, Uniform, Zero, Scaled>(p, w, n0, n0 + nr == N, out);
    } else {
      for (int j = 0; j < nr; ++j) w4_gemv_tile<1, Uniform, Zero, Scaled>(p, w, n0 + j, n0 + j + 1 == N, out + j);
    }
    for (int j = 0; j < nr; ++j) {
      float acc = out[j];  // the K tail (< one chunk) in scalar code
      for (Eigen::Index k = kp; k < K; ++k) acc = std::fma(x(0, k), w.value(n0 + j, k), acc);
      y[n0 + j] = acc;
    }
  }
}

template <bool Uniform, bool Zero>
inline void gemv_w4_avx512_scaled(const float_view& x, const w4_view& w, float* y, const w4_gemv_plan& p, int nt) {
  if (w.tensor_scale != 1.0f) gemv_w4_avx512_run<Uniform, Zero, true>(x, w, y, p, nt);
  else gemv_w4_avx512_run<Uniform, Zero, false>(x, w, y, p, nt);
}

// Y (1 × N) for G a multiple of 8.
inline void gemv_w4_avx512(const float_view& x, const w4_view& w, float* y, int nt) {
  const Eigen::Index K = w.cols, G = w.group, chunks = K / 128;
  std::vector<float> xp(std::size_t(128 * std::max<Eigen::Index>(chunks, 1)));
  for (Eigen::Index c = 0; c < chunks; ++c)
    for (Eigen::Index i = 0; i < 16; ++i)
      for (Eigen::Index e = 0; e < 8; ++e) xp[std::size_t(128 * c + 16 * e + i)] = x(0, 128 * c + 8 * i + e);
  w4_gemv_plan p;
  p.x = xp.data();
  p.chunks = chunks;
  p.safe_last = 64 * chunks + 3 <= (K + 1) / 2;
  const bool uniform = G % 128 == 0;
  std::vector<std::int32_t> idx;
  std::vector<Eigen::Index> g0;
  std::vector<__mmask16> mask;
  if (uniform) {
    p.cpg = G / 128;
  } else {  // lane i of chunk c is in group (128c + 8i) / G
    idx.resize(std::size_t(16 * chunks));
    g0.resize(std::size_t(chunks));
    mask.resize(std::size_t(chunks));
    for (Eigen::Index c = 0; c < chunks; ++c) {
      g0[std::size_t(c)] = 128 * c / G;
      for (Eigen::Index i = 0; i < 16; ++i)
        idx[std::size_t(16 * c + i)] = std::int32_t((128 * c + 8 * i) / G - g0[std::size_t(c)]);
      mask[std::size_t(c)] = __mmask16((1u << (idx[std::size_t(16 * c + 15)] + 1)) - 1u);
    }
    p.idx = idx.data();
    p.g0 = g0.data();
    p.mask = mask.data();
  }
  if (uniform) {
    if (w.zero) gemv_w4_avx512_scaled<true, true>(x, w, y, p, nt);
    else gemv_w4_avx512_scaled<true, false>(x, w, y, p, nt);
  } else {
    if (w.zero) gemv_w4_avx512_scaled<false, true>(x, w, y, p, nt);
    else gemv_w4_avx512_scaled<false, false>(x, w, y, p, nt);
  }
}
#endif  // LOWBIT_KERNEL_W4_AVX512

}  // namespace detail

// Y (M × N, row stride ldy) = X · Ŵᵀ for packed 4-bit weights (see the header comment).
inline void gemm_w4(const float_view& x, const w4_view& w, float* y, Eigen::Index ldy, const gemm_options& opt = {}) {
  detail::check_w4(x, w, y, ldy);
  const int nt = detail::gemm_threads(opt);
#if defined(LOWBIT_KERNEL_W4_AVX512)
  if (opt.path == kernel_path::best) {
    if (x.rows == 1 && w.group % 8 == 0) return detail::gemv_w4_avx512(x, w, y, nt);
    if (w.group % 128 == 0) return detail::gemm_w4_avx512<detail::w4_mode::c128>(x, w, y, ldy, nt);
    if (w.group % 32 == 0) return detail::gemm_w4_avx512<detail::w4_mode::c32>(x, w, y, ldy, nt);
    if (w.group == 16) return detail::gemm_w4_avx512<detail::w4_mode::pair>(x, w, y, ldy, nt);
  }
#endif
  detail::gemm_w4_portable(x, w, y, ldy, nt);
}

// Convenience: Y = X · Ŵᵀ with X any Eigen float expression (M × K).
template <class Derived>
Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> gemm_w4(const Eigen::MatrixBase<Derived>& x,
                                                                              const w4_weights& w,
                                                                              const gemm_options& opt = {}) {
  const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> xr = x.template cast<float>();
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> y(xr.rows(), w.rows());
  gemm_w4(float_view{xr.data(), xr.rows(), xr.cols(), xr.cols(), 1}, w.view(), y.data(), w.rows(), opt);
  return y;
}

}  // namespace lowbit
