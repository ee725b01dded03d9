"""Calibration of ``vaelab list``'s rough time estimates (vaelab.experiments.estimate).

The estimate counts six FLOPs per parameter per training example and divides by this machine's 512×512 matrix-product
speed times ``MLP_EFFICIENCY``.  This script measures that efficiency on the book's VAE (784-300-20, batch 100, the
8,000 shipped digits) and the VampPrior's extra cost factor (K = 500), and compares the estimate of one epoch with
the measured epoch.

    python benchmarks/time_estimate.py [--epochs 3] [--out benchmarks/results/time_estimate.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
from pathlib import Path

import torch

import vaelab as vl
from vaelab import experiments


def seconds_per_epoch(model, x, epochs):
    times = []
    vl.fit(model, x, epochs=epochs, progress=False,
           callback=lambda epoch, history, m: times.append(history.seconds[-1]))
    return statistics.median(times[1:] if len(times) > 1 else times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/time_estimate.md")
    args = parser.parse_args()
    x = vl.load("mnist", source="subset", binarize="dynamic", verbose=False)[:8000]
    x.binarize = "dynamic"
    speed = experiments.machine_speed(1.0)
    rows = []
    for name, spec in (("VAE 784-300-20", experiments.Spec("vae", "vae", z_dim=20, hidden=[300])),
                       ("VampPrior K = 500", experiments.Spec("vamp", "vamp", z_dim=20, hidden=[300],
                                                              options={"K": 500}))):
        model = experiments.build(spec, 784)
        params = experiments.network_size(model)
        measured = seconds_per_epoch(model, x, args.epochs)
        efficiency = 6 * params * len(x) / measured / speed
        estimated = 6 * params * len(x) * experiments.training_cost_factor(spec) / (speed * experiments.MLP_EFFICIENCY)
        rows.append((name, params, measured, efficiency, estimated))
    lines = [f"# Calibration of the time estimates ({platform.processor() or platform.machine()}, "
             f"{torch.get_num_threads()} threads, torch {torch.__version__})", "",
             f"512×512 matrix product: {speed / 1e9:.1f} GFLOP/s; `MLP_EFFICIENCY` = "
             f"{experiments.MLP_EFFICIENCY:.2f}; 8,000 digits, batch 100, median of epochs 2..{args.epochs}.", "",
             "| model | network parameters | measured s/epoch | 6·params·N / s ÷ matrix rate | estimated s/epoch | "
             "estimate ÷ measured |", "|---|---:|---:|---:|---:|---:|"]
    for name, params, measured, efficiency, estimated in rows:
        lines.append(f"| {name} | {params:,} | {measured:.2f} | {efficiency:.3f} | {estimated:.2f} | "
                     f"{estimated / measured:.2f} |")
    lines += ["", "Produced by `python benchmarks/time_estimate.py`."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
