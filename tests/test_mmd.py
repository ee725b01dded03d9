"""vaelab.mmd: the unbiased MMD² (eq. 5.4) against a direct double loop over pairs, the multi-scale kernel against
the sum over its scales, the estimate between samples of one and of two distributions, gradients, bad input."""

import math
from itertools import pairwise

import pytest
import torch

from vaelab.mmd import WAE_SCALES, kernel_matrix, mmd2


def direct_mmd2(x, y, k):
    """Eq. 5.4 written as loops over pairs, with the i = j terms left out of the within-sample sums."""
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("kernel", ["rbf", "imq", "polynomial"])
def test_mmd_equals_a_direct_double_loop(kernel):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    y = torch.randn(9, 3, generator=g, dtype=torch.float64) + 0.5
    c = 2 * 3  # C = 2·d·σ²
    k = {
        "rbf": lambda a, b: math.exp(-float((a - b).pow(2).sum()) / c),
        "imq": lambda a, b: c / (c + float((a - b).pow(2).sum())),
        "polynomial": lambda a, b: (float(a @ b) / 3 + 1) ** 3,
    }[kernel]
    assert float(mmd2(x, y, kernel)) == pytest.approx(direct_mmd2(x, y, k), rel=1e-10)


def test_multi_scale_kernel_is_the_sum_over_scales():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(5, 4, generator=g), torch.randn(6, 4, generator=g)
    total = sum(kernel_matrix(x, y, "imq", scale=8.0 * s) for s in WAE_SCALES)
    assert torch.allclose(kernel_matrix(x, y, "imq", scale=8.0, scales=WAE_SCALES), total)


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_a_mean_shift():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(2000, 4, generator=g), torch.randn(2000, 4, generator=g)
    same = float(mmd2(x, y))
    shifted = [float(mmd2(x, y + shift)) for shift in (0.25, 0.5, 1.0, 2.0)]
    assert abs(same) < 2e-3
    assert all(a < b for a, b in pairwise([same, *shifted]))
    assert shifted[0] > 10 * abs(same)


def test_unbiased_estimate_averages_to_zero_between_samples_of_one_distribution():
    g = torch.Generator().manual_seed(3)
    values = torch.stack([mmd2(torch.randn(20, 2, generator=g), torch.randn(20, 2, generator=g)) for _ in range(400)])
    assert abs(float(values.mean())) < 3 * float(values.std()) / math.sqrt(len(values))
    assert float((values < 0).float().mean()) > 0.2  # unbiased: often below 0 (a biased V-statistic never is)


def test_mmd_gradients_flow_to_the_samples():
    x = torch.randn(50, 2, requires_grad=True)
    mmd2(x, torch.randn(50, 2) + 1).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mmd2(torch.randn(5, 2), torch.randn(5, 3)), "different widths"),
        (lambda: mmd2(torch.randn(1, 2), torch.randn(5, 2)), "at least 2 samples"),
        (lambda: mmd2(torch.randn(5), torch.randn(5, 1)), r"shape \[n, d\]"),
        (lambda: mmd2(torch.randn(5, 2), torch.randn(5, 2), scale=-1.0), "positive number"),
        (lambda: mmd2(torch.randn(5, 2), torch.randn(5, 2), kernel="gauss"), "Unknown kernel"),
        (lambda: mmd2(torch.randn(5, 2), torch.randn(5, 2), scales=(1.0, -2.0)), "positive multiples"),
    ],
)
def test_mmd_bad_input_gives_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
