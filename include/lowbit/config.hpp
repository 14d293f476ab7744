// lowbit/config.hpp — version, the host/device annotation, and a barrier to FMA contraction.
#pragma once

#define LOWBIT_VERSION_MAJOR 0
#define LOWBIT_VERSION_MINOR 1
#define LOWBIT_VERSION_PATCH 0

// Scalar code is the specification and runs on host and device alike.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define LOWBIT_HOST_DEVICE __host__ __device__
#else
#define LOWBIT_HOST_DEVICE
#endif

#if defined(__CUDA_ARCH__)
#define LOWBIT_DEVICE_CODE 1
#endif

#if __cplusplus >= 202002L
#define LOWBIT_HAS_CONCEPTS 1
#endif

namespace lowbit {
namespace detail {
// v itself, through a volatile: the compiler can neither fuse the operation that made v into
// the one that uses it (a·b + c into one FMA rounding, which GCC's default -ffp-contract=fast
// and clang's =on both do, even through a float(double · double) product) nor skip its
// rounding. For formulas that must round after every operation, as a reference's separate
// tensor ops do (torch's EMA observer, numpy's float64 quantile).
template <class T>
LOWBIT_HOST_DEVICE inline T materialized(T v) {
  volatile T r = v;
  return r;
}
}  // namespace detail
}  // namespace lowbit
