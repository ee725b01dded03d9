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
from .nets import ACTIVATIONS, GATED
from .train import PRECISIONS


def _train(args) -> dict:
    spec = experiments.Spec(args.name or args.kind, args.kind, z_dim=args.z_dim, hidden=args.hidden,
                            activation=args.activation, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            lr_decay_every=args.lr_decay_every, lr_decay=args.lr_decay, kl_weight=args.kl_weight,
                            warmup=args.warmup, precision=args.precision)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = {"name": args.data, "source": args.source, "k": args.k}
    (out / "spec.json").write_text(json.dumps({"spec": asdict(spec), "data": data}, indent=1, ensure_ascii=False))
    return _run_specs(out, data, [spec], args)


def _run_specs(out: Path, data: dict, specs, args) -> dict:
    original = experiments.EXPERIMENTS.get("_cli")
    experiments.EXPERIMENTS["_cli"] = lambda budget: (dict(data), specs)
    try:
        return experiments.run("_cli", budget="cpu", out=out.parent, device=args.device, progress=not args.quiet,
                               folder_name=out.name)
    finally:
        experiments.EXPERIMENTS.pop("_cli")
        if original is not None:
            experiments.EXPERIMENTS["_cli"] = original


def _evaluate(args) -> dict:
    out = Path(args.run)
    saved = out / "spec.json"
    if not saved.exists():
        raise SystemExit(f"{out} has no spec.json: evaluate a folder written by `python -m vaelab train`.")
    stored = json.loads(saved.read_text())
    data = dict(stored["data"], k=args.k if args.k is not None else stored["data"].get("k", 100))
    return _run_specs(out, data, [experiments.Spec(**stored["spec"])], args)


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

    train = commands.add_parser("train", parents=[common], help="train one model")
    train.add_argument("--kind", choices=experiments.KINDS, default="vae")
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
                            source=args.source, precision=args.precision)
        elif args.command == "train":
            _train(args)
        else:
            _evaluate(args)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
