"""``python -m vaelab``: train one model, evaluate a trained one, or reproduce a named experiment.

    python -m vaelab reproduce compare --budget cpu      # every model of the book, one budget -> runs/compare-cpu/
    python -m vaelab reproduce vampprior --budget paper  # the paper's setting (use a GPU); resumes if interrupted
    python -m vaelab train --kind hebae --epochs 20 --out runs/my-hebae
    python -m vaelab evaluate runs/my-hebae
    python -m vaelab list

Each writes a ``results.json`` (nats per example; FD/KID in vaelab's classifier features; the hardware, data source
and budget) and checkpoints that make a rerun resume where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from . import experiments
from .models import PRECISIONS
from .nets import ACTIVATIONS, GATED


def _train_command(args) -> experiments.Results:
    spec = experiments.Spec(args.name or args.kind, args.kind, z_dim=args.z_dim, hidden=args.hidden,
                            activation=args.activation, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            lr_decay_every=args.lr_decay_every, lr_decay=args.lr_decay, kl_weight=args.kl_weight,
                            warmup=args.warmup, precision=args.precision, seed=args.seed)
    experiments.check_spec(spec)
    out = Path(args.out)
    data = {"name": args.data, "source": args.source, "k": args.k}
    stored = {"spec": asdict(spec), "data": data}
    saved = out / "spec.json"
    if saved.exists():  # checked before anything is written: a refused run leaves the folder as it was
        previous = _read_spec(out)
        if previous != stored:
            raise ValueError(
                f"{out} holds a run with other settings ({saved}); train into another --out folder, or delete it."
            )
    experiments.write_json(saved, stored)
    return experiments.run_specs(data, [spec], out, device=args.device, progress=not args.quiet, experiment="train")


def _read_spec(out: Path) -> dict:
    saved = out / "spec.json"
    if not saved.exists():
        raise SystemExit(f"{out} has no spec.json: evaluate a folder written by `python -m vaelab train`.")
    try:
        stored = json.loads(saved.read_text())
        experiments.Spec.from_dict(stored["spec"])
        stored["data"]["name"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{saved} is not a readable run description ({type(err).__name__}: {err}).") from err
    return stored


def _evaluate_command(args) -> experiments.Results:
    out = Path(args.run)
    stored = _read_spec(out)
    data = dict(stored["data"], k=args.k if args.k is not None else stored["data"].get("k", 100))
    spec = experiments.Spec.from_dict(stored["spec"])
    return experiments.run_specs(data, [spec], out, device=args.device, progress=not args.quiet, train=False,
                                 experiment="train")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaelab", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    common.add_argument("--quiet", action="store_true", help="no progress bars")

    reproduce = commands.add_parser("reproduce", parents=[common], help="run a named experiment")
    reproduce.add_argument("name", choices=sorted(experiments.EXPERIMENTS))
    reproduce.add_argument("--budget", choices=experiments.BUDGETS, default="cpu")
    reproduce.add_argument("--out", default="runs", help="results go to OUT/NAME-BUDGET/")
    reproduce.add_argument("--source", choices=("auto", "subset", "full"), default=None,
                           help="MNIST source (default: the experiment's: subset on cpu, auto on paper)")
    reproduce.add_argument("--precision", choices=PRECISIONS, default=None,
                           help="train in bfloat16 where the hardware has it (default: the experiment's, float32)")
    reproduce.add_argument("--seeds", type=int, nargs="+", default=None,
                           help="train every model once per seed (default: seed 0 only)")
    reproduce.add_argument("--epochs", type=int, default=None,
                           help="cap every model's training at this many epochs (results in OUT/NAME-BUDGET-eN/)")

    train = commands.add_parser("train", parents=[common], help="train one model")
    train.add_argument("--kind", choices=list(experiments.KINDS), default="vae")
    train.add_argument("--name", default=None)
    train.add_argument("--data", choices=("mnist", "fashion-mnist"), default="mnist")
    train.add_argument("--source", choices=("auto", "subset", "full"), default="subset")
    train.add_argument("--z-dim", type=int, default=20)
    train.add_argument("--hidden", type=int, nargs="+", default=[300])
    train.add_argument("--activation", choices=[*ACTIVATIONS, GATED], default="relu",
                       help="hidden-layer nonlinearity; gated: Tomczak & Welling's gated layers")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=100)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--lr-decay-every", type=int, default=0,
                       help="multiply the learning rate by --lr-decay every so many epochs (0: constant)")
    train.add_argument("--lr-decay", type=float, default=0.5)
    train.add_argument("--kl-weight", type=float, default=1.0)
    train.add_argument("--warmup", type=int, default=0)
    train.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="bfloat16: faster where the hardware has bfloat16 arithmetic (see vaelab.fit)")
    train.add_argument("--seed", type=int, default=0, help="initializes the networks and drives training")
    train.add_argument("--k", type=int, default=100, help="importance samples for log p(x) (0: skip)")
    train.add_argument("--out", required=True)

    evaluate = commands.add_parser("evaluate", parents=[common], help="evaluate a folder written by train")
    evaluate.add_argument("run")
    evaluate.add_argument("--k", type=int, default=None)

    commands.add_parser("list", help="the named experiments")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name, make in sorted(experiments.EXPERIMENTS.items()):
                print(f"{name:10s} {make.__doc__.strip().splitlines()[0]}")
            return 0
        if args.command == "reproduce":
            experiments.run(args.name, args.budget, args.out, device=args.device, progress=not args.quiet,
                            source=args.source, precision=args.precision, seeds=args.seeds, epochs=args.epochs)
        elif args.command == "train":
            _train_command(args)
        else:
            _evaluate_command(args)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
