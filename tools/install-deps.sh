#!/bin/sh
# install-deps.sh: installs every Debian 12 package that reenact's build, tests and tools need.
# Idempotent: packages already present are skipped by apt-get. Run as root (or with sudo).
#   sh tools/install-deps.sh          build + test dependencies
#   sh tools/install-deps.sh --torch  also python3-torch (only to regenerate reference data / run the PyTorch baseline)
#   sh tools/install-deps.sh --browser  also chromium, node and npm playwright-core (the browser test of reenact serve)
#   (the options combine: tools/test.sh passes both)
set -eu
PKGS="build-essential cmake pkg-config git
 libdnnl-dev libopenblas0-openmp
 libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
 libpng-dev libjpeg62-turbo-dev libjansson-dev
 libdlib-dev libdlib-data libblas-dev liblapack-dev
 clang libclang-rt-14-dev ffmpeg
 libmicrohttpd-dev curl
 libopenmpi-dev openmpi-bin"
BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --torch) PKGS="$PKGS python3-torch python3-numpy" ;;
    --browser) BROWSER=1
               PKGS="$PKGS chromium"
               command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm" ;;   # keep a node already installed
    *) echo "install-deps: unknown option '$arg' (--torch, --browser)" >&2; exit 2 ;;
  esac
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing:$missing" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "install-deps: all packages present" >&2
fi
if [ "$BROWSER" = 1 ] && [ ! -f "$(npm root -g)/playwright-core/package.json" ]; then
  echo "install-deps: installing npm playwright-core (drives the installed chromium; downloads no browser)" >&2
  $SUDO npm install -g playwright-core@1 >/dev/null
fi
# BLAS/LAPACK (pulled in by dlib) must be OpenBLAS's OpenMP build: the pthread build starts its own thread pool,
# which fights the OpenMP pool on 2 cores and halves speed (also what makes Debian's PyTorch fast).
for lib in blas lapack; do
  target=/usr/lib/x86_64-linux-gnu/openblas-openmp/lib$lib.so.3
  if [ -e "$target" ] && [ "$(readlink -f /usr/lib/x86_64-linux-gnu/lib$lib.so.3)" != "$target" ]; then
    $SUDO update-alternatives --set lib$lib.so.3-x86_64-linux-gnu "$target" >/dev/null
  fi
done
