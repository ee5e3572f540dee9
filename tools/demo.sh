#!/bin/sh
# demo.sh - the README's first command: installs the Debian packages, builds reenact (Release), and runs the bundled
# demo: the bundled VAE-GAN animates the bundled synthetic face with the bundled motion file, writing
# out/demo.mp4 and out/demo_storyboard.png.   Usage: tools/demo.sh [OUTDIR]
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRE_BUILD_TESTS=OFF -DRE_BUILD_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" --target reenact_cli
build/reenact demo -o "${1:-out}"
