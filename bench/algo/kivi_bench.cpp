// KIVI cache (algo/kivi.hpp) per decode token — append one token and attend one query — against
// an fp32 cache (rows appended to preallocated K/V matrices, lowbit::attention over them),
// measured in the same run. Shape: Hq = 8, Hkv = 2, d = 64, G = 32, R = 128; arg = tokens
// already in the cache (the timed steps add one token each on top).
#include <lowbit/algo/attention.hpp>
#include <lowbit/algo/kivi.hpp>

#include <benchmark/benchmark.h>

#include <random>

namespace {
using Mat = lowbit::attention_matrix;
constexpr int hq = 8, hkv = 2, d = 64, C = hkv * d;
constexpr Eigen::Index extra = 2048;  // room for the timed steps

Mat random(Eigen::Index r, Eigen::Index c, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Mat m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = n(g) + 0.5f * float(j % 7);
  return m;
}

void BM_float_cache_step(benchmark::State& st) {
  const Eigen::Index n0 = st.range(0);
  const Mat k = random(n0 + extra, C, 1), v = random(n0 + extra, C, 2), q = random(extra, hq * d, 3);
  Mat kc = Mat::Zero(n0 + extra, C), vc = Mat::Zero(n0 + extra, C);
  kc.topRows(n0) = k.topRows(n0);
  vc.topRows(n0) = v.topRows(n0);
  Eigen::Index n = n0;
  lowbit::attention_options o;
  o.causal = false;
  for (auto _ : st) {
    if (n == n0 + extra) {  // wrap around, outside the steady state rarely
      st.PauseTiming();
      n = n0;
      st.ResumeTiming();
    }
    kc.row(n) = k.row(n);
    vc.row(n) = v.row(n);
    ++n;
    benchmark::DoNotOptimize(
        lowbit::attention(q.row(n - n0 - 1), kc.topRows(n), vc.topRows(n), {hq, hkv, d}, o).data());
  }
  st.counters["bytes_per_token"] = double(2 * C * sizeof(float));
}
BENCHMARK(BM_float_cache_step)->Arg(1024)->Arg(4096)->Unit(benchmark::kMicrosecond)->MinTime(0.2);

template <class F>
void BM_kivi_step(benchmark::State& st) {
  const Eigen::Index n0 = st.range(0);
  const Mat k = random(n0 + extra, C, 1), v = random(n0 + extra, C, 2), q = random(extra, hq * d, 3);
  const lowbit::kivi_options o{hkv, d, 32, 128};
  lowbit::kivi_cache<F> cache(o);
  cache.append(k.topRows(n0), v.topRows(n0));
  Eigen::Index n = n0;
  for (auto _ : st) {
    if (n == n0 + extra) {
      st.PauseTiming();
      cache.clear();
      cache.append(k.topRows(n0), v.topRows(n0));
      n = n0;
      st.ResumeTiming();
    }
    cache.append(k.row(n), v.row(n));
    benchmark::DoNotOptimize(cache.attend(q.row(n - n0), hq).data());
    ++n;
  }
  st.counters["bytes_per_token"] = double(cache.bytes()) / double(cache.size());
}
BENCHMARK_TEMPLATE(BM_kivi_step, lowbit::uint2)->Arg(1024)->Arg(4096)->Unit(benchmark::kMicrosecond)->MinTime(0.2);
BENCHMARK_TEMPLATE(BM_kivi_step, lowbit::uint4)->Arg(1024)->Arg(4096)->Unit(benchmark::kMicrosecond)->MinTime(0.2);
}  // namespace
