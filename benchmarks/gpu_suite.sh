#!/usr/bin/env bash
# The GPU measurements in one run: the CUDA tests, fit against the hand loop and pythae, every model against its hand
# loop, the log-likelihood at k = 5000 on 10,000 images, and the VampPrior paper's setting end to end.
#
#   bash benchmarks/gpu_suite.sh                 # on a GPU machine: every result to benchmarks/results/*_cuda.*
#   PYTHON=.venv/bin/python bash benchmarks/gpu_suite.sh --quick --device cpu --out /tmp/suite   # check it on a CPU
#
# Options: --device (default cuda), --out (default benchmarks/results), --quick (tiny sizes; the VampPrior run at the
# cpu budget for 1 epoch), --epochs N (the paper setting's epoch cap, default 300), --log DIR (each step's full output;
# default OUT/gpu_suite_logs). PYTHON=... names the interpreter that has torch (default python3).
#
# Where the machine has no network, carry what it lacks in the working tree (both git-ignored):
#   .whl/   wheels of pythae 0.1.2 and what it needs beyond the machine's own packages (benchmarks/README.md);
#   _data/  the data: _data/fashion-mnist/ with the IDX files of the Debian package dataset-fashion-mnist
#           (vaelab.load reads VAELAB_DATA/fashion-mnist). MNIST is the shipped 10,000-digit subset.
# Every step runs even when an earlier one fails; the summary lists each step's exit status and seconds, and the
# script's own exit status is the number of failed steps.
set -uo pipefail

DEVICE=cuda
OUT=benchmarks/results
QUICK=0
EPOCHS=300
LOG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --log) LOG=$2; shift 2 ;;
    *) echo "gpu_suite.sh: unknown option $1 (see the header of benchmarks/gpu_suite.sh)" >&2; exit 2 ;;
  esac
done
LOG=${LOG:-$OUT/gpu_suite_logs}
mkdir -p "$OUT" "$LOG"
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # vaelab from this tree, not an installed copy
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_suite_site \
    .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/gpu_suite_site"
fi
[ -d _data ] && export VAELAB_DATA="$PWD/_data"

FAILED=0
SUMMARY="$LOG/summary.txt"
: > "$SUMMARY"
step() {  # step NAME COMMAND...: run it, keep its output in LOG/NAME.log, record its status and time
  local name=$1 began=$SECONDS rc
  shift
  echo "== $name: $*"
  "$@" > "$LOG/$name.log" 2>&1
  rc=$?
  tail -n 25 "$LOG/$name.log"
  [ $rc -eq 0 ] || FAILED=$((FAILED + 1))
  echo "$name: exit $rc, $((SECONDS - began)) s" | tee -a "$SUMMARY"
}

step environment "$PYTHON" -c "
import platform, torch
print('python', platform.python_version(), '| torch', torch.__version__, '| CUDA', torch.version.cuda)
if torch.cuda.is_available():
    print('device', torch.cuda.get_device_name(0), '| bf16', torch.cuda.is_bf16_supported())
try:
    import pythae; print('pythae', pythae.__version__ if hasattr(pythae, '__version__') else 'present')
except ImportError as err:
    print('pythae missing:', err)
"

if [ "$QUICK" = 1 ]; then
  FIT=(--epochs 2 --warmup 1 --rounds 1)
  MODELS=(--epochs 2 --rounds 1 --kinds vae vamp)
  LOGLIK=(--n 200 --ks 100 --chunks)
  PAPER_EPOCHS=1
  PAPER_BUDGET=cpu  # the paper budget's k = 5000 on 2,000 digits alone takes minutes on a CPU
else
  FIT=(--epochs 6 --warmup 1 --rounds 4)
  MODELS=(--epochs 4 --rounds 2)
  LOGLIK=(--n 10000 --ks 100 1000 5000 --chunks 4194304 67108864)
  PAPER_EPOCHS=$EPOCHS
  PAPER_BUDGET=paper
fi
PYTHAE=()
"$PYTHON" -c "import pythae" 2>/dev/null || PYTHAE=(--skip-pythae)

# 1. the CUDA tests (every model in float32 and bfloat16); they skip themselves without a GPU
step cuda_tests "$PYTHON" -m pytest -q -rs -p no:cacheprovider tests/test_train.py tests/test_evaluate.py -k cuda
# 2. fit against the hand-written floor and pythae 0.1.2, in one process, as ratios
step fit_speed "$PYTHON" benchmarks/fit_speed.py --device "$DEVICE" "${FIT[@]}" "${PYTHAE[@]}" --out "$OUT"
if [ ${#PYTHAE[@]} -eq 0 ]; then
  step pythae_models "$PYTHON" benchmarks/pythae_models.py --device "$DEVICE" --epochs 3 --rounds 2 \
    --out "$OUT/pythae_models_$DEVICE"
fi
# 3. every model of the book against a hand loop of its own loss
step model_speed "$PYTHON" benchmarks/model_speed.py --device "$DEVICE" "${MODELS[@]}" --out "$OUT/model_speed_$DEVICE"
# 4. the log-likelihood at large k: time and memory against k and the chunk
step loglik_scale "$PYTHON" benchmarks/loglik_scale.py --device "$DEVICE" "${LOGLIK[@]}" --out "$OUT"
# 5. the VampPrior paper's setting (z = 40, K = 500, gated 300-300, warm-up, lr 5e-4, k = 5000) on the shipped
#    digits, capped at PAPER_EPOCHS epochs of the paper's 2,000
step reproduce_vampprior "$PYTHON" -m vaelab reproduce vampprior --budget "$PAPER_BUDGET" --source subset --quiet \
  --device "$DEVICE" --epochs "$PAPER_EPOCHS" --out "$OUT/runs"
"$PYTHON" - "$OUT" "$PAPER_EPOCHS" "$DEVICE" "$PAPER_BUDGET" <<'EOF' 2>&1 | tee -a "$SUMMARY"
import json, sys
from pathlib import Path
out, epochs, device, budget = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
path = out / "runs" / f"vampprior-{budget}-e{epochs}" / "results.json"
if not path.exists():
    print(f"no results at {path}")
    sys.exit(0)
results = json.loads(path.read_text())
hw = results["hardware"]
lines = ["# The VampPrior paper's setting, capped", "",
         f"`python -m vaelab reproduce vampprior --budget {budget} --source subset --epochs {epochs}` on "
         f"{hw.get('gpu', hw.get('cpu'))} ({device}), torch {hw.get('torch')}: {results['data']['n_train']:,} training "
         f"and {results['data']['n_test']:,} test digits (the shipped subset), k = {results['data']['k']}.", "",
         "| model | epochs | log p(x) (k as above) | ± stderr | training, s |", "|---|---:|---:|---:|---:|"]
for name, m in results["models"].items():
    lines.append(f"| {name} | {m['spec']['epochs']} | {m.get('log_likelihood', float('nan')):.2f} | "
                 f"{m.get('log_likelihood_stderr') or float('nan'):.3f} | {m.get('train_seconds', float('nan')):.0f} |")
lines += ["", "Takahashi et al.'s table (the poster of chapters 2-4), MNIST, full data and the paper's budget: standard "
          "VAE -85.84 ± 0.07, VampPrior -83.90 ± 0.08 (a gap of 1.94 nats). Other data and budget here: compare "
          "the gap, not the values."]
(out / f"vampprior_{budget}_{device}.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF

echo "== summary ($FAILED failed)"
cat "$SUMMARY"
exit $FAILED
