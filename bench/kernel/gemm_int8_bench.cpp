// Benchmarks for lowbit/kernel/gemm_int8.hpp, single thread.
//
// Y[M×N] = X[M×K]·W[N×K]ᵀ; GOPS = 2·M·N·K / s. Baselines measured in the same run:
//   eigen_sgemm      Eigen 3.4 float GEMM (Eigen::setNbThreads(1))
//   onednn_u8s8s32   oneDNN's dnnl_gemm_u8s8s32 (row-major, int32 out), loaded with dlopen
//                    from libdnnl.so.2 when present (Debian libdnnl-dev), skipped otherwise
// Counters: GOPS, x_eigen (= GOPS / Eigen float GFLOPS), x_onednn (= GOPS / oneDNN GOPS).
// Run: OMP_NUM_THREADS=1 build-gemm/bench/lowbit_kernel_bench --benchmark_filter="sgemm|u8s8|int8"
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdint>
#include <random>
#include <vector>

#if __has_include(<dlfcn.h>)
#include <dlfcn.h>
#define LOWBIT_BENCH_DLOPEN 1
#endif

#include <lowbit/kernel/gemm_int8.hpp>

#include "gemm_bench_common.hpp"

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

const long shapes[][3] = {{2048, 2048, 2048}, {1, 4096, 4096}, {16, 4096, 4096}, {128, 4096, 4096}};

void shape_args(benchmark::internal::Benchmark* b) {
  for (auto& s : shapes) b->Args({s[0], s[1], s[2]});
  b->ArgNames({"M", "N", "K"})->Unit(benchmark::kMillisecond);
}

std::vector<std::int8_t> random_s8(std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<std::int8_t> v(n);
  for (auto& x : v) x = std::int8_t(d(g));
  return v;
}

void eigen_sgemm(benchmark::State& state) {
  lowbit_bench::single_thread();
  Eigen::setNbThreads(1);
  const long M = state.range(0), N = state.range(1), K = state.range(2);
  const RowMat X = RowMat::Random(M, K), W = RowMat::Random(N, K);
  RowMat Y(M, N);
  const double ops = 2.0 * double(M) * double(N) * double(K);
  const double rate = lowbit_bench::timed_loop(state, ops, [&] {
    Y.noalias() = X * W.transpose();
    benchmark::DoNotOptimize(Y.data());
  });
  lowbit_bench::record("eigen_sgemm/" + lowbit_bench::shape_key(M, N, K), rate);
  state.counters["GOPS"] = rate * 1e-9;
}
BENCHMARK(eigen_sgemm)->Apply(shape_args);

#if defined(LOWBIT_BENCH_DLOPEN)
using dnnl_u8s8s32_fn = int (*)(char, char, char, std::int64_t, std::int64_t, std::int64_t, float, const std::uint8_t*,
                                std::int64_t, std::uint8_t, const std::int8_t*, std::int64_t, std::int8_t, float,
                                std::int32_t*, std::int64_t, const std::int32_t*);
dnnl_u8s8s32_fn onednn_u8s8s32() {
  static dnnl_u8s8s32_fn f = [] {
    void* h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    return h ? reinterpret_cast<dnnl_u8s8s32_fn>(dlsym(h, "dnnl_gemm_u8s8s32")) : nullptr;
  }();
  return f;
}

void onednn_gemm_u8s8s32(benchmark::State& state) {
  lowbit_bench::single_thread();
  const auto f = onednn_u8s8s32();
  if (!f) {
    state.SkipWithError("libdnnl.so.2 not found (apt-get install libdnnl-dev)");
    return;
  }
  const long M = state.range(0), N = state.range(1), K = state.range(2);
  const auto a = random_s8(std::size_t(M * K), 1), w = random_s8(std::size_t(N * K), 2);
  std::vector<std::uint8_t> au(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) au[i] = std::uint8_t(int(a[i]) + 128);
  std::vector<std::int32_t> c(std::size_t(M * N));
  const std::int32_t co = 0;
  const double ops = 2.0 * double(M) * double(N) * double(K);
  // C = A·Bᵀ with A M×K row-major (u8) and B = W N×K row-major (s8) -> transb = 'T'.
  const double rate = lowbit_bench::timed_loop(state, ops, [&] {
    f('N', 'T', 'F', M, N, K, 1.0f, au.data(), K, 0, w.data(), K, 0, 0.0f, c.data(), N, &co);
    benchmark::DoNotOptimize(c.data());
  });
  lowbit_bench::record("onednn_u8s8s32/" + lowbit_bench::shape_key(M, N, K), rate);
  state.counters["GOPS"] = rate * 1e-9;
  lowbit_bench::ratio(state, "x_eigen", "eigen_sgemm/" + lowbit_bench::shape_key(M, N, K), rate);
}
BENCHMARK(onednn_gemm_u8s8s32)->Apply(shape_args);
#endif

template <bool FloatOut>
void lowbit_gemm_int8(benchmark::State& state) {
  lowbit_bench::single_thread();
  const long M = state.range(0), N = state.range(1), K = state.range(2);
  const auto a = random_s8(std::size_t(M * K), 1), w = random_s8(std::size_t(N * K), 2);
  const lowbit::int8_weights pw(lowbit::int8_view{w.data(), N, K, K, 1});
  const lowbit::int8_view av{a.data(), M, K, K, 1};
  std::vector<float> sa(std::size_t(M), 0.02f), sw(std::size_t(N), 0.001f), y(std::size_t(M * N));
  std::vector<std::int32_t> za(std::size_t(M), 3), c(std::size_t(M * N));
  const double ops = 2.0 * double(M) * double(N) * double(K);
  const double rate = lowbit_bench::timed_loop(state, ops, [&] {
    if (FloatOut) {
      lowbit::gemm_int8(av, sa.data(), za.data(), pw, sw.data(), nullptr, y.data(), N);
      benchmark::DoNotOptimize(y.data());
    } else {
      lowbit::gemm_int8_s32(av, pw, c.data(), N);
      benchmark::DoNotOptimize(c.data());
    }
  });
  const std::string key = lowbit_bench::shape_key(M, N, K);
  state.counters["GOPS"] = rate * 1e-9;
  lowbit_bench::ratio(state, "x_eigen", "eigen_sgemm/" + key, rate);
  lowbit_bench::ratio(state, "x_onednn", "onednn_u8s8s32/" + key, rate);
}
// int32 output (what oneDNN's u8s8s32 computes) and float output with per-token scales and
// activation zero points (the W8A8 linear layer).
BENCHMARK_TEMPLATE(lowbit_gemm_int8, false)->Name("lowbit_gemm_int8_s32")->Apply(shape_args);
BENCHMARK_TEMPLATE(lowbit_gemm_int8, true)->Name("lowbit_gemm_int8_f32")->Apply(shape_args);

}  // namespace
