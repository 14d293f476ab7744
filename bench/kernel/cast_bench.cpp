// Throughput of lowbit/kernel/cast.hpp: encode_array / decode_array per format, on an array
// larger than the caches (64 MiB of floats) and one that fits in L2 (64 KiB of floats).
//
// Every benchmark reports bytes/s of the float side (the input of an encode, the output of a
// decode) and, measured in the same process, ratios against baselines over the same bytes:
//   vs_memcpy  rate / memcpy of the float array's size (memcpy reads and writes all of it, so
//              an encode, which writes a quarter, can beat 1.0 when memory-bound)
//   vs_cuda    rate / the loop over NVIDIA's host conversion (cuda_fp8.h / cuda_fp4.h), where
//              the CUDA toolkit is found and has that conversion
//   vs_scalar  rate / the loop over lowbit's scalar encode / decode (the specification)
// Baselines are timed once per size, best of 5 runs of >= 0.1 s each. Single thread; all
// rates use the thread's CPU time (Google Benchmark's default), which on a shared machine
// drifts less than wall time.
//
//   build-formats/bench/lowbit_kernel_bench --benchmark_filter='cast/'
#include <lowbit/kernel/cast.hpp>
#include <lowbit/lowbit.hpp>

#include <benchmark/benchmark.h>

#include <ctime>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#if defined(LOWBIT_HAVE_CUDA_ORACLE)
#include <cuda_fp4.h>
#include <cuda_fp8.h>
#endif

namespace {

// The calling thread's CPU time in seconds.
double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
namespace lb = lowbit;

constexpr std::size_t big_bytes = std::size_t(64) << 20;
constexpr std::size_t small_bytes = std::size_t(64) << 10;

struct buffers {
  std::vector<float> in, out_f;
  std::vector<std::uint8_t> codes;
  buffers() : in(big_bytes / 4), out_f(big_bytes / 4), codes(big_bytes / 4) {
    std::mt19937 g(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (float& x : in) x = u(g);
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = std::uint8_t(g());
    std::fill(out_f.begin(), out_f.end(), 0.0f);  // touch every page before timing
  }
};
buffers& buf() {
  static buffers b;
  return b;
}

// Input scaled to the format's range: uniform in [-max, max].
std::vector<float>& scaled_input(double max_value) {
  static std::map<double, std::vector<float>> cache;
  auto it = cache.find(max_value);
  if (it == cache.end()) {
    std::vector<float> v(buf().in);
    for (float& x : v) x = float(x * max_value);
    it = cache.emplace(max_value, std::move(v)).first;
  }
  return it->second;
}

// bytes/s of fn over `bytes`, the best of 5 runs of at least 0.1 s.
double rate_of(const std::function<void()>& fn, std::size_t bytes) {
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    std::size_t reps = 0;
    const double t0 = cpu_seconds();
    double s = 0;
    do {
      fn();
      ++reps;
      s = cpu_seconds() - t0;
    } while (s < 0.1);
    best = std::max(best, double(bytes) * double(reps) / s);
  }
  return best;
}

// A baseline's rate, measured once per (name, bytes) in this process.
double baseline(const std::string& name, std::size_t bytes, const std::function<void()>& fn) {
  static std::map<std::pair<std::string, std::size_t>, double> cache;
  const auto key = std::make_pair(name, bytes);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, rate_of(fn, bytes)).first;
  return it->second;
}

double memcpy_rate(std::size_t bytes) {
  return baseline("memcpy", bytes, [bytes] {
    std::memcpy(buf().out_f.data(), buf().in.data(), bytes);
    benchmark::ClobberMemory();
  });
}

// Runs op over the state's loop, sets bytes/s and the ratio counters.
void run_timed(benchmark::State& state, std::size_t bytes, const std::function<void()>& op,
               const std::map<std::string, double>& baselines) {
  double seconds = 0;
  std::size_t reps = 0;
  for (auto _ : state) {
    const double t0 = cpu_seconds();
    op();
    benchmark::ClobberMemory();
    seconds += cpu_seconds() - t0;
    ++reps;
  }
  state.SetBytesProcessed(std::int64_t(bytes) * std::int64_t(reps));
  const double rate = double(bytes) * double(reps) / seconds;
  for (const auto& [name, r] : baselines) state.counters[name] = rate / r;
}

std::string size_name(std::size_t bytes) {
  return bytes >= (std::size_t(1) << 20) ? std::to_string(bytes >> 20) + "MiB" : std::to_string(bytes >> 10) + "KiB";
}

// Optional CUDA host-conversion loops, per format.
template <class F>
std::function<void(const float*, std::uint8_t*, std::size_t)> cuda_encode_loop() {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  if constexpr (std::is_same_v<F, lb::float8_e4m3fn> || std::is_same_v<F, lb::float8_e5m2>) {
    constexpr auto interp = std::is_same_v<F, lb::float8_e4m3fn> ? __NV_E4M3 : __NV_E5M2;
    return [](const float* in, std::uint8_t* out, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) out[i] = __nv_cvt_float_to_fp8(in[i], __NV_SATFINITE, interp);
    };
  } else if constexpr (std::is_same_v<F, lb::float4_e2m1fn>) {
    return [](const float* in, std::uint8_t* out, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) out[i] = __nv_cvt_float_to_fp4(in[i], __NV_E2M1, cudaRoundNearest);
    };
  }
#endif
  return nullptr;
}

template <class F>
std::function<void(const std::uint8_t*, float*, std::size_t)> cuda_decode_loop() {
#if defined(LOWBIT_HAVE_CUDA_ORACLE)
  auto half_to_float = [](__half_raw h) { return float(Eigen::numext::bit_cast<Eigen::half>(h.x)); };
  if constexpr (std::is_same_v<F, lb::float8_e4m3fn> || std::is_same_v<F, lb::float8_e5m2>) {
    constexpr auto interp = std::is_same_v<F, lb::float8_e4m3fn> ? __NV_E4M3 : __NV_E5M2;
    return [half_to_float](const std::uint8_t* in, float* out, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(__nv_cvt_fp8_to_halfraw(in[i], interp));
    };
  } else if constexpr (std::is_same_v<F, lb::float4_e2m1fn>) {
    return [half_to_float](const std::uint8_t* in, float* out, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(__nv_cvt_fp4_to_halfraw(in[i] & 15, __NV_E2M1));
    };
  }
#endif
  return nullptr;
}

template <class F>
void bench_encode(benchmark::State& state, std::size_t bytes) {
  const std::size_t n = bytes / 4;
  const float* in = scaled_input(F::max_value).data();
  std::uint8_t* out = buf().codes.data();
  std::map<std::string, double> ratios{{"vs_memcpy", memcpy_rate(bytes)}};
  ratios["vs_scalar"] = baseline(std::string("scalar encode ") + F::name, bytes, [=] {
    for (std::size_t i = 0; i < n; ++i) out[i] = lb::encode<F>(in[i]);
  });
  if (auto cuda = cuda_encode_loop<F>())
    ratios["vs_cuda"] = baseline(std::string("cuda encode ") + F::name, bytes, [=] { cuda(in, out, n); });
  run_timed(state, bytes, [=] { lb::kernel::encode_array<F>(in, out, n); }, ratios);
}

template <class F>
void bench_decode(benchmark::State& state, std::size_t bytes) {
  const std::size_t n = bytes / 4;
  const std::uint8_t* in = buf().codes.data();
  float* out = buf().out_f.data();
  std::map<std::string, double> ratios{{"vs_memcpy", memcpy_rate(bytes)}};
  ratios["vs_scalar"] = baseline(std::string("scalar decode ") + F::name, bytes, [=] {
    for (std::size_t i = 0; i < n; ++i) out[i] = lb::decode<F>(in[i]);
  });
  if (auto cuda = cuda_decode_loop<F>())
    ratios["vs_cuda"] = baseline(std::string("cuda decode ") + F::name, bytes, [=] { cuda(in, out, n); });
  run_timed(state, bytes, [=] { lb::kernel::decode_array<F>(in, out, n); }, ratios);
}

template <class F>
void register_format() {
  for (std::size_t bytes : {big_bytes, small_bytes}) {
    benchmark::RegisterBenchmark(("cast/encode/" + std::string(F::name) + "/" + size_name(bytes)).c_str(),
                                 [bytes](benchmark::State& s) { bench_encode<F>(s, bytes); })
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("cast/decode/" + std::string(F::name) + "/" + size_name(bytes)).c_str(),
                                 [bytes](benchmark::State& s) { bench_decode<F>(s, bytes); })
        ->Unit(benchmark::kMicrosecond);
  }
}

const bool registered = [] {
  buf();  // allocate and fill the buffers before anything is timed
  for (std::size_t bytes : {big_bytes, small_bytes}) {
    benchmark::RegisterBenchmark(("cast/memcpy/" + size_name(bytes)).c_str(), [bytes](benchmark::State& s) {
      run_timed(s, bytes, [bytes] { std::memcpy(buf().out_f.data(), buf().in.data(), bytes); }, {});
    })->Unit(benchmark::kMicrosecond);
  }
  register_format<lb::float8_e4m3fn>();
  register_format<lb::float8_e5m2>();
  register_format<lb::float4_e2m1fn>();
  register_format<lb::int8>();
  register_format<lb::float8_e8m0fnu>();  // scalar encode, table decode: the fallback paths
  return true;
}();

}  // namespace
