#!/usr/bin/env python3
"""Build the training / held-out split of models/README.md as folders of symlinks.

Usage: tools/prepare_training_data.py [--train-clips] SHARED_DATA_DIR OUT_DIR

SHARED_DATA_DIR is ../shared/data. Writes
  OUT_DIR/train/utk_NN/        UTKFace photos with md5(name) % 20 != 0, spread over 19 groups
  OUT_DIR/train/clips/         the example driving clips except the held-out ones
  OUT_DIR/train/tclips/        with --train-clips: every clip of SHARED_DATA_DIR/train-clips (all for training)
  OUT_DIR/heldout_faces/       UTKFace photos with md5(name) % 20 == 0 (never packed)
  OUT_DIR/heldout_clips/       fomm_04, lp_d0, sadtalker_aoc, lp_d13 (never packed)
Nothing is copied: every entry is a symlink into SHARED_DATA_DIR.
"""
import hashlib
import os
import sys

HELDOUT_CLIPS = {"fomm_04", "lp_d0", "sadtalker_aoc", "lp_d13"}
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".avi")


def main():
    args = sys.argv[1:]
    with_tclips = "--train-clips" in args
    args = [a for a in args if a != "--train-clips"]
    if len(args) != 2 or any(a.startswith("-") for a in args):
        sys.exit(__doc__)
    src, out = (os.path.abspath(a) for a in args)
    faces = os.path.join(src, "faces", "utkface")
    clips = os.path.join(src, "examples", "driving")
    for d in (faces, clips):
        if not os.path.isdir(d):
            sys.exit(f"prepare_training_data: {d}: not a folder")
    n_train = n_held = 0
    for name in sorted(os.listdir(faces)):
        h = int(hashlib.md5(name.encode()).hexdigest(), 16)
        if h % 20 == 0:
            dst = os.path.join(out, "heldout_faces")
            n_held += 1
        else:
            dst = os.path.join(out, "train", "utk_%02d" % (h % 19))
            n_train += 1
        os.makedirs(dst, exist_ok=True)
        link = os.path.join(dst, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(faces, name), link)
    n_clips = 0
    for name in sorted(os.listdir(clips)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in VIDEO_EXTS:
            continue
        dst = os.path.join(out, "heldout_clips" if stem in HELDOUT_CLIPS else "train/clips")
        os.makedirs(dst, exist_ok=True)
        link = os.path.join(dst, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(clips, name), link)
        n_clips += stem not in HELDOUT_CLIPS
    n_tclips = 0
    if with_tclips:
        tclips = os.path.join(src, "train-clips")
        if not os.path.isdir(tclips):
            sys.exit(f"prepare_training_data: {tclips}: not a folder")
        dst = os.path.join(out, "train", "tclips")
        os.makedirs(dst, exist_ok=True)
        for name in sorted(os.listdir(tclips)):
            stem, ext = os.path.splitext(name)
            if ext.lower() not in VIDEO_EXTS:
                continue
            if stem in HELDOUT_CLIPS:
                sys.exit(f"prepare_training_data: {name} in train-clips has a held-out clip's name")
            link = os.path.join(dst, name)
            if not os.path.lexists(link):
                os.symlink(os.path.join(tclips, name), link)
            n_tclips += 1
    print(f"faces: {n_train} train, {n_held} held out; clips: {n_clips} train"
          + (f"; train-clips: {n_tclips}" if with_tclips else ""))


if __name__ == "__main__":
    main()
