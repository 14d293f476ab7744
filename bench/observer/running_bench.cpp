// Batch statistics of calibration, per batch of 512 tokens × 4096 channels (8 MiB of floats),
// against two baselines measured in the same run: memcpy of the same bytes and the bare NaN/Inf
// check every statistic starts with (detail::check_finite). Report as ratios to memcpy:
//   ./build/bench/lowbit_observer_bench --benchmark_min_time=0.2
// running_range::update (observer/running.hpp) per tensor, per channel, per head of 128;
// range_tracker::observe (quantize/dynamic.hpp); channel_absmax::update (algo/smoothquant.hpp,
// SmoothQuant's activation scales, in float64).
#include <lowbit/algo/smoothquant.hpp>
#include <lowbit/detail/check_finite.hpp>
#include <lowbit/observer/running.hpp>
#include <lowbit/quantize/dynamic.hpp>

#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

namespace {
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr Eigen::Index tokens = 512, channels = 4096;

const Mat& batch() {
  static const Mat x = [] {
    std::mt19937 g(3);
    std::normal_distribution<float> n(0.0f, 1.0f);
    Mat m(tokens, channels);
    for (Eigen::Index k = 0; k < m.size(); ++k) m.data()[k] = n(g);
    return m;
  }();
  return x;
}

void bytes(benchmark::State& s) { s.SetBytesProcessed(std::int64_t(s.iterations()) * tokens * channels * 4); }

void BM_memcpy(benchmark::State& s) {
  const Mat& x = batch();
  std::vector<float> y(std::size_t(x.size()));
  for (auto _ : s) {
    std::memcpy(y.data(), x.data(), y.size() * sizeof(float));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  bytes(s);
}
BENCHMARK(BM_memcpy);

void BM_check_finite(benchmark::State& s) {
  const Mat& x = batch();
  for (auto _ : s) lowbit::detail::check_finite(x, "bench");
  bytes(s);
}
BENCHMARK(BM_check_finite);

void BM_running_range(benchmark::State& s, lowbit::granularity g) {
  const Mat& x = batch();
  for (auto _ : s) {
    lowbit::running_range r(g);
    r.update(x);
    benchmark::DoNotOptimize(r.tensor_amax());
  }
  bytes(s);
}
BENCHMARK_CAPTURE(BM_running_range, per_tensor, lowbit::per_tensor());
BENCHMARK_CAPTURE(BM_running_range, per_channel, lowbit::per_channel(1));
BENCHMARK_CAPTURE(BM_running_range, per_head128, lowbit::per_head(128));

void BM_range_tracker(benchmark::State& s) {
  const Mat& x = batch();
  for (auto _ : s) {
    lowbit::range_tracker t;
    t.observe(x);
    benchmark::DoNotOptimize(t.range().hi);
  }
  bytes(s);
}
BENCHMARK(BM_range_tracker);

void BM_channel_absmax(benchmark::State& s) {
  const Mat& x = batch();
  for (auto _ : s) {
    lowbit::channel_absmax c;
    c.update(x);
    benchmark::DoNotOptimize(c.value().data());
  }
  bytes(s);
}
BENCHMARK(BM_channel_absmax);
}  // namespace
