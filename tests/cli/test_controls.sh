#!/bin/bash
# test_controls.sh - CLI test of the motion controls (include/reenact/directions.h) in `animate`, `eval`, `edit`,
# `directions`, `info` and `convert --drop-directions` (usage: test_controls.sh PATH/TO/reenact, cwd = repo root).
# Without ../shared: usage errors and out-of-range values exit 2 without output; a model without directions still
# animates and refuses the controls, naming the model to use; `edit` writes a PNG the size of the photo and changes
# it; `info` lists the directions; `directions` refuses bad input. With ../shared (skipped with a message otherwise),
# measured on 2 example portraits x the held-out clip lp_d0 (40 frames, --render crop): the default follows the
# driver's mouth (r >= 0.8), --lips 0 leaves the mouth nearly still (std under 0.25 of the default's, r under 0.35),
# --pose-only keeps yaw and pitch (r >= 0.45, >= 0.8) while the mouth barely moves (std under 0.35 of the
# default's), and --attr-drive off --motion-space full (the paper's plain arithmetic) runs; with the photo render
# (the default output), --lips 0 keeps the photo's lips still (std under 0.1 of the default's).
set -u
CLI=${1:?usage: test_controls.sh PATH/TO/reenact}
. "$(dirname "$0")/lib.sh"
cli_test_init controls
SHARED=../shared
MODEL=models/reenact-seed64.safetensors
PHOTO=models/demo_photo.png
MOTION=models/demo.motion
A=(--source "$PHOTO" --motion "$MOTION" --max-frames 6 -q)

# ---- usage errors: exit 2, nothing written
for bad in "--lips 5" "--lips -1" "--lips abc" "--eyes 4" "--smile 9" "--yaw 60" "--pitch -45" "--roll nan" \
           "--motion-space wide" "--attr-drive maybe" "--mouth open" "--pose-only --lips-only" "--debias=1"; do
  # shellcheck disable=SC2086
  expect_rc 2 "animate $bad" -- "$CLI" animate "${A[@]}" $bad -o "$TMP/bad.mp4"
  check '[ ! -e "$TMP/bad.mp4" ]' "animate $bad left an output"
done
expect_rc 2 "edit without a change" -- "$CLI" edit --source "$PHOTO" -o "$TMP/e.png"
expect_rc 2 "edit --smile out of range" -- "$CLI" edit --source "$PHOTO" --smile 4 -o "$TMP/e.png"
expect_rc 2 "edit without -o" -- "$CLI" edit --source "$PHOTO" --smile 1
expect_rc 2 "edit unknown option" -- "$CLI" edit --source "$PHOTO" --smile 1 --lips 0 -o "$TMP/e.png"
check '[ ! -e "$TMP/e.png" ]' "a failed edit left an output"
expect_rc 2 "eval --lips bad" -- "$CLI" eval --cross a.png --drivers b.mp4 --lips 7
expect_rc 2 "directions with one motion" -- "$CLI" directions --motion "$MOTION" -o "$TMP/d.safetensors"
expect_rc 1 "directions with a missing motion" -- "$CLI" directions --motion "$MOTION" "$TMP/none.motion" -o "$TMP/d.safetensors"
check '[ ! -e "$TMP/d.safetensors" ]' "a failed directions run left an output"

if [ ! -f "$MODEL" ]; then
  echo "SKIP: $MODEL missing (the rest needs the bundled model)"
  [ "$FAILS" = 0 ] || exit 1
  exit 77
fi

# ---- info lists the directions; a model without them still animates and refuses the controls
expect_rc 0 "info" -- "$CLI" info "$MODEL"
check 'grep -q "^directions:  8 attributes" "$TMP/out.txt" && grep -q "^  mouth " "$TMP/out.txt"' "info lists no directions"
expect_rc 0 "convert --drop-directions" -- "$CLI" convert "$MODEL" --drop-directions -o "$TMP/plain.safetensors"
expect_rc 0 "info on the plain model" -- "$CLI" info "$TMP/plain.safetensors"
check 'grep -q "^directions:  none" "$TMP/out.txt"' "the converted model still has directions"
expect_rc 0 "animate with a model without directions" -- "$CLI" animate --model "$TMP/plain.safetensors" "${A[@]}" -o "$TMP/plain.mp4"
check '[ -s "$TMP/plain.mp4" ]' "no output from the plain model"
expect_rc 2 "--lips with a model without directions" -- "$CLI" animate --model "$TMP/plain.safetensors" "${A[@]}" --lips 0 -o "$TMP/x.mp4"
check 'grep -q "need a model with directions" "$TMP/err.txt" && grep -q "reenact-seed64" "$TMP/err.txt"' "the error does not name the model to use"
check '[ ! -e "$TMP/x.mp4" ]' "a refused animate left an output"
expect_rc 2 "edit with a model without directions" -- "$CLI" edit --model "$TMP/plain.safetensors" --source "$PHOTO" --smile 1 -o "$TMP/x.png"

# ---- animate with controls runs; edit changes the photo and keeps its size
for ok in "--lips 0" "--eyes 1.5" "--smile 1 --yaw 10" "--expression-only" "--pose-only" "--lips-only" "--eyes-only" \
          "--motion-space full" "--attr-drive off" "--mouth relative" "--debias"; do
  # shellcheck disable=SC2086
  expect_rc 0 "animate $ok" -- "$CLI" animate "${A[@]}" $ok -o "$TMP/ok.mp4"
  check '[ -s "$TMP/ok.mp4" ]' "animate $ok wrote nothing"
  rm -f "$TMP/ok.mp4"
done
expect_rc 0 "edit --smile 2" -- "$CLI" edit --source "$PHOTO" --smile 2 -o "$TMP/smile.png"
expect_rc 0 "edit --yaw -15" -- "$CLI" edit --source "$PHOTO" --yaw -15 -o "$TMP/yaw.png"
check '[ "$(png_size "$TMP/smile.png")" = "$(png_size "$PHOTO")" ]' "edit changed the photo's size: $(png_size "$TMP/smile.png" 2>/dev/null)"
check '! cmp -s "$TMP/smile.png" "$TMP/yaw.png"' "two different edits gave the same picture"
expect_rc 0 "edit --face-only" -- "$CLI" edit --source "$PHOTO" --smile 1 --face-only --size 128 -o "$TMP/face.png"
check '[ "$(png_size "$TMP/face.png")" = "128 128" ]' "edit --face-only --size 128 is $(png_size "$TMP/face.png" 2>/dev/null)"
check '[ -z "$(ls "$TMP" | grep "\.tmp\.")" ]' "edit left temporary files"

# ---- the measured effects (needs ../shared)
DRV=$SHARED/data/examples/driving/lp_d0.mp4
P1=$SHARED/data/examples/portraits/fomm_01.png
P2=$SHARED/data/examples/portraits/lp_s2.jpg
if [ ! -f "$DRV" ] || [ ! -f "$P1" ] || [ ! -f "$P2" ] || ! command -v python3 >/dev/null; then
  echo "SKIP: ../shared example clips or python3 missing; the measured effects of the controls are not checked"
else
  E=(eval --cross "$P1" "$P2" --drivers "$DRV" --max-frames 40 --render crop -q)
  run_eval() { local name=$1; shift; expect_rc 0 "eval $name" -- "$CLI" "${E[@]}" "$@" --json "$TMP/$name.json"; }
  mean() { json_get "$TMP/$1.json" "sum(p['corr']['$2'] for p in j['cross_identity']['pairs'])/len(j['cross_identity']['pairs'])"; }
  meanstd() { json_get "$TMP/$1.json" "sum(p['output_std']['$2'] for p in j['cross_identity']['pairs'])/len(j['cross_identity']['pairs'])"; }
  run_eval default
  run_eval lips0 --lips 0
  run_eval pose --pose-only
  run_eval plain --attr-drive off --motion-space full
  m_def=$(mean default mouth_open); m_l0=$(mean lips0 mouth_open); m_plain=$(mean plain mouth_open)
  y_pose=$(mean pose yaw); p_pose=$(mean pose pitch)
  s_def=$(meanstd default mouth_open); s_pose=$(meanstd pose mouth_open); s_l0=$(meanstd lips0 mouth_open)
  echo "mouth r: default $m_def, --lips 0 $m_l0, plain $m_plain; mouth std: default $s_def, --lips 0 $s_l0," \
       "--pose-only $s_pose; --pose-only yaw $y_pose pitch $p_pose"
  # measured here (AMD EPYC): default 0.987; --lips 0 r 0.22 and std 0.017 vs 0.127 (0.198 and 0.012 before the
  # rest of the motion was cleaned of attribute content; over 72 pairs that cleaning took r from 0.375 to 0.212);
  # --pose-only yaw 0.62, pitch 0.99, mouth std 0.004. The thresholds leave room for another CPU's dlib and float rounding.
  check "python3 -c 'import sys; sys.exit(not $m_def >= 0.8)'" "default mouth correlation $m_def < 0.8"
  check "python3 -c 'import sys; sys.exit(not (abs($m_l0) < 0.35 and $s_l0 < 0.25 * $s_def))'" \
    "--lips 0: mouth r $m_l0 (want < 0.35), std $s_l0 (want < 0.25 x the default's $s_def)"
  check "python3 -c 'import sys; sys.exit(not ($y_pose >= 0.45 and $p_pose >= 0.8))'" "--pose-only yaw $y_pose pitch $p_pose"
  check "python3 -c 'import sys; sys.exit(not $s_pose < 0.35 * $s_def)'" "--pose-only mouth std $s_pose, default $s_def"
  check "[ \"\$(json_get \"$TMP/default.json\" \"len(j['cross_identity']['pairs'])\")\" = 2 ]" "eval did not measure 2 pairs"
  # the photo render (the default output): --lips 0 keeps the photo's own lips still (re_render_set_parts). Measured
  # here (AMD EPYC): mouth std 0.0031 and 0.0040 against 0.1375 and 0.0847 by default; with only the latent frozen,
  # the median over 72 pairs was 0.24 of the default's
  E=(eval --cross "$P1" "$P2" --drivers "$DRV" --max-frames 40 -q)
  run_eval photo
  run_eval photo_lips0 --lips 0
  s_ph=$(meanstd photo mouth_open); s_ph0=$(meanstd photo_lips0 mouth_open); m_ph=$(mean photo mouth_open)
  echo "photo render: mouth r $m_ph, std $s_ph; --lips 0 std $s_ph0"
  check "python3 -c 'import sys; sys.exit(not ($m_ph >= 0.8 and $s_ph0 < 0.1 * $s_ph))'" \
    "photo render: default mouth r $m_ph (want >= 0.8), --lips 0 std $s_ph0 (want < 0.1 x $s_ph)"
fi

cli_test_end
