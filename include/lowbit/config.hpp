// lowbit/config.hpp — version and the host/device annotation.
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
