// lowbit/kernel/dequantize.hpp — SIMD dequantization, bit-identical to quantizer::dequantize.
//
//   kernel::dequantize(q, qx, out, ld_out);              // float out[rows × ld_out]
//   auto y = kernel::dequantize(q, qx);                  // quantizer::matrix
//   kernel::dequantize_packed(q, codes, codes_ld, p, out, ld_out);   // 4-bit packed codes
//   bool fast = kernel::has_fast_dequantize(q);
//
// x̂ = (decode(code) · scale) · tensor_scale in float32, the scalar expression and order, for
// every element (NaN/inf codes of e4m3fn / e5m2 decode as the scalar decoder does); with
// integer zero points x̂ = (code − zero) · (scale · tensor_scale). Packed codes: element 2k of
// a row in the low nibble of byte k (kernel/quantize.hpp's layout).
// Fast path: no zero points and a signed integer or signed minifloat element format of <= 8
// bits, or integer zero points (asymmetric; GPTQ's symmetric convention) and a signed or
// unsigned integer format of <= 8 bits; any granularity, scale format and rounding. Otherwise
// (KIVI's float offsets, NF4 ...) the scalar code runs. OpenMP over rows (kernel_options::threads).
// Outputs of >= 4 MiB are written with streaming stores wherever a vector lands on a 64-byte
// boundary (every vector of a 64-byte-aligned row when blocks are multiples of 16 wide: Eigen
// matrices with AVX-512, the matrix-returning overload); other vectors use plain stores.
// Measured (bench/kernel/quantize_bench.cpp: 8192 × 8192 codes from DRAM to a 64-byte-aligned
// float output, one thread, fastest call, ratio to the fastest copy of the same bytes —
// glibc's memcpy or a non-temporal copy loop, timed after every call; medians of 3 runs). On
// a Sapphire Rapids VM whose copy runs 14-23 GB/s: int8 per-token 1.14, per-column 1.08, e4m3
// per-tensor 0.99, 128×128 0.98, mxfp8 0.93, mxfp4 1.04, nvfp4 0.83, int4 g128 1.13, uint4
// asymmetric g128 1.09, int8 asymmetric per-token 1.18 (the output, 4/5 of the bytes, is
// written without being read). On an AMD Zen 4 VM whose copy runs 38-48 GB/s (2026-12-04):
// int8 per-token 0.86, per-column 0.74, e4m3 per-tensor 0.85, 128×128 0.86, mxfp8 0.80, mxfp4
// 0.77, nvfp4 0.75, int4 g128 0.75, uint4 asymmetric g128 0.76, int8 asymmetric per-token 0.86.
// The same host drifted by 2026-12-05 (the same code: 0.69-0.83, mxfp4 0.69, per-column 0.70);
// there MX rows took one flat loop over pairs of vectors (was a loop per 32-element block):
// mxfp4 0.70 -> 0.73, mxfp8 0.73 -> 0.78 from DRAM, and 40 -> 59 / 39 -> 47 GB/s in L2.
// Streaming stores roughly doubled these over plain ones. 4-bit codes decode by one permute
// from a 16-entry table, 8-bit minifloats as simd::decode_minifloat; the row loop is compiled
// per combination of nibble codes, zero points and a tensor scale other than 1.
//
// Errors (lowbit::error): codes and qparams shapes that disagree, a zero kind that is not
// this quantizer's, ld_out < cols, null pointers.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../quantize/qparams.hpp"
#include "../quantize/quantizer.hpp"
#include "quantize.hpp"
#include "simd.hpp"

// GCC 12 flags the _mm512_undefined_* inside its own AVX-512 intrinsics as uninitialised
// once they are inlined here (a false positive); silenced for this header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace lowbit {
namespace kernel {

namespace detail {

// out[i, ·] for every row; codes of row i at codes + i·codes_ld (bytes, or nibbles if packed).
template <class A, class F>
void dequantize_simd(const std::uint8_t* codes, Index codes_ld, bool packed, const qparams& p, float* out,
                     Index ld_out, int nt) {
  using fb = simd::fb<A>;
  constexpr Index N = Index(fb::size);
  const Index rows = p.rows, cols = p.cols;
  const Index br = p.gran.rows_per_block(rows), bc = p.gran.cols_per_block(cols);
  const fb t(p.tensor_scale);
  const bool zp = p.zeros == zero_kind::integer;
  // Outputs of >= 4 MiB: whole vectors that land on a 64-byte boundary (every one of a row that
  // starts on one, when blocks are multiples of N wide: Eigen matrices with AVX-512, aligned
  // buffers) are written with streaming stores, without a read for ownership of the line.
  const bool streamed = rows * cols >= (Index(1) << 20);
  (void)nt;
  // Codes of <= 4 bits with AVX-512 (16 lanes): decoded by one permute from a 16-entry table,
  // the vector decoder's own values for codes 0..15.
  constexpr bool use_table = simd::use_avx512<A>() && F::bits <= 4;
  alignas(64) std::int32_t iota[N];
  for (Index k = 0; k < N; ++k) iota[k] = std::int32_t(k) & std::int32_t((1u << F::bits) - 1u);
  const fb table = use_table ? simd::decode<F, A>(simd::ib<A>::load_aligned(iota)) : fb(0.0f);
  auto decode = [&table](const simd::ib<A>& k) -> fb {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
    if constexpr (use_table) return _mm512_permutexvar_ps(k, table);
#endif
    (void)table;
    return simd::decode<F, A>(k);
  };
  // Packed rows whose blocks start at odd columns are unpacked to bytes first.
  const bool unpack = packed && bc % 2 == 1 && bc > 1 && bc < cols;
  std::vector<std::uint8_t> rowbuf(unpack ? std::size_t(cols) * std::size_t(nt) : 0);
  // The rows, with nibble codes (Nib), zero points (Zp) and a tensor scale other than 1 (Scaled:
  // with t == 1, d·s·1 == d·s, NaN included) fixed at compile time: tested per vector, they cost
  // the MX dequantize in L2 about a fifth of its time.
  auto rows_with = [&](auto nib_c, auto zp_c, auto scaled_c) {
    constexpr bool Nib = decltype(nib_c)::value, Zp = decltype(zp_c)::value, Scaled = decltype(scaled_c)::value;
    // One row; a lambda outside the parallel loop, as clang 14 rejects lambdas that use the
    // enclosing generic lambda's locals from inside an OpenMP region.
    auto row = [&](Index i) {
      const std::uint8_t* c = codes + i * codes_ld;
      if (unpack) {
        std::uint8_t* u = rowbuf.data() + std::size_t(cols) * std::size_t(simd::thread_id());
        for (Index j = 0; j < cols; ++j) u[j] = std::uint8_t((c[j / 2] >> (4 * (j % 2))) & 0xF);
        c = u;
      }
      const float* srow = p.scale.data() + (i / br) * p.scale.cols();
      const float* zrow = Zp ? p.zero.data() + (i / br) * p.zero.cols() : nullptr;
      float* y = out + i * ld_out;
      // s: the block scales; z: the zero points (Zp only)
      auto value = [&](const fb& s, const fb& z, Index j, Index cnt) {
        const simd::ib<A> k = Nib ? simd::load_nibbles_n<A>(c, std::size_t(j), std::size_t(cnt))
                                  : simd::load_bytes_n<A>(c + j, std::size_t(cnt));
        const fb dk = decode(k);
        if constexpr (Zp) return (dk - z) * (s * t);
        else if constexpr (Scaled) return dk * s * t;
        else return dk * s;
      };
      auto put = [&](const fb& s, const fb& z, Index j) {
        const fb v = value(s, z, j, N);
        if (streamed && (reinterpret_cast<std::uintptr_t>(y + j) & 63) == 0) simd::stream_floats<A>(v, y + j);
        else v.store_unaligned(y + j);
      };
      auto put_n = [&](const fb& s, const fb& z, Index j, Index cnt) {
        simd::store_n<A>(value(s, z, j, cnt), y + j, std::size_t(cnt));
      };
      if (bc == 1) {
        Index j = 0;
        for (; j + N <= cols; j += N) put(fb::load_unaligned(srow + j), Zp ? fb::load_unaligned(zrow + j) : fb(0.0f), j);
        if (j < cols)
          put_n(simd::load_n<A>(srow + j, std::size_t(cols - j)),
                Zp ? simd::load_n<A>(zrow + j, std::size_t(cols - j)) : fb(0.0f), j, cols - j);
        return;
      }
      if (bc == N) {  // one vector per block (NVFP4 with AVX-512): a flat loop
        Index j = 0;
        for (; j + N <= cols; j += N) put(fb(srow[j / N]), Zp ? fb(zrow[j / N]) : fb(0.0f), j);
        if (j < cols) put_n(fb(srow[j / N]), Zp ? fb(zrow[j / N]) : fb(0.0f), j, cols - j);
        return;
      }
      // Two vectors per block (MX with AVX-512): a flat loop over pairs. Kept apart from bc == N:
      // one loop for both (a run-time test for the second vector) ran 19-24 % slower in L2.
      if (bc == 2 * N) {
        Index j = 0;
        for (; j + 2 * N <= cols; j += 2 * N) {
          const fb s(srow[j / (2 * N)]), z(Zp ? zrow[j / (2 * N)] : 0.0f);
          put(s, z, j);
          put(s, z, j + N);
        }
        if (j < cols) {
          const fb s(srow[j / (2 * N)]), z(Zp ? zrow[j / (2 * N)] : 0.0f);
          if (j + N <= cols) put(s, z, j), j += N;
          if (j < cols) put_n(s, z, j, cols - j);
        }
        return;
      }
      for (Index b = 0, j0 = 0; j0 < cols; ++b, j0 += bc) {
        const fb s(srow[b]), z(Zp ? zrow[b] : 0.0f);
        const Index j1 = std::min(cols, j0 + bc);
        Index j = j0;
        for (; j + N <= j1; j += N) put(s, z, j);
        if (j < j1) put_n(s, z, j, j1 - j);
      }
    };
    LOWBIT_KERNEL_OMP(parallel for num_threads(nt) schedule(static) if (nt > 1))
    for (Index i = 0; i < rows; ++i) row(i);
  };
  using yes = std::true_type;
  using no = std::false_type;
  const bool nib = packed && !unpack, scaled = p.tensor_scale != 1.0f;
  auto with_scaled = [&](auto nib_c, auto zp_c) {
    if (scaled) rows_with(nib_c, zp_c, yes{});
    else rows_with(nib_c, zp_c, no{});
  };
  auto with_zp = [&](auto nib_c) {
    if constexpr (simd_zero_element<F>()) {
      if (zp) return rows_with(nib_c, yes{}, yes{});  // (d − z)·(s·t) whatever t is
    }
    with_scaled(nib_c, no{});
  };
  if constexpr (F::bits <= 4) {
    if (nib) with_zp(yes{});
    else with_zp(no{});
  } else {
    with_zp(no{});
  }
  if (streamed) simd::fence();
}

}  // namespace detail

// True when kernel::dequantize takes the SIMD path for q.
template <class F, class SF, class R>
bool has_fast_dequantize(const quantizer<F, SF, R>& q) {
  if constexpr (!detail::simd_format<F>()) {
    (void)q;
    return false;
  } else {
    return q.zeros() == zero_kind::none ? detail::simd_element<F>()
                                        : q.zeros() == zero_kind::integer && detail::simd_zero_element<F>();
  }
}

// out (rows × cols, leading dimension ld_out) = q.dequantize(qx), bit for bit.
template <class A = xsimd::default_arch, class F, class SF, class R>
void dequantize(const quantizer<F, SF, R>& q, const quantized<F>& qx, float* out, Eigen::Index ld_out,
                kernel_options o = {}) {
  const Eigen::Index rows = qx.codes.rows(), cols = qx.codes.cols();
  q.check_params(rows, cols, qx.params, "kernel::dequantize");
  LOWBIT_CHECK(out != nullptr, "kernel::dequantize: output pointer is null");
  LOWBIT_CHECK(ld_out >= cols, "kernel::dequantize: leading dimension ", ld_out, " is smaller than cols ", cols);
  if constexpr (detail::simd_format<F>()) {
    if (has_fast_dequantize(q)) {
      static_assert(sizeof(typename F::storage) == 1, "lowbit: byte codes expected");
      detail::dequantize_simd<A, F>(reinterpret_cast<const std::uint8_t*>(qx.codes.data()), cols, false, qx.params,
                                    out, ld_out, simd::thread_count(o.threads));
      return;
    }
  }
  const auto y = q.dequantize(qx);
  for (Eigen::Index i = 0; i < rows; ++i) std::copy(y.row(i).data(), y.row(i).data() + cols, out + i * ld_out);
}

template <class A = xsimd::default_arch, class F, class SF, class R>
typename quantizer<F, SF, R>::matrix dequantize(const quantizer<F, SF, R>& q, const quantized<F>& qx,
                                                kernel_options o = {}) {
  typename quantizer<F, SF, R>::matrix y(qx.codes.rows(), qx.codes.cols());
  dequantize<A>(q, qx, y.data(), y.cols(), o);
  return y;
}

// Dequantize packed 4-bit codes (row i at codes + i·codes_ld, kernel::quantize_packed's
// layout) with parameters p into out (p.rows × p.cols, leading dimension ld_out).
template <class A = xsimd::default_arch, class F, class SF, class R>
void dequantize_packed(const quantizer<F, SF, R>& q, const std::uint8_t* codes, Eigen::Index codes_ld,
                       const qparams& p, float* out, Eigen::Index ld_out, kernel_options o = {}) {
  static_assert(F::bits <= 4, "lowbit: dequantize_packed needs a format of at most 4 bits (see lowbit/kernel/dequantize.hpp)");
  const Eigen::Index rows = p.rows, cols = p.cols;
  q.check_params(rows, cols, p, "kernel::dequantize_packed");
  LOWBIT_CHECK(codes != nullptr && out != nullptr, "kernel::dequantize_packed: null pointer");
  LOWBIT_CHECK(codes_ld >= (cols + 1) / 2, "kernel::dequantize_packed: code stride ", codes_ld,
               " bytes is smaller than ", (cols + 1) / 2, " (two codes per byte)");
  LOWBIT_CHECK(ld_out >= cols, "kernel::dequantize_packed: leading dimension ", ld_out, " is smaller than cols ",
               cols);
  if constexpr (detail::simd_format<F>()) {
    if (has_fast_dequantize(q)) {
      detail::dequantize_simd<A, F>(codes, codes_ld, true, p, out, ld_out, simd::thread_count(o.threads));
      return;
    }
  }
  quantized<F> qx;
  qx.params = p;
  qx.codes.resize(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i)
    for (Eigen::Index j = 0; j < cols; ++j)
      qx.codes(i, j) = typename F::storage((codes[i * codes_ld + j / 2] >> (4 * (j % 2))) & 0xF);
  dequantize<A>(q, qx, out, ld_out, o);
}

}  // namespace kernel
}  // namespace lowbit

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
