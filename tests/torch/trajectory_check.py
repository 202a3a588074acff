"""Trajectory check: unet-train's U-Net against PyTorch in float64.

For each configuration, tests/train_trajectory.c (the trainer's net, loss and
optimiser on oneDNN, float32) writes its initial parameters, fixed batches and
the parameters and gradients of every step. This script repeats the same
steps with its own U-Net built from torch.nn.functional (float64, autograd,
torch.optim.AdamW / SGD) and compares. Nothing is shared with the trainer but
the file format and the parameter names of trainer/net.h.

Each step is checked teacher-forced, from the trainer's own parameters after
the step before (see check()): the loss and the gradients the trainer wrote
against the reference's at those parameters, and the reference optimiser fed
the trainer's gradients against the trainer's parameters after the step. The
free-running end (the reference's own 20 steps) is compared too: the update
error ||w_ours - w_ref|| / ||w_ref - w_init||. Convolution biases that feed
batch normalisation are left out of the gradient and end comparisons (their
true gradient is 0; see pre_bn_bias()).

Usage: trajectory_check.py TRAJECTORY_EXE WORK_DIR [--isa both|native]
Exit 0 all within tolerance, 1 a configuration outside it, 77 torch missing.
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {e} (install Debian's python3-torch; run with /usr/bin/python3)")
    sys.exit(77)

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

# depth, base filters, batch norm, optimiser, steps, lr, weight decay, class weights.
# Base filters 3, 4, 8, 12, 16, 24 put channel counts 3..192 at the levels:
# counts below, at and between oneDNN's 8- and 16-channel blocks.
CONFIGS = [
    (1, 3, 0, "adam", 20, 1e-3, 0.0, 1),
    (1, 4, 1, "sgd", 20, 2e-2, 1e-3, 1),
    (2, 8, 0, "adam", 20, 1e-3, 1e-2, 1),
    (2, 8, 1, "adam", 20, 1e-3, 0.0, 0),
    (2, 12, 1, "sgd", 20, 1e-2, 0.0, 1),
    (3, 4, 0, "sgd", 20, 2e-2, 0.0, 0),
    (2, 16, 0, "sgd", 20, 1e-2, 1e-3, 1),
    (3, 8, 1, "adam", 20, 1e-3, 1e-2, 1),
    (2, 24, 1, "adam", 20, 5e-4, 0.0, 1),
    (3, 12, 0, "adam", 20, 1e-3, 0.0, 1),
]

# Tolerances, from what was measured on AVX2 and AVX-512 (avx512_core_bf16)
# machines, float32 against float64. The gradient is exact to ~1e-6 at most
# steps; at a few, one activation sits within float32 rounding of a ReLU kink
# (or a max-pool tie) and the two sides take different branches: the
# gradient then differs by up to ~1e-2, and PyTorch's own float32 run shows
# the same jumps at the same parameters (measured, see the closing note of
# issue 14). So the typical step is judged tightly, and the kink steps by
# count and size. Adam turns such a step into lasting differences, so the
# free-running end is judged loosely; f32end shows PyTorch's own float32.
TOL_LOSS = 1e-5         # relative loss difference, any step
TOL_GRAD = 2e-5         # gradient at our parameters: median over the steps without a kink
TOL_GRAD_TENSOR = 2e-4  # gradient, worst tensor of the steps without a kink
KINK = 1e-4             # a step whose whole-network gradient error exceeds this
MAX_KINKS = 10          # at most this many kink steps of the 20
TOL_KINK = 5e-2         # and none larger than this
TOL_RUNNING = 1e-5      # BN running mean/var after a step, relative to their norm
TOL_OPTIM = 5e-4        # the optimiser's step from our gradients, relative to its size
                        # (float32 rounding of w itself, |w|/|dw| up to ~1e3, is in it)
TOL_END = 0.5           # free-running: update error after the last step, whole network


def read_meta(d):
    meta = {}
    for line in open(os.path.join(d, "meta.txt")):
        k, v = line.split(None, 1)
        meta[k] = v.strip()
    return meta


def read_params(d, name, specs):
    flat = np.fromfile(os.path.join(d, name), dtype=np.float32).astype(np.float64)
    out, off = {}, 0
    for s in specs:
        out[s["name"]] = torch.tensor(flat[off:off + s["count"]]).reshape(s["dims"])
        off += s["count"]
    assert off == flat.size, f"{name}: {flat.size} values, parameters hold {off}"
    return out


def read_specs(d):
    specs = []
    for line in open(os.path.join(d, "params.txt")):
        f = line.split()
        specs.append({"name": f[0], "kind": int(f[1]), "trainable": int(f[2]),
                      "count": int(f[3]), "dims": [int(x) for x in f[4:]]})
    return specs


def forward(p, x, depth, bn, bn_eps, bn_mom):
    def block(level, h):
        for k in (1, 2):
            h = F.conv2d(h, p[f"{level}.conv{k}.weight"], p[f"{level}.conv{k}.bias"], padding=1)
            if bn:
                h = F.batch_norm(h, p[f"{level}.bn{k}.mean"], p[f"{level}.bn{k}.var"],
                                 p[f"{level}.bn{k}.scale"], p[f"{level}.bn{k}.shift"],
                                 training=True, momentum=bn_mom, eps=bn_eps)
            h = F.relu(h)
        return h

    skips = []
    h = x
    for lvl in range(depth):
        h = block(f"enc{lvl}", h)
        skips.append(h)
        h = F.max_pool2d(h, 2)
    h = block("mid", h)
    for lvl in reversed(range(depth)):
        u = F.conv_transpose2d(h, p[f"dec{lvl}.up.weight"], p[f"dec{lvl}.up.bias"], stride=2)
        h = block(f"dec{lvl}", torch.cat([u, skips[lvl]], dim=1))
    return F.conv2d(h, p["head.weight"], p["head.bias"])


def pre_bn_bias(spec, meta):
    """A convolution bias that feeds batch normalisation: BN subtracts the batch
    mean, so its true gradient is 0 and what either side computes is rounding
    noise, which Adam scales up to steps of size lr. Left out of the comparison."""
    return int(meta["batchnorm"]) and spec["kind"] == 2 and ".conv" in spec["name"]


class Reference:
    """The same net, loss and optimiser in float64 (torch.optim.AdamW / SGD), or
    in float32 to show how far a correct float32 implementation strays."""

    def __init__(self, d, meta, specs, dtype=torch.float64):
        self.meta, self.specs = meta, specs
        self.depth, self.bn = int(meta["depth"]), int(meta["batchnorm"])
        n, c = int(meta["batch"]), int(meta["in_channels"])
        h, w = int(meta["height"]), int(meta["width"])
        self.steps = int(meta["steps"])
        lr, wd = float(meta["lr"]), float(meta["weight_decay"])
        self.p = {k: v.to(dtype) for k, v in read_params(d, "init.f32", specs).items()}
        for s in specs:
            if s["trainable"]:
                self.p[s["name"]].requires_grad_(True)
        # Weight decay on convolution and transposed-convolution weights only (kinds 0, 1).
        decayed = [self.p[s["name"]] for s in specs if s["trainable"] and s["kind"] in (0, 1)]
        plain = [self.p[s["name"]] for s in specs if s["trainable"] and s["kind"] not in (0, 1)]
        groups = [{"params": decayed, "weight_decay": wd}, {"params": plain, "weight_decay": 0.0}]
        if meta["optimizer"] == "adam":
            self.opt = torch.optim.AdamW(groups, lr=lr, eps=float(meta["eps"]),
                                         betas=(float(meta["beta1"]), float(meta["beta2"])))
        else:
            self.opt = torch.optim.SGD(groups, lr=lr, momentum=float(meta["momentum"]))
        self.xs = torch.tensor(np.fromfile(os.path.join(d, "inputs.f32"), dtype=np.float32)
                               .astype(np.float64)).reshape(self.steps, n, c, h, w).to(dtype)
        self.ys = torch.tensor(np.fromfile(os.path.join(d, "labels.u8"), dtype=np.uint8)
                               .astype(np.int64)).reshape(self.steps, n, h, w)
        self.cw = None
        if int(meta["class_weights"]):
            self.cw = torch.tensor(np.fromfile(os.path.join(d, "class_weights.f32"),
                                               dtype=np.float32).astype(np.float64)).to(dtype)

    def load(self, params):
        """Puts params (ours after a step) into the net; the optimiser keeps its state."""
        with torch.no_grad():
            for k, v in params.items():
                self.p[k].copy_(v.to(self.p[k].dtype))

    def gradients(self, s):
        """Loss and gradients of batch s (0-based) at the current parameters; the
        forward pass also moves the BN running statistics, as the trainer's does."""
        m = self.meta
        self.opt.zero_grad()
        logits = forward(self.p, self.xs[s], self.depth, self.bn, float(m["bn_epsilon"]),
                         float(m["bn_momentum"]))
        loss = F.cross_entropy(logits, self.ys[s], weight=self.cw, ignore_index=int(m["ignore"]))
        loss.backward()
        return loss.item(), {k: v.grad.detach().clone() for k, v in self.p.items()
                             if v.grad is not None}

    def step(self, s):
        """Optimiser step s (0-based) from the current parameters; returns the loss."""
        loss, _ = self.gradients(s)
        self.opt.step()
        return loss

    def apply(self, grads):
        """An optimiser step with the given gradients (the trainer's)."""
        for k, g in grads.items():
            self.p[k].grad = g.to(self.p[k].dtype, copy=True)
        self.opt.step()

    def params(self):
        return {k: v.detach().to(torch.float64, copy=True) for k, v in self.p.items()}


def relative_error(specs, meta, ours, ref, start=None, with_pre_bn_bias=False):
    """||ours - ref|| / ||ref - start|| (start None: / ||ref||) over the trainable
    parameters, the worst single tensor's ratio and its name."""
    num = den = 0.0
    worst, worst_name = 0.0, ""
    for s in specs:
        k = s["name"]
        if not s["trainable"] or (pre_bn_bias(s, meta) and not with_pre_bn_bias):
            continue
        e = torch.sum((ours[k] - ref[k]) ** 2).item()
        u = torch.sum((ref[k] - (start[k] if start is not None else 0)) ** 2).item()
        num += e
        den += u
        te = (e / u) ** 0.5 if u > 0 else (0.0 if e == 0 else float("inf"))
        if te > worst:
            worst, worst_name = te, k
    return (num / den) ** 0.5 if den > 0 else 0.0, worst, worst_name


def running_error(specs, ours, ref):
    """BN running mean and variance: ||ours - ref|| / ||ref||."""
    num = den = 0.0
    for s in specs:
        if s["kind"] in (5, 6):
            num += torch.sum((ours[s["name"]] - ref[s["name"]]) ** 2).item()
            den += torch.sum(ref[s["name"]] ** 2).item()
    return (num / den) ** 0.5 if den > 0 else 0.0


def check(d, meta, specs):
    """Teacher-forced, step by step from the trainer's own parameters after the
    step before, so that one step's rounding does not carry into the next:
      - gradient: the reference's loss and gradients at those parameters against
        the trainer's (and the BN running statistics that forward pass leaves);
      - optimiser: the reference optimiser fed the trainer's gradients (its
        moments built from them) against the trainer's parameters after the step,
        relative to the step's size.
    Free-running: the reference's own steps from the same start, against the
    trainer's after the last step, relative to how far the weights moved."""
    steps = int(meta["steps"])
    ours = [read_params(d, "init.f32", specs)]
    ours += [read_params(d, f"after_{k}.f32", specs) for k in range(1, steps + 1)]
    trainable = [s for s in specs if s["trainable"]]
    grads = [read_params(d, f"grad_{k}.f32", trainable) for k in range(1, steps + 1)]
    our_losses = [float(x) for x in open(os.path.join(d, "losses.txt"))]
    at_ours, optim = Reference(d, meta, specs), Reference(d, meta, specs)
    r = {"loss": 0.0, "grad_tensor": 0.0, "grad_name": "", "run": 0.0, "opt": 0.0}
    grad_errors = []
    for s in range(steps):
        at_ours.load(ours[s])
        ref_loss, ref_grads = at_ours.gradients(s)
        r["loss"] = max(r["loss"], abs(our_losses[s] - ref_loss) / max(abs(ref_loss), 1e-12))
        e, t, name = relative_error(trainable, meta, grads[s], ref_grads)
        grad_errors.append(e)
        if e <= KINK and t > r["grad_tensor"]:
            r["grad_tensor"], r["grad_name"] = t, f"{name}@{s + 1}"
        r["run"] = max(r["run"], running_error(specs, ours[s + 1], at_ours.params()))
        optim.load(ours[s])
        optim.apply(grads[s])
        e, _, _ = relative_error(specs, meta, ours[s + 1], optim.params(), ours[s],
                                 with_pre_bn_bias=True)
        r["opt"] = max(r["opt"], e)
    smooth = [e for e in grad_errors if e <= KINK]
    r["grad_median"] = float(np.median(smooth)) if smooth else float("inf")
    r["grad_max"] = max(grad_errors)
    r["kinks"] = sum(e > KINK for e in grad_errors)
    end = {}
    for dtype in (torch.float64, torch.float32):
        free = Reference(d, meta, specs, dtype)
        for s in range(steps):
            free.step(s)
        end[dtype] = free.params()
    r["end"], _, r["end_name"] = relative_error(specs, meta, ours[-1], end[torch.float64], ours[0])
    r["end_f32"], _, _ = relative_error(specs, meta, end[torch.float32], end[torch.float64],
                                        ours[0])
    return r


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe, work = sys.argv[1], sys.argv[2]
    isas = [None]
    if len(sys.argv) > 4 and sys.argv[3] == "--isa" and sys.argv[4] == "both":
        isas = [None, "AVX2"]
    os.makedirs(work, exist_ok=True)
    failures = 0
    print(f"{'config':32} {'isa':17} {'loss':>7} {'grad':>7} {'tensor':>7} {'kinks':>5} "
          f"{'kinkmax':>7} {'bnrun':>7} {'optim':>7} {'end':>7} {'f32end':>7}  worst tensor")
    for i, (depth, base, bn, optim, steps, lr, wd, cwt) in enumerate(CONFIGS):
        for isa in isas:
            d = os.path.join(work, f"c{i}-{isa or 'native'}")
            env = dict(os.environ)
            if isa:
                env["ONEDNN_MAX_CPU_ISA"] = isa
            r = subprocess.run([exe, d, str(depth), str(base), str(bn), optim, str(steps),
                                repr(lr), repr(wd), str(cwt), str(i + 1)],
                               env=env, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"config {i}: train-trajectory failed ({r.returncode}): {r.stderr.strip()}")
                failures += 1
                continue
            meta = read_meta(d)
            specs = read_specs(d)
            c = check(d, meta, specs)
            name = f"d{depth} f{base} {'bn' if bn else '--'} {optim} wd{wd:g} cw{cwt}"
            ok = (c["loss"] <= TOL_LOSS and c["grad_median"] <= TOL_GRAD
                  and c["grad_tensor"] <= TOL_GRAD_TENSOR and c["kinks"] <= MAX_KINKS
                  and c["grad_max"] <= TOL_KINK and c["run"] <= TOL_RUNNING
                  and c["opt"] <= TOL_OPTIM and c["end"] <= TOL_END)
            print(f"{name:32} {meta['isa']:17} {c['loss']:7.1e} {c['grad_median']:7.1e} "
                  f"{c['grad_tensor']:7.1e} {c['kinks']:5d} {c['grad_max']:7.1e} "
                  f"{c['run']:7.1e} {c['opt']:7.1e} {c['end']:7.1e} {c['end_f32']:7.1e}  "
                  f"{c['grad_name']}{'' if ok else '   <-- outside tolerance'}")
            failures += not ok
    print(f"tolerances: loss {TOL_LOSS:g}; gradient median {TOL_GRAD:g}, worst tensor "
          f"{TOL_GRAD_TENSOR:g} (steps without a kink); at most {MAX_KINKS} kink steps "
          f"(gradient error > {KINK:g}), each <= {TOL_KINK:g}; BN running stats "
          f"{TOL_RUNNING:g}; optimiser step {TOL_OPTIM:g}; free-running end {TOL_END:g} "
          "(f32end: PyTorch's own float32 run against float64, not judged)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
