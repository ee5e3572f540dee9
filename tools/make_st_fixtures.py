#!/usr/bin/env python3
"""make_st_fixtures.py - writes the small safetensors test files, by hand with struct + json + hashlib (no
safetensors module, no torch), so they also cross-check our C reader against an independent writer.

  python3 tools/make_st_fixtures.py            # from the repository root; rewrites both folders below

Writes:
  tests/fixtures/safetensors/good_*.safetensors  valid files whose exact contents tests/unit/test_safetensors.c checks
  tests/fixtures/safetensors/bad_*.safetensors   hand-corrupted files; the expected status of each is listed in
                                                 test_safetensors.c (k_bad[]), which fails on any file not listed
  tests/fuzz/corpus/safetensors/                 seed corpus: copies of all of the above
Output is deterministic (byte-identical on every run). The format itself is specified in docs/FORMAT.md.
"""
import hashlib
import json
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "safetensors")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus", "safetensors")


def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)


def f16(vals):
    return struct.pack("<%de" % len(vals), *vals)  # struct 'e' is IEEE binary16, round to nearest even


def bf16(vals):
    out = b""
    for v in vals:
        u = struct.unpack("<I", struct.pack("<f", v))[0]
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest even (values used here are exact anyway)
        out += struct.pack("<H", u)
    return out


def header_bytes(hdr, pad=True):
    """Compact JSON, padded with spaces to a multiple of 8 like the reference writer."""
    s = hdr if isinstance(hdr, (bytes, bytearray)) else json.dumps(hdr, separators=(",", ":")).encode("utf-8")
    if pad:
        s += b" " * ((8 - len(s) % 8) % 8)
    return s


def build(tensors, meta=None, checksum=True, order=None):
    """tensors: list of (name, dtype, shape, bytes) in data order; header keys are written in `order` (names) or
    reversed data order, so the reader must sort by offset itself. Returns (file bytes, header dict, data)."""
    data = b""
    entries = {}
    for name, dt, shape, raw in tensors:
        entries[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    hdr = {}
    m = dict(meta or {})
    if checksum:
        m["data_sha256"] = hashlib.sha256(data).hexdigest()
    if m:
        hdr["__metadata__"] = m
    for name in (order or [t[0] for t in reversed(tensors)]):
        hdr[name] = entries[name]
    return assemble(header_bytes(hdr), data), hdr, data


def assemble(hb, data, hlen=None):
    return struct.pack("<Q", len(hb) if hlen is None else hlen) + hb + data


CONFIG = json.dumps({"res": 64, "latent": 200, "enc_widths": [32, 64, 128]}, separators=(",", ":"))

# Values checked exactly by test_safetensors.c (all exactly representable in their dtype).
A_WEIGHT = [i * 0.5 - 1.0 for i in range(6)]           # F32 [2,3]
B_BIAS = [1.0, -2.5, 0.15625]                            # BF16 [3]
C_HALF = [0.5, -1024.0, 6.103515625e-05, 5.960464477539063e-08]  # F16 [4]: incl. smallest normal and subnormal
E_F64 = [3.25, -0.125]                                   # F64 [2]
F_I32 = [-7, 123456]                                     # I32 [2]
D_U8 = [0, 1, 254, 255]                                  # U8 [4]
N_I64 = 7                                                # I64 scalar []


def good_small():
    tensors = [
        ("n.num_batches_tracked", "I64", [], struct.pack("<q", N_I64)),
        ("a.weight", "F32", [2, 3], f32(A_WEIGHT)),
        ("d.u8", "U8", [4], bytes(D_U8)),                 # odd length: following tensors are unaligned
        ("z.empty", "F32", [0, 3], b""),
        ("b.bias", "BF16", [3], bf16(B_BIAS)),
        ("c.half", "F16", [4], f16(C_HALF)),
        ("f.i32", "I32", [2], struct.pack("<2i", *F_I32)),
        ("e.f64", "F64", [2], struct.pack("<2d", *E_F64)),
    ]
    meta = {"format": "reenact-vaegan", "format_version": "1", "config": CONFIG}
    return build(tensors, meta)


def main():
    os.makedirs(FIX, exist_ok=True)
    os.makedirs(CORPUS, exist_ok=True)
    for d in (FIX, CORPUS):
        for fn in os.listdir(d):
            if fn.endswith(".safetensors"):
                os.remove(os.path.join(d, fn))
    files = {}

    small, small_hdr, small_data = good_small()
    files["good_small"] = small
    files["good_nometa"] = build([("x", "F32", [3], f32([1.0, 2.0, 3.0]))], checksum=False)[0]
    files["good_empty"] = assemble(header_bytes({}), b"")
    # Unpadded header with trailing whitespace other than spaces is still valid JSON; keep one unpadded case.
    files["good_unpadded"] = assemble(header_bytes({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}},
                                                   pad=False), f32([42.0]))

    one = [("w", "F32", [2], f32([1.0, 2.0])), ("v", "F32", [1], f32([3.0]))]

    def variant(mutate, tensors=one, meta=None, checksum=False, data_extra=b"", data_cut=0):
        _, hdr, data = build(tensors, meta, checksum)
        mutate(hdr)
        data = data + data_extra
        if data_cut:
            data = data[:-data_cut]
        return assemble(header_bytes(hdr), data)

    files["bad_truncated_short"] = b"\x10\x00\x00\x00\x00"
    files["bad_truncated_data"] = small[:-5]
    files["bad_header_beyond_eof"] = assemble(b'{"w":{}}', b"", hlen=1000)
    files["bad_header_too_large"] = assemble(b"{}      ", b"", hlen=200 * 1024 * 1024)
    files["bad_header_len_zero"] = assemble(b"", b"")
    files["bad_first_byte"] = assemble(b' {"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32([1.0]))
    files["bad_not_object"] = assemble(header_bytes(b"[1,2,3]"), b"")
    files["bad_not_json"] = assemble(header_bytes(b'{"w":{"dtype":"F32",shape:[1]}}'), f32([1.0]))
    files["bad_invalid_utf8"] = assemble(
        header_bytes(b'{"w\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), f32([1.0]))
    files["bad_duplicate_key"] = assemble(header_bytes(
        b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        b'"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'), f32([1.0, 2.0]))
    files["bad_unknown_dtype"] = variant(lambda h: h["w"].update(dtype="F13"))
    files["bad_unsupported_dtype"] = variant(lambda h: h["w"].update(dtype="BOOL", shape=[8]))
    files["bad_ndim9"] = assemble(header_bytes(
        {"w": {"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}}), f32([1.0]))
    files["bad_negative_dim"] = variant(lambda h: h["w"].update(shape=[-2]))
    files["bad_float_dim"] = variant(lambda h: h["w"].update(shape=[2.0]))
    files["bad_missing_field"] = variant(lambda h: h["w"].pop("data_offsets"))
    files["bad_unknown_field"] = variant(lambda h: h["w"].update(extra=1))
    files["bad_entry_not_object"] = assemble(header_bytes({"w": [0, 4]}), f32([1.0]))
    files["bad_overlap"] = variant(lambda h: h["v"].update(data_offsets=[4, 8]), data_cut=4)
    files["bad_gap"] = variant(lambda h: h["v"].update(data_offsets=[12, 16]), data_extra=f32([0.0]))
    files["bad_not_start_zero"] = assemble(header_bytes(
        {"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}), f32([0.0, 1.0]))
    files["bad_offsets_reversed"] = assemble(header_bytes(
        {"w": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}), f32([0.0]))
    files["bad_trailing_bytes"] = variant(lambda h: None, data_extra=b"\x00\x00\x00\x00")
    files["bad_wrong_length"] = variant(lambda h: h["w"].update(shape=[3]))
    files["bad_numel_overflow"] = variant(lambda h: h["w"].update(shape=[1 << 40, 1 << 40]))
    files["bad_checksum"] = variant(lambda h: h["__metadata__"].update(data_sha256=hashlib.sha256(b"x").hexdigest()),
                                    meta={"format": "reenact-vaegan"}, checksum=True)
    files["bad_checksum_malformed"] = variant(lambda h: h["__metadata__"].update(data_sha256="abc123"),
                                              meta={"format": "reenact-vaegan"}, checksum=True)
    files["bad_metadata_non_string"] = variant(lambda h: h["__metadata__"].update(format_version=1),
                                               meta={"format": "reenact-vaegan"})
    files["bad_metadata_not_object"] = variant(lambda h: h.update(__metadata__=["format", "x"]))

    for name, blob in sorted(files.items()):
        path = os.path.join(FIX, name + ".safetensors")
        with open(path, "wb") as fh:
            fh.write(blob)
        shutil.copyfile(path, os.path.join(CORPUS, name + ".safetensors"))
    print("wrote %d files to %s and %s" % (len(files), os.path.relpath(FIX, ROOT), os.path.relpath(CORPUS, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
