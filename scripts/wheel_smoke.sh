#!/usr/bin/env bash
# The wheel as a user gets it: build it from this checkout, install it into a fresh virtual environment outside the
# checkout, and use it from another folder: `vaelab --version`, `vaelab list`, a tiny `vaelab train` and `vaelab
# evaluate`, and the library (the shipped digits, one epoch of training, FD/KID with the shipped classifier, save and
# load). Fails if the installed vaelab is not the wheel's (e.g. the checkout leaking onto sys.path).
#
#   bash scripts/wheel_smoke.sh            (make wheel-test; .ci/run runs it)
# PYTHON: the interpreter that makes the fresh environment (default python3); TORCH: the torch requirement installed
# into it first (default torch==2.13.0, the CPU build on this machine's disk; a bare torch would pull CUDA).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
checkout=$(pwd)
PYTHON=${PYTHON:-python3}
TORCH=${TORCH:-torch==2.13.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "--- building the wheel"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$checkout"
wheel=$(ls "$work"/dist/vaelab-*.whl)
echo "$(basename "$wheel"): $(du -h "$wheel" | cut -f1)"
# the instructor's answers and hidden tests (course/) stay out of what students install
"$PYTHON" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
leaked = [n for n in names if not n.startswith(("vaelab/", "vaelab-"))]
assert not leaked, f"the wheel carries files outside the vaelab package: {leaked}"
print(f"{len(names)} files, all under vaelab/ (nothing of course/, scripts/ or book/)")
PY

echo "--- a fresh environment outside the checkout"
"$PYTHON" -m venv "$work/env"
"$work/env/bin/python" -m pip install --quiet --progress-bar off "$TORCH"
"$work/env/bin/python" -m pip install --quiet --progress-bar off "$wheel"

mkdir "$work/elsewhere"
cd "$work/elsewhere"
export PATH="$work/env/bin:$PATH" TQDM_DISABLE=1 VAELAB_OFFLINE=1
unset PYTHONPATH

echo "--- the console script"
vaelab --version | grep -q "vaelab $("$work/env/bin/python" -c 'import vaelab; print(vaelab.__version__)')"
vaelab list > list.txt && grep -q "compare" list.txt
vaelab train --kind vae --z-dim 2 --hidden 16 --epochs 1 --k 5 --out run --quiet > train.txt
grep -q "log p(x)" train.txt
vaelab evaluate run --k 5 --json --quiet > evaluate.json
set +e
vaelab train --k -1 --out bad 2> error.txt
status=$?
set -e
[ "$status" -eq 2 ] && grep -q "error: argument --k" error.txt && [ ! -e bad ]

echo "--- the library"
python - "$checkout" <<'PY'
import json
import sys
from pathlib import Path

import torch

import vaelab as vl

checkout = Path(sys.argv[1]).resolve()
where = Path(vl.__file__).resolve()
assert checkout not in where.parents, f"vaelab was imported from the checkout ({where}), not from the wheel"
assert json.loads(Path("evaluate.json").read_text())["models"]["vae"]["elbo"] < 0
x = vl.load("mnist", n=500, binarize="dynamic", verbose=False)  # the digits shipped inside the wheel
model = vl.VAE(x_dim=784, z_dim=4, hidden=[32])
history = vl.fit(model, x, epochs=1, progress=False)
quality = vl.metrics.sample_quality(model.sample(300), x[:300], kid_subsets=1)  # the shipped feature classifier
loaded = vl.load_model(model.save("saved"))
assert torch.equal(loaded.decode(torch.zeros(1, 4)), model.eval().decode(torch.zeros(1, 4)))
print(f"vaelab {vl.__version__} from {where.parent}: train ELBO {history.train_elbo[-1]:.1f}, "
      f"FD {quality['fid']:.2f}, KID {quality['kid']:.4f}, save/load ok")
PY
echo "--- the wheel works outside the checkout"
