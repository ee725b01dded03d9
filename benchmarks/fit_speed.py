"""Training speed of ``vaelab.fit`` against the floor (a minimal hand-written loop) and against pythae 0.1.2.

One process, the same data (the 8,000 shipped MNIST training digits, dynamically binarized every epoch), the same
model (784-500-2z encoder, z-500-784 decoder, ReLU, z=20), batch 100, Adam lr 1e-3.  The three trainers run
interleaved for several rounds (the order rotates each round); each trainer's seconds per epoch is the time
between the ends of consecutive epochs, as seen from outside the trainer, so everything it does per epoch counts.
The first epoch(s) of every run are dropped as warm-up, and the figure is the median of the remaining epochs.

    python benchmarks/fit_speed.py [--device auto|cpu|cuda] [--epochs 4] [--rounds 8] [--threads 2]

See benchmarks/README.md for the environment (pythae lives in its own virtual environment).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import vaelab

Z, HIDDEN, BATCH, LR = 20, 500, 100, 1e-3
FIT_TARGET, PYTHAE_TARGET = 1.05, 1.3  # fit/hand at most (against the same optimizer), pythae/fit at least
PAIRS_WITH_TARGET = ("fit/hand", "pythae/fit")
FLOOR = "hand loop, fused Adam"  # the same optimizer step as vaelab.fit: the fair floor


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


class EpochClock:
    """Seconds between consecutive ``tick()``s: the first interval starts when the clock is made."""

    def __init__(self, device):
        self.device, self.seconds, self.last = device, [], time.perf_counter()

    def tick(self):
        sync(self.device)
        now = time.perf_counter()
        self.seconds.append(now - self.last)
        self.last = now


# ---- (a) vaelab.fit -------------------------------------------------------------------------------------------
def run_vaelab(x, epochs, device):
    model = vaelab.VAE(x_dim=784, z_dim=Z, hidden=[HIDDEN], activation="relu")
    clock = EpochClock(device)
    history = vaelab.fit(model, x, epochs=epochs, batch_size=BATCH, lr=LR, device=device, progress=False,
                         callback=lambda *_: clock.tick())
    return clock.seconds, {"own_seconds": history.seconds, "final_train_elbo": history.train_elbo[-1]}


# ---- (b) the floor: a minimal hand-written loop ---------------------------------------------------------------
def run_hand(x, epochs, device, fused=False):
    """The floor. ``fused=True`` uses the fused Adam step that vaelab.fit uses where torch supports it."""
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2 * Z)).to(device)
    dec = nn.Sequential(nn.Linear(Z, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 784)).to(device)
    optimizer = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=LR, **({"fused": True} if fused else {}))
    x = x.as_subclass(torch.Tensor).to(device)  # the grey levels; binarized afresh every epoch
    n = len(x)
    clock = EpochClock(device)
    for _ in range(epochs):
        x_epoch = torch.bernoulli(x)
        for index in torch.randperm(n, device=device).split(BATCH):
            xb = x_epoch[index]
            mu, logvar = enc(xb).chunk(2, dim=-1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            recon = F.binary_cross_entropy_with_logits(dec(z), xb, reduction="none").sum(-1)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
            loss = (recon + kl).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        clock.tick()
    return clock.seconds, {}


# ---- (c) pythae 0.1.2: VAE + TrainingPipeline (BaseTrainer) ---------------------------------------------------
def pythae_networks(deterministic=False):
    """pythae encoder and decoder with the same layers as (a) and (b): 784-500-2z (784-500-z when ``deterministic``,
    for autoencoders such as the WAE) and z-500-784, ending in a sigmoid unless ``deterministic``: pythae's "bce"
    loss takes probabilities (its WAE has only the squared error, on the raw output)."""
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            out = Z if deterministic else 2 * Z
            self.net = nn.Sequential(nn.Linear(784, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, out))

        def forward(self, x):
            h = self.net(x.reshape(len(x), -1))
            if deterministic:
                return ModelOutput(embedding=h)
            mu, logvar = h.chunk(2, dim=-1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            layers = [nn.Linear(Z, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 784)]
            self.net = nn.Sequential(*layers, *([] if deterministic else [nn.Sigmoid()]))

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z).reshape(len(z), 1, 28, 28))

    return Encoder(), Decoder()


def run_pythae(x, epochs, device):
    from pythae.models import VAE, VAEConfig

    torch.manual_seed(0)
    encoder, decoder = pythae_networks()
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=Z, reconstruction_loss="bce"), encoder=encoder,
                decoder=decoder)
    return train_with_pythae(model, x, epochs, device), {}


def train_with_pythae(model, x, epochs, device):
    """Seconds per epoch of pythae's ``TrainingPipeline`` (its ``BaseTrainer``) on ``model``: batch 100, Adam, lr 1e-3,
    a fresh binarization at each epoch's start, the clock read at each epoch's end, output in a temporary folder."""
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    grey = x.as_subclass(torch.Tensor).reshape(-1, 1, 28, 28)

    class Clock(TrainingCallback):
        def __init__(self):
            self.clock = EpochClock(device)

        def on_epoch_begin(self, training_config, **kwargs):
            kwargs["train_loader"].dataset.data = torch.bernoulli(grey)

        def on_epoch_end(self, training_config, **kwargs):
            self.clock.tick()

    with tempfile.TemporaryDirectory() as out, open(os.devnull, "w") as devnull:
        config = BaseTrainerConfig(output_dir=out, per_device_train_batch_size=BATCH, learning_rate=LR,
                                   optimizer_cls="Adam", num_epochs=epochs, no_cuda=device.type != "cuda",
                                   steps_saving=None)
        callback = Clock()
        logging.disable(logging.INFO)  # its per-epoch log lines are not shown (they cost microseconds)
        try:
            with contextlib.redirect_stderr(devnull):  # its forced tqdm bars still run, unseen
                TrainingPipeline(model=model, training_config=config)(train_data=grey, callbacks=[callback])
        finally:
            logging.disable(logging.NOTSET)
    return callback.clock.seconds


# ---- the run ----------------------------------------------------------------------------------------------------
def machine_info(device):
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "vaelab": vaelab.__version__, "platform": platform.platform(),
            "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu}
    with contextlib.suppress(ImportError):
        from importlib.metadata import version
        info["pythae"] = version("pythae")
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run, warm-up included")
    parser.add_argument("--warmup", type=int, default=1, help="first epochs of each run left out")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds of (fit, hand, pythae)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for all trainers")
    parser.add_argument("--skip-pythae", action="store_true", help="time only fit and the hand loop")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="folder for the results")
    args = parser.parse_args()
    if args.epochs <= args.warmup:
        parser.error("--epochs must exceed --warmup")

    torch.set_num_threads(args.threads)
    device = vaelab.train.resolve_device(args.device)
    x = vaelab.load("mnist", split="train", binarize="dynamic", source="subset")
    runners = {"vaelab.fit": run_vaelab, "hand loop": run_hand,
               FLOOR: lambda x, epochs, device: run_hand(x, epochs, device, fused=True)}
    if not args.skip_pythae:
        try:
            import pythae  # noqa: F401
        except ImportError:
            parser.error("pythae is not installed here: see benchmarks/README.md, or pass --skip-pythae")
        runners["pythae 0.1.2"] = run_pythae

    names, kept, raw, extra = list(runners), {}, {}, {}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate, so no trainer always goes first
        for name in order:
            seconds, more = runners[name](x, args.epochs, device)
            raw.setdefault(name, []).append(seconds)
            kept.setdefault(name, []).extend(seconds[args.warmup:])
            extra.setdefault(name, []).append(more)
            print(f"round {r + 1}/{args.rounds}  {name:<22} " + " ".join(f"{s:.3f}" for s in seconds) + "  s/epoch")

    median = {name: statistics.median(kept[name]) for name in names}
    pairs = {"fit/hand": ("vaelab.fit", FLOOR), "fit/hand (default Adam)": ("vaelab.fit", "hand loop"),
             "pythae/fit": ("pythae 0.1.2", "vaelab.fit")}
    pairs = {k: v for k, v in pairs.items() if v[0] in median}
    ratios = {k: median[a] / median[b] for k, (a, b) in pairs.items()}
    # the same ratio within each round (runs next to each other share the machine's mood), then the median
    per_round = {k: [statistics.median(sa[args.warmup:]) / statistics.median(sb[args.warmup:])
                     for sa, sb in zip(raw[a], raw[b], strict=True)] for k, (a, b) in pairs.items()}
    targets = {"fit/hand": f"<= {FIT_TARGET}", "fit/hand (default Adam)": "none: for information",
               "pythae/fit": f">= {PYTHAE_TARGET}"}
    met = {"fit/hand": ratios["fit/hand"] <= FIT_TARGET, "fit/hand (default Adam)": True}
    if "pythae/fit" in ratios:
        met["pythae/fit"] = ratios["pythae/fit"] >= PYTHAE_TARGET
    info = machine_info(device)

    rows = [f"| {name} | {median[name]:.3f} | {min(kept[name]):.3f} | {max(kept[name]):.3f} | "
            f"{median[name] / median['hand loop']:.2f} |" for name in names]
    table = "\n".join(["| trainer | median s/epoch | min | max | × hand loop |", "|---|---:|---:|---:|---:|", *rows])
    verdict = {k: targets[k] if k not in PAIRS_WITH_TARGET else f"target {targets[k]}: {'met' if met[k] else 'NOT met'}"
               for k in ratios}
    lines = [f"{k} = {v:.3f}  ({verdict[k]}); per round: "
             + " ".join(f"{q:.2f}" for q in per_round[k]) + f", their median {statistics.median(per_round[k]):.3f}"
             for k, v in ratios.items()]
    print("\n" + table + "\n\n" + "\n".join(lines))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"fit_speed_{device.type}"
    settings = {"data": "mnist train, shipped subset, 8000 digits, dynamic binarization", "z_dim": Z,
                "hidden": [HIDDEN], "activation": "relu", "batch_size": BATCH, "lr": LR, "optimizer": "Adam",
                "epochs": args.epochs, "warmup_epochs_dropped": args.warmup, "rounds": args.rounds,
                "threads": args.threads, "timed": "wall time between the ends of consecutive epochs, measured "
                "outside each trainer (CUDA synchronized); median over the kept epochs of all rounds"}
    result = {"machine": info, "settings": settings, "median_seconds_per_epoch": median, "ratios": ratios,
              "ratios_per_round": per_round, "targets": targets, "targets_met": met, "epoch_seconds": raw,
              "details": extra}
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(
        f"# Training speed, {info['device_name']} ({device.type})\n\n"
        f"{settings['data']}; VAE 784-{HIDDEN}-{Z}, ReLU, batch {BATCH}, Adam lr {LR}; {args.rounds} interleaved "
        f"rounds × {args.epochs} epochs, first {args.warmup} of each run dropped; torch {info['torch']}, "
        f"{args.threads} threads, {info['cpus_usable']} usable cores ({info['cpu']}).\n\n{table}\n\n"
        + "\n".join(f"- {line}" for line in lines)
        + f"\n\nTimed: {settings['timed']}. Produced by `benchmarks/fit_speed.py`; raw figures in "
        f"`{stem.name}.json`.\n"
    )
    print(f"\nwrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
