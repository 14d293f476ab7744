#!/usr/bin/env bash
# Installs what lowbit's build, tests, benchmarks and examples need (Debian packages only).
# Skips apt entirely when everything is already present.
set -euo pipefail
pkgs=(cmake ninja-build g++ clang libomp-dev make libeigen3-dev libxsimd-dev doctest-dev libbenchmark-dev libdnnl-dev ccache)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lowbit: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
