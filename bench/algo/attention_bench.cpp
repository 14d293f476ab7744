// int8 attention (algo/attention.hpp) against fp32 attention with the same blocking, measured
// in the same run: decode (1 query over Tk keys) and causal prefill (T queries over T keys).
// Shape: Llama-style GQA, Hq = 8, Hkv = 2, d = 64. The int8 rows take pre-quantized Q/K/V
// (per-head asymmetric int8), as a KV cache and a fused producer would hand them over; the
// *_with_quant rows add the per-head quantization of Q, K and V to the timed region.
#include <lowbit/algo/attention.hpp>

#include <benchmark/benchmark.h>

#include <random>

namespace {
using Mat = lowbit::attention_matrix;
const lowbit::attention_shape shape{8, 2, 64};

Mat random(Eigen::Index r, Eigen::Index c, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Mat m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = n(g) + 0.5f * float(j % 7);
  return m;
}

struct inputs {
  Mat q, k, v;
  inputs(Eigen::Index tq, Eigen::Index tk)
      : q(random(tq, shape.q_heads * shape.head_dim, 1)),
        k(random(tk, shape.kv_heads * shape.head_dim, 2)),
        v(random(tk, shape.kv_heads * shape.head_dim, 3)) {}
};

// Arg 0: queries (1 = decode), arg 1: keys.
void set_args(benchmark::internal::Benchmark* b) {
  b->Args({1, 1024})->Args({1, 4096})->Args({512, 512})->Args({1024, 1024})->Args({4096, 4096});
  b->Unit(benchmark::kMillisecond)->MinTime(0.2);
}

void BM_attention_fp32(benchmark::State& st) {
  const inputs in(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(lowbit::attention(in.q, in.k, in.v, shape).data());
}
BENCHMARK(BM_attention_fp32)->Apply(set_args);

void BM_attention_int8(benchmark::State& st) {
  const inputs in(st.range(0), st.range(1));
  const auto hq = lowbit::head_quantizer<lowbit::int8>(shape.head_dim);
  const auto Q = hq.quantize(in.q), K = hq.quantize(in.k), V = hq.quantize(in.v);
  for (auto _ : st) benchmark::DoNotOptimize(lowbit::attention_int8(Q, K, V, shape).data());
}
BENCHMARK(BM_attention_int8)->Apply(set_args);

void BM_attention_int8_with_quant(benchmark::State& st) {
  const inputs in(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(lowbit::attention_int8(in.q, in.k, in.v, shape).data());
}
BENCHMARK(BM_attention_int8_with_quant)->Args({1, 4096})->Args({1024, 1024})->Unit(benchmark::kMillisecond)->MinTime(0.2);
}  // namespace
