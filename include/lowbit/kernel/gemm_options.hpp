// lowbit/kernel/gemm_options.hpp — runtime choices shared by the CPU GEMM kernels
// (kernel/gemm_int8.hpp, kernel/gemm_w4.hpp, kernel/gemm_block_scaled.hpp).
//
//   kernel_path::best      the widest SIMD path compiled in (AVX-512 / VNNI when the
//                          translation unit is built with them), else the portable path
//   kernel_path::portable  plain C++ loops on the same packed data; gives the same results
//                          (bit-identical for the integer and block-scaled kernels)
//   threads                OpenMP threads (1 = the calling thread only; 0 = OpenMP default).
//                          Work is split over output columns only, every output element is
//                          computed by one thread in a fixed order: results never depend
//                          on the thread count.
#pragma once

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace lowbit {

enum class kernel_path { best, portable };

struct gemm_options {
  kernel_path path = kernel_path::best;
  int threads = 1;
};

namespace detail {
// Thread count for an OpenMP parallel region (1 without OpenMP).
inline int gemm_threads(const gemm_options& o) {
#if defined(_OPENMP)
  return o.threads > 0 ? o.threads : omp_get_max_threads();
#else
  (void)o;
  return 1;
#endif
}
}  // namespace detail
}  // namespace lowbit

// LOWBIT_OMP_PARALLEL_FOR(n): `#pragma omp parallel for num_threads(n) schedule(static)`
// when OpenMP is on, nothing otherwise (so -Wunknown-pragmas stays quiet).
#if defined(_OPENMP)
#define LOWBIT_DETAIL_PRAGMA(x) _Pragma(#x)
#define LOWBIT_OMP_PARALLEL_FOR(n) LOWBIT_DETAIL_PRAGMA(omp parallel for num_threads(n) schedule(static))
#else
#define LOWBIT_OMP_PARALLEL_FOR(n)
#endif
