#!/bin/sh
# mpi.sh - data-parallel training on this machine (issue 16): seed64 VAE-GAN at the global batch 64 on a generated
# 64x64 dataset, timed inside re_trainer_step as `reenact train` reports it, in one invocation:
#   1 process x T threads (the baseline), 1 process x 1 thread, and N ranks x T/N threads (mpirun -np N);
# then the gradient allreduce of the N-rank run: its time per step (all of it, and the part left waiting after the
# backward, i.e. not hidden behind it) and its bytes per step. Prints img/s and the ratio of each row to the
# baseline (> 1: faster). Rounds alternate the order of the rows so that drift in machine load hits all alike.
#
#   sh bench/mpi.sh [--build-dir build] [--ranks 2] [--threads 2] [--steps 30] [--rounds 2] [--grad-precision f32]
# The CPU model and thread placement are printed with the figures (docs/PERF.md "Several processes").
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build"
RANKS=2
THREADS=2
STEPS=30
ROUNDS=2
GP=f32
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --grad-precision) GP=$2; shift 2 ;;
    *) echo "mpi.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
R="$BUILD/reenact"
[ -x "$R" ] || { echo "mpi.sh: $R not built (cmake --build $BUILD)" >&2; exit 1; }
"$R" --version | grep -q "^features:.* mpi" || { echo "mpi.sh: $R is built without MPI" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpi.sh: mpirun not found (apt-get install openmpi-bin)" >&2; exit 1; }
PER=$((THREADS / RANKS)); [ "$PER" -ge 1 ] || PER=1
T=$(mktemp -d /tmp/reenact_bench_mpi.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$R" dataset synth -o "$T/d.rds" --count 4096 --res 64 --groups 16 --seed 1 >/dev/null
common="--data $T/d.rds --model seed64 --mode vaegan --epochs 1 --max-steps $STEPS --batch 64 --ckpt-every 100000
        --sample-every 100000 --quiet --no-verify --val-max 64"
# the figure: "...; X img/s inside re_trainer_step; ..." of the summary line
rate() { sed -n 's/.*; \([0-9.]*\) img\/s inside re_trainer_step.*/\1/p' "$1"; }
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $STEPS steps of batch 64 (seed64 VAE-GAN), $ROUNDS rounds"
b1="" b2="" b3="" ar=""
for r in $(seq 1 "$ROUNDS"); do
  for row in a b c; do
    [ $((r % 2)) -eq 0 ] && row=$(echo "$row" | tr abc cba)
    rm -rf "$T/out"
    case $row in
      a) "$R" train $common --threads "$THREADS" --out "$T/out" >"$T/log" 2>&1; b1="$b1 $(rate "$T/log")" ;;
      b) "$R" train $common --threads 1 --out "$T/out" >"$T/log" 2>&1; b2="$b2 $(rate "$T/log")" ;;
      c) mpirun --allow-run-as-root --oversubscribe --bind-to core -np "$RANKS" "$R" train $common --threads "$PER" \
           --grad-precision "$GP" --out "$T/out" >"$T/log" 2>&1
         b3="$b3 $(rate "$T/log")"
         ar="$ar|$(sed -n 's/^ranks: *//p' "$T/log")" ;;
    esac
  done
done
med() { echo "$@" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m1=$(med $b1); m2=$(med $b2); m3=$(med $b3)
printf "%-34s %10s %10s\n" "configuration" "img/s" "vs base"
printf "%-34s %10.1f %10s\n" "1 process x $THREADS threads (base)" "$m1" "1.00x"
printf "%-34s %10.1f %9.2fx\n" "1 process x 1 thread" "$m2" "$(awk "BEGIN{print $m2 / $m1}")"
printf "%-34s %10.1f %9.2fx\n" "$RANKS ranks x $PER thread(s), grad $GP" "$m3" "$(awk "BEGIN{print $m3 / $m1}")"
echo "rounds (img/s): base$b1 | 1 thread$b2 | $RANKS ranks$b3"
echo "allreduce (rank 0, per run):"
echo "$ar" | tr '|' '\n' | grep -v '^$' | sed 's/^/  /'
