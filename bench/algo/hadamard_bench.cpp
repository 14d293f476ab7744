// Fast Walsh–Hadamard transform (algo/hadamard.hpp) throughput, against two baselines measured
// in the same run: memcpy of the same bytes (the bandwidth floor) and the dense product X·Hᵀ/√n
// with Eigen's float GEMM (what a rotation costs without the fast transform).
// X is 256 rows (tokens) × n; n covers a power of two (4096), the Llama-2-7B FFN width
// 11008 = 172·64, 5120 = 40·128 and the stories260K FFN width 172. Report as ratios:
// BM_hadamard_fwht / BM_hadamard_memcpy and BM_hadamard_dense / BM_hadamard_fwht per n.
#include <lowbit/algo/hadamard.hpp>

#include <benchmark/benchmark.h>

#include <cstring>
#include <random>

namespace {
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr Eigen::Index rows = 256;

Mat random(Eigen::Index r, Eigen::Index c) {
  std::mt19937 g(7);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Mat m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = n(g);
  return m;
}

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(172)->Arg(4096)->Arg(5120)->Arg(11008)->Unit(benchmark::kMicrosecond)->MinTime(0.2);
}

void BM_hadamard_memcpy(benchmark::State& st) {
  const Mat x = random(rows, st.range(0));
  Mat y(rows, st.range(0));
  for (auto _ : st) {
    std::memcpy(y.data(), x.data(), sizeof(float) * std::size_t(x.size()));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(st.iterations() * x.size() * 4);
}
BENCHMARK(BM_hadamard_memcpy)->Apply(sizes);

void BM_hadamard_fwht(benchmark::State& st) {
  Mat x = random(rows, st.range(0));  // orthonormal transform: values stay bounded across iterations
  for (auto _ : st) {
    lowbit::hadamard_transform_inplace(x);
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(st.iterations() * x.size() * 4);
}
BENCHMARK(BM_hadamard_fwht)->Apply(sizes);

void BM_hadamard_dense(benchmark::State& st) {
  const Eigen::Index n = st.range(0);
  const Mat x = random(rows, n);
  const Mat ht = lowbit::hadamard_matrix<float>(n).transpose() / std::sqrt(float(n));
  Mat y(rows, n);
  for (auto _ : st) {
    y.noalias() = x * ht;
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(st.iterations() * x.size() * 4);
}
BENCHMARK(BM_hadamard_dense)->Arg(172)->Arg(4096)->Arg(5120)->Unit(benchmark::kMicrosecond)->MinTime(0.2);
}  // namespace
