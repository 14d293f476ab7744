# Flags for lowbit's own targets (tests, examples, benchmarks). Never put on lowbit::lowbit.
add_library(lowbit_dev_flags INTERFACE)
target_compile_options(lowbit_dev_flags INTERFACE -Wall -Wextra -Werror)
# GCC 12 reports -Wmaybe-uninitialized inside its own avx512fintrin.h (_mm512_undefined_*)
# (and -Wuninitialized under ASan) when Eigen's AVX-512 code is inlined: GCC bug 105593,
# a false positive.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(lowbit_dev_flags INTERFACE -Wno-maybe-uninitialized -Wno-uninitialized)
endif()
# The host CPU's instruction set: xsimd picks its best arch from these macros.
option(LOWBIT_NATIVE "Compile tests/benchmarks/examples with -march=native" ON)
if(LOWBIT_NATIVE)
  target_compile_options(lowbit_dev_flags INTERFACE -march=native)
endif()
find_package(OpenMP)
