#!/usr/bin/python3
"""
torch_bench.py - the PyTorch baseline for bench/bench_train.c and bench/bench_infer.c: times the same seed64 VAE and
VAE-GAN training steps (batch 64, 64x64, x uniform in [0,1] in memory) and the batch-1 encode+decode / decode of
tools/reenact_torch.py (the layer-for-layer PyTorch twin of the C model), and prints JSON in the C benches' format.

    /usr/bin/python3 tools/torch_bench.py [--target train_vae,train_vaegan,infer_encdec,infer_dec] [--threads 2]
        [--batch 64] [--steps 5] [--reps 5] [--warmup 3] [--runs 200] [--infer-warmup 20]
        [--train-variant NAME] [--infer-variant NAME] [--json out.json] [--explore]

Runs in PyTorch's best CPU configuration on this machine (Debian 12, python3-torch 1.13):
  - OMP_NUM_THREADS=<threads> and torch.set_num_threads(<threads>) (ATen's OpenMP pool),
  - LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp: Debian's torch takes its GEMMs from the system BLAS
    and the default OpenBLAS alternative is the pthread build, whose own thread pool fights ATen's OpenMP pool
    (about 2x slower on 2 cores). Both variables must be set before the process starts, so the script re-executes
    itself with them when they are missing (--no-reexec to measure the untuned setup).
Variants (--explore times all of them and prints which is fastest; the defaults are the best found, docs/PERF.md):
  training:  ref      = reenact_torch.train_step as written (the semantics the C trainer reproduces)
             tuned    = the same math with D's parameters frozen (requires_grad False) during the generator-side D
                        forward/backward (PyTorch would otherwise compute D weight grads that are thrown away; the
                        C code does not compute them), zero_grad(set_to_none=True), Adam(foreach=True)
             tuned_cl = tuned with the model and the batch in channels_last memory format
  inference: eager    = model.eval() under torch.no_grad()
             infmode  = model.eval() under torch.inference_mode()
             cl       = no_grad, channels_last
             jit      = torch.jit.trace + torch.jit.freeze (encoder and decoder separately; freeze folds
                        eval-mode BatchNorm into the preceding conv)
             jit_opt  = jit + torch.jit.optimize_for_inference (oneDNN layout conversion of convs)
             mkldnn   = torch.utils.mkldnn.to_mkldnn on the eval model, inputs as mkldnn tensors (fails in torch
                        1.13: leaky_relu has no MKLDNN-tensor kernel)
Timing: like the C benches, W warm-up steps then R repetitions of K steps (img/s per repetition); inference alternates
encode+decode and decode call by call, each timed on its own (ms). With --explore the variants are interleaved
repetition by repetition (training) and call by call (inference), so drift in machine load hits all of them alike.
"""
import argparse
import json
import os
import statistics
import sys
import time

OPENBLAS_OMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch baseline for the reenact benches")
    p.add_argument("--target", default="train_vae,train_vaegan,infer_encdec,infer_dec",
                   help="comma list of train_vae, train_vaegan, infer_encdec, infer_dec (infer_* run together)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="training steps per repetition")
    p.add_argument("--reps", type=int, default=5, help="training repetitions")
    p.add_argument("--warmup", type=int, default=3, help="untimed training steps")
    p.add_argument("--runs", type=int, default=200, help="timed inference calls per target")
    p.add_argument("--infer-warmup", type=int, default=20)
    p.add_argument("--train-variant", default="tuned", choices=["ref", "tuned", "tuned_cl"])
    p.add_argument("--infer-variant", default="jit_opt",
                   choices=["eager", "infmode", "cl", "jit", "jit_opt", "mkldnn"])
    p.add_argument("--json", help="write results here")
    p.add_argument("--explore", action="store_true", help="time every variant, report the fastest")
    p.add_argument("--no-reexec", action="store_true", help="do not set OMP_NUM_THREADS / LD_LIBRARY_PATH")
    a = p.parse_args(argv)
    if min(a.threads, a.batch, a.steps, a.reps, a.runs) < 1 or min(a.warmup, a.infer_warmup) < 0:
        p.error("--threads/--batch/--steps/--reps/--runs must be >= 1, warm-ups >= 0")
    return a


def ensure_env(args):
    """Re-executes this script with the tuned environment if it is not already in place."""
    if args.no_reexec:
        return
    want_threads = str(args.threads)
    ld = os.environ.get("LD_LIBRARY_PATH", "")
    ok = os.environ.get("OMP_NUM_THREADS") == want_threads and OPENBLAS_OMP in ld.split(":")
    if ok or os.environ.get("RE_TORCH_BENCH_REEXEC"):
        return
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = want_threads
    if os.path.isdir(OPENBLAS_OMP):
        env["LD_LIBRARY_PATH"] = OPENBLAS_OMP + (":" + ld if ld else "")
    env["RE_TORCH_BENCH_REEXEC"] = "1"
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


ARGS = parse_args(sys.argv[1:])
ensure_env(ARGS)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True  # no tools/__pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reenact_torch as rt  # noqa: E402

WEIGHTS = {  # re_train_opts_default
    False: dict(w_rec=1.0, w_kl=1.0, w_adv=0.0, w_fm=0.0),
    True: dict(w_rec=1.0, w_kl=1.0, w_adv=20.0, w_fm=100.0),
}
LR_G = {False: 1e-3, True: 2e-4}


def blas_lib():
    """Path of the BLAS library this process loaded (for the record)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                if "blas" in line:
                    return line.split()[-1]
    except OSError:
        pass
    return "?"


# ---------------------------------------------------------------------------------------------------------------
# Training

def tuned_step(model, opt_g, opt_d, x, eps, w, gan):
    """reenact_torch.train_step's math, without the wasted D weight grads of the generator pass."""
    mu, logvar = model.encoder(x)
    z = mu + eps * torch.exp(0.5 * logvar)
    xr = model.decoder(z)
    g_loss = w["w_rec"] * rt.loss_rec(xr, x) + w["w_kl"] * rt.loss_kl(mu, logvar)
    if gan:
        opt_d.zero_grad(set_to_none=True)
        d_real, _ = model.disc(x)
        d_fake, _ = model.disc(xr.detach())
        d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) +
                  F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        d_loss.backward()
        opt_d.step()
        for p in model.disc.parameters():
            p.requires_grad_(False)
        logit_f, feats_f = model.disc(xr)
        with torch.no_grad():
            _, feats_r = model.disc(x)
        adv = F.binary_cross_entropy_with_logits(logit_f, torch.ones_like(logit_f))
        g_loss = g_loss + w["w_adv"] * adv + w["w_fm"] * rt.loss_fm(feats_f, feats_r)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    if gan:
        for p in model.disc.parameters():
            p.requires_grad_(True)
    return g_loss.item()


def setup_train(gan, variant, args):
    """Builds a fresh model + optimizers for one training variant; returns its step() closure."""
    torch.manual_seed(0)
    cfg = dict(rt.SEED64)
    model = rt.VaeGan(cfg)
    model.train()
    x = torch.rand(args.batch, cfg["channels"], cfg["res"], cfg["res"])
    if variant == "ref":
        opt_g, opt_d = rt.make_optimizers(model, lr_g=LR_G[gan])
    else:
        betas, eps_ = (0.5, 0.999), 1e-8
        opt_g = torch.optim.Adam(list(model.encoder.parameters()) + list(model.decoder.parameters()), lr=LR_G[gan],
                                 betas=betas, eps=eps_, foreach=True)
        opt_d = torch.optim.Adam(model.disc.parameters(), lr=2e-4, betas=betas, eps=eps_, foreach=True)
    if variant == "tuned_cl":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    w = WEIGHTS[gan]

    def step():
        eps = torch.randn(args.batch, cfg["latent"])
        if variant == "ref":
            rt.train_step(model, opt_g, opt_d, x, eps, w, gan)
        else:
            tuned_step(model, opt_g, opt_d, x, eps, w, gan)

    return step


def bench_train(gan, variants, args):
    """Times the variants' steps interleaved repetition by repetition (so load drift hits all alike).
    Returns {variant: sorted img/s per repetition}."""
    steps = {v: setup_train(gan, v, args) for v in variants}
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    ips = {v: [] for v in variants}
    for _ in range(args.reps):
        for v, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            ips[v].append(args.batch * args.steps / (time.perf_counter() - t0))
    return {v: sorted(r) for v, r in ips.items()}


# ---------------------------------------------------------------------------------------------------------------
# Inference

def make_infer(variant, model, cfg, x):
    """Returns (encode(x) -> mu, decode(mu) -> image, x in the variant's format, context manager factory)."""
    enc, dec = model.encoder.eval(), model.decoder.eval()
    ctx = torch.inference_mode if variant == "infmode" else torch.no_grad
    z0 = torch.zeros(1, cfg["latent"])
    if variant in ("eager", "infmode"):
        return (lambda t: enc(t)[0]), dec, x, ctx
    if variant == "cl":
        enc = enc.to(memory_format=torch.channels_last)
        dec = dec.to(memory_format=torch.channels_last)
        return (lambda t: enc(t)[0]), dec, x.contiguous(memory_format=torch.channels_last), ctx
    if variant in ("jit", "jit_opt"):
        with torch.no_grad():
            je = torch.jit.freeze(torch.jit.trace(enc, x).eval())
            jd = torch.jit.freeze(torch.jit.trace(dec, z0).eval())
            if variant == "jit_opt":
                je = torch.jit.optimize_for_inference(je)
                jd = torch.jit.optimize_for_inference(jd)
        return (lambda t: je(t)[0]), jd, x, ctx
    if variant == "mkldnn":
        from torch.utils import mkldnn as mk
        me, md = mk.to_mkldnn(enc), mk.to_mkldnn(dec)
        return (lambda t: me(t.to_mkldnn())[0].to_dense()), (lambda z: md(z).to_dense()), x, ctx
    raise ValueError(variant)


def setup_infer(variant, model, cfg, x):
    """Checks a variant against the eager model and returns (encode, decode, input, context) for it."""
    encode, decode, xin, ctx = make_infer(variant, model, cfg, x)
    with ctx():
        ref_mu, _ = model.encoder(x)
        ref_out = model.decoder(ref_mu)
        mu = encode(xin)
        out = decode(mu)
        # The variant must compute the same thing as the eager model (oneDNN reorders change rounding only).
        if not torch.allclose(mu, ref_mu, atol=1e-4, rtol=1e-3):
            raise RuntimeError("variant %s: encoder output differs from eager" % variant)
        if not torch.allclose(out.float(), ref_out, atol=1e-4, rtol=1e-3):
            raise RuntimeError("variant %s: decoder output differs from eager" % variant)
    return encode, decode, xin, ctx


def bench_infer(variants, args):
    """Times encode+decode and decode of each variant, interleaved call by call. Variants this torch build cannot
    run are reported on stderr and skipped. Returns {variant: (sorted ms of encode+decode, sorted ms of decode)}."""
    torch.manual_seed(0)
    cfg = dict(rt.SEED64)
    x = torch.rand(1, cfg["channels"], cfg["res"], cfg["res"])
    setups = {}
    for v in variants:
        torch.manual_seed(0)
        model = rt.VaeGan(cfg)  # each variant converts its own copy (channels_last, mkldnn modify modules)
        try:
            setups[v] = setup_infer(v, model, cfg, x)
        except Exception as e:  # noqa: BLE001 - a variant unsupported by this build is skipped when exploring
            if len(variants) == 1:
                raise
            msg = [ln for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
            print("%-13s %-9s failed: %s" % ("infer", v, msg[-1].strip()[:120]), file=sys.stderr)
    t = {v: ([], []) for v in setups}
    for i in range(args.infer_warmup + args.runs):
        for v, (encode, decode, xin, ctx) in setups.items():
            with ctx():
                t0 = time.perf_counter()
                mu = encode(xin)
                decode(mu)
                t1 = time.perf_counter()
                decode(mu)
                t2 = time.perf_counter()
            if i >= args.infer_warmup:
                t[v][0].append((t1 - t0) * 1e3)
                t[v][1].append((t2 - t1) * 1e3)
    return {v: (sorted(a), sorted(b)) for v, (a, b) in t.items()}


# ---------------------------------------------------------------------------------------------------------------

def row(name, unit, samples, variant):
    return {"name": name, "unit": unit, "min": samples[0], "median": statistics.median(samples),
            "max": samples[-1], "variant": variant, "samples": [round(v, 5) for v in samples]}


def main():
    args = ARGS
    torch.set_num_threads(args.threads)
    targets = [t.strip() for t in args.target.split(",") if t.strip()]
    known = {"train_vae", "train_vaegan", "infer_encdec", "infer_dec"}
    bad = [t for t in targets if t not in known]
    if bad:
        sys.exit("torch_bench: unknown target(s) %s (known: %s)" % (",".join(bad), ",".join(sorted(known))))
    info = {"tool": "torch_bench", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "blas": blas_lib(),
            "batch": args.batch, "steps": args.steps, "reps": args.reps, "runs": args.runs, "results": []}
    print("torch_bench: torch %s, %d threads, OMP_NUM_THREADS=%s, BLAS %s" %
          (torch.__version__, info["threads"], info["omp_num_threads"], info["blas"]), file=sys.stderr)
    train_variants = ["ref", "tuned", "tuned_cl"] if args.explore else [args.train_variant]
    infer_variants = ["eager", "infmode", "cl", "jit", "jit_opt", "mkldnn"] if args.explore else [args.infer_variant]
    for gan, name in ((False, "train_vae"), (True, "train_vaegan")):
        if name not in targets:
            continue
        for v, ips in bench_train(gan, train_variants, args).items():
            r = row(name, "img/s", ips, v)
            info["results"].append(r)
            print("%-13s %-9s img/s min %7.1f  median %7.1f  max %7.1f" % (name, v, r["min"], r["median"], r["max"]),
                  file=sys.stderr)
    if "infer_encdec" in targets or "infer_dec" in targets:
        for v, (t_ed, t_d) in bench_infer(infer_variants, args).items():
            for name, s in (("infer_encdec", t_ed), ("infer_dec", t_d)):
                if name in targets:
                    r = row(name, "ms", s, v)
                    info["results"].append(r)
                    print("%-13s %-9s ms    min %7.3f  median %7.3f  max %7.3f" %
                          (name, v, r["min"], r["median"], r["max"]), file=sys.stderr)
    if args.explore:
        best = {}
        for r in info["results"]:
            b = best.get(r["name"])
            if b is None or (r["median"] > b["median"] if r["unit"] == "img/s" else r["median"] < b["median"]):
                best[r["name"]] = r
        for n, r in best.items():
            print("best %-13s %s (median %.3f %s)" % (n, r["variant"], r["median"], r["unit"]), file=sys.stderr)
    text = json.dumps(info, indent=1)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
