#!/usr/bin/python3
"""make_malformed.py - writes the malformed-input suite: tests/fixtures/malformed/<parser>/ and its MANIFEST.

  /usr/bin/python3 tools/make_malformed.py       # from anywhere; rewrites tests/fixtures/malformed/ completely

Every parser reenact has gets small broken files, each with the status its entry point must return and a fragment
its message must contain (tests/unit/test_malformed.c runs them; it also checks that the message names the file
where the entry point takes a path). The valid base files are written here from the specifications in
docs/FORMAT.md (an independent writer, like tools/make_st_fixtures.py), for the "tiny" model preset (16x16, latent
8); one "good_*" fixture per format checks that the base itself loads. Then each fixture breaks one thing.

Needs /usr/bin/python3 with PIL (Debian python3-pil) for the JPEG bases and the ffmpeg program for the video base.
Output is deterministic for a given PIL/ffmpeg version (the files are committed; tests never run this script).

MANIFEST lines: <path under tests/fixtures/malformed>  <entry>  <status>  <message fragment (rest of the line)>.
<status> is a re_status name; "xfail:NAME" marks a known bug (the right status is NAME; the runner reports it as
XFAIL and fails when it starts to pass, so the mark is removed with the fix).
"""
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "malformed")
MANIFEST = []


def emit(rel, data, entry, status, frag):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    MANIFEST.append((rel, entry, status, frag))


def expect(rel, entry, status, frag):
    MANIFEST.append((rel, entry, status, frag))


class Rng:
    """xorshift64*: deterministic values without numpy."""

    def __init__(self, seed):
        self.s = seed or 1

    def u(self):
        self.s ^= (self.s >> 12) & 0xFFFFFFFFFFFFFFFF
        self.s ^= (self.s << 25) & 0xFFFFFFFFFFFFFFFF
        self.s ^= (self.s >> 27) & 0xFFFFFFFFFFFFFFFF
        return ((self.s * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF) / 2.0 ** 64

    def floats(self, n, scale=0.5):
        return [(self.u() * 2 - 1) * scale for _ in range(n)]


# ---- safetensors ------------------------------------------------------------------------------------------------
DT_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "I8": 1}


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def pack(dt, vals):
    fmt = {"F32": "f", "F16": "e", "F64": "d", "I64": "q", "I32": "i", "U8": "B", "I8": "b"}
    if dt == "BF16":
        return b"".join(struct.pack("<H", struct.unpack("<I", struct.pack("<f", v))[0] >> 16) for v in vals)
    return struct.pack("<%d%s" % (len(vals), fmt[dt]), *vals)


class ST:
    """A safetensors file as (name -> [dtype, shape, raw bytes]) + metadata, serialized like re_st_write."""

    def __init__(self, tensors=None, meta=None):
        self.t = {k: list(v) for k, v in (tensors or {}).items()}
        self.meta = dict(meta or {})

    def copy(self):
        return ST({k: [v[0], list(v[1]), v[2]] for k, v in self.t.items()}, self.meta)

    def add(self, name, dt, shape, vals):
        self.t[name] = [dt, list(shape), pack(dt, vals)]

    def data(self):
        return b"".join(self.t[k][2] for k in sorted(self.t))

    def header(self, checksum=True):
        hdr = {}
        meta = dict(self.meta)
        if checksum:
            meta["data_sha256"] = hashlib.sha256(self.data()).hexdigest()
        if meta:
            hdr["__metadata__"] = meta
        off = 0
        for k in sorted(self.t):
            dt, shape, raw = self.t[k]
            hdr[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
            off += len(raw)
        return hdr

    def bytes(self, checksum=True, hdr=None):
        return st_assemble(hdr if hdr is not None else self.header(checksum), self.data())


def st_hbytes(hdr):
    s = hdr if isinstance(hdr, (bytes, bytearray)) else json.dumps(hdr, separators=(",", ":")).encode()
    return s + b" " * ((8 - len(s) % 8) % 8)


def st_assemble(hdr, data, hlen=None):
    hb = st_hbytes(hdr)
    return struct.pack("<Q", len(hb) if hlen is None else hlen) + hb + data


# ---- the tiny model (re_config_preset "tiny"), mirroring build() in src/model/model.c -----------------------------
TINY = {"res": 16, "channels": 3, "latent": 8, "n_stages": 1, "enc_widths": [4], "top_ch": 6, "fc_hidden": 10,
        "n_disc": 2, "disc_widths": [4, 6], "disc_fc": [12, 5], "lrelu_slope": 0.2, "bn_eps": 1e-05,
        "bn_momentum": 0.1}
LAT = TINY["latent"]


def tiny_params(with_disc=True):
    """[(name, shape, kind)] kind: w (trainable), b (BN buffer), c (I64 counter)."""
    P = []

    def conv(pre, name, ic, oc, k, tr=False):
        P.append((pre + name + ".weight", [ic, oc, k, k] if tr else [oc, ic, k, k], "w"))
        P.append((pre + name + ".bias", [oc], "w"))

    def bn(pre, name, c):
        P.extend([(pre + name + ".weight", [c], "w"), (pre + name + ".bias", [c], "w"),
                  (pre + name + ".running_mean", [c], "b"), (pre + name + ".running_var", [c], "b"),
                  (pre + name + ".num_batches_tracked", [], "c")])

    def lin(pre, name, i, o):
        P.append((pre + name + ".weight", [o, i], "w"))
        P.append((pre + name + ".bias", [o], "w"))

    c = TINY
    w0, top, fh, bot = c["enc_widths"][0], c["top_ch"], c["fc_hidden"], c["res"] >> 2
    e = "encoder."
    conv(e, "conv1", 3, w0, 3)
    conv(e, "conv2", w0, w0, 4)
    bn(e, "bn2", w0)
    conv(e, "conv3", w0, top, 4)
    bn(e, "bn3", top)
    lin(e, "fc1", top * bot * bot, fh)
    lin(e, "fc_mu", fh, LAT)
    lin(e, "fc_logvar", fh, LAT)
    d = "decoder."
    lin(d, "fc1", LAT, fh)
    lin(d, "fc2", fh, fh)
    lin(d, "fc3", fh, top * bot * bot)
    conv(d, "up1", top, w0, 4, tr=True)
    bn(d, "bn_up1", w0)
    conv(d, "conv1", w0, w0, 3)
    bn(d, "bn_conv1", w0)
    conv(d, "up2", w0, 3, 4, tr=True)
    if with_disc:
        s = "disc."
        conv(s, "conv1", 3, c["disc_widths"][0], 4)
        conv(s, "conv2", c["disc_widths"][0], c["disc_widths"][1], 4)
        hw = c["res"] >> 2
        lin(s, "fc1", c["disc_widths"][1] * hw * hw, c["disc_fc"][0])
        lin(s, "fc2", c["disc_fc"][0], c["disc_fc"][1])
        lin(s, "fc3", c["disc_fc"][1], 1)
    return P


def tiny_model(with_disc=True, dt="F32"):
    rng = Rng(18)
    st = ST(meta={"format": "reenact-vaegan", "format_version": "1",
                  "config": json.dumps(TINY, separators=(",", ":"))})
    for name, shape, kind in tiny_params(with_disc):
        n = numel(shape)
        if kind == "c":
            st.add(name, "I64", shape, [3])
        elif kind == "b":
            st.add(name, "F32", shape, [1.0] * n if name.endswith("running_var") else [0.0] * n)
        else:
            st.add(name, dt, shape, rng.floats(n))
    return st


ATTRS = ["mouth", "smile", "eye_l", "eye_r", "brows", "yaw", "pitch", "roll"]
K = len(ATTRS)


def dir_meta(**over):
    m = {"version": 1, "attributes": ATTRS, "units": ["face", "face", "ratio", "ratio", "face", "deg", "deg", "deg"],
         "sigma": [0.05, 0.04, 0.1, 0.1, 0.02, 4.0, 3.0, 2.0], "r2": [0.9, 0.8, 0.7, 0.7, 0.5, 0.9, 0.8, None],
         "gain": [None] * K, "cross": [None] * K, "response": None, "smile_bias": None, "motion_explained": 0.95,
         "frames": 100, "clips": 3}
    m.update(over)
    return json.dumps(m, separators=(",", ":"))


def with_directions(st, M=2, meta=None):
    st = st.copy()
    st.meta["weights_sha256"] = hashlib.sha256(st.data()).hexdigest()
    rng = Rng(7)
    st.add("directions.pattern", "F32", [K, LAT], rng.floats(K * LAT))
    st.add("directions.filter", "F32", [K, LAT], rng.floats(K * LAT))
    basis = []
    for m in range(M):
        basis += [1.0 if i == m else 0.0 for i in range(LAT)]
    st.add("directions.basis", "F32", [M, LAT], basis)
    st.add("directions.basis_var", "F32", [M], [2.0 / (m + 1) for m in range(M)])
    st.meta["directions"] = meta if meta is not None else dir_meta()
    return st


def tiny_optim(mode="vaegan", meta=None):
    rng = Rng(5)
    st = ST(meta={"format": "reenact-optim", "step": "7", "rng": "0123456789abcdef" * 4, "mode": mode})
    st.meta.update(meta or {})
    for name, shape, kind in tiny_params(mode == "vaegan"):
        if kind != "w":
            continue
        n = numel(shape)
        st.add("m." + name, "F32", shape, rng.floats(n, 0.01))
        st.add("v." + name, "F32", shape, [abs(x) for x in rng.floats(n, 0.001)])
    return st


# ---- model weights ------------------------------------------------------------------------------------------------
def gen_model():
    base = tiny_model()
    emit("model/good.safetensors", base.bytes(), "model", "RE_OK", "")
    emit("model/good_bf16_nodisc.safetensors", tiny_model(with_disc=False, dt="BF16").bytes(), "model", "RE_OK", "")
    # The container-level breakage (the safetensors reader's rules, checked before anything the model loader
    # checks) uses three of the model's tensors, so those files stay a few hundred bytes.
    small = ST({k: base.t[k] for k in ("decoder.fc2.bias", "encoder.bn2.num_batches_tracked", "encoder.conv1.bias")},
               base.meta)
    good = small.bytes()
    hdr = small.header()
    data = small.data()
    hb = st_hbytes(hdr)

    def E(name, blob, status, frag):
        emit("model/" + name, blob, "model", status, frag)

    E("empty.safetensors", b"", "RE_ERR_TRUNCATED", "needs at least 8")
    E("short4.safetensors", good[:4], "RE_ERR_TRUNCATED", "needs at least 8")
    E("header_len_huge.safetensors", struct.pack("<Q", 1 << 40) + good[8:], "RE_ERR_TOO_LARGE", "header length")
    E("header_beyond_eof.safetensors", struct.pack("<Q", len(hb) + len(data) + 8) + good[8:], "RE_ERR_TRUNCATED",
      "header")
    E("header_len_zero.safetensors", struct.pack("<Q", 0) + good[8:], "RE_ERR_BAD_HEADER", "header")
    E("header_not_json.safetensors", st_assemble(b"{not json at all}", data), "RE_ERR_BAD_HEADER", "JSON")
    E("header_leading_space.safetensors", st_assemble(b" " + json.dumps(hdr).encode(), data), "RE_ERR_BAD_HEADER",
      "{")
    E("header_array.safetensors", st_assemble(b"[1,2,3]", data), "RE_ERR_BAD_HEADER", "{")
    E("header_trailing_garbage.safetensors", st_assemble(json.dumps(hdr).encode() + b"x", data), "RE_ERR_BAD_HEADER",
      "JSON")
    dup = json.dumps(hdr, separators=(",", ":")).encode()
    first = "encoder.conv1.bias"
    ent = json.dumps({first: hdr[first]}, separators=(",", ":"))[1:-1].encode()
    E("duplicate_tensor.safetensors", st_assemble(dup[:-1] + b"," + ent + b"}", data), "RE_ERR_BAD_HEADER",
      "duplicate")
    bad_utf8 = json.dumps(hdr, separators=(",", ":")).encode().replace(b'"reenact-vaegan"', b'"reenact-\xff\xfe"')
    E("header_invalid_utf8.safetensors", st_assemble(bad_utf8, data), "RE_ERR_BAD_HEADER", "unable to decode byte 0xff")
    h = json.loads(json.dumps(hdr)); h["__metadata__"]["config"] = {"res": 16}
    E("meta_value_object.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", "__metadata__")
    h = json.loads(json.dumps(hdr)); h["__metadata__"] = ["format"]
    E("meta_not_object.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", "__metadata__")
    h = json.loads(json.dumps(hdr)); h[first]["extra"] = 1
    E("entry_extra_field.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", first)
    h = json.loads(json.dumps(hdr)); del h[first]["dtype"]
    E("entry_no_dtype.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", first)
    h = json.loads(json.dumps(hdr)); h[first] = "F32"
    E("entry_not_object.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", first)
    h = json.loads(json.dumps(hdr)); h[""] = h.pop(first)
    E("entry_empty_name.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", "empty")
    h = json.loads(json.dumps(hdr)); h[first]["dtype"] = "F33"
    E("dtype_unknown.safetensors", st_assemble(h, data), "RE_ERR_DTYPE", "F33")
    h = json.loads(json.dumps(hdr)); h[first]["dtype"] = "U16"; h[first]["shape"] = [8]
    E("dtype_unsupported.safetensors", st_assemble(h, data), "RE_ERR_DTYPE", "U16")
    h = json.loads(json.dumps(hdr)); h[first]["shape"] = [1] * 9
    E("shape_ndim9.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", first)
    h = json.loads(json.dumps(hdr)); h[first]["shape"] = [-4]
    E("shape_negative.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", first)
    hb2 = json.dumps(hdr, separators=(",", ":")).encode().replace(
        b'"encoder.conv1.bias":{"dtype":"F32","shape":[4]', b'"encoder.conv1.bias":{"dtype":"F32","shape":[4.0]')
    E("shape_float.safetensors", st_assemble(hb2, data), "RE_ERR_BAD_HEADER", first)
    h = json.loads(json.dumps(hdr)); h[first]["shape"] = [4, 1 << 62]
    E("shape_numel_overflow.safetensors", st_assemble(h, data), "RE_ERR_OFFSETS", first)
    h = json.loads(json.dumps(hdr)); b0, e0 = h[first]["data_offsets"]; h[first]["data_offsets"] = [e0, b0]
    E("offsets_reversed.safetensors", st_assemble(h, data), "RE_ERR_OFFSETS", first)
    h = json.loads(json.dumps(hdr)); h[first]["data_offsets"] = [-8, 8]
    E("offsets_negative.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", first)
    h = json.loads(json.dumps(hdr)); h[first]["shape"] = [3]
    E("offsets_wrong_length.safetensors", st_assemble(h, data), "RE_ERR_OFFSETS", first)
    # shift every tensor after the first in data order by 4 bytes: a gap
    h = json.loads(json.dumps(hdr))
    names = sorted(k for k in h if k != "__metadata__")
    for k in names[1:]:
        h[k]["data_offsets"] = [h[k]["data_offsets"][0] + 4, h[k]["data_offsets"][1] + 4]
    cut = hdr[names[0]]["data_offsets"][1]
    d2 = data[:cut] + b"\0" * 4 + data[cut:]
    E("offsets_gap.safetensors", st_assemble(h, d2), "RE_ERR_OFFSETS", "gap")
    h = json.loads(json.dumps(hdr)); h[names[1]]["data_offsets"] = [h[names[1]]["data_offsets"][0] - 4,
                                                                      h[names[1]]["data_offsets"][1] - 4]
    E("offsets_overlap.safetensors", st_assemble(h, data), "RE_ERR_OFFSETS", "overlap")
    E("data_truncated.safetensors", good[:-16], "RE_ERR_TRUNCATED", "truncated")
    E("data_trailing.safetensors", good + b"\0" * 8, "RE_ERR_OFFSETS", "trailing")
    h = json.loads(json.dumps(hdr)); h["__metadata__"]["data_sha256"] = "xyz"
    E("sha_not_hex.safetensors", st_assemble(h, data), "RE_ERR_BAD_HEADER", "data_sha256")
    flipped = bytearray(good); flipped[-1] ^= 0x40
    E("sha_mismatch.safetensors", bytes(flipped), "RE_ERR_CHECKSUM", "SHA-256 mismatch")
    E("sha_absent.safetensors", small.bytes(checksum=False), "RE_ERR_CHECKSUM", "unverifiable")
    # model-level checks (valid safetensors)
    for name, key, val, status, frag in [
            ("format_other.safetensors", "format", "reenact-motion", "RE_ERR_VERSION", "not a reenact model"),
            ("format_absent.safetensors", "format", None, "RE_ERR_VERSION", "not a reenact model"),
            ("version_2.safetensors", "format_version", "2", "RE_ERR_VERSION", "format_version '2'"),
            ("config_absent.safetensors", "config", None, "RE_ERR_CONFIG", "no model config"),
            ("config_not_json.safetensors", "config", "{res: 16", "RE_ERR_CONFIG", "config"),
            ("config_latent0.safetensors", "config", json.dumps(dict(TINY, latent=0)), "RE_ERR_CONFIG", "latent 0"),
            ("config_res_string.safetensors", "config", json.dumps(dict(TINY, res="16")), "RE_ERR_CONFIG", "res"),
            ("config_res_odd.safetensors", "config", json.dumps(dict(TINY, res=18)), "RE_ERR_CONFIG",
             "not a multiple")]:
        st = base.copy()
        if val is None:
            del st.meta[key]
        else:
            st.meta[key] = val
        E(name, st.bytes(), status, frag)
    st = base.copy(); del st.t["decoder.fc2.weight"]
    E("tensor_missing.safetensors", st.bytes(), "RE_ERR_MISSING", "decoder.fc2.weight")
    st = base.copy(); st.add("decoder.fc2.weight", "F32", [10, 9], [0.0] * 90)
    E("tensor_shape.safetensors", st.bytes(), "RE_ERR_SHAPE", "decoder.fc2.weight")
    st = base.copy(); st.add("decoder.fc2.weight", "F32", [10, 10, 1], [0.0] * 100)
    E("tensor_ndim.safetensors", st.bytes(), "RE_ERR_SHAPE", "decoder.fc2.weight")
    st = base.copy(); st.add("decoder.fc9.weight", "F32", [2], [0.0, 0.0])
    E("tensor_unknown.safetensors", st.bytes(), "RE_ERR_UNKNOWN", "decoder.fc9.weight")
    st = base.copy(); st.add("encoder.bn2.num_batches_tracked", "F32", [], [3.0])
    E("counter_f32.safetensors", st.bytes(), "RE_ERR_DTYPE", "num_batches_tracked")
    st = base.copy(); st.add("decoder.fc2.bias", "I32", [10], [1] * 10)
    E("weight_i32.safetensors", st.bytes(), "RE_ERR_DTYPE", "decoder.fc2.bias")
    st = base.copy(); st.add("decoder.fc2.bias", "F32", [10], [0.0] * 9 + [float("nan")])
    E("weight_nan.safetensors", st.bytes(), "RE_ERR_NONFINITE", "decoder.fc2.bias")
    st = base.copy(); st.add("encoder.bn2.running_var", "F32", [4], [1.0, float("inf"), 1.0, 1.0])
    E("buffer_inf.safetensors", st.bytes(), "RE_ERR_NONFINITE", "encoder.bn2.running_var")
    st = base.copy(); st.add("encoder.bn2.running_var", "F32", [4], [1.0, -1.0, 1.0, 1.0])
    E("running_var_negative.safetensors", st.bytes(), "RE_ERR_BAD_HEADER", "running variance must be >= 0")
    st = base.copy(); st.add("disc.fc3.weight", "F32", [1, 5], [0.1] * 5); del st.t["disc.fc3.bias"]
    E("disc_partial.safetensors", st.bytes(), "RE_ERR_MISSING", "disc.fc3.bias")
    os.makedirs(os.path.join(OUT, "model", "a_directory.safetensors"), exist_ok=True)
    with open(os.path.join(OUT, "model", "a_directory.safetensors", ".keep"), "w") as f:
        f.write("a folder where a model file is expected\n")
    expect("model/a_directory.safetensors", "model", "RE_ERR_IO", "not a regular file")
    expect("model/does_not_exist.safetensors", "model", "RE_ERR_IO", "No such file")
    return base


# ---- motion directions inside a model file ------------------------------------------------------------------------
def gen_directions(base):
    emit("directions/good.safetensors", with_directions(base).bytes(), "model", "RE_OK", "")

    def E(name, st, status, frag):
        emit("directions/" + name, st.bytes(), "model", status, frag)

    st = with_directions(base); del st.meta["directions"]
    E("no_metadata.safetensors", st, "RE_ERR_BAD_HEADER", "without the 'directions' metadata")
    E("meta_not_json.safetensors", with_directions(base, meta="{version:1"), "RE_ERR_BAD_HEADER", "not a JSON object")
    E("meta_array.safetensors", with_directions(base, meta="[1]"), "RE_ERR_BAD_HEADER", "not a JSON object")
    E("version_2.safetensors", with_directions(base, meta=dir_meta(version=2)), "RE_ERR_VERSION", "version")
    E("version_string.safetensors", with_directions(base, meta=dir_meta(version="1")), "RE_ERR_VERSION", "version")
    E("attributes_order.safetensors", with_directions(base, meta=dir_meta(attributes=ATTRS[::-1])),
      "RE_ERR_BAD_HEADER", "attributes")
    E("attributes_short.safetensors", with_directions(base, meta=dir_meta(attributes=ATTRS[:7])),
      "RE_ERR_BAD_HEADER", "attributes")
    st = with_directions(base); del st.t["directions.filter"]
    E("filter_missing.safetensors", st, "RE_ERR_MISSING", "directions.filter")
    st = with_directions(base); del st.t["directions.basis"]
    E("basis_missing.safetensors", st, "RE_ERR_MISSING", "directions.basis")
    st = with_directions(base); st.add("directions.pattern", "F32", [K, LAT - 1], [0.1] * (K * (LAT - 1)))
    E("pattern_shape.safetensors", st, "RE_ERR_SHAPE", "directions.pattern")
    st = with_directions(base); st.add("directions.basis_var", "F32", [3], [1.0, 0.5, 0.2])
    E("basis_var_shape.safetensors", st, "RE_ERR_SHAPE", "'directions.basis_var' has the wrong shape for the directions (expected [2])")
    E("basis_too_many.safetensors", _basis_rows(base, LAT + 1),
      "RE_ERR_SHAPE", "directions.basis")
    st = with_directions(base); st.add("directions.pattern", "F32", [K, LAT], [0.1] * (K * LAT - 1) + [float("nan")])
    E("pattern_nan.safetensors", st, "RE_ERR_NONFINITE", "directions.pattern")
    st = with_directions(base); st.add("directions.filter", "F32", [K, LAT], [0.1] * (K * LAT - 1) + [3e7])
    E("filter_huge.safetensors", st, "RE_ERR_NONFINITE", "directions.filter")
    st = with_directions(base); st.add("directions.basis", "F32", [2, LAT], [0.5] * (2 * LAT))
    E("basis_not_unit.safetensors", st, "RE_ERR_BAD_HEADER", "unit vector")
    st = with_directions(base); st.add("directions.basis_var", "F32", [2], [1.0, -0.5])
    E("basis_var_negative.safetensors", st, "RE_ERR_BAD_HEADER", "variance")
    E("sigma_zero.safetensors", with_directions(base, meta=dir_meta(sigma=[0.05, 0, 0.1, 0.1, 0.02, 4, 3, 2])),
      "RE_ERR_BAD_HEADER", "sigma of 'smile'")
    E("sigma_string.safetensors", with_directions(base, meta=dir_meta(sigma="0.05")), "RE_ERR_BAD_HEADER", "sigma")
    E("sigma_short.safetensors", with_directions(base, meta=dir_meta(sigma=[1.0] * 7)), "RE_ERR_BAD_HEADER", "sigma")
    E("r2_string_item.safetensors", with_directions(base, meta=dir_meta(r2=["x"] * K)), "RE_ERR_BAD_HEADER", "r2")
    E("response_short.safetensors", with_directions(base, meta=dir_meta(response=[1.0] * 10)), "RE_ERR_BAD_HEADER",
      "response")
    E("frames_float.safetensors", with_directions(base, meta=dir_meta(frames=1.5)), "RE_ERR_BAD_HEADER", "frames")
    st = with_directions(base); st.add("directions.extra", "F32", [1], [0.0])
    E("tensor_unknown.safetensors", st, "RE_ERR_UNKNOWN", "directions.extra")


def _basis_rows(base, M):
    st = with_directions(base)
    st.add("directions.basis", "F32", [M, LAT], [1.0 / (LAT ** 0.5)] * (M * LAT))
    st.add("directions.basis_var", "F32", [M], [1.0] * M)
    return st


# ---- optimizer state (re_trainer_load_state on a tiny VAE-GAN trainer) -----------------------------------------------
def gen_optim():
    base = tiny_optim()
    good = base.bytes()
    emit("optim/good.safetensors", good, "optim", "RE_OK", "")

    def E(name, blob, status, frag):
        emit("optim/" + name, blob if isinstance(blob, bytes) else blob.bytes(), "optim", status, frag)

    E("text_file.safetensors", b"step=7\nrng=0\n", "RE_ERR_TOO_LARGE", "header length")
    E("truncated.safetensors", good[:len(good) // 2], "RE_ERR_TRUNCATED", "truncated")
    fl = bytearray(good); fl[-3] ^= 1
    E("sha_mismatch.safetensors", bytes(fl), "RE_ERR_CHECKSUM", "SHA-256 mismatch")
    E("model_file.safetensors", tiny_model().bytes(), "RE_ERR_BAD_HEADER", "not a reenact optimizer state")
    for name, key, val, status, frag in [
            ("format_other.safetensors", "format", "reenact-vaegan", "RE_ERR_BAD_HEADER", "optimizer state"),
            ("step_absent.safetensors", "step", None, "RE_ERR_BAD_HEADER", "optimizer state"),
            ("rng_short.safetensors", "rng", "0123456789abcdef" * 3, "RE_ERR_BAD_HEADER", "rng"),
            ("mode_absent.safetensors", "mode", None, "RE_ERR_BAD_HEADER", "optimizer state"),
            ("mode_vae.safetensors", "mode", "vae", "RE_ERR_CONFIG", "mode 'vae'"),
            ("rng_not_hex.safetensors", "rng", "zz" * 32, "RE_ERR_BAD_HEADER", "rng"),
            ("rng_zero.safetensors", "rng", "0" * 64, "RE_ERR_BAD_HEADER", "rng"),
            ("step_not_number.safetensors", "step", "seven", "RE_ERR_BAD_HEADER", "step"),
            ("step_negative.safetensors", "step", "-5", "RE_ERR_BAD_HEADER", "step")]:
        st = base.copy()
        if val is None:
            del st.meta[key]
        else:
            st.meta[key] = val
        E(name, st, status, frag)
    st = base.copy(); del st.t["v.decoder.fc2.weight"]
    E("moment_missing.safetensors", st, "RE_ERR_MISSING", "v.decoder.fc2.weight")
    st = base.copy(); st.add("m.decoder.fc2.weight", "F32", [10, 9], [0.0] * 90)
    E("moment_shape.safetensors", st, "RE_ERR_SHAPE", "m.decoder.fc2.weight")
    st = base.copy(); st.add("m.decoder.fc2.weight", "F32", [100], [0.0] * 100)
    E("moment_shape_flat.safetensors", st, "RE_ERR_SHAPE", "m.decoder.fc2.weight")
    st = base.copy(); st.add("m.decoder.fc2.bias", "I32", [10], [0] * 10)
    E("moment_i32.safetensors", st, "RE_ERR_DTYPE", "m.decoder.fc2.bias")
    st = base.copy(); st.add("m.encoder.bn2.running_mean", "F32", [4], [0.0] * 4)
    E("tensor_unknown.safetensors", st, "RE_ERR_UNKNOWN", "tensors, expected")
    st = base.copy(); st.add("m.decoder.fc2.bias", "F32", [10], [0.0] * 9 + [float("nan")])
    E("moment_nan.safetensors", st, "RE_ERR_NONFINITE", "m.decoder.fc2.bias")
    st = base.copy(); st.add("v.decoder.fc2.bias", "F32", [10], [1e-6] * 9 + [-1e-6])
    E("second_moment_negative.safetensors", st, "RE_ERR_BAD_HEADER", "v.decoder.fc2.bias")


# ---- training checkpoint folders (re_checkpoint_load + re_checkpoint_load_optim) ----------------------------------------
def gen_ckpt():
    model = tiny_model().bytes()
    optim = tiny_optim().bytes()
    cfg = b'{"format":"reenact-train","format_version":1}\n'

    def folder(name, files, status, frag):
        d = os.path.join(OUT, "ckpt", name, "step_0000007")
        os.makedirs(d, exist_ok=True)
        for fn, blob in files.items():
            with open(os.path.join(d, fn), "wb") as f:
                f.write(blob)
        expect("ckpt/" + name, "ckpt", status, frag)

    full = {"model.safetensors": model, "optim.safetensors": optim, "config.json": cfg,
            "DONE": b"step_0000007 complete\n"}
    folder("good", full, "RE_OK", "")
    folder("no_config", {k: v for k, v in full.items() if k != "config.json"}, "RE_ERR_IO", "config.json")
    folder("no_model", {k: v for k, v in full.items() if k != "model.safetensors"}, "RE_ERR_IO", "model.safetensors")
    folder("no_optim", {k: v for k, v in full.items() if k != "optim.safetensors"}, "RE_ERR_IO", "optim.safetensors")
    bad = bytearray(model); bad[-1] ^= 1
    folder("model_corrupt", dict(full, **{"model.safetensors": bytes(bad)}), "RE_ERR_CHECKSUM", "model.safetensors")
    folder("optim_other_mode", dict(full, **{"optim.safetensors": tiny_optim("vae").bytes()}), "RE_ERR_CONFIG",
           "optim.safetensors")
    folder("model_is_optim", dict(full, **{"model.safetensors": optim}), "RE_ERR_VERSION", "model.safetensors")


# ---- packed datasets (.rds) -------------------------------------------------------------------------------------------
RDS_MAGIC = b"\x89RDS\r\n\x1a\n"


def rds(count=3, res=4, groups=(b"alice", b"bob"), ids=None, version=1, header_size=192, channels=3, flags=1,
        n_groups=None, data_offset=256, data_size=None, groups_size=None, names=None, reserved=b"\0" * 32,
        fix_check=True, data=None, index_sha=None, data_sha=None, tail=b"", groups_offset=None, names_offset=None,
        names_size=None):
    rng = Rng(3)
    rec = res * res * channels
    if data is None:
        data = bytes(int(rng.u() * 256) for _ in range(count * rec))
    if ids is None:
        ids = [i % len(groups) for i in range(count)]
    gbytes = struct.pack("<%dI" % len(ids), *ids)
    nbytes = names if names is not None else b"".join(g + b"\0" for g in groups)
    ds = len(data) if data_size is None else data_size
    gs = len(gbytes) if groups_size is None else groups_size
    go = data_offset + len(data) if groups_offset is None else groups_offset
    no = go + len(gbytes) if names_offset is None else names_offset
    ns = len(nbytes) if names_size is None else names_size
    h = RDS_MAGIC + struct.pack("<IIQIIII", version, header_size, count, res, channels, flags,
                                len(groups) if n_groups is None else n_groups)
    h += struct.pack("<QQQQQQ", data_offset, ds, go, gs, no, ns)
    h += data_sha if data_sha is not None else hashlib.sha256(data).digest()
    h += index_sha if index_sha is not None else hashlib.sha256(gbytes + nbytes).digest()
    h += reserved
    assert len(h) == 184
    h += hashlib.sha256(h).digest()[:8] if fix_check else b"\0" * 8
    return h + b"\0" * (data_offset - 192) + data + gbytes + nbytes + tail


def gen_dataset():
    good = rds()
    emit("dataset/good.rds", good, "dataset", "RE_OK", "")
    emit("dataset/good_one_group.rds", rds(count=2, groups=(b"faces",)), "dataset", "RE_OK", "")

    def E(name, blob, status, frag):
        emit("dataset/" + name, blob, "dataset", status, frag)

    E("empty.rds", b"", "RE_ERR_FORMAT", "not a reenact dataset")
    E("png_magic.rds", b"\x89PNG\r\n\x1a\n" + good[8:], "RE_ERR_FORMAT", "not a reenact dataset")
    E("magic_only.rds", RDS_MAGIC, "RE_ERR_TRUNCATED", "header")
    E("cut_in_header.rds", good[:100], "RE_ERR_TRUNCATED", "header")
    E("version_2.rds", rds(version=2), "RE_ERR_VERSION", "version 2")
    E("header_check.rds", rds(fix_check=False), "RE_ERR_CHECKSUM", "header")
    E("header_size_128.rds", rds(header_size=128), "RE_ERR_BAD_HEADER", "header_size")
    E("reserved_nonzero.rds", rds(reserved=b"\0" * 31 + b"\1"), "RE_ERR_BAD_HEADER", "reserved")
    E("flags_unknown.rds", rds(flags=0x10), "RE_ERR_BAD_HEADER", "flags")
    E("res_zero.rds", rds(res=0, count=1, ids=[0], groups=(b"a",)), "RE_ERR_BAD_HEADER", "res")
    E("res_huge.rds", rds(res=5000, count=1, data=b"", data_size=5000 * 5000 * 3, ids=[0], groups=(b"a",)),
      "RE_ERR_BAD_HEADER", "res")
    E("channels_4.rds", rds(channels=4), "RE_ERR_BAD_HEADER", "channels")
    E("count_zero.rds", rds(count=0, ids=[], groups=(b"a",)), "RE_ERR_BAD_HEADER", "no records")
    E("n_groups_zero.rds", rds(n_groups=0), "RE_ERR_BAD_HEADER", "0 groups for 3 records")
    E("n_groups_over_count.rds", rds(count=1, ids=[0], n_groups=2), "RE_ERR_BAD_HEADER", "2 groups for 1 records")
    E("data_size_mismatch.rds", rds(data_size=47), "RE_ERR_BAD_HEADER", "count mismatch")
    E("groups_size_mismatch.rds", rds(groups_size=8), "RE_ERR_BAD_HEADER", "count mismatch")
    E("groups_not_contiguous.rds", rds(groups_offset=256 + 144 + 4), "RE_ERR_BAD_HEADER", "contiguous")
    E("data_offset_below_header.rds", _rds_data_offset(100), "RE_ERR_BAD_HEADER", "data_offset")
    E("data_offset_huge.rds", _rds_data_offset(1 << 21), "RE_ERR_BAD_HEADER", "data_offset")
    E("trailing_bytes.rds", rds(tail=b"xyz"), "RE_ERR_BAD_HEADER", "trailing")
    E("cut_in_names.rds", good[:-3], "RE_ERR_TRUNCATED", "truncated")
    E("cut_in_data.rds", good[:300], "RE_ERR_TRUNCATED", "truncated")
    E("count_overflow.rds", rds(count=1 << 62, ids=[0, 1, 0], data=bytes(144), data_size=0), "RE_ERR_BAD_HEADER", "count")
    E("index_sha.rds", rds(index_sha=b"\x11" * 32), "RE_ERR_CHECKSUM", "index")
    E("group_id_range.rds", rds(ids=[0, 1, 2]), "RE_ERR_BAD_HEADER", "group id")
    E("name_empty.rds", rds(names=b"alice\0\0", names_size=None), "RE_ERR_BAD_HEADER", "name")
    E("name_unterminated.rds", rds(names=b"alice\0bob"), "RE_ERR_BAD_HEADER", "name")
    E("names_extra.rds", rds(names=b"alice\0bob\0carol\0"), "RE_ERR_BAD_HEADER", "name")
    E("name_too_long.rds", rds(names=b"a" * 5000 + b"\0bob\0"), "RE_ERR_BAD_HEADER", "name")
    emit("dataset/data_sha.rds", rds(data_sha=b"\x22" * 32), "dataset", "RE_ERR_CHECKSUM", "data")


def _rds_data_offset(off):
    """A dataset whose header says data_offset = off while the sections are laid out after 256 bytes."""
    b = bytearray(rds())
    struct.pack_into("<Q", b, 40, off)
    b[184:192] = hashlib.sha256(bytes(b[:184])).digest()[:8]
    return bytes(b)


# ---- motion files ---------------------------------------------------------------------------------------------------
def motion(T=3, lm=False, meta=None, drop=(), over=None):
    rng = Rng(11)
    st = ST(meta={"format": "reenact-motion", "format_version": "1", "fps": "25/1", "frames": str(T),
                  "latent": str(LAT), "ref_frame": "0", "model_res": "16", "model_sha256": "",
                  "driving_name": "clip.mp4", "creator": "reenact 0.1.0"})
    st.add("deltas", "F16", [T, LAT], [0.0] * LAT + rng.floats((T - 1) * LAT))
    st.add("ref_latent", "F32", [LAT], rng.floats(LAT))
    st.add("found", "U8", [T], [1] * T)
    if lm:
        pts = []
        for i in range(68):
            pts += [((i * 37) % 17 - 8) / 10.0, ((i * 11) % 13 - 6) / 10.0]
        st.add("landmarks", "F16", [T, 68, 2], pts * T)
    for k, v in (meta or {}).items():
        if v is None:
            st.meta.pop(k, None)
        else:
            st.meta[k] = v
    for k in drop:
        del st.t[k]
    for k, (dt, shape, vals) in (over or {}).items():
        st.add(k, dt, shape, vals)
    return st.bytes()


def gen_motion():
    emit("motion/good.motion", motion(), "motion", "RE_OK", "")
    emit("motion/good_landmarks.motion", motion(lm=True), "motion", "RE_OK", "")

    def E(name, blob, status, frag):
        emit("motion/" + name, blob, "motion", status, frag)

    nan16 = [0.0] * (3 * LAT - 1) + [float("inf")]
    E("format_model.motion", motion(meta={"format": "reenact-vaegan"}), "RE_ERR_VERSION", "format")
    E("version_3.motion", motion(meta={"format_version": "3"}), "RE_ERR_VERSION", "format version '3'")
    E("tensor_unknown.motion", motion(over={"extra": ("F32", [1], [0.0])}), "RE_ERR_UNKNOWN", "extra")
    E("deltas_missing.motion", motion(drop=("deltas",)), "RE_ERR_MISSING", "deltas")
    E("found_missing.motion", motion(drop=("found",)), "RE_ERR_MISSING", "found")
    E("ref_latent_missing.motion", motion(drop=("ref_latent",)), "RE_ERR_MISSING", "ref_latent")
    E("ref_latent_shape.motion", motion(over={"ref_latent": ("F32", [LAT + 1], [0.0] * (LAT + 1))}),
      "RE_ERR_SHAPE", "from 'ref_latent'")
    E("deltas_1d.motion", motion(over={"deltas": ("F16", [3 * LAT], [0.0] * (3 * LAT))}), "RE_ERR_SHAPE", "deltas")
    E("found_length.motion", motion(over={"found": ("U8", [4], [1] * 4)}), "RE_ERR_SHAPE", "found")
    E("landmarks_67.motion", motion(over={"landmarks": ("F16", [3, 67, 2], [0.0] * (3 * 134))}), "RE_ERR_SHAPE",
      "landmarks")
    E("found_f32.motion", motion(over={"found": ("F32", [3], [1.0] * 3)}), "RE_ERR_DTYPE", "found")
    E("deltas_i32.motion", motion(over={"deltas": ("I32", [3, LAT], [0] * (3 * LAT))}), "RE_ERR_DTYPE", "deltas")
    E("frames_mismatch.motion", motion(meta={"frames": "4"}), "RE_ERR_BAD_HEADER", "frames")
    E("frames_absent.motion", motion(meta={"frames": None}), "RE_ERR_BAD_HEADER", "frames")
    E("frames_not_number.motion", motion(meta={"frames": "3x"}), "RE_ERR_BAD_HEADER", "frames")
    E("latent_absent.motion", motion(meta={"latent": None}), "RE_ERR_BAD_HEADER", "latent")
    E("latent_mismatch.motion", motion(meta={"latent": "9"}), "RE_ERR_BAD_HEADER", "latent")
    E("ref_frame_range.motion", motion(meta={"ref_frame": "3"}), "RE_ERR_BAD_HEADER", "ref_frame")
    E("ref_frame_negative.motion", motion(meta={"ref_frame": "-1"}), "RE_ERR_BAD_HEADER", "ref_frame")
    E("fps_integer.motion", motion(meta={"fps": "25"}), "RE_ERR_BAD_HEADER", "fps")
    E("fps_zero.motion", motion(meta={"fps": "0/1"}), "RE_ERR_BAD_HEADER", "fps")
    E("fps_den_zero.motion", motion(meta={"fps": "25/0"}), "RE_ERR_BAD_HEADER", "fps")
    E("model_sha_short.motion", motion(meta={"model_sha256": "abc"}), "RE_ERR_BAD_HEADER", "model_sha256")
    E("found_value_2.motion", motion(over={"found": ("U8", [3], [1, 2, 1])}), "RE_ERR_BAD_HEADER", "found")
    E("deltas_inf.motion", motion(over={"deltas": ("F16", [3, LAT], nan16)}), "RE_ERR_NONFINITE", "deltas")
    E("ref_latent_nan.motion", motion(over={"ref_latent": ("F32", [LAT], [float("nan")] * LAT)}),
      "RE_ERR_NONFINITE", "ref_latent")
    E("audio_in_v1.motion", motion(meta={"audio_format": "matroska"},
                                   over={"audio": ("U8", [8], list(b"\x1a\x45\xdf\xa3abcd"))}),
      "RE_ERR_UNKNOWN", "unexpected tensor 'audio'")
    E("audio_bad_magic.motion", motion(meta={"format_version": "2", "audio_format": "matroska"},
                                       over={"audio": ("U8", [8], list(b"RIFFabcd"))}), "RE_ERR_FORMAT", "not a Matroska file")
    E("audio_no_format.motion", motion(meta={"format_version": "2"},
                                       over={"audio": ("U8", [8], list(b"\x1a\x45\xdf\xa3abcd"))}),
      "RE_ERR_BAD_HEADER", "audio_format")
    good = motion()
    fl = bytearray(good); fl[-1] ^= 1
    E("sha_mismatch.motion", bytes(fl), "RE_ERR_CHECKSUM", "SHA-256 mismatch")
    E("not_safetensors.motion", b"MOTION v1\n" + b"\0" * 32, "RE_ERR_TOO_LARGE", "header length")


# ---- model configuration JSON (re_config_from_json) -----------------------------------------------------------------
def gen_config():
    def E(name, text, status, frag):
        emit("config/" + name, text.encode() if isinstance(text, str) else text, "config", status, frag)

    E("good.json", json.dumps(TINY), "RE_OK", "")
    E("empty.json", "", "RE_ERR_CONFIG", "JSON")
    E("not_json.json", "{res: 64}", "RE_ERR_CONFIG", "JSON")
    E("array.json", "[64, 200]", "RE_ERR_CONFIG", "object")
    E("res_string.json", json.dumps(dict(TINY, res="16")), "RE_ERR_CONFIG", "res")
    E("res_float.json", json.dumps(dict(TINY, res=16.5)), "RE_ERR_CONFIG", "res")
    E("res_huge.json", json.dumps(dict(TINY, res=1 << 40)), "RE_ERR_CONFIG", "res")
    E("res_not_multiple.json", json.dumps(dict(TINY, res=18)), "RE_ERR_CONFIG", "not a multiple")
    E("latent_zero.json", json.dumps(dict(TINY, latent=0)), "RE_ERR_CONFIG", "latent")
    E("n_stages_7.json", json.dumps(dict(TINY, n_stages=7, enc_widths=[4] * 7)), "RE_ERR_CONFIG", "at most 6")
    E("enc_widths_long.json", json.dumps(dict(TINY, enc_widths=[4, 8])), "RE_ERR_CONFIG", "enc_widths")
    E("enc_widths_not_array.json", json.dumps(dict(TINY, enc_widths=4)), "RE_ERR_CONFIG", "enc_widths")
    E("disc_fc_one.json", json.dumps(dict(TINY, disc_fc=[12])), "RE_ERR_CONFIG", "disc_fc")
    E("lrelu_slope_2.json", json.dumps(dict(TINY, lrelu_slope=2)), "RE_ERR_CONFIG", "lrelu_slope")
    E("bn_eps_string.json", json.dumps(dict(TINY, bn_eps="small")), "RE_ERR_CONFIG", "bn_eps")
    E("channels_5.json", json.dumps(dict(TINY, channels=5)), "RE_ERR_CONFIG", "channels")


# ---- the training run's config.json (cli/train_ckpt.c, reached by `reenact train --resume`) -----------------------
def gen_train_config():
    def E(name, obj, status, frag):
        text = obj if isinstance(obj, str) else json.dumps(obj)
        emit("train_config/" + name, text.encode(), "train_config", status, frag)

    E("not_json.json", "{format: reenact-train", "RE_ERR_BAD_HEADER", "not valid JSON")
    E("array.json", "[]", "RE_ERR_BAD_HEADER", "object")
    E("format_other.json", {"format": "reenact-eval", "format_version": 1}, "RE_ERR_BAD_HEADER",
      "not a reenact training config")
    E("version_2.json", {"format": "reenact-train", "format_version": 2}, "RE_ERR_VERSION", "training config version 2")
    E("version_string.json", {"format": "reenact-train", "format_version": "1"}, "RE_ERR_VERSION", "training config version")
    E("fields_missing.json", {"format": "reenact-train", "format_version": 1}, "RE_ERR_BAD_HEADER", "missing or malformed fields")


# ---- images -----------------------------------------------------------------------------------------------------------
def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png(w=4, h=4, depth=8, ctype=2, rows=None, ihdr=None, idat=None, extra=b"", iend=True, interlace=0):
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = ihdr if ihdr is not None else struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    if idat is None:
        ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
        raw = b"".join(b"\0" + bytes((x * 40 + y * 17 + c * 90) & 255 for x in range(w) for c in range(ch))
                       for y in range(h)) if rows is None else rows
        idat = zlib.compress(raw, 9)
    out = sig + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", idat)
    return out + (png_chunk(b"IEND", b"") if iend else b"")


def jpeg(w=16, h=16, mode="RGB", **kw):
    from PIL import Image
    im = Image.new(mode, (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (x * 15, y * 15, 128) if mode == "RGB" else (x * 15)
    b = io.BytesIO()
    im.save(b, "JPEG", quality=90, **kw)
    return b.getvalue()


def jpeg_set_sof_dims(j, w, h):
    b = bytearray(j)
    i = 2
    while i < len(b):
        m = b[i + 1]
        ln = struct.unpack(">H", b[i + 2:i + 4])[0]
        if m in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", b, i + 5, h, w)
            return bytes(b)
        i += 2 + ln
    raise RuntimeError("no SOF")


def jpeg_set_sof_byte(j, off, val):
    b = bytearray(j)
    i = 2
    while i < len(b):
        ln = struct.unpack(">H", b[i + 2:i + 4])[0]
        if b[i + 1] in (0xC0, 0xC1, 0xC2):
            b[i + off] = val
            return bytes(b)
        i += 2 + ln
    raise RuntimeError("no SOF")


def jpeg_drop_marker(j, marker):
    b = bytes(j)
    i = 2
    while i < len(b):
        m = b[i + 1]
        ln = struct.unpack(">H", b[i + 2:i + 4])[0]
        if m == marker:
            return b[:i] + b[i + 2 + ln:]
        if m == 0xDA:
            break
        i += 2 + ln
    raise RuntimeError("marker not found")


def gen_image():
    emit("image/good.png", png(), "image", "RE_OK", "")
    emit("image/good.jpg", jpeg(), "image", "RE_OK", "")

    def E(name, blob, status, frag):
        emit("image/" + name, blob, "image", status, frag)

    good = png()
    E("empty.png", b"", "RE_ERR_FORMAT", "empty file")
    E("text.png", b"this is not an image\n", "RE_ERR_FORMAT", "not a PNG or JPEG")
    E("signature_only.png", good[:8], "RE_ERR_TRUNCATED", "PNG truncated")
    E("cut_in_ihdr.png", good[:20], "RE_ERR_TRUNCATED", "PNG truncated")
    E("cut_in_idat.png", good[:-20], "RE_ERR_TRUNCATED", "PNG truncated")
    E("no_iend.png", png(iend=False), "RE_ERR_TRUNCATED", "PNG truncated")
    bad = bytearray(good); bad[29] ^= 0xFF
    E("ihdr_crc.png", bytes(bad), "RE_ERR_FORMAT", "CRC")
    E("width_zero.png", png(ihdr=struct.pack(">IIBBBBB", 0, 4, 8, 2, 0, 0, 0)), "RE_ERR_FORMAT", "Invalid IHDR")
    E("huge_dims.png", png(ihdr=struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0), idat=b""),
      "RE_ERR_TOO_LARGE", "100000")
    E("bad_color_type.png", png(ihdr=struct.pack(">IIBBBBB", 4, 4, 8, 5, 0, 0, 0)), "RE_ERR_FORMAT", "Invalid IHDR")
    E("bad_bit_depth.png", png(ihdr=struct.pack(">IIBBBBB", 4, 4, 7, 2, 0, 0, 0)), "RE_ERR_FORMAT", "Invalid IHDR")
    E("palette_missing.png", png(ctype=3), "RE_ERR_FORMAT", "Missing PLTE")
    E("idat_not_zlib.png", png(idat=b"\x00\x01garbage that is not deflate data"), "RE_ERR_FORMAT", "incorrect header check")
    E("idat_short_rows.png", png(rows=b"\0" * 10), "RE_ERR_FORMAT", "Not enough image data")
    E("bad_filter.png", png(rows=b"".join(b"\x09" + b"\0" * 12 for _ in range(4))), "RE_ERR_FORMAT", "bad adaptive filter")
    j = jpeg()
    E("jpeg_soi_only.jpg", j[:3], "RE_ERR_TRUNCATED", "JPEG truncated")
    E("jpeg_cut_in_header.jpg", j[:120], "RE_ERR_TRUNCATED", "JPEG truncated")
    E("jpeg_cut_in_scan.jpg", j[:-60], "RE_ERR_TRUNCATED", "JPEG truncated")
    E("jpeg_huge_dims.jpg", jpeg_set_sof_dims(j, 60000, 60000), "RE_ERR_TOO_LARGE", "60000")
    E("jpeg_zero_dims.jpg", jpeg_set_sof_dims(j, 0, 16), "RE_ERR_FORMAT", "Empty JPEG image")
    # no DHT: libjpeg falls back to the standard tables (the Motion-JPEG convention), so it decodes
    E("good_no_huffman.jpg", jpeg_drop_marker(j, 0xC4), "RE_OK", "")
    E("jpeg_no_quant.jpg", jpeg_drop_marker(j, 0xDB), "RE_ERR_FORMAT", "Quantization table")
    E("jpeg_no_sof.jpg", jpeg_drop_marker(j, 0xC0), "RE_ERR_FORMAT", "SOS before SOF")
    E("jpeg_precision_12.jpg", jpeg_set_sof_byte(j, 4, 12), "RE_ERR_FORMAT", "precision 12")


# ---- videos (re_video_reader_open + reading every frame) ---------------------------------------------------------------
def gen_video():
    tmp = tempfile.mkdtemp()
    try:
        mp4 = os.path.join(tmp, "clip.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=1",
                        "-c:v", "mpeg4", "-q:v", "5", "-bitexact", "-fflags", "+bitexact", "-map_metadata", "-1",
                        "-movflags", "+faststart", "-y", mp4], check=True)
        good = open(mp4, "rb").read()
    finally:
        shutil.rmtree(tmp)
    emit("video/good.mp4", good, "video", "RE_OK", "")

    def E(name, blob, status, frag):
        emit("video/" + name, blob, "video", status, frag)

    E("empty.mp4", b"", "RE_ERR_FORMAT", "is empty")
    E("text.mp4", b"not a video, just some text\n" * 4, "RE_ERR_FORMAT", "moov atom not found")
    E("ftyp_only.mp4", good[:32], "RE_ERR_FORMAT", "moov atom not found")
    i = good.find(b"mdat")
    E("moov_only.mp4", good[:i - 4], "RE_ERR_TRUNCATED", "none could be read")
    moov = good.find(b"moov")
    E("moov_cut.mp4", good[:moov + 100], "RE_ERR_FORMAT", "no usable video stream")
    b = bytearray(good); b[i + 4:] = bytes(len(b) - i - 4)
    E("mdat_zeroed.mp4", bytes(b), "RE_ERR_FORMAT", "Invalid data")
    E("y4m_bad_header.y4m", b"YUV4MPEG2 W0 H0 F25:1\nFRAME\n" + b"\0" * 64, "RE_ERR_FORMAT", "Picture size 0x0 is invalid")
    E("gif_header_only.gif", b"GIF89a\x10\x00\x10\x00\x00\x00\x00", "RE_ERR_FORMAT", "contains no frames")


# ---- dlib model files (face detector's shape predictor, face-id network) ----------------------------------------------
def dlib_int(v, width):
    """dlib's integer encoding (dlib/serialize.h): a control byte (byte count | 0x80 when negative), then the
    magnitude's bytes, little-endian, at least one."""
    assert abs(v) < 1 << (8 * width)
    a = -v if v < 0 else v
    b = bytearray()
    while True:
        b.append(a & 0xFF)
        a >>= 8
        if a == 0:
            break
    return bytes([len(b) | (0x80 if v < 0 else 0)]) + bytes(b)


def dlib_float(x):
    """dlib's float encoding (float_details.h): int64 mantissa of 24 bits, int16 exponent, low zero bytes shifted
    off; 32000 / 32001 / 32002 as the exponent for inf / -inf / NaN."""
    import math
    if math.isnan(x):
        return dlib_int(0, 8) + dlib_int(32002, 2)
    if math.isinf(x):
        return dlib_int(0, 8) + dlib_int(32000 if x > 0 else 32001, 2)
    m, e = math.frexp(x)
    man, ex = int(m * (1 << 24)), e - 24
    for _ in range(8):
        if man & 0xFF:
            break
        man >>= 8
        ex += 8
    return dlib_int(man, 8) + dlib_int(ex, 2)


def shape_predictor(version=1, mean_n=136, levels=((2, 3, 7), (1, 2, 5)), leaf_n=136, nleaf=None, anchor=None,
                    split=None, leaf=None, offsets_short=0):
    """A small dlib shape_predictor (dlib/image_processing/shape_predictor.h serialize): version, mean shape
    (matrix<float,0,1>: -rows, -1, values), forests (per level: trees of {splits [idx1, idx2, thresh], leaf
    matrices}), anchor_idx, deltas. levels: (depth, trees, feature pixels) per cascade level."""
    r = Rng(77)
    col = lambda vals: dlib_int(-len(vals), 8) + dlib_int(-1, 8) + b"".join(dlib_float(v) for v in vals)
    out = dlib_int(version, 4) + col(r.floats(mean_n))
    out += dlib_int(len(levels), 8)
    for c, (depth, ntree, nfeat) in enumerate(levels):
        out += dlib_int(ntree, 8)
        for k in range(ntree):
            nl = nleaf if (nleaf and c == 0 and k == 0) else 1 << depth
            out += dlib_int(nl - 1, 8)
            for i in range(nl - 1):
                a, b = (i * 3 + k) % nfeat, (i * 5 + k + 1) % nfeat
                if split and c == 0 and k == 0 and i == 0:
                    a = split
                out += dlib_int(a, 8) + dlib_int(b, 8) + dlib_float(r.floats(1)[0])
            out += dlib_int(nl, 8)
            for v in range(nl):
                vals = r.floats(leaf_n, 0.01)
                if leaf is not None and c == 1 and k == 0 and v == 0:
                    vals[5] = leaf
                out += col(vals)
    out += dlib_int(len(levels), 8)
    for c, (_, _, nfeat) in enumerate(levels):
        out += dlib_int(nfeat, 8) + b"".join(dlib_int(anchor if (anchor and c == 0 and i == 0) else (i * 13 + c) % 68, 8)
                                              for i in range(nfeat))
    out += dlib_int(len(levels), 8)
    for c, (_, _, nfeat) in enumerate(levels):
        n = nfeat - (offsets_short if c == 1 else 0)
        out += dlib_int(n, 8) + b"".join(dlib_float(v) for v in r.floats(2 * n, 0.2))
    return out


def gen_dlib():
    good = shape_predictor()
    emit("face_model/good.dat", good, "face_model", "RE_OK", "")
    E = lambda name, blob, status, frag: emit("face_model/" + name, blob, "face_model", status, frag)
    E("version_2.dat", shape_predictor(version=2), "RE_ERR_FORMAT", "got version 2")
    E("mean_134.dat", shape_predictor(mean_n=134), "RE_ERR_FORMAT", "wrong size")
    E("leaf_135.dat", shape_predictor(leaf_n=135), "RE_ERR_FORMAT", "wrong size")
    E("three_leaves.dat", shape_predictor(nleaf=3), "RE_ERR_FORMAT", "power of 2")
    E("anchor_68.dat", shape_predictor(anchor=68), "RE_ERR_FORMAT", "is landmark 68")
    E("split_beyond_features.dat", shape_predictor(split=7), "RE_ERR_FORMAT", "split on features 7/")
    E("nan_leaf.dat", shape_predictor(leaf=float("nan")), "RE_ERR_FORMAT", "non-finite leaf")
    E("inf_leaf.dat", shape_predictor(leaf=float("inf")), "RE_ERR_FORMAT", "non-finite leaf")
    E("offsets_short.dat", shape_predictor(offsets_short=1), "RE_ERR_FORMAT", "feature offsets")
    E("truncated.dat", good[: len(good) * 2 // 3], "RE_ERR_FORMAT", "ends early")
    E("text_float.dat", dlib_int(1, 4) + dlib_int(-136, 8) + dlib_int(-1, 8) + b"0.25 " * 136, "RE_ERR_FORMAT",
      "old text encoding")
    head = shape_predictor(levels=())[:-6]   # version and mean shape, without the three (empty) vector sizes
    E("huge_count.dat", head + dlib_int(1 << 40, 8), "RE_ERR_FORMAT", "larger than the file")
    for ent in ("face_model", "faceid"):
        what = "shape predictor" if ent == "face_model" else "face-recognition network"
        emit(ent + "/empty.dat", b"", ent, "RE_ERR_FORMAT", what)
        emit(ent + "/text.dat", b"this is not a dlib model\n" * 8, ent, "RE_ERR_FORMAT", "")
        emit(ent + "/png.dat", png(), ent, "RE_ERR_FORMAT", what)
        expect(ent + "/does_not_exist.dat", ent, "RE_ERR_IO", "cannot be opened")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    base = gen_model()
    gen_directions(base)
    gen_optim()
    gen_ckpt()
    gen_dataset()
    gen_motion()
    gen_config()
    gen_train_config()
    gen_image()
    gen_video()
    gen_dlib()
    w = max(len(r) for r, _, _, _ in MANIFEST)
    with open(os.path.join(OUT, "MANIFEST"), "w") as f:
        f.write("# Written by tools/make_malformed.py; run by tests/unit/test_malformed.c.\n"
                "# path (under tests/fixtures/malformed)  entry  expected status  message fragment (rest of line)\n")
        for rel, entry, status, frag in MANIFEST:
            f.write("%-*s  %-12s  %-22s  %s\n" % (w, rel, entry, status, frag))
    n = sum(1 for m in MANIFEST if m[2] != "RE_OK")
    print("wrote %d fixtures (%d malformed) under %s" % (len(MANIFEST), n, os.path.relpath(OUT, ROOT)))


if __name__ == "__main__":
    sys.exit(main())
