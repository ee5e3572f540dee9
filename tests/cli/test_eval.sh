#!/bin/bash
# test_eval.sh - CLI test of `reenact reconstruct` and `reenact eval` (usage: test_eval.sh PATH/TO/reenact, cwd = repo
# root). Usage errors exit 2, runtime failures exit 1 without leaving output files; with a model, reconstruct writes a
# grid of the expected size and eval writes the documented JSON (docs/FORMAT.md, "eval JSON") for pre-cropped faces;
# with ../shared also for aligned faces, a clip (self-reenactment) and a portrait x driver pair (cross-identity).
# The model: $REENACT_TEST_MODEL, else an untrained seed64 model written by `tests/test_metrics --write-model` next
# to the CLI (outputs are meaningless but every code path runs), else the bundled models/reenact-seed64.safetensors;
# without any of them the model-dependent part is skipped with a message.
set -u
CLI=${1:?usage: test_eval.sh PATH/TO/reenact}
. "$(dirname "$0")/lib.sh"
cli_test_init eval
SHARED=../shared

# ---- usage errors (exit 2) and failures (exit 1), no model needed
expect_rc 2 "eval without inputs" -- "$CLI" eval --model "$TMP/none.safetensors"
expect_rc 2 "eval unknown option" -- "$CLI" eval --faces . --bogus
expect_rc 2 "eval --cross without --drivers" -- "$CLI" eval --cross a.png
expect_rc 2 "eval --faces with --dataset" -- "$CLI" eval --faces . --dataset x.rds
expect_rc 2 "eval bad --max-frames" -- "$CLI" eval --clips x.mp4 --max-frames -3
expect_rc 2 "eval stray argument" -- "$CLI" eval --faces . extra
expect_rc 2 "eval --smooth-cutoff 0" -- "$CLI" eval --clips x.mp4 --smooth-cutoff 0
expect_rc 2 "eval --smooth-beta -1" -- "$CLI" eval --clips x.mp4 --smooth-beta -1
expect_rc 2 "eval --render bad" -- "$CLI" eval --cross a.png --drivers b.mp4 --render pixels
check 'grep -q "photo, model or crop" "$TMP/err.txt"' "--render names its values"
expect_rc 2 "eval --ref bad" -- "$CLI" eval --cross a.png --drivers b.mp4 --ref last
expect_rc 2 "eval --max-side 10" -- "$CLI" eval --cross a.png --drivers b.mp4 --max-side 10
expect_rc 2 "eval --eye-motion 5" -- "$CLI" eval --cross a.png --drivers b.mp4 --eye-motion 5
expect_rc 1 "eval --id-model missing" -- "$CLI" eval --cross tests/fixtures/media/good.png --drivers tests/fixtures/media/good.png --id-model "$TMP/no_such.dat"
check 'grep -q "no_such.dat" "$TMP/err.txt"' "missing --id-model named"
expect_rc 0 "eval --help" -- "$CLI" eval --help && check 'grep -q -- "--drivers" "$TMP/out.txt"' "eval --help lists --drivers"
expect_rc 2 "reconstruct without -o" -- "$CLI" reconstruct tests/fixtures/media/good.png
expect_rc 2 "reconstruct without images" -- "$CLI" reconstruct -o "$TMP/g.png"
expect_rc 2 "reconstruct bad --cols" -- "$CLI" reconstruct --cols 0 a.png -o "$TMP/g.png"
expect_rc 0 "reconstruct --help" -- "$CLI" reconstruct --help
expect_rc 1 "eval missing faces dir" -- "$CLI" eval --faces "$TMP/no_such_dir" --json "$TMP/x.json"
check '[ ! -e "$TMP/x.json" ]' "no JSON after a failed eval"
expect_rc 1 "eval missing model" -- "$CLI" eval --model "$TMP/none.safetensors" --faces tests/fixtures/media
check 'grep -q "none.safetensors" "$TMP/err.txt"' "missing-model error names the file"
expect_rc 1 "reconstruct missing model" -- "$CLI" reconstruct --model "$TMP/none.safetensors" tests/fixtures/media/good.png -o "$TMP/g.png"

# ---- a model
MODEL=${REENACT_TEST_MODEL:-}
WRITER=$(dirname "$CLI")/tests/test_metrics
if [ -z "$MODEL" ] && [ -x "$WRITER" ]; then
  if "$WRITER" --write-model "$TMP/model.safetensors"; then MODEL=$TMP/model.safetensors; fi
fi
if [ -z "$MODEL" ] && [ -f models/reenact-seed64.safetensors ]; then MODEL=models/reenact-seed64.safetensors; fi
if [ -z "$MODEL" ]; then
  echo "SKIP: no model (set REENACT_TEST_MODEL, build tests/test_metrics, or ship models/reenact-seed64.safetensors)"
  echo "model-independent checks: $CHECKS run, $FAILS failed"
  [ "$FAILS" = 0 ] || exit 1
  exit 0
fi
echo "model: $MODEL"

# pre-cropped faces without detection: any image works with --no-align
mkdir -p "$TMP/faces"
cp tests/fixtures/media/good.png "$TMP/faces/a.png"
cp tests/fixtures/media/good.png "$TMP/faces/b.PNG"
cp tests/fixtures/media/not_an_image.png "$TMP/faces/c.png"
echo "not an image" > "$TMP/faces/notes.txt"
if expect_rc 0 "eval --no-align on pre-cropped faces" -- "$CLI" eval --model "$MODEL" --faces "$TMP/faces" --no-align -q \
     --json "$TMP/nA.json"; then
  check '[ -s "$TMP/nA.json" ]' "eval wrote JSON"
  check 'grep -q "unreadable" "$TMP/err.txt"' "unreadable face file warned about"
  check 'grep -q "^reconstruction:" "$TMP/out.txt" && grep -q "SSIM" "$TMP/out.txt"' "eval summary on stdout"
  if [ $have_py = 1 ]; then
    check '[ "$(json_get "$TMP/nA.json" "j[\"format\"], j[\"format_version\"], j[\"reconstruction\"][\"images\"], j[\"reconstruction\"][\"unreadable\"], j[\"reconstruction\"][\"source\"][\"images_listed\"], j[\"self_reenactment\"], j[\"cross_identity\"]")" = "reenact-eval 1 2 1 3 None None" ]' \
      "JSON header and counts ($(json_get "$TMP/nA.json" "j['reconstruction']['images'], j['reconstruction']['unreadable']" 2>&1))"
    check '[ "$(json_get "$TMP/nA.json" "all(-1 <= j[\"reconstruction\"][\"ssim\"][k] <= 1 for k in (\"mean\",\"min\",\"max\")) and j[\"reconstruction\"][\"l1\"][\"n\"] == 2 and 0 <= j[\"reconstruction\"][\"l1\"][\"mean\"] <= 1 and j[\"reconstruction\"][\"psnr\"][\"mean\"] > 0 and len(j[\"model\"][\"data_sha256\"]) == 64")" = True ]' \
      "JSON metric values in range"
  fi
fi
if expect_rc 0 "reconstruct --no-align" -- "$CLI" reconstruct --model "$MODEL" --no-align --scale 1 --cols 1 \
     tests/fixtures/media/good.png tests/fixtures/media/good.png -o "$TMP/g1.png"; then
  # 2 images, 1 column, 64px tiles, gap 2: width 64+2*2 = 68, height 2 pairs * (2*64 + 2*2) + 2 = 266
  check '[ "$(png_size "$TMP/g1.png")" = "68 266" ]' "grid size $(png_size "$TMP/g1.png"), want 68 266"
  check '[ "$(grep -c "good.png" "$TMP/out.txt")" = 2 ]' "one metrics line per image"
fi
expect_rc 1 "reconstruct to an unwritable path" -- "$CLI" reconstruct --model "$MODEL" --no-align tests/fixtures/media/good.png \
  -o "$TMP/no_such_dir/g.png"
check '[ ! -e "$TMP/no_such_dir" ]' "no output after a failed write"
expect_rc 1 "reconstruct unreadable image" -- "$CLI" reconstruct --model "$MODEL" --no-align tests/fixtures/media/not_an_image.png \
  -o "$TMP/g2.png"
check '[ ! -e "$TMP/g2.png" ]' "no grid after a failed reconstruct"

# ---- a packed dataset (made by `reenact dataset synth` when this build has it)
if "$CLI" dataset synth -o "$TMP/s.rds" --count 48 --groups 6 --res 64 >/dev/null 2>&1; then
  if expect_rc 0 "eval --dataset (validation split)" -- "$CLI" eval --model "$MODEL" --dataset "$TMP/s.rds" \
       --val-fraction 0.2 -q --json "$TMP/ds.json" && [ $have_py = 1 ]; then
    check '[ "$(json_get "$TMP/ds.json" "j[\"reconstruction\"][\"source\"][\"kind\"], j[\"reconstruction\"][\"source\"][\"split\"], j[\"reconstruction\"][\"source\"][\"val_fraction\"], 0 < j[\"reconstruction\"][\"images\"] == j[\"reconstruction\"][\"source\"][\"images_listed\"] < 48")" = "dataset val 0.2 True" ]' \
      "dataset validation split in JSON"
  fi
  if expect_rc 0 "eval --dataset --split all" -- "$CLI" eval --model "$MODEL" --dataset "$TMP/s.rds" --split all \
       --max-images 5 -q --json "$TMP/ds2.json" && [ $have_py = 1 ]; then
    check '[ "$(json_get "$TMP/ds2.json" "j[\"reconstruction\"][\"source\"][\"images_listed\"], j[\"reconstruction\"][\"images\"], j[\"reconstruction\"][\"ssim\"][\"n\"]")" = "48 5 5" ]' \
      "dataset --split all --max-images 5 in JSON"
  fi
  expect_rc 2 "eval bad --split" -- "$CLI" eval --model "$MODEL" --dataset "$TMP/s.rds" --split train
else
  echo "SKIP: 'reenact dataset synth' unavailable in this build (dataset part)"
fi

# ---- real faces and clips
if [ ! -d "$SHARED/data/examples" ]; then
  echo "SKIP: ../shared not found (aligned faces, self-reenactment and cross-identity parts)"
else
  P=$SHARED/data/examples/portraits
  D=$SHARED/data/examples/driving
  if expect_rc 0 "reconstruct two portraits" -- "$CLI" reconstruct --model "$MODEL" "$P/fomm_01.png" "$P/lp_s1.jpg" \
       tests/fixtures/media/good.png -o "$TMP/grid.png"; then
    # 2 faces (good.png has none: skipped), scale 2: tiles 128, gap 4 -> width 2*128+3*4, height 2*128+2*4+4
    check '[ "$(png_size "$TMP/grid.png")" = "268 268" ]' "grid size $(png_size "$TMP/grid.png"), want 268 268"
    check 'grep -q "no face found" "$TMP/err.txt"' "image without a face is reported"
  fi
  # corr_measurable[k].n is the number of pairs with a finite correlation whose driver's ceiling for k is at least
  # measurable_threshold (0.8)
  MEASURABLE_OK='(lambda c: c["measurable_threshold"] == 0.8 and all(c["corr_measurable"][k]["n"] == sum(1 for p in c["pairs"] for d in c["drivers"] if d["path"] == p["driver"] and (d["ceiling_corr"][k] or -1) >= 0.8 and p["corr"][k] is not None) for k in c["corr"]))(j["cross_identity"])'
  if expect_rc 0 "eval faces + clip + cross" -- "$CLI" eval --model "$MODEL" --faces "$SHARED/data/faces/utkface" \
       --max-images 6 --clips "$D/lp_d0.mp4" --max-frames 10 --cross "$P/fomm_01.png" --drivers "$D/fomm_04.mp4" \
       --json "$TMP/e.json"; then
    check 'grep -q "self-reenactment" "$TMP/out.txt" && grep -q "cross-identity" "$TMP/out.txt"' "summary has all parts"
    check 'grep -q "frames" "$TMP/err.txt"' "progress on stderr"
    if [ $have_py = 1 ]; then
      check '[ "$(json_get "$TMP/e.json" "j[\"reconstruction\"][\"source\"][\"images_selected\"], j[\"reconstruction\"][\"images\"] + j[\"reconstruction\"][\"no_face\"], j[\"self_reenactment\"][\"frames\"], j[\"self_reenactment\"][\"clips\"][0][\"frames\"], len(j[\"cross_identity\"][\"pairs\"]), j[\"cross_identity\"][\"pairs\"][0][\"frames\"]")" = "6 6 10 10 1 10" ]' \
        "eval JSON counts: $(json_get "$TMP/e.json" "j['reconstruction']['images'], j['self_reenactment']['frames'], len(j['cross_identity']['pairs'])" 2>&1)"
      check '[ "$(json_get "$TMP/e.json" "all(-1 <= j[\"self_reenactment\"][\"ssim\"][k] <= 1 for k in (\"mean\",\"min\",\"max\")) and j[\"self_reenactment\"][\"clips\"][0][\"flicker\"][\"driver\"] > 0 and set(j[\"cross_identity\"][\"corr\"]) == {\"mouth_open\",\"eye_open\",\"yaw\",\"pitch\",\"smile\"} and j[\"cross_identity\"][\"drivers\"][0][\"ceiling_frames_used\"] >= 3")" = True ]' \
        "eval JSON values in range"
      # the driver's own crop must track its mouth: real landmarks at 64x64 still correlate
      check '[ "$(json_get "$TMP/e.json" "(j[\"cross_identity\"][\"drivers\"][0][\"ceiling_corr\"][\"mouth_open\"] or 0) > 0.5")" = True ]' \
        "ceiling mouth correlation $(json_get "$TMP/e.json" "j['cross_identity']['drivers'][0]['ceiling_corr']['mouth_open']" 2>&1) > 0.5"
      # the measurable-motion means count exactly the pairs whose driver's own crop follows the feature
      check '[ "$(json_get "$TMP/e.json" "$MEASURABLE_OK")" = True ]' \
        "corr_measurable counts: $(json_get "$TMP/e.json" "{k: v['n'] for k, v in j['cross_identity']['corr_measurable'].items()}" 2>&1)"
    fi
  fi
  # the filter settings reach the measurement (with the bundled model: the synthetic test model's output barely
  # moves): a near-frozen filter (0.3 Hz, no speed term) must cut the output's frame-to-frame change below the raw
  # model's on the same frames, and the JSON records what was used
  BM=models/reenact-seed64.safetensors
  if [ $have_py = 1 ] && [ -f "$BM" ] &&
     expect_rc 0 "eval raw, bundled model" -- "$CLI" eval --model "$BM" --clips "$D/lp_d0.mp4" --max-frames 10 -q \
       --json "$TMP/raw.json" &&
     expect_rc 0 "eval --smooth-cutoff --smooth-beta" -- "$CLI" eval --model "$BM" --clips "$D/lp_d0.mp4" \
       --max-frames 10 --smooth-cutoff 0.3 --smooth-beta 0 -q --json "$TMP/sm.json"; then
    check '[ "$(json_get "$TMP/sm.json" "j[\"settings\"][\"smooth\"], j[\"settings\"][\"smooth_cutoff_hz\"], j[\"settings\"][\"smooth_beta\"]")" = "True 0.3 0.0" ]' \
      "JSON smoothing settings: $(json_get "$TMP/sm.json" "j['settings'].get('smooth_cutoff_hz'), j['settings'].get('smooth_beta')" 2>&1)"
    check '[ "$(json_get "$TMP/raw.json" "j[\"settings\"][\"smooth\"], \"smooth_beta\" in j[\"settings\"]")" = "False False" ]' \
      "raw eval records no smoothing"
    raw=$(json_get "$TMP/raw.json" "j['self_reenactment']['flicker_ratio']['mean']")
    sm=$(json_get "$TMP/sm.json" "j['self_reenactment']['flicker_ratio']['mean']")
    check '[ "$(python3 -c "print($sm < 0.8 * $raw)")" = True ]' "smoothed flicker $sm < 0.8 x raw $raw"
  fi
  # photo-resolution renders (--render photo, animate's default) against the pasted decoded face (--render model),
  # with a grayscale portrait (lp_s2) and a colour one: the photo render keeps the gray photo gray and the photo's
  # detail; the decoded face does neither. With the face-id network: identity fields, and the photo render keeps
  # the person closer than the decoded face does.
  BM=models/reenact-seed64.safetensors
  IDM=$SHARED/models/face-id/face_recognition_densenet_model_v1.dat
  IDOPT=""
  [ -f "$IDM" ] && IDOPT="--id-model $IDM"
  if [ $have_py = 1 ] && [ -f "$BM" ] &&
     expect_rc 0 "eval --cross --render photo" -- "$CLI" eval --model "$BM" --cross "$P/lp_s2.jpg" "$P/fomm_01.png" \
       --drivers "$D/lp_d0.mp4" --max-frames 40 $IDOPT -q --json "$TMP/rp.json" &&
     expect_rc 0 "eval --cross --render model" -- "$CLI" eval --model "$BM" --cross "$P/lp_s2.jpg" "$P/fomm_01.png" \
       --drivers "$D/lp_d0.mp4" --max-frames 40 $IDOPT --render model -q --json "$TMP/rm.json"; then
    check '[ "$(json_get "$TMP/rp.json" "j[\"cross_identity\"][\"render\"], j[\"cross_identity\"][\"portraits\"][0][\"gray\"], j[\"cross_identity\"][\"portraits\"][1][\"gray\"]")" = "photo True False" ]' \
      "render and gray flags recorded"
    check '[ "$(json_get "$TMP/rp.json" "j[\"cross_identity\"][\"gray_chroma_max\"] <= 2")" = True ]' \
      "photo render: grayscale stays grayscale (chroma $(json_get "$TMP/rp.json" "j['cross_identity']['gray_chroma_max']" 2>&1))"
    check '[ "$(json_get "$TMP/rm.json" "j[\"cross_identity\"][\"gray_chroma_max\"] > 10")" = True ]' \
      "model render: the decoder colours the gray photo (chroma $(json_get "$TMP/rm.json" "j['cross_identity']['gray_chroma_max']" 2>&1))"
    ps=$(json_get "$TMP/rp.json" "j['cross_identity']['sharpness']['mean']")
    ms=$(json_get "$TMP/rm.json" "j['cross_identity']['sharpness']['mean']")
    check '[ "$(python3 -c "print($ps > 0.8 and $ps > $ms)")" = True ]' "photo render detail $ps > 0.8 and > model render $ms"
    check '[ "$(json_get "$TMP/rp.json" "0.8 < j[\"cross_identity\"][\"seam_max\"] < 1.3 and j[\"cross_identity\"][\"pairs\"][0][\"corr\"][\"mouth_open\"] > 0.5")" = True ]' \
      "photo render: no seam, mouth follows ($(json_get "$TMP/rp.json" "j['cross_identity']['seam_max'], j['cross_identity']['pairs'][0]['corr']['mouth_open']" 2>&1))"
    check '[ "$(json_get "$TMP/rp.json" "$MEASURABLE_OK and j[\"cross_identity\"][\"corr_measurable\"][\"mouth_open\"][\"n\"] == 2")" = True ]' \
      "photo render: both pairs count for the mouth ($(json_get "$TMP/rp.json" "{k: v['n'] for k, v in j['cross_identity']['corr_measurable'].items()}" 2>&1))"
    # --eye-motion 0: the photo's lids stay as they are; the default (1.5) moves them with the driver's (lp_s2 x
    # lp_d0, 40 frames: eye spread 0.015 against 0.031, r 0.46 against 0.92)
    if expect_rc 0 "eval --eye-motion 0" -- "$CLI" eval --model "$BM" --cross "$P/lp_s2.jpg" --drivers "$D/lp_d0.mp4" \
         --max-frames 40 --eye-motion 0 -q --json "$TMP/em0.json"; then
      check '[ "$(python3 -c "import json; a = json.load(open(\"$TMP/em0.json\")); b = json.load(open(\"$TMP/rp.json\")); pa = a[\"cross_identity\"][\"pairs\"][0]; pb = b[\"cross_identity\"][\"pairs\"][0]; print(a[\"settings\"][\"eye_motion\"] == 0 and b[\"settings\"][\"eye_motion\"] == 1.5 and pa[\"output_std\"][\"eye_open\"] < 0.7 * pb[\"output_std\"][\"eye_open\"] and pa[\"corr\"][\"eye_open\"] < pb[\"corr\"][\"eye_open\"] - 0.2)")" = True ]' \
        "--eye-motion 0 keeps the photo's lids: eye spread $(json_get "$TMP/em0.json" "j['cross_identity']['pairs'][0]['output_std']['eye_open']" 2>&1) against $(json_get "$TMP/rp.json" "j['cross_identity']['pairs'][0]['output_std']['eye_open']" 2>&1)"
    fi
    if [ -n "$IDOPT" ]; then
      pi=$(json_get "$TMP/rp.json" "j['cross_identity']['identity']['median']")
      mi=$(json_get "$TMP/rm.json" "j['cross_identity']['identity']['median']")
      check '[ "$(python3 -c "print(0 <= $pi < $mi)")" = True ]' "identity: photo render median $pi < model render $mi"
      check '[ "$(json_get "$TMP/rp.json" "j[\"cross_identity\"][\"identity\"][\"n\"] == 80 and j[\"cross_identity\"][\"identity_to_driver\"][\"median\"] > 0.55 and \"identity_median\" in j[\"cross_identity\"][\"worst_pair\"]")" = True ]' \
        "identity JSON: 80 frames, far from the driver, worst pair named"
    else
      echo "SKIP: face-id network not found ($IDM): identity checks skipped"
    fi
  fi
  # --ref best: per portrait the driving frame closest to the photo's landmarks is the reference (lp_s1 against
  # lp_d13: frame 26 of the first 50, not the first); --ref pose (the default) keeps frame 0 and measures the head's
  # pose from that same frame, with a model that steers by attributes (the bundled one); a model without directions
  # (e.json's) has no pose reference (-1)
  if [ $have_py = 1 ] && [ -f "$BM" ] &&
     expect_rc 0 "eval --cross --ref best" -- "$CLI" eval --model "$BM" --cross "$P/lp_s1.jpg" --drivers "$D/lp_d13.mp4" \
       --max-frames 50 --render crop --ref best -q --json "$TMP/rb.json" &&
     expect_rc 0 "eval --cross --ref pose" -- "$CLI" eval --model "$BM" --cross "$P/lp_s1.jpg" --drivers "$D/lp_d13.mp4" \
       --max-frames 50 --render crop -q --series --json "$TMP/rpose.json"; then
    check '[ "$(json_get "$TMP/rb.json" "j[\"cross_identity\"][\"ref\"], 0 < j[\"cross_identity\"][\"pairs\"][0][\"ref_frame\"] < 50")" = "best True" ]' \
      "--ref best: reference frame $(json_get "$TMP/rb.json" "j['cross_identity']['pairs'][0]['ref_frame']" 2>&1) recorded, not the first"
    check '[ "$(json_get "$TMP/rpose.json" "j[\"cross_identity\"][\"ref\"], j[\"cross_identity\"][\"pairs\"][0][\"ref_frame\"], j[\"cross_identity\"][\"pairs\"][0][\"pose_ref_frame\"]")" = "pose 0 $(json_get "$TMP/rb.json" "j[\"cross_identity\"][\"pairs\"][0][\"ref_frame\"]")" ]' \
      "--ref pose: frame 0, pose from the best frame ($(json_get "$TMP/rpose.json" "j['cross_identity']['pairs'][0]['pose_ref_frame']" 2>&1))"
    # --series: each pair holds the per-frame measures; the pair's correlations are those of its series
    check '[ "$(json_get "$TMP/rpose.json" "[(lambda d, o: (len(d) == len(o) == 50, abs(__import__(\"statistics\").correlation(*zip(*[(a, b) for a, b in zip(d, o) if a is not None and b is not None])) - j[\"cross_identity\"][\"pairs\"][0][\"corr\"][k]) < 1e-4))(j[\"cross_identity\"][\"pairs\"][0][\"series\"][\"driver\"][k], j[\"cross_identity\"][\"pairs\"][0][\"series\"][\"output\"][k]) for k in (\"mouth_open\", \"yaw\")]")" = "[(True, True), (True, True)]" ]' \
      "--series: 50 frames per series, correlations recomputed from them match"
    check '[ "$(json_get "$TMP/rb.json" "\"series\" in j[\"cross_identity\"][\"pairs\"][0]")" = "False" ]' "no series without --series"
    check '[ "$(json_get "$TMP/e.json" "j[\"cross_identity\"][\"ref\"], j[\"cross_identity\"][\"pairs\"][0][\"ref_frame\"], j[\"cross_identity\"][\"pairs\"][0][\"pose_ref_frame\"]")" = "pose 0 -1" ]' \
      "--ref pose (the default) without directions: frame 0, no pose reference"
  fi
  # a clip that is not a video: clear failure, no JSON
  expect_rc 1 "eval on a non-video clip" -- "$CLI" eval --model "$MODEL" --clips tests/fixtures/media/not_a_video.mp4 \
    --json "$TMP/bad.json"
  check '[ ! -e "$TMP/bad.json" ]' "no JSON after a failed clip"
  check 'grep -q "not_a_video.mp4" "$TMP/err.txt"' "clip error names the file"
fi

cli_test_end
