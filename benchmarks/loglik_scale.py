"""Time and peak memory of the importance-weighted log-likelihood (``vaelab.log_likelihood``) as k grows.

The k samples are drawn in chunks of at most ``chunk_elements`` decoder outputs, so peak memory should not grow with
k once a chunk is full, and should follow the chunk size instead: the script runs k = 100, 1000, 5000 at the default
chunk (``vaelab.evaluate.default_chunk_elements``: 2^22 on a CPU, 2^24 on a GPU), then k = 5000 at other chunks.
Each run in a fresh subprocess (so that the process's peak resident memory, or CUDA's peak allocation, belongs
to that k alone) on the VampPrior paper's architecture (784-300-300-40, K = 500 VampPrior; untrained: the cost does
not depend on the weights).

    python benchmarks/loglik_scale.py [--device auto] [--n 500] [--ks 100 1000 5000] [--chunks 1048576 16777216]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def one(k: int, n: int, device: str, chunk: int = 0) -> dict:
    import vaelab as vl

    device = vl.train.resolve_device(device)
    torch.manual_seed(0)
    model = vl.VAE(784, 40, hidden=[300, 300], prior=vl.VampPrior(500, 784)).to(device)
    test = vl.load("fashion-mnist", split="test", n=n, verbose=False)  # 10,000 test images offline (Debian package)
    test = vl.binarize(test)
    chunk = chunk or vl.evaluate.default_chunk_elements(device)  # 0: the default
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.synchronize()
    began = time.perf_counter()
    value = vl.log_likelihood(model, test, k=k, chunk_elements=chunk)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    peak_mb = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"k": k, "chunk": chunk, "n": n, "seconds": seconds, "peak_mb": peak_mb, "rss_before_mb": before / 1024,
            "value": value}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--ks", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--chunks", type=int, nargs="*", default=[2**20, 2**24],
                        help="other chunk_elements to try at the largest k")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for loglik_scale_<device>.md")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--chunk", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(one(args.child, args.n, args.device, args.chunk)))
        return
    rows = []
    runs = [(k, 0) for k in args.ks] + [(max(args.ks), c) for c in args.chunks]
    for k, chunk in runs:
        out = subprocess.run([sys.executable, __file__, "--child", str(k), "--chunk", str(chunk), "--n", str(args.n),
                              "--device", args.device], check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    what = "peak CUDA allocation" if device == "cuda" else "peak resident memory of the process"
    lines = ["# Importance-weighted log-likelihood: time and memory against k", "",
             f"{platform.processor() or platform.machine()}, torch {torch.__version__}, device {device}; "
             f"{args.n} Fashion-MNIST test images (binarized), 784-300-300-40 VAE with a K = 500 VampPrior, "
             f"batches of 100 images. Memory: {what}; 'added' is that peak less the process's peak before the "
             "call (torch, the model and the data).", "",
             "| k | chunk (decoder outputs) | samples per chunk | seconds | seconds per 1,000 images | peak MB "
             "| added MB |", "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['k']} | {r['chunk']:,}{' (default)' if i < len(args.ks) else ''} | "
              f"{max(1, min(r['k'], r['chunk'] // (100 * 784)))} | "
              f"{r['seconds']:.1f} | {1000 * r['seconds'] / r['n']:.1f} | {r['peak_mb']:.0f} | "
              f"{r['peak_mb'] - (0 if device == 'cuda' else r['rss_before_mb']):.0f} |" for i, r in enumerate(rows)]
    largest = rows[len(args.ks) - 1]
    lines += ["", f"Extrapolated to 10,000 images at k = {largest['k']}: about "
              f"{10_000 * largest['seconds'] / largest['n']:.0f} s on this device (linear in the number of images)."]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"loglik_scale_{device}.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
