"""Training speed of every model of the book through ``vaelab.fit``, against a minimal hand-written loop of the same
model.

For each kind of ``vaelab.experiments`` (VAE, VampPrior, implicit prior, InfoVAE, WAE, HEBAE, the two-stage VAE's
first stage), one process times seconds per epoch on the 8,000 shipped MNIST digits (dynamically binarized every
epoch), 784-500-20 MLPs, batch 100, Adam lr 1e-3:

- **vaelab.fit** (``progress=False``), the time between epoch ends seen from its callback;
- **the floor**: a hand-written loop with the same model's ``loss``, fused Adam, ``torch.randperm`` batches, a fresh
  binarization per epoch and, for the implicit prior, the same per-batch discriminator step, with nothing else.

The two run interleaved for several rounds; the first epoch of every run is dropped; the figure is the median.  The
ratio fit/hand measures what ``fit`` adds (target ≤ 1.05).  pythae is compared in ``fit_speed.py`` (the VAE) and
``pythae_models.py`` (VampPrior, WAE, InfoVAE).

    python benchmarks/model_speed.py [--device auto] [--epochs 3] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import vaelab
from vaelab import experiments
from vaelab.train import make_optimizer

HERE = Path(__file__).resolve().parent


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def build(kind):
    """The model a benchmark trains: for the two-stage VAE its first stage (the second is a small VAE of codes)."""
    spec = experiments.Spec(kind, kind, z_dim=20, hidden=[500], options={"K": 500} if kind == "vamp" else {})
    model = experiments.build(spec, 784)
    return model.first if kind == "two-stage" else model


def run_fit(kind, x, epochs, device):
    model, marks = build(kind), []

    def tick(epoch, history, model):
        sync(device)
        marks.append(time.perf_counter())

    sync(device)
    marks.append(time.perf_counter())
    binarize = "none" if kind == "two-stage" else "dynamic"
    vaelab.fit(model, x, epochs=epochs, device=device, progress=False, callback=tick, binarize=binarize)
    return [b - a for a, b in zip(marks[:-1], marks[1:], strict=True)]


def run_hand(kind, x, epochs, device):
    model = build(kind).to(device)
    x = x.to(device)
    ratio = model.prior.ratio if isinstance(model.prior, vaelab.ImplicitPrior) else None  # T_ψ, trained by its own
    own = {id(p) for p in ratio.parameters()} if ratio is not None else set()
    optimizer = make_optimizer([p for p in model.parameters() if id(p) not in own], 1e-3)
    ratio_optimizer = make_optimizer(ratio.parameters(), 1e-3) if ratio is not None else None
    seconds = []
    for _ in range(epochs):
        sync(device)
        began = time.perf_counter()
        model.train()
        xb_all = x if kind == "two-stage" else torch.bernoulli(x)
        for index in torch.randperm(len(x), device=device).split(100):
            out = model.loss(xb_all[index])
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            if ratio is not None:  # one step of the density ratio on encoder samples (eq. 4.2)
                with torch.no_grad():
                    mu, logvar = model.encode(xb_all[index])
                    z = model.reparameterize(mu, logvar)
                ratio_loss = ratio.loss(z, torch.randn_like(z))
                ratio_optimizer.zero_grad(set_to_none=True)
                ratio_loss.backward()
                ratio_optimizer.step()
        sync(device)
        seconds.append(time.perf_counter() - began)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kinds", nargs="+", default=list(experiments.KINDS), choices=experiments.KINDS)
    parser.add_argument("--out", default=None, help="results file stem (default: results/model_speed_<device>)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = vaelab.train.resolve_device(args.device)
    x = vaelab.load("mnist", split="train", source="subset", verbose=False).as_subclass(torch.Tensor)
    results = {}
    for kind in args.kinds:
        times = {"fit": [], "hand": []}
        for r in range(args.rounds):
            order = ("fit", "hand") if r % 2 == 0 else ("hand", "fit")
            for trainer in order:
                run = run_fit if trainer == "fit" else run_hand
                times[trainer] += run(kind, x, args.epochs, device)[1:]  # drop the warm-up epoch
        fit_s, hand_s = statistics.median(times["fit"]), statistics.median(times["hand"])
        results[kind] = {"fit_s_per_epoch": fit_s, "hand_s_per_epoch": hand_s, "fit/hand": fit_s / hand_s}
        print(f"{kind:10s} fit {fit_s:.3f} s/epoch, hand {hand_s:.3f} s/epoch, fit/hand {fit_s / hand_s:.3f}",
              flush=True)
    where = device.type if device.type != "cuda" else f"cuda ({torch.cuda.get_device_name(device)})"
    header = (f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}, "
              f"device {where}, {args.rounds} rounds × {args.epochs} epochs (first of each dropped), median")
    lines = ["# Seconds per epoch of every model: vaelab.fit against a hand-written loop", "", header, "",
             "| model | vaelab.fit | hand loop (floor) | fit/hand |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {r['fit_s_per_epoch']:.3f} | {r['hand_s_per_epoch']:.3f} | {r['fit/hand']:.3f} |"
              for k, r in results.items()]
    out = Path(args.out) if args.out else HERE / "results" / f"model_speed_{device.type}"
    out.with_suffix(".json").write_text(json.dumps({"setup": header, "results": results}, indent=1))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
