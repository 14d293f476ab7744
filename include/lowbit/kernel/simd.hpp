// lowbit/kernel/simd.hpp — the SIMD building blocks of the quantize/dequantize kernels.
//
// Everything is a template over an xsimd architecture A (xsimd::default_arch by default), on
// batches of N = batch<float, A>::size lanes: float input lanes (fb), int32 code lanes (ib).
// xsimd 8.1 has no narrowing stores, widening bf16 loads, masked loads or cross-lane
// reductions, so those few helpers have an AVX-512 (F+BW+VL) implementation and a portable
// one (a stack buffer and a scalar loop) for every other architecture.
//
//   load / load_n        N (or n < N, rest zero) float or Eigen::bfloat16 values as float
//   abs_bits             |x| as int32 bits: integer order = float order for finite values and
//                        every inf/NaN compares >= 0x7F800000 (non-finite detection for free)
//   hmax / transpose_max horizontal max of one vector / of N vectors at once (lane k = max v[k])
//   block_absmax_bf16    max |x| of N bf16 blocks at once, on 16-bit lanes
//   store_bytes(_n)      low byte of each int32 lane -> N (or n) consecutive bytes
//   store_nibbles(_n)    lanes 2k, 2k+1 -> byte k (2k in the low nibble: CUTLASS/torch order)
//   encode_minifloat<F>  RNE, saturating encoder of an 8-bit minifloat (bit-identical to
//                        lowbit::encode<F, round_nearest_even, overflow::saturate>)
//   encode_integer<F>    RNE, saturating integer encoder (= lowbit::encode<F>)
//   encode_quotient<F>   encode<F>(x / s) from the reciprocal r = 1/s, with a certificate
//                        (division only where it fails and the quotient is not exact);
//                        _try / _fix: the certificate alone and the re-encoding of a vector
//                        that failed it, so a kernel can test several vectors at once
//   encode_quotient_zero<F>  clamp(RNE(x / s) + z, qmin, qmax): integer codes with zero points
//   order_key / key_to_float  float <-> int32 keys whose integer order is the float order
//   decode_minifloat<F> / decode_integer<F>   code -> float, bit-identical to F::decode
//
// Minifloat encoding of a float v (E exponent bits, M mantissa bits, bias B):
//   a = min(|v|, max_value)                                   (saturation before rounding is
//                                                              the same as after: max is on the grid)
//   a >= 2^(1-B): code = (bits(a) + 2^(22-M) - 1 + lsb) >> (23-M) − (127−B)·2^M   (RNE on the
//                 float's own bits; a carry walks into the exponent as it should)
//   a <  2^(1-B): code = RNE(a · 2^(M−1+B))                   (subnormal grid; exact scaling)
//   sign bit copied (−0 and values rounding to 0 keep it), NaN -> F::nan_code.
// The AVX-512 version rounds with one float addition of a per-binade constant from a table
// instead (see encode_minifloat; 7 instructions instead of 18), and decode_minifloat moves
// normal codes' bits into place and takes the rest from a table (8 instead of 13).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <xsimd/xsimd.hpp>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "../format/minifloat.hpp"
#include "../format/traits.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

// GCC 12 flags the _mm512_undefined_* inside its own AVX-512 intrinsics as uninitialised
// once they are inlined here (a false positive); silenced for this header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// Small helpers of the inner loops that must not become calls (GCC stops inlining them once a
// kernel instantiates its loop a few times).
#if defined(__GNUC__)
#define LOWBIT_SIMD_INLINE inline __attribute__((always_inline))
#define LOWBIT_UNLIKELY(c) __builtin_expect(!!(c), 0)
#elif defined(_MSC_VER)
#define LOWBIT_SIMD_INLINE __forceinline
#define LOWBIT_UNLIKELY(c) (c)
#else
#define LOWBIT_SIMD_INLINE inline
#define LOWBIT_UNLIKELY(c) (c)
#endif

namespace lowbit {
namespace kernel {
namespace simd {

template <class A>
using fb = xsimd::batch<float, A>;
template <class A>
using ib = xsimd::batch<std::int32_t, A>;

// True when the AVX-512 helpers apply (compiled with AVX-512 F/BW/VL and A is such an arch).
template <class A>
constexpr bool use_avx512() {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  return std::is_base_of<xsimd::avx512bw, A>::value;
#else
  return false;
#endif
}

template <class A>
inline fb<A> as_float(const ib<A>& v) {
  return xsimd::bitwise_cast<fb<A>>(v);
}
template <class A>
inline ib<A> as_int(const fb<A>& v) {
  return xsimd::bitwise_cast<ib<A>>(v);
}

// ---- loads ---------------------------------------------------------------------------------

template <class A>
inline fb<A> load(const float* p) {
  return fb<A>::load_unaligned(p);
}

template <class A>
inline fb<A> load(const Eigen::bfloat16* p) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
#endif
  constexpr std::size_t N = fb<A>::size;
  alignas(64) std::uint32_t buf[N];
  for (std::size_t k = 0; k < N; ++k) {
    std::uint16_t h;
    std::memcpy(&h, p + k, 2);
    buf[k] = std::uint32_t(h) << 16;
  }
  return as_float<A>(xsimd::bitwise_cast<ib<A>>(xsimd::batch<std::uint32_t, A>::load_aligned(buf)));
}

// n < N values, lanes n.. are +0.
template <class A>
inline fb<A> load_n(const float* p, std::size_t n) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1u), p);
#endif
  constexpr std::size_t N = fb<A>::size;
  alignas(64) float buf[N] = {};
  std::memcpy(buf, p, n * sizeof(float));
  return fb<A>::load_aligned(buf);
}

template <class A>
inline fb<A> load_n(const Eigen::bfloat16* p, std::size_t n) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const __m256i h = _mm256_maskz_loadu_epi16(__mmask16((1u << n) - 1u), p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
#endif
  constexpr std::size_t N = fb<A>::size;
  alignas(64) std::uint32_t buf[N] = {};
  for (std::size_t k = 0; k < n; ++k) {
    std::uint16_t h;
    std::memcpy(&h, p + k, 2);
    buf[k] = std::uint32_t(h) << 16;
  }
  return as_float<A>(xsimd::bitwise_cast<ib<A>>(xsimd::batch<std::uint32_t, A>::load_aligned(buf)));
}

// Scalar value of one element as float (bf16 widens exactly).
inline float to_float(float v) { return v; }
inline float to_float(Eigen::bfloat16 v) { return static_cast<float>(v); }

// ---- reductions ----------------------------------------------------------------------------

template <class A>
inline ib<A> abs_bits(const fb<A>& v) {
  return as_int<A>(v) & ib<A>(0x7FFFFFFF);
}

template <class A>
inline std::int32_t hmax(const ib<A>& v) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) return _mm512_reduce_max_epi32(v);
#endif
  constexpr std::size_t N = ib<A>::size;
  alignas(64) std::int32_t buf[N];
  v.store_aligned(buf);
  std::int32_t m = buf[0];
  for (std::size_t k = 1; k < N; ++k) m = buf[k] > m ? buf[k] : m;
  return m;
}

// Sortable keys: key(v) = bits(v) ^ (sign ? 0x7FFFFFFF : 0); integer order of keys = float order
// (−NaN < −inf < … < −0 < +0 < … < +inf < +NaN), so integer max / max of ~key give max / min.
// The map is its own inverse. key >= 0x7F800000: +inf or NaN; ~key >= 0x7F800000: −inf or NaN.
template <class A>
inline ib<A> order_key(const fb<A>& v) {
  const ib<A> b = as_int<A>(v);
  return b ^ ((b >> 31) & ib<A>(0x7FFFFFFF));
}
inline float key_to_float(std::int32_t k) {
  const std::int32_t b = k ^ ((k >> 31) & 0x7FFFFFFF);
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
// bf16 bits on 16-bit lanes (sign cleared): the two of each 32-bit lane replaced by their max in
// both halves (m·0x10001; the order of these int32 lanes is the order of m).
inline __m512i bf16_pair_max(const __m512i& a) { return _mm512_max_epu16(a, _mm512_rol_epi32(a, 16)); }
// ... of 32 values loaded from x, |x| taken.
inline __m512i bf16_pair_max_load(const void* x) {
  return bf16_pair_max(_mm512_and_si512(_mm512_loadu_si512(x), _mm512_set1_epi16(0x7FFF)));
}
// m·0x10001 lanes -> m << 16: float bits of the bf16 value m.
inline __m512i bf16_pair_to_float_bits(const __m512i& p) {
  return _mm512_and_si512(p, _mm512_set1_epi32(std::int32_t(0xFFFF0000u)));
}
#endif

// max |x| bits over x[0..n), n a multiple of 2N, spread over the lanes (the caller reduces
// across them). bf16 on AVX-512: 32 values per instruction on 16-bit lanes, widened at the end.
template <class A, class T>
inline ib<A> absmax_bits(const T* x, std::ptrdiff_t n) {
  constexpr std::ptrdiff_t N = std::ptrdiff_t(ib<A>::size);
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>() && std::is_same_v<T, Eigen::bfloat16>) {
    const __m512i mask = _mm512_set1_epi16(0x7FFF);
    __m512i m = _mm512_setzero_si512();
    for (std::ptrdiff_t j = 0; j < n; j += 2 * N)
      m = _mm512_max_epu16(m, _mm512_and_si512(_mm512_loadu_si512(x + j), mask));
    return bf16_pair_to_float_bits(bf16_pair_max(m));  // the two bf16 halves of each 32-bit lane
  }
#endif
  ib<A> m(0);
  for (std::ptrdiff_t j = 0; j < n; j += N) m = xsimd::max(m, abs_bits<A>(load<A>(x + j)));
  return m;
}

// m[j] = max(m[j], |x[j]| as bf16 bits) for j < n (element-wise, e.g. a maximum per column):
// 2N values per instruction on 16-bit lanes, no widening (bf16 bits of |x| order as |x| does;
// inf/NaN >= 0x7F80). Other architectures: one value at a time.
template <class A>
inline void absmax_bf16_bits(const Eigen::bfloat16* x, std::ptrdiff_t n, std::uint16_t* m) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const __m512i mask = _mm512_set1_epi16(0x7FFF);
    std::ptrdiff_t j = 0;
    for (; j + 32 <= n; j += 32) {
      const __m512i v = _mm512_and_si512(_mm512_loadu_si512(x + j), mask);
      _mm512_storeu_si512(m + j, _mm512_max_epu16(_mm512_loadu_si512(m + j), v));
    }
    if (j < n) {
      const __mmask32 k = __mmask32((std::uint64_t(1) << (n - j)) - 1u);
      const __m512i v = _mm512_and_si512(_mm512_maskz_loadu_epi16(k, x + j), mask);
      _mm512_mask_storeu_epi16(m + j, k, _mm512_max_epu16(_mm512_maskz_loadu_epi16(k, m + j), v));
    }
    return;
  }
#endif
  for (std::ptrdiff_t j = 0; j < n; ++j) {
    std::uint16_t h;
    std::memcpy(&h, x + j, 2);
    m[j] = std::max(m[j], std::uint16_t(h & 0x7FFF));
  }
}

#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
// Lane k of the result = max over 256-bit half k % 2 of s1[k / 2] (8 vectors, 16 sources): the
// last three halving steps of transpose_max. Result element 4k + j = max(source k + 4j); a final
// permute fixes the order.
inline __m512i transpose_max_halves(const __m512i* s1) {
  __m512i s2[4], s3[2];
  for (int k = 0; k < 4; ++k) {
    const __m512i a = s1[2 * k], b = s1[2 * k + 1];
    s2[k] = _mm512_max_epi32(_mm512_shuffle_i32x4(a, b, 0x88), _mm512_shuffle_i32x4(a, b, 0xDD));
  }
  for (int k = 0; k < 2; ++k) {
    const __m512i a = s2[2 * k], b = s2[2 * k + 1];
    s3[k] = _mm512_max_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
  }
  const __m512 a = _mm512_castsi512_ps(s3[0]), b = _mm512_castsi512_ps(s3[1]);
  const __m512i r = _mm512_max_epi32(_mm512_castps_si512(_mm512_shuffle_ps(a, b, 0x88)),
                                     _mm512_castps_si512(_mm512_shuffle_ps(a, b, 0xDD)));
  // r[4k + j] = max of source k + 4j  ->  out[m] = r[4(m % 4) + m / 4]
  const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_epi32(perm, r);
}

#endif

// Lane k of the result = max over the lanes of v[k], for k < N.
template <class A>
inline ib<A> transpose_max(const ib<A>* v) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    // Four halving steps: the first leaves each 256-bit half of s1[k] one source (v[2k], v[2k + 1]);
    // transpose_max_halves does the rest.
    __m512i s1[8];
    for (int k = 0; k < 8; ++k) {
      const __m512i a = v[2 * k], b = v[2 * k + 1];
      s1[k] = _mm512_max_epi32(_mm512_shuffle_i32x4(a, b, 0x44), _mm512_shuffle_i32x4(a, b, 0xEE));
    }
    return transpose_max_halves(s1);
  }
#endif
  constexpr std::size_t N = ib<A>::size;
  alignas(64) std::int32_t out[N];
  for (std::size_t k = 0; k < N; ++k) out[k] = hmax<A>(v[k]);
  return ib<A>::load_aligned(out);
}

// Lane k of the result = max |x| bits over block k of width bc (bf16 elements, blocks at
// x + k·bc, k < N), as float bits (bf16 bits << 16). bc == N or a multiple of 2N.
template <class A>
inline ib<A> block_absmax_bf16(const Eigen::bfloat16* x, std::ptrdiff_t bc) {
  constexpr std::ptrdiff_t N = std::ptrdiff_t(ib<A>::size);
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    // Max on 16-bit lanes, then the two of each 32-bit lane (bf16_pair_max); bc == N: one load
    // holds two blocks, one per 256-bit half, so the transposition starts one step in.
    if (bc == N) {
      __m512i s1[8];
      for (int k = 0; k < 8; ++k) s1[k] = bf16_pair_max_load(x + 2 * N * k);
      return bf16_pair_to_float_bits(transpose_max_halves(s1));
    }
    ib<A> v[N];
    const __m512i mask = _mm512_set1_epi16(0x7FFF);
    for (std::ptrdiff_t k = 0; k < N; ++k) {
      const Eigen::bfloat16* p = x + k * bc;
      __m512i m = _mm512_and_si512(_mm512_loadu_si512(p), mask);
      for (std::ptrdiff_t j = 2 * N; j < bc; j += 2 * N)
        m = _mm512_max_epu16(m, _mm512_and_si512(_mm512_loadu_si512(p + j), mask));
      v[k] = bf16_pair_max(m);
    }
    return bf16_pair_to_float_bits(transpose_max<A>(v));
  }
#endif
  ib<A> v[N];
  for (std::ptrdiff_t k = 0; k < N; ++k) {
    const Eigen::bfloat16* p = x + k * bc;
    ib<A> m = abs_bits<A>(load<A>(p));
    for (std::ptrdiff_t j = N; j < bc; j += N) m = xsimd::max(m, abs_bits<A>(load<A>(p + j)));
    v[k] = m;
  }
  return transpose_max<A>(v);
}

// ---- stores --------------------------------------------------------------------------------

template <class A>
inline void store_bytes(const ib<A>& c, std::uint8_t* dst) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtepi32_epi8(c));
    return;
  }
#endif
  constexpr std::size_t N = ib<A>::size;
  alignas(64) std::int32_t buf[N];
  c.store_aligned(buf);
  for (std::size_t k = 0; k < N; ++k) dst[k] = std::uint8_t(buf[k]);
}

template <class A>
inline void store_bytes_n(const ib<A>& c, std::uint8_t* dst, std::size_t n) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    _mm_mask_storeu_epi8(dst, __mmask16((1u << n) - 1u), _mm512_cvtepi32_epi8(c));
    return;
  }
#endif
  constexpr std::size_t N = ib<A>::size;
  alignas(64) std::int32_t buf[N];
  c.store_aligned(buf);
  for (std::size_t k = 0; k < n; ++k) dst[k] = std::uint8_t(buf[k]);
}

// n (<= N) 4-bit codes (low 4 bits of each lane) -> ceil(n/2) bytes, element 2k in the low
// nibble of byte k; for odd n the last byte's high nibble is 0.
template <class A>
inline void store_nibbles_n(const ib<A>& c, std::uint8_t* dst, std::size_t n) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const __m512i m = _mm512_maskz_and_epi32(__mmask16((1u << n) - 1u), c, _mm512_set1_epi32(0xF));
    const __m512i packed = _mm512_or_si512(m, _mm512_srli_epi64(m, 28));  // low byte of each qword
    const __m128i bytes = _mm512_cvtepi64_epi8(packed);
    const std::size_t nb = (n + 1) / 2;
    if (nb == 8) _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), bytes);
    else _mm_mask_storeu_epi8(dst, __mmask16((1u << nb) - 1u), bytes);
    return;
  }
#endif
  constexpr std::size_t N = ib<A>::size;
  alignas(64) std::int32_t buf[N];
  c.store_aligned(buf);
  for (std::size_t k = 0; k < n; k += 2) {
    const unsigned lo = unsigned(buf[k]) & 0xFu, hi = k + 1 < n ? unsigned(buf[k + 1]) & 0xFu : 0u;
    dst[k / 2] = std::uint8_t(lo | (hi << 4));
  }
}

// 4N values x[0..4N) as four float vectors. Interleaved (bf16 on AVX-512): each 64-byte load
// is widened by two word unpacks with zero (bf16 bits << 16 is the float), which leave
// 128-bit lane q of xv[2i] with elements 32i + 8q + 0..3 and of xv[2i+1] with 32i + 8q + 4..7;
// store4_* with interleaved = true puts the codes back in element order.
template <class A, class T>
constexpr bool has_interleaved_load4() {
  return use_avx512<A>() && std::is_same_v<T, Eigen::bfloat16>;
}

template <class A, class T>
LOWBIT_SIMD_INLINE void load4_interleaved(const T* x, fb<A>* xv) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (has_interleaved_load4<A, T>()) {
    const __m512i z = _mm512_setzero_si512();
    for (int i = 0; i < 2; ++i) {
      const __m512i h = _mm512_loadu_si512(x + 32 * i);
      xv[2 * i] = _mm512_castsi512_ps(_mm512_unpacklo_epi16(z, h));
      xv[2 * i + 1] = _mm512_castsi512_ps(_mm512_unpackhi_epi16(z, h));
    }
    return;
  }
#endif
  for (int k = 0; k < 4; ++k) xv[k] = load<A>(x + k * fb<A>::size);
}

#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
// Lanes (0..255) of c[0..4) -> 64 bytes in element order (c from load4_interleaved when
// interleaved). After the two packs, 128-bit lane q holds 4 bytes of each of c[0..4) (lane q).
// Saturating: lanes are any int32, stored as clamp(lane, -128, 127) (two signed saturating
// packs, int32 -> int16 -> int8, clamp exactly so: int8 codes without a clamp of their own).
template <class A>
LOWBIT_SIMD_INLINE __m512i pack4(const ib<A>* c, bool interleaved, bool saturating = false) {
  const __m512i b =
      saturating ? _mm512_packs_epi16(_mm512_packs_epi32(c[0], c[1]), _mm512_packs_epi32(c[2], c[3]))
                 : _mm512_packus_epi16(_mm512_packus_epi32(c[0], c[1]), _mm512_packus_epi32(c[2], c[3]));
  const __m512i plain = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m512i inter = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  return _mm512_permutexvar_epi32(interleaved ? inter : plain, b);
}
#endif

// Streaming (non-temporal) variants for outputs far larger than the caches: no read for
// ownership of the destination line. Callers issue fence() before the data is read elsewhere.
// Without AVX-512 (or at an unaligned destination) they are the plain stores.
template <class A>
inline void stream_bytes(const ib<A>& c, std::uint8_t* dst) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    if ((reinterpret_cast<std::uintptr_t>(dst) & 15) == 0) {
      _mm_stream_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtepi32_epi8(c));
      return;
    }
  }
#endif
  store_bytes<A>(c, dst);
}

// N codes (N even) -> N/2 bytes, as store_nibbles_n(c, dst, N), streamed.
template <class A>
inline void stream_nibbles(const ib<A>& c, std::uint8_t* dst) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const __m512i m = _mm512_and_si512(c, _mm512_set1_epi32(0xF));
    const __m128i bytes = _mm512_cvtepi64_epi8(_mm512_or_si512(m, _mm512_srli_epi64(m, 28)));
    _mm_stream_si64(reinterpret_cast<long long*>(dst), _mm_cvtsi128_si64(bytes));
    return;
  }
#endif
  store_nibbles_n<A>(c, dst, ib<A>::size);
}

// Four code vectors (elements 0..4N) at once: 4N bytes (low byte of each lane), or 2N bytes of
// nibbles (element 2k low), streamed when asked. AVX-512: two saturating packs (codes are
// 0..255) and one permute instead of four narrowing moves. Saturating (AVX-512 only): lanes are
// unclamped int8 values, stored as clamp(lane, -128, 127) (pack4).
template <class A>
LOWBIT_SIMD_INLINE void store4_bytes(const ib<A>* c, std::uint8_t* dst, bool streamed, bool interleaved = false,
                                     bool saturating = false) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const __m512i b = pack4<A>(c, interleaved, saturating);
    if (streamed && (reinterpret_cast<std::uintptr_t>(dst) & 63) == 0) _mm512_stream_si512(reinterpret_cast<__m512i*>(dst), b);
    else _mm512_storeu_si512(dst, b);
    return;
  }
#endif
  (void)saturating;
  for (int k = 0; k < 4; ++k) streamed ? stream_bytes<A>(c[k], dst + k * ib<A>::size) : store_bytes<A>(c[k], dst + k * ib<A>::size);
}

template <class A>
LOWBIT_SIMD_INLINE void store4_nibbles(const ib<A>* c, std::uint8_t* dst, bool streamed, bool interleaved = false) {  // codes < 16
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    // byte k = code k (< 16); 16-bit word k = code 2k | code 2k+1 << 8, whose low byte after
    // w | w >> 4 is code 2k | code 2k+1 << 4 (the narrowing move keeps low bytes)
    const __m512i b = pack4<A>(c, interleaved);
    const __m256i n = _mm512_cvtepi16_epi8(_mm512_or_si512(b, _mm512_srli_epi16(b, 4)));
    if (streamed && (reinterpret_cast<std::uintptr_t>(dst) & 31) == 0) _mm256_stream_si256(reinterpret_cast<__m256i*>(dst), n);
    else _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), n);
    return;
  }
#endif
  for (int k = 0; k < 4; ++k)
    streamed ? stream_nibbles<A>(c[k], dst + k * ib<A>::size / 2) : store_nibbles_n<A>(c[k], dst + k * ib<A>::size / 2, ib<A>::size);
}

// Streaming store of a float vector to a 64-byte-aligned dst (AVX-512; otherwise a plain store).
template <class A>
inline void stream_floats(const fb<A>& v, float* dst) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    _mm512_stream_ps(dst, v);
    return;
  }
#endif
  v.store_unaligned(dst);
}

inline void fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// Where the kernels' software prefetches put a line: LOWBIT_PREFETCH_L2 = 1, into L2 (prefetcht1),
// else into L1 (prefetcht0). The kernels prefetch the rows they read next (a max pass, an
// encode) while they encode others; the rows are then read from L2 anyway. On AMD Zen 4, into
// L2 ran 5-35 % faster from DRAM (int4 per-group fit from f32 14.8 -> 20.0 GB/s, int8 per-token
// with given qparams 23.4 -> 26.8; a few bf16 fits 1-5 % slower); Sapphire Rapids was tuned with
// L1. Default: 1 when compiled for a Zen core (the __znver*__ test of LOWBIT_DIVIDE_MINIFLOAT,
// below), else 0; define it to choose.
#ifndef LOWBIT_PREFETCH_L2
#if defined(__znver3__) || defined(__znver4__) || defined(__znver5__)
#define LOWBIT_PREFETCH_L2 1
#else
#define LOWBIT_PREFETCH_L2 0
#endif
#endif

// Hint: bring the cache line at p into the caches (never faults, any address).
inline void prefetch(const void* p) {
#if defined(__SSE2__)
  _mm_prefetch(static_cast<const char*>(p), LOWBIT_PREFETCH_L2 ? _MM_HINT_T1 : _MM_HINT_T0);
#else
  (void)p;
#endif
}

template <class A>
inline void store_n(const fb<A>& v, float* dst, std::size_t n) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    _mm512_mask_storeu_ps(dst, __mmask16((1u << n) - 1u), v);
    return;
  }
#endif
  constexpr std::size_t N = fb<A>::size;
  alignas(64) float buf[N];
  v.store_aligned(buf);
  std::memcpy(dst, buf, n * sizeof(float));
}

// ---- loading codes -------------------------------------------------------------------------

// n (<= N) bytes -> int32 lanes (zero-extended), lanes n.. are 0.
template <class A>
inline ib<A> load_bytes_n(const std::uint8_t* src, std::size_t n) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const __m128i b = n == 16 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(src))
                              : _mm_maskz_loadu_epi8(__mmask16((1u << n) - 1u), src);
    return _mm512_cvtepu8_epi32(b);
  }
#endif
  constexpr std::size_t N = ib<A>::size;
  alignas(64) std::int32_t buf[N] = {};
  for (std::size_t k = 0; k < n; ++k) buf[k] = src[k];
  return ib<A>::load_aligned(buf);
}

// Codes first .. first+n-1 (n <= N) of a low-nibble-first packed row -> int32 lanes; `first`
// is even.
template <class A>
inline ib<A> load_nibbles_n(const std::uint8_t* row, std::size_t first, std::size_t n) {
  const std::uint8_t* src = row + first / 2;
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const std::size_t nb = (n + 1) / 2;
    const __m128i b = nb == 8 ? _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src))
                              : _mm_maskz_loadu_epi8(__mmask16((1u << nb) - 1u), src);
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(b, mask), hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
    return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
  }
#endif
  constexpr std::size_t N = ib<A>::size;
  alignas(64) std::int32_t buf[N] = {};
  for (std::size_t k = 0; k < n; ++k) buf[k] = (src[k / 2] >> (4 * (k % 2))) & 0xF;
  return ib<A>::load_aligned(buf);
}

// ---- element encoders and decoders ---------------------------------------------------------

template <class F>
constexpr bool is_byte_minifloat() {
  if constexpr (F::kind == format_kind::minifloat) return F::bits <= 8;
  else return false;
}

// encode_minifloat's K' per binade of F: entry f % width for the float exponent field f = E + 127
// of each binade 2^E of F (emin <= E <= emax) holds bits(1.5 · 2^(E + 23 − M)) + (E − emin) · 2^M.
// width 16 or 32: one or two vectors (F's binades are distinct mod width).
template <class F>
struct minifloat_k_table {
  static constexpr int binades = F::max_exponent - F::min_exponent + 1;
  static_assert(binades <= 32, "lowbit: encode_minifloat needs a minifloat of at most 32 binades");
  static constexpr int width = binades <= 16 ? 16 : 32;
  struct values {
    alignas(64) std::int32_t v[32];
    constexpr values() : v{} {
      for (int e = F::min_exponent; e <= F::max_exponent; ++e) {
        const int f = e + 127;
        v[f % width] = std::int32_t(((unsigned(f + 23 - F::mantissa_bits) << 23) | 0x400000u) +
                                    (unsigned(e - F::min_exponent) << F::mantissa_bits));
      }
    }
  };
  static constexpr values k{};
};

#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
// K' of encode_minifloat for a = min(|v|, max) (a >= 0): the table entry of max(a's exponent
// field, emin's), as a float.
template <class F>
LOWBIT_SIMD_INLINE __m512 minifloat_k(const __m512& a) {
  constexpr int emin_b = F::min_exponent + 127;  // float exponent field of 2^emin
  const __m512i f = _mm512_max_epi32(_mm512_srli_epi32(_mm512_castps_si512(a), 23), _mm512_set1_epi32(emin_b));
  using table = minifloat_k_table<F>;
  const __m512i* tk = reinterpret_cast<const __m512i*>(table::k.v);
  if constexpr (table::width == 16) return _mm512_castsi512_ps(_mm512_permutexvar_epi32(f, _mm512_load_si512(tk)));
  else return _mm512_castsi512_ps(_mm512_permutex2var_epi32(_mm512_load_si512(tk), f, _mm512_load_si512(tk + 1)));
}

// F's code from t = a + K' rounded (its low bits, the magnitude) and the sign of u (v's bits).
template <class F>
LOWBIT_SIMD_INLINE __m512i minifloat_code(const __m512& t, const __m512i& u) {
  const __m512i mag = _mm512_set1_epi32(int(F::magnitude_mask));
  if constexpr (F::is_signed)  // (t & mag) | (sign bit moved to F's sign position, & ~mag)
    return _mm512_ternarylogic_epi32(_mm512_castps_si512(t),
                                     _mm512_srli_epi32(u, 31 - (F::exponent_bits + F::mantissa_bits)), mag, 0xE4);
  else return _mm512_and_si512(_mm512_castps_si512(t), mag);
}
#endif

// Finite: the caller guarantees v holds no NaN (the NaN code is then not produced; the kernels
// use it where x is known finite, or is checked and the output discarded otherwise).
template <class F, class A, bool Finite = false>
LOWBIT_SIMD_INLINE ib<A> encode_minifloat(const fb<A>& v) {
  static_assert(is_byte_minifloat<F>(), "lowbit: encode_minifloat needs a minifloat of <= 8 bits");
  constexpr int M = F::mantissa_bits;
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    // a = min(|v|, max) in the binade 2^E (E >= emin): K = 1.5 · 2^(E + 23 − M) has ulp 2^(E − M),
    // F's step in that binade (and in the subnormal range for E = emin), so t = a + K' rounded
    // nearest-even (explicitly, whatever MXCSR says), K' = K + (E − emin) · 2^M ulps, is
    // K' + q · 2^(E − M), q = RNE(a / 2^(E − M)) ∈ [0, 2^(M+1)] (K' is an even number of ulps: ties
    // go to an even q), t stays in K's binade, and code = q + (E − emin) · 2^M (a carry to 2^(M+1) is
    // the next binade's first code) < 2^(E_F + M): the low bits of t's bits, as K's low 22 bits are
    // 0. K' comes from a table indexed by a's exponent field (minifloat_k_table); 7 instructions.
    const __m512i u = _mm512_castps_si512(v);
    // min(|v|, max) in one instruction (AVX512DQ, which xsimd's avx512bw implies): the absolute
    // minimum, sign cleared (imm 0b1010)
    const __m512 a = _mm512_range_ps(v, _mm512_set1_ps(float(F::max_value)), 0x0A);
    const __m512 t = _mm512_add_round_ps(a, minifloat_k<F>(a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i c = minifloat_code<F>(t, u);
    if constexpr (Finite) return c;
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_mask_mov_epi32(c, nan, _mm512_set1_epi32(int(F::nan_code)));
  }
#endif
  const ib<A> u = as_int<A>(v);
  fb<A> a = as_float<A>(u & ib<A>(0x7FFFFFFF));
  a = xsimd::min(a, fb<A>(float(F::max_value)));
  const ib<A> ua = as_int<A>(a);
  const ib<A> lsb = (ua >> (23 - M)) & ib<A>(1);
  const ib<A> normal = ((ua + ib<A>((1 << (22 - M)) - 1) + lsb) >> (23 - M)) - ib<A>((127 - F::bias) << M);
  const ib<A> sub = xsimd::batch_cast<std::int32_t>(
      xsimd::nearbyint(a * fb<A>(float(detail::pow2(M - F::min_exponent)))));
  ib<A> c = xsimd::select(xsimd::bool_cast(a < fb<A>(float(F::min_normal))), sub, normal);
  if constexpr (F::is_signed) c = c | ((u >> 31) & ib<A>(int(F::sign_mask)));
  c = xsimd::select(xsimd::bool_cast(v != v), ib<A>(int(F::nan_code)), c);
  return c;
}

template <class F, class A>
LOWBIT_SIMD_INLINE ib<A> encode_integer(const fb<A>& v) {
  static_assert(F::kind == format_kind::integer, "lowbit: encode_integer needs an integer format");
  fb<A> r = xsimd::nearbyint(v);
  r = xsimd::min(xsimd::max(r, fb<A>(float(F::min_int))), fb<A>(float(F::max_int)));
  return xsimd::batch_cast<std::int32_t>(r) & ib<A>(int(F::code_mask));
}

template <class F, class A, bool Finite = false>
LOWBIT_SIMD_INLINE ib<A> encode(const fb<A>& v) {
  if constexpr (F::kind == format_kind::integer) return encode_integer<F, A>(v);
  else return encode_minifloat<F, A, Finite>(v);
}

// encode<F>(x / s) for finite x and s > 0 (the quotient rounded as the scalar `x / s`), bit for
// bit, given r = RN(1/s) where 2^-125 <= s <= 2^125 and r = NaN otherwise. AVX-512: y = x·r
// instead of the division (vdivps is the bottleneck of the kernels), used when a certificate
// shows every quotient within the margin gives y's code; else the vector is divided.
//   |RN(x/s) − y| <= 3.0001·2^-24·|y| (r, y and RN(x/s) each within 2^-24 relative; r normal),
//   so RN(x/s) lies between y(1 − 2^-20) and y(1 + 2^-20), and the certificate is that both
//   ends have the same code (the code is monotone, so every value between them has it too):
//   minifloat: a = min(|y|, max), each end rounded once by the fused multiply-add with
//     encode_minifloat's constant K. |y| < 2^-126: y and RN(x/s) are below 2^-125, far below
//     half of F's smallest step, and both encode to a signed zero.
//   integer: each end rounded once onto the integer grid by t = RN(y(1 ± 2^-20) + 1.5·2^23)
//     (exact RNE for |y| < 2^22, where t stays in [2^23, 2^24); larger |y| makes the two ends
//     differ by more than t's step, and fails). The ends are compared by t+ − t- == 0, which a
//     NaN or infinite y fails too: an integer certificate holds only for finite x.
// A NaN r (s out of range) fails the certificate.
//   encode_quotient_try: y's codes, and ok &= the lanes whose certificate holds (no division;
//     without AVX-512 ok = 0). A caller re-encodes a vector with a failing lane (ok != all
//     lanes) by encode_quotient_fix, so several vectors can share one test. Unclamped
//     (integers): RNE(y) itself, for a store that clamps (saturating packs, int8), where the
//     certificate holds.
// Minifloat codes of x / s divide (1) or multiply by 1/s under the certificate (0). AMD Zen 4
// divides 16 lanes in about 3 cycles (vdivps zmm; measured here: 1.7 ns against 0.9 for a
// multiply), cheaper than the certificate's two fused multiply-adds, compare and branch, and
// than the re-encoding of the vectors it fails: with bf16 data under one per-tensor scale about
// 1 vector in 12 fails (x/s is an exact midpoint whenever the odd part of amax's significand
// divides x's), and dividing took that path from DRAM from 0.19 to 0.35 of the copy. Intel
// cores divide a zmm in 10-16 cycles (Sapphire Rapids: the kernels were bound by vdivps), so
// the certificate stays. Default: 1 when compiled for an AMD Zen core (GCC/Clang's
// __znver3__..__znver5__; GCC 12 names Zen 4 znver3 under -march=native), else 0; define it
// to choose.
#ifndef LOWBIT_DIVIDE_MINIFLOAT
#if defined(__znver3__) || defined(__znver4__) || defined(__znver5__)
#define LOWBIT_DIVIDE_MINIFLOAT 1
#else
#define LOWBIT_DIVIDE_MINIFLOAT 0
#endif
#endif

template <class A>
constexpr std::uint32_t all_lanes() {
  return fb<A>::size >= 32 ? ~0u : (1u << fb<A>::size) - 1u;
}

#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
// The integer certificate of y: returns t = RN(y(1 − 2^-20) + 1.5·2^23), whose bits − 1.5·2^23's
// are RNE(y) (exact for |y| < 2^22), and ok &= the lanes where t equals the same rounding of
// y(1 + 2^-20) (fails on NaN / ±inf y too).
LOWBIT_SIMD_INLINE __m512 integer_certificate(__m512 y, std::uint32_t& ok) {
  constexpr int rne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512 m = _mm512_set1_ps(0x1.8p23f);
  const __m512 lo = _mm512_fmadd_round_ps(y, _mm512_set1_ps(1.0f - 0x1p-20f), m, rne);
  const __m512 hi = _mm512_fmadd_round_ps(y, _mm512_set1_ps(1.0f + 0x1p-20f), m, rne);
  ok &= _mm512_cmp_ps_mask(_mm512_sub_ps(hi, lo), _mm512_setzero_ps(), _CMP_EQ_OQ);
  return lo;
}
#endif

template <class F, class A, bool Unclamped = false>
LOWBIT_SIMD_INLINE ib<A> encode_quotient_try(const fb<A>& x, const fb<A>& r, std::uint32_t& ok) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    constexpr int rne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m512 y = _mm512_mul_ps(x, r);
    if constexpr (F::kind == format_kind::integer) {
      const __m512 lo = integer_certificate(y, ok);
      const __m512i n = _mm512_sub_epi32(_mm512_castps_si512(lo), _mm512_set1_epi32(0x4B400000));  // RNE(y): t − bits(1.5·2^23)
      if constexpr (Unclamped) return n;
      const __m512i c = _mm512_min_epi32(_mm512_max_epi32(n, _mm512_set1_epi32(int(F::min_int))),
                                         _mm512_set1_epi32(int(F::max_int)));
      return _mm512_and_si512(c, _mm512_set1_epi32(int(F::code_mask)));
    } else {
      static_assert(F::min_exponent - F::mantissa_bits > -100, "lowbit: encode_quotient: F's smallest step is too small");
      const __m512i u = _mm512_castps_si512(y);
      // min(max, |y|): a NaN y (NaN r) stays NaN and fails the comparison below
      const __m512 a = _mm512_min_ps(_mm512_set1_ps(float(F::max_value)),
                                     _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF))));
      const __m512 k = minifloat_k<F>(a);
      // RN(a(1 ± 2^-20) + K'): K' + the code's step count of the exact a(1 ± 2^-20)
      const __m512 lo = _mm512_fmadd_round_ps(a, _mm512_set1_ps(1.0f - 0x1p-20f), k, rne);
      const __m512 hi = _mm512_fmadd_round_ps(a, _mm512_set1_ps(1.0f + 0x1p-20f), k, rne);
      ok &= _mm512_cmp_ps_mask(lo, hi, _CMP_EQ_OQ);
      // as encode_minifloat, from t = lo (every value in [a(1 − 2^-20), a(1 + 2^-20)] has this code;
      // near a binade edge K's coarser step rounds those values to the edge, as F's own steps do)
      return minifloat_code<F>(lo, u);
    }
  }
#endif
  (void)x, (void)r;
  ok = 0;
  return ib<A>(0);
}

// encode<F>(x / s) for a vector whose certificate failed on some lanes (ok = the lanes that
// held). AVX-512: exact quotients (ties are common with bf16 data and bf16-derived scales):
// y·s == x exactly means y == x/s, whose code is encode(y); the fused y·s − x cannot underflow
// to a false 0 when |x| >= 2^-100 (a nonzero difference is a multiple of >= 2^-148). When every
// lane either held or is exact, no division.
template <class F, class A>
LOWBIT_SIMD_INLINE ib<A> encode_quotient_fix(const fb<A>& x, const fb<A>& s, const fb<A>& r, std::uint32_t ok) {
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const __m512 y = _mm512_mul_ps(x, r);
    const __mmask16 exact = _mm512_cmp_ps_mask(_mm512_fmsub_ps(y, s, x), _mm512_setzero_ps(), _CMP_EQ_OQ) &
                            _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(0x1p-100f), _CMP_GE_OQ);
    if ((exact | ok) == all_lanes<A>()) return encode<F, A>(fb<A>(y));
  }
#endif
  (void)r, (void)ok;
  return encode<F, A>(x / s);
}

// Divide: encode<F>(x / s) by the division itself (vdivps), no certificate, r unused. The default
// (divides_quotient) for minifloats where LOWBIT_DIVIDE_MINIFLOAT is 1 (above); integers always
// take the certificate.
template <class F>
constexpr bool divides_quotient() {
  return LOWBIT_DIVIDE_MINIFLOAT != 0 && F::kind != format_kind::integer;
}
template <class F, class A, bool Divide = divides_quotient<F>()>
LOWBIT_SIMD_INLINE ib<A> encode_quotient(const fb<A>& x, const fb<A>& s, const fb<A>& r) {
  if constexpr (Divide) {  // x finite and s > 0: x / s is never NaN
    (void)r;
    return encode<F, A, true>(x / s);
  }
  std::uint32_t ok = all_lanes<A>();
  const ib<A> c = encode_quotient_try<F, A>(x, r, ok);
  if (LOWBIT_UNLIKELY(ok != all_lanes<A>())) return encode_quotient_fix<F, A>(x, s, r, ok);
  return c;
}

// Integer codes with zero points z (integer-valued, |z| <= 255): clamp(RNE(x / s) + z, qmin, qmax)
// masked to F's code bits, bit for bit as quantizer::encode_value (zero_kind::integer) for
// finite x, s > 0 and r as for encode_quotient. AVX-512: encode_quotient's integer certificate
// (the integer nearest y is RNE(RN(x/s)), or the lanes fail; no division), then + z, clamped.
// Unclamped: RNE(x / s) + z itself (int32), for a store that clamps (int8, saturating packs).
template <class F, class A, bool Unclamped = false>
LOWBIT_SIMD_INLINE ib<A> encode_quotient_zero_try(const fb<A>& x, const fb<A>& r, const fb<A>& z, std::uint32_t& ok) {
  static_assert(F::kind == format_kind::integer && (F::max_int) < 256 && (F::min_int) > -256,
                "lowbit: encode_quotient_zero needs an integer format of <= 8 bits");
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>()) {
    const __m512 lo = integer_certificate(_mm512_mul_ps(x, r), ok);
    const fb<A> n = _mm512_add_ps(_mm512_sub_ps(lo, _mm512_set1_ps(0x1.8p23f)), z);  // RNE(y) + z, exact
    if constexpr (Unclamped) return _mm512_cvtps_epi32(n);  // an integer: exact in any rounding mode
    const fb<A> c = xsimd::min(xsimd::max(n, fb<A>(float(F::min_int))), fb<A>(float(F::max_int)));
    return xsimd::batch_cast<std::int32_t>(c) & ib<A>(int(F::code_mask));
  }
#endif
  (void)x, (void)r, (void)z;
  ok = 0;
  return ib<A>(0);
}

// encode_quotient_zero for a vector whose certificate failed: divided.
template <class F, class A>
LOWBIT_SIMD_INLINE ib<A> encode_quotient_zero_fix(const fb<A>& x, const fb<A>& s, const fb<A>& z) {
  const fb<A> n = xsimd::nearbyint(x / s) + z;
  const fb<A> c = xsimd::min(xsimd::max(n, fb<A>(float(F::min_int))), fb<A>(float(F::max_int)));
  return xsimd::batch_cast<std::int32_t>(c) & ib<A>(int(F::code_mask));
}

template <class F, class A>
LOWBIT_SIMD_INLINE ib<A> encode_quotient_zero(const fb<A>& x, const fb<A>& s, const fb<A>& r, const fb<A>& z) {
  std::uint32_t ok = all_lanes<A>();
  const ib<A> c = encode_quotient_zero_try<F, A>(x, r, z, ok);
  if (LOWBIT_UNLIKELY(ok != all_lanes<A>())) return encode_quotient_zero_fix<F, A>(x, s, z);
  return c;
}

// True when F's codes are clamp(n, -128, 127) of the integer n, the range the saturating
// stores (store4_bytes) clamp to: int8.
template <class F>
constexpr bool saturating_packs_clamp() {
  if constexpr (F::kind == format_kind::integer) return F::min_int == -128 && F::max_int == 127;
  else return false;
}

// Byte codes (0..255 in each lane) -> the signed values -128..127 they store.
template <class A>
LOWBIT_SIMD_INLINE ib<A> sign_extend_byte(const ib<A>& c) {
  return (c << 24) >> 24;
}

// decode_minifloat's fixups: the values of F's subnormal magnitudes (0 .. 2^M − 1) and of its
// inf/NaN magnitudes, at (magnitude mod 16), where these do not collide (fits; e4m3fn, e5m2,
// fp6); normals: the count of normal magnitudes, 2^M .. 2^M + normals − 1.
template <class F>
struct minifloat_fixups {
  static constexpr int M = F::mantissa_bits;
  static constexpr bool special(unsigned m) {
    return F::special_rule == specials::fn       ? m == F::magnitude_mask
           : F::special_rule == specials::ieee ? (m >> M) == unsigned(F::exponent_all_ones)
                                               : false;
  }
  static constexpr bool fixup(unsigned m) { return m < (1u << M) || special(m); }
  static constexpr bool collide() {
    for (unsigned a = 0; a <= F::magnitude_mask; ++a)
      for (unsigned b = a + 1; b <= F::magnitude_mask; ++b)
        if (fixup(a) && fixup(b) && a % 16 == b % 16) return true;
    return false;
  }
  static constexpr bool fits = !collide();
  static constexpr unsigned normals = [] {
    unsigned n = 0;
    for (unsigned m = 1u << M; m <= F::magnitude_mask && !special(m); ++m) ++n;
    return n;
  }();
  struct values {
    alignas(64) float v[16];
    constexpr values() : v{} {
      for (unsigned m = 0; m <= F::magnitude_mask; ++m)
        if (m < (1u << M)) v[m % 16] = float(double(m) * detail::pow2(F::min_exponent - M));
        else if (special(m))
          v[m % 16] = F::special_rule == specials::ieee && (m & ((1u << M) - 1u)) == 0
                          ? std::numeric_limits<float>::infinity()
                          : std::numeric_limits<float>::quiet_NaN();
    }
  };
  static constexpr values table{};
};

template <class F, class A>
LOWBIT_SIMD_INLINE fb<A> decode_minifloat(const ib<A>& c) {
  static_assert(is_byte_minifloat<F>(), "lowbit: decode_minifloat needs a minifloat of <= 8 bits");
  constexpr int E = F::exponent_bits, M = F::mantissa_bits;
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
  if constexpr (use_avx512<A>() && minifloat_fixups<F>::fits) {
    // Normal magnitudes: their bits moved to float's fields, the exponent rebiased; subnormals and
    // inf/NaN codes from a 16-entry table at (magnitude mod 16); the sign merged. 8 instructions.
    const __m512i mag = _mm512_and_si512(c, _mm512_set1_epi32(int(F::magnitude_mask)));
    const __m512i nb = _mm512_add_epi32(_mm512_slli_epi32(mag, 23 - M), _mm512_set1_epi32((127 - F::bias) << 23));
    // normal: mag − 2^M < (count of normal magnitudes), unsigned
    const __mmask16 fix = _mm512_cmp_epu32_mask(_mm512_sub_epi32(mag, _mm512_set1_epi32(1 << M)),
                                                _mm512_set1_epi32(minifloat_fixups<F>::normals), _MM_CMPINT_NLT);
    const __m512 v = _mm512_mask_permutexvar_ps(_mm512_castsi512_ps(nb), fix, mag,
                                                _mm512_load_ps(minifloat_fixups<F>::table.v));
    if constexpr (!F::is_signed) return v;
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(v), _mm512_slli_epi32(c, 31 - (E + M)),
                                                         _mm512_set1_epi32(std::int32_t(0x80000000u)), 0xF8));
  }
#endif
  const ib<A> mag = c & ib<A>(int(F::magnitude_mask));
  const ib<A> e = mag >> M;
  const fb<A> normal = as_float<A>((mag << (23 - M)) + ib<A>((127 - F::bias) << 23));
  const fb<A> sub = xsimd::batch_cast<float>(mag) * fb<A>(float(detail::pow2(F::min_exponent - M)));
  fb<A> v = xsimd::select(xsimd::bool_cast(e == ib<A>(0)), sub, normal);
  if constexpr (F::special_rule == specials::fn) {
    v = xsimd::select(xsimd::bool_cast(mag == ib<A>(int(F::magnitude_mask))), fb<A>(NAN), v);
  } else if constexpr (F::special_rule == specials::ieee) {
    const fb<A> special = xsimd::select(xsimd::bool_cast((mag & ib<A>((1 << M) - 1)) == ib<A>(0)),
                                        fb<A>(INFINITY), fb<A>(NAN));
    v = xsimd::select(xsimd::bool_cast(e == ib<A>(F::exponent_all_ones)), special, v);
  }
  if constexpr (F::is_signed) {
    const ib<A> sign = (c & ib<A>(int(F::sign_mask))) << (31 - (E + M));
    v = as_float<A>(as_int<A>(v) | sign);
  }
  return v;
}

template <class F, class A>
LOWBIT_SIMD_INLINE fb<A> decode_integer(const ib<A>& c) {
  static_assert(F::kind == format_kind::integer, "lowbit: decode_integer needs an integer format");
  if constexpr (F::is_signed) return xsimd::batch_cast<float>((c << (32 - F::bits)) >> (32 - F::bits));
  else return xsimd::batch_cast<float>(c & ib<A>(int(F::code_mask)));
}

template <class F, class A>
LOWBIT_SIMD_INLINE fb<A> decode(const ib<A>& c) {
  if constexpr (F::kind == format_kind::integer) return decode_integer<F, A>(c);
  else return decode_minifloat<F, A>(c);
}

// ---- threads -------------------------------------------------------------------------------

inline int thread_id() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Threads for `requested` (0 = OpenMP's default); 1 without OpenMP.
inline int thread_count(int requested) {
#if defined(_OPENMP)
  return requested > 0 ? requested : omp_get_max_threads();
#else
  (void)requested;
  return 1;
#endif
}

}  // namespace simd
}  // namespace kernel
}  // namespace lowbit

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// LOWBIT_KERNEL_OMP(clauses): `#pragma omp clauses` under OpenMP, nothing otherwise.
#if defined(_OPENMP)
#define LOWBIT_KERNEL_PRAGMA(x) _Pragma(#x)
#define LOWBIT_KERNEL_OMP(x) LOWBIT_KERNEL_PRAGMA(omp x)
#else
#define LOWBIT_KERNEL_OMP(x)
#endif
