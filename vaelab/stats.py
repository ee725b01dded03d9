"""Statistics over seeds: how the book decides that a measured difference is real.

Every comparison the book asserts is measured over several seeds (each seed initializes the networks and drives
training), shown as mean ± standard deviation, and asserted from its spread, never from a hand-picked margin:

    summary(values)       mean, standard deviation (n − 1), standard error sd/√n of the values over seeds
    difference(a, b)      the same for the paired differences a_s − b_s (seed s trains both models, so a difference
                          of paired runs is less noisy than a difference of means)

and a claim "A beats B" holds when the mean paired difference exceeds ``margin`` standard errors
(:data:`MARGIN` = 2).  With three seeds that is a loose test (a t-test would ask for 4.3 standard errors at the
usual 5 %), so the book states each claim with its numbers and says when it did not hold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["Summary", "summary", "difference", "MARGIN"]

MARGIN = 2.0  # standard errors


class Summary(NamedTuple):
    """Mean, standard deviation and standard error of values over seeds; ``values`` keeps them in seed order."""

    mean: float
    sd: float
    se: float
    n: int
    values: tuple[float, ...]

    def above(self, threshold: float = 0.0, margin: float = MARGIN) -> bool:
        """True when the mean exceeds ``threshold`` by more than ``margin`` standard errors."""
        return self.mean - margin * self.se > threshold

    def below(self, threshold: float = 0.0, margin: float = MARGIN) -> bool:
        """True when the mean is below ``threshold`` by more than ``margin`` standard errors."""
        return self.mean + margin * self.se < threshold

    def within(self, bound: float, margin: float = MARGIN) -> bool:
        """True when |mean| + ``margin`` standard errors stays below ``bound``: clearly no larger than it."""
        return abs(self.mean) + margin * self.se < bound

    def __format__(self, spec: str) -> str:
        spec = spec or ".2f"
        return f"{self.mean:{spec}} ± {self.sd:{spec.replace('+', '')}}"

    def __str__(self) -> str:
        return f"{self:.2f} (mean ± sd over {self.n} seeds; standard error {self.se:.2f})"


def summary(values: Sequence[float]) -> Summary:
    """Mean, standard deviation (divided by n − 1) and standard error of ``values``, one per seed."""
    values = tuple(float(v) for v in values)
    n = len(values)
    if n < 2:
        raise ValueError(f"A spread needs at least 2 values (one per seed), got {n}; the book uses 3 or more.")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return Summary(mean, sd, sd / math.sqrt(n), n, values)


def difference(a: Sequence[float], b: Sequence[float]) -> Summary:
    """:func:`summary` of the paired differences a_s − b_s (``a`` and ``b`` in the same seed order)."""
    if len(a) != len(b):
        raise ValueError(f"Paired differences need one value per seed on both sides, got {len(a)} and {len(b)}.")
    return summary([x - y for x, y in zip(a, b, strict=True)])
