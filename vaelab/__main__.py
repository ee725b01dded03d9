"""``vaelab`` (or ``python -m vaelab``): train one model, evaluate a trained one, or reproduce a named experiment.

    vaelab reproduce compare --budget cpu      # every model of the book, one budget -> runs/compare-cpu/
    vaelab reproduce vampprior --budget paper  # the paper's setting (use a GPU); resumes if interrupted
    vaelab train --kind hebae --epochs 20 --out runs/my-hebae
    vaelab evaluate runs/my-hebae --json       # the results as JSON on stdout (a table without --json)
    vaelab list                                # the experiments, their budgets and a rough time on this machine

Each writes a ``results.json`` (nats per example; FD/KID in vaelab's classifier features; the hardware, data source
and budget) and checkpoints that make a rerun resume where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from . import experiments
from ._version import __version__
from .checks import number
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
    """An argparse type: a finite number in [low, high] (or (low, high] with ``low_open``), checked by
    :func:`vaelab.checks.number` as the library checks its own arguments."""
    def parse(text: str) -> float:
        try:
            return number(float(text), "the value", low=low, high=high, low_open=low_open)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err) if "must be" in str(err) else f"expected a number, got {text!r}"
                                             ) from None
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
    return experiments.run_specs(data, [spec], out, device=args.device, progress=_progress(args),
                                 verbose=not args.json, experiment="train")


def _read_spec(out: Path) -> dict:
    saved = out / "spec.json"
    if not saved.is_file():
        raise UsageError(f"{out} has no spec.json: evaluate a folder written by `vaelab train`.")
    try:
        stored = json.loads(saved.read_text())
        experiments.Spec.from_dict(stored["spec"])
        if not isinstance(stored["data"]["name"], str):
            raise TypeError("data.name is not a string")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        what = f"no {err} entry" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
        raise UsageError(f"{saved} is not a readable run description ({what}); it is written by `vaelab train`: "
                         "train into a new --out folder.") from err
    return stored


def _evaluate_command(args) -> experiments.Results:
    out = Path(args.run)
    stored = _read_spec(out)
    data = dict(stored["data"], k=args.k if args.k is not None else stored["data"].get("k", 100))
    spec = experiments.Spec.from_dict(stored["spec"])
    return experiments.run_specs(data, [spec], out, device=args.device, progress=_progress(args), train=False,
                                 verbose=not args.json, experiment="train")


def _progress(args) -> bool | None:
    """--quiet silences the bars; otherwise they show unless TQDM_DISABLE is set (vaelab.train.show_progress)."""
    return False if args.quiet else None


# ------------------------------------------------------------------------------------------------------- output
COLUMNS = [("ELBO", "elbo", "{:.2f}"), ("log p(x)", "log_likelihood", "{:.2f}"), ("± s.e.", "log_likelihood_stderr",
           "{:.2f}"), ("recon", "recon", "{:.2f}"), ("KL", "kl", "{:.2f}"), ("active", "active_units", "{:d}"),
           ("FD", "fid", "{:.2f}"), ("train s", "train_seconds", "{:.0f}")]


def results_table(results: dict) -> str:
    """The results of every model as an aligned text table (nats per example; a dash where a value is undefined)."""
    models = results.get("models", {})
    rows = [["model", *(title for title, _, _ in COLUMNS)]]
    for name, entry in models.items():
        row = [name]
        for _, key, fmt in COLUMNS:
            value = entry.get(key)
            if key == "kl" and value is None and "elbo" in entry:
                value = entry["recon"] - entry["elbo"]
            row.append("–" if value is None else fmt.format(value))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    return "\n".join(lines[:1] + ["-" * len(lines[0])] + lines[1:])


def _print_results(results: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({k: v for k, v in results.items() if not k.startswith("_")}, indent=1, ensure_ascii=False))
    else:
        print(results_table(results))


def _list_experiments() -> None:
    speed = experiments.machine_speed()
    print(f"{'experiment':11s}{'budget':8s}{'models':>7s}{'epochs':>8s}{'rough time here':>17s}  description")
    for name, make in sorted(experiments.EXPERIMENTS.items()):
        about = make.__doc__.strip().splitlines()[0]
        for budget in experiments.BUDGETS:
            estimate = experiments.estimate(name, budget, speed)
            print(f"{name:11s}{budget:8s}{estimate['models']:7d}{estimate['epochs']:8d}"
                  f"{_duration(estimate['seconds']):>17s}  {about if budget == experiments.BUDGETS[0] else ''}")
    print(f"\nrough time: the FLOPs of training and of the log-likelihood at {experiments.MLP_EFFICIENCY:.0%} of this "
          f"machine's measured matrix speed ({speed / 1e9:.0f} GFLOP/s now, so a busy machine gives longer times); "
          "calibrated on CPU training epochs (benchmarks/results/time_estimate.md), not on GPUs.")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"~{seconds:.0f} s"
    if seconds < 5400:
        return f"~{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"~{seconds / 3600:.0f} h"
    return f"~{seconds / 86400:.0f} days"


# ------------------------------------------------------------------------------------------------------ the parser
class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's default in its help (none for flags and options without one), the examples kept as written."""

    def _get_help_string(self, action):
        if action.default in (None, False) or action.required:
            return action.help
        return super()._get_help_string(action)


EPILOG = """examples:
  vaelab train --kind vamp --epochs 20 --out runs/vamp       train one model (a table of its results on stdout)
  vaelab evaluate runs/vamp --k 5000 --json                  re-evaluate it, the results as JSON
  vaelab reproduce compare --seeds 0 1 2                     every model of the book, three seeds
  vaelab reproduce vampprior --budget paper --device cuda    a paper's setting, on a GPU
  vaelab list                                                the experiments and a rough time for each

Interrupted runs resume: run the same command again. Exit status: 0 done, 2 a mistake (one 'error:' line), 130
interrupted (Ctrl-C)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaelab", description=__doc__.splitlines()[0].replace("``", ""),
                                     epilog=EPILOG, formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"vaelab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{reproduce,train,evaluate,list}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    common.add_argument("--quiet", action="store_true",
                        help="no progress bars (TQDM_DISABLE=1 in the environment silences them too)")
    common.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")

    def command(name, help_text):
        return commands.add_parser(name, parents=[common], help=help_text, description=help_text,
                                   formatter_class=_HelpFormatter, epilog=EPILOG)

    reproduce = command("reproduce", "run a named experiment (vaelab list names them)")
    reproduce.add_argument("name", choices=sorted(experiments.EXPERIMENTS), help="the experiment")
    reproduce.add_argument("--budget", choices=experiments.BUDGETS, default="cpu",
                           help="cpu: the book's budget; paper: the paper's setting (use a GPU)")
    reproduce.add_argument("--out", default="runs", help="results go to OUT/NAME-BUDGET/")
    reproduce.add_argument("--source", choices=("auto", "subset", "full"), default=None,
                           help="MNIST source (default: the experiment's: subset on cpu, auto on paper)")
    reproduce.add_argument("--precision", choices=PRECISIONS, default=None,
                           help="train in bfloat16 where the hardware has it (default: the experiment's, float32)")
    reproduce.add_argument("--seeds", type=_count(0), nargs="+", default=None,
                           help="train every model once per seed (default: seed 0 only)")
    reproduce.add_argument("--epochs", type=_count(1), default=None,
                           help="cap every model's training at this many epochs (results in OUT/NAME-BUDGET-eN/)")

    train = command("train", "train one model and evaluate it")
    train.add_argument("--out", required=True, help="the run's folder: spec.json, results.json, checkpoints/")
    train.add_argument("--kind", choices=list(experiments.KINDS), default="vae", help="the model")
    train.add_argument("--name", default=None, help="its name in results.json (default: the kind)")
    train.add_argument("--data", choices=("mnist", "fashion-mnist"), default="mnist", help="the data set")
    train.add_argument("--source", choices=("auto", "subset", "full"), default="subset",
                       help="subset: the 10,000 shipped MNIST digits; full: the whole data set (downloaded once)")
    train.add_argument("--z-dim", type=_count(1), default=20, help="latent dimensions")
    train.add_argument("--hidden", type=_count(1), nargs="+", default=[300], help="hidden-layer widths")
    train.add_argument("--activation", choices=[*ACTIVATIONS, GATED], default="relu",
                       help="hidden-layer nonlinearity; gated: Tomczak & Welling's gated layers")
    train.add_argument("--epochs", type=_count(1), default=20, help="passes over the training data")
    train.add_argument("--batch-size", type=_count(1), default=100, help="examples per step")
    train.add_argument("--lr", type=_real(0, low_open=True), default=1e-3, help="Adam's learning rate")
    train.add_argument("--lr-decay-every", type=_count(0), default=0,
                       help="multiply the learning rate by --lr-decay every so many epochs (0: constant)")
    train.add_argument("--lr-decay", type=_real(0, 1, low_open=True), default=0.5, help="the factor of each decay")
    train.add_argument("--kl-weight", type=_real(0), default=1.0, help="λ, the weight of the KL term (1: the ELBO)")
    train.add_argument("--warmup", type=_count(0), default=0, help="epochs over which λ grows from 0")
    train.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="bfloat16: faster where the hardware has bfloat16 arithmetic (see vaelab.fit)")
    train.add_argument("--seed", type=_count(0), default=0, help="initializes the networks and drives training")
    train.add_argument("--k", type=_count(0), default=100, help="importance samples for log p(x) (0: skip)")

    evaluate = command("evaluate", "evaluate a folder written by train (never trains)")
    evaluate.add_argument("run", help="the folder given to train --out")
    evaluate.add_argument("--k", type=_count(0), default=None,
                          help="importance samples for log p(x) (0: skip; default: as trained)")

    commands.add_parser("list", help="the named experiments, their budgets and a rough time on this machine",
                        formatter_class=_HelpFormatter)
    return parser


def main(argv=None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `vaelab list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        _list_experiments()
        return 0
    created = folder = None
    try:
        _check_device(args.device)
        if args.command == "reproduce":
            folder = experiments.experiment_folder(args.name, args.budget, args.out, args.epochs)
            _check_out(folder)
            created = _first_missing(folder)
            results = experiments.run(args.name, args.budget, args.out, device=args.device, progress=_progress(args),
                                      verbose=not args.json, source=args.source, precision=args.precision,
                                      seeds=args.seeds, epochs=args.epochs)
        elif args.command == "train":
            folder = Path(args.out)
            _check_out(folder)
            created = _first_missing(folder)
            results = _train_command(args)
        else:
            folder = Path(args.run)
            results = _evaluate_command(args)
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
    _print_results(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
