#!/usr/bin/env bash
# Builds the Debian package: a Release build with prefix /usr (tests and
# benchmarks off), then `cpack -G DEB`. Prints the path of the .deb.
#   scripts/package.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build-deb}"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DGNOMON_BUILD_TESTS=OFF -DGNOMON_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)"
(cd "$dir" && cpack -G DEB >/dev/null)
ls "$(cd "$dir" && pwd)"/gnomon_*.deb
