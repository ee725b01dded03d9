"""Sample-quality metrics (chapter 7): FD against its closed form, KID against a double loop and unbiased, the shipped
feature classifier's accuracy, and clear errors."""

import math
import warnings
from itertools import pairwise
from pathlib import Path

import pytest
import torch

import vaelab as vl
from vaelab import metrics
from vaelab.metrics import frechet_distance, kernel_inception_distance

FASHION = Path("/usr/share/datasets/fashion-mnist")


def gaussian(n, mean, std, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, len(mean), generator=g, dtype=torch.float64) * torch.tensor(std) + torch.tensor(mean)


def test_fd_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    a = gaussian(500, [0.0] * 4, [1.0] * 4, 0)
    assert abs(frechet_distance(a, a)) < 1e-8
    values = [frechet_distance(a, a + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert all(x < y for x, y in pairwise(values))
    assert values[2] == pytest.approx(4 * 1.0**2, rel=1e-6)  # a pure shift by 1 in 4 dimensions: ‖Δm‖² = 4


def test_fd_equals_the_closed_form_for_diagonal_gaussians():
    """For diagonal covariances (7.5) is Σ (m_a − m_b)² + Σ (s_a + s_b − 2√(s_a s_b)); the sample moments are fed in."""
    a = gaussian(4000, [0.0, 1.0, -1.0], [1.0, 2.0, 0.5], 1)
    b = gaussian(3000, [0.5, 1.0, 0.0], [1.5, 1.0, 0.5], 2)
    # decorrelate each set exactly so its sample covariance is diagonal: rotate into its own eigenbasis
    a = (a - a.mean(0)) @ torch.linalg.eigh(torch.cov(a.T))[1] + a.mean(0)
    b = (b - b.mean(0)) @ torch.linalg.eigh(torch.cov(b.T))[1] + b.mean(0)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    assert float((ca - torch.diag(ca.diagonal())).abs().max()) < 1e-10
    sa, sb = ca.diagonal(), cb.diagonal()
    expected = float((a.mean(0) - b.mean(0)).pow(2).sum() + (sa + sb - 2 * (sa * sb).sqrt()).sum())
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_fd_is_symmetric():
    a, b = gaussian(300, [0.0, 0.0], [1.0, 1.0], 3), gaussian(400, [1.0, 0.0], [2.0, 0.5], 4)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-8)


def test_kid_equals_a_direct_double_loop_on_one_subset():
    a, b = gaussian(6, [0.0] * 3, [1.0] * 3, 5), gaussian(6, [0.3] * 3, [1.0] * 3, 6)

    def k(x, y):
        return (float(x @ y) / 3 + 1) ** 3

    n = 6
    xx = sum(k(a[i], a[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(b[i], b[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a[i], b[j]) for i in range(n) for j in range(n)) / n**2
    mean, std = kernel_inception_distance(a, b, n_subsets=1, subset_size=6)  # one subset = the whole sets, permuted
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-10) and std == 0.0


def test_kid_is_unbiased_and_detects_a_shift():
    same = [kernel_inception_distance(gaussian(100, [0.0] * 4, [1.0] * 4, 2 * s),
                                      gaussian(100, [0.0] * 4, [1.0] * 4, 2 * s + 1), n_subsets=1)[0]
            for s in range(200)]
    mean, sem = sum(same) / len(same), torch.tensor(same).std().item() / math.sqrt(len(same))
    assert abs(mean) < 3 * sem
    shifted, _ = kernel_inception_distance(gaussian(500, [0.0] * 4, [1.0] * 4, 0),
                                           gaussian(500, [0.5] * 4, [1.0] * 4, 1))
    assert shifted > 20 * sem


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: frechet_distance(torch.randn(10, 3), torch.randn(10, 4)), "different widths"),
        (lambda: frechet_distance(torch.randn(1, 3), torch.randn(10, 3)), "at least 2"),
        (lambda: frechet_distance(torch.full((5, 3), float("nan")), torch.randn(5, 3)), "NaN"),
        (lambda: kernel_inception_distance(torch.randn(10, 3), torch.randn(10, 5)), "different widths"),
        (lambda: kernel_inception_distance(torch.randn(10, 3), torch.randn(10, 3), n_subsets=0), "n_subsets"),
        (lambda: metrics.features(torch.rand(5, 100)), "28×28 grey images"),
        (lambda: metrics.features(torch.rand(5, 784) * 255), r"pixel values in \[0, 1\]"),
    ],
)
def test_bad_input_gives_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_missing_weights_file_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setattr(metrics, "WEIGHTS", tmp_path / "absent.pt")
    metrics.default_extractor.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="train_feature_classifier.py"):
            metrics.default_extractor()
    finally:
        metrics.default_extractor.cache_clear()


def test_shipped_classifier_is_small_and_accurate():
    assert metrics.WEIGHTS.stat().st_size < 1_000_000
    model = metrics.default_extractor()
    digits = vl.load("mnist", split="test", source="subset", verbose=False)
    with torch.no_grad():
        assert (model(digits).argmax(1) == digits.labels).float().mean() > 0.95
        assert model.features(digits[:10]).shape == (10, metrics.FEATURES)
    if not FASHION.exists():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); digits checked only")
    clothes = vl.load("fashion-mnist", split="test", verbose=False)
    with torch.no_grad():
        assert (model(clothes).argmax(1) == clothes.labels + 10).float().mean() > 0.85


def test_sample_quality_ranks_real_images_above_degraded_ones():
    digits = vl.load("mnist", split="test", source="subset", verbose=False)
    real, other = digits[:1000], digits[1000:]
    blurred = torch.nn.functional.avg_pool2d(other.reshape(-1, 1, 28, 28), 3, 1, 1).reshape(-1, 784)
    noise = torch.rand(1000, 784, generator=torch.Generator().manual_seed(0))
    scores = {name: vl.metrics.sample_quality(x, real, kid_subsets=10) for name, x in
              (("real", other), ("blurred", blurred), ("noise", noise))}
    assert scores["real"]["fid"] < 0.5 * scores["blurred"]["fid"] < scores["noise"]["fid"]
    assert scores["real"]["kid"] < scores["blurred"]["kid"] < scores["noise"]["kid"]
    assert "not Inception" in scores["real"]["extractor"]


def test_any_feature_extractor_can_be_plugged_in():
    x = torch.rand(50, 784, generator=torch.Generator().manual_seed(0))
    out = vl.metrics.sample_quality(x, x, extractor=lambda batch: batch[:, :10], kid_subsets=2)
    assert abs(out["fid"]) < 1e-6


def test_features_of_an_unchanged_tensor_are_computed_once_and_never_stale(monkeypatch):
    x = torch.rand(30, 784, generator=torch.Generator().manual_seed(1))
    first = vl.metrics.features(x)
    kept = first.clone()
    calls = []
    extractor = vl.metrics.default_extractor()
    monkeypatch.setattr(extractor, "features", lambda batch: calls.append(1) or torch.zeros(len(batch), 64))
    assert torch.equal(vl.metrics.features(x), first) and not calls  # the same tensor, unchanged: no recomputation
    first.add_(1.0)  # a caller changing its copy does not change the cache
    assert torch.equal(vl.metrics.features(x), kept)
    x.mul_(0.5)  # changed in place: computed again
    assert torch.equal(vl.metrics.features(x), torch.zeros(30, 64)) and calls


def test_kid_can_be_left_out_and_fd_is_unchanged():
    digits = vl.load("mnist", split="test", source="subset", verbose=False)
    with_kid = vl.metrics.sample_quality(digits[:300], digits[300:600], kid_subsets=3)
    without = vl.metrics.sample_quality(digits[:300], digits[300:600], kid=False)
    assert without["fid"] == with_kid["fid"] and without["kid"] is None and with_kid["kid"] is not None


def test_kid_warns_when_the_samples_are_not_more_than_its_subset_size():
    a, b = torch.randn(200, 8), torch.randn(3000, 8)
    with pytest.warns(UserWarning, match="200 samples are not more than the subset size"):
        vl.metrics.kernel_inception_distance(a, b, n_subsets=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vl.metrics.kernel_inception_distance(a, b, n_subsets=1)  # one subset: nothing to warn about
        vl.metrics.kernel_inception_distance(a, b, n_subsets=5, subset_size=100)
