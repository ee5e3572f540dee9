#!/bin/sh
# job.sh - `reenact serve`'s upload jobs against the CLI: the same photo and the same 10 s driving clip, animated by
# `reenact animate` (a process: model and face detector loaded, clip decoded, video and storyboard written) and by
# POST /api/jobs on a running server (upload over localhost, queue, the same re_animate on a worker, until the job's
# event stream says done), alternately in the same run, with the same options (the defaults of both: photo render,
# storyboard, audio). The issue's target: a 10 s upload job finishes in no more than 1.2x the CLI's time.
#
#   sh bench/job.sh [--seconds 10] [--reps 2] [--threads N] [--build-dir build-bench] [--json out.json]
# Inputs: ../shared/data/examples/portraits/fomm_01.png driven by the first 10 s of
# ../shared/data/examples/driving/fomm_10.mp4 when present, else the bundled demo photo driven by a clip animated
# from it (models/demo.motion, looped to 10 s). The server is warmed up with one small job first (a server's steady
# state: its model and face detector are loaded once); each measured run's order alternates (CLI first, then the
# server first). Needs ffmpeg, curl, python3 and the bundled model. Timings are never pass/fail; the target line says
# met or missed, and by how much.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_CLIP=10
REPS=2
THREADS=
. "$ROOT/bench/lib.sh"
bench_args job.sh "--seconds SECONDS_CLIP --reps REPS" "$@"
bench_need job.sh ffmpeg curl python3
bench_build_cli job.sh
TARGS=
[ -n "$THREADS" ] && TARGS="--threads $THREADS"

bench_tmp job
bench_inputs fomm_10.mp4
# the driving clip: SECONDS_CLIP s at 30 fps (looped when the source is shorter), H.264
ffmpeg -loglevel error -stream_loop -1 -i "$DRIVE" -t "$SECONDS_CLIP" -r 30 -an -c:v libx264 -crf 18 -pix_fmt yuv420p \
  "$TMP/drive.mp4"
NFR=$(ffprobe -v quiet -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$TMP/drive.mp4")
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "job.sh: $CPU, $(nproc) cores; photo $(basename "$PHOTO"), driver $(basename "$DRIVE") ($SECONDS_CLIP s," \
  "$NFR frames, $(stat -c %s "$TMP/drive.mp4") bytes); threads ${THREADS:-default}; $REPS run(s) each"

now() { date +%s.%N; }

bench_serve 200 --data-dir "$TMP/data" $TARGS
jid() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$1"; }

# run_serve N: one upload job, timed from the start of the upload to the 'done' event; job json to $TMP/serve_N.json
run_serve() {
  t0=$(now)
  curl -s -o "$TMP/post.json" -F "photo=@$PHOTO" -F "driving=@$TMP/drive.mp4" "$URL/api/jobs"
  id=$(jid "$TMP/post.json")
  ev=$(curl -s -N --max-time 900 "$URL/api/jobs/$id/events" | grep -m1 -E '^event: (done|failed)' || true)
  t1=$(now)
  curl -s -o "$TMP/serve_$1.json" "$URL/api/jobs/$id"
  [ "$ev" = "event: done" ] || { echo "job.sh: the server's job did not end done: $(cat "$TMP/serve_$1.json")" >&2; exit 1; }
  curl -s -o "$TMP/serve_$1.mp4" "$URL/api/jobs/$id/result"
  curl -s -o /dev/null -X DELETE "$URL/api/jobs/$id"
  echo "$t0 $t1" >"$TMP/serve_$1.t"
}
run_cli() {
  t0=$(now)
  "$CLI" animate --model "$MODEL" --source "$PHOTO" --driving "$TMP/drive.mp4" -o "$TMP/cli_$1.mp4" \
    --storyboard "$TMP/cli_$1.png" $TARGS -q >"$TMP/cli_$1.log" 2>&1 || { cat "$TMP/cli_$1.log" >&2; exit 1; }
  t1=$(now)
  echo "$t0 $t1" >"$TMP/cli_$1.t"
}

# warm-up: the worker has loaded its face detector once this small job is done
curl -s -o "$TMP/post.json" -F "photo=@$PHOTO" -F "driving=@$TMP/drive.mp4" -F max_frames=8 -F storyboard=0 "$URL/api/jobs"
curl -s -N --max-time 300 "$URL/api/jobs/$(jid "$TMP/post.json")/events" | grep -m1 -qE '^event: (done|failed)' || true

i=1
while [ $i -le "$REPS" ]; do
  if [ $((i % 2)) = 1 ]; then run_cli $i; run_serve $i; else run_serve $i; run_cli $i; fi
  i=$((i + 1))
done
bench_serve_stop

python3 - "$TMP" "$REPS" "$NFR" "$CPU" "$JSON_OUT" <<'EOF'
import json, statistics, sys, subprocess
tmp, reps, nfr, cpu, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def span(p):
    a, b = map(float, open(p).read().split())
    return b - a
def frames(p):
    try:
        return int(subprocess.run(["ffprobe", "-v", "quiet", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                   "stream=nb_read_frames", "-of", "csv=p=0", p], capture_output=True, text=True).stdout)
    except Exception:
        return -1
rows = []
for i in range(1, reps + 1):
    j = json.load(open("%s/serve_%d.json" % (tmp, i)))
    c, s = span("%s/cli_%d.t" % (tmp, i)), span("%s/serve_%d.t" % (tmp, i))
    rows.append({"cli_s": c, "serve_s": s, "ratio": s / c, "job_run_s": j["elapsed_s"],
                 "queue_s": j["started"] - j["created"], "frames": j["frame"],
                 "cli_frames": frames("%s/cli_%d.mp4" % (tmp, i)), "serve_frames": frames("%s/serve_%d.mp4" % (tmp, i))})
print("\n%-4s %10s %12s %8s %13s %10s %16s" % ("run", "CLI s", "serve s", "ratio", "job running s", "queued s",
                                             "frames cli/serve"))
for i, r in enumerate(rows, 1):
    print("%-4d %10.2f %12.2f %8.3f %13.2f %10.2f %9d/%d" % (i, r["cli_s"], r["serve_s"], r["ratio"], r["job_run_s"],
                                                       r["queue_s"], r["cli_frames"], r["serve_frames"]))
cm = statistics.median(r["cli_s"] for r in rows)
sm = statistics.median(r["serve_s"] for r in rows)
ratio = sm / cm
pr = statistics.median(r["ratio"] for r in rows)
print("\nmedian: CLI %.2f s, serve job %.2f s (upload to done), ratio of the medians %.3f, median of the runs' ratios "
      "%.3f (%s, %d frames)" % (cm, sm, ratio, pr, cpu, nfr))
print("target: a 10 s upload job in <= 1.2x the CLI's time: %s (%.2fx, %.0f%% of the allowance)" % (
    "met" if ratio <= 1.2 else "MISSED", ratio, 100 * ratio / 1.2))
if out:
    json.dump({"cpu": cpu, "frames": nfr, "runs": rows, "cli_median_s": cm, "serve_median_s": sm, "ratio": ratio,
               "ratio_median_of_runs": pr},
              open(out, "w"), indent=1)
EOF
