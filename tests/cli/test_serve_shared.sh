#!/bin/bash
# test_serve_shared.sh - `reenact serve` on real faces (usage: test_serve_shared.sh PATH/TO/reenact, cwd = repo root).
# Needs the bundled model (models/) and the example portraits and clips in ../shared/data/examples; exits 77
# (skipped) when they are absent. Labelled "slow". With the bundled model it checks: an example portrait animated by
# an example clip (first 30 frames) ends done with 30 frames and a valid MP4, with its time next to `reenact animate`
# on the same inputs (printed, not checked: the machine is shared); the bundled demo (demo=1: demo photo + demo
# motion) when models/ has it; a photo without a face ends failed with an error naming the problem; SIGTERM while a
# job runs exits 0, and after a restart on the same data dir that job is listed as failed by the shutdown, with no
# result file left.
set -u
CLI=${1:?usage: test_serve_shared.sh PATH/TO/reenact}
. "$(dirname "$0")/lib.sh"
cli_test_init serve_shared
SHARED=../shared/data/examples
MODEL=models/reenact-seed64.safetensors
PHOTO=$SHARED/portraits/fomm_01.png
CLIP=$SHARED/driving/fomm_08.mp4
LONG=$SHARED/driving/fomm_10.mp4
for f in "$PHOTO" "$CLIP" "$LONG"; do
  [ -r "$f" ] || { echo "SKIP: $f not found (the example data in ../shared is absent)"; exit 77; }
done
[ -r "$MODEL" ] || { echo "SKIP: $MODEL not found"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed"; exit 77; }
skip_without_serve
now() { date +%s.%N; }

DATA=$TMP/data
start_server "$TMP/log1" --model "$MODEL" --data-dir "$DATA"

# ---- a real portrait and clip, against the CLI on the same inputs
t0=$(now)
code=$(req "$TMP/post.json" -F "photo=@$PHOTO" -F "driving=@$CLIP" -F max_frames=30 "$URL/api/jobs")
ID=$(jget "$TMP/post.json" id)
curl -s -N --max-time 300 "$URL/api/jobs/$ID/events" | grep -m1 -E '^event: (done|failed)' >/dev/null
t1=$(now)
st=$(wait_state "$ID")
check '[ "$code" = 201 ] && [ "$st" = done ]' "portrait + clip job ends done (got $code/$st: $(cat "$TMP/job.json"))"
check '[ "$(jget "$TMP/job.json" frames)" = 30 ]' "30 frames"
check '[ "$(req "$TMP/result.mp4" "$URL/api/jobs/$ID/result")" = 200 ] && [ "$(head -c 8 "$TMP/result.mp4" | tail -c 4)" = ftyp ]' "the result is an MP4"
check_frames "$TMP/result.mp4" 30
check '[ "$(req "$TMP/sb.png" "$URL/api/jobs/$ID/storyboard")" = 200 ]' "storyboard"
job_fps=$(jget "$TMP/job.json" fps)
queue_s=$(json "$TMP/job.json" 'round(d["started"] - d["created"], 2)')
c0=$(now)
"$CLI" animate --model "$MODEL" --source "$PHOTO" --driving "$CLIP" --max-frames 30 -o "$TMP/cli.mp4" \
  --storyboard "$TMP/cli_sb.png" -q
c1=$(now)
python3 -c "import sys; s,c=float(sys.argv[2])-float(sys.argv[1]),float(sys.argv[4])-float(sys.argv[3]); \
print(f'serve: 30-frame job {s:.2f} s from upload to done (waited {float(sys.argv[6]):.2f} s for the worker; job {float(sys.argv[5]):.1f} frames/s); CLI animate {c:.2f} s; ratio {s/c:.2f}')" \
  "$t0" "$t1" "$c0" "$c1" "$job_fps" "$queue_s"

# ---- the bundled demo
if [ -r models/demo_photo.png ] && [ -r models/demo.motion ]; then
  code=$(req "$TMP/post.json" -F demo=1 -F max_frames=20 "$URL/api/jobs")
  ID3=$(jget "$TMP/post.json" id)
  st=$(wait_state "$ID3")
  check '[ "$code" = 201 ] && [ "$st" = done ]' "the bundled demo job (demo=1) ends done ($code: $(cat "$TMP/job.json"))"
  check '[ "$(req /dev/null "$URL/api/demo/photo")" = 200 ]' "GET /api/demo/photo"
else
  echo "note: models/demo_photo.png or models/demo.motion absent; demo job not checked"
fi

# ---- a photo without a face
code=$(req "$TMP/post.json" -F "photo=@tests/fixtures/media/good.png" -F "driving=@$CLIP" -F max_frames=5 "$URL/api/jobs")
ID4=$(jget "$TMP/post.json" id)
st=$(wait_state "$ID4")
check '[ "$code" = 201 ] && [ "$st" = failed ] && grep -q "no face" "$TMP/job.json"' "a photo without a face fails, naming the problem ($code: $(cat "$TMP/job.json"))"
check '! grep -q "$DATA" "$TMP/job.json"' "the error does not name server paths"

# ---- SIGTERM while a job runs
code=$(req "$TMP/post.json" -F "photo=@$PHOTO" -F "driving=@$LONG" "$URL/api/jobs")
ID5=$(jget "$TMP/post.json" id)
stop_mid_job "$DATA" "$ID5" 120
start_server "$TMP/log2" --model "$MODEL" --data-dir "$DATA"
code=$(req "$TMP/job.json" "$URL/api/jobs/$ID5")
check '[ "$code" = 200 ] && [ "$(jget "$TMP/job.json" state)" = failed ] && grep -q "shut down" "$TMP/job.json"' "after a restart the stopped job is failed by the shutdown ($code: $(cat "$TMP/job.json"))"
check '[ "$(req /dev/null "$URL/api/jobs/$ID/result")" = 200 ]' "and the finished job's result is still served"
stop_server

cli_test_end
