#!/bin/sh
# run.sh - reenact (C) against tuned PyTorch on the same machine in the same invocation: seed64 VAE and VAE-GAN
# training throughput (batch 64) and batch-1 encode+decode / decode latency. Builds the benches (Release) if needed,
# then runs bench/bench_train, bench/bench_infer and tools/torch_bench.py target by target, C and PyTorch back to
# back (C first in odd rounds, PyTorch first in even rounds) so drift in machine load hits both sides alike, pools
# every repetition of every round and prints one table: target, C min/median/max, PyTorch min/median/max, ratio of
# medians (C/PyTorch for throughput, PyTorch/C for latency: > 1 means reenact is faster), GFLOP/s at the medians.
#
#   sh bench/run.sh [--rounds 3] [--threads 2] [--steps 3] [--reps 3] [--runs 200] [--backend dnnl|ref]
#                   [--build-dir build-bench] [--json merged.json] [--omp-wait passive|active] [--quick] [--no-bf16]
#                   [--targets vae,vaegan,infer]
# Besides the f32 targets, reenact's bf16 modes (training with --precision bf16, a bf16 runner) are timed as rows
# *_bf16 and compared with the same tuned PyTorch f32 figures (PyTorch 1.13 has no faster CPU path for this model);
# --no-bf16 skips them, and so does a CPU without AVX-512 (the library refuses bf16 there). Inference also runs
# the mixed runner (f32 with bf16 weights of the large linear layers, --precision mixed) as rows *_mixed against the
# same PyTorch f32 figures.
# --targets: a comma-separated subset of vae, vaegan, infer [all three].
# The table's header names the CPU model and the ISA oneDNN dispatches to (from bench_infer).
# --quick: 1 round, 2 steps x 2 reps, 50 inference runs (a smoke run, not a measurement).
# --omp-wait: OMP_WAIT_POLICY for BOTH sides (default: libgomp's, spin then sleep). On a machine shared with other
#   jobs, 'passive' avoids the collapse of 2-thread OpenMP barriers (3x and more, both engines); docs/PERF.md.
# Without python3-torch the C figures are printed and the baseline is reported missing. RE_TORCH_PYTHON overrides
# the interpreter (/usr/bin/python3). See docs/PERF.md.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3
THREADS=2
STEPS=3
REPS=3
RUNS=200
BACKEND=""
BUILD="$ROOT/build-bench"
JSON_OUT=""
OMP_WAIT=""
BF16=1
TARGETS="vae vaegan infer"
TORCH_PY=${RE_TORCH_PYTHON:-/usr/bin/python3}   # the interpreter with python3-torch
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --json) JSON_OUT=$2; shift 2 ;;
    --omp-wait) OMP_WAIT=$2; shift 2 ;;
    --quick) ROUNDS=1; STEPS=2; REPS=2; RUNS=50; shift ;;
    --no-bf16) BF16=0; shift ;;
    --targets) TARGETS=$(echo "$2" | tr ',' ' '); shift 2 ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$ROUNDS" "$THREADS" "$STEPS" "$REPS" "$RUNS"; do
  case "$v" in ''|*[!0-9]*) echo "run.sh: '$v' is not a non-negative integer" >&2; exit 2 ;; esac
done
case "$OMP_WAIT" in
  '') unset OMP_WAIT_POLICY ;;
  passive|active) OMP_WAIT_POLICY=$OMP_WAIT; export OMP_WAIT_POLICY ;;
  *) echo "run.sh: --omp-wait takes passive or active, not '$OMP_WAIT'" >&2; exit 2 ;;
esac
if [ "$ROUNDS" -lt 1 ] || [ "$THREADS" -lt 1 ] || [ "$STEPS" -lt 1 ] || [ "$REPS" -lt 1 ] || [ "$RUNS" -lt 1 ]; then
  echo "run.sh: --rounds/--threads/--steps/--reps/--runs must be >= 1" >&2
  exit 2
fi

# ---- build (Release) if needed; cmake --build is a no-op when up to date.
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  echo "run.sh: configuring $BUILD (Release)" >&2
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DRE_BUILD_TESTS=OFF >/dev/null
elif ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt"; then
  echo "run.sh: $BUILD is not a Release build; use --build-dir with a Release build directory" >&2
  exit 2
fi
cmake --build "$BUILD" -j2 --target bench_train bench_infer >/dev/null
BT="$BUILD/bench/bench_train"
BI="$BUILD/bench/bench_infer"

HAVE_TORCH=0
if [ -x "$TORCH_PY" ] && "$TORCH_PY" -c 'import torch' 2>/dev/null; then HAVE_TORCH=1; fi
PY="$TORCH_PY"
[ -x "$PY" ] || PY=python3

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reenact-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

BK=""
[ -n "$BACKEND" ] && BK="--backend $BACKEND"
# bf16 needs oneDNN's bf16 convolutions (AVX-512 and up): where the library refuses it, the bf16 rows are left out
# shellcheck disable=SC2086
if [ "$BF16" = 1 ] && ! "$BI" --threads 1 --runs 1 --warmup 0 $BK --precision bf16 >"$TMP/bf16_probe.txt" 2>&1; then
  echo "run.sh: no bf16 rows on this CPU: $(grep -m1 -i 'bf16' "$TMP/bf16_probe.txt")" >&2
  BF16=0
fi
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
echo "run.sh: $ROUNDS round(s), $THREADS threads, OMP_WAIT_POLICY=${OMP_WAIT:-default}," \
     "train $REPS x $STEPS steps/round, infer $RUNS runs/round; load average at start: $(load)" >&2
LOAD0=$(load)

# One target on one side. $1 = vae|vaegan|infer, $2 = round number; reenact also runs the bf16 variant after the
# f32 one (unless --no-bf16), so both face the same machine state as the PyTorch run beside them.
run_c() {
  precs="f32 bf16"
  [ "$1" = infer ] && precs="f32 mixed bf16"
  for prec in $precs; do
    [ "$prec" = bf16 ] && [ "$BF16" = 0 ] && continue
    echo "  round $2: reenact $1 ($prec)" >&2
    out="$TMP/c_$1_${prec}_$2.json"
    if [ "$1" = infer ]; then
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=$THREADS "$BI" --threads "$THREADS" --runs "$RUNS" --warmup 20 $BK --precision "$prec" \
        --json "$out" | sed 's/^/    /' >&2
    else
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=$THREADS "$BT" --mode "$1" --threads "$THREADS" --steps "$STEPS" --reps "$REPS" --warmup 2 $BK \
        --precision "$prec" --json "$out" | sed 's/^/    /' >&2
    fi
    [ -f "$out" ] || { echo "run.sh: the reenact $1 ($prec) bench failed (see above)" >&2; exit 1; }
  done
}
run_torch() {
  [ "$HAVE_TORCH" = 1 ] || return 0
  echo "  round $2: pytorch $1" >&2
  case "$1" in infer) tg=infer_encdec,infer_dec ;; *) tg=train_$1 ;; esac
  "$TORCH_PY" "$ROOT/tools/torch_bench.py" --target "$tg" --threads "$THREADS" --steps "$STEPS" --reps "$REPS" \
    --warmup 2 --runs "$RUNS" --infer-warmup 20 --json "$TMP/torch_$1_$2.json" 2>&1 | sed 's/^/    /' >&2
  [ -f "$TMP/torch_$1_$2.json" ] || echo "run.sh: WARNING: the PyTorch $1 bench failed (see above)" >&2
}
# Per target, C and PyTorch back to back; who goes first flips every round.
r=1
while [ "$r" -le "$ROUNDS" ]; do
  for target in $TARGETS; do
    if [ $((r % 2)) = 1 ]; then run_c "$target" "$r"; run_torch "$target" "$r"
    else run_torch "$target" "$r"; run_c "$target" "$r"; fi
  done
  r=$((r + 1))
done
LOAD1=$(load)

# ---- pool the rounds and print the table.
OMP_WAIT=${OMP_WAIT:-default} TORCH_PY=$TORCH_PY HAVE_TORCH=$HAVE_TORCH TMPD=$TMP LOAD0=$LOAD0 LOAD1=$LOAD1 JSON_OUT=$JSON_OUT "$PY" - <<'EOF'
import glob, json, os, statistics

tmp = os.environ["TMPD"]
have_torch = os.environ["HAVE_TORCH"] == "1"
order = ["train_vae", "train_vaegan", "train_vae_bf16", "train_vaegan_bf16", "infer_encdec", "infer_dec",
         "infer_encdec_mixed", "infer_dec_mixed", "infer_encdec_bf16", "infer_dec_bf16"]
c, t, flops, meta = {}, {}, {}, {}
for path in sorted(glob.glob(os.path.join(tmp, "*.json"))):
    d = json.load(open(path))
    side = t if d["tool"] == "torch_bench" else c
    for r in d["results"]:
        side.setdefault(r["name"], []).extend(r["samples"])
        if d["tool"] != "torch_bench":
            flops[r["name"]] = r.get("gflop_per_img", r.get("gflop_per_call"))
            meta["backend"], meta["threads"] = d["backend"], d["threads"]
            if "cpu" in d:
                meta["cpu"], meta["isa"] = d["cpu"], d["isa"]
        else:
            meta["torch"], meta["torch_threads"], meta["blas"] = d["torch"], d["threads"], d["blas"]
            meta.setdefault("variants", {})[r["name"]] = r["variant"]

def stats(v):
    v = sorted(v)
    return v[0], statistics.median(v), v[-1]

def fmt(v, unit):
    if not v:
        return "missing"
    lo, med, hi = stats(v)
    p = "%.1f" if unit == "img/s" else "%.2f"
    return (p + " / " + p + " / " + p) % (lo, med, hi)

rows, merged = [], {}
print()
print("reenact %s backend, %s threads vs PyTorch %s (%s threads, %s); OMP_WAIT_POLICY=%s; load average %s at "
      "start, %s at end" % (meta.get("backend", "?"), meta.get("threads", "?"), meta.get("torch", "missing"),
                            meta.get("torch_threads", "-"), os.path.basename(meta.get("blas", "-")),
                            os.environ["OMP_WAIT"], os.environ["LOAD0"], os.environ["LOAD1"]))
print("CPU: %s; oneDNN ISA: %s" % (meta.get("cpu", "? (run the infer target)"), meta.get("isa", "?")))
hdr = ("target", "unit", "reenact C min / median / max", "PyTorch min / median / max", "ratio", "best ratio",
       "C GFLOP/s", "PyTorch GFLOP/s")
print("| %-17s | %-5s | %-28s | %-28s | %-5s | %-10s | %-9s | %-15s |" % hdr)
print("|" + "|".join("-" * (w + 2) for w in (17, 5, 28, 28, 5, 10, 9, 15)) + "|")
for name in order:
    if name not in c:
        continue
    unit = "img/s" if name.startswith("train") else "ms"
    # bf16 / mixed rows: against PyTorch's f32 figure
    base = name[:-5] if name.endswith("_bf16") else name[:-6] if name.endswith("_mixed") else name
    cm = statistics.median(c[name])
    tm = statistics.median(t[base]) if t.get(base) else None
    g = flops.get(name) or 0
    # Throughput: GFLOP/s = img/s * GFLOP/img; latency: GFLOP per call / seconds.
    rate = (lambda m: m * g) if unit == "img/s" else (lambda m: g / (m * 1e-3))
    ratio = None if tm is None else (cm / tm if unit == "img/s" else tm / cm)
    # Best against best (max img/s, min ms): the figure least disturbed by other load on a shared machine.
    best = None if tm is None else (max(c[name]) / max(t[base]) if unit == "img/s" else min(t[base]) / min(c[name]))
    print("| %-17s | %-5s | %-28s | %-28s | %-5s | %-10s | %-9.1f | %-15s |"
          % (name, unit, fmt(c[name], unit), fmt(t.get(base), unit), "-" if ratio is None else "%.2f" % ratio,
             "-" if best is None else "%.2f" % best, rate(cm), "-" if tm is None else "%.1f" % rate(tm)))
    merged[name] = {"unit": unit, "c": dict(zip(("min", "median", "max"), stats(c[name]))),
                    "torch": None if tm is None else dict(zip(("min", "median", "max"), stats(t[base]))),
                    "ratio": ratio, "best_ratio": best, "gflop": g}
print("ratio = C/PyTorch for img/s, PyTorch/C for ms (> 1: reenact faster), of the medians pooled over all rounds;")
print("best ratio = the same of the best figures (max img/s, min ms); GFLOP/s at the medians.")
print("*_bf16 rows: reenact's bf16 mode against the same PyTorch f32 figures as the row without the suffix;")
print("*_mixed rows: reenact's f32 runner with bf16 weights of the large linear layers, likewise.")
if not have_torch:
    print("PyTorch baseline MISSING: %s cannot import torch (sh tools/install-deps.sh --torch)." % os.environ["TORCH_PY"])
else:
    print("PyTorch variants: " + ", ".join("%s=%s" % kv for kv in sorted(meta.get("variants", {}).items())))
if os.environ.get("JSON_OUT"):
    with open(os.environ["JSON_OUT"], "w") as f:
        json.dump({"meta": meta, "omp_wait_policy": os.environ["OMP_WAIT"], "load_start": os.environ["LOAD0"], "load_end": os.environ["LOAD1"],
                   "results": merged}, f, indent=1)
EOF
