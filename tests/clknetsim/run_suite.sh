#!/usr/bin/env bash
# Runs chrony's own simulation test suite (chrony-4.8/test/simulation, inside
# the clknetsim simulator) with gnomond standing in for chronyd.
#
# Usage:
#   tests/clknetsim/run_suite.sh [--role ROLE[,ROLE...]] [--seed N] [--jobs J]
#                                [--build-dir DIR] [--timeout S] [--run-na]
#                                [TEST...]
#
#   --role       which chronyd nodes run gnomond (see standin.cpp): client
#                (the nodes whose sync is checked), server (every other
#                chronyd node), all, or none (plain chronyd everywhere: the
#                baseline, which checks the harness itself). Several roles may
#                be given, comma-separated; their tests share one job pool.
#                Default: client.
#   --seed       CLKNETSIM_RANDOM_SEED of every test (default 1).
#   --jobs       tests run in parallel (default 2).
#   --build-dir  gnomon build directory; everything is built and run under
#                DIR/clknetsim (default: <repo>/build).
#   --timeout    seconds a test may take before it is killed (default 900).
#   --run-na     also run the tests expectations.txt marks n/a (they are
#                still counted n/a; their actual result is shown).
#   TEST         a test's name (001-defaults) or its number (001); default:
#                every test of the suite.
#
# Environment:
#   CLKNETSIM_SRC   clknetsim sources, tarball or extracted directory
#                   (default <repo>/../shared/third_party/clknetsim-134028f.tar.gz)
#   CHRONY_SRC      chrony sources, tarball or extracted directory
#                   (default <repo>/../shared/third_party/chrony-4.8.tar.gz)
#   GNOMON_SIM_GNOMOND  gnomond to run (must be a -DGNOMON_PORTABLE_IO=ON
#                   build: clknetsim has no epoll); default: built here, in
#                   DIR/clknetsim/gnomond-build.
# Without the sources the script prints a SKIP line and exits 0.
#
# Both tools are GPLv2 and are only built and run here, at test time, in the
# build directory: nothing of them is copied into the repository.
#
# Output: one line per test, "<test> PASS|FAIL|SKIP|N/A (<reason>)", the
# BAD/ERROR lines of each failure's report, then per role the tally
# "<role> role: N passed, M failed, K n/a of T", and last the line
# "N passed, U failed, S skipped" over all roles, where U counts only the
# failures expectations.txt does not expect and S the known failures and
# n/a tests. Each test's report and its tmp/ (log.N
# is node N's stderr, conf.N its config) are kept in
# DIR/clknetsim/results/<role>/<test>/.
# Exit status: 0 when every failure is a known-fail of expectations.txt (or
# the sources are absent), 1 when some other test failed, 2 on a setup error.
set -uo pipefail
[ "${BASH_VERSINFO[0]}" -gt 5 ] || { [ "${BASH_VERSINFO[0]}" -eq 5 ] && [ "${BASH_VERSINFO[1]}" -ge 1 ]; } ||
  { echo "run_suite: bash 5.1 or later is needed" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
start_time=$(date +%s)

usage() { sed -n '5,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "run_suite: $*" >&2; exit 2; }

roles_arg=client
seed=1
jobs=2
build_dir=$repo/build
timeout_s=900
run_na=0
test_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --role) roles_arg=${2:?--role needs a value}; shift 2 ;;
    --role=*) roles_arg=${1#*=}; shift ;;
    --seed) seed=${2:?--seed needs a value}; shift 2 ;;
    --seed=*) seed=${1#*=}; shift ;;
    --jobs|-j) jobs=${2:?--jobs needs a value}; shift 2 ;;
    --jobs=*) jobs=${1#*=}; shift ;;
    --build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --timeout) timeout_s=${2:?--timeout needs a value}; shift 2 ;;
    --timeout=*) timeout_s=${1#*=}; shift ;;
    --run-na) run_na=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; test_args+=("$@"); break ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) test_args+=("$1"); shift ;;
  esac
done

IFS=, read -r -a roles <<< "$roles_arg"
[ ${#roles[@]} -gt 0 ] || die "no role given"
for r in "${roles[@]}"; do
  case $r in client|server|all|none) ;; *) die "unknown role '$r' (client, server, all or none)" ;; esac
done
[[ $seed =~ ^[0-9]+$ ]] || die "--seed must be a number"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number"
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"

clknetsim_src=${CLKNETSIM_SRC:-$repo/../shared/third_party/clknetsim-134028f.tar.gz}
chrony_src=${CHRONY_SRC:-$repo/../shared/third_party/chrony-4.8.tar.gz}
me=run_suite
# shellcheck source=tests/clknetsim/build_tools.sh
. "$here/build_tools.sh"
if ! check_build_inputs "clknetsim suite"; then
  echo "0 passed, 0 failed, 0 skipped"
  exit 0
fi

mkdir -p "$build_dir" || die "cannot create $build_dir"
build_dir=$(cd "$build_dir" && pwd)
work=$build_dir/clknetsim
# clknetsim.bash expands its paths and CLKNETSIM_CLIENT_WRAPPER unquoted.
[[ $work =~ [[:space:]] ]] && die "the build directory's path must not contain white space: $work"
mkdir -p "$work/src" "$work/logs" "$work/jobs" "$work/results" || die "cannot create $work"

# One run at a time per work directory: tests of two runs would share job
# directories. The lock's descriptor is closed for every test.
exec 9> "$work/.lock"
flock -n 9 || die "another run_suite.sh is using $work"

# ---------------------------------------------------------------- building

need_gnomond=0
for r in "${roles[@]}"; do [ "$r" = none ] || need_gnomond=1; done
build_tools "$need_gnomond"

# ---------------------------------------------------------------- tests

suite=$chrony/test/simulation
[ -f "$suite/test.common" ] || die "$suite/test.common not found"
all_tests=()
for t in "$suite"/[0-9]*-*[^_]; do
  [ -f "$t" ] && all_tests+=("${t##*/}")
done
[ ${#all_tests[@]} -gt 0 ] || die "no tests in $suite"

tests=()
if [ ${#test_args[@]} -eq 0 ]; then
  tests=("${all_tests[@]}")
else
  for a in "${test_args[@]}"; do
    match=
    for t in "${all_tests[@]}"; do
      if [ "$t" = "$a" ] || [ "${t%%-*}" = "$a" ]; then match=$t; break; fi
    done
    [ -n "$match" ] || die "no test '$a' in $suite"
    [[ " ${tests[*]} " == *" $match "* ]] || tests+=("$match")
  done
fi

# expectations.txt: "<role>[,<role>...]|* <test> n/a|known-fail <reason>".
declare -A expect_kind=() expect_reason=()
expectations=$here/expectations.txt
if [ -f "$expectations" ]; then
  lineno=0
  while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    line=${line%%#*}
    [[ $line =~ ^[[:space:]]*$ ]] && continue
    read -r e_roles e_test e_kind e_reason <<< "$line"
    case $e_kind in n/a|known-fail) ;; *) die "$expectations:$lineno: kind must be n/a or known-fail" ;; esac
    [ -n "$e_reason" ] || die "$expectations:$lineno: a reason is needed"
    [ -f "$suite/$e_test" ] || echo "run_suite: warning: $expectations:$lineno: no test $e_test in the suite" >&2
    IFS=, read -r -a e_role_list <<< "$e_roles"
    for r in "${e_role_list[@]}"; do
      expect_kind[$r/$e_test]=$e_kind
      expect_reason[$r/$e_test]=$e_reason
    done
  done < "$expectations"
fi
expectation() {  # role test -> "kind<TAB>reason", or nothing
  local key
  for key in "$1/$2" "*/$2"; do
    if [ -n "${expect_kind[$key]:-}" ]; then
      printf '%s\t%s\n' "${expect_kind[$key]}" "${expect_reason[$key]}"
      return
    fi
  done
}

# Processes a finished test left running: those whose environment holds
# this test's GNOMON_SIM_JOB marker (set for the test's timeout, so every
# process of the test inherits it, even one that left the process group).
# Only those are killed; their names are noted in the results.
kill_leftovers() {
  local job=$1 res=$2 f pid
  for f in $(grep -lzxF "GNOMON_SIM_JOB=$job" /proc/[0-9]*/environ 2> /dev/null); do
    pid=${f#/proc/}; pid=${pid%/environ}
    [ "$pid" = "$BASHPID" ] && continue
    echo "$pid $(tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null)" >> "$res/leftovers"
    kill -KILL "$pid" 2> /dev/null
  done
}

# Runs one test in its own tree: job/{chronyd,chronyc,config.h} and
# job/test/simulation/{test.common,TEST}, because a test runs from
# test/simulation, writes tmp/ there and finds chronyd and config.h in ../../.
run_test() {
  local role=$1 test=$2 job=$work/jobs/$1/$2 res=$work/results/$1/$2
  local t0 rc pid
  rm -rf "$job" "$res"
  mkdir -p "$job/test/simulation" "$res"
  ln -s "$chrony/chronyd" "$chrony/chronyc" "$chrony/config.h" "$job/"
  ln -s "$suite/test.common" "$suite/$test" "$job/test/simulation/"
  t0=$(date +%s)
  (
    cd "$job/test/simulation" || exit 2
    unset CLKNETSIM_TMPDIR CLKNETSIM_SERVER_WRAPPER CLKNETSIM_PRELOAD
    export CLKNETSIM_PATH=$clknetsim CLKNETSIM_RANDOM_SEED=$seed
    # clknetsim.bash splits the wrapper into words: nodewatch runs the stand-in.
    export CLKNETSIM_CLIENT_WRAPPER="$nodewatch $standin"
    export GNOMON_SIM_ROLE=$role GNOMON_SIM_GNOMOND=$gnomond
    # timeout wraps the test script (bash) only; it makes its own process
    # group, and a timeout kills the whole group: clknetsim and every node.
    GNOMON_SIM_JOB=$job timeout -k 30 "$timeout_s" "./$test" > "$res/report.txt" 2>&1 9>&- &
    pid=$!
    echo "$pid" > "$res/.pid"
    wait "$pid"
  )
  rc=$?
  kill_leftovers "$job" "$res"
  [ -d "$job/test/simulation/tmp" ] && mv "$job/test/simulation/tmp" "$res/tmp"
  rm -rf "$job"
  rm -f "$res/.pid"
  echo "$rc $(( $(date +%s) - t0 ))" > "$res/.status.new"
  mv "$res/.status.new" "$res/status"
}

# The BAD/ERROR lines of a report, each after the check it belongs to (the
# last less indented line ending in ':'), separated from it by \037. A test
# that fails with none, after a check that was OK, failed because that check
# was expected to fail (`check_x && test_fail`): that check is named instead.
bad_lines() {
  awk '
    function indent(s) { match(s, /^ */); return RLENGTH }
    /\t(BAD|ERROR)$/ {
      line = $0; sub(/[ \t]+(BAD|ERROR)$/, "", line); sub(/^ +/, "", line)
      status = $0; sub(/.*\t/, "", status)
      if (header != "" && indent($0) > hindent) print header "\037" line " " status
      else print line " " status
      bad = 1
      next
    }
    /:$/ {
      header = $0; sub(/^ +/, "", header); sub(/^checking /, "", header)
      hindent = indent($0); last = header
    }
    $0 == "FAIL" && !bad && last != "" {
      sub(/:$/, "", last)
      print "no BAD line: a check the test expects to fail was OK: " last
    }
  ' "$1"
}

# Which daemon node N ran, by the stand-in's rule: a chronyd node whose own
# config starts with `deny` is a client.
node_daemon() {  # role conf-file
  local first
  first=$(awk '$1 !~ /^(pidfile|allow|cmdallow|bindcmdaddress)$/ && NF { print $1; exit }' "$2")
  case $1 in
    all) echo gnomond ;;
    client) [ "$first" = deny ] && echo gnomond || echo chronyd ;;
    server) [ "$first" = deny ] && echo chronyd || echo gnomond ;;
    *) echo chronyd ;;
  esac
}

# The nodes of a failed test whose daemon did not end cleanly (nodewatch's
# note in log.N).
node_endings() {  # role results-dir
  local log n line last
  for log in "$2"/tmp/log.[0-9]*; do
    [ -f "$log" ] || continue
    n=${log##*.}
    line=$(grep -m1 '^nodewatch: chronyd node (pid ' "$log") || continue
    line=${line#nodewatch: chronyd node (pid }
    # The last error-like line of its log, else its last line.
    last=$(grep -v '^nodewatch: \|^[[:space:]]' "$log" | grep -i 'error\|fatal\|unknown\|panic\|abort\|assert\|terminate\|exception' | tail -n 1)
    [ -n "$last" ] || last=$(grep -v '^nodewatch: ' "$log" | tail -n 1)
    echo "node $n ($(node_daemon "$1" "$2/tmp/conf.$n"), pid ${line%%)*})${line#*)}; log: ${last:0:200}"
  done
}

declare -A n_pass n_fail n_na n_total n_unexpected
for r in "${roles[@]}"; do n_pass[$r]=0; n_fail[$r]=0; n_na[$r]=0; n_total[$r]=0; n_unexpected[$r]=0; done

# Prints (and counts) the result of one test.
report() {
  local role=$1 test=$2 res=$work/results/$1/$2 exp kind='' reason='' rc secs status why first
  exp=$(expectation "$role" "$test")
  if [ -n "$exp" ]; then kind=${exp%%$'\t'*}; reason=${exp#*$'\t'}; fi
  n_total[$role]=$((n_total[$role] + 1))
  if [ "$kind" = n/a ] && [ $run_na -eq 0 ]; then  # not run
    n_na[$role]=$((n_na[$role] + 1))
    printf '%-22s N/A (%s)\n' "$test" "$reason"
    return
  fi
  rc=none secs=0
  [ -f "$res/status" ] && read -r rc secs < "$res/status"
  case $rc in
    0) status=PASS; why="${secs} s" ;;
    9) status=SKIP; why="skipped by the suite" ;;
    124|137) status=FAIL; why="timed out after ${secs} s" ;;
    none) status=FAIL; why="no result recorded: the run was killed" ;;
    *) status=FAIL
       # The check that failed first, without its node's line.
       first=$(bad_lines "$res/report.txt" | head -n 1)
       first=${first%%$'\037'*}
       why="${first:-exit status $rc, no BAD line}; ${secs} s" ;;
  esac
  if [ "$kind" = n/a ]; then
    n_na[$role]=$((n_na[$role] + 1))
    printf '%-22s N/A (%s; ran anyway: %s, %s)\n' "$test" "$reason" "$status" "$why"
    return
  fi
  case $status in
    SKIP)
      n_na[$role]=$((n_na[$role] + 1))
      printf '%-22s SKIP (%s)\n' "$test" "$why" ;;
    PASS)
      n_pass[$role]=$((n_pass[$role] + 1))
      if [ "$kind" = known-fail ]; then
        printf '%-22s PASS (now passes: remove from known-fail; %s)\n' "$test" "$why"
      else
        printf '%-22s PASS (%s)\n' "$test" "$why"
      fi ;;
    FAIL)
      n_fail[$role]=$((n_fail[$role] + 1))
      if [ "$kind" = known-fail ]; then
        printf '%-22s FAIL (known-fail: %s; %s s)\n' "$test" "$reason" "$secs"
      else
        n_unexpected[$role]=$((n_unexpected[$role] + 1))
        printf '%-22s FAIL (%s)\n' "$test" "$why"
      fi
      bad_lines "$res/report.txt" | tr '\037' ' ' | sed 's/^/    /'
      grep -h 'did not terminate\|clknetsim failed' "$res/report.txt" | sed 's/^ */    /'
      node_endings "$role" "$res" | sed 's/^/    /'
      [ -f "$res/leftovers" ] && echo "    killed $(wc -l < "$res/leftovers") processes left running (see leftovers)"
      echo "    logs: $res/" ;;
  esac
}

# The queue: every (role, test); the n/a ones are not run unless --run-na.
queue=()
for r in "${roles[@]}"; do
  mkdir -p "$work/results/$r"
  for t in "${tests[@]}"; do queue+=("$r/$t"); done
done

echo "run_suite: ${#queue[@]} test runs, roles ${roles[*]}, seed $seed, $jobs jobs, timeout ${timeout_s} s"
echo "run_suite: chronyd $chrony/chronyd${gnomond:+, gnomond $gnomond}"
echo "run_suite: results in $work/results"

declare -A running=()  # item -> pid of its run_test subshell
printed=0
current_role=
flush() {  # prints, in queue order, the finished prefix of the queue
  local item role test
  while [ $printed -lt ${#queue[@]} ]; do
    item=${queue[$printed]}
    [ -z "${running[$item]:-}" ] || break
    [ -n "${started[$item]:-}" ] || break
    role=${item%%/*}; test=${item#*/}
    if [ "$role" != "$current_role" ]; then
      current_role=$role
      echo "== role $role"
    fi
    report "$role" "$test" > "$work/results/.line"
    cat "$work/results/.line"
    cat "$work/results/.line" >> "$work/results/$role/summary.txt"
    printed=$((printed + 1))
  done
}

on_signal() {
  local item pid
  trap - INT TERM
  echo "run_suite: interrupted; stopping the running tests" >&2
  for item in "${!running[@]}"; do
    pid=$(cat "$work/results/$item/.pid" 2> /dev/null) && kill -TERM "$pid" 2> /dev/null
  done
  wait
  exit 130
}
trap on_signal INT TERM

# Waits for one test run to finish and marks it done.
reap() {
  local done_pid='' item
  wait -n -p done_pid
  [ -n "$done_pid" ] || return 0
  for item in "${!running[@]}"; do
    [ "${running[$item]}" = "$done_pid" ] && unset "running[$item]"
  done
}

declare -A started=()
for r in "${roles[@]}"; do rm -f "$work/results/$r/summary.txt"; done
for item in "${queue[@]}"; do
  role=${item%%/*}; test=${item#*/}
  exp=$(expectation "$role" "$test")
  if [ "${exp%%$'\t'*}" = n/a ] && [ $run_na -eq 0 ]; then
    rm -rf "${work:?}/results/$item"
    started[$item]=1
    flush
    continue
  fi
  while [ ${#running[@]} -ge "$jobs" ]; do reap; flush; done
  rm -f "$work/results/$item/status"
  run_test "$role" "$test" &
  running[$item]=$!
  started[$item]=1
done
while [ ${#running[@]} -gt 0 ]; do reap; flush; done
flush

total_pass=0 total_fail=0 total_unexpected=0
for r in "${roles[@]}"; do
  echo "$r role: ${n_pass[$r]} passed, ${n_fail[$r]} failed, ${n_na[$r]} n/a of ${n_total[$r]}" |
    tee -a "$work/results/$r/summary.txt"
  total_pass=$((total_pass + n_pass[$r]))
  total_fail=$((total_fail + n_fail[$r]))
  total_unexpected=$((total_unexpected + n_unexpected[$r]))
done
echo "run_suite: $((total_fail - total_unexpected)) of the failures are known-fail, $total_unexpected unexpected; $(( $(date +%s) - start_time )) s"
# The closing line for CI: only unexpected failures count as failed; known
# failures and n/a tests are reported as skipped (the role lines above keep
# the whole tally).
total_na=0
for r in "${roles[@]}"; do total_na=$((total_na + n_na[$r])); done
echo "$total_pass passed, $total_unexpected failed, $((total_fail - total_unexpected + total_na)) skipped"
[ $total_unexpected -eq 0 ]
