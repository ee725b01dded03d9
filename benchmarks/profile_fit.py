"""Where training time goes, and what each speed choice of vaelab gains: one profile and a few measured ablations.

1. **Profile**: ``torch.profiler`` over one epoch of ``vaelab.fit`` for the VAE and the VampPrior (K = 500) on 2,000
   shipped MNIST digits; the operators with the most self time.
2. **Ablations**, each timed as the median seconds per epoch of a hand-written loop over the same 8,000 digits
   (784-500-20, batch 100), the two variants interleaved:

   - ``pairwise``: the VampPrior's log p(z) through matrix products (``gaussian_log_prob_pairwise``, what vaelab
     does) against the direct broadcast of (z − μ_k)² over a [B, K, D] tensor;
   - ``adam``: the fused Adam step (``make_optimizer``) against PyTorch's default;
   - ``host-sync``: the epoch's statistics copied to the host once per epoch (what ``fit`` does) against a
     ``.item()`` after every step (a sync per step; it matters most on a GPU);
   - ``compile``: ``torch.compile`` of the loss against eager mode (compile time reported apart);
   - ``bf16``: the networks in bfloat16 (``fit(precision="bfloat16")``'s context) against float32.

3. **``fit(precision="bfloat16")`` against float32** for four models: seconds for 8 epochs and the test ELBO
   (evaluated in float32 on the 2,000 shipped test digits), to show that the faster option learns as well.

    python benchmarks/profile_fit.py [--device auto] [--rounds 3] [--epochs 3] [--skip-compile]

Writes ``results/profile_<device>.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import time
from pathlib import Path

import torch

import vaelab
from vaelab.gaussians import LOG_2PI
from vaelab.train import make_optimizer

HERE = Path(__file__).resolve().parent
INDUCTOR_CACHE = HERE / ".inductor-cache"  # this script's own, emptied at the start of a run (git-ignored)
os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(INDUCTOR_CACHE)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def model_of(kind, device):
    torch.manual_seed(0)
    prior = vaelab.VampPrior(500, 784) if kind == "vamp" else None
    return vaelab.VAE(784, 20, hidden=[500], activation="relu", prior=prior).to(device)


# ---- 1. profile --------------------------------------------------------------------------------------------------
def profile(kind, x, device, top=8):
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    model = model_of(kind, device)
    vaelab.fit(model, x[:500], epochs=1, device=device, progress=False)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        vaelab.fit(model, x[:2000], epochs=1, device=device, progress=False)
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, attr, 0), reverse=True)
    total = sum(getattr(e, attr, 0) for e in events) or 1
    rows = [(e.key, e.count, getattr(e, attr, 0) / 1e3, 100 * getattr(e, attr, 0) / total) for e in events[:top]]
    return rows


# ---- 2. ablations: one hand-written epoch with switches -----------------------------------------------------------
def broadcast_log_prob(prior, z):
    """The direct form of eq. 3.4: log N(z; μ_k, σ_k²) over a [..., K, D] tensor, then logsumexp over k."""
    mu, logvar = prior.components()
    diff = z.unsqueeze(-2) - mu  # [..., K, D]
    log_n = -0.5 * (LOG_2PI + logvar + diff.pow(2) * torch.exp(-logvar)).sum(-1)
    return torch.logsumexp(log_n, -1) - math.log(prior.n_components)


def epoch_seconds(x, device, epochs, *, kind="vae", broadcast=False, fused=True, item_per_step=False,
                  compiled=False, bf16=False):
    model = model_of(kind, device)
    if broadcast:
        model.prior.log_prob = lambda z, prior=model.prior: broadcast_log_prob(prior, z)
    optimizer = make_optimizer(model, 1e-3) if fused else torch.optim.Adam(model.parameters(), lr=1e-3)
    step_loss = torch.compile(lambda xb: model.loss(xb).loss) if compiled else (lambda xb: model.loss(xb).loss)
    seconds, compile_seconds = [], None
    for epoch in range(epochs):
        sync(device)
        began = time.perf_counter()
        x_epoch = torch.bernoulli(x)
        total = torch.zeros((), device=device)
        for index in torch.randperm(len(x), device=device).split(100):
            with model.network_precision("bfloat16" if bf16 else "float32"):
                loss = step_loss(x_epoch[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if item_per_step:
                total += loss.item()
            else:
                total += loss.detach()
        float(total)
        sync(device)
        seconds.append(time.perf_counter() - began)
        if compiled and epoch == 0:
            compile_seconds = seconds[0]
    return seconds[1:], compile_seconds  # the first epoch is warm-up (and compilation)


ABLATIONS = {
    # name: (model kind, what vaelab does, the alternative)
    "pairwise": ("vamp", {}, {"broadcast": True}),
    "adam": ("vae", {}, {"fused": False}),
    "host-sync": ("vae", {}, {"item_per_step": True}),
    "compile": ("vae", {}, {"compiled": True}),
    "bf16": ("vae", {}, {"bf16": True}),
}
LABELS = {
    "pairwise": ("matrix products (vaelab)", "broadcast [B, K, D]"),
    "adam": ("fused Adam (vaelab)", "default Adam"),
    "host-sync": ("one transfer per epoch (vaelab)", ".item() every step"),
    "compile": ("eager (vaelab)", "torch.compile"),
    "bf16": ("float32 (default)", "networks in bfloat16"),
}


def precision_quality(device, epochs=8):
    """fit(precision=...) end to end: seconds and the float32 test ELBO after ``epochs`` epochs, for four models."""
    x = vaelab.load("mnist", split="train", source="subset", verbose=False)
    test = vaelab.binarize(vaelab.load("mnist", split="test", source="subset", verbose=False))
    kw = dict(x_dim=784, z_dim=20, hidden=[500], activation="relu")
    makers = {"VAE": lambda: vaelab.VAE(**kw),
              "VampPrior K = 100": lambda: vaelab.VAE(**kw, prior=vaelab.VampPrior(100, 784)),
              "InfoVAE": lambda: vaelab.InfoVAE(**kw), "HEBAE": lambda: vaelab.HEBAE(**kw)}
    rows = []
    for name, make in makers.items():
        result = {}
        for precision in ("float32", "bfloat16"):
            torch.manual_seed(0)
            model = make()
            history = vaelab.fit(model, x, epochs=epochs, device=device, progress=False, precision=precision)
            result[precision] = (sum(history.seconds), vaelab.elbo(model, test))
        (s32, e32), (s16, e16) = result["float32"], result["bfloat16"]
        rows.append(f"| {name} | {s32:.1f} | {s16:.1f} | {s32 / s16:.2f} | {e32:.2f} | {e16:.2f} |")
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="per run, the first dropped")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-compile", action="store_true", help="leave out torch.compile (needs a C++ compiler)")
    parser.add_argument("--only", nargs="+", choices=list(ABLATIONS), default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shutil.rmtree(INDUCTOR_CACHE, ignore_errors=True)  # so that a first compilation is timed
    device = vaelab.train.resolve_device(args.device)
    x = vaelab.load("mnist", split="train", source="subset", verbose=False).as_subclass(torch.Tensor).to(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    lines = [f"# Where training time goes: profile and ablations ({where}, {device.type})", "",
             f"torch {torch.__version__}, {args.threads} threads; produced by `benchmarks/profile_fit.py`.", ""]

    if args.only is None:
        lines += ["## Profile: one epoch of `vaelab.fit` on 2,000 digits (784-500-20, batch 100)", ""]
        for kind in ("vae", "vamp"):
            lines += [f"**{'VAE' if kind == 'vae' else 'VampPrior, K = 500'}**: operators by self time", "",
                      "| operator | calls | self ms | share |", "|---|---:|---:|---:|"]
            lines += [f"| `{k}` | {c} | {ms:.1f} | {share:.0f} % |" for k, c, ms, share in profile(kind, x, device)]
            lines.append("")
            print("\n".join(lines[-12:]), flush=True)

    chosen = args.only or [a for a in ABLATIONS if not (a == "compile" and args.skip_compile)]
    lines += ["## Ablations: seconds per epoch, 8,000 digits, hand-written loop, medians of interleaved runs", "",
              "| choice | model | vaelab's way | the alternative | alternative / vaelab |", "|---|---|---:|---:|---:|"]
    notes = []
    for name in chosen:
        kind, ours, theirs = ABLATIONS[name]
        times = {"ours": [], "theirs": []}
        compile_s = None
        for r in range(args.rounds):
            for side in (("ours", "theirs") if r % 2 == 0 else ("theirs", "ours")):
                try:
                    s, c = epoch_seconds(x, device, args.epochs, kind=kind, **(ours if side == "ours" else theirs))
                except Exception as err:  # noqa: BLE001 - e.g. torch.compile without a compiler: recorded, not hidden
                    notes.append(f"- `{name}`: the alternative failed here: {type(err).__name__}: "
                                 f"{str(err).splitlines()[0][:200]}")
                    times[side] = None
                    break
                times[side] += s
                compile_s = max(c, compile_s or 0) if c is not None else compile_s
            if times["theirs"] is None or times["ours"] is None:
                break
        if times["theirs"] is None or times["ours"] is None:
            continue
        a, b = statistics.median(times["ours"]), statistics.median(times["theirs"])
        mine, other = LABELS[name]
        lines.append(f"| {name}: {mine} vs {other} | {kind} | {a:.3f} | {b:.3f} | {b / a:.2f} |")
        if compile_s is not None:
            notes.append(f"- `compile`: the longest first epoch, compilation included, took {compile_s:.1f} s (an "
                         "empty inductor cache at the start of the run).")
        print(lines[-1], flush=True)
    lines += [""] + notes
    if args.only is None:
        lines += ["", "## `fit(precision=\"bfloat16\")` against float32: 8 epochs on 8,000 digits, test ELBO on 2,000",
                  "",
                  "| model | float32 s | bfloat16 s | speed-up | float32 test ELBO | bfloat16 test ELBO |",
                  "|---|---:|---:|---:|---:|---:|", *precision_quality(device)]
    out = HERE / "results" / f"profile_{device.type}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
