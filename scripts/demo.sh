#!/usr/bin/env bash
# The main demonstration: installs dependencies, builds the examples and runs the tiny-Llama
# perplexity table (stories260K quantized under every recipe). Extra arguments go to the
# example (e.g. --full, --recipe NAME, --windows N).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
  -DLOWBIT_BUILD_EXAMPLES=ON >/dev/null
cmake --build build/release -j "$(nproc)" --target tinyllama
./build/release/examples/tinyllama "$@"
