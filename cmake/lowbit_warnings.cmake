# Flags for lowbit's own targets (tests, examples, benchmarks). Never put on lowbit::lowbit.
add_library(lowbit_dev_flags INTERFACE)
target_compile_options(lowbit_dev_flags INTERFACE -Wall -Wextra -Werror)
# The host CPU's instruction set: xsimd picks its best arch from these macros.
option(LOWBIT_NATIVE "Compile tests/benchmarks/examples with -march=native" ON)
if(LOWBIT_NATIVE)
  target_compile_options(lowbit_dev_flags INTERFACE -march=native)
endif()
find_package(OpenMP)
