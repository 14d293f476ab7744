#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds everything (tests, examples,
# benchmarks) with -Werror, runs the quick suite, then rebuilds the tests under
# AddressSanitizer + UndefinedBehaviorSanitizer and runs the quick suite again, then builds the
# tests with clang 14 (which rejects some code g++ accepts, e.g. lambdas in OpenMP regions of
# generic lambdas) and runs the quick suite a third time.
# LOWBIT_SLOW=1 also runs the slow/exhaustive suite (label "slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
  -DLOWBIT_BUILD_TESTS=ON -DLOWBIT_BUILD_EXAMPLES=ON -DLOWBIT_BUILD_BENCHMARKS=ON
cmake --build build/release -j "$jobs"
ctest --test-dir build/release -L "quick|package" --output-on-failure -j "$jobs"
if [ "${LOWBIT_SLOW:-0}" = 1 ]; then
  ctest --test-dir build/release -L slow --output-on-failure -j "$jobs"
fi

san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S . -B build/sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  -DLOWBIT_BUILD_TESTS=ON -DLOWBIT_BUILD_EXAMPLES=OFF -DLOWBIT_BUILD_BENCHMARKS=OFF \
  -DLOWBIT_HEADER_CHECKS=OFF -DCMAKE_CXX_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san"
cmake --build build/sanitize -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/sanitize -L quick --output-on-failure -j "$jobs"

cmake -S . -B build/clang -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
  -DLOWBIT_BUILD_TESTS=ON -DLOWBIT_BUILD_EXAMPLES=OFF -DLOWBIT_BUILD_BENCHMARKS=OFF -DLOWBIT_HEADER_CHECKS=OFF
cmake --build build/clang -j "$jobs"
ctest --test-dir build/clang -L quick --output-on-failure -j "$jobs"
