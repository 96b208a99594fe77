#!/usr/bin/env bash
# Runs tests of chrony's simulation suite (in clknetsim, through run_suite.sh)
# once with gnomond as the client and once with chronyd as the client, over
# several seeds, and prints per seed and node the sync time and the errors
# after sync that the suite's check_sync reports, with gnomond/chronyd ratios.
#
# Usage:
#   tests/clknetsim/compare.sh [--seeds "1 2 ..."] [--build-dir DIR]
#                              [--keep DIR] TEST...
#
#   --seeds      the CLKNETSIM_RANDOM_SEED values (default "1 2 3 4 5 6 7 8").
#   --build-dir  passed to run_suite.sh (default: <repo>/build).
#   --keep       copy each run's offset log (tmp/log.offset: one line per
#                simulated second, one column per node, the node's true clock
#                error in s) to DIR/<test>.<gnomond|chronyd>.<seed>.offset.
#   TEST         a test's name or number, as run_suite.sh takes it.
#
# Figures: sync time (s; the first time after which the clock stays within
# the test's limits), max and RMS of the true clock error (s) over the
# statistics window after the test's maximum sync time, as check_sync prints
# them. The last lines give, per test, the mean of each figure over the seeds
# and the mean of the per-seed ratios.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

seeds="1 2 3 4 5 6 7 8"
build_dir=$repo/build
keep=
tests=()
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=${2:?}; shift 2 ;;
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --keep) keep=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compare: unknown option $1" >&2; exit 2 ;;
    *) tests+=("$1"); shift ;;
  esac
done
[ ${#tests[@]} -gt 0 ] || { echo "compare: no test given" >&2; exit 2; }
[ -z "$keep" ] || mkdir -p "$keep"

results=$build_dir/clknetsim/results
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

for seed in $seeds; do
  bash "$here/run_suite.sh" --role client,none --seed "$seed" --build-dir "$build_dir" \
    "${tests[@]}" > "$rows.log" 2>&1
  for role in client none; do
    daemon=gnomond; [ $role = none ] && daemon=chronyd
    for dir in "$results/$role"/*/; do
      t=$(basename "$dir")
      [ -f "$dir/report.txt" ] || continue
      match=0
      for a in "${tests[@]}"; do
        { [ "$t" = "$a" ] || [ "${t%%-*}" = "$a" ]; } && match=1
      done
      [ $match = 1 ] || continue
      # "node N: SYNC[!] MAX[!] MAXFREQ[!] RMS[!] RMSFREQ[!]"
      awk -v t="$t" -v d=$daemon -v s="$seed" '
        $1 == "node" && $2 ~ /^[0-9]+:$/ && NF >= 8 {
          n = $2; sub(/:/, "", n)
          for (i = 3; i <= 7; i++) gsub(/!/, "", $i)
          print t, n, s, d, $3, $4, $6
        }' "$dir/report.txt" >> "$rows"
      if [ -n "$keep" ] && [ -f "$dir/tmp/log.offset" ]; then
        cp "$dir/tmp/log.offset" "$keep/$t.$daemon.$seed.offset"
      fi
    done
  done
  rm -f "$rows.log"
done

# rows: test node seed daemon sync max rms
awk '
  { key = $1 " " $2 " " $3; v[key, $4, "sync"] = $5; v[key, $4, "max"] = $6; v[key, $4, "rms"] = $7
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key } }
  function r(a, b) { return (b + 0 > 0 && a != "") ? a / b : 0 }
  END {
    printf "%-18s %4s %4s | %6s %9s %9s | %6s %9s %9s | %5s %5s %5s\n", "test", "node", "seed",
      "g.sync", "g.max", "g.rms", "c.sync", "c.max", "c.rms", "sync", "max", "rms"
    for (k = 1; k <= nk; k++) {
      key = order[k]; split(key, p, " ")
      gs = v[key, "gnomond", "sync"]; gm = v[key, "gnomond", "max"]; gr = v[key, "gnomond", "rms"]
      cs = v[key, "chronyd", "sync"]; cm = v[key, "chronyd", "max"]; cr = v[key, "chronyd", "rms"]
      printf "%-18s %4s %4s | %6s %9.2e %9.2e | %6s %9.2e %9.2e | %5.2f %5.2f %5.2f\n", p[1], p[2], p[3],
        gs, gm, gr, cs, cm, cr, r(gs, cs), r(gm, cm), r(gr, cr)
      tn = p[1] " " p[2]; if (!(tn in cnt)) order2[++nt] = tn; cnt[tn]++
      sgs[tn] += gs; sgm[tn] += gm; sgr[tn] += gr; scs[tn] += cs; scm[tn] += cm; scr[tn] += cr
      rs[tn] += r(gs, cs); rm[tn] += r(gm, cm); rr[tn] += r(gr, cr)
    }
    for (k = 1; k <= nt; k++) {
      tn = order2[k]; c = cnt[tn]; split(tn, p, " ")
      printf "%-18s %4s %4s | %6.1f %9.2e %9.2e | %6.1f %9.2e %9.2e | %5.2f %5.2f %5.2f  (means over %d seeds; ratios: mean of per-seed ratios)\n",
        p[1], p[2], "mean", sgs[tn] / c, sgm[tn] / c, sgr[tn] / c, scs[tn] / c, scm[tn] / c, scr[tn] / c,
        rs[tn] / c, rm[tn] / c, rr[tn] / c, c
    }
  }' "$rows"
