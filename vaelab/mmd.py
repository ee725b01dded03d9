"""Maximum mean discrepancy (MMD) between two sample sets (chapter 5; KID in chapter 7 builds on it).

For a positive-definite kernel k, the squared MMD between distributions P and Q is

    MMD²(P, Q) = E k(x, x') + E k(y, y') − 2 E k(x, y),      x, x' ~ P,  y, y' ~ Q  independent      (eq. 5.3)

and it is 0 exactly when P = Q (for a characteristic kernel such as the RBF or inverse-multiquadratic one).  From
samples x_1..n ~ P and y_1..m ~ Q, the unbiased estimate (Gretton et al., 2012, eq. 3) leaves the i = j terms out of
the within-sample averages:

    MMD²_u = 1/(n(n−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j) − 2/(nm) Σ_{i,j} k(x_i, y_j)   (eq. 5.4)

It can be slightly negative when P = Q; its expectation is the true MMD².

Kernels, with the scale C of the Wasserstein autoencoder (Tolstikhin et al., 2018): C = 2·J·σ² for a J-dimensional
N(0, σ² I) prior (J the latent dimension, book/notation.md), so that C is the expected squared distance between two
prior samples.

    rbf   k(x, y) = exp(−‖x − y‖² / C)                                                              (eq. 5.5)
    imq   k(x, y) = C / (C + ‖x − y‖²)        (heavier tails: gradients do not vanish for far-apart codes)
    polynomial   k(x, y) = (xᵀy / d + 1)³   (the kernel of KID, Bińkowski et al., 2018)

``scales`` sums a kernel over several multiples of C (WAE's multi-scale IMQ uses 0.1 … 10).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

KERNELS = ("rbf", "imq", "polynomial")
WAE_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # multiples of C summed by WAE's multi-scale IMQ kernel


def _check_samples(x: torch.Tensor, y: torch.Tensor) -> None:
    for name, s in (("x", x), ("y", y)):
        if not isinstance(s, torch.Tensor) or s.dim() != 2:
            shape = list(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
            raise ValueError(f"MMD needs two sample sets of shape [n, d]; {name} has shape {shape}.")
        if len(s) < 2:
            raise ValueError(
                f"The unbiased MMD estimate needs at least 2 samples per set; {name} has {len(s)}."
            )
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"The two sample sets have different widths ({x.shape[1]} and {y.shape[1]} features): MMD compares "
            "distributions on the same space."
        )


def kernel_scale(dim: int, prior_variance: float = 1.0) -> float:
    """WAE's kernel scale C = 2·J·σ² for J = ``dim`` latent dimensions and prior variance σ² (eq. 5.5)."""
    return 2.0 * dim * prior_variance


def kernel_matrix(
    x: torch.Tensor,
    y: torch.Tensor,
    kernel: str = "imq",
    scale: float | None = None,
    scales: Sequence[float] = (1.0,),
) -> torch.Tensor:
    """The ``[n, m]`` matrix k(x_i, y_j); ``scale`` is C (default 2·J for J-dimensional samples, the N(0, I)
    choice), ``scales`` its multiples."""
    if kernel not in KERNELS:
        raise ValueError(f"Unknown kernel {kernel!r}; choose one of {', '.join(map(repr, KERNELS))}.")
    d = x.shape[-1]
    if kernel == "polynomial":
        return (x @ y.T / d + 1.0) ** 3
    scale = kernel_scale(d) if scale is None else scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(
            f"The kernel scale C must be a positive number (C = 2·J·σ² for an N(0, σ² I) prior), got {scale!r}."
        )
    scales = list(scales)
    if not scales or any(not isinstance(s, (int, float)) or not s > 0 for s in scales):
        raise ValueError(f"scales must be positive multiples of C, got {scales!r}.")
    # ‖x − y‖² = ‖x‖² + ‖y‖² − 2 xᵀy, clamped at 0 against rounding
    sq = (x.pow(2).sum(1)[:, None] + y.pow(2).sum(1)[None, :] - 2 * x @ y.T).clamp_min(0)
    out = torch.zeros_like(sq)
    for s in scales:
        c = scale * s
        out = out + (torch.exp(-sq / c) if kernel == "rbf" else c / (c + sq))
    return out


def mmd2(
    x: torch.Tensor,
    y: torch.Tensor,
    kernel: str = "imq",
    scale: float | None = None,
    scales: Sequence[float] = (1.0,),
) -> torch.Tensor:
    """Unbiased estimate of MMD²(P, Q) from samples ``x ~ P`` ``[n, d]`` and ``y ~ Q`` ``[m, d]`` (eq. 5.4).

    Differentiable (the InfoVAE and WAE losses backpropagate through it).  ``kernel`` is ``"imq"``, ``"rbf"`` or
    ``"polynomial"``; ``scale`` is C (default 2·J, WAE's choice for an N(0, I) prior); ``scales`` sums the kernel
    over several multiples of C (``vaelab.mmd.WAE_SCALES`` for WAE's multi-scale IMQ).
    """
    _check_samples(x, y)
    n, m = len(x), len(y)
    kxx = kernel_matrix(x, x, kernel, scale, scales)
    kyy = kernel_matrix(y, y, kernel, scale, scales)
    kxy = kernel_matrix(x, y, kernel, scale, scales)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2 * kxy.mean()
