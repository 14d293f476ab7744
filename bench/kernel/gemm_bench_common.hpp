// Shared by bench/kernel/gemm_*_bench.cpp: ratios against baselines measured in the same run.
//
// A baseline benchmark records its own rate under a key ("eigen_sgemm/2048x2048x2048");
// a kernel benchmark registered after it (same translation unit, so it runs later) reports
// its rate divided by the baseline's as a counter (e.g. x_eigen = 3.8). Rates are computed
// from the calling thread's CPU time over the timed loop (the column Google Benchmark
// reports as CPU): on a shared machine wall time also counts time the thread sat descheduled.
// Every kernel here runs on the calling thread (single thread: OMP_NUM_THREADS=1).
#pragma once

#include <benchmark/benchmark.h>

#include <ctime>
#include <map>
#include <string>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace lowbit_bench {

inline std::map<std::string, double>& baselines() {
  static std::map<std::string, double> m;
  return m;
}

inline std::string shape_key(long m, long n, long k) {
  return std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
}

inline void single_thread() {
#if defined(_OPENMP)
  omp_set_num_threads(1);
#endif
}

// Times `body` in the benchmark loop; returns work units per second (work = per iteration).
template <class F>
double timed_loop(benchmark::State& state, double work, F&& body) {
  timespec t0{}, t1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  for (auto _ : state) body();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  const double s = double(t1.tv_sec - t0.tv_sec) + 1e-9 * double(t1.tv_nsec - t0.tv_nsec);
  return s > 0 ? work * double(state.iterations()) / s : 0.0;
}

inline void record(const std::string& key, double rate) { baselines()[key] = rate; }

// Adds counter `name` = rate / baseline(key) when that baseline ran earlier in this run.
inline void ratio(benchmark::State& state, const char* name, const std::string& key, double rate) {
  auto it = baselines().find(key);
  if (it != baselines().end() && it->second > 0) state.counters[name] = rate / it->second;
}

}  // namespace lowbit_bench
