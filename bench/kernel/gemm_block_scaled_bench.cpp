// Benchmarks for lowbit/kernel/gemm_block_scaled.hpp, single thread.
//
// The CPU emulation of block-scaled FP8 / NVFP4 GEMM (the host reference of the CUDA kernels):
// GFLOPS = 2·M·N·K / s, against Eigen's float GEMM on the same shape, measured in the same run
// (x_eigen). Run:
//   OMP_NUM_THREADS=1 build-gemm/bench/lowbit_kernel_bench --benchmark_filter="sgemm_bs|block_scaled"
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <lowbit/format/float4.hpp>
#include <lowbit/format/float8.hpp>
#include <lowbit/format/scale.hpp>
#include <lowbit/kernel/gemm_block_scaled.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include "gemm_bench_common.hpp"

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void shape_args(benchmark::internal::Benchmark* b) {
  b->Args({2048, 2048, 2048})->Args({128, 4096, 4096})->ArgNames({"M", "N", "K"})->Unit(benchmark::kMillisecond);
}

void eigen_sgemm_bs(benchmark::State& state) {
  lowbit_bench::single_thread();
  Eigen::setNbThreads(1);
  const long M = state.range(0), N = state.range(1), K = state.range(2);
  const RowMat X = RowMat::Random(M, K), W = RowMat::Random(N, K);
  RowMat Y(M, N);
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const double rate = lowbit_bench::timed_loop(state, flops, [&] {
    Y.noalias() = X * W.transpose();
    benchmark::DoNotOptimize(Y.data());
  });
  lowbit_bench::record("eigen_sgemm_bs/" + lowbit_bench::shape_key(M, N, K), rate);
  state.counters["GFLOPS"] = rate * 1e-9;
}
BENCHMARK(eigen_sgemm_bs)->Apply(shape_args);

template <class QA, class QW>
void run(benchmark::State& state, const QA& qa, const QW& qw, long bk) {
  lowbit_bench::single_thread();
  const long M = state.range(0), N = state.range(1), K = state.range(2);
  const auto A = qa.quantize(RowMat::Random(M, K));
  const auto W = qw.quantize(RowMat::Random(N, K) * 0.02f);
  using FA = typename QA::format;
  using FW = typename QW::format;
  RowMat Y(M, N);
  const auto av = lowbit::block_scaled_view(A), wv = lowbit::block_scaled_view(W);
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const double rate = lowbit_bench::timed_loop(state, flops, [&] {
    lowbit::gemm_block_scaled<FA, FW>(av, wv, Y.data(), N, {bk, false});
    benchmark::DoNotOptimize(Y.data());
  });
  state.counters["GFLOPS"] = rate * 1e-9;
  lowbit_bench::ratio(state, "x_eigen", "eigen_sgemm_bs/" + lowbit_bench::shape_key(M, N, K), rate);
}

void block_scaled_fp8_deepseek(benchmark::State& state) {
  lowbit::quant_options ao, wo;
  ao.gran = lowbit::block(1, 128);
  wo.gran = lowbit::block(128, 128);
  run(state, lowbit::quantizer<lowbit::float8_e4m3fn>(ao), lowbit::quantizer<lowbit::float8_e4m3fn>(wo), 128);
}
void block_scaled_nvfp4(benchmark::State& state) {
  lowbit::quant_options o;
  o.gran = lowbit::nvfp4_block(16);
  const lowbit::quantizer<lowbit::float4_e2m1fn, lowbit::float8_ue4m3> q(o);
  run(state, q, q, 16);
}
BENCHMARK(block_scaled_fp8_deepseek)->Apply(shape_args);
BENCHMARK(block_scaled_nvfp4)->Args({2048, 2048, 2048})->ArgNames({"M", "N", "K"})->Unit(benchmark::kMillisecond);

}  // namespace
