"""
reenact_torch.py - the reenact VAE-GAN as PyTorch modules, layer for layer identical to the C engine, plus a
hand-written safetensors reader/writer (Debian 12 has no python3-safetensors) and the exact training steps the C
code implements. Used by tools/gen_ref.py (reference data) and tools/torch_load_check.py (checkpoint cross-check).

Run with Debian's interpreter, which has python3-torch 1.13:  /usr/bin/python3 tools/gen_ref.py
(this file is a module, it has no main).

Names: the top module has submodules `encoder`, `decoder`, `disc`, so state_dict keys read exactly like the C
checkpoint's tensor names ("encoder.conv1.weight", "encoder.bn2.running_mean", "encoder.bn2.num_batches_tracked",
"decoder.bn_up1.weight", "disc.fc3.bias", ...). Layouts are PyTorch's: conv OIHW, conv-transpose IOHW, linear
[out,in]. BatchNorm buffers running_mean/running_var are F32 [C]; num_batches_tracked is an I64 scalar (shape []).

Config -> layers (the same mapping as include/reenact/reenact.h; "b" = res / 2^(n_stages+1), "bd" = res / 2^n_disc):
  Encoder: conv1 = Conv2d(channels, w0, k3 s1 p1), no BN. For stage s = 0..n_stages-1: Conv2d(w_s, w_s, k4 s2 p1),
           and if s+1 < n_stages Conv2d(w_s, w_{s+1}, k3 s1 p1). Then Conv2d(w_last, top_ch, k4 s2 p1).
           Numbered consecutively conv1..conv(2*n_stages+1); bn<i> follows conv<i> for every i >= 2.
           Each layer: conv -> (bn) -> LeakyReLU(slope). Flatten (C,H,W order) -> fc1 + LeakyReLU -> fc_mu, fc_logvar
           (both from the fc1 activation, no activation on them).
           seed64: conv1 3->32 k3, conv2 32->32 k4s2, conv3 32->64 k3, conv4 64->64 k4s2, conv5 64->128 k3,
                   conv6 128->128 k4s2, conv7 128->256 k4s2 -> [256,4,4] -> fc1 4096->512 -> fc_mu/fc_logvar 512->200.
  Decoder: fc1 (latent->fc_hidden), fc2 (fc_hidden->fc_hidden), fc3 (fc_hidden->top_ch*b*b), LeakyReLU after each
           (including fc3); view [top_ch,b,b]; for i = 1..n_stages: up<i> = ConvTranspose2d(prev, w_{n_stages-i},
           k4 s2 p1) -> bn_up<i> -> LeakyReLU, conv<i> = Conv2d(same, same, k3 s1 p1) -> bn_conv<i> -> LeakyReLU;
           finally up<n_stages+1> = ConvTranspose2d(w_0, channels, k4 s2 p1) -> sigmoid (no BN).
  Discriminator: conv1..conv<n_disc> = Conv2d(k4 s2 p1) over channels -> disc_widths[0] -> ...; LeakyReLU after
           each, no BatchNorm; flatten; fc1 (disc_widths[-1]*bd*bd -> disc_fc[0]) + LeakyReLU, fc2 (-> disc_fc[1]) +
           LeakyReLU, fc3 (-> 1) = logit. forward() returns (logit [N,1], [post-LeakyReLU output of every conv]).
  Biases: see BN_CONV_BIAS below.

Choices made where the brief left room (the C side must do the same):
  - Conv / conv-transpose layers followed by BatchNorm have NO bias (BN_CONV_BIAS = True): encoder conv2..conv<2n+1>,
    decoder up1..up<n>, conv1..conv<n>. Such a bias is dead in training (BN subtracts the batch mean, its grad is
    exactly 0 in exact math), but in f32 its grad is rounding noise ~1e-8 which Adam normalizes to steps of ~lr/2:
    measured on the tiny model, f32 PyTorch vs the f64 reference after 5 steps differs by up to 4e-3 on those
    biases and 8e-4 on the BN running means they feed, while every other tensor agrees to ~1e-7. Dropping the
    bias (as DCGAN does) removes that noise. Layers NOT followed by BN keep their bias: encoder conv1, the last
    decoder up<n+1>, every discriminator conv, every linear. Flip BN_CONV_BIAS and rerun gen_ref.py to change it.
  - LeakyReLU follows decoder fc3 too (before the view), and no activation follows fc_mu / fc_logvar.
  - The discriminator has no BatchNorm, so D(x) and D(xr) may run as separate forwards or one batch: same result.
  - Feature matching uses the post-LeakyReLU activations of every discriminator conv (n_disc layers), each term
    mean(|f_fake - f_real|) over all its elements (N*C*H*W), summed over layers; f_real from the updated D, detached.
  - adv / d_loss use BCE-with-logits with 'mean' over the batch (logit is [N,1]).

Training-step semantics (train_step below): one forward of E and G per step with train-mode BN (running stats are
updated once per step by the encoder/decoder forward; the D forwards do not touch them since D has no BN).
  VAE:     loss = w_rec*rec + w_kl*kl + w_gdl*gdl; rec = BCE(xr, x, sum)/N; kl = -0.5*sum(1+lv-mu^2-exp(lv))/N;
           one Adam over encoder+decoder params.
  VAE-GAN: (1) d_loss = BCEwL(D(x),1) + BCEwL(D(xr.detach()),0); D Adam step. (2) with the UPDATED D:
           adv = BCEwL(D(xr),1), fm as above, g_loss = w_rec*rec + w_kl*kl + w_adv*adv + w_fm*fm + w_gdl*gdl;
           E+G Adam step; the D grads of this backward are discarded (D's optimizer zero_grads before its next
           backward).
  Both:    gdl = loss_gdl(xr, x) (gradient difference loss, C re_loss_gdl); the term is left out when w_gdl is 0
           (weights.get("w_gdl", 0.0), so callers without it get the old step).
  Adam: torch.optim.Adam(betas=(0.5, 0.999), eps=1e-8), lr_g=1e-3, lr_d=2e-4, weight_decay=0.
"""
import hashlib
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED64 = dict(res=64, channels=3, latent=200, n_stages=3, enc_widths=[32, 64, 128], top_ch=256, fc_hidden=512,
              n_disc=4, disc_widths=[32, 64, 128, 256], disc_fc=[512, 64], lrelu_slope=0.2, bn_eps=1e-5,
              bn_momentum=0.1)
CONFIG_KEYS = list(SEED64.keys())
# Whether conv / conv-transpose layers that feed a BatchNorm carry a bias (see "Choices" above).
BN_CONV_BIAS = True


def config_from_json(text):
    """Parse a config JSON (keys as the C re_config). Missing keys take seed64 defaults; the width lists are cut to
    n_stages / n_disc entries (the C side may write its fixed-size arrays padded)."""
    cfg = dict(SEED64)
    cfg.update(json.loads(text) if isinstance(text, str) else text)
    cfg = {k: cfg[k] for k in CONFIG_KEYS}
    cfg["enc_widths"] = [int(v) for v in cfg["enc_widths"][:cfg["n_stages"]]]
    cfg["disc_widths"] = [int(v) for v in cfg["disc_widths"][:cfg["n_disc"]]]
    cfg["disc_fc"] = [int(v) for v in cfg["disc_fc"][:2]]
    for k in ("res", "channels", "latent", "n_stages", "top_ch", "fc_hidden", "n_disc"):
        cfg[k] = int(cfg[k])
    if len(cfg["enc_widths"]) != cfg["n_stages"] or len(cfg["disc_widths"]) != cfg["n_disc"]:
        raise ValueError("config: enc_widths/disc_widths shorter than n_stages/n_disc")
    if cfg["res"] % (2 ** (cfg["n_stages"] + 1)) or cfg["res"] % (2 ** cfg["n_disc"]):
        raise ValueError("config: res %d not divisible by 2^(n_stages+1) and 2^n_disc" % cfg["res"])
    return cfg


def _stack_dims(cfg, bn_conv_bias):
    """What the encoder and decoder stacks are built from: (bias of the convs in front of a BatchNorm, enc_widths,
    n_stages, BatchNorm eps, BatchNorm momentum); bn_conv_bias None means BN_CONV_BIAS."""
    bias = BN_CONV_BIAS if bn_conv_bias is None else bn_conv_bias
    return bias, cfg["enc_widths"], cfg["n_stages"], cfg["bn_eps"], cfg["bn_momentum"]


class Encoder(nn.Module):
    def __init__(self, cfg, bn_conv_bias=None):
        super().__init__()
        self.cfg = cfg
        bn_conv_bias, w, ns, eps, mom = _stack_dims(cfg, bn_conv_bias)
        specs = [(cfg["channels"], w[0], 3, 1, 1)]
        for s in range(ns):
            specs.append((w[s], w[s], 4, 2, 1))
            if s + 1 < ns:
                specs.append((w[s], w[s + 1], 3, 1, 1))
        specs.append((w[-1], cfg["top_ch"], 4, 2, 1))
        self.n_conv = len(specs)  # 2*n_stages + 1
        for i, (ic, oc, k, st, p) in enumerate(specs, start=1):
            setattr(self, "conv%d" % i, nn.Conv2d(ic, oc, k, st, p, bias=(i == 1 or bn_conv_bias)))
            if i >= 2:
                setattr(self, "bn%d" % i, nn.BatchNorm2d(oc, eps=eps, momentum=mom))
        b = cfg["res"] // (2 ** (ns + 1))
        self.fc1 = nn.Linear(cfg["top_ch"] * b * b, cfg["fc_hidden"])
        self.fc_mu = nn.Linear(cfg["fc_hidden"], cfg["latent"])
        self.fc_logvar = nn.Linear(cfg["fc_hidden"], cfg["latent"])

    def forward(self, x):
        s = self.cfg["lrelu_slope"]
        h = x
        for i in range(1, self.n_conv + 1):
            h = getattr(self, "conv%d" % i)(h)
            if i >= 2:
                h = getattr(self, "bn%d" % i)(h)
            h = F.leaky_relu(h, s)
        h = F.leaky_relu(self.fc1(h.flatten(1)), s)
        return self.fc_mu(h), self.fc_logvar(h)


class Decoder(nn.Module):
    def __init__(self, cfg, bn_conv_bias=None):
        super().__init__()
        self.cfg = cfg
        bn_conv_bias, w, ns, eps, mom = _stack_dims(cfg, bn_conv_bias)
        self.b = cfg["res"] // (2 ** (ns + 1))
        self.fc1 = nn.Linear(cfg["latent"], cfg["fc_hidden"])
        self.fc2 = nn.Linear(cfg["fc_hidden"], cfg["fc_hidden"])
        self.fc3 = nn.Linear(cfg["fc_hidden"], cfg["top_ch"] * self.b * self.b)
        prev = cfg["top_ch"]
        for i in range(1, ns + 1):
            oc = w[ns - i]
            setattr(self, "up%d" % i, nn.ConvTranspose2d(prev, oc, 4, 2, 1, bias=bn_conv_bias))
            setattr(self, "bn_up%d" % i, nn.BatchNorm2d(oc, eps=eps, momentum=mom))
            setattr(self, "conv%d" % i, nn.Conv2d(oc, oc, 3, 1, 1, bias=bn_conv_bias))
            setattr(self, "bn_conv%d" % i, nn.BatchNorm2d(oc, eps=eps, momentum=mom))
            prev = oc
        setattr(self, "up%d" % (ns + 1), nn.ConvTranspose2d(w[0], cfg["channels"], 4, 2, 1))

    def forward(self, z):
        s = self.cfg["lrelu_slope"]
        ns = self.cfg["n_stages"]
        h = F.leaky_relu(self.fc1(z), s)
        h = F.leaky_relu(self.fc2(h), s)
        h = F.leaky_relu(self.fc3(h), s)
        h = h.view(h.shape[0], self.cfg["top_ch"], self.b, self.b)
        for i in range(1, ns + 1):
            h = F.leaky_relu(getattr(self, "bn_up%d" % i)(getattr(self, "up%d" % i)(h)), s)
            h = F.leaky_relu(getattr(self, "bn_conv%d" % i)(getattr(self, "conv%d" % i)(h)), s)
        return torch.sigmoid(getattr(self, "up%d" % (ns + 1))(h))


class Discriminator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        prev = cfg["channels"]
        for i, oc in enumerate(cfg["disc_widths"], start=1):
            setattr(self, "conv%d" % i, nn.Conv2d(prev, oc, 4, 2, 1))
            prev = oc
        bd = cfg["res"] // (2 ** cfg["n_disc"])
        self.fc1 = nn.Linear(prev * bd * bd, cfg["disc_fc"][0])
        self.fc2 = nn.Linear(cfg["disc_fc"][0], cfg["disc_fc"][1])
        self.fc3 = nn.Linear(cfg["disc_fc"][1], 1)

    def forward(self, x):
        s = self.cfg["lrelu_slope"]
        feats = []
        h = x
        for i in range(1, self.cfg["n_disc"] + 1):
            h = F.leaky_relu(getattr(self, "conv%d" % i)(h), s)
            feats.append(h)
        h = F.leaky_relu(self.fc1(h.flatten(1)), s)
        h = F.leaky_relu(self.fc2(h), s)
        return self.fc3(h), feats


class VaeGan(nn.Module):
    """bn_conv_bias: None = BN_CONV_BIAS; True/False builds that variant (torch_load_check.py follows the file)."""

    def __init__(self, cfg, bn_conv_bias=None):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg, bn_conv_bias)
        self.decoder = Decoder(cfg, bn_conv_bias)
        self.disc = Discriminator(cfg)


# ---------------------------------------------------------------------------------------------------------------
# Losses and one training step (the semantics the C trainer implements).

def loss_rec(xr, x):
    """BCE on probabilities, summed over pixels, mean over the batch."""
    return F.binary_cross_entropy(xr, x, reduction="sum") / x.shape[0]


def loss_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0,1)), summed over the latent, mean over the batch."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]


def loss_fm(feats_f, feats_r):
    """Feature matching: sum over layers of mean |f_fake - f_real|."""
    return sum(torch.mean(torch.abs(f - r)) for f, r in zip(feats_f, feats_r))


def loss_gdl(x, t):
    """Gradient difference loss (Mathieu, Couprie & LeCun 2016, alpha = 1) between images x and targets t,
    [N,C,H,W]: sum over planes and neighbour pairs of | |x[..,i,j+1]-x[..,i,j]| - |t[..,i,j+1]-t[..,i,j]| | plus the
    same over vertical pairs (x[..,i+1,j]-x[..,i,j]), summed per image, mean over the batch (C re_loss_gdl).
    t is the target (the C code differentiates w.r.t. x only); autograd's abs subgradient at 0 is 0, as in C."""
    dxh = torch.abs(x[..., :, 1:] - x[..., :, :-1])
    dth = torch.abs(t[..., :, 1:] - t[..., :, :-1])
    dxv = torch.abs(x[..., 1:, :] - x[..., :-1, :])
    dtv = torch.abs(t[..., 1:, :] - t[..., :-1, :])
    return (torch.sum(torch.abs(dxh - dth)) + torch.sum(torch.abs(dxv - dtv))) / x.shape[0]


def make_optimizers(model, lr_g=1e-3, lr_d=2e-4, betas=(0.5, 0.999), eps=1e-8):
    opt_g = torch.optim.Adam(list(model.encoder.parameters()) + list(model.decoder.parameters()), lr=lr_g,
                             betas=betas, eps=eps, weight_decay=0)
    opt_d = torch.optim.Adam(model.disc.parameters(), lr=lr_d, betas=betas, eps=eps, weight_decay=0)
    return opt_g, opt_d


def train_step(model, opt_g, opt_d, x, eps, weights, gan, record=None):
    """One training step. weights: dict w_rec, w_kl, w_adv, w_fm, optionally w_gdl (default 0 = no gdl term).
    eps: [N,latent] noise of the reparameterization.
    If record is a dict, it receives the forward values and the gradients of this step (before the optimizer steps):
    'mu','logvar','z','xr', 'grad/<key>' for every parameter that took part, and for the GAN 'd_real','d_fake'.
    Returns a dict of float losses (rec, kl, g_loss; with gan also d_loss, adv, fm; with w_gdl != 0 also gdl)."""
    model.train()
    mu, logvar = model.encoder(x)
    z = mu + eps * torch.exp(0.5 * logvar)
    xr = model.decoder(z)
    rec = loss_rec(xr, x)
    kl = loss_kl(mu, logvar)
    out = {"rec": rec.item(), "kl": kl.item()}
    if record is not None:
        for k, v in (("mu", mu), ("logvar", logvar), ("z", z), ("xr", xr)):
            record[k] = v.detach().clone()
    g_loss = weights["w_rec"] * rec + weights["w_kl"] * kl
    if gan:
        opt_d.zero_grad()
        d_real, _ = model.disc(x)
        d_fake, _ = model.disc(xr.detach())
        d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) +
                  F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        d_loss.backward()
        if record is not None:
            record["d_real"] = d_real.detach().clone()
            record["d_fake"] = d_fake.detach().clone()
            for k, p in model.disc.named_parameters():
                record["grad/disc." + k] = p.grad.detach().clone()
        opt_d.step()
        logit_f, feats_f = model.disc(xr)
        with torch.no_grad():
            _, feats_r = model.disc(x)
        adv = F.binary_cross_entropy_with_logits(logit_f, torch.ones_like(logit_f))
        fm = loss_fm(feats_f, feats_r)
        g_loss = g_loss + weights["w_adv"] * adv + weights["w_fm"] * fm
        out.update(d_loss=d_loss.item(), adv=adv.item(), fm=fm.item())
    w_gdl = weights.get("w_gdl", 0.0)
    if w_gdl != 0.0:
        gdl = loss_gdl(xr, x)
        g_loss = g_loss + w_gdl * gdl
        out["gdl"] = gdl.item()
    opt_g.zero_grad()
    g_loss.backward()
    out["g_loss"] = g_loss.item()
    if record is not None:
        for prefix, mod in (("encoder.", model.encoder), ("decoder.", model.decoder)):
            for k, p in mod.named_parameters():
                record["grad/" + prefix + k] = p.grad.detach().clone()
    opt_g.step()
    return out


# ---------------------------------------------------------------------------------------------------------------
# safetensors by hand: 8-byte little-endian header length N, N bytes of JSON header (padded with spaces to a
# multiple of 8), then the raw little-endian tensor data. Tensors sorted by name with contiguous offsets.

_NP_OF = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8, "BF16": np.uint16}
_DT_OF = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
          np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}


def st_save(path, tensors, metadata=None, checksum=True):
    """tensors: dict name -> numpy array (dtype F64/F32/F16/I64/I32/U8). metadata: dict str -> str.
    With checksum, adds metadata data_sha256 = lowercase hex SHA-256 of the data section (as the C writer does)."""
    names = sorted(tensors)
    header = {}
    blobs = []
    off = 0
    for n in names:
        a = np.array(tensors[n], order="C")   # keeps 0-d arrays 0-d (shape [])
        dt = _DT_OF[a.dtype]
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[n] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    data = b"".join(blobs)
    meta = dict(metadata or {})
    if checksum:
        meta["data_sha256"] = hashlib.sha256(data).hexdigest()
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("metadata must map str to str (%r)" % (k,))
    full = {"__metadata__": meta} if meta else {}
    full.update(header)
    hj = json.dumps(full, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        f.write(data)


def st_load(path):
    """Returns (dict name -> numpy array, metadata dict). BF16 is widened to float32. Checks offsets and, when present,
    data_sha256."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError("%s: shorter than 8 bytes" % path)
    (n,) = struct.unpack("<Q", buf[:8])
    if n + 8 > len(buf):
        raise ValueError("%s: header length %d beyond file size %d" % (path, n, len(buf)))
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    if "data_sha256" in meta and hashlib.sha256(data).hexdigest() != meta["data_sha256"].lower():
        raise ValueError("%s: data_sha256 mismatch" % path)
    out = {}
    spans = []
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = info["dtype"]
        if dt not in _NP_OF:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, dt))
        a = np.frombuffer(data[b:e], dtype=np.dtype(_NP_OF[dt]).newbyteorder("<"))
        numel = int(np.prod(info["shape"], dtype=np.int64))
        if a.size != numel:
            raise ValueError("%s: tensor %s has %d elements, shape says %d" % (path, name, a.size, numel))
        if dt == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a.reshape(info["shape"]).copy()
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            raise ValueError("%s: tensor offsets not contiguous at %d" % (path, b))
        pos = e
    if pos != len(data):
        raise ValueError("%s: data section is %d bytes, tensors cover %d" % (path, len(data), pos))
    return out, meta
