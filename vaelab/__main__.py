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
import math
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from . import experiments
from .models import PRECISIONS
from .nets import ACTIVATIONS, GATED

# what a user's mistake raises (a bad file, a bad setting, a diverged run): one "error: ..." line, never a traceback
USER_ERRORS = (ValueError, TypeError, OSError, RuntimeError, ArithmeticError)


class UsageError(ValueError):
    """A mistake on the command line, said in its own terms (``--out``, ``--device``)."""


def _count(low: int):
    """An argparse type: an integer >= ``low`` (argparse names the option in its error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def _real(low: float, high: float | None = None, low_open: bool = False):
    """An argparse type: a finite number in [low, high] (or (low, high] with ``low_open``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = high is not None and value > high
        if not math.isfinite(value) or too_low or too_high:
            bounds = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


def _check_device(device: str) -> None:
    """``--device`` before any work, in the command line's terms."""
    if device == "auto":
        return
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise UsageError(f"--device {device} is not a device torch knows; use auto, cpu, cuda or cuda:N.") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: this machine has no CUDA GPU; use --device auto or --device cpu.")


def _check_out(out: Path) -> None:
    """``--out`` must be a folder or a path that can become one: not a file, and not under a file."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; results go to a folder: choose another --out.")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--out {out} lies under {parent}, which is a file: choose another --out.")
            break


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder``'s path that does not exist yet (what a run would create), or None."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _remove_if_unused(created: Path | None) -> None:
    """After a failed run: remove the folder it created unless training saved a checkpoint there to resume from."""
    if created is not None and created.is_dir() and not any(created.rglob("*.pt")):
        shutil.rmtree(created, ignore_errors=True)


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
            raise UsageError(
                f"{out} holds a run with other settings ({saved}); train into another --out folder, or delete it."
            )
    experiments.write_json(saved, stored)
    return experiments.run_specs(data, [spec], out, device=args.device, progress=not args.quiet, experiment="train")


def _read_spec(out: Path) -> dict:
    saved = out / "spec.json"
    if not saved.is_file():
        raise UsageError(f"{out} has no spec.json: evaluate a folder written by `python -m vaelab train`.")
    try:
        stored = json.loads(saved.read_text())
        experiments.Spec.from_dict(stored["spec"])
        if not isinstance(stored["data"]["name"], str):
            raise TypeError("data.name is not a string")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        what = f"no {err} entry" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
        raise UsageError(f"{saved} is not a readable run description ({what}); it is written by `python -m vaelab "
                         "train`: train into a new --out folder.") from err
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
    reproduce.add_argument("--seeds", type=_count(0), nargs="+", default=None,
                           help="train every model once per seed (default: seed 0 only)")
    reproduce.add_argument("--epochs", type=_count(1), default=None,
                           help="cap every model's training at this many epochs (results in OUT/NAME-BUDGET-eN/)")

    train = commands.add_parser("train", parents=[common], help="train one model")
    train.add_argument("--kind", choices=list(experiments.KINDS), default="vae")
    train.add_argument("--name", default=None)
    train.add_argument("--data", choices=("mnist", "fashion-mnist"), default="mnist")
    train.add_argument("--source", choices=("auto", "subset", "full"), default="subset")
    train.add_argument("--z-dim", type=_count(1), default=20)
    train.add_argument("--hidden", type=_count(1), nargs="+", default=[300])
    train.add_argument("--activation", choices=[*ACTIVATIONS, GATED], default="relu",
                       help="hidden-layer nonlinearity; gated: Tomczak & Welling's gated layers")
    train.add_argument("--epochs", type=_count(1), default=20)
    train.add_argument("--batch-size", type=_count(1), default=100)
    train.add_argument("--lr", type=_real(0, low_open=True), default=1e-3)
    train.add_argument("--lr-decay-every", type=_count(0), default=0,
                       help="multiply the learning rate by --lr-decay every so many epochs (0: constant)")
    train.add_argument("--lr-decay", type=_real(0, 1, low_open=True), default=0.5)
    train.add_argument("--kl-weight", type=_real(0), default=1.0)
    train.add_argument("--warmup", type=_count(0), default=0)
    train.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="bfloat16: faster where the hardware has bfloat16 arithmetic (see vaelab.fit)")
    train.add_argument("--seed", type=_count(0), default=0, help="initializes the networks and drives training")
    train.add_argument("--k", type=_count(0), default=100, help="importance samples for log p(x) (0: skip)")
    train.add_argument("--out", required=True)

    evaluate = commands.add_parser("evaluate", parents=[common], help="evaluate a folder written by train")
    evaluate.add_argument("run")
    evaluate.add_argument("--k", type=_count(0), default=None,
                          help="importance samples for log p(x) (0: skip; default: as trained)")

    commands.add_parser("list", help="the named experiments")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, make in sorted(experiments.EXPERIMENTS.items()):
            print(f"{name:10s} {make.__doc__.strip().splitlines()[0]}")
        return 0
    created = folder = None
    try:
        _check_device(args.device)
        if args.command == "reproduce":
            folder = experiments.experiment_folder(args.name, args.budget, args.out, args.epochs)
            _check_out(folder)
            created = _first_missing(folder)
            experiments.run(args.name, args.budget, args.out, device=args.device, progress=not args.quiet,
                            source=args.source, precision=args.precision, seeds=args.seeds, epochs=args.epochs)
        elif args.command == "train":
            folder = Path(args.out)
            _check_out(folder)
            created = _first_missing(folder)
            _train_command(args)
        else:
            folder = Path(args.run)
            _evaluate_command(args)
    except KeyboardInterrupt:
        _remove_if_unused(created)
        kept = folder is not None and folder.is_dir() and any(folder.rglob("*.pt"))
        print("\ninterrupted: " + (f"the checkpoints in {folder} keep what training saved; run the same command "
                                   "again to resume." if kept else "nothing was saved."), file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        _remove_if_unused(created)
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
