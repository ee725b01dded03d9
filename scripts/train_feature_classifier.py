"""Train the small feature classifier that vaelab.metrics uses for FD and KID (chapter 7), and write its weights.

    python scripts/train_feature_classifier.py            # writes vaelab/weights/feature_classifier.pt

One 20-class network for 28×28 grey images: classes 0–9 are MNIST digits (the 8,000 shipped training digits),
10–19 the Fashion-MNIST classes (60,000 training images; the digits are repeated 4 times to balance the two, from the
Debian package dataset-fashion-mnist, the cache or a download).  Seeded and single-threaded, so a rerun writes the
same weights; a few minutes on one CPU core.  Prints the test accuracies that vaelab/weights/README.md records.  The
weights are stored as float16 (about 210 KB).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import vaelab as vl
from vaelab.metrics import WEIGHTS, FeatureClassifier


def data(split: str, repeat_digits: int = 1):
    """Images and labels of both data sets; the 8,000 digits repeated so that the two halves weigh about the same."""
    digits = vl.load("mnist", split=split, source="subset", verbose=False)
    clothes = vl.load("fashion-mnist", split=split, verbose=False)
    x = torch.cat([digits.as_subclass(torch.Tensor).repeat(repeat_digits, 1), clothes.as_subclass(torch.Tensor)])
    y = torch.cat([digits.labels.repeat(repeat_digits), clothes.labels + 10])
    return x, y, len(digits) * repeat_digits


@torch.no_grad()
def accuracy(model, x, y):
    return float((torch.cat([model(b).argmax(1) for b in x.split(2000)]) == y).float().mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    x, y, _ = data("train", repeat_digits=4)
    x_test, y_test, n_digits = data("test")
    model = FeatureClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = args.epochs * ((len(x) + 127) // 128)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    began = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for index in torch.randperm(len(x)).split(128):
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        model.eval()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, {time.perf_counter() - began:.0f} s", flush=True)
    with torch.no_grad():  # features / their RMS over the training images: order 1, as KID's kernel assumes
        squares = torch.cat([model.body(model.as_images(b)).pow(2).mean(1) for b in x.split(2000)])
        model.feature_scale.fill_(squares.mean().sqrt())
    digits = accuracy(model, x_test[:n_digits], y_test[:n_digits])
    clothes = accuracy(model, x_test[n_digits:], y_test[n_digits:])
    print(f"feature scale (RMS): {model.feature_scale.item():.3f}")
    print(f"test accuracy: MNIST (shipped 2,000 test digits) {digits:.4f}, Fashion-MNIST (10,000) {clothes:.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
