// lowbit/kernel/quantize.hpp — SIMD fit + quantize, bit-identical to quantizer::fit + quantize.
//
//   quantized<F> qx = kernel::quantize(q, x, rows, cols, ld);          // x: float* or bfloat16*
//   qparams p       = kernel::quantize_into(q, x, rows, cols, ld, codes, codes_ld); // caller storage
//   qparams p       = kernel::quantize_packed(q, x, rows, cols, ld, out, out_ld);  // 4-bit codes
//   bool fast       = kernel::has_fast_path(q);
// With qparams p fitted earlier (static or delayed scaling: a calibrated scale, the previous
// step's amax, a checkpoint's scales), one pass over x and no fit: q.quantize(x, p)'s codes.
//   kernel::quantize_into(q, p, x, rows, cols, ld, codes, codes_ld);
//   kernel::quantize_packed(q, p, x, rows, cols, ld, out, out_ld);
//   quantized<F> qx = kernel::quantize(q, p, x, rows, cols, ld);
//
// x is row-major rows × cols (cols = K) with leading dimension ld >= cols elements; float or
// Eigen::bfloat16. The result has the same codes and qparams (scales, tensor scale, bit for
// bit) as q.quantize(x) with q.fit(x). Packed output holds two codes per byte, element 2k of a
// row in the low nibble of byte k (CUTLASS / torch float4_e2m1fn_x2 order), ceil(cols/2) bytes
// per row at stride out_ld; an odd last nibble is 0.
//
// Fast path (has_fast_path): Rounding = round_nearest_even, symmetric mapping without zero
// points (convention lowbit / awq / smoothquant), observer absmax (or minmax, which is the
// same range for a symmetric mapping), element format a signed integer (int8, int4, ...) or a
// signed minifloat of <= 8 bits (e4m3fn, e5m2, e2m1fn, ...), any granularity and scale format.
// Scales are vectorised for float, e8m0 (mx_scale_rule::floor) and narrow minifloat scale
// formats (ue4m3 / e4m3fn, with the NVFP4 tensor scale); other scale formats and MX rules use
// quantizer::block_from_range per block. Integer zero points (mapping::asymmetric with the
// lowbit / gptq / awq conventions, or GPTQ's symmetric one; observer minmax or absmax) take it
// too, for a signed or unsigned integer format of <= 8 bits (uint4 + zeros as AWQ/GPTQ
// checkpoints store it, asymmetric int8 per token) and blocks of explicit rows (per token,
// per group, 2-D blocks; not per-tensor / per-column): block [min, max] by sortable-key
// maxima, scale and zero by quantizer::block_from_range per block (tail::pad's zeros
// included), codes clamp(RNE(x / s) + z) by simd::encode_quotient_zero. KIVI's float offsets
// and every other quantizer run the scalar code.
//
// How: blocks are processed in panels that stay in L2 (one row for 1 × G blocks; br rows ×
// up to 1 MiB of input for 2-D tiles, so rows are read as long contiguous segments that the
// hardware prefetcher follows): absmax of every block of the panel (integer max of |x| bits,
// bf16 on 16-bit lanes, N blocks reduced at once), scales, then the codes while the panel is
// hot, with the next panel prefetched meanwhile. Four vectors (crossing MX / NVFP4 blocks) go
// out with one packing store (bytes or nibbles); outputs of >= 4 MiB use streaming stores.
// int8 codes reach that store unclamped: its signed saturating packs clamp to [-128, 127].
// Float inputs larger than L2 are read four rows at a time (512 bytes of each in turn for the
// maxima, 4N elements of each for the codes; max passes over all rows: eight rows, 256 bytes
// of each), which the prefetcher serves faster. Per token and
// for 2-D blocks, the encode of four rows also takes the block maxima of the next task's rows (a
// few vectors behind their prefetch), so the stream from DRAM does not pause for a max pass
// (fit 0.65 -> 0.75 per token, 0.43 -> 0.51 for 128 × 128 blocks here).
// Input is read once, except when a block spans all rows (per-tensor, per-column) or the
// NVFP4 tensor amax is needed first: then twice. With given qparams x is read once, row by
// row, its |x| bits max-reduced on the way (NaN/Inf detection); the SIMD encoder serves any
// quantizer with RNE rounding and no zero points or integer ones (the observer plays no
// part), and divisors that are all powers of two (MX) are multiplied by their exact reciprocals.
//   Codes of x / s_eff (the float32 quotient, as the scalar `/`): simd::encode_quotient
// multiplies by r = RN(1/s_eff) and keeps y = x·r only when a certificate shows that every
// value within 3·2^-24·|y| of y (where the quotient lies) has y's code: the codes of
// y(1 ± 2^-20), each rounded once by a fused multiply-add (minifloats in the value's binade,
// integers onto the integer grid), are equal. The integer test also fails on NaN / ±inf, so
// integer paths with given qparams take the |x| max of a group only when its test fails. On
// integer paths four vectors share one test. A vector that fails it (under 1 in 100 on random
// data, up to 1 in 7 for bf16 data under a per-tensor scale, whose quotients are often near
// ties; every vector when s_eff is outside [2^-125, 2^125]) is re-encoded from y if
// y·s_eff == x exactly, else divided (vdivps, correctly rounded). e8m0 scales multiply by the
// exact reciprocal 2^-e, which rounds identically.
//
// Measured (bench/kernel/quantize_bench.cpp: 8192 × 8192 from DRAM, one thread, bytes/s of the
// fastest call as a ratio to the fastest copy of the same bytes — glibc's memcpy or a
// non-temporal copy loop, 14-23 GB/s — timed after every call of the path; medians of 3 runs
// on a shared 2-core Sapphire Rapids VM at about 2.2 GHz, whose rates drift by ±0.05 between
// runs; 2026-12-03). "fit": fit + quantize; "given": with qparams fitted beforehand
// (quantize_static/* rows); "deq": kernel::dequantize to a 64-byte-aligned float output. In L2
// (128 × 256): Gelem/s with given qparams, then with the fit, f32 / bf16 (medians of 5; these
// rows are bimodal from one process to the next, by up to 30 %).
//   path                   fit f32  fit bf16  given f32  given bf16   deq   in L2 given, fit
//   int8 per-token           0.75*    0.52      0.80       0.64      0.94     2.9 / 2.8, 1.5 / 1.7
//   int8 per-column          0.41     0.30      0.81       0.61      0.88     4.7 / 3.8, 2.6 / 2.9
//   e4m3 per-tensor          0.39     0.27      0.70       0.34      0.90     2.7 / 2.6, 2.3 / 1.8
//   e4m3 128×128             0.51†    0.33      0.74       0.54      0.89     2.8 / 2.5, 1.9 / 1.9
//   mxfp8 (e4m3 + e8m0)      0.54     0.40      0.65       0.56      0.72     2.4 / 2.2, 1.4 / 1.4
//   mxfp4 (packed)           0.53     0.34      0.60       0.39      0.77     2.3 / 2.1, 1.4 / 1.3
//   nvfp4 (packed)           0.28     0.19      0.57       0.33      0.64     2.1 / 1.9, 1.1 / 1.1
//   int4 g128 (packed)       0.63     0.36      0.83       0.56      0.92     2.8 / 2.7, 1.7 / 1.5
//   uint4 asym g128 (packed) 0.47     0.27      0.71       0.51      0.92     2.5 / 2.5, 1.0 / 0.9
//   int8 asym per-token      0.58     0.37      0.76       0.61      0.95     2.6 / 2.5, 1.3 / 0.9
//   floor: one pass          0.94     0.90     (minimal_pass: saturate(RNE(x · c)), packed, streamed)
//   floor: two passes        0.47     0.49     (a bare max pass over x, then minimal_pass)
//   * with Ahead (below): medians of 4 runs alternating with the code before it (0.65), 0.71
//     against 0.67 in a slower window (3 runs)
//   † with Ahead for 2-D blocks: medians of 5 runs alternating with the code before it (0.43)
// Float inputs larger than L2 are read four rows at a time (interleaved_rows): one thread then
// reads 13-16 GB/s instead of 9-11, and the one-pass floor (no scale, no certificate, no NaN
// check, read the same way) reaches 0.94 of the copy (0.64-0.75 one row after the other). The
// 0.7 target is met by the f32 paths with given qparams except MX and NVFP4 (0.57-0.65), and
// by the f32 per-token fit (0.75: its max pass overlaps the encode of the rows before).
// It is not met by the other fits. Those that must see all of x before its first code
// (per-tensor, per-column, NVFP4's tensor amax) read x twice: 2·in + out bytes move for the
// in + out counted, so at the copy's own bandwidth they would reach (in + out) / (2·in + out) of
// it (f32 -> 8 bits: 5/9), and the two-pass floor measures 0.47-0.49: no single-thread two-pass
// fit can reach 0.7 here. Per-tensor and per-column fits reach 0.8-0.9 of that floor, NVFP4 0.6.
// The other one-pass fits reach 0.47-0.63 (a max pass and the scales of a panel before its
// codes, while the stream from DRAM waits). With Ahead, 128 × 128 blocks reach 0.51: a panel of
// 128 rows × 2048 columns (1 MiB) is read from DRAM during the encode of the panel before and
// encoded from cache a panel later, and its loads still wait for part of it (panels of whole
// bands, 4 MiB, kept in L3 here, gave 0.55; 256-1024 columns, which L2 holds, 0.38-0.45:
// shorter runs per row and page are read more slowly). Nor is it met by bf16: its paths are
// bound by the arithmetic (in L2 they encode 2-4 Gelem/s, 6-12 GB/s of traffic, about what 0.7
// of the copy needs, 10-14 GB/s, and DRAM streams leave less), so bf16 rows are read one at a
// time (reading them together was slower), except per column (detail::interleaving).
//
// A second host (AMD EPYC Zen 4, 2 cores, 1 MiB L2 per core, 32 MiB L3; fit and given columns
// 2026-12-05, the rest 2026-12-04, medians of 3 runs) copies 38-48 GB/s from one thread, 2-3x
// the host above. There the one-pass floor reaches 0.68-0.74 of the copy and the two-pass
// floor 0.38-0.40.
//   path                   fit f32  fit bf16  given f32  given bf16   deq   in L2 given f32 (Gelem/s)
//   int8 per-token           0.52     0.35      0.66       0.52      0.86     10.0
//   int8 per-column          0.33     0.24      0.64       0.54      0.74      5.5
//   e4m3 per-tensor          0.34     0.31      0.64       0.42      0.85      7.1
//   e4m3 128×128             0.40     0.29      0.63       0.43      0.86      7.1
//   mxfp8 (e4m3 + e8m0)      0.39     0.35      0.57       0.44      0.80      7.3
//   mxfp4 (packed)           0.44     0.31      0.55       0.37      0.77      6.7
//   nvfp4 (packed)           0.25     0.20      0.51       0.30      0.75      6.2
//   int4 g128 (packed)       0.50     0.23      0.64       0.39      0.75      7.5
// Dequantize meets 0.7 on every path; the rest is bound by arithmetic (a minifloat code takes
// 7 instructions, a division and a packing store; the l2 rows, 16 × 8192, encode 5.5-10
// Gelem/s with given qparams, while 0.7 of the copy means 5.9 Gelem/s for f32 -> 8 bits with
// the loads from DRAM on top). On this host the minifloat codes divide (simd.hpp,
// LOWBIT_DIVIDE_MINIFLOAT: vdivps is cheap on Zen), which took e4m3 per-tensor from bf16 with
// given qparams from 0.19 to 0.35 of the copy (its bf16 data fails the certificate on 1 vector
// in 12), and software prefetches go to L2 (LOWBIT_PREFETCH_L2: 5-35 % faster from DRAM).
//
// Threads: OpenMP (kernel_options::threads, 0 = OpenMP's default) over independent panels or
// rows; maxima are exact, so results are identical for every thread count.
//
// Errors (lowbit::error): empty shape, ld < cols, null pointers, a granularity the shape
// cannot take (tail::exact), NaN/Inf anywhere in x ("non-finite value v at (i, j)", the first
// in row-major order). quantize_into / quantize_packed leave the payload bytes of their
// output zero when they throw.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../format/scale.hpp"
#include "../granularity/granularity.hpp"
#include "../observer/observer.hpp"
#include "../quantize/qparams.hpp"
#include "../quantize/quantizer.hpp"
#include "../rounding/nearest.hpp"
#include "simd.hpp"

// GCC 12 flags the _mm512_undefined_* inside its own AVX-512 intrinsics as uninitialised
// once they are inlined here (a false positive); silenced for this header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace lowbit {
namespace kernel {

struct kernel_options {
  int threads = 0;  // OpenMP threads; 0 = OpenMP's default, 1 = the calling thread only
};

namespace detail {

using Index = Eigen::Index;

template <class T>
constexpr bool is_input_v = std::is_same_v<T, float> || std::is_same_v<T, Eigen::bfloat16>;

// Element formats with a SIMD encoder and decoder (no zero points).
template <class F>
constexpr bool simd_element() {
  if constexpr (F::kind == format_kind::integer) return F::is_signed;
  else return simd::is_byte_minifloat<F>() && F::is_signed;
}

// Integer formats the SIMD encoder takes with zero points (signed or unsigned, <= 8 bits).
template <class F>
constexpr bool simd_zero_element() {
  if constexpr (F::kind == format_kind::integer) return (F::max_int) < 256 && (F::min_int) > -256;
  else return false;
}
template <class F>
constexpr bool simd_format() {
  return simd_element<F>() || simd_zero_element<F>();
}

template <class SF>
constexpr bool simd_narrow_scale() {
  if constexpr (std::is_same_v<SF, float> || std::is_same_v<SF, float8_e8m0fnu>) return false;
  else return lowbit::detail::is_narrow_scale_v<SF> && simd::is_byte_minifloat<SF>();
}

inline Index round_up(Index n, Index m) { return (n + m - 1) / m * m; }

inline float bits_to_float(std::int32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

constexpr std::int32_t nonfinite_bits = 0x7F800000;  // |x| bits >= this: inf or NaN

// The tensor scale the scalar quantizer derives from a tensor absmax (1 without two levels).
template <class F, class SF, class R>
float tensor_scale_of(const quantizer<F, SF, R>& q, float amax) {
  if (!q.uses_tensor_scale()) return 1.0f;
  quant_options o = q.options();
  o.gran = per_tensor();
  const Eigen::MatrixXf zero = Eigen::MatrixXf::Zero(1, 1);
  return quantizer<F, SF, R>(o).from_ranges(1, 1, zero, zero, amax).tensor_scale;
}

// scale[k], eff[k] (s_eff) for blocks with absmax bits amax[k], k < n (n a multiple of N,
// arrays padded), under tensor scale t — quantizer::block_from_range's arithmetic.
template <class A, class F, class SF, class R>
void block_scales(const quantizer<F, SF, R>& q, const std::int32_t* amax, Index n, float t, float* scale,
                  float* eff) {
  using fb = simd::fb<A>;
  using ib = simd::ib<A>;
  constexpr Index N = Index(fb::size);
  const quant_options& o = q.options();
  if constexpr (std::is_same_v<SF, float>) {
    const bool floor_1e5 = F::kind == format_kind::integer &&
                           (o.conv == convention::awq || o.conv == convention::smoothquant);
    const fb qmax(static_cast<float>(F::max_value)), tv(t);
    for (Index k = 0; k < n; k += N) {
      fb a = simd::as_float<A>(ib::load_unaligned(amax + k));
      if (floor_1e5) a = xsimd::max(a, fb(1e-5f));
      fb s = a / qmax;
      s = xsimd::select(s == fb(0.0f), fb(1.0f), s);
      s.store_unaligned(scale + k);
      (s * tv).store_unaligned(eff + k);
    }
    return;
  } else if constexpr (std::is_same_v<SF, float8_e8m0fnu>) {
    if (o.mx_rule == mx_scale_rule::floor) {
      // e8m0 scales have no tensor scale (t = 1): s_eff = s, stored without arithmetic (an
      // all-zero block's 2^-127 is subnormal, and float arithmetic on it takes a microcode assist)
      (void)t;
      for (Index k = 0; k < n; k += N) {
        const ib a = ib::load_unaligned(amax + k);
        ib e = ((a >> 23) & ib(0xFF)) - ib(127 + F::emax_pow2);  // floor(log2 amax) − emax
        e = xsimd::min(xsimd::max(e, ib(-127)), ib(127));
        const ib bits = xsimd::select(e > ib(-127), (e + ib(127)) << 23, ib(0x00400000));  // 2^-127
        bits.store_unaligned(reinterpret_cast<std::int32_t*>(scale + k));
        bits.store_unaligned(reinterpret_cast<std::int32_t*>(eff + k));
      }
      return;
    }
  } else if constexpr (simd_narrow_scale<SF>()) {
    const fb denom(float(F::max_value) * t), tv(t);
    for (Index k = 0; k < n; k += N) {
      const fb a = simd::as_float<A>(ib::load_unaligned(amax + k));
      fb s = simd::decode_minifloat<SF, A>(simd::encode_minifloat<SF, A>(a / denom));
      s = xsimd::select(s == fb(0.0f), fb(float(SF::min_positive)), s);
      s = xsimd::select(a == fb(0.0f), fb(1.0f), s);
      s.store_unaligned(scale + k);
      (s * tv).store_unaligned(eff + k);
    }
    return;
  }
  for (Index k = 0; k < n; ++k) {  // any other scale format / rule: the scalar spec per block
    const float a = bits_to_float(amax[k]);
    const block_params b = q.block_from_range({-a, a}, t);
    scale[k] = b.scale;
    eff[k] = b.eff;
  }
}

// scale[k], eff[k], zero[k] for blocks with ranges [lo[k], hi[k]], k < n (a multiple of N), as
// quantizer::block_from_range under tensor scale t (the fast path has one-level scales: t = 1;
// the vectorised lanes assume it). Vectorised for fp32 scales and the
// asymmetric lowbit / gptq / awq conventions (the scalar float arithmetic, lane by lane):
//   lowbit, gptq: [lo, hi] widened to 0 (gptq: [0, 0] -> [-1, 1]); s = (hi − lo) / levels, 0 -> 1;
//                 z = clamp(qmin + RNE(−lo / s), qmin, qmax)
//   awq:          s = max(hi − lo, 1e-5) / levels;  z = qmin + clamp(−RNE(lo / s), 0, levels)
// Any other case runs block_from_range per block, as do N blocks where hi − lo overflows.
template <class A, class F, class SF, class R>
void zero_block_params(const quantizer<F, SF, R>& q, const float* lo, const float* hi, Index n, float t,
                       float* scale, float* eff, float* zero) {
  using fb = simd::fb<A>;
  const quant_options& o = q.options();
  const bool vec = o.map == mapping::asymmetric &&
                   (o.conv == convention::lowbit || o.conv == convention::gptq || o.conv == convention::awq);
  if constexpr (simd_zero_element<F>() && std::is_same_v<SF, float>) {
    if (vec && t == 1.0f) {
      const fb qmin(static_cast<float>(F::min_int)), qmax(static_cast<float>(F::max_int));
      const fb levels(float(F::max_int) - float(F::min_int));
      const fb zero_v(0.0f), one(1.0f);
      for (Index k = 0; k < n; k += Index(fb::size)) {
        fb l = fb::load_unaligned(lo + k), h = fb::load_unaligned(hi + k), s, z;
        if (o.conv == convention::awq) {
          s = xsimd::max(h - l, fb(1e-5f)) / levels;
          z = qmin + xsimd::min(xsimd::max(-xsimd::nearbyint(l / s), zero_v), levels);
        } else {
          l = xsimd::min(l, zero_v);
          h = xsimd::max(h, zero_v);
          if (o.conv == convention::gptq) {
            const auto both0 = l == zero_v && h == zero_v;
            l = xsimd::select(both0, fb(-1.0f), l);
            h = xsimd::select(both0, one, h);
          }
          s = (h - l) / levels;
          s = xsimd::select(s == zero_v, one, s);
          z = xsimd::min(xsimd::max(qmin + xsimd::nearbyint(-l / s), qmin), qmax);
        }
        if (xsimd::any(s == fb(std::numeric_limits<float>::infinity()))) {  // h − l beyond FLT_MAX
          for (Index u = k; u < k + Index(fb::size); ++u) {  // the scalar span, in double
            const block_params b = q.block_from_range({lo[u], hi[u]}, t);
            scale[u] = b.scale;
            eff[u] = b.eff;
            zero[u] = b.zero;
          }
          continue;
        }
        s.store_unaligned(scale + k);
        s.store_unaligned(eff + k);
        z.store_unaligned(zero + k);
      }
      return;
    }
  }
  (void)vec;
  for (Index k = 0; k < n; ++k) {
    const block_params b = q.block_from_range({lo[k], hi[k]}, t);
    scale[k] = b.scale;
    eff[k] = b.eff;
    zero[k] = b.zero;
  }
}

// max |x| bits over x[0..n).
template <class A, class T>
inline simd::ib<A> seg_max(const T* x, Index n) {
  using ib = simd::ib<A>;
  constexpr Index N = Index(ib::size);
  Index j = n / (2 * N) * (2 * N);
  ib m = simd::absmax_bits<A>(x, j);
  for (; j + N <= n; j += N) m = xsimd::max(m, simd::abs_bits<A>(simd::load<A>(x + j)));
  if (j < n) m = xsimd::max(m, simd::abs_bits<A>(simd::load_n<A>(x + j, std::size_t(n - j))));
  return m;
}

// amax[b] = max(amax[b], max |x| over block b) for the blocks of width bc (the last may be
// short) of one row segment x[0..n). bc == 1: one block per element (per-column scales).
template <class A, class T>
void row_block_max(const T* x, Index n, Index bc, std::int32_t* amax) {
  using ib = simd::ib<A>;
  constexpr Index N = Index(ib::size);
  if (bc == 1) {
    Index j = 0;
    for (; j + N <= n; j += N)
      xsimd::max(ib::load_unaligned(amax + j), simd::abs_bits<A>(simd::load<A>(x + j))).store_unaligned(amax + j);
    if (j < n)  // amax is padded to a multiple of N
      xsimd::max(ib::load_unaligned(amax + j), simd::abs_bits<A>(simd::load_n<A>(x + j, std::size_t(n - j))))
          .store_unaligned(amax + j);
    return;
  }
  const Index nfull = n / bc;
  Index b = 0;
  if (bc % N == 0) {
    ib v[N];
    for (; b + N <= nfull; b += N) {  // N blocks at once, one transpose-reduction
      if constexpr (std::is_same_v<T, Eigen::bfloat16>) {
        if (bc == N || bc % (2 * N) == 0) {  // on 16-bit lanes
          xsimd::max(ib::load_unaligned(amax + b), simd::block_absmax_bf16<A>(x + b * bc, bc)).store_unaligned(amax + b);
          continue;
        }
      }
      for (Index k = 0; k < N; ++k) {
        const T* p = x + (b + k) * bc;
        if (bc % (2 * N) == 0) {
          v[k] = simd::absmax_bits<A>(p, bc);
        } else {
          ib m = simd::abs_bits<A>(simd::load<A>(p));
          for (Index j = N; j < bc; j += N) m = xsimd::max(m, simd::abs_bits<A>(simd::load<A>(p + j)));
          v[k] = m;
        }
      }
      xsimd::max(ib::load_unaligned(amax + b), simd::transpose_max<A>(v)).store_unaligned(amax + b);
    }
  }
  for (; b * bc < n; ++b) {
    const Index j0 = b * bc;
    amax[b] = std::max(amax[b], simd::hmax<A>(seg_max<A>(x + j0, std::min(bc, n - j0))));
  }
}

// hi[b] = max(hi[b], max key), lo[b] = max(lo[b], max ~key) over block b (width bc, the last
// may be short) of one row segment x[0..n), with key = simd::order_key: hi holds the block
// maximum's key, ~lo its minimum's. Start both at INT32_MIN.
template <class A, class T>
void row_block_range(const T* x, Index n, Index bc, std::int32_t* hi, std::int32_t* lo) {
  using ib = simd::ib<A>;
  constexpr Index N = Index(ib::size);
  alignas(64) std::int32_t iota[N];
  for (Index k = 0; k < N; ++k) iota[k] = std::int32_t(k);
  const ib none(std::numeric_limits<std::int32_t>::min()), lane = ib::load_aligned(iota);
  // Block [j0, j1): hi / lo keys spread over the lanes (lanes past j1 hold INT32_MIN).
  auto block = [&](Index j0, Index j1, ib& h, ib& l) {
    h = none;
    l = none;
    Index j = j0;
    for (; j + N <= j1; j += N) {
      const ib k = simd::order_key<A>(simd::load<A>(x + j));
      h = xsimd::max(h, k);
      l = xsimd::max(l, ~k);
    }
    if (j < j1) {
      const ib k = simd::order_key<A>(simd::load_n<A>(x + j, std::size_t(j1 - j)));
      const auto in = lane < ib(std::int32_t(j1 - j));
      h = xsimd::max(h, xsimd::select(in, k, none));
      l = xsimd::max(l, xsimd::select(in, ~k, none));
    }
  };
  const Index nfull = n / bc;
  Index b = 0;
  if (bc % N == 0) {
    ib h[N], l[N];
    for (; b + N <= nfull; b += N) {  // N blocks at once, one transpose-reduction each
      for (Index k = 0; k < N; ++k) block((b + k) * bc, (b + k + 1) * bc, h[k], l[k]);
      xsimd::max(ib::load_unaligned(hi + b), simd::transpose_max<A>(h)).store_unaligned(hi + b);
      xsimd::max(ib::load_unaligned(lo + b), simd::transpose_max<A>(l)).store_unaligned(lo + b);
    }
  }
  for (; b * bc < n; ++b) {
    ib h, l;
    block(b * bc, std::min(n, (b + 1) * bc), h, l);
    hi[b] = std::max(hi[b], simd::hmax<A>(h));
    lo[b] = std::max(lo[b], simd::hmax<A>(l));
  }
}

// Rows read together. One thread streams rows from DRAM about 1.35x faster when it reads four
// of them at once, a chunk of each in turn, than one after the other: the hardware prefetcher
// keeps a stream per 4 KiB page in flight, and four pages in use at once keep more lines on
// their way (one thread here reads 9-11 GB/s from one row, 13-16 GB/s from four; glibc's
// large memcpy interleaves pages for the same reason). Max passes read 512 bytes of each row
// in turn (interleave, interleave_chunk; those over all rows: max_pass_rows), the encode pass
// 4N elements of each (rows_encode); only float inputs larger than L2 (interleaving).
constexpr Index interleaved_rows = 4;

// Elements by which row_encode's max of the rows read next trails their prefetch (Ahead):
// 16 vectors where the prefetches go to L1 (Sapphire Rapids); 32 where they go to L2 (Zen 4,
// where 16 left the loads waiting on DRAM: per-token fit f32 from DRAM 0.48 -> 0.58 of the
// copy, 24-48 vectors alike, 64 slower).
template <class A>
constexpr Index ahead_lag = (LOWBIT_PREFETCH_L2 ? 32 : 16) * Index(simd::fb<A>::size);
// Elements by which row_encode's Ahead prefetches the rows it encodes.
template <class A>
constexpr Index ahead_lead = 8 * Index(simd::fb<A>::size);

// Rows encoded by rows_encode: count of them, row s at x + s·ld, out + s·out_ld, divisors
// d, r (z) + s·dstride; prefetch pf + s·ld for s < pf_rows.
struct row_set {
  Index count = 1, ld = 0, out_ld = 0, dstride = 0, pf_rows = 1;
};

// Codes of C row segments x[0..n) + s·ld, s < C (C = 1, or interleaved_rows read together,
// 4N elements of each in turn; rs.count == C), row s written at out + s·out_ld. Block b (width bc)
// of row s divides by d[b], through r[b] = 1/d[b] (d, r, z + s·dstride; simd::encode_quotient;
// Mul: r[b] is exact and x·r[b] == x/d[b], and x must be finite or checked by the caller: a NaN
// gets an arbitrary code); bc == 1: d, r per element. Packed: nibbles, `out` at element 0
// (even), bc even or 1. Streamed: non-temporal stores for whole vectors. pf (may be null): the
// rows the caller reads next (row s at pf + s·ld, s < rs.pf_rows), prefetched one cache line per
// 64 bytes of x encoded. When bc is a multiple of N, groups of 4N elements (crossing blocks:
// MX 32, NVFP4 16) are encoded together and stored with one packing store.
// Seen: *seen = max(*seen, |x| bits) lane-wise on return (NaN/Inf detection when the scales
// were not fitted to x). Zero: integer codes with zero points z[b] (z[j] when bc == 1),
// simd::encode_quotient_zero. C is a template parameter: with the row count a run-time value,
// the one-row loop ran slower (bf16 with given qparams, 128 × 128 blocks: about 0.53 -> 0.43
// of the copy). Ahead (rs.pf_rows == C; one block, bc >= n, or bc % 4N == 0): also the
// block maxima of the rows read next, ahead[b + s·rs.dstride] = max(itself, max |x| bits of block
// b of row s of pf) (n elements, blocks of width bc), read ahead_lag elements behind their
// prefetch, so the max pass of the rows read next overlaps this encode and the stream from DRAM
// does not pause for it. dstride 0: the rows share one block row, their maxima combined.
template <Index C, class A, class F, bool Mul, class T, bool Zero, bool Seen, bool Ahead = false>
void row_encode(const T* x, Index n, Index bc, const float* d, const float* r, std::uint8_t* out, bool packed,
                bool streamed, const T* pf, simd::ib<A>* seen, const float* z, const row_set& rs,
                std::int32_t* ahead = nullptr) {
  using fb = simd::fb<A>;
  using ib = simd::ib<A>;
  constexpr Index N = Index(fb::size);
  if constexpr (Ahead)
    LOWBIT_CHECK(pf && rs.pf_rows == C && (bc >= n || bc % (4 * N) == 0),
                 "row_encode: Ahead needs the next rows and one block or blocks of a multiple of ", 4 * N);
  // An integer certificate fails on a NaN / infinite x (simd::encode_quotient), so the |x| max of
  // a 4-vector group is taken only when its certificate fails.
  constexpr bool late_seen = Seen && !Mul && F::kind == format_kind::integer;
  // int8 codes of 4-vector groups are left unclamped: the saturating packs of the store clamp
  // them to [-128, 127] (3 of about 12 instructions a vector fewer)
  constexpr bool sat = simd::use_avx512<A>() && !Mul && simd::saturating_packs_clamp<F>();
  ib m(0);  // |x| bits seen, kept in a register (out may alias *seen)
  auto load = [&](const T* src) {
    const fb v = simd::load<A>(src);
    if constexpr (Seen && !late_seen) m = xsimd::max(m, simd::abs_bits<A>(v));
    return v;
  };
  auto load_n = [&](const T* src, Index cnt) {
    const fb v = simd::load_n<A>(src, std::size_t(cnt));
    if constexpr (Seen) m = xsimd::max(m, simd::abs_bits<A>(v));
    return v;
  };
  auto code = [](const fb& xv, const fb& dv, const fb& rv, const fb& zv) {
    if constexpr (Zero) return simd::encode_quotient_zero<F, A>(xv, dv, rv, zv);
    else if constexpr (Mul) return simd::encode<F, A, true>(xv * rv);  // x finite, or checked (Seen)
    else return simd::encode_quotient<F, A>(xv, dv, rv);
  };
  // Codes of 4 vectors. Integers: one certificate test for all four (in a failing group, the
  // vectors with a failing lane are encoded again: exact quotients, else divided). Minifloats
  // test each vector: bf16 data under a per-tensor scale fails up to 1 vector in 7 (near ties),
  // and a group test would mispredict on half of the groups (measured 15 % slower there).
  auto code4 = [&](const fb* xv, const fb* dv, const fb* rv, const fb* zv, ib* c) {
    if constexpr (Mul || F::kind != format_kind::integer) {
      for (int k = 0; k < 4; ++k) c[k] = code(xv[k], dv[k], rv[k], zv[k]);
    } else {
      constexpr std::uint32_t all = simd::all_lanes<A>();
      std::uint32_t ok[4] = {all, all, all, all};
      for (int k = 0; k < 4; ++k) {
        if constexpr (Zero) c[k] = simd::encode_quotient_zero_try<F, A, sat>(xv[k], rv[k], zv[k], ok[k]);
        else c[k] = simd::encode_quotient_try<F, A, sat>(xv[k], rv[k], ok[k]);
      }
      if (LOWBIT_UNLIKELY((ok[0] & ok[1] & ok[2] & ok[3]) != all)) {
        for (int k = 0; k < 4; ++k) {
          if (ok[k] == all) continue;
          if constexpr (Zero) c[k] = simd::encode_quotient_zero_fix<F, A>(xv[k], dv[k], zv[k]);
          else c[k] = simd::encode_quotient_fix<F, A>(xv[k], dv[k], rv[k], ok[k]);
          if constexpr (sat) c[k] = simd::sign_extend_byte<A>(c[k]);  // the store clamps signed values
          if constexpr (late_seen) m = xsimd::max(m, simd::abs_bits<A>(xv[k]));  // NaN / ±inf fail
        }
      }
    }
  };
  // Row s: its x, out, divisors, zero points, prefetch segment (rs in locals: the stores through
  // out may alias it, so the loops would reload it)
  const Index ld = rs.ld, out_ld = rs.out_ld, dstride = rs.dstride, pf_rows = rs.pf_rows;
  auto xrow = [&](Index s) { return x + s * ld; };
  auto orow = [&](Index s) { return out + s * out_ld; };
  auto drow = [&](Index s) { return d + s * dstride; };
  auto rrow = [&](Index s) { return r + s * dstride; };
  auto zrow = [&](Index s) { return Zero ? z + s * dstride : z; };
  auto pfrow = [&](Index s) { return pf && s < pf_rows ? pf + s * ld : nullptr; };
  auto zero_at = [&](const float* zs, Index k) { return Zero ? fb(zs[k]) : fb(0.0f); };
  auto zeros_at = [&](const float* zs, Index k) { return Zero ? fb::load_unaligned(zs + k) : fb(0.0f); };
  auto put = [&](std::uint8_t* o, const ib& c, Index j, Index cnt) {
    if (cnt == N) {
      if (packed) streamed ? simd::stream_nibbles<A>(c, o + j / 2) : simd::store_nibbles_n<A>(c, o + j / 2, N);
      else streamed ? simd::stream_bytes<A>(c, o + j) : simd::store_bytes<A>(c, o + j);
    } else {
      if (packed) simd::store_nibbles_n<A>(c, o + j / 2, std::size_t(cnt));
      else simd::store_bytes_n<A>(c, o + j, std::size_t(cnt));
    }
  };
  auto put4 = [&](std::uint8_t* o, const ib* c, Index j, bool il) {
    if (packed) simd::store4_nibbles<A>(c, o + j / 2, streamed, il);
    else simd::store4_bytes<A>(c, o + j, streamed, il, sat);
  };
  auto prefetch4 = [&](const T* p, Index j) {
    if (p)
      for (Index k = 0; k < 4 * N; k += 64 / Index(sizeof(T))) simd::prefetch(p + j + k);
  };
  // Ahead: maxima of the rows read next. an[s] holds columns [ab·bc, done) of row s, in registers;
  // a block's maxima go to `ahead` when the reading passes its end (every gpb 4-vector steps).
  constexpr Index lag = ahead_lag<A>;
  ib an[C];
  for (Index s = 0; s < C; ++s) an[s] = ib(0);
  Index done = 0, ab = 0, steps = 0;
  const Index gpb = bc < n ? bc / (4 * N) : n;  // steps per block (never reached: one block)
  auto flush = [&] {  // an[] into block ab
    if (dstride == 0) {
      ib mm = an[0];
      for (Index s = 1; s < C; ++s) mm = xsimd::max(mm, an[s]);
      ahead[ab] = std::max(ahead[ab], simd::hmax<A>(mm));
    } else {
      for (Index s = 0; s < C; ++s) ahead[ab + s * dstride] = std::max(ahead[ab + s * dstride], simd::hmax<A>(an[s]));
    }
    for (Index s = 0; s < C; ++s) an[s] = ib(0);
  };
  auto ahead4 = [&](Index s, Index j) {
    if constexpr (Ahead) {
      if (j >= lag)
        for (int k = 0; k < 4; ++k)
          an[s] = xsimd::max(an[s], simd::abs_bits<A>(simd::load<A>(pf + s * ld + j - lag + k * N)));
    }
  };
  auto ahead_step = [&](Index j) {  // after ahead4 of every row
    if constexpr (Ahead) {
      if (j >= lag && ++steps == gpb) flush(), ++ab, steps = 0;
    }
  };
  auto finish_ahead = [&] {  // columns [done, n): to the end of block ab, then whole blocks
    if constexpr (Ahead) {
      const Index e = std::min(n, (ab + 1) * bc);
      for (Index s = 0; s < C; ++s) an[s] = xsimd::max(an[s], seg_max<A>(pf + s * ld + done, e - done));
      flush();
      if (e < n)
        for (Index s = 0; s < C; ++s) row_block_max<A>(pf + s * ld + e, n - e, bc, ahead + ab + 1 + s * dstride);
    }
    (void)ahead, (void)done, (void)ab, (void)steps, (void)gpb;
  };
  Index j = 0;
  if (bc == 1) {
    for (; j + 4 * N <= n; j += 4 * N)
      for (Index s = 0; s < C; ++s) {
        prefetch4(pfrow(s), j);
        const T* xs = xrow(s);
        const float *ds = drow(s), *rv_ = rrow(s), *zs = zrow(s);
        fb xv[4], dv[4], rv[4], zv[4];
        ib c[4];
        for (int k = 0; k < 4; ++k) {
          xv[k] = load(xs + j + k * N);
          dv[k] = fb::load_unaligned(ds + j + k * N);
          rv[k] = fb::load_unaligned(rv_ + j + k * N);
          zv[k] = zeros_at(zs, j + k * N);
        }
        code4(xv, dv, rv, zv, c);
        put4(orow(s), c, j, false);
      }
    for (Index s = 0; s < C; ++s)
      for (Index jj = j; jj < n; jj += N) {  // d, r (z) padded to a multiple of N
        const Index cnt = std::min(N, n - jj);
        put(orow(s),
            code(load_n(xrow(s) + jj, cnt), fb::load_unaligned(drow(s) + jj), fb::load_unaligned(rrow(s) + jj),
                 zeros_at(zrow(s), jj)),
            jj, cnt);
      }
    if constexpr (Seen) *seen = xsimd::max(*seen, m);
    finish_ahead();
    return;
  }
  if (bc % N == 0) {
    // bf16 in 2N-aligned blocks: the interleaving loads (no shifts), undone by the packing store
    const bool il = simd::has_interleaved_load4<A, T>() && bc % (2 * N) == 0;
    const Index vpb = bc / N;  // vectors per block
    Index b = 0, v = 0;        // block of the next vector, its index inside the block
    for (; j + 4 * N <= n; j += 4 * N) {
      Index bk[4];  // block of vector k
      for (int k = 0; k < 4; ++k) {
        bk[k] = b;
        if (++v == vpb) ++b, v = 0;
      }
      for (Index s = 0; s < C; ++s) {
        prefetch4(pfrow(s), j);
        ahead4(s, j);
        const T* xs = xrow(s);
        if constexpr (Ahead)  // the rows encoded come from L2 or L3 (2-D blocks: a band of rows)
          if (j + ahead_lead<A> + 4 * N <= n) prefetch4(xs, j + ahead_lead<A>);
        const float *ds = drow(s), *rs_ = rrow(s), *zs = zrow(s);
        fb xv[4], dv[4], rv[4], zv[4];
        if (il) {
          simd::load4_interleaved<A>(xs + j, xv);
          if constexpr (Seen && !late_seen)
            for (int k = 0; k < 4; ++k) m = xsimd::max(m, simd::abs_bits<A>(xv[k]));
        } else {
          for (int k = 0; k < 4; ++k) xv[k] = load(xs + j + k * N);
        }
        for (int k = 0; k < 4; ++k) dv[k] = fb(ds[bk[k]]), rv[k] = fb(rs_[bk[k]]), zv[k] = zero_at(zs, bk[k]);
        ib c[4];
        code4(xv, dv, rv, zv, c);
        put4(orow(s), c, j, il);
      }
      ahead_step(j);
    }
    done = std::max<Index>(0, j - lag);
  }
  const Index jt = j;
  for (Index s = 0; s < C; ++s) {
    const T* xs = xrow(s);
    std::uint8_t* os = orow(s);
    const T* ps = pfrow(s);
    for (j = jt; j < n;) {  // the rest block by block (j is a multiple of N when bc is)
      const Index b = j / bc, j1 = std::min(n, (b + 1) * bc);
      const fb dv(drow(s)[b]), rv(rrow(s)[b]), zv = zero_at(zrow(s), b);
      for (; j + N <= j1; j += N) {
        if (ps) simd::prefetch(ps + j);
        const fb xv = simd::load<A>(xs + j);
        if constexpr (Seen) m = xsimd::max(m, simd::abs_bits<A>(xv));  // also when late_seen
        put(os, code(xv, dv, rv, zv), j, N);
      }
      if (j < j1) put(os, code(load_n(xs + j, j1 - j), dv, rv, zv), j, j1 - j);
      j = j1;
    }
  }
  if constexpr (Seen) *seen = xsimd::max(*seen, m);
  (void)seen;
  finish_ahead();
}

// Codes of rs.count rows: interleaved_rows of them read together (row_encode<interleaved_rows>),
// fewer one at a time (row_encode<1>).
// Ahead: rows read together with a full set read next, whose block maxima go to ahead.
template <class A, class F, bool Mul, class T, bool Zero = false, bool Seen = false, bool Ahead = false>
void rows_encode(const T* x, Index n, Index bc, const float* d, const float* r, std::uint8_t* out, bool packed,
                 bool streamed, const T* pf, simd::ib<A>* seen, const float* z, const row_set& rs,
                 std::int32_t* ahead = nullptr) {
  if (rs.count == interleaved_rows) {
    row_encode<interleaved_rows, A, F, Mul, T, Zero, Seen, Ahead>(x, n, bc, d, r, out, packed, streamed, pf, seen, z,
                                                                  rs, ahead);
    return;
  }
  if constexpr (Ahead) LOWBIT_CHECK(false, "rows_encode: ahead needs interleaved_rows rows");
  else
    for (Index s = 0; s < rs.count; ++s)
      row_encode<1, A, F, Mul, T, Zero, Seen>(x + s * rs.ld, n, bc, d + s * rs.dstride, r + s * rs.dstride,
                                              out + s * rs.out_ld, packed, streamed,
                                              pf && s < rs.pf_rows ? pf + s * rs.ld : nullptr, seen,
                                              Zero ? z + s * rs.dstride : z, row_set{});
}

// Chunk of a row read before moving to the next row: 512 bytes (128 floats, 256 bfloat16).
template <class T>
constexpr Index interleave_chunk = 512 / Index(sizeof(T));
// Max-only passes over all of x (the NVFP4 tensor absmax; blocks that span every row) read
// more rows at once, in shorter chunks: on Zen 4 a bare max pass over 256 MiB of floats reads
// 27 GB/s from one thread with 8 rows × 256 bytes, 24 with 4 × 512, 20 from one row (16 × 256
// bytes: 23); the fits of e4m3 per tensor, int8 per column and NVFP4 from DRAM ran 3-6 % faster
// (medians of 15 runs alternating with 4 × 512). Their encode pass runs forwards: backwards,
// to find the rows the max pass read last still in L3, it ran 0-10 % slower here (a re-read of
// 16-256 MiB from this VM's L3 is no faster than from DRAM, and descending pages slow the
// prefetcher: 16 GB/s against 25).
constexpr Index max_pass_rows = 8;
template <class T>
constexpr Index max_pass_chunk = 256 / Index(sizeof(T));

// Whether rows are read together (rows_encode, interleave for the max passes) for a rows × cols
// input in blocks of bc columns: float inputs larger than L2. bfloat16 only per column (bc ==
// 1), where the rows read together share each vector of divisors from L1 (rows of 8192 have
// 64 KiB of them): on Zen 4 from DRAM 0.22 -> 0.24 of the copy with the fit, 0.39 -> 0.54 with
// given qparams (medians of 3). Its other paths move 3 bytes per element and are bound by the arithmetic; read
// together they ran slower (given qparams, 128 × 128 blocks: about 0.52 -> 0.43 of the copy on
// Sapphire Rapids, 5-15 % slower on Zen 4). In-cache inputs gain nothing from it.
template <class T>
bool interleaving(Index rows, Index cols, Index bc) {
  return (std::is_same_v<T, float> || bc == 1) && rows > 1 && rows * cols * Index(sizeof(T)) >= (Index(4) << 20);
}

// Calls f(i, j0, j1) for rows i in [i0, i1) and column chunks [j0, j1) covering [c0, c1),
// `together` rows at a time, chunk by chunk across them. Chunks never cross a block
// boundary (blocks of width bc from c0): a chunk holds whole blocks when bc <= len, else up to
// len columns of one block.
template <class Fn>
void interleave(Index i0, Index i1, Index c0, Index c1, Index bc, Index len, Fn&& f, Index together = interleaved_rows) {
  const Index step = bc <= len ? len / bc * bc : len;
  for (Index g = i0; g < i1; g += together) {
    const Index ge = std::min(i1, g + together);
    for (Index j0 = c0; j0 < c1;) {
      Index j1 = std::min(c1, j0 + step);
      if (bc > len) j1 = std::min(j1, c0 + ((j0 - c0) / bc + 1) * bc);
      for (Index i = g; i < ge; ++i) f(i, j0, j1);
      j0 = j1;
    }
  }
}

// First non-finite element of x in row-major order (there is one).
template <class T>
[[noreturn]] void throw_nonfinite(const T* x, Index rows, Index cols, Index ld, const char* where) {
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) {
      const float v = simd::to_float(x[i * ld + j]);
      LOWBIT_CHECK(std::isfinite(v), where, ": non-finite value ", v, " at (", i, ", ", j, ")");
    }
  LOWBIT_CHECK(false, where, ": non-finite value");
}

// max of v[0..n), n a multiple of N (block maxima padded to whole vectors; >= nonfinite_bits:
// a NaN or inf among them).
template <class A>
std::int32_t padded_max(const std::int32_t* v, Index n) {
  using ib = simd::ib<A>;
  ib m(std::numeric_limits<std::int32_t>::min());
  for (Index k = 0; k < n; k += Index(ib::size)) m = xsimd::max(m, ib::load_unaligned(v + k));
  return simd::hmax<A>(m);
}

// rec[k] = 1/eff[k], k < n (a multiple of N). Exact (e8m0 scales: eff = 2^e, e in [-127, 127]):
// 2^-e built from the bits, (254 − E) << 23 for the exponent field E, with 2^-127 (subnormal)
// <-> 2^127 swapped by hand (no float arithmetic on a subnormal). Otherwise RN(1/eff) for
// simd::encode_quotient, NaN where eff is outside [2^-125, 2^125] (then it divides); none
// where encode_quotient<F> divides and never reads them (simd::divides_quotient).
template <class A, class F, bool Exact>
void reciprocals_of(const float* eff, float* rec, Index n) {
  using fb = simd::fb<A>;
  using ib = simd::ib<A>;
  if constexpr (!Exact && simd::divides_quotient<F>()) return;
  for (Index k = 0; k < n; k += Index(fb::size)) {
    if constexpr (Exact) {
      const ib b = ib::load_unaligned(reinterpret_cast<const std::int32_t*>(eff + k));
      const ib tiny(0x00400000), huge(0x7F000000);  // 2^-127, 2^127
      ib r = xsimd::select(b == tiny, huge, huge - b);
      r = xsimd::select(b == huge, tiny, r);
      r.store_unaligned(reinterpret_cast<std::int32_t*>(rec + k));
    } else {
      const fb e = fb::load_unaligned(eff + k);
      const auto in = e >= fb(0x1p-125f) && e <= fb(0x1p125f);  // out-of-range lanes divide 1 / 1
      const fb rv = xsimd::select(in, fb(1.0f) / xsimd::select(in, e, fb(1.0f)),
                                  fb(std::numeric_limits<float>::quiet_NaN()));
      rv.store_unaligned(rec + k);
    }
  }
}

// The SIMD fit + quantize. Writes p (scale grid and tensor scale; p.scale sized) and codes
// (bytes at stride out_ld, or nibbles when packed). Returns false when x holds a NaN/Inf.
template <class A, class F, class SF, class R, class T>
bool quantize_simd(const quantizer<F, SF, R>& q, const T* x, Index rows, Index cols, Index ld, qparams& p,
                   std::uint8_t* out, Index out_ld, bool packed, int nt) {
  constexpr Index N = Index(simd::fb<A>::size);
  constexpr bool mul = std::is_same_v<SF, float8_e8m0fnu>;  // s_eff = 2^e: x·2^-e == x/2^e
  const granularity& g = p.gran;
  const Index br = g.rows_per_block(rows), bc = g.cols_per_block(cols);
  const Index gr = g.grid_rows(rows), gc = g.grid_cols(cols);
  // Outputs much larger than L2 are written with streaming stores.
  const bool streamed = rows * (packed ? (cols + 1) / 2 : cols) >= (Index(4) << 20);
  // Rows read interleaved_rows at a time in chunks of len columns (interleaving), else whole.
  constexpr Index S = interleaved_rows;
  const bool together = interleaving<T>(rows, cols, bc);
  const Index groups = together ? (rows + S - 1) / S : rows, per_group = together ? S : 1;
  // f(i, j0, j1) over rows [i0, i1) × columns [c0, c1): together, chunks of len columns
  // (interleave), else whole rows in a plain loop (in-cache inputs of short rows pay for every
  // call per row: through interleave, fits of 128 × 256 ran up to 30 % slower).
  auto over_rows = [&](Index i0, Index i1, Index c0, Index c1, Index bc, Index len, auto&& f) {
    if (together) interleave(i0, i1, c0, c1, bc, len, f);
    else
      for (Index i = i0; i < i1; ++i) f(i, c0, c1);
  };
  // The max-only passes over all rows, group grp of mgroups: max_pass_rows rows read together
  // in chunks of max_pass_chunk (together), else row grp whole.
  const Index mgroups = together ? (rows + max_pass_rows - 1) / max_pass_rows : rows;
  auto over_rows_max = [&](Index grp, Index bc, auto&& f) {
    if (together)
      interleave(grp * max_pass_rows, std::min(rows, (grp + 1) * max_pass_rows), 0, cols, bc, max_pass_chunk<T>, f,
                 max_pass_rows);
    else
      f(grp, 0, cols);
  };

  // Two-level scales need the tensor absmax first.
  float t = tensor_scale_of(q, 0.0f);
  const bool tensor_pass = q.uses_tensor_scale() && !(q.options().fixed_tensor_scale > 0);
  // 1-row blocks (NVFP4) of inputs whose block maxima take <= 128 KiB (bmax: gc per row,
  // padded to ldm; 1/bc of x's elements): one pass keeps every block maximum and the tensor
  // absmax is theirs, then the rows are encoded from them. The tensor pass and panels below
  // take the maxima twice; this way NVFP4 fits in cache ran 7-25 % faster. Larger inputs keep
  // that way: bmax would come from fresh pages each call, and faulting them in (16 MiB for
  // 8192 x 8192 on this VM: about 15 ms) cost more than the second max pass saves.
  const Index ldm = round_up(gc, N);
  if (tensor_pass && br == 1 && q.zeros() == zero_kind::none &&
      std::size_t(rows) * std::size_t(ldm) * sizeof(std::int32_t) <= (std::size_t(128) << 10)) {
    std::vector<std::int32_t> bmax(std::size_t(rows) * std::size_t(ldm), 0);
    // chunks of N whole blocks (row_block_max reduces N at once), at least interleave_chunk
    const Index len = std::max(interleave_chunk<T>, N * bc);
    std::int32_t amax = 0;
    LOWBIT_KERNEL_OMP(parallel for num_threads(nt) schedule(static) reduction(max : amax) if (nt > 1))
    for (Index grp = 0; grp < groups; ++grp) {
      const Index i0 = grp * per_group, i1 = std::min(rows, i0 + per_group);
      over_rows(i0, i1, 0, cols, bc, len, [&](Index i, Index j0, Index j1) {
        row_block_max<A>(x + i * ld + j0, j1 - j0, bc, bmax.data() + std::size_t(i * ldm + j0 / bc));
      });
      amax = std::max(amax, padded_max<A>(bmax.data() + i0 * ldm, (i1 - i0) * ldm));
    }
    if (amax >= nonfinite_bits) return false;
    t = tensor_scale_of(q, bits_to_float(amax));
    p.tensor_scale = t;
    std::vector<float> buf(std::size_t(3 * interleaved_rows * ldm) * std::size_t(nt));  // per thread: scale, eff, rec
    LOWBIT_KERNEL_OMP(parallel for num_threads(nt) schedule(static) if (nt > 1))
    for (Index grp = 0; grp < groups; ++grp) {
      const Index i0 = grp * per_group, cnt = std::min(rows, i0 + per_group) - i0, ni = i0 + cnt;  // ni: read next
      const Index span = interleaved_rows * ldm;
      float* scale = buf.data() + std::size_t(3 * span) * std::size_t(simd::thread_id());
      float *eff = scale + span, *rec = eff + span;
      for (Index s = 0; s < cnt; ++s) {
        block_scales<A>(q, bmax.data() + (i0 + s) * ldm, ldm, t, scale + s * ldm, eff + s * ldm);
        std::copy(scale + s * ldm, scale + s * ldm + gc, &p.scale(i0 + s, 0));
        reciprocals_of<A, F, mul>(eff + s * ldm, rec + s * ldm, ldm);
      }
      const row_set rs{cnt, ld, out_ld, ldm, std::min(cnt, rows - ni)};
      rows_encode<A, F, mul>(x + i0 * ld, cols, bc, eff, rec, out + i0 * out_ld, packed, streamed,
                             ni < rows ? x + ni * ld : nullptr, nullptr, nullptr, rs);
      if (streamed) simd::fence();
    }
    return true;
  }
  if (tensor_pass) {
    std::int32_t amax = 0;
    LOWBIT_KERNEL_OMP(parallel for num_threads(nt) schedule(static) reduction(max : amax) if (nt > 1))
    for (Index grp = 0; grp < mgroups; ++grp) {
      simd::ib<A> m(0);
      over_rows_max(grp, cols, [&](Index i, Index j0, Index j1) { m = xsimd::max(m, seg_max<A>(x + i * ld + j0, j1 - j0)); });
      amax = std::max(amax, simd::hmax<A>(m));
    }
    if (amax >= nonfinite_bits) return false;
    t = tensor_scale_of(q, bits_to_float(amax));
  }
  p.tensor_scale = t;
  auto reciprocals = [](const float* eff, float* rec, Index n) { reciprocals_of<A, F, mul>(eff, rec, n); };
  // Zero points (has_fast_path: integer F, blocks of explicit rows, one-level scales): block
  // ranges [min, max] (observer minmax; absmax: [−a, a]), scale and zero per block by
  // zero_block_params, codes by simd::encode_quotient_zero; always the panel engine.
  const bool zp = q.zeros() != zero_kind::none;
  const bool ranged = zp && q.options().obs.kind == observer_kind::minmax;
  const bool pad_tail = g.tail_rule == tail::pad;

  if (gr == 1 && br > 1 && !zp) {
    // Blocks span every row (per-tensor, per-column, per-head): maxima over all rows, then encode.
    const Index np = round_up(gc, N);
    std::vector<std::int32_t> part(std::size_t(np) * std::size_t(nt), 0), amax(std::size_t(np), 0);
    // bf16 with a scale per column: the maxima kept as bf16 bits, 2N columns per instruction
    // (no widening), widened once at the end
    const bool cols16 = simd::use_avx512<A>() && std::is_same_v<T, Eigen::bfloat16> && bc == 1;
    std::vector<std::uint16_t> part16(cols16 ? std::size_t(np) * std::size_t(nt) : 0, 0);
    LOWBIT_KERNEL_OMP(parallel num_threads(nt) if (nt > 1)) {
      std::int32_t* mine = part.data() + std::size_t(np) * std::size_t(simd::thread_id());
      if (cols16) {
        if constexpr (std::is_same_v<T, Eigen::bfloat16>) {
          std::uint16_t* mine16 = part16.data() + std::size_t(np) * std::size_t(simd::thread_id());
          LOWBIT_KERNEL_OMP(for schedule(static))
          for (Index i = 0; i < rows; ++i) simd::absmax_bf16_bits<A>(x + i * ld, cols, mine16);
          for (Index k = 0; k < np; ++k) mine[k] = std::int32_t(mine16[k]) << 16;
        }
      } else {
        LOWBIT_KERNEL_OMP(for schedule(static))
        for (Index grp = 0; grp < mgroups; ++grp) {
          if (gc == 1) {  // per tensor: the maximum stays in a register across the chunks
            simd::ib<A> m(0);
            over_rows_max(grp, cols, [&](Index i, Index j0, Index j1) { m = xsimd::max(m, seg_max<A>(x + i * ld + j0, j1 - j0)); });
            mine[0] = std::max(mine[0], simd::hmax<A>(m));
          } else {
            over_rows_max(grp, bc, [&](Index i, Index j0, Index j1) {
              row_block_max<A>(x + i * ld + j0, j1 - j0, bc, mine + j0 / bc);
            });
          }
        }
      }
    }
    // the threads' maxima merged and checked N blocks per instruction (a scale per column has
    // as many blocks as x has columns; padding lanes hold 0)
    simd::ib<A> worst(0);
    for (Index k = 0; k < np; k += N) {
      simd::ib<A> m = simd::ib<A>::load_unaligned(part.data() + k);
      for (int th = 1; th < nt; ++th) m = xsimd::max(m, simd::ib<A>::load_unaligned(part.data() + th * np + k));
      m.store_unaligned(amax.data() + k);
      worst = xsimd::max(worst, m);
    }
    if (simd::hmax<A>(worst) >= nonfinite_bits) return false;
    const std::size_t nps = std::size_t(np);
    std::vector<float> scale(nps), eff(nps), rec(nps);
    block_scales<A>(q, amax.data(), np, t, scale.data(), eff.data());
    std::copy(scale.data(), scale.data() + gc, p.scale.data());  // a 1 × gc grid
    reciprocals(eff.data(), rec.data(), np);
    LOWBIT_KERNEL_OMP(parallel for num_threads(nt) schedule(static) if (nt > 1))
    for (Index grp = 0; grp < groups; ++grp) {
      const Index i0 = grp * per_group, cnt = std::min(rows, i0 + per_group) - i0, ni = i0 + cnt;  // ni: read next
      const row_set rs{cnt, ld, out_ld, 0, std::min(cnt, rows - ni)};
      rows_encode<A, F, mul>(x + i0 * ld, cols, bc, eff.data(), rec.data(), out + i0 * out_ld, packed, streamed,
                             ni < rows ? x + ni * ld : nullptr, nullptr, nullptr, rs);
      if (streamed) simd::fence();
    }
    return true;
  }

  // Panels: rg block rows (interleaved_rows of 1-row blocks when interleaving, else one) × pb
  // column blocks, sized to stay in L2 between the max and the encode pass (1 MiB of input:
  // rows are read as long contiguous segments, or interleaved chunks, which the hardware
  // prefetcher follows; the next panel is prefetched while this one is encoded).
  const Index rg = together && br == 1 ? S : 1;
  // Rows read together, whole rows or 2-D blocks of a multiple of 4N columns: the encode of a
  // task also takes the block maxima of the next task's rows (rows_encode's Ahead), which then
  // skips its max pass. (Blocks along one row gained nothing from it: their max pass reads the
  // panel from L2.)
  const bool ahead_ok = std::is_same_v<T, float> && together && !zp && (gc == 1 || (rg == 1 && bc % (4 * N) == 0));
  const Index budget = Index(1024) * 1024 / Index(sizeof(T));
  Index pb = bc == 1 ? gc : std::max<Index>(1, budget / (rg * br * bc));
  if (pb > N) pb = pb / N * N;
  pb = std::min(pb, gc);
  const Index npan = (gc + pb - 1) / pb, tasks = (gr + rg - 1) / rg * npan, pad = round_up(pb, N), npad = rg * pad;
  const std::size_t per = std::size_t(npad) * std::size_t(nt);
  std::vector<std::int32_t> amax_all(per), amin_all(ranged ? per : 0);
  std::vector<float> scale_all(per), eff_all(per), rec_all(per), zero_all(zp ? per : 0), lo_all(zp ? per : 0),
      hi_all(zp ? per : 0);
  std::atomic<bool> bad{false};
  LOWBIT_KERNEL_OMP(parallel num_threads(nt) if (nt > 1 && tasks > 1)) {
    Index ready = -1;  // the task whose maxima this thread's last encode left in amax
    LOWBIT_KERNEL_OMP(for schedule(static))
    for (Index task = 0; task < tasks; ++task) {
      // Block row gi0 + u of the task: entries [u·pad, (u + 1)·pad) of each array.
      const std::size_t off = std::size_t(npad) * std::size_t(simd::thread_id());
      std::int32_t* amax = amax_all.data() + off;
      float* scale = scale_all.data() + off;
      float* eff = eff_all.data() + off;
      float* rec = rec_all.data() + off;
      std::int32_t* amin = ranged ? amin_all.data() + off : nullptr;  // max of ~key: ~amin[k] is the min's key
      float* zero = zp ? zero_all.data() + off : nullptr;
      const Index gi0 = task / npan * rg, gi1 = std::min(gr, gi0 + rg);
      const Index b0 = (task % npan) * pb, b1 = std::min(gc, b0 + pb);
      const Index i0 = gi0 * br, i1 = std::min(rows, gi1 * br), c0 = b0 * bc, c1 = std::min(cols, b1 * bc);
      // The max pass reads rows whole: the encode pass of the previous panel prefetched them, rows
      // together (whole rows keep N blocks per transpose-reduction).
      const Index len = together ? round_up(c1 - c0, bc) : 0;
      // Entry of (i, j0): rg > 1 only for 1-row blocks; no division in the common case (short
      // in-cache rows pay for each)
      auto at = [&](Index i, Index j0) { return (rg > 1 ? (i - i0) * pad : 0) + (j0 == c0 ? 0 : (j0 - c0) / bc); };
      if (ranged) {
        std::fill(amax, amax + npad, std::numeric_limits<std::int32_t>::min());
        std::fill(amin, amin + npad, std::numeric_limits<std::int32_t>::min());
        over_rows(i0, i1, c0, c1, bc, len, [&](Index i, Index j0, Index j1) {
          row_block_range<A>(x + i * ld + j0, j1 - j0, bc, amax + at(i, j0), amin + at(i, j0));
        });
      } else if (task != ready) {
        std::fill(amax, amax + npad, 0);
        over_rows(i0, i1, c0, c1, bc, len, [&](Index i, Index j0, Index j1) {
          row_block_max<A>(x + i * ld + j0, j1 - j0, bc, amax + at(i, j0));
        });
      }
      // NaN/Inf: a block maximum (or ~minimum key) >= +inf's bits; padding lanes hold 0 / INT32_MIN
      if (padded_max<A>(amax, npad) >= nonfinite_bits || (ranged && padded_max<A>(amin, npad) >= nonfinite_bits)) {
        bad = true;
        continue;
      }
      if (zp) {
        float* lo = lo_all.data() + off;
        float* hi = hi_all.data() + off;
        for (Index u = 0; u < rg; ++u)
          for (Index k = 0; k < pad; ++k) {
            const Index e = u * pad + k, gi = gi0 + u;
            if (k >= b1 - b0 || gi >= gi1) {  // padding lanes
              lo[e] = hi[e] = 0.0f;
            } else if (ranged) {
              lo[e] = simd::key_to_float(~amin[e]);
              hi[e] = simd::key_to_float(amax[e]);
            } else {
              hi[e] = bits_to_float(amax[e]);
              lo[e] = -hi[e];
            }
            if (pad_tail && ((b0 + k + 1) * bc > cols || (gi + 1) * br > rows)) {  // the fit's zero padding
              lo[e] = std::fmin(lo[e], 0.0f);
              hi[e] = std::fmax(hi[e], 0.0f);
            }
          }
        zero_block_params<A>(q, lo, hi, npad, t, scale, eff, zero);
        for (Index gi = gi0; gi < gi1; ++gi)
          std::copy(zero + (gi - gi0) * pad, zero + (gi - gi0) * pad + (b1 - b0), &p.zero(gi, b0));  // row-major grid
      } else {
        block_scales<A>(q, amax, npad, t, scale, eff);
      }
      for (Index gi = gi0; gi < gi1; ++gi)
        std::copy(scale + (gi - gi0) * pad, scale + (gi - gi0) * pad + (b1 - b0), &p.scale(gi, b0));
      reciprocals(eff, rec, npad);
      // The next task's rows, prefetched row for row (chunk for chunk) while this task is encoded.
      const Index nt_task = task + 1, ngi = nt_task / npan * rg, nb0 = (nt_task % npan) * pb;
      const Index ni0 = ngi * br, ni1 = nt_task < tasks ? std::min(rows, (ngi + rg) * br) : ni0, nc0 = nb0 * bc;
      // Ahead: the next task has this one's shape, every group of rows is full
      const bool ahead = ahead_ok && ni1 - ni0 == i1 - i0 && (i1 - i0) % S == 0 &&
                         std::min(cols, nc0 + pb * bc) - nc0 == c1 - c0;
      if (ahead) std::fill(amax, amax + npad, 0);  // amax is free once the scales are made
      // Rows together: one block row of 1-row blocks each (rg > 1), or rows of one block row.
      const Index step = together ? S : 1, dstride = rg > 1 ? pad : 0;
      for (Index i = i0; i < i1; i += step) {
        const Index cnt = std::min(step, i1 - i), ni = ni0 + (i - i0), e = at(i, c0);
        const row_set rs{cnt, ld, out_ld, dstride, std::max<Index>(0, std::min(cnt, ni1 - ni))};
        std::uint8_t* o = out + i * out_ld + (packed ? c0 / 2 : c0);
        const T* pf = ni < ni1 ? x + ni * ld + nc0 : nullptr;
        if constexpr (simd_zero_element<F>()) {
          if (zp) {
            rows_encode<A, F, false, T, true>(x + i * ld + c0, c1 - c0, bc, eff + e, rec + e, o, packed, streamed, pf,
                                              nullptr, zero + e, rs);
            continue;
          }
        }
        if constexpr (std::is_same_v<T, float>) {
          if (ahead) {  // the next task's row ni has this row's entries
            rows_encode<A, F, mul, T, false, false, true>(x + i * ld + c0, c1 - c0, bc, eff + e, rec + e, o, packed,
                                                          streamed, pf, nullptr, nullptr, rs, amax + e);
            continue;
          }
        }
        rows_encode<A, F, mul>(x + i * ld + c0, c1 - c0, bc, eff + e, rec + e, o, packed, streamed, pf, nullptr,
                               nullptr, rs);
      }
      if (ahead) ready = task + 1;
      if (streamed) simd::fence();
    }
  }
  return !bad;
}

// Divisors of n blocks (k < n) from their scales sc[0..n) (contiguous: a row of the row-major
// grid, or its one column): eff[k] = sc[k] · t (quantizer::block_at's fp32 product), rec[k] its
// reciprocal (reciprocals_of), and with zero points zero[k] = zp[k]; entries [n, padded) hold 1
// and 0 (padded a multiple of N). N blocks per instruction (MX rows of 8192 elements have 256
// blocks: one at a time, this fill took a sixth of an encode in L2). Returns whether every
// divisor is a power of two in [2^-126, 2^126] (x · rec == x / eff; never with zero points,
// whose codes take the certificate path).
template <class A, class F>
bool fill_divisors(Index n, Index padded, const float* sc, float t, const float* zp, float* eff, float* rec,
                   float* zero) {
  using fb = simd::fb<A>;
  using ib = simd::ib<A>;
  constexpr Index N = Index(fb::size);
  auto bad = xsimd::batch_bool<std::int32_t, A>(false);  // lanes whose divisor is not a power of two
  alignas(64) float part[N];
  // entries [k, k + N) of v (· t): past n, `pad`
  auto get = [&](const float* v, Index k, float mul, float pad) {
    if (k + N <= n) return fb::load_unaligned(v + k) * fb(mul);
    for (Index u = 0; u < N; ++u) part[u] = k + u < n ? v[k + u] * mul : pad;
    return fb::load_aligned(part);
  };
  for (Index k = 0; k < padded; k += N) {
    const fb e = get(sc, k, t, 1.0f);
    e.store_unaligned(eff + k);
    const ib b = simd::as_int<A>(e), ex = b >> 23;  // e <= 0: ex < 1
    bad = bad || (b & ib(0x007FFFFF)) != ib(0) || ex < ib(1) || ex > ib(253);
    if (zp) get(zp, k, 1.0f, 0.0f).store_unaligned(zero + k);
  }
  const bool exact = !zp && !xsimd::any(bad);
  if (exact) reciprocals_of<A, F, true>(eff, rec, padded);
  else reciprocals_of<A, F, false>(eff, rec, padded);
  return exact;
}

// Whether every divisor scale · tensor_scale of p is > 0 (not NaN), N scales per instruction
// (Eigen's all() tests one at a time, which cost MX encodes in L2 5-7 %).
template <class A>
bool positive_divisors(const qparams& p) {
  using fb = simd::fb<A>;
  constexpr Index N = Index(fb::size);
  const float* sc = p.scale.data();
  const Index n = p.scale.size();
  const fb t(p.tensor_scale);
  auto bad = xsimd::batch_bool<float, A>(false);
  Index k = 0;
  for (; k + N <= n; k += N) bad = bad || !(fb::load_unaligned(sc + k) * t > fb(0.0f));
  bool ok = !xsimd::any(bad);
  for (; k < n; ++k) ok = ok && sc[k] * p.tensor_scale > 0.0f;
  return ok;
}

// Codes under given qparams p, in one pass over x: block (gi, gj) divides by
// p.scale(gi, gj) · p.tensor_scale (fp32, quantizer::block_at's product) and, with integer
// zero points, adds p.zero(gi, gj). Returns false when x holds a NaN/Inf (the codes are then
// incomplete).
template <class A, class F, class T>
bool encode_simd(const qparams& p, const T* x, Index rows, Index cols, Index ld, std::uint8_t* out, Index out_ld,
                 bool packed, int nt) {
  using ib = simd::ib<A>;
  constexpr Index N = Index(ib::size), S = interleaved_rows;
  const Index br = p.gran.rows_per_block(rows), bc = p.gran.cols_per_block(cols), gc = p.gran.grid_cols(cols);
  const Index np = round_up(gc, N);  // bc == 1: gc == cols, one divisor per column
  const bool streamed = rows * (packed ? (cols + 1) / 2 : cols) >= (Index(4) << 20);
  const bool zp = p.zeros != zero_kind::none;
  const bool rows_together = interleaving<T>(rows, cols, bc);
  // One divisor per row (gc == 1, br == 1: per token, per-channel(0)): the divisors, reciprocals
  // (and zeros) of all rows, computed before the rows, N rows per instruction, read at stride 1
  // (a slot filled per row cost rows of 256 elements a fifth of their time).
  const bool per_row = gc == 1 && br == 1;
  const Index rp = per_row ? round_up(rows, N) : 0;
  std::vector<float> rowbuf(std::size_t(3 * rp));  // eff, rec, zero (rp each)
  float* const rd = rowbuf.data();
  const bool rows_exact =  // every row's divisor a power of two
      per_row && fill_divisors<A, F>(rows, rp, p.scale.data(), p.tensor_scale, zp ? p.zero.data() : nullptr, rd,
                                  rd + rp, rd + 2 * rp);
  // Per thread and row slot: eff, rec, zero (np each)
  std::vector<float> buf(per_row ? 0 : std::size_t(3 * np * S) * std::size_t(nt));
  std::int32_t seen = 0;
  LOWBIT_KERNEL_OMP(parallel num_threads(nt) reduction(max : seen) if (nt > 1)) {
    float* mine = per_row ? nullptr : buf.data() + std::size_t(3 * np * S) * std::size_t(simd::thread_id());
    Index have[S];  // block row whose divisors slot s holds
    bool exact[S];  // that block row's divisors are all powers of two (MX scales):
                    // x·(1/s) is exact and equals x/s, no certificate
    std::fill(have, have + S, Index(-1));
    std::fill(exact, exact + S, false);
    ib m(0);
    // Slot sl (eff, rec, zero at mine + 3·np·sl) takes block row gi's divisors.
    auto load_slot = [&](Index sl, Index gi) {
      float* eff = mine + 3 * np * sl;
      exact[sl] = fill_divisors<A, F>(gc, np, p.scale.data() + gi * gc, p.tensor_scale,
                                   zp ? p.zero.data() + gi * gc : nullptr, eff, eff + np, eff + 2 * np);
      have[sl] = gi;
    };
    // Codes of cnt rows from row i0 (row s's divisors eff, rec, zero + s·dstride), the next cnt
    // rows prefetched; the multiply needs every divisor in use exact.
    auto encode_with = [&](Index i0, Index cnt, const float* eff, const float* rec, const float* zero, Index dstride,
                           bool all_exact) {
      const T* xi = x + i0 * ld;
      std::uint8_t* o = out + i0 * out_ld;
      const Index ni = i0 + cnt;  // the first row read next
      const T* pf = ni < rows ? x + ni * ld : nullptr;
      const row_set rs{cnt, ld, out_ld, dstride, std::max<Index>(0, std::min(cnt, rows - ni))};
      if constexpr (simd_zero_element<F>()) {
        if (zp) {
          rows_encode<A, F, false, T, true, true>(xi, cols, bc, eff, rec, o, packed, streamed, pf, &m, zero, rs);
          return;
        }
      }
      if (all_exact)
        rows_encode<A, F, true, T, false, true>(xi, cols, bc, eff, rec, o, packed, streamed, pf, &m, nullptr, rs);
      else
        rows_encode<A, F, false, T, false, true>(xi, cols, bc, eff, rec, o, packed, streamed, pf, &m, nullptr, rs);
    };
    // slot s's divisors at stride dstride
    auto encode = [&](Index i0, Index cnt, Index dstride, bool all_exact) {
      encode_with(i0, cnt, mine, mine + np, mine + 2 * np, dstride, all_exact);
    };
    if (per_row) {
      const Index step = rows_together ? S : 1;
      LOWBIT_KERNEL_OMP(for schedule(static))
      for (Index g = 0; g < (rows + step - 1) / step; ++g) {
        const Index i0 = g * step;
        encode_with(i0, std::min(step, rows - i0), rd + i0, rd + rp + i0, rd + 2 * rp + i0, 1, rows_exact);
      }
    } else if (!rows_together) {
      // One row at a time, slot 0 (a loop of its own: in-cache inputs of short rows pay for every
      // step of the group logic below, up to 20 % with per-column scales)
      LOWBIT_KERNEL_OMP(for schedule(static))
      for (Index i = 0; i < rows; ++i) {
        const Index gi = i / br;
        if (gi != have[0]) load_slot(0, gi);
        encode(i, 1, 0, exact[0]);
      }
    } else {
      LOWBIT_KERNEL_OMP(for schedule(static))
      for (Index g = 0; g < (rows + S - 1) / S; ++g) {
        const Index i0 = g * S, i1 = std::min(rows, i0 + S), cnt = i1 - i0;
        // one block row: the rows share slot 0's divisors
        const bool shared = cnt == 1 || i0 / br == (i1 - 1) / br;
        for (Index i = i0; i < (shared ? i0 + 1 : i1); ++i)
          if (i / br != have[i - i0]) load_slot(i - i0, i / br);
        encode(i0, cnt, shared ? 0 : 3 * np, std::all_of(exact, exact + (shared ? 1 : cnt), [](bool e) { return e; }));
      }
    }
    if (streamed) simd::fence();
    seen = std::max(seen, simd::hmax<A>(m));
  }
  return seen < nonfinite_bits;
}

template <class F, class SF, class R, class T>
void check_input(const quantizer<F, SF, R>& q, const T* x, Index rows, Index cols, Index ld, const char* where) {
  LOWBIT_CHECK(rows > 0 && cols > 0, where, ": empty input (", rows, " x ", cols, ")");
  LOWBIT_CHECK(x != nullptr, where, ": input pointer is null");
  LOWBIT_CHECK(ld >= cols, where, ": leading dimension ", ld, " is smaller than cols ", cols);
  q.options().gran.check(rows, cols, where);
}

template <class F, class SF, class R>
qparams empty_params(const quantizer<F, SF, R>& q, Index rows, Index cols) {
  qparams p;
  p.gran = q.options().gran;
  p.rows = rows;
  p.cols = cols;
  p.scale.resize(p.gran.grid_rows(rows), p.gran.grid_cols(cols));  // every entry is written by quantize_simd
  p.zeros = q.zeros();
  if (p.zeros != zero_kind::none) p.zero.resize(p.scale.rows(), p.scale.cols());
  return p;
}

// Codes (rows × cols, one per element) to caller storage: row i at out + i·out_ld, bytes, or
// nibbles when packed (element 2k in the low nibble of byte k; an odd last nibble is 0).
template <class C>
void copy_codes(const C& codes, std::uint8_t* out, Index out_ld, bool packed) {
  for (Index i = 0; i < codes.rows(); ++i) {
    if (!packed) {
      std::memcpy(out + i * out_ld, codes.row(i).data(), std::size_t(codes.cols()));
      continue;
    }
    for (Index k = 0; k < (codes.cols() + 1) / 2; ++k) {
      const unsigned lo = codes(i, 2 * k) & 0xFu, hi = 2 * k + 1 < codes.cols() ? codes(i, 2 * k + 1) & 0xFu : 0u;
      out[i * out_ld + k] = std::uint8_t(lo | (hi << 4));
    }
  }
}

inline void zero_rows(std::uint8_t* out, Index rows, Index row_bytes, Index out_ld) {
  for (Index i = 0; i < rows; ++i) std::memset(out + i * out_ld, 0, std::size_t(row_bytes));
}

template <class T>
using input_map = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                             Eigen::OuterStride<>>;

}  // namespace detail

// True when kernel::quantize takes the SIMD path for q (otherwise it runs q's scalar code).
template <class F, class SF, class R>
bool has_fast_path(const quantizer<F, SF, R>& q) {
  if constexpr (!detail::simd_format<F>() || !std::is_same_v<R, round_nearest_even>) {
    (void)q;
    return false;
  } else {
    const quant_options& o = q.options();
    const bool obs = o.obs.kind == observer_kind::absmax || o.obs.kind == observer_kind::minmax;
    if (q.zeros() == zero_kind::none) return detail::simd_element<F>() && o.map == mapping::symmetric && obs;
    // integer zero points (asymmetric; GPTQ's symmetric convention): blocks of explicit rows
    return detail::simd_zero_element<F>() && q.zeros() == zero_kind::integer && o.gran.block_rows > 0 &&
           !q.uses_tensor_scale() && obs;
  }
}

// Fit + quantize a row-major rows × cols matrix (leading dimension ld) of float or
// Eigen::bfloat16: the codes and qparams of q.quantize(x) (q.fit(x)), bit for bit.
template <class A = xsimd::default_arch, class F, class SF, class R, class T>
quantized<F> quantize(const quantizer<F, SF, R>& q, const T* x, Eigen::Index rows, Eigen::Index cols,
                      Eigen::Index ld, kernel_options o = {}) {
  static_assert(detail::is_input_v<T>, "lowbit: kernel::quantize takes float or Eigen::bfloat16 input "
                                       "(see lowbit/kernel/quantize.hpp)");
  detail::check_input(q, x, rows, cols, ld, "kernel::quantize");
  if constexpr (detail::simd_format<F>()) {
    if (has_fast_path(q)) {
      quantized<F> r;
      r.params = detail::empty_params(q, rows, cols);
      r.codes.resize(rows, cols);
      if (!detail::quantize_simd<A>(q, x, rows, cols, ld, r.params, r.codes.data(), cols, false,
                                    simd::thread_count(o.threads)))
        detail::throw_nonfinite(x, rows, cols, ld, "kernel::quantize");
      return r;
    }
  }
  return q.quantize(detail::input_map<T>(x, rows, cols, Eigen::OuterStride<>(ld)));
}

// Fit + quantize into caller storage: codes (one byte per element) of row i at
// codes + i·codes_ld (codes_ld >= cols). Returns the qparams. Same results as quantize().
template <class A = xsimd::default_arch, class F, class SF, class R, class T>
qparams quantize_into(const quantizer<F, SF, R>& q, const T* x, Eigen::Index rows, Eigen::Index cols,
                      Eigen::Index ld, typename F::storage* codes, Eigen::Index codes_ld, kernel_options o = {}) {
  static_assert(detail::is_input_v<T>, "lowbit: kernel::quantize_into takes float or Eigen::bfloat16 input");
  static_assert(sizeof(typename F::storage) == 1, "lowbit: kernel::quantize_into writes byte codes");
  detail::check_input(q, x, rows, cols, ld, "kernel::quantize_into");
  LOWBIT_CHECK(codes != nullptr, "kernel::quantize_into: output pointer is null");
  LOWBIT_CHECK(codes_ld >= cols, "kernel::quantize_into: output stride ", codes_ld, " is smaller than cols ", cols);
  if constexpr (detail::simd_format<F>()) {
    if (has_fast_path(q)) {
      qparams p = detail::empty_params(q, rows, cols);
      auto* out = reinterpret_cast<std::uint8_t*>(codes);
      if (!detail::quantize_simd<A>(q, x, rows, cols, ld, p, out, codes_ld, false, simd::thread_count(o.threads))) {
        detail::zero_rows(out, rows, cols, codes_ld);
        detail::throw_nonfinite(x, rows, cols, ld, "kernel::quantize_into");
      }
      return p;
    }
  }
  quantized<F> r;
  try {
    r = q.quantize(detail::input_map<T>(x, rows, cols, Eigen::OuterStride<>(ld)));
  } catch (...) {
    detail::zero_rows(reinterpret_cast<std::uint8_t*>(codes), rows, cols, codes_ld);
    throw;
  }
  detail::copy_codes(r.codes, reinterpret_cast<std::uint8_t*>(codes), codes_ld, false);
  return r.params;
}

// Eigen overload: evaluated to a row-major float matrix unless it already is one (or bf16).
template <class A = xsimd::default_arch, class F, class SF, class R, class Derived>
quantized<F> quantize(const quantizer<F, SF, R>& q, const Eigen::DenseBase<Derived>& x, kernel_options o = {}) {
  using S = typename Derived::Scalar;
  if constexpr (detail::is_input_v<S> && bool(Derived::Flags & Eigen::DirectAccessBit) &&
                bool(Derived::Flags & Eigen::RowMajorBit)) {
    if (x.derived().innerStride() == 1)
      return quantize<A>(q, x.derived().data(), x.rows(), x.cols(), x.derived().outerStride(), o);
  }
  const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m = x.template cast<float>();
  return quantize<A>(q, m.data(), m.rows(), m.cols(), m.cols(), o);
}

// Fit + quantize into packed 4-bit codes (F of <= 4 bits): row i at out + i·out_ld, element
// 2k in the low nibble of byte k, ceil(cols/2) bytes per row. Returns the qparams.
template <class A = xsimd::default_arch, class F, class SF, class R, class T>
qparams quantize_packed(const quantizer<F, SF, R>& q, const T* x, Eigen::Index rows, Eigen::Index cols,
                        Eigen::Index ld, std::uint8_t* out, Eigen::Index out_ld, kernel_options o = {}) {
  static_assert(F::bits <= 4, "lowbit: quantize_packed needs a format of at most 4 bits (see lowbit/kernel/quantize.hpp)");
  static_assert(detail::is_input_v<T>, "lowbit: kernel::quantize_packed takes float or Eigen::bfloat16 input");
  detail::check_input(q, x, rows, cols, ld, "kernel::quantize_packed");
  const Eigen::Index row_bytes = (cols + 1) / 2;
  LOWBIT_CHECK(out != nullptr, "kernel::quantize_packed: output pointer is null");
  LOWBIT_CHECK(out_ld >= row_bytes, "kernel::quantize_packed: output stride ", out_ld, " bytes is smaller than ",
               row_bytes, " (two codes per byte)");
  const Eigen::Index bc = q.options().gran.cols_per_block(cols);
  if constexpr (detail::simd_format<F>()) {
    if (has_fast_path(q) && (bc % 2 == 0 || bc == 1 || bc >= cols)) {
      qparams p = detail::empty_params(q, rows, cols);
      if (!detail::quantize_simd<A>(q, x, rows, cols, ld, p, out, out_ld, true, simd::thread_count(o.threads))) {
        detail::zero_rows(out, rows, row_bytes, out_ld);
        detail::throw_nonfinite(x, rows, cols, ld, "kernel::quantize_packed");
      }
      return p;
    }
  }
  quantized<F> r;
  try {
    r = quantize<A>(q, x, rows, cols, ld, o);
  } catch (...) {
    detail::zero_rows(out, rows, row_bytes, out_ld);
    throw;
  }
  detail::copy_codes(r.codes, out, out_ld, true);
  return r.params;
}

// ---- Quantize with given qparams (static or delayed scaling) ------------------------------
// The codes of q.quantize(x, p), bit for bit, for qparams p fitted earlier (a calibrated static
// scale, the previous step's amax, a checkpoint's stored scales): one pass over x, no fit. p's
// granularity and scales are used as they are (values beyond a block's range saturate), and p
// must fit a rows × cols input (quantizer::check_params). On error the payload is left zero.
//   kernel::quantize_into(q, p, x, rows, cols, ld, codes, codes_ld);   // bytes
//   kernel::quantize_packed(q, p, x, rows, cols, ld, out, out_ld);     // nibbles (F <= 4 bits)
//   quantized<F> qx = kernel::quantize(q, p, x, rows, cols, ld);
namespace detail {
template <class A, class F, class SF, class R, class T>
void quantize_given(const quantizer<F, SF, R>& q, const qparams& p, const T* x, Index rows, Index cols, Index ld,
                    std::uint8_t* out, Index out_ld, bool packed, kernel_options o, const char* where) {
  static_assert(is_input_v<T>, "lowbit: kernel::quantize with qparams takes float or Eigen::bfloat16 input");
  LOWBIT_CHECK(x != nullptr, where, ": input pointer is null");
  LOWBIT_CHECK(ld >= cols, where, ": leading dimension ", ld, " is smaller than cols ", cols);
  q.check_params(rows, cols, p, where);
  const Index row_bytes = packed ? (cols + 1) / 2 : cols;
  LOWBIT_CHECK(out != nullptr, where, ": output pointer is null");
  LOWBIT_CHECK(out_ld >= row_bytes, where, ": output stride ", out_ld, " bytes is smaller than ", row_bytes);
  if constexpr (simd_format<F>() && std::is_same_v<R, round_nearest_even>) {
    // The observer plays no part with given scales; zero points: integer ones, integer F.
    const Index bc = p.gran.cols_per_block(cols);
    const bool simd = q.zeros() == zero_kind::none ? simd_element<F>()
                                                   : q.zeros() == zero_kind::integer && simd_zero_element<F>();
    // The SIMD encoders divide by positive scales only (simd::encode_quotient); a zero, negative
    // or NaN one (corrupt qparams) takes the scalar path, whose codes it defines.
    const bool positive = positive_divisors<A>(p);
    if (simd && positive && (!packed || bc % 2 == 0 || bc == 1 || bc >= cols)) {
      if (!encode_simd<A, F>(p, x, rows, cols, ld, out, out_ld, packed, simd::thread_count(o.threads))) {
        zero_rows(out, rows, row_bytes, out_ld);
        throw_nonfinite(x, rows, cols, ld, where);
      }
      return;
    }
  }
  try {
    copy_codes(q.quantize(input_map<T>(x, rows, cols, Eigen::OuterStride<>(ld)), p).codes, out, out_ld, packed);
  } catch (...) {
    zero_rows(out, rows, row_bytes, out_ld);
    throw;
  }
}
}  // namespace detail

template <class A = xsimd::default_arch, class F, class SF, class R, class T>
void quantize_into(const quantizer<F, SF, R>& q, const qparams& p, const T* x, Eigen::Index rows, Eigen::Index cols,
                   Eigen::Index ld, typename F::storage* codes, Eigen::Index codes_ld, kernel_options o = {}) {
  static_assert(sizeof(typename F::storage) == 1, "lowbit: kernel::quantize_into writes byte codes");
  detail::quantize_given<A>(q, p, x, rows, cols, ld, reinterpret_cast<std::uint8_t*>(codes), codes_ld, false, o,
                            "kernel::quantize_into");
}

template <class A = xsimd::default_arch, class F, class SF, class R, class T>
void quantize_packed(const quantizer<F, SF, R>& q, const qparams& p, const T* x, Eigen::Index rows,
                     Eigen::Index cols, Eigen::Index ld, std::uint8_t* out, Eigen::Index out_ld,
                     kernel_options o = {}) {
  static_assert(F::bits <= 4, "lowbit: quantize_packed needs a format of at most 4 bits");
  detail::quantize_given<A>(q, p, x, rows, cols, ld, out, out_ld, true, o, "kernel::quantize_packed");
}

template <class A = xsimd::default_arch, class F, class SF, class R, class T>
quantized<F> quantize(const quantizer<F, SF, R>& q, const qparams& p, const T* x, Eigen::Index rows,
                      Eigen::Index cols, Eigen::Index ld, kernel_options o = {}) {
  static_assert(sizeof(typename F::storage) == 1, "lowbit: kernel::quantize with qparams makes byte codes");
  quantized<F> r;
  r.params = p;
  r.codes.resize(rows > 0 ? rows : 0, cols > 0 ? cols : 0);
  detail::quantize_given<A>(q, p, x, rows, cols, ld, reinterpret_cast<std::uint8_t*>(r.codes.data()), cols, false,
                            o, "kernel::quantize");
  return r;
}

}  // namespace kernel
}  // namespace lowbit

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
