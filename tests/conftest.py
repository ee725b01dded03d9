"""Shared test setup. One test file per module of vaelab/ (test_models.py for vaelab/models.py, test_train.py for
vaelab/train.py, ...), and no test file imports from another one.

The helpers that several files share (small_data, small_model, params, results, same, diagonal_normal, vamp_model,
implicit_model) are plain functions in tests/helpers.py, imported with ``from helpers import ...``, not fixtures:
the tests call them with arguments, several times each (``small_data(100, seed=1)``, ``small_model(seed=9)``,
``same(params(a), params(b))``), so a fixture would only hand back the same function, and helpers.py can also be
imported by scripts run outside pytest (resume_worker.py). Fixtures used by one file stay in that file.

This file makes ``import helpers`` work under every pytest import mode: the default mode puts tests/ on sys.path
already, --import-mode=importlib does not.
"""

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
