#!/usr/bin/env bash
# README command (2): install what is needed, build, and run the whole test
# suite with ctest. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
ctest --test-dir build --output-on-failure -j2 "$@"
