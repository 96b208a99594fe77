#!/usr/bin/env bash
# A fleet in clknetsim: one upstream server, one controller and many compute
# nodes, every one a real daemon process in the simulated network, to measure
# how closely the compute nodes agree with each other before and after the
# upstream disappears.
#
# Usage:
#   tests/clknetsim/fleet.sh [--nodes N] [--seed S] [--up U] [--down D]
#                            [--warmup W] [--impl gnomond|chronyd|both]
#                            [--build-dir DIR] [--timeout T]
#                            [--controller-conf TEXT] [--compute-conf TEXT]
#                            [--controller-server TEXT] [--compute-server TEXT]
#
#   --nodes    compute nodes (default 200)
#   --seed     CLKNETSIM_RANDOM_SEED, and the seed of the nodes' initial
#              clock errors (default 1)
#   --up       simulated seconds the upstream answers (default 3000)
#   --down     simulated seconds after it is lost (default 3000)
#   --warmup   simulated seconds at the start not counted (default 1000)
#   --impl     the daemon of the controller and the compute nodes: gnomond,
#              chronyd, or both, one after the other (default both)
#   --build-dir  gnomon build directory; everything is built and run under
#              DIR/clknetsim (default: <repo>/build)
#   --timeout  wall seconds one simulation may take (default 1800)
#   --controller-conf TEXT, --compute-conf TEXT
#              extra config lines (chrony syntax, ';' between lines) of the
#              controller and of each compute node, for every daemon
#   --controller-server TEXT, --compute-server TEXT
#              extra options of their `server` line (e.g. "maxpoll 6")
#
# Environment: CLKNETSIM_SRC, CHRONY_SRC and GNOMON_SIM_GNOMOND as for
# run_suite.sh. Without the sources the script prints a SKIP line and exits 0.
#
# The scenario (node n has the address 192.168.123.n):
#   node 1       upstream: chronyd, `local stratum 1`, a perfect clock. Every
#                packet between it and the controller is dropped from --up on.
#   node 2       controller: `server 192.168.123.1 iburst`, `local stratum 10`,
#                `allow`, `makestep 1 3`; from --up on it serves its own
#                free-running clock.
#   nodes 3..    compute nodes: `server 192.168.123.2 iburst`, `makestep 1 3`.
# The controller and compute nodes start up to 2 s off and up to 100 ppm
# fast or slow, and their frequency wanders (a random walk of 1 ppb per
# simulated second); each one-way network delay is 100 us plus exponential
# jitter of mean 100 us.
#
# Output, per daemon: for the phases "before" (from --warmup until the loss)
# and "after" (from the loss to the end), the compute nodes' maximum pairwise
# offset (the largest max-min of their true clock errors, sampled each
# simulated second) and their RMS spread (the RMS over time of that max-min);
# the clock steps each made before and after the loss (seen by the stepwatch
# preload, which notes every call that steps a clock); the wall and CPU
# time of the simulation (CPU: user + system of clknetsim and every node),
# in total and per node. With --impl both, the gnomond/chronyd ratios.
# Each run's logs stay in DIR/clknetsim/fleet/IMPL-sSEED/ (log.N: node N's
# stderr; conf.N its config; log.offset clknetsim's per-second offsets).
# Exit status: 0 when every simulation ran and no compute node stepped its
# clock after the loss, 1 otherwise, 2 on a setup error.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
me=fleet

usage() { sed -n '6,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "$me: $*" >&2; exit 2; }

nodes=200
seed=1
up=3000
down=3000
warmup=1000
impl=both
build_dir=$repo/build
timeout_s=1800
controller_conf=
compute_conf=
controller_server=
compute_server=
jobs=2
while [ $# -gt 0 ]; do
  case $1 in
    --nodes) nodes=${2:?--nodes needs a value}; shift 2 ;;
    --seed) seed=${2:?--seed needs a value}; shift 2 ;;
    --up) up=${2:?--up needs a value}; shift 2 ;;
    --down) down=${2:?--down needs a value}; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
    --impl) impl=${2:?--impl needs a value}; shift 2 ;;
    --build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
    --timeout) timeout_s=${2:?--timeout needs a value}; shift 2 ;;
    --controller-conf) controller_conf=${2?--controller-conf needs a value}; shift 2 ;;
    --compute-conf) compute_conf=${2?--compute-conf needs a value}; shift 2 ;;
    --controller-server) controller_server=${2?--controller-server needs a value}; shift 2 ;;
    --compute-server) compute_server=${2?--compute-server needs a value}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
done
for pair in "nodes:$nodes" "seed:$seed" "up:$up" "down:$down" "warmup:$warmup" "timeout:$timeout_s"; do
  [[ ${pair#*:} =~ ^[0-9]+$ ]] || die "--${pair%%:*} must be a whole number"
done
if [ "$nodes" -lt 2 ] || [ "$nodes" -gt 250 ]; then die "--nodes must be 2..250 (one IPv4 subnet)"; fi
[ "$up" -gt "$warmup" ] || die "--up must be longer than --warmup"
[ "$down" -ge 1 ] || die "--down must be at least 1"
[ "$timeout_s" -ge 1 ] || die "--timeout must be at least 1"
case $impl in
  gnomond|chronyd) impls=("$impl") ;;
  both) impls=(gnomond chronyd) ;;
  *) die "--impl must be gnomond, chronyd or both" ;;
esac

clknetsim_src=${CLKNETSIM_SRC:-$repo/../shared/third_party/clknetsim-134028f.tar.gz}
chrony_src=${CHRONY_SRC:-$repo/../shared/third_party/chrony-4.8.tar.gz}
# shellcheck source=tests/clknetsim/build_tools.sh
. "$here/build_tools.sh"
check_build_inputs fleet || exit 0

mkdir -p "$build_dir" || die "cannot create $build_dir"
build_dir=$(cd "$build_dir" && pwd)
work=$build_dir/clknetsim
mkdir -p "$work/fleet" || die "cannot create $work/fleet"

need_gnomond=0
[[ " ${impls[*]} " == *" gnomond "* ]] && need_gnomond=1
build_tools "$need_gnomond"

# The step watcher: a shared library, preloaded before clknetsim.so.
stepwatch=$work/stepwatch.so
if [ ! -f "$stepwatch" ] || [ "$here/stepwatch.cpp" -nt "$stepwatch" ]; then
  echo "$me: building stepwatch"
  build_step "$work/logs/stepwatch.log" g++ -shared -fPIC -O2 -o "$stepwatch.new" "$here/stepwatch.cpp" -ldl
  mv "$stepwatch.new" "$stepwatch"
fi

# One run at a time per work directory: runs share no files, but two
# simulations of 200 nodes at once would only slow each other down.
exec 9> "$work/fleet/.lock"
flock -w "$timeout_s" 9 || die "another fleet.sh held $work/fleet for $timeout_s s"

total=$((nodes + 2))
limit=$((up + down))

# clknetsim's network and clocks. Node 1 (the upstream) keeps perfect time;
# packets to and from it are dropped (a negative delay) from $up s on.
write_network() {  # file
  local jitter='(+ 1e-4 (* 1e-4 (exponential)))'
  local lost="(* -10 (equal 0.1 (min time $up) $up))"
  {
    echo "node1_delay2 = (+ 1e-4 (* 1e-4 (exponential)) $lost)"
    echo "node2_delay1 = (+ 1e-4 (* 1e-4 (exponential)) $lost)"
    # Each node's initial offset (s, up to 2) and frequency error (up to
    # 100 ppm), from the seed; each frequency then wanders by 1 ppb/s. The
    # numbers come from the Park-Miller generator (exact in awk's doubles),
    # so every awk gives the same ones.
    awk -v seed="$seed" -v total="$total" '
      function uniform() { x = (16807 * x) % 2147483647; return x / 2147483647 }
      BEGIN {
        x = seed % 2147483646 + 1
        for (n = 2; n <= total; n++) {
          printf "node%d_offset = %.6f\n", n, 4 * uniform() - 2
          printf "node%d_freq = (+ %.3e (sum (* 1e-9 (normal))))\n", n, 2e-4 * uniform() - 1e-4
        }
      }'
    for ((n = 3; n <= total; n++)); do
      echo "node2_delay$n = $jitter"
      echo "node${n}_delay2 = $jitter"
    done
  } > "$1"
}

# The config of node N.
write_conf() {  # node file
  local dir=${2%/*}
  {
    # No control channel, no drift file; a pid file per node.
    echo "pidfile $dir/pid.$1"
    echo "cmdport 0"
    echo "bindcmdaddress /"
    case $1 in
      1) echo "local stratum 1"; echo "allow" ;;
      2) echo "server 192.168.123.1 iburst $controller_server"; echo "local stratum 10"; echo "allow"; echo "makestep 1 3"
         [ -z "$controller_conf" ] || tr ';' '\n' <<< "$controller_conf" ;;
      *) echo "server 192.168.123.2 iburst $compute_server"; echo "makestep 1 3"
         [ -z "$compute_conf" ] || tr ';' '\n' <<< "$compute_conf" ;;
    esac
  } > "$2"
}

# Stops the nodes this run started, by their pids: TERM, then KILL after 5 s.
stop_nodes() {
  local pid i
  [ ${#node_pids[@]} -gt 0 ] || return 0
  kill -TERM "${node_pids[@]}" 2> /dev/null
  for ((i = 0; i < 50; i++)); do
    for pid in "${node_pids[@]}"; do kill -0 "$pid" 2> /dev/null && break; pid=; done
    [ -z "$pid" ] && break
    sleep 0.1
  done
  kill -KILL "${node_pids[@]}" 2> /dev/null
  wait "${node_pids[@]}" 2> /dev/null
  node_pids=()
}
node_pids=()
sim_pid=
trap '[ -z "$sim_pid" ] || kill -TERM "$sim_pid" 2> /dev/null; stop_nodes; exit 130' INT TERM

# Runs the scenario with daemon $1 on the controller and compute nodes; the
# results go to $2/result (key value lines).
run_fleet() {  # impl dir
  local impl=$1 dir=$2 n role t0 t1 rc
  rm -rf "$dir"
  mkdir -p "$dir" || die "cannot create $dir"
  times > "$dir/cpu.start"
  write_network "$dir/conf"
  # standin runs gnomond on every node whose config does not start with
  # `deny`, when the role is "server"; node 1 is always chronyd (role none).
  for ((n = 1; n <= total; n++)); do
    write_conf "$n" "$dir/conf.$n"
    role=none
    [ "$impl" = gnomond ] && [ "$n" -ge 2 ] && role=all
    LD_PRELOAD=$stepwatch:$clknetsim/clknetsim.so CLKNETSIM_NODE=$n CLKNETSIM_SOCKET=$dir/sock \
      CLKNETSIM_CONNECT_TIMEOUT=120 GNOMON_SIM_ROLE=$role GNOMON_SIM_GNOMOND=$gnomond \
      "$standin" "$chrony/chronyd" -d -f "$dir/conf.$n" > "$dir/log.$n" 2>&1 &
    node_pids+=($!)
  done
  t0=$(date +%s.%N)
  # In the background, so that a signal to this script is handled at once.
  CLKNETSIM_RANDOM_SEED=$seed timeout -k 10 "$timeout_s" \
    "$clknetsim/clknetsim" -o "$dir/log.offset" -l "$limit" -s "$dir/sock" "$dir/conf" "$total" \
    > "$dir/stats" 2> "$dir/log" &
  sim_pid=$!
  wait "$sim_pid"
  rc=$?
  sim_pid=
  t1=$(date +%s.%N)
  stop_nodes
  times > "$dir/cpu.end"
  if [ $rc -ne 0 ]; then
    echo "$me: $impl: clknetsim failed (status $rc); see $dir/log" >&2
    return 1
  fi
  {
    awk -v first=3 -v last="$total" -v warmup="$warmup" -v up="$up" -f "$here/fleet_spread.awk" "$dir/log.offset"
    for phase in before after; do
      steps=0
      for ((n = 3; n <= total; n++)); do
        # stepwatch: step <seconds> at <simulated seconds>
        t=$(awk -v up="$up" -v phase="$phase" '
          $1 == "stepwatch:" && $2 == "step" && ((phase == "after") == ($5 >= up)) { c++ }
          END { print c + 0 }' "$dir/log.$n")
        steps=$((steps + t))
      done
      echo "steps_$phase $steps"
    done
    awk -v t0="$t0" -v t1="$t1" -v n="$total" \
      'BEGIN { printf "wall_s %.1f\nms_per_node %.0f\n", t1 - t0, (t1 - t0) * 1000 / n }'
    # CPU time of the nodes and clknetsim: the children's user and system
    # time (the second line of `times`, "XmY.YYYs XmY.YYYs"), end - start.
    cat "$dir/cpu.start" "$dir/cpu.end" | awk -v n="$total" '
      function secs(x) { split(x, p, "m"); return p[1] * 60 + p[2] }
      FNR == 2 || FNR == 4 { c[FNR] = secs($1) + secs($2) }
      END { printf "cpu_s %.1f\ncpu_ms_per_node %.0f\n", c[4] - c[2], (c[4] - c[2]) * 1000 / n }'
  } > "$dir/result"
}

value() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

echo "$me: $nodes compute nodes, seed $seed, upstream for $up s then lost for $down s, warmup $warmup s"
[ -z "$controller_conf" ] || echo "$me: controller also has: $controller_conf"
[ -z "$compute_conf" ] || echo "$me: compute nodes also have: $compute_conf"
[ -z "$controller_server" ] || echo "$me: controller's server line also has: $controller_server"
[ -z "$compute_server" ] || echo "$me: compute nodes' server line also has: $compute_server"
status=0
for i in "${impls[@]}"; do
  dir=$work/fleet/$i-s$seed
  if ! run_fleet "$i" "$dir"; then status=1; continue; fi
  r=$dir/result
  printf '%s: before loss: max pairwise offset %.1f us, RMS spread %.1f us; after: %.1f us, %.1f us\n' "$i" \
    "$(value "$r" max_before)" "$(value "$r" rms_before)" "$(value "$r" max_after)" "$(value "$r" rms_after)"
  echo "$i: compute-node steps: $(value "$r" steps_before) before the loss, $(value "$r" steps_after) after"
  [ "$(value "$r" steps_after)" = 0 ] || { echo "$me: $i: a compute node stepped its clock after the loss (see stepwatch lines in $dir/log.N)" >&2; status=1; }
  echo "$i: simulation took $(value "$r" wall_s) s wall, $(value "$r" ms_per_node) ms per node; CPU $(value "$r" cpu_s) s, $(value "$r" cpu_ms_per_node) ms per node ($total nodes, $limit simulated s)"
done
if [ ${#impls[@]} -eq 2 ] && [ $status -eq 0 ]; then
  g=$work/fleet/gnomond-s$seed/result c=$work/fleet/chronyd-s$seed/result
  for k in max_before rms_before max_after rms_after wall_s cpu_s; do
    printf '%s %s %s\n' "$k" "$(value "$g" "$k")" "$(value "$c" "$k")"
  done | awk '{ r[$1] = $3 > 0 ? $2 / $3 : 0 }
    END { printf "gnomond/chronyd: max pairwise %.3f before, %.3f after; RMS spread %.3f before, %.3f after; wall %.2f; CPU %.2f\n",
          r["max_before"], r["max_after"], r["rms_before"], r["rms_after"], r["wall_s"], r["cpu_s"] }'
fi
exit $status
