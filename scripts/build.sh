#!/usr/bin/env bash
# Configures and builds gnomon into a build directory.
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
shift || true
# GNOMON_CMAKE_ARGS: extra cmake arguments from the environment (CI sets
# -DGNOMON_WERROR=ON there).
# shellcheck disable=SC2086
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" ${GNOMON_CMAKE_ARGS:-} "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
