#!/usr/bin/env bash
# chrony's 001-defaults scenario (clknetsim) with the server replaced by
# lowprec_server: exact timestamps, but precision -9 (about 2 ms) advertised,
# as busybox ntpd serves. Compares gnomond and chronyd as the client against
# that same server over seeds (through compare.sh: per-seed sync time, max
# and RMS error after sync, ratios gnomond/chronyd).
#
# Usage: tests/clknetsim/busybox.sh [--seeds "1 2 ..."] [--build-dir DIR]
#                                   [--precision P] [TEST...]
#   --precision  the advertised precision, log2 s (default -9)
#   TEST         default 001
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir=$repo/build
args=()
tests=()
precision=-9
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build_dir=${2:?}; args+=(--build-dir "$2"); shift 2 ;;
    --seeds) args+=(--seeds "${2:?}"); shift 2 ;;
    --precision) precision=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) tests+=("$1"); shift ;;
  esac
done
[ ${#tests[@]} -gt 0 ] || tests=(001)
mkdir -p "$build_dir/clknetsim"
server=$build_dir/clknetsim/lowprec_server
if [ ! -x "$server" ] || [ "$here/lowprec_server.cpp" -nt "$server" ]; then
  g++ -std=c++17 -O2 -Wall -o "$server" "$here/lowprec_server.cpp" || exit 2
fi
export GNOMON_SIM_SERVER_PROGRAM=$server GNOMON_SIM_SERVER_PRECISION=$precision
exec bash "$here/compare.sh" "${args[@]}" "${tests[@]}"
