// bench/kernel/quantize_bench.cpp — the kernel::quantize / dequantize fast paths against
// memcpy of the same bytes, measured in the same run, single thread.
//
// Bytes of a path = input bytes read + output bytes written once (codes, scales ignored:
// <= 1/16 of the codes). The baseline is memcpy moving the same number of bytes (copying
// (in + out) / 2 bytes: that many read and that many written), measured in this process on
// separate buffers of that size, one copy after every call of the path; the faster of glibc's
// memcpy and a non-temporal copy loop (copy_once). Counters:
//   vs_memcpy  path bytes/s ÷ copy bytes/s (target >= 0.7 from DRAM)
//   GB_s       path bytes/s;  Gelem_s  elements/s;  mean_Gelem_s  elements/s of the mean call
// Rates are those of the fastest call, for the path and for memcpy alike (interference on a
// shared machine only slows calls down; the mean drifts by ±20 % between runs).
// "dram": 8192 × 8192 elements (256 MiB of float input, 128 MiB of bf16), larger than every
// cache (a 4096 × 4096 float input, 64 MiB, fits the 105 MiB L3 of a Sapphire Rapids host);
// "cache": 128 × 256 elements (128 KiB float, L2-resident); "l2": 16 × 8192 (512 KiB float),
// long rows in L2: the arithmetic ceiling of a path, without the per-row costs of short rows.
//   ./build/bench/lowbit_kernel_bench --benchmark_filter='quantize|floor|memcpy'
// quantize_static/* rows: the same paths with qparams fitted beforehand (one pass over x).
// floor/minimal_pass/* rows: a one-pass kernel with almost no arithmetic (minimal_pass), the
// ceiling the paths can reach on this host; floor/two_pass/*: a bare max pass before it, the
// ceiling of fits that read x twice (per-tensor, per-column, NVFP4).
#include <lowbit/format/float4.hpp>
#include <lowbit/format/float8.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/scale.hpp>
#include <lowbit/kernel/dequantize.hpp>
#include <lowbit/kernel/quantize.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

using namespace lowbit;
using Index = Eigen::Index;

namespace {

constexpr int one_thread = 1;

// Wall-clock seconds (monotonic). The fastest of many calls is the statistic: a call that was
// descheduled or slowed by a neighbour only gets longer. (The thread CPU clock of this VM
// sometimes reports a zero interval for a 20 µs call.)
double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Input data: normal-ish values with a per-row magnitude (cheap generator: 64M elements).
struct data {
  Index rows, cols;
  std::vector<float> f;
  std::vector<Eigen::bfloat16> h;
};

const data& input(Index rows, Index cols) {
  static std::map<std::pair<Index, Index>, data> cache;
  auto it = cache.find({rows, cols});
  if (it != cache.end()) return it->second;
  data d{rows, cols, std::vector<float>(std::size_t(rows * cols)), std::vector<Eigen::bfloat16>(std::size_t(rows * cols))};
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  for (Index i = 0; i < rows; ++i) {
    const float row_scale = float(1 + i % 7) * 0.37f;
    for (Index j = 0; j < cols; ++j) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      const float u = float(std::int32_t(s >> 32)) * 0x1p-31f;  // [-1, 1)
      const float v = u * u * u * 4.0f * row_scale;                // heavier tails
      d.f[std::size_t(i * cols + j)] = v;
      d.h[std::size_t(i * cols + j)] = Eigen::bfloat16(v);
    }
  }
  return cache.emplace(std::make_pair(rows, cols), std::move(d)).first->second;
}

// Buffers of a copy that moves `bytes` (bytes / 2 copied: that many read, that many
// written), kept per size; 64-byte aligned.
struct copy_buffers {
  std::vector<char, Eigen::aligned_allocator<char>> a, b;
};

copy_buffers& buffers(std::size_t bytes) {
  static std::map<std::size_t, copy_buffers> cache;
  auto it = cache.find(bytes);
  if (it != cache.end()) return it->second;
  const std::size_t n = bytes / 2 / 64 * 64;
  copy_buffers& c = cache[bytes];
  c.a.assign(n, 1);
  c.b.assign(n, 2);
  return c;
}

// Seconds of one copy: glibc's memcpy, or (streamed) 64-byte loads and non-temporal stores.
// glibc switches to non-temporal stores only above a size threshold (between 96 and 160 MiB
// on this host: its 96 MiB copy runs at 12-14 GB/s, the 160 MiB one at 19-22), so the
// baseline is the faster of the two (from 4 MiB; in-cache sizes use memcpy alone).
double copy_once(copy_buffers& c, bool streamed) {
  const double t0 = seconds();
#if defined(__AVX512F__)
  if (streamed) {
    for (std::size_t k = 0; k < c.a.size(); k += 64)
      _mm512_stream_si512(reinterpret_cast<__m512i*>(c.b.data() + k),
                          _mm512_load_si512(reinterpret_cast<const __m512i*>(c.a.data() + k)));
    _mm_sfence();
  } else
#endif
  {
    (void)streamed;
    std::memcpy(c.b.data(), c.a.data(), c.a.size());
  }
  benchmark::ClobberMemory();
  return seconds() - t0;
}

// Rates of the fastest call (a shared machine only ever slows a call down), and of the mean
// call. Every call of the path is followed by one copy of the same bytes (memcpy and the
// streamed copy in turn), so path and baseline see the same neighbours: the bandwidth this VM
// gets drifts by 1.5x over minutes, which a baseline measured once would carry into the
// ratio. The reported time is the path's alone (manual time).
void run_path(benchmark::State& state, double in_bytes, double out_bytes, double elems,
              const std::function<void()>& body) {
  const double bytes = in_bytes + out_bytes;
  copy_buffers& cb = buffers(std::size_t(bytes));
  copy_once(cb, false);
  const bool large = cb.a.size() >= (std::size_t(4) << 20);  // in-cache sizes: memcpy alone
  bool streamed = large;
  body();  // warm-up (first touch of the output)
  double best = 1e30, total = 0, best_copy = 1e30;
  for (auto _ : state) {
    const double t0 = seconds();
    body();
    benchmark::ClobberMemory();
    const double t = seconds() - t0;
    state.SetIterationTime(t);
    best = std::min(best, t);
    total += t;
    best_copy = std::min(best_copy, copy_once(cb, streamed));
    streamed = large && !streamed;
  }
  const double rate = bytes / best, base = double(2 * cb.a.size()) / best_copy;
  state.counters["GB_s"] = rate * 1e-9;
  state.counters["Gelem_s"] = elems / best * 1e-9;
  state.counters["mean_Gelem_s"] = elems * double(state.iterations()) / total * 1e-9;
  state.counters["vs_memcpy"] = rate / base;
  state.counters["memcpy_GB_s"] = base * 1e-9;
}

// given: quantize with qparams fitted once outside the loop (static / delayed scales: one pass,
// "quantize_static/..." rows); otherwise fit + quantize ("quantize/...").
template <class Q, class T>
void register_quantize(const std::string& name, Q q, bool packed, Index rows, Index cols, const char* where,
                       bool given) {
  const std::string full = std::string(given ? "quantize_static/" : "quantize/") + name + "/" +
                           (std::is_same_v<T, float> ? "f32" : "bf16") + "/" + where;
  benchmark::RegisterBenchmark(full.c_str(), [q, packed, rows, cols, given](benchmark::State& state) {
    const data& d = input(rows, cols);
    const T* x;
    if constexpr (std::is_same_v<T, float>) x = d.f.data();
    else x = d.h.data();
    qparams p;
    if (given) p = kernel::quantize(q, d.f.data(), rows, cols, cols, {one_thread}).params;
    const Index out_ld = packed ? (cols + 1) / 2 : cols;
    std::vector<std::uint8_t> out(std::size_t(rows * out_ld));
    auto* codes = reinterpret_cast<typename Q::format::storage*>(out.data());
    run_path(state, double(rows * cols * Index(sizeof(T))), double(rows * out_ld), double(rows * cols), [&] {
      if constexpr (Q::format::bits <= 4) {
        if (packed) {
          if (given) kernel::quantize_packed(q, p, x, rows, cols, cols, out.data(), out_ld, {one_thread});
          else benchmark::DoNotOptimize(kernel::quantize_packed(q, x, rows, cols, cols, out.data(), out_ld, {one_thread}));
          return;
        }
      }
      if (given) kernel::quantize_into(q, p, x, rows, cols, cols, codes, out_ld, {one_thread});
      else benchmark::DoNotOptimize(kernel::quantize_into(q, x, rows, cols, cols, codes, out_ld, {one_thread}));
    });
  })->UseManualTime()->MinTime(0.3)->Unit(benchmark::kMillisecond);
}

template <class Q>
void register_dequantize(const std::string& name, Q q, bool packed, Index rows, Index cols, const char* where) {
  const std::string full = "dequantize/" + name + "/" + where;
  benchmark::RegisterBenchmark(full.c_str(), [q, packed, rows, cols](benchmark::State& state) {
    const data& d = input(rows, cols);
    const auto qx = kernel::quantize(q, d.f.data(), rows, cols, cols, {one_thread});
    const Index in_ld = packed ? (cols + 1) / 2 : cols;
    std::vector<std::uint8_t> codes(std::size_t(rows * in_ld));
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) {
        if (packed) codes[std::size_t(i * in_ld + j / 2)] |= std::uint8_t((qx.codes(i, j) & 0xF) << (4 * (j % 2)));
        else codes[std::size_t(i * in_ld + j)] = qx.codes(i, j);
      }
    // 64-byte aligned, as an Eigen matrix's data with AVX-512 (rows of 4096 floats: all aligned)
    std::vector<float, Eigen::aligned_allocator<float>> out(std::size_t(rows * cols));
    run_path(state, double(rows * in_ld), double(rows * cols * 4), double(rows * cols), [&] {
      if constexpr (Q::format::bits <= 4) {
        if (packed) {
          kernel::dequantize_packed(q, codes.data(), in_ld, qx.params, out.data(), cols, {one_thread});
          return;
        }
      }
      kernel::dequantize(q, qx, out.data(), cols, {one_thread});
    });
  })->UseManualTime()->MinTime(0.3)->Unit(benchmark::kMillisecond);
}

template <class Q>
void register_path(const std::string& name, Q q, bool packed = false) {
  for (auto [rows, cols, where] :
       {std::tuple<Index, Index, const char*>{8192, 8192, "dram"}, {128, 256, "cache"}, {16, 8192, "l2"}}) {
    for (bool given : {false, true}) {
      register_quantize<Q, float>(name, q, packed, rows, cols, where, given);
      register_quantize<Q, Eigen::bfloat16>(name, q, packed, rows, cols, where, given);
    }
    register_dequantize<Q>(name, q, packed, rows, cols, where);
  }
}

void memcpy_bench(benchmark::State& state) {
  const std::size_t n = std::size_t(state.range(0));
  std::vector<char> a(n, 1), b(n, 2);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(2 * n));  // read + written
}

// The least work a one-pass 8-bit quantizer can do: codes = saturate(RNE(x · c)) for one
// constant c over a rows × cols input (rows a multiple of 4, cols of 512 bytes), packed and
// streamed as kernel::quantize streams its output, read as kernel::quantize reads large inputs:
// four rows together, 512 bytes of each in turn (kernel::detail::interleaved_rows; one row after
// the other, this kernel reached 0.64-0.75 of the copy on this VM). Its vs_memcpy is what one
// thread of this host reaches when the arithmetic is nearly free: the ceiling of every "given"
// and one-pass "fit" row.
template <class T>
void minimal_pass(const T* x, std::uint8_t* out, Index rows, Index cols, float c) {
  constexpr Index chunk = 512 / Index(sizeof(T));
#if defined(__AVX512BW__)
  const __m512 cv = _mm512_set1_ps(c);
  auto step = [&](Index e) {  // elements [e, e + 64)
    __m512i v[4];
    for (int k = 0; k < 4; ++k) {
      __m512 f;
      if constexpr (std::is_same_v<T, float>) f = _mm512_loadu_ps(x + e + 16 * k);
      else
        f = _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + e + 16 * k))), 16));
      v[k] = _mm512_cvtps_epi32(_mm512_mul_ps(f, cv));
    }
    const __m512i b = _mm512_packs_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
    _mm512_stream_si512(reinterpret_cast<__m512i*>(out + e), b);  // lane order differs: irrelevant here
  };
#else
  auto step = [&](Index e) {
    for (Index j = e; j < e + 64; ++j)
      out[j] = std::uint8_t(std::int8_t(std::max(-128.0f, std::min(127.0f, std::nearbyint(float(x[j]) * c)))));
  };
#endif
  for (Index i = 0; i < rows; i += 4)
    for (Index j0 = 0; j0 < cols; j0 += chunk)
      for (Index s = 0; s < 4; ++s)
        for (Index j = j0; j < j0 + chunk; j += 64) step((i + s) * cols + j);
#if defined(__AVX512BW__)
  _mm_sfence();
#endif
}

// The least work of a read-only pass: max |x| over the same input, read the same way (four
// rows together, 512 bytes of each in turn), eight accumulators. Returned as bits.
template <class T>
std::int32_t max_pass(const T* x, Index rows, Index cols) {
  constexpr Index chunk = 512 / Index(sizeof(T));
#if defined(__AVX512BW__)
  __m512i m[8];
  for (auto& v : m) v = _mm512_setzero_si512();
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
  for (Index i = 0; i < rows; i += 4)
    for (Index j0 = 0; j0 < cols; j0 += chunk)
      for (Index s = 0; s < 4; ++s) {
        const char* p = reinterpret_cast<const char*>(x + (i + s) * cols + j0);
        for (int k = 0; k < 8; ++k) {  // 512 bytes: 8 vectors (bf16: |x| on 16-bit lanes)
          const __m512i v = _mm512_loadu_si512(p + 64 * k);
          if constexpr (std::is_same_v<T, float>) m[k] = _mm512_max_epi32(m[k], _mm512_and_si512(v, abs_mask));
          else m[k] = _mm512_max_epu16(m[k], _mm512_and_si512(v, _mm512_set1_epi16(0x7FFF)));
        }
      }
  for (int k = 1; k < 8; ++k) m[0] = _mm512_max_epi32(m[0], m[k]);
  alignas(64) std::int32_t lanes[16];
  _mm512_store_si512(lanes, m[0]);
  return *std::max_element(lanes, lanes + 16);
#else
  float a = 0;
  for (Index e = 0; e < rows * cols; ++e) a = std::max(a, std::fabs(float(x[e])));
  std::int32_t b;
  std::memcpy(&b, &a, 4);
  return b;
#endif
}

// floor/minimal_pass: minimal_pass alone (the ceiling of one-pass paths). floor/two_pass:
// max_pass then minimal_pass, the ceiling of fits that must see all of x before the first code
// (per-tensor, per-column, the NVFP4 tensor amax): they read x twice, 2·in + out bytes for the
// in + out counted, so even at the copy's bandwidth they reach (in + out) / (2·in + out) of it
// (f32 -> 8 bits: 5/9 = 0.56; bf16 -> 8 bits: 3/5 = 0.6).
template <class T>
void register_minimal(Index rows, Index cols, const char* where, bool two_pass) {
  const std::string full = std::string(two_pass ? "floor/two_pass/" : "floor/minimal_pass/") +
                           (std::is_same_v<T, float> ? "f32" : "bf16") + "/" + where;
  benchmark::RegisterBenchmark(full.c_str(), [rows, cols, two_pass](benchmark::State& state) {
    const data& d = input(rows, cols);
    const T* x;
    if constexpr (std::is_same_v<T, float>) x = d.f.data();
    else x = d.h.data();
    std::vector<std::uint8_t, Eigen::aligned_allocator<std::uint8_t>> out(std::size_t(rows * cols));
    run_path(state, double(rows * cols * Index(sizeof(T))), double(rows * cols), double(rows * cols), [&] {
      // the constant depends on the max (as a scale would), so the passes stay in order
      const float c = two_pass ? 31.0f + float(max_pass(x, rows, cols) & 1) : 31.0f;
      minimal_pass(x, out.data(), rows, cols, c);
    });
  })->UseManualTime()->MinTime(0.3)->Unit(benchmark::kMillisecond);
}

const int registered = [] {
  // memcpy of 160 MiB (= the bytes an f32 -> 8-bit path moves from DRAM), for reference.
  benchmark::RegisterBenchmark("memcpy/copy_bytes", memcpy_bench)
      ->Arg(160 << 20)
      ->Arg(80 << 10)
      ->UseRealTime()
      ->MinTime(0.3);
  for (auto [rows, cols, where] : {std::tuple<Index, Index, const char*>{8192, 8192, "dram"}, {128, 256, "cache"}}) {
    for (bool two : {false, true}) {
      register_minimal<float>(rows, cols, where, two);
      register_minimal<Eigen::bfloat16>(rows, cols, where, two);
    }
  }
  register_path("int8_per_channel0", quantizer<int8>({per_channel(0)}));  // = per_token
  register_path("int8_per_channel1", quantizer<int8>({per_channel(1)}));
  register_path("e4m3_per_tensor", quantizer<float8_e4m3fn>({per_tensor()}));
  register_path("e4m3_block128x128", quantizer<float8_e4m3fn>({block(128, 128)}));
  register_path("mxfp8_e4m3", quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}));
  register_path("mxfp4_packed", quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), true);
  register_path("nvfp4_packed", quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), true);
  register_path("int4_g128_packed", quantizer<int4>({per_group(128)}), true);
  register_path("uint4_asym_g128_packed", quantizer<uint4>({per_group(128), mapping::asymmetric}), true);  // AWQ/GPTQ
  register_path("int8_asym_per_token", quantizer<int8>({per_token(), mapping::asymmetric}));
  return 0;
}();

}  // namespace
