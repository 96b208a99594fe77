# shellcheck shell=bash
# The variables named below come from the sourcing script (SC2154), and the
# ones this sets are used there (SC2034).
# shellcheck disable=SC2154,SC2034
# Builds what the clknetsim scenarios run: clknetsim, chronyd and chronyc
# from their sources, the static node wrappers (standin, nodewatch) and a
# portable-I/O gnomond. Sourced by run_suite.sh and fleet.sh; not run alone.
#
# The sourcing script sets
#   me             its name, the prefix of every message
#   here, repo     this directory and the repository's top
#   work           the work directory (DIR/clknetsim); everything is built in it
#   jobs           parallel build jobs
#   clknetsim_src, chrony_src   the sources (tarball or extracted directory)
# and defines die MESSAGE (prints and exits).
#
# check_build_inputs LABEL prints "LABEL: SKIP (...)" and returns 1 when a
# source is absent, and dies when a build command is missing.
# build_tools NEED_GNOMOND then sets clknetsim, chrony (the built trees),
# standin, nodewatch, and gnomond (empty unless NEED_GNOMOND is 1).
# Concurrent builds in one work directory wait for each other: the build
# holds the lock $work/.build.lock (on descriptor 8), for at most 30 minutes.
#
# Both tools are GPLv2 and are only built and run here, at test time, in the
# work directory: nothing of them is copied into the repository.

check_build_inputs() {
  local label=$1 pair tool
  for pair in "CLKNETSIM_SRC:$clknetsim_src" "CHRONY_SRC:$chrony_src"; do
    if [ ! -e "${pair#*:}" ]; then
      echo "$label: SKIP (${pair%%:*} not found: ${pair#*:}; set CLKNETSIM_SRC and CHRONY_SRC to the clknetsim and chrony-4.8 tarballs or extracted directories)"
      return 1
    fi
  done
  for tool in make cc g++ tar timeout flock realpath awk; do
    command -v "$tool" > /dev/null || die "'$tool' is needed (Debian: build-essential coreutils util-linux tar gawk)"
  done
}

# A source tree, extracted (tarball) or copied (directory) into $work/src, so
# that nothing is ever built where the sources were found. Reused as long as
# the source is the same path and not newer than the copy.
prepare_source() {
  local label=$1 src dest=$3 stamp=$3.source top
  src=$(realpath "$2")
  if [ -d "$dest" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$src" ]; then
    if [ -f "$src" ] && ! [ "$src" -nt "$stamp" ]; then return 0; fi
    if [ -d "$src" ] && [ -z "$(find "$src" -newer "$stamp" -print -quit)" ]; then return 0; fi
  fi
  echo "$me: preparing $label from $src"
  rm -rf "$dest" "$stamp" "$dest.configured"
  if [ -d "$src" ]; then
    cp -a "$src" "$dest" || die "cannot copy $src"
  else
    top=$(mktemp -d "$work/src/extract.XXXXXX")
    tar -xf "$src" -C "$top" || { rm -rf "$top"; die "cannot extract $src"; }
    set -- "$top"/*
    { [ $# -eq 1 ] && [ -d "$1" ]; } || { rm -rf "$top"; die "$src does not hold one top directory"; }
    if ! mv "$1" "$dest" || ! rmdir "$top"; then die "cannot move $1 to $dest"; fi
  fi
  echo "$src" > "$stamp"
}

# Runs a build step with its output in a log; on failure shows the log's end.
build_step() {
  local log=$1
  shift
  if ! "$@" > "$log" 2>&1; then
    echo "$me: build step failed: $*" >&2
    tail -n 30 "$log" >&2
    die "see $log"
  fi
}

build_tools() {
  local need_gnomond=$1 tool gbuild
  mkdir -p "$work/src" "$work/logs" || die "cannot create $work"
  exec 8> "$work/.build.lock"
  flock -w 1800 8 || die "another build in $work held its lock for 30 minutes"

  clknetsim=$work/src/clknetsim
  chrony=$work/src/chrony
  prepare_source clknetsim "$clknetsim_src" "$clknetsim"
  prepare_source chrony "$chrony_src" "$chrony"

  # clknetsim: make is a no-op when clknetsim and clknetsim.so are up to date.
  build_step "$work/logs/clknetsim.log" make -C "$clknetsim" -j"$jobs"
  if [ ! -x "$clknetsim/clknetsim" ] || [ ! -f "$clknetsim/clknetsim.so" ]; then
    die "clknetsim build gave no clknetsim/clknetsim.so"
  fi

  # chrony: configured once with these options (--enable-debug: chronyd's debug
  # log in log.N; no readline: chronyc reads its commands from arguments).
  local chrony_configure=(--enable-debug --disable-readline)
  if [ ! -f "$chrony/Makefile" ] || [ ! -f "$chrony/config.h" ] ||
     [ "$(cat "$chrony.configured" 2>/dev/null)" != "${chrony_configure[*]}" ]; then
    command -v bison > /dev/null || die "chrony needs bison (Debian: bison)"
    command -v pkg-config > /dev/null ||
      echo "$me: warning: no pkg-config: chrony will be built without NTS and SHA keys (Debian: pkg-config nettle-dev libgnutls28-dev)" >&2
    echo "$me: configuring chrony (${chrony_configure[*]})"
    rm -f "$chrony.configured"
    # shellcheck disable=SC2016 # the inner script expands its own arguments
    build_step "$work/logs/chrony-configure.log" bash -c 'cd "$1" && shift && ./configure "$@"' _ "$chrony" "${chrony_configure[@]}"
    echo "${chrony_configure[*]}" > "$chrony.configured"
  fi
  build_step "$work/logs/chrony.log" make -C "$chrony" -j"$jobs" chronyd chronyc
  if [ ! -x "$chrony/chronyd" ] || [ ! -x "$chrony/chronyc" ]; then die "chrony build gave no chronyd/chronyc"; fi
  grep -q '^#define FEAT_NTS' "$chrony/config.h" ||
    echo "$me: note: chrony has no NTS (install nettle-dev libgnutls28-dev and remove $chrony to rebuild): NTS tests will be skipped by the suite" >&2

  command -v certtool > /dev/null ||
    echo "$me: note: no certtool (Debian: gnutls-bin): 139-nts will be skipped by the suite" >&2

  # The stand-in and the node watcher: static, so clknetsim's preload never
  # loads into them.
  for tool in standin nodewatch; do
    if [ ! -x "$work/$tool" ] || [ "$here/$tool.cpp" -nt "$work/$tool" ]; then
      echo "$me: building $tool"
      build_step "$work/logs/$tool.log" g++ -static -O2 -o "$work/$tool.new" "$here/$tool.cpp"
      mv "$work/$tool.new" "$work/$tool"
    fi
  done
  standin=$work/standin
  nodewatch=$work/nodewatch

  # gnomond, when needed: given, or built (incrementally) here.
  gnomond=
  if [ "$need_gnomond" -eq 1 ]; then
    if [ -n "${GNOMON_SIM_GNOMOND:-}" ]; then
      gnomond=$(realpath "$GNOMON_SIM_GNOMOND")
      [ -x "$gnomond" ] || die "GNOMON_SIM_GNOMOND=$GNOMON_SIM_GNOMOND is not an executable"
    else
      command -v cmake > /dev/null || die "cmake is needed to build gnomond (or set GNOMON_SIM_GNOMOND)"
      gbuild=$work/gnomond-build
      if [ ! -f "$gbuild/CMakeCache.txt" ]; then
        echo "$me: configuring gnomond (portable I/O) in $gbuild"
        build_step "$work/logs/gnomond-configure.log" cmake -S "$repo" -B "$gbuild" \
          -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGNOMON_PORTABLE_IO=ON \
          -DGNOMON_BUILD_TESTS=OFF -DGNOMON_BUILD_BENCH=OFF ${GNOMON_CMAKE_ARGS:-}
      fi
      echo "$me: building gnomond"
      build_step "$work/logs/gnomond.log" cmake --build "$gbuild" --target gnomond -j "$jobs"
      gnomond=$gbuild/daemon/gnomond
      [ -x "$gnomond" ] || gnomond=$(find "$gbuild" -type f -name gnomond -perm -u+x -print -quit)
      if [ -z "$gnomond" ] || [ ! -x "$gnomond" ]; then die "gnomond build gave no gnomond in $gbuild"; fi
    fi
  fi
  exec 8>&-
}
