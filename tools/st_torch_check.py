#!/usr/bin/python3
"""st_torch_check.py - load a safetensors file (e.g. one written by re_st_write) into PyTorch tensors and print it.

  /usr/bin/python3 tools/st_torch_check.py FILE.safetensors [--check-rounding]

Debian 12 has torch (python3-torch) but no safetensors module, so the file is parsed by hand (struct + json),
following docs/FORMAT.md. The script checks the layout (offsets contiguous from 0 to EOF, byte lengths matching
shapes) and data_sha256 when present, then prints every tensor's name, dtype, shape and a few statistics, and the
metadata. With --check-rounding, every pair "<stem>.f32" (F32) + "<stem>.bf16" (BF16) / "<stem>.f16" (F16) must hold
exactly what torch's own .to(bfloat16) / .to(float16) of the F32 tensor gives (round to nearest even).
Exit status: 0 ok, 1 a check failed, 2 usage error.
"""
import hashlib
import json
import struct
import sys

import torch

DTYPES = {
    "F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2), "F64": (torch.float64, 8),
    "I64": (torch.int64, 8), "I32": (torch.int32, 4), "U8": (torch.uint8, 1),
}


def load(path):
    with open(path, "rb") as fh:
        blob = fh.read()
    if len(blob) < 8:
        raise ValueError("%s: shorter than 8 bytes" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if n + 8 > len(blob):
        raise ValueError("%s: header length %d beyond EOF" % (path, n))
    hdr_bytes = blob[8:8 + n]
    if not hdr_bytes.startswith(b"{"):
        raise ValueError("%s: header does not start with '{'" % path)
    hdr = json.loads(hdr_bytes.decode("utf-8"))
    data = blob[8 + n:]
    meta = hdr.pop("__metadata__", {}) or {}
    spans = []
    tensors = {}
    for name, e in hdr.items():
        tdt, size = DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        numel = 1
        for d in e["shape"]:
            numel *= d
        if end - b != numel * size:
            raise ValueError("%s: tensor %s: %d bytes for shape %s %s" % (path, name, end - b, e["shape"], e["dtype"]))
        spans.append((b, end, name))
        if numel == 0:
            t = torch.empty(e["shape"], dtype=tdt)
        else:
            t = torch.frombuffer(bytearray(data[b:end]), dtype=tdt).reshape(e["shape"])
        tensors[name] = t
    pos = 0
    for b, end, name in sorted(spans):
        if b != pos:
            raise ValueError("%s: tensor %s starts at %d, expected %d" % (path, name, b, pos))
        pos = end
    if pos != len(data):
        raise ValueError("%s: tensors end at %d, data section has %d bytes" % (path, pos, len(data)))
    if "data_sha256" in meta:
        got = hashlib.sha256(data).hexdigest()
        if got != meta["data_sha256"].lower():
            raise ValueError("%s: data_sha256 mismatch: header %s, data %s" % (path, meta["data_sha256"], got))
    return tensors, meta, n


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = [a for a in argv[1:] if a.startswith("--")]
    if len(args) != 1 or any(f not in ("--check-rounding",) for f in flags):
        sys.stderr.write(__doc__)
        return 2
    try:
        tensors, meta, n = load(args[0])
    except (ValueError, KeyError, UnicodeDecodeError, json.JSONDecodeError) as e:
        print("FAIL: %s" % e)
        return 1
    print("%s: %d tensors, header %d bytes (multiple of 8: %s), torch %s"
          % (args[0], len(tensors), n, n % 8 == 0, torch.__version__))
    for k in sorted(meta):
        v = meta[k]
        print("  meta %-16s %s" % (k, v if len(v) <= 80 else v[:77] + "..."))
    for name in sorted(tensors):
        t = tensors[name]
        stats = ""
        if t.numel() and t.dtype.is_floating_point:
            d = t.double()
            stats = "min %.6g max %.6g mean %.6g" % (d.min().item(), d.max().item(), d.mean().item())
        elif t.numel():
            stats = "first %s" % t.flatten()[0].item()
        print("  %-40s %-14s %-18s %s" % (name, str(t.dtype).replace("torch.", ""), list(t.shape), stats))
    bad = 0
    if "--check-rounding" in flags:
        checked = 0
        for name, t in tensors.items():
            if not name.endswith(".f32"):
                continue
            stem = name[:-4]
            for suffix, tdt in ((".bf16", torch.bfloat16), (".f16", torch.float16)):
                other = tensors.get(stem + suffix)
                if other is None:
                    continue
                want = t.to(tdt)
                same = torch.equal(want.view(torch.int16), other.view(torch.int16))
                checked += 1
                if not same:
                    idx = (want.view(torch.int16) != other.view(torch.int16)).nonzero()[0].tolist()
                    print("FAIL %s%s differs from torch's conversion at %s: file %s, torch %s"
                          % (stem, suffix, idx, other[tuple(idx)].item(), want[tuple(idx)].item()))
                    bad += 1
        print("rounding: %d tensor pairs compared with torch, %d differ" % (checked, bad))
        if checked == 0:
            print("FAIL: --check-rounding found no <stem>.f32 + <stem>.bf16/.f16 pairs")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
