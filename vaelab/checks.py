"""Argument checks, in one place and one message style: ``NAME must be WHAT, got VALUE.`` and, where it helps, how to
fix it.  Every public function of vaelab checks its arguments with these before it does any work, so that a bad
argument fails at once with a message that names it, not deep inside torch or after an epoch of training.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["is_int", "positive_int", "nonnegative_int", "random_seed", "number", "choice", "probability", "path",
           "optional_callable"]


def _fail(name: str, what: str, value, hint: str = "") -> ValueError:
    return ValueError(f"{name} must be {what}, got {value!r}." + (f" {hint}" if hint else ""))


def is_int(value) -> bool:
    """True for Python and numpy integers, False for booleans, floats and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value, name: str, hint: str = "") -> int:
    """``value`` as an ``int`` if it is an integer >= 1, else a ValueError naming ``name``."""
    if not is_int(value) or value < 1:
        raise _fail(name, "a positive integer", value, hint)
    return int(value)


def nonnegative_int(value, name: str, hint: str = "") -> int:
    """``value`` as an ``int`` if it is an integer >= 0, else a ValueError naming ``name``."""
    if not is_int(value) or value < 0:
        raise _fail(name, "an integer >= 0", value, hint)
    return int(value)


def random_seed(value, name: str = "seed") -> int:
    """A random seed: an integer >= 0 (what ``torch.manual_seed`` takes), else a ValueError naming ``name``."""
    if not is_int(value) or not 0 <= value < 2**63:
        raise _fail(name, "an integer >= 0", value, "It seeds every random draw, e.g. seed=0.")
    return int(value)


def path(value, name: str, hint: str = "") -> Path:
    """``value`` as a ``Path`` if it is a non-empty ``str`` or ``os.PathLike``, else a TypeError naming ``name``."""
    if isinstance(value, (str, os.PathLike)) and str(value) != "":
        return Path(value)
    raise TypeError(f"{name} must be a file or folder path (a str or pathlib.Path), got {value!r}."
                    + (f" {hint}" if hint else ""))


def optional_callable(value, name: str, hint: str = ""):
    """``value`` if it is ``None`` or callable, else a TypeError naming ``name``."""
    if value is None or callable(value):
        return value
    raise TypeError(f"{name} must be a function (or None), got {type(value).__name__}: {value!r}."
                    + (f" {hint}" if hint else ""))


def number(value, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False, hint: str = "") -> float:
    """``value`` as a ``float`` if it is a finite real number within the bounds, else a ValueError naming ``name``.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            bounds.append(f"{'<' if high_open else '<='} {high:g}")
        raise _fail(name, "a finite number" + (" " + " and ".join(bounds) if bounds else ""), value, hint)
    return float(value)


def probability(value, name: str, hint: str = "") -> float:
    """A number in [0, 1]."""
    return number(value, name, low=0.0, high=1.0, hint=hint)


def choice(value, name: str, choices: Iterable, hint: str = ""):
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    choices = list(choices)
    try:
        ok = value in choices
    except TypeError:  # an unhashable or incomparable value
        ok = False
    if not ok:
        raise _fail(name, "one of " + ", ".join(map(repr, choices)), value, hint)
    return value
