#!/bin/bash
# test_animate.sh - CLI test of `reenact animate`, `reenact motion extract|info` and `reenact demo`
# (usage: test_animate.sh PATH/TO/reenact, cwd = repo root).
# Checks: usage errors exit 2; runtime failures (missing files, not a video, zero frames, unwritable output, a photo
# without a face, a motion file from another model) exit 1 with a message naming the file and leave no output or temp
# file; on clips this test writes itself (untrained seed64 model from `tests/test_anim --write-model`, aligned mode, so
# no real face is needed) the output has the driver's frame count and rate, the requested size and format, and the
# driver's audio unless --no-audio; motion files round trip. With ../shared, every example portrait is animated with
# one example driver (first 50 frames) and the frame count, frame rate and audio track are checked, plus --ref best,
# --paste-back, --side-by-side, motion files from a real face, and a photo with two faces.
set -u
CLI=${1:?usage: test_animate.sh PATH/TO/reenact}
. "$(dirname "$0")/lib.sh"
cli_test_init animate
TOOL=$(dirname "$CLI")/tests/test_anim
SHARED=../shared
# no file in DIR whose name starts with PREFIX (outputs and writer temp files)
none_left() { ! ls -A "$1" 2>/dev/null | grep -q "^$2"; }
have_probe=0; command -v ffprobe >/dev/null 2>&1 && have_probe=1
have_ffmpeg=0; command -v ffmpeg >/dev/null 2>&1 && have_ffmpeg=1
rate() { ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 "$1"; }
vsize() { ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$1"; }
audio() { ffprobe -v error -select_streams a -show_entries stream=codec_type -of csv=p=0 "$1" | head -1; }

# ---- usage errors (exit 2), help (exit 0), no model needed
expect_rc 2 "animate without arguments" -- "$CLI" animate
expect_rc 2 "animate without --source" -- "$CLI" animate --driving a.mp4 -o "$TMP/o.mp4"
expect_rc 2 "animate without a driver" -- "$CLI" animate --source a.png -o "$TMP/o.mp4"
expect_rc 2 "animate with --driving and --motion" -- "$CLI" animate --source a.png --driving a.mp4 --motion m.motion -o "$TMP/o.mp4"
expect_rc 2 "animate without -o" -- "$CLI" animate --source a.png --driving a.mp4
expect_rc 2 "animate unknown option" -- "$CLI" animate --source a.png --driving a.mp4 -o "$TMP/o.mp4" --bogus
expect_rc 2 "animate bad --strength" -- "$CLI" animate --source a.png --driving a.mp4 -o "$TMP/o.mp4" --strength abc
expect_rc 2 "animate bad --ref" -- "$CLI" animate --source a.png --driving a.mp4 -o "$TMP/o.mp4" --ref middle
expect_rc 2 "animate bad --format" -- "$CLI" animate --source a.png --driving a.mp4 -o "$TMP/o.mp4" --format avi
expect_rc 2 "animate bad --size" -- "$CLI" animate --source a.png --driving a.mp4 -o "$TMP/o.mp4" --size 3
expect_rc 2 "animate --ref best with --aligned" -- "$CLI" animate --source a.png --driving a.mp4 -o "$TMP/o.mp4" --ref best --aligned
expect_rc 2 "animate --strength without value" -- "$CLI" animate --source a.png --driving a.mp4 -o "$TMP/o.mp4" --strength
expect_rc 0 "animate --help" -- "$CLI" animate --help && check 'grep -q -- "--paste-back" "$TMP/out.txt"' "help lists --paste-back"
expect_rc 2 "motion without subcommand" -- "$CLI" motion
expect_rc 2 "motion unknown subcommand" -- "$CLI" motion compress
expect_rc 2 "motion extract without -o" -- "$CLI" motion extract --driving a.mp4
expect_rc 2 "motion extract without --driving" -- "$CLI" motion extract -o "$TMP/a.motion"
expect_rc 0 "motion --help" -- "$CLI" motion --help
expect_rc 2 "demo unknown option" -- "$CLI" demo --bogus
expect_rc 0 "demo --help" -- "$CLI" demo --help
check none_left\ "$TMP"\ o.mp4 "usage errors wrote nothing"

# ---- model and clips
if [ ! -x "$TOOL" ]; then
  echo "SKIP: $TOOL not built; model-dependent checks skipped"
  [ $FAILS -eq 0 ] || { echo "$FAILS of $CHECKS checks FAILED" >&2; exit 1; }
  echo "ok: $CHECKS checks"; exit 0
fi
M=$TMP/model.safetensors
M2=$TMP/other.safetensors
"$TOOL" --write-model "$M" 17 && "$TOOL" --write-model "$M2" 18 || { echo "FAIL: cannot write test models" >&2; exit 1; }
"$TOOL" --write-clip "$TMP/clip.mp4" 12 || { echo "FAIL: cannot write the test clip" >&2; exit 1; }
cp tests/fixtures/media/good.png "$TMP/src.png"
SRC=$TMP/src.png
CLIP=$TMP/clip.mp4

expect_rc 1 "missing model" -- "$CLI" animate --model "$TMP/none.safetensors" --source "$SRC" --driving "$CLIP" -o "$TMP/o.mp4" --aligned
check 'grep -q "none.safetensors" "$TMP/err.txt"' "missing-model error names the file"
expect_rc 1 "demo with a missing model" -- "$CLI" demo --model "$TMP/none.safetensors" -o "$TMP/demo"
check 'grep -q "none.safetensors" "$TMP/err.txt" && grep -qi "missing" "$TMP/err.txt"' "demo says the model is missing"
expect_rc 1 "demo without demo.motion" -- "$CLI" demo --model "$M" -o "$TMP/demo"
check 'grep -q "demo.motion" "$TMP/err.txt"' "demo names the missing motion"

# ---- bad inputs: exit 1, message naming the file, nothing left behind
expect_rc 1 "missing source" -- "$CLI" animate --model "$M" --source "$TMP/nope.png" --driving "$CLIP" -o "$TMP/bad_o.mp4" --aligned
check 'grep -q "nope.png" "$TMP/err.txt"' "missing source named"
expect_rc 1 "source not an image" -- "$CLI" animate --model "$M" --source tests/fixtures/media/not_an_image.png --driving "$CLIP" -o "$TMP/bad_o.mp4" --aligned
check 'grep -q "not_an_image.png" "$TMP/err.txt"' "bad source named"
expect_rc 1 "source over the pixel limit" -- "$CLI" animate --model "$M" --source tests/fixtures/media/huge_dims.png --driving "$CLIP" -o "$TMP/bad_o.mp4" --aligned
check 'grep -q "huge_dims.png" "$TMP/err.txt"' "huge source named"
expect_rc 1 "missing driver" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$TMP/nope.mp4" -o "$TMP/bad_o.mp4" --aligned
check 'grep -q "nope.mp4" "$TMP/err.txt"' "missing driver named"
expect_rc 1 "driver not a video" -- "$CLI" animate --model "$M" --source "$SRC" --driving tests/fixtures/media/not_a_video.mp4 -o "$TMP/bad_o.mp4" --aligned
check 'grep -q "not_a_video.mp4" "$TMP/err.txt"' "bad driver named"
expect_rc 1 "zero-frame driver" -- "$CLI" animate --model "$M" --source "$SRC" --driving tests/fixtures/media/no_frames.mp4 -o "$TMP/bad_o.mp4" --aligned
check 'grep -q "no_frames.mp4" "$TMP/err.txt"' "zero-frame driver named"
expect_rc 1 "output in a missing directory" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/no/such/o.mp4" --aligned
check 'grep -q "no/such/o.mp4" "$TMP/err.txt"' "bad output named"
mkdir "$TMP/ro" && chmod a-w "$TMP/ro"
if [ ! -w "$TMP/ro" ]; then
  expect_rc 1 "output in a read-only directory" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/ro/bad_o.mp4" --aligned
  check '[ -z "$(ls -A "$TMP/ro")" ]' "nothing written into the read-only directory"
else
  echo "SKIP: read-only directory check (running as a user who can write anywhere)"
fi
expect_rc 1 "motion extract of a non-video" -- "$CLI" motion extract --model "$M" --driving tests/fixtures/media/not_a_video.mp4 -o "$TMP/bad_o.motion" --aligned
expect_rc 1 "motion info of a non-motion file" -- "$CLI" motion info "$M"
check 'grep -q "not a motion file" "$TMP/err.txt"' "a model is not a motion file"
check none_left\ "$TMP"\ bad_ "failed runs left no output or temp file"
if [ -r "${REENACT_DLIB_MODEL:-/usr/share/dlib/shape_predictor_68_face_landmarks.dat}" ]; then
  expect_rc 1 "photo without a face" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/bad_o.mp4"
  check 'grep -q "no face" "$TMP/err.txt" && grep -q "src.png" "$TMP/err.txt"' "no-face error names the photo"
  check none_left\ "$TMP"\ bad_ "no output after a no-face failure"
fi

# ---- truncated driver: the frames that decode are used
expect_rc 0 "truncated driver" -- "$CLI" animate --model "$M" --source "$SRC" --driving tests/fixtures/media/truncated.mp4 -o "$TMP/t.mp4" --aligned -q
if [ $have_probe = 1 ] && [ -f "$TMP/t.mp4" ]; then
  want=$(frames tests/fixtures/media/truncated.mp4)
  check '[ "$(frames "$TMP/t.mp4")" = "$want" ]' "truncated driver: $want frames expected"
fi

# ---- rendering options
expect_rc 2 "--render bad" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/bad_r.mp4" --render pixels
check 'grep -q "photo or model" "$TMP/err.txt"' "--render names its values"
expect_rc 2 "--field bad" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/bad_r.mp4" --field mesh
expect_rc 2 "--residual out of range" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/bad_r.mp4" --residual 5
expect_rc 2 "--motion-scale not a number" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/bad_r.mp4" --motion-scale x
check none_left\ "$TMP"\ bad_r "no output after usage errors"
if [ $have_probe = 1 ]; then
  expect_rc 0 "--render model" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/rm_model.mp4" --aligned --render model -q
  check '[ "$(vsize "$TMP/rm_model.mp4")" = 256x256 ]' "--render model: default size 256"
  expect_rc 0 "--field flow --size 96" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/rm_flow.mp4" --aligned --field flow --size 96 -q
  check '[ "$(vsize "$TMP/rm_flow.mp4")" = 96x96 ]' "--size sets the face-only output"
fi

# ---- synthetic clip, aligned mode
expect_rc 0 "animate a clip" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/a.mp4" --aligned --storyboard "$TMP/a_sb.png" --every 4
check 'grep -q "12 frames" "$TMP/out.txt"' "summary gives the frame count"
check 'grep -q "fps" "$TMP/err.txt"' "progress with fps on stderr"
check '[ "$(png_size "$TMP/a_sb.png" x)" = "392x262" ]' "storyboard 3 columns x 2 rows of 128 (got $(png_size "$TMP/a_sb.png" x 2>/dev/null))"
if [ $have_probe = 1 ]; then
  check '[ "$(frames "$TMP/a.mp4")" = 12 ]' "12 frames in a.mp4"
  check '[ "$(rate "$TMP/a.mp4")" = 25/1 ]' "25 fps kept"
  # default size: the face's own size in the photo (--aligned: the photo's central square), 64..1024
  NAT=$(png_size "$SRC" x | awk -Fx '{s = $1 < $2 ? $1 : $2; s = 2 * int(s / 2 + 0.5); if (s < 64) s = 64; if (s > 1024) s = 1024; print s}')
  check '[ "$(vsize "$TMP/a.mp4")" = ${NAT}x${NAT} ]' "default size: the face's own, ${NAT}x${NAT} (got $(vsize "$TMP/a.mp4"))"
fi
expect_rc 0 "animate to webm, --size 128, side by side, no pipeline" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/b.webm" --aligned --size 128 --side-by-side --no-pipeline -q
[ $have_probe = 1 ] && check '[ "$(vsize "$TMP/b.webm")" = 256x128 ] && [ "$(frames "$TMP/b.webm")" = 12 ]' "webm side by side 256x128, 12 frames"
expect_rc 0 "animate to gif" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/c.gif" --aligned --size 64 --max-frames 5 -q
[ $have_probe = 1 ] && check '[ "$(frames "$TMP/c.gif")" = 5 ]' "gif with --max-frames 5 has 5 frames"
expect_rc 0 "animate to png frames" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/pngs" --format png --aligned --size 64 -q
check '[ "$(ls "$TMP/pngs" | grep -c "^frame_.*\.png$")" = 12 ]' "12 PNG frames"
check '[ "$(png_size "$TMP/pngs/frame_00001.png" x)" = 64x64 ]' "PNG frames are 64x64"
expect_rc 0 "--sample --seed --strength --no-smooth" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$CLIP" -o "$TMP/d.mp4" --aligned --sample --seed 3 --strength 2 --no-smooth -q

# ---- audio
if [ $have_ffmpeg = 1 ] && [ $have_probe = 1 ]; then
  ffmpeg -v error -y -i "$CLIP" -f lavfi -i "sine=frequency=440:duration=1" -c:v copy -c:a aac -shortest "$TMP/clip_a.mp4"
  expect_rc 0 "animate a clip with audio" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$TMP/clip_a.mp4" -o "$TMP/e.mp4" --aligned -q
  check '[ "$(audio "$TMP/e.mp4")" = audio ]' "audio copied from the driver"
  expect_rc 0 "--no-audio" -- "$CLI" animate --model "$M" --source "$SRC" --driving "$TMP/clip_a.mp4" -o "$TMP/f.mp4" --aligned --no-audio -q
  check '[ -z "$(audio "$TMP/f.mp4")" ]' "--no-audio drops the audio"
  # ---- motion files
  expect_rc 0 "motion extract" -- "$CLI" motion extract --model "$M" --driving "$TMP/clip_a.mp4" -o "$TMP/m.motion" --aligned
  check 'grep -q "12 frames" "$TMP/out.txt"' "motion extract summary"
  expect_rc 0 "motion info" -- "$CLI" motion info "$TMP/m.motion"
  check 'grep -q "12 at 25/1" "$TMP/out.txt" && grep -q "clip_a.mp4" "$TMP/out.txt"' "motion info: frames, fps, audio source"
  expect_rc 0 "animate from a motion file" -- "$CLI" animate --model "$M" --source "$SRC" --motion "$TMP/m.motion" -o "$TMP/g.mp4" --aligned --side-by-side --storyboard "$TMP/g_sb.png" -q
  check '[ "$(frames "$TMP/g.mp4")" = 12 ] && [ "$(rate "$TMP/g.mp4")" = 25/1 ] && [ "$(audio "$TMP/g.mp4")" = audio ]' "motion animation: 12 frames, 25 fps, audio"
  check '[ "$(vsize "$TMP/g.mp4")" = $((2 * NAT))x${NAT} ]' "motion side by side $((2 * NAT))x${NAT}"
  # the audio travels inside the motion file: still there when the driving clip is gone
  expect_rc 0 "motion info (audio)" -- "$CLI" motion info "$TMP/m.motion"
  check 'grep -q "audio:      embedded (Matroska" "$TMP/out.txt"' "motion file embeds the driver's audio"
  mv "$TMP/clip_a.mp4" "$TMP/clip_a_moved.mp4"
  mkdir -p "$TMP/tmpd"
  expect_rc 0 "animate from a motion file whose driver is gone" -- env TMPDIR="$TMP/tmpd" "$CLI" animate --model "$M" --source "$SRC" --motion "$TMP/m.motion" -o "$TMP/g2.mp4" --aligned -q
  check '[ "$(audio "$TMP/g2.mp4")" = audio ]' "embedded audio written without the driving clip"
  check '[ -z "$(ls -A "$TMP/tmpd")" ]' "no temporary audio file left behind"
  mv "$TMP/clip_a_moved.mp4" "$TMP/clip_a.mp4"
  expect_rc 0 "motion extract --no-audio" -- "$CLI" motion extract --model "$M" --driving "$TMP/clip_a.mp4" -o "$TMP/m_na.motion" --aligned --no-audio -q
  expect_rc 0 "motion info (no audio)" -- "$CLI" motion info "$TMP/m_na.motion"
  check 'grep -q "audio:      (none)" "$TMP/out.txt"' "--no-audio: no audio stored"
  expect_rc 1 "motion file from another model" -- "$CLI" animate --model "$M2" --source "$SRC" --motion "$TMP/m.motion" -o "$TMP/bad_m.mp4" --aligned
  check none_left\ "$TMP"\ bad_ "no output after a model mismatch"
  check 'grep -q "another model" "$TMP/err.txt" && grep -q "m.motion" "$TMP/err.txt"' "model mismatch explained"
  # ---- demo with a model directory holding demo.motion (no demo_face.png: the mean face is used)
  mkdir -p "$TMP/models" && cp "$M" "$TMP/models/reenact-seed64.safetensors" && cp "$TMP/m.motion" "$TMP/models/demo.motion"
  expect_rc 0 "demo" -- "$CLI" demo --model "$TMP/models/reenact-seed64.safetensors" -o "$TMP/demo" -q
  check '[ -s "$TMP/demo/demo.mp4" ] && [ -s "$TMP/demo/demo_storyboard.png" ] && grep -q "demo.mp4" "$TMP/out.txt"' "demo wrote and named its outputs"
  [ -s "$TMP/demo/demo.mp4" ] && check '[ "$(frames "$TMP/demo/demo.mp4")" = 12 ]' "demo video has the motion's 12 frames"
else
  echo "SKIP: audio and motion checks need ffmpeg and ffprobe"
fi

# ---- real faces (../shared)
if [ -d "$SHARED/data/examples/portraits" ] && [ -d "$SHARED/data/examples/driving" ]; then
  DRV=$SHARED/data/examples/driving/lp_d11.mp4   # 512x512, 25 fps, with audio
  n=0
  for p in "$SHARED"/data/examples/portraits/*; do
    n=$((n + 1))
    out=$TMP/portrait_$n.mp4
    if expect_rc 0 "animate $(basename "$p")" -- "$CLI" animate --model "$M" --source "$p" --driving "$DRV" -o "$out" --max-frames 50 -q; then
      if [ $have_probe = 1 ]; then
        check '[ "$(frames "$out")" = 50 ]' "$(basename "$p"): 50 frames (got $(frames "$out"))"
        check '[ "$(rate "$out")" = 25/1 ]' "$(basename "$p"): 25 fps (got $(rate "$out"))"
        check '[ "$(audio "$out")" = audio ]' "$(basename "$p"): audio track"
      fi
    fi
    rm -f "$out"
  done
  P=$SHARED/data/examples/portraits/lp_s1.jpg
  expect_rc 0 "--ref best --paste-back --side-by-side" -- "$CLI" animate --model "$M" --source "$P" --driving "$DRV" -o "$TMP/r.mp4" --max-frames 30 --ref best --paste-back --side-by-side
  check 'grep -q "reference frame [0-9]* (best)" "$TMP/out.txt"' "best reference frame reported"
  # --ref pose (the default): with a model that has directions, the head's pose is measured from the best frame;
  # a model without them (M) and --ref first keep the first frame for everything
  expect_rc 0 "--ref pose (default), bundled model" -- "$CLI" animate --model models/reenact-seed64.safetensors --source "$P" --driving "$DRV" -o "$TMP/rp.mp4" --max-frames 30
  check 'grep -q "reference frame [0-9]* (first), head pose from frame [0-9]* (best)" "$TMP/out.txt"' "pose reference frame reported"
  expect_rc 0 "--ref first, bundled model" -- "$CLI" animate --model models/reenact-seed64.safetensors --source "$P" --driving "$DRV" -o "$TMP/rp.mp4" --max-frames 30 --ref first
  check 'grep -q "reference frame 0 (first)" "$TMP/out.txt" && ! grep -q "head pose" "$TMP/out.txt"' "--ref first: no pose reference"
  expect_rc 0 "--ref pose, model without directions" -- "$CLI" animate --model "$M" --source "$P" --driving "$DRV" -o "$TMP/rp.mp4" --max-frames 30
  check '! grep -q "head pose" "$TMP/out.txt"' "no directions: --ref pose is --ref first"
  expect_rc 0 "motion extract of a real driver" -- "$CLI" motion extract --model "$M" --driving "$DRV" -o "$TMP/real.motion" --max-frames 40 -q
  expect_rc 0 "--motion --ref best" -- "$CLI" animate --model "$M" --source "$P" --motion "$TMP/real.motion" -o "$TMP/rm.mp4" --ref best -q
  [ $have_probe = 1 ] && check '[ "$(frames "$TMP/rm.mp4")" = 40 ] && [ "$(audio "$TMP/rm.mp4")" = audio ]' "real motion: 40 frames with audio"
  if [ $have_ffmpeg = 1 ]; then
    ffmpeg -v error -y -i "$SHARED/data/examples/portraits/fomm_01.png" -i "$SHARED/data/examples/portraits/fomm_02.png" \
      -filter_complex "[0]scale=300:300[a];[1]scale=240:240,pad=240:300:0:30[b];[a][b]hstack" "$TMP/two.png"
    expect_rc 0 "photo with two faces" -- "$CLI" animate --model "$M" --source "$TMP/two.png" --driving "$DRV" -o "$TMP/two.mp4" --max-frames 10 -q
    check 'grep -q "2 faces" "$TMP/err.txt" && grep -q "largest" "$TMP/err.txt"' "several faces: warns and picks the largest"
  fi
else
  echo "SKIP: ../shared not found; real-face checks skipped"
fi

cli_test_end
