"""Training speed of ``vaelab.fit`` against pythae 0.1.2 for the other models pythae has: VampPrior, WAE-MMD, InfoVAE.

``fit_speed.py`` compares the VAE (and the hand-written floor); this script compares, in one process and with the
same clock, the three other models both libraries implement, each with the same networks and settings:

- data: the 8,000 shipped MNIST training digits, dynamically binarized at every epoch's start;
- networks: 784-500-(2z or z) encoder, z-500-784 decoder, ReLU, z = 20; batch 100, Adam lr 1e-3;
- **vamp**: K = 500 pseudo-inputs, Bernoulli likelihood, no warm-up (``VAMPConfig(number_components=500)``);
- **wae**: deterministic encoder, λ = 10, multi-scale IMQ kernel with scales 0.1 … 10 × C, C = 2·z·1 (pythae's
  defaults); squared-error reconstruction, which is pythae's only WAE loss (vaelab: a Gaussian likelihood with
  γ = 0.5, whose negative log-density is the same squared error plus a constant);
- **infovae**: α = 0, λ = 1000, the same multi-scale IMQ kernel, Bernoulli likelihood.

Each trainer's seconds per epoch is the wall time between the ends of consecutive epochs seen from outside it; the
first epoch of every run is dropped; the two run interleaved for several rounds; the figure is the median.

    benchmarks/.venv/bin/python benchmarks/pythae_models.py [--device auto] [--models vamp wae infovae]

See benchmarks/README.md for pythae's environment.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from fit_speed import BATCH, HIDDEN, LR, PYTHAE_TARGET, EpochClock, Z, machine_info, pythae_networks, train_with_pythae

import vaelab
from vaelab.mmd import WAE_SCALES

MODELS = ("vamp", "wae", "infovae")
K, WAE_LAM, INFO_ALPHA, INFO_LAM = 500, 10.0, 0.0, 1000.0


def vaelab_model(kind):
    torch.manual_seed(0)
    common = dict(x_dim=784, z_dim=Z, hidden=[HIDDEN], activation="relu")
    if kind == "vamp":
        return vaelab.VAE(**common, prior=vaelab.VampPrior(K, 784))
    if kind == "wae":
        return vaelab.WAE(**common, mmd_lambda=WAE_LAM, kernel_scales=WAE_SCALES, likelihood="gaussian", gamma=0.5)
    return vaelab.InfoVAE(**common, alpha=INFO_ALPHA, mmd_lambda=INFO_LAM, kernel_scales=WAE_SCALES)


def run_vaelab(kind, x, epochs, device):
    model = vaelab_model(kind)
    clock = EpochClock(device)
    vaelab.fit(model, x, epochs=epochs, batch_size=BATCH, lr=LR, device=device, progress=False,
               callback=lambda *_: clock.tick())
    return clock.seconds


def pythae_model(kind):
    from pythae.models import INFOVAE_MMD, VAMP, WAE_MMD, INFOVAE_MMD_Config, VAMPConfig, WAE_MMD_Config

    torch.manual_seed(0)
    encoder, decoder = pythae_networks(deterministic=kind == "wae")
    shape = dict(input_dim=(1, 28, 28), latent_dim=Z)
    if kind == "vamp":
        config = VAMPConfig(**shape, reconstruction_loss="bce", number_components=K)
        return VAMP(config, encoder=encoder, decoder=decoder)
    if kind == "wae":
        config = WAE_MMD_Config(**shape, reg_weight=WAE_LAM, kernel_choice="imq", scales=list(WAE_SCALES))
        return WAE_MMD(config, encoder=encoder, decoder=decoder)
    config = INFOVAE_MMD_Config(**shape, reconstruction_loss="bce", alpha=INFO_ALPHA, lbd=INFO_LAM,
                                kernel_choice="imq", scales=list(WAE_SCALES))
    return INFOVAE_MMD(config, encoder=encoder, decoder=decoder)


def run_pythae(kind, x, epochs, device):
    return train_with_pythae(pythae_model(kind), x, epochs, device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run, the first dropped")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds of (vaelab, pythae)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is dropped)")
    try:
        import pythae  # noqa: F401
    except ImportError:
        parser.error("pythae is not installed here: see benchmarks/README.md")

    torch.set_num_threads(args.threads)
    device = vaelab.train.resolve_device(args.device)
    x = vaelab.load("mnist", split="train", binarize="dynamic", source="subset", verbose=False)
    results = {}
    for kind in args.models:
        kept = {"vaelab.fit": [], "pythae 0.1.2": []}
        per_round = []
        for r in range(args.rounds):
            order = list(kept) if r % 2 == 0 else list(kept)[::-1]
            medians = {}
            for name in order:
                seconds = (run_vaelab if name == "vaelab.fit" else run_pythae)(kind, x, args.epochs, device)[1:]
                kept[name] += seconds
                medians[name] = statistics.median(seconds)
                print(f"{kind:8s} round {r + 1}/{args.rounds} {name:13s} " + " ".join(f"{s:.3f}" for s in seconds),
                      flush=True)
            per_round.append(medians["pythae 0.1.2"] / medians["vaelab.fit"])
        fit_s, pythae_s = statistics.median(kept["vaelab.fit"]), statistics.median(kept["pythae 0.1.2"])
        results[kind] = {"vaelab_fit_s_per_epoch": fit_s, "pythae_s_per_epoch": pythae_s,
                         "pythae/fit": pythae_s / fit_s, "per_round": per_round}

    info = machine_info(device)
    target = PYTHAE_TARGET if device.type == "cpu" else 5.0
    where = f"{info['device_name']} ({device.type})"
    lines = [f"# Training speed against pythae 0.1.2: VampPrior, WAE-MMD, InfoVAE — {where}", "",
             f"mnist train, shipped subset (8,000 digits), dynamic binarization; 784-{HIDDEN}-{Z} MLPs, ReLU, batch "
             f"{BATCH}, Adam lr {LR}; VampPrior K = {K}; WAE λ = {WAE_LAM:g}; InfoVAE α = {INFO_ALPHA:g}, "
             f"λ = {INFO_LAM:g}; multi-scale IMQ kernel (scales {', '.join(f'{s:g}' for s in WAE_SCALES)} × 2z); "
             f"{args.rounds} interleaved rounds × {args.epochs} epochs, first of each run dropped, medians; "
             f"torch {info['torch']}, {args.threads} threads, {info['cpus_usable']} usable cores.", "",
             "| model | vaelab.fit s/epoch | pythae s/epoch | pythae/fit | per round | target |",
             "|---|---:|---:|---:|---|---|"]
    for kind, r in results.items():
        verdict = "met" if r["pythae/fit"] >= target else "NOT met"
        lines.append(f"| {kind} | {r['vaelab_fit_s_per_epoch']:.3f} | {r['pythae_s_per_epoch']:.3f} | "
                     f"{r['pythae/fit']:.2f} | {' '.join(f'{q:.2f}' for q in r['per_round'])} | "
                     f"≥ {target:g}: {verdict} |")
    lines += ["", "Produced by `benchmarks/pythae_models.py`; the VAE is in `fit_speed_<device>.md`."]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"pythae_models_{device.type}"
    stem.with_suffix(".json").write_text(json.dumps({"machine": info, "results": results}, indent=1) + "\n")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
