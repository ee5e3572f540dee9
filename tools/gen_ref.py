#!/usr/bin/python3
"""
gen_ref.py - writes the PyTorch reference data under tests/ref/data/ that prove the C engine computes what PyTorch
computes. The files are committed, so building and testing never needs torch; rerun this only when an op or the model
changes:
    /usr/bin/python3 tools/gen_ref.py [--out DIR]        (Debian's python3-torch 1.13; the pyenv python has no torch)
    /usr/bin/python3 tools/gen_ref.py --f32-baseline     (prints the f32-vs-f64 error floor of the model case)

All math is float64 with fixed seeds. Inputs, parameters and dout are drawn in float32 and stored as F32, so they are
exactly what the C side (f32) reads; every reference result (outputs, grads, losses, states after optimizer steps) is
computed in float64 from those same values and stored as F64 (not rounded to f32), so a C test's error is only its own.

Op files (tests/ref/data/op_<name>.safetensors): inputs/params, "out", a random "dout" and "grad/<input>" =
d sum(out*dout) / d input (autograd). Loss files hold "loss" and "grad/<input>" = dLoss/dinput. Scalars (stride, pad,
slope, eps, momentum, Adam hyperparameters) are in the metadata as decimal strings; "op" names the case.
Model file (tests/ref/data/model_tiny.safetensors): see gen_model() below; its layout is documented there.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True   # no tools/__pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reenact_torch as rt  # noqa: E402

torch.set_default_dtype(torch.float64)


class Gen:
    """Seeded generator of f32-exact float64 tensors."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def randn(self, *shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=self.g, dtype=torch.float32) * scale + shift).double()

    def uniform(self, *shape, lo=0.0, hi=1.0):
        return (torch.rand(*shape, generator=self.g, dtype=torch.float32) * (hi - lo) + lo).double()


def f32(t):
    """An input: must be f32-exact (checked), stored as F32."""
    a = t.detach().cpu().numpy()
    a32 = a.astype(np.float32)
    if a.dtype == np.float64 and not np.array_equal(a32.astype(np.float64), a):
        raise AssertionError("input is not f32-exact")
    return a32


def f64(t):
    """A reference result, stored as F64."""
    if isinstance(t, float):
        return np.array([t], dtype=np.float64)
    return t.detach().cpu().numpy().astype(np.float64)


def away_from(t, center, gap):
    """Move values closer than gap to `center` out to center +- gap (keeps kinks out of the data), f32-exact."""
    d = t - center
    d = torch.where(d.abs() < gap, torch.sign(d + (d == 0)) * gap, d)
    return (center + d).float().double()


def save(outdir, name, tensors, meta):
    path = os.path.join(outdir, "%s.safetensors" % name)
    rt.st_save(path, tensors, {k: str(v) for k, v in meta.items()})
    return path


def grads_of(out, dout, inputs):
    """Autograd grads of sum(out*dout) w.r.t. the named leaf inputs."""
    for t in inputs.values():
        t.grad = None
    (out * dout).sum().backward()
    return {"grad/" + k: f64(t.grad) for k, t in inputs.items()}


# ---------------------------------------------------------------------------------------------------------------
# a) op cases

def gen_conv(outdir, name, k, stride, pad, seed):
    g = Gen(seed)
    n, ic, oc, h, w = 3, 5, 7, 9, 11
    x = g.randn(n, ic, h, w).requires_grad_()
    wt = g.randn(oc, ic, k, k, scale=0.3).requires_grad_()
    b = g.randn(oc, scale=0.5).requires_grad_()
    out = F.conv2d(x, wt, b, stride=stride, padding=pad)
    dout = g.randn(*out.shape)
    tens = {"x": f32(x), "w": f32(wt), "b": f32(b), "dout": f32(dout), "out": f64(out)}
    tens.update(grads_of(out, dout, {"x": x, "w": wt, "b": b}))
    return save(outdir, name, tens, {"op": "conv2d", "stride": stride, "pad": pad})


def gen_deconv(outdir, seed):
    g = Gen(seed)
    n, ic, oc, h, w = 3, 5, 7, 5, 6
    x = g.randn(n, ic, h, w).requires_grad_()
    wt = g.randn(ic, oc, 4, 4, scale=0.3).requires_grad_()   # IOHW
    b = g.randn(oc, scale=0.5).requires_grad_()
    out = F.conv_transpose2d(x, wt, b, stride=2, padding=1)
    dout = g.randn(*out.shape)
    tens = {"x": f32(x), "w": f32(wt), "b": f32(b), "dout": f32(dout), "out": f64(out)}
    tens.update(grads_of(out, dout, {"x": x, "w": wt, "b": b}))
    return save(outdir, "op_deconv2d_k4s2p1", tens, {"op": "deconv2d", "stride": 2, "pad": 1})


def gen_linear(outdir, seed):
    g = Gen(seed)
    x = g.randn(3, 13).requires_grad_()
    wt = g.randn(7, 13, scale=0.3).requires_grad_()
    b = g.randn(7, scale=0.5).requires_grad_()
    out = F.linear(x, wt, b)
    dout = g.randn(*out.shape)
    tens = {"x": f32(x), "w": f32(wt), "b": f32(b), "dout": f32(dout), "out": f64(out)}
    tens.update(grads_of(out, dout, {"x": x, "w": wt, "b": b}))
    return save(outdir, "op_linear", tens, {"op": "linear"})


def gen_bn(outdir, seed, training):
    g = Gen(seed)
    n, c, h, w = 3, 5, 4, 7
    eps, mom = 1e-5, 0.1
    # per-channel offsets and scales so the statistics are not trivially (0,1)
    x = (g.randn(n, c, h, w) * g.uniform(1, c, 1, 1, lo=0.5, hi=2.0) + g.randn(1, c, 1, 1)).float().double()
    x.requires_grad_()
    gamma = g.uniform(c, lo=0.5, hi=1.5).requires_grad_()
    beta = g.randn(c, scale=0.3).requires_grad_()
    rm_in = g.randn(c, scale=0.2)
    rv_in = g.uniform(c, lo=0.5, hi=1.5)
    rm, rv = rm_in.clone(), rv_in.clone()
    out = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=mom, eps=eps)
    dout = g.randn(*out.shape)
    tens = {"x": f32(x), "gamma": f32(gamma), "beta": f32(beta), "running_mean_in": f32(rm_in),
            "running_var_in": f32(rv_in), "dout": f32(dout), "out": f64(out)}
    if training:
        xd = x.detach()
        tens["mean"] = f64(xd.mean(dim=(0, 2, 3)))
        tens["rstd"] = f64(1.0 / torch.sqrt(xd.var(dim=(0, 2, 3), unbiased=False) + eps))
        tens["running_mean_out"] = f64(rm)   # (1-m)*rm + m*mean
        tens["running_var_out"] = f64(rv)    # (1-m)*rv + m*unbiased var
    tens.update(grads_of(out, dout, {"x": x, "gamma": gamma, "beta": beta}))
    name = "op_bn_train" if training else "op_bn_eval"
    return save(outdir, name, tens, {"op": name[3:], "eps": eps, "momentum": mom})


def gen_act(outdir, name, fn, seed, meta=None):
    g = Gen(seed)
    x = g.randn(3, 5, 7, scale=2.0)
    x[0, 0, :4] = torch.tensor([-15.0, 15.0, -6.0, 6.0])   # saturation regions of sigmoid/tanh
    x = away_from(x, 0.0, 1e-2).requires_grad_()           # no samples at the ReLU/LeakyReLU kink
    out = fn(x)
    dout = g.randn(*out.shape)
    tens = {"x": f32(x), "dout": f32(dout), "out": f64(out)}
    tens.update(grads_of(out, dout, {"x": x}))
    m = {"op": name[3:]}
    m.update(meta or {})
    return save(outdir, name, tens, m)


def gen_bce(outdir, seed):
    g = Gen(seed)
    n = 3
    p = torch.sigmoid(g.randn(n, 4, 5, 6, scale=2.0)).float().double().requires_grad_()
    t = g.uniform(n, 4, 5, 6)
    loss = F.binary_cross_entropy(p, t, reduction="sum") / n
    loss.backward()
    return save(outdir, "op_bce", {"p": f32(p), "t": f32(t), "loss": f64(loss), "grad/p": f64(p.grad)},
                {"op": "bce", "reduction": "sum over d, mean over n"})


def gen_bce_logits(outdir, seed):
    g = Gen(seed)
    x = g.randn(3, 7, scale=3.0)
    x[0, :4] = torch.tensor([-30.0, 30.0, -12.0, 12.0])   # large logits: needs the stable formulation
    tens = {"x": f32(x)}
    for tgt in (1, 0):
        xx = x.clone().requires_grad_()
        loss = F.binary_cross_entropy_with_logits(xx, torch.full_like(xx, float(tgt)))
        loss.backward()
        tens["loss_t%d" % tgt] = f64(loss)
        tens["grad_t%d/x" % tgt] = f64(xx.grad)
    return save(outdir, "op_bce_logits", tens, {"op": "bce_logits", "reduction": "mean over n*d"})


def gen_pair_loss(outdir, name, fn, seed):
    g = Gen(seed)
    x = g.randn(3, 4, 5)
    t = g.randn(3, 4, 5)
    x = (t + away_from(x - t, 0.0, 1e-2)).float().double()    # L1: keep |x - t| off the kink
    x.requires_grad_()
    loss = fn(x, t)
    loss.backward()
    return save(outdir, name, {"x": f32(x), "t": f32(t), "loss": f64(loss), "grad/x": f64(x.grad)},
                {"op": name[3:], "reduction": "mean over n*d"})


def gen_kl(outdir, seed):
    g = Gen(seed)
    mu = g.randn(3, 8).requires_grad_()
    logvar = g.uniform(3, 8, lo=-2.0, hi=1.0).requires_grad_()
    loss = rt.loss_kl(mu, logvar)
    loss.backward()
    return save(outdir, "op_kl", {"mu": f32(mu), "logvar": f32(logvar), "loss": f64(loss),
                                  "grad/mu": f64(mu.grad), "grad/logvar": f64(logvar.grad)},
                {"op": "kl", "reduction": "sum over d, mean over n"})


def gen_fm(outdir, seed):
    g = Gen(seed)
    shapes = [(3, 4, 6, 6), (3, 6, 3, 3), (3, 8, 2, 2)]
    ff, fr = [], []
    for s in shapes:
        r = torch.nn.functional.leaky_relu(g.randn(*s), 0.2).float().double()
        f = (r + away_from(g.randn(*s, scale=0.5), 0.0, 1e-2)).float().double()
        ff.append(f.requires_grad_())
        fr.append(r)
    loss = rt.loss_fm(ff, fr)
    loss.backward()
    tens = {"loss": f64(loss)}
    for i in range(len(shapes)):
        tens["f%d" % i] = f32(ff[i])
        tens["r%d" % i] = f32(fr[i])
        tens["grad/f%d" % i] = f64(ff[i].grad)
    return save(outdir, "op_fm", tens, {"op": "fm", "n_layers": len(shapes),
                                        "reduction": "sum over layers of mean |f-r| over n*c*h*w"})


def gen_gdl(outdir, seed):
    """Gradient difference loss (rt.loss_gdl, C re_loss_gdl) on [3,2,5,6]. Pixels are drawn in row-major order and
    redrawn until every horizontal/vertical neighbour difference of t and of x is at least `gap` away from 0 and every
    | |dx| - |dt| | is at least `gap` away from 0, so both abs kinks stay out of the data and the gradient (a sum of
    +-1/n terms) is well defined; f32 rounding of the C side's differences is far below gap."""
    g = Gen(seed)
    n, c, h, w = 3, 2, 5, 6
    gap = 1e-2
    t = g.randn(n, c, h, w)
    x = g.randn(n, c, h, w)

    def pairs(i, j):    # the neighbours (left, up) already drawn when (i,j) is drawn
        return ([(i, j - 1)] if j > 0 else []) + ([(i - 1, j)] if i > 0 else [])

    for b in range(n):
        for ch in range(c):
            tp, xp = t[b, ch], x[b, ch]
            for i in range(h):
                for j in range(w):
                    while any(abs(tp[i, j] - tp[q]) < gap for q in pairs(i, j)):
                        tp[i, j] = g.randn(1)[0]
            for i in range(h):
                for j in range(w):
                    while any(abs(xp[i, j] - xp[q]) < gap or
                              abs(abs(xp[i, j] - xp[q]) - abs(tp[i, j] - tp[q])) < gap for q in pairs(i, j)):
                        xp[i, j] = g.randn(1)[0]
    x = x.float().double().requires_grad_()
    t = t.float().double()
    loss = rt.loss_gdl(x, t)
    loss.backward()
    # cross-check the vectorized loss against the definition, pair by pair
    xd, td = x.detach().numpy(), t.numpy()
    ref = 0.0
    for b in range(n):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    for (a, q) in (((i, j + 1), j + 1 < w), ((i + 1, j), i + 1 < h)):
                        if q:
                            ref += abs(abs(xd[b, ch][a] - xd[b, ch, i, j]) - abs(td[b, ch][a] - td[b, ch, i, j]))
    assert abs(ref / n - loss.item()) < 1e-12 * max(1.0, abs(ref)), (ref / n, loss.item())
    return save(outdir, "op_gdl", {"x": f32(x), "t": f32(t), "loss": f64(loss), "grad/x": f64(x.grad)},
                {"op": "gdl", "alpha": 1, "gap": gap,
                 "reduction": "sum over planes and neighbour pairs of ||dx|-|dt||, mean over n"})


def gen_reparam(outdir, seed):
    g = Gen(seed)
    mu = g.randn(3, 8).requires_grad_()
    logvar = g.uniform(3, 8, lo=-2.0, hi=1.0).requires_grad_()
    eps = g.randn(3, 8)
    z = mu + eps * torch.exp(0.5 * logvar)
    dout = g.randn(3, 8)
    tens = {"mu": f32(mu), "logvar": f32(logvar), "eps": f32(eps), "dout": f32(dout), "out": f64(z)}
    tens.update(grads_of(z, dout, {"mu": mu, "logvar": logvar}))
    return save(outdir, "op_reparam", tens, {"op": "reparam"})


def gen_adam(outdir, name, lr, wd, seed, steps=3):
    g = Gen(seed)
    count = 37
    p0 = g.uniform(count, lo=-0.05, hi=0.05)
    grads = g.randn(steps, count, scale=0.1)
    grads[:, :4] *= 1e-7     # grads near eps: the eps term matters for these
    grads = grads.float().double()
    p = torch.nn.Parameter(p0.clone())
    b1, b2, eps = 0.5, 0.999, 1e-8
    opt = torch.optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    after = []
    for s in range(steps):
        p.grad = grads[s].clone()
        opt.step()
        after.append(p.detach().clone())
    st = opt.state[p]
    tens = {"param_in": f32(p0), "grads": f32(grads), "param_steps": f64(torch.stack(after)),
            "m_out": f64(st["exp_avg"]), "v_out": f64(st["exp_avg_sq"])}
    return save(outdir, name, tens, {"op": "adam", "lr": lr, "beta1": b1, "beta2": b2, "eps": eps,
                                     "weight_decay": wd, "steps": steps})


# ---------------------------------------------------------------------------------------------------------------
# b) the tiny whole model

TINY = dict(res=16, channels=3, latent=8, n_stages=1, enc_widths=[4], top_ch=6, fc_hidden=10, n_disc=2,
            disc_widths=[4, 6], disc_fc=[12, 5], lrelu_slope=0.2, bn_eps=1e-5, bn_momentum=0.1)
WEIGHTS = dict(w_rec=1.0, w_kl=0.5, w_adv=3.0, w_fm=2.0)
ADAM = dict(lr_g=1e-3, lr_d=2e-4, beta1=0.5, beta2=0.999, eps=1e-8, weight_decay=0.0)


def state_tensors(prefix, model):
    """Every state_dict entry: params/running stats as F64 (F32 for init, which must be f32-exact), counters I64."""
    out = {}
    for k, v in model.state_dict().items():
        if v.dtype == torch.int64:
            out[prefix + k] = v.cpu().numpy().astype(np.int64)
        else:
            out[prefix + k] = f32(v) if prefix == "init/" else f64(v)
    return out


def tiny_init(seed=1234):
    torch.manual_seed(seed)
    torch.set_default_dtype(torch.float32)
    try:
        model = rt.VaeGan(rt.config_from_json(TINY))   # PyTorch default init, drawn in f32
    finally:
        torch.set_default_dtype(torch.float64)
    g = Gen(seed + 1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):   # non-default BN state so eval mode and the updates are visible
            c = mod.num_features
            mod.weight.data = g.uniform(c, lo=0.5, hi=1.5).float()
            mod.bias.data = g.randn(c, scale=0.2).float()
            mod.running_mean.data = g.randn(c, scale=0.2).float()
            mod.running_var.data = g.uniform(c, lo=0.5, hi=1.5).float()
    return model.double()


def gen_model(outdir, steps=5, n=3, seed=1234):
    """model_tiny.safetensors layout (F32 = exact inputs, F64 = reference results):
      init/<key>            initial state_dict (params F32, running stats F32, num_batches_tracked I64 scalar)
      x [N,C,R,R] F32       input batch in (0,1)
      eps [steps,N,latent]  reparameterization noise of each step (F32)
      infer/mu, infer/logvar, infer/xr   eval-mode encoder(x) and decoder(mu) with the init weights
      <mode>/loss/<name> [steps]   mode = vae: rec, kl, g_loss (= w_rec*rec + w_kl*kl)
                                   mode = vaegan: rec, kl, adv, fm, d_loss, g_loss (each computed before that step's
                                   optimizer updates; adv/fm with the already-updated D)
      <mode>/step0/mu, logvar, z, xr      training-mode forward values of step 0 (vaegan also d_real, d_fake logits)
      <mode>/grad0/<param key>     grads of step 0: E+G params (vaegan: also disc.* from the D update)
      <mode>/final/<key>           full state_dict after `steps` steps
    metadata: config (JSON, keys as the C re_config), weights (w_rec,w_kl,w_adv,w_fm), adam (lr_g, lr_d, beta1,
    beta2, eps, weight_decay), steps, batch."""
    init = tiny_init(seed)
    cfg = init.cfg
    g = Gen(seed + 2)
    x = g.uniform(n, cfg["channels"], cfg["res"], cfg["res"], lo=0.02, hi=0.98)
    eps = g.randn(steps, n, cfg["latent"])
    tens = {"x": f32(x), "eps": f32(eps)}
    tens.update(state_tensors("init/", init))

    init.eval()
    with torch.no_grad():
        mu, logvar = init.encoder(x)
        xr = init.decoder(mu)
    tens.update({"infer/mu": f64(mu), "infer/logvar": f64(logvar), "infer/xr": f64(xr)})

    names = {"vae": ["rec", "kl", "g_loss"], "vaegan": ["rec", "kl", "adv", "fm", "d_loss", "g_loss"]}
    for mode in ("vae", "vaegan"):
        model = tiny_init(seed)   # identical fresh copy
        opt_g, opt_d = rt.make_optimizers(model, lr_g=ADAM["lr_g"], lr_d=ADAM["lr_d"],
                                          betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"])
        hist = {k: [] for k in names[mode]}
        for s in range(steps):
            rec = {} if s == 0 else None
            losses = rt.train_step(model, opt_g, opt_d, x, eps[s], WEIGHTS, gan=(mode == "vaegan"), record=rec)
            for k in hist:
                hist[k].append(losses[k])
            if rec is not None:
                for k, v in rec.items():
                    key = "%s/grad0/%s" % (mode, k[5:]) if k.startswith("grad/") else "%s/step0/%s" % (mode, k)
                    tens[key] = f64(v)
        for k, v in hist.items():
            tens["%s/loss/%s" % (mode, k)] = np.array(v, dtype=np.float64)
        tens.update(state_tensors(mode + "/final/", model))
    cfg_json = json.dumps({k: cfg[k] for k in rt.CONFIG_KEYS})
    return save(outdir, "model_tiny", tens, {"op": "model", "config": cfg_json, "weights": json.dumps(WEIGHTS),
                                             "adam": json.dumps(ADAM), "steps": steps, "batch": n})


def f32_baseline(outdir):
    """Replays model_tiny in float32 PyTorch and prints how far f32 lands from the stored f64 reference: the error
    floor any f32 engine (the C one included) has, for setting the whole-model test's tolerances. Metric per tensor:
    max |f32 - ref| / max |ref| (scale-relative, so exactly-zero or tiny elements do not blow it up)."""
    t, _ = rt.st_load(os.path.join(outdir, "model_tiny.safetensors"))
    x, eps = torch.from_numpy(t["x"]), torch.from_numpy(t["eps"])

    def rel(got, ref):
        ref = np.asarray(ref, dtype=np.float64)
        return float(np.abs(np.asarray(got, dtype=np.float64) - ref).max() / max(np.abs(ref).max(), 1e-30))

    model = tiny_init().float().eval()
    with torch.no_grad():
        mu, logvar = model.encoder(x)
        xr = model.decoder(mu)
    print("infer: mu %.2e logvar %.2e xr %.2e" % (rel(mu, t["infer/mu"]), rel(logvar, t["infer/logvar"]),
                                                   rel(xr, t["infer/xr"])))
    for mode in ("vae", "vaegan"):
        model = tiny_init().float()
        opt_g, opt_d = rt.make_optimizers(model, lr_g=ADAM["lr_g"], lr_d=ADAM["lr_d"],
                                          betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"])
        worst_loss, worst_grad = (0.0, ""), (0.0, "")
        for s in range(int(t["eps"].shape[0])):
            rec = {} if s == 0 else None
            losses = rt.train_step(model, opt_g, opt_d, x, eps[s], WEIGHTS, gan=(mode == "vaegan"), record=rec)
            for k, v in losses.items():
                r = abs(v - t["%s/loss/%s" % (mode, k)][s]) / abs(t["%s/loss/%s" % (mode, k)][s])
                worst_loss = max(worst_loss, (r, "%s step %d" % (k, s)))
            for k, v in (rec or {}).items():
                if k.startswith("grad/"):
                    worst_grad = max(worst_grad, (rel(v, t["%s/grad0/%s" % (mode, k[5:])]), k[5:]))
        worst_final = max((rel(v, t["%s/final/%s" % (mode, k)]), k) for k, v in model.state_dict().items())
        print("%s: losses rel %.2e (%s); grad0 %.2e (%s); final %.2e (%s)" %
              (mode, worst_loss[0], worst_loss[1], worst_grad[0], worst_grad[1], worst_final[0], worst_final[1]))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "ref", "data"))
    ap.add_argument("--f32-baseline", action="store_true",
                    help="write nothing; print how far float32 PyTorch lands from the stored model_tiny reference")
    args = ap.parse_args()
    if args.f32_baseline:
        return f32_baseline(args.out)
    os.makedirs(args.out, exist_ok=True)
    o = args.out
    paths = [
        gen_conv(o, "op_conv2d_k3s1p1", 3, 1, 1, 101),
        gen_conv(o, "op_conv2d_k4s2p1", 4, 2, 1, 102),
        gen_deconv(o, 103),
        gen_linear(o, 104),
        gen_bn(o, 105, training=True),
        gen_bn(o, 106, training=False),
        gen_act(o, "op_lrelu", lambda t: F.leaky_relu(t, 0.2), 107, {"slope": 0.2}),
        gen_act(o, "op_relu", F.relu, 108),
        gen_act(o, "op_sigmoid", torch.sigmoid, 109),
        gen_act(o, "op_tanh", torch.tanh, 110),
        gen_bce(o, 111),
        gen_bce_logits(o, 112),
        gen_pair_loss(o, "op_mse", F.mse_loss, 113),
        gen_pair_loss(o, "op_l1", F.l1_loss, 114),
        gen_kl(o, 115),
        gen_fm(o, 116),
        gen_gdl(o, 120),
        gen_reparam(o, 117),
        gen_adam(o, "op_adam", 1e-3, 0.0, 118),
        gen_adam(o, "op_adam_wd", 1e-2, 0.01, 119),
        gen_model(o),
    ]
    total = 0
    for p in paths:
        sz = os.path.getsize(p)
        total += sz
        print("%-40s %8d bytes" % (os.path.relpath(p), sz))
    print("total %d bytes" % total)
    if total > 2 * 1024 * 1024:
        print("gen_ref: reference data exceeds 2 MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
