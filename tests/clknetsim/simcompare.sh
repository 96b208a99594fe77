#!/usr/bin/env bash
# gnomon's own simulator (gnomon-sim, lib/sim) against clknetsim for the
# scenarios both express: chrony's 001-defaults and its jitter variants
# (jitter, wander and polling set through test.common's variables). Prints,
# per scenario, the RMS and max error after sync (from 210 s) of gnomon in
# its own simulator and of gnomond and chronyd in clknetsim, chrony's
# algorithms in gnomon-sim (--chrony), and own-sim/clknetsim ratios.
#
# Usage: tests/clknetsim/simcompare.sh --sim PATH [--seeds "1 2 ..."]
#                                      [--build-dir DIR] [SCENARIO...]
#   --sim    the gnomon-sim binary
#   --seeds  clknetsim seeds (default 1-8); gnomon-sim runs as many seeds
#   SCENARIO default, jitter-10us-default, jitter-1000us-default,
#            jitter-10us-poll64, jitter-100us-poll64, jitter-1000us-poll64
#            (default: all of them)
# Figures: means over the seeds of each run's RMS and max (gnomon-sim's max
# column is the largest over its runs; the mean of the per-run maxima is
# not printed by it, so own-sim max is that largest one).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
sim=
seeds="1 2 3 4 5 6 7 8"
build_dir=$repo/build
names=()
while [ $# -gt 0 ]; do
  case $1 in
    --sim) sim=${2:?}; shift 2 ;;
    --seeds) seeds=${2:?}; shift 2 ;;
    --build-dir) build_dir=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) names+=("$1"); shift ;;
  esac
done
[ -x "$sim" ] || { echo "simcompare: --sim must name the gnomon-sim binary" >&2; exit 2; }
[ ${#names[@]} -gt 0 ] || names=(default jitter-10us-default jitter-1000us-default
                                  jitter-10us-poll64 jitter-100us-poll64 jitter-1000us-poll64)
nseeds=$(wc -w <<< "$seeds")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The test.common variables of each scenario (001-defaults otherwise).
settings() {
  case $1 in
    default) ;;
    jitter-*us-*)
      local us=${1#jitter-}; us=${us%%us-*}
      echo "jitter=$(awk "BEGIN {print $us * 1e-6}")"
      if [[ $1 == *-poll64 ]]; then
        echo "wander=1e-8"
        echo "client_server_options=minpoll 6 maxpoll 6"
      fi ;;
    *) return 1 ;;
  esac
}

# own-sim figures: "rms max" (us) of a scenario, gnomon's or chrony's algorithms.
own_sim() {  # scenario [--chrony]
  "$sim" --no-plot --seeds "$nseeds" --out "$out/sim" "${@:2}" "$1" 2> /dev/null |
    awk -v n="$1" '$1 == n { print $5, $6 }'
}

printf '%-22s | %-17s | %-17s | %-17s | %-17s | %s\n' scenario "own-sim gnomon" "clknetsim gnomond" \
  "clknetsim chronyd" "own-sim chrony alg" "own/clknetsim (rms, max)"
printf '%-22s | %-17s | %-17s | %-17s | %-17s |\n' "" "rms / max us" "rms / max us" "rms / max us" "rms / max us"
for n in "${names[@]}"; do
  vars=$(settings "$n") || { echo "simcompare: unknown scenario $n" >&2; continue; }
  (
    while IFS= read -r line; do [ -n "$line" ] && export "$line"; done <<< "$vars"
    bash "$here/compare.sh" --seeds "$seeds" --build-dir "$build_dir" 001
  ) > "$out/cmp" 2>&1
  read -r g_max g_rms c_max c_rms < <(awk '$3 == "mean" { print $6, $7, $10, $11 }' "$out/cmp")
  read -r s_rms s_max < <(own_sim "$n")
  read -r sc_rms sc_max < <(own_sim "$n" --chrony)
  awk -v n="$n" -v gm="${g_max:-0}" -v gr="${g_rms:-0}" -v cm="${c_max:-0}" -v cr="${c_rms:-0}" \
      -v sr="${s_rms:-0}" -v sm="${s_max:-0}" -v scr="${sc_rms:-0}" -v scm="${sc_max:-0}" 'BEGIN {
    printf "%-22s | %7.1f / %7.1f | %7.1f / %7.1f | %7.1f / %7.1f | %7.1f / %7.1f | %.2f, %.2f\n", n,
      sr, sm, gr * 1e6, gm * 1e6, cr * 1e6, cm * 1e6, scr, scm,
      (gr > 0 ? sr / (gr * 1e6) : 0), (gm > 0 ? sm / (gm * 1e6) : 0) }'
done
