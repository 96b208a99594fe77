#!/usr/bin/env bash
# README command (1): install, build, and run the controller demo on loopback.
# gnomond serves NTP on 127.0.0.1:11123 from its local clock at stratum 10
# (no upstream is reachable here), and this script shows real clients using it.
# Runs for DEMO_SECONDS (default 60), or until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
echo "== building gnomon"
bash scripts/build.sh build >/dev/null
exec python3 scripts/demo.py --build-dir build --seconds "${DEMO_SECONDS:-60}"
