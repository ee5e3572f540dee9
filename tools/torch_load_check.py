#!/usr/bin/python3
"""
torch_load_check.py - proves that a checkpoint written by the C engine is a valid PyTorch state_dict of the same
network and that PyTorch computes the same outputs from it.

    /usr/bin/python3 tools/torch_load_check.py MODEL.safetensors INPUT.safetensors

MODEL: a reenact model file (metadata "config" = the C re_config as JSON; tensors named like the state_dict keys of
tools/reenact_torch.py; F32, F16 or BF16 floats, num_batches_tracked I64). It is loaded with
load_state_dict(strict=True): a missing, unknown or wrongly shaped tensor fails.
INPUT: tensors "x" [N,C,R,R] (the images the C side encoded), "mu" [N,latent] (C eval-mode encoder mean) and "xr"
[N,C,R,R] (C eval-mode decoder(mu)); an optional "logvar" [N,latent] is compared too.

PyTorch runs in float64 on the exact weights of the file (F16/BF16 widened exactly), encoder and decoder in eval mode
(BatchNorm uses the running statistics), and decodes the C side's own mu, so the decoder check does not inherit the
encoder's error. Tolerance: max abs error <= 1e-4 per tensor. The C engine computes in f32; its rounding error on
these O(1) outputs (mu, logvar, sigmoid pixels in (0,1)) after ~4k-term dot products and BN is ~1e-6, so 1e-4 leaves
~100x headroom, while any real mismatch (a transposed weight, a wrong BN eps or statistic, a missing activation, a
flatten order) moves outputs by 1e-2 or more.
Exit status: 0 match, 1 mismatch, 2 unusable arguments or files.
"""
import os
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True   # no tools/__pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reenact_torch as rt  # noqa: E402

TOL = 1e-4


def main(argv):
    if len(argv) != 3:
        print("usage: %s MODEL.safetensors INPUT.safetensors" % argv[0], file=sys.stderr)
        return 2
    try:
        weights, meta = rt.st_load(argv[1])
        inp, _ = rt.st_load(argv[2])
        if "config" not in meta:
            raise ValueError("%s: no 'config' in __metadata__" % argv[1])
        cfg = rt.config_from_json(meta["config"])
        for k in ("x", "mu", "xr"):
            if k not in inp:
                raise ValueError("%s: missing tensor '%s'" % (argv[2], k))
    except (OSError, ValueError, KeyError, TypeError) as e:
        print("torch_load_check: %s" % e, file=sys.stderr)
        return 2

    # Build the bias variant the file has (see BN_CONV_BIAS in reenact_torch.py); strict loading still checks
    # every other name and shape, and that the variant is consistent across all layers.
    bn_conv_bias = "encoder.conv2.bias" in weights
    if bn_conv_bias != rt.BN_CONV_BIAS:
        print("torch_load_check: note: %s %s biases on the convs that feed BatchNorm (reenact_torch default: %s)" %
              (argv[1], "has" if bn_conv_bias else "has no", "with" if rt.BN_CONV_BIAS else "without"))
    model = rt.VaeGan(cfg, bn_conv_bias)
    sd = {}
    for k, a in weights.items():
        t = torch.from_numpy(np.array(a))
        sd[k] = t.long() if a.dtype.kind in "iu" else t.float()
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        print("torch_load_check: %s does not match the PyTorch model:\n%s" % (argv[1], e), file=sys.stderr)
        return 1
    model = model.double().eval()

    x = torch.from_numpy(np.array(inp["x"], dtype=np.float64))
    mu_c = np.array(inp["mu"], dtype=np.float64)
    xr_c = np.array(inp["xr"], dtype=np.float64)
    with torch.no_grad():
        mu, logvar = model.encoder(x)
        xr = model.decoder(torch.from_numpy(mu_c))
    checks = [("mu", mu.numpy(), mu_c), ("xr", xr.numpy(), xr_c)]
    if "logvar" in inp:
        checks.append(("logvar", logvar.numpy(), np.array(inp["logvar"], dtype=np.float64)))
    bad = 0
    for name, want, got in checks:
        if want.shape != got.shape:
            print("%s: shape %s from the C side, PyTorch gives %s" % (name, got.shape, want.shape))
            bad += 1
            continue
        err = np.abs(got - want)
        worst = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
        maxerr = float(err.max()) if err.size else 0.0
        ok = np.isfinite(got).all() and maxerr <= TOL
        print("%-6s max_abs_err %.3g at %s (C %.8g, torch %.8g) -> %s" %
              (name, maxerr, tuple(int(i) for i in worst), got[worst] if err.size else 0.0,
               want[worst] if err.size else 0.0, "ok" if ok else "MISMATCH (tol %g)" % TOL))
        bad += 0 if ok else 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
