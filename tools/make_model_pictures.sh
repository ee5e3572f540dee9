#!/bin/sh
# make_model_pictures.sh VAEGAN_MODEL VAE_MODEL OUT.png - the model card's VAE vs VAE-GAN picture, made only from
# pictures the project makes itself: 8 synthetic faces (decoded from seeded random codes, build/make_demo_face;
# seeds 1-4 by the VAE-GAN's decoder, 5-8 by the VAE's, so neither model reconstructs only its own kind of
# picture), then their reconstructions by each model (reenact reconstruct --no-align, z = mean).
# Rows of OUT.png: the synthetic inputs, the VAE's reconstructions, the VAE-GAN's reconstructions (2x pixels).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$ROOT/build}
[ $# -eq 3 ] || { echo "usage: $0 VAEGAN_MODEL VAE_MODEL OUT.png" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/reenact-pics.XXXXXX")
trap 'rm -rf "$T"' EXIT
for s in 1 2 3 4; do "$B/make_demo_face" "$1" "$T/f$s.png" "$s" 0.8; done
for s in 5 6 7 8; do "$B/make_demo_face" "$2" "$T/f$s.png" "$s" 0.8; done
"$B/reenact" reconstruct --model "$2" --no-align --cols 8 --scale 2 "$T"/f?.png -o "$T/vae.png" > "$T/vae.txt"
"$B/reenact" reconstruct --model "$1" --no-align --cols 8 --scale 2 "$T"/f?.png -o "$T/gan.png" > "$T/gan.txt"
# each grid: inputs on top, reconstructions below; keep VAE's whole grid and the VAE-GAN's bottom half
ffmpeg -v error -y -i "$T/vae.png" -i "$T/gan.png" -filter_complex \
  "[1:v]crop=iw:ih/2:0:ih/2[g];[0:v][g]vstack=inputs=2" -frames:v 1 "$T/out.png"
mv "$T/out.png" "$3"
echo "VAE:";     cat "$T/vae.txt"
echo "VAE-GAN:"; cat "$T/gan.txt"
