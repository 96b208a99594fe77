#!/usr/bin/env bash
# Installs every Debian 12 package that gnomon's build, tests and demo need.
# The chrony package is installed with services blocked (policy-rc.d) so that
# the system chronyd never starts and never touches this machine's clock.
# prometheus is there for promtool (the metrics test); its server is blocked
# and disabled the same way. systemd gives systemd-analyze (the unit's test),
# dpkg-dev and fakeroot the .deb build (cpack -G DEB). libseccomp-dev gives
# gnomond -F its system call filter; clang-14 and libclang-rt-14-dev build
# the libFuzzer targets (scripts/fuzz.sh). bison, nettle-dev, libgnutls28-dev
# and gnutls-bin (certtool) build and run chrony's own simulation suite
# from its source snapshot (tests/clknetsim).
set -euo pipefail

PKGS=(
  build-essential cmake g++ pkg-config git
  libboost-dev libspdlog-dev libtomlplusplus-dev catch2 libbenchmark-dev libssl-dev libseccomp-dev
  clang-14 libclang-rt-14-dev
  chrony ntpsec-ntpdig python3 iproute2 procps gnuplot-nox
  systemd dpkg-dev fakeroot prometheus
  bison nettle-dev libgnutls28-dev gnutls-bin
)

need=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ "${#need[@]}" -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"

# A system chronyd must never run here: it would steer this machine's clock.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now chrony.service >/dev/null 2>&1 || true
  $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
echo "setup: installed ${need[*]}"
exit 0
