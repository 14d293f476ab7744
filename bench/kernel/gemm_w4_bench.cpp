// Benchmarks for lowbit/kernel/gemm_w4.hpp, single thread: the decode GEMV (M = 1).
//
// Y[M×N] = X[M×K]·Ŵᵀ with N = K = 4096. Baselines measured in the same run:
//   memcpy_64MiB   memcpy of a 64 MiB buffer (DRAM-resident): source bytes / s
//   eigen_sgemv    Eigen float GEMV, W 4096×4096 fp32 row-major (64 MiB, DRAM-resident)
// The 4-bit kernels cycle through 8 copies of the weights (68 MiB; the VM's shared L3 does not
// hold such working sets, shared/research/perf.md §5: 2, 8 and 16 copies run at the same
// speed), so every call streams its weights from DRAM as a decode step over many layers does.
// Counters: GFLOPS (2·M·N·K / s), wGBps (packed weight + scale bytes / s), x_eigen
// (speed-up over Eigen float GEMV), x_memcpy (weight bytes/s over memcpy bytes/s).
// Run: OMP_NUM_THREADS=1 build/bench/lowbit_kernel_bench --benchmark_filter="memcpy_64MiB|sgemv|w4_"
//        --benchmark_counters_tabular=true --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// (with repetitions, x_eigen / x_memcpy divide by the last baseline repetition).
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstring>
#include <random>
#include <vector>

#include <lowbit/format/scale.hpp>
#include <lowbit/kernel/gemm_w4.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include "gemm_bench_common.hpp"

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr long kN = 4096, kK = 4096, kCopies = 8;

void memcpy_64MiB(benchmark::State& state) {
  const std::size_t bytes = std::size_t(64) << 20;
  std::vector<char> a(bytes, 1), b(bytes, 0);
  const double rate = lowbit_bench::timed_loop(state, double(bytes), [&] {
    std::memcpy(b.data(), a.data(), bytes);
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  });
  lowbit_bench::record("memcpy", rate);
  state.counters["GBps"] = rate * 1e-9;
}
BENCHMARK(memcpy_64MiB)->Unit(benchmark::kMillisecond);

void eigen_sgemv(benchmark::State& state) {
  lowbit_bench::single_thread();
  Eigen::setNbThreads(1);
  const long M = state.range(0);
  const RowMat W = RowMat::Random(kN, kK), X = RowMat::Random(M, kK);
  RowMat Y(M, kN);
  const double flops = 2.0 * double(M) * kN * kK;
  const double rate = lowbit_bench::timed_loop(state, flops, [&] {
    Y.noalias() = X * W.transpose();
    benchmark::DoNotOptimize(Y.data());
  });
  lowbit_bench::record("eigen_gemv/" + std::to_string(M), rate);
  state.counters["GFLOPS"] = rate * 1e-9;
  state.counters["wGBps"] = rate / flops * double(W.size()) * 4.0 * 1e-9;
}
BENCHMARK(eigen_sgemv)->Arg(1)->Arg(16)->ArgName("M")->Unit(benchmark::kMillisecond);

template <class Q>
std::vector<lowbit::w4_weights> make_weights(const Q& q) {
  std::vector<lowbit::w4_weights> ws;
  for (long c = 0; c < kCopies; ++c) {
    std::mt19937 g(unsigned(c) + 1);
    std::normal_distribution<float> d(0.0f, 0.02f);
    RowMat W(kN, kK);
    for (long i = 0; i < W.size(); ++i) W.data()[i] = d(g);
    ws.emplace_back(q.quantize(W));
  }
  return ws;
}

template <class Q>
void run_w4(benchmark::State& state, const Q& q) {
  lowbit_bench::single_thread();
  const long M = state.range(0);
  static std::vector<lowbit::w4_weights> ws;  // built once per format (quantizing is slow)
  static const void* owner = nullptr;
  if (owner != &q) {
    ws = make_weights(q);
    owner = &q;
  }
  const RowMat X = RowMat::Random(M, kK);
  std::vector<float> y(std::size_t(M * kN));
  const lowbit::float_view xv{X.data(), M, kK, kK, 1};
  long i = 0;
  const double flops = 2.0 * double(M) * kN * kK;
  const double rate = lowbit_bench::timed_loop(state, flops, [&] {
    lowbit::gemm_w4(xv, ws[std::size_t(i++ % kCopies)].view(), y.data(), kN);
    benchmark::DoNotOptimize(y.data());
  });
  const double wbytes = double(ws[0].bytes());
  state.counters["GFLOPS"] = rate * 1e-9;
  state.counters["wGBps"] = rate / flops * wbytes * 1e-9;
  lowbit_bench::ratio(state, "x_eigen", "eigen_gemv/" + std::to_string(M), rate);
  lowbit_bench::ratio(state, "x_memcpy", "memcpy", rate / flops * wbytes);
}

lowbit::quant_options group_opts(long g, lowbit::mapping m = lowbit::mapping::symmetric,
                                  lowbit::convention c = lowbit::convention::lowbit) {
  lowbit::quant_options o;
  o.gran = lowbit::per_group(g);
  o.map = m;
  o.conv = c;
  return o;
}

void w4_int4_g128(benchmark::State& s) {
  static const lowbit::quantizer<lowbit::int4> q(group_opts(128));
  run_w4(s, q);
}
void w4_uint4_zero_g128(benchmark::State& s) {
  static const lowbit::quantizer<lowbit::uint4> q(group_opts(128, lowbit::mapping::asymmetric, lowbit::convention::gptq));
  run_w4(s, q);
}
// Zero points with groups narrower than a 128-element chunk: the GEMV's lanes hold different
// groups, so lut[q] − z takes one vsubps per 16 weights (kernel/gemm_w4.hpp).
void w4_uint4_zero_g32(benchmark::State& s) {
  static const lowbit::quantizer<lowbit::uint4> q(group_opts(32, lowbit::mapping::asymmetric, lowbit::convention::gptq));
  run_w4(s, q);
}
void w4_nf4_g64(benchmark::State& s) {
  static const lowbit::quantizer<lowbit::nf4> q(group_opts(64));
  run_w4(s, q);
}
void w4_mxfp4_g32(benchmark::State& s) {
  static const lowbit::quantizer<lowbit::float4_e2m1fn, lowbit::float8_e8m0fnu> q(group_opts(32));
  run_w4(s, q);
}
void w4_nvfp4_g16(benchmark::State& s) {
  static const lowbit::quantizer<lowbit::float4_e2m1fn, lowbit::float8_ue4m3> q(group_opts(16));
  run_w4(s, q);
}
BENCHMARK(w4_int4_g128)->Arg(1)->Arg(16)->ArgName("M")->Unit(benchmark::kMillisecond);
BENCHMARK(w4_uint4_zero_g128)->Arg(1)->ArgName("M")->Unit(benchmark::kMillisecond);
BENCHMARK(w4_uint4_zero_g32)->Arg(1)->ArgName("M")->Unit(benchmark::kMillisecond);
BENCHMARK(w4_nf4_g64)->Arg(1)->ArgName("M")->Unit(benchmark::kMillisecond);
BENCHMARK(w4_mxfp4_g32)->Arg(1)->ArgName("M")->Unit(benchmark::kMillisecond);
BENCHMARK(w4_nvfp4_g16)->Arg(1)->ArgName("M")->Unit(benchmark::kMillisecond);

}  // namespace
