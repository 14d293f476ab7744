// Scalar quantizer (the spec) throughput, as a ratio to memcpy of the same float bytes measured
// in the same run: `lowbit_quantize_bench --benchmark_min_time=0.2`.
#include <lowbit/format/float4.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/quantize/presets.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
constexpr Eigen::Index kRows = 512, kCols = 1024;
const Mat& data() {
  static const Mat x = [] {
    std::mt19937 g(1);
    std::normal_distribution<float> n(0.0f, 0.02f);
    Mat m(kRows, kCols);
    for (Eigen::Index k = 0; k < m.size(); ++k) m.data()[k] = n(g);
    return m;
  }();
  return x;
}
void finish(benchmark::State& s) {
  s.SetBytesProcessed(std::int64_t(s.iterations()) * kRows * kCols * std::int64_t(sizeof(float)));
}
}  // namespace

static void BM_memcpy_baseline(benchmark::State& s) {
  const Mat& x = data();
  std::vector<float> out(std::size_t(x.size()));
  for (auto _ : s) {
    std::memcpy(out.data(), x.data(), out.size() * sizeof(float));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(s);
}
BENCHMARK(BM_memcpy_baseline);

template <class Q>
static void run_quantize(benchmark::State& s, const Q& q) {
  const Mat& x = data();
  const qparams p = q.fit(x);
  for (auto _ : s) {
    auto qx = q.quantize(x, p);
    benchmark::DoNotOptimize(qx.codes.data());
  }
  finish(s);
}
template <class Q>
static void run_fit(benchmark::State& s, const Q& q) {
  const Mat& x = data();
  for (auto _ : s) {
    auto p = q.fit(x);
    benchmark::DoNotOptimize(p.scale.data());
  }
  finish(s);
}
template <class Q>
static void run_dequantize(benchmark::State& s, const Q& q) {
  const auto qx = q.quantize(data());
  for (auto _ : s) {
    auto y = q.dequantize(qx);
    benchmark::DoNotOptimize(y.data());
  }
  finish(s);
}

static void BM_quantize_int4_g128(benchmark::State& s) { run_quantize(s, quantizer<int4>({per_group(128)})); }
static void BM_quantize_uint4_asym_g128(benchmark::State& s) { run_quantize(s, presets::w4a16_g128()); }
static void BM_quantize_int8_per_channel(benchmark::State& s) { run_quantize(s, presets::w8a8().weight); }
static void BM_quantize_fp8_block128(benchmark::State& s) { run_quantize(s, presets::fp8_block128().weight); }
static void BM_quantize_mxfp4(benchmark::State& s) { run_quantize(s, presets::mxfp4()); }
static void BM_quantize_nvfp4(benchmark::State& s) { run_quantize(s, presets::nvfp4()); }
static void BM_dequantize_uint4_asym_g128(benchmark::State& s) { run_dequantize(s, presets::w4a16_g128()); }
static void BM_dequantize_mxfp4(benchmark::State& s) { run_dequantize(s, presets::mxfp4()); }
static void BM_fit_absmax_g128(benchmark::State& s) { run_fit(s, quantizer<int4>({per_group(128)})); }
static void BM_fit_gptq_clip_g128(benchmark::State& s) {
  run_fit(s, quantizer<uint4>({per_group(128), mapping::asymmetric, convention::gptq, gptq_clip_observer()}));
}
BENCHMARK(BM_quantize_int4_g128);
BENCHMARK(BM_quantize_uint4_asym_g128);
BENCHMARK(BM_quantize_int8_per_channel);
BENCHMARK(BM_quantize_fp8_block128);
BENCHMARK(BM_quantize_mxfp4);
BENCHMARK(BM_quantize_nvfp4);
BENCHMARK(BM_dequantize_uint4_asym_g128);
BENCHMARK(BM_dequantize_mxfp4);
BENCHMARK(BM_fit_absmax_g128);
BENCHMARK(BM_fit_gptq_clip_g128);

// GPTQ's inner loop: one column of a 4096-row weight, element by element with the block
// parameters of each row (block_at + encode_value + decode_value).
static void BM_gptq_column_4096(benchmark::State& s) {
  std::mt19937 g(2);
  std::normal_distribution<float> n(0.0f, 0.02f);
  Mat w(4096, 128);
  for (Eigen::Index k = 0; k < w.size(); ++k) w.data()[k] = n(g);
  const auto q = presets::w4a16_g128();
  const qparams p = q.fit(w);
  Eigen::VectorXf col(4096);
  for (auto _ : s) {
    for (Eigen::Index i = 0; i < 4096; ++i) {
      const block_params b = q.block_at(p, i, 5);
      col(i) = q.decode_value(q.encode_value(w(i, 5), b), b);
    }
    benchmark::DoNotOptimize(col.data());
  }
  s.SetItemsProcessed(std::int64_t(s.iterations()) * 4096);
}
BENCHMARK(BM_gptq_column_4096);
