"""Sample quality: the Fréchet distance and KID between feature sets (chapter 7).

Both compare generated images with real ones in the feature space of a trained classifier:

    FD  = ‖m_a − m_b‖² + tr(C_a + C_b − 2 (C_a C_b)^{1/2})        Gaussians fitted to the features   (eq. 7.5)
    KID = unbiased MMD² with the kernel k(a, b) = (aᵀb / F + 1)³, averaged over random subsets        (eq. 7.6)

(Heusel et al., 2017; Bińkowski et al., 2018.)  The papers use Google's Inception network trained on ImageNet.
``vaelab`` ships a *small* classifier for 28×28 grey images instead (:class:`FeatureClassifier`, trained on MNIST digits
and Fashion-MNIST clothes by ``scripts/train_feature_classifier.py``) and uses its 64 penultimate-layer activations.
**Its numbers rank models within this book; they are not comparable with Inception-based FID or KID** (another
feature space, another scale).  Any other extractor can be passed as ``extractor=``: a callable mapping a batch of
images to ``[N, F]`` features.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .checks import positive_int, random_seed
from .data import from_dataset
from .mmd import mmd2

WEIGHTS = Path(__file__).resolve().parent / "weights" / "feature_classifier.pt"
CLASSES = 20  # 0–9: MNIST digits, 10–19: Fashion-MNIST classes
FEATURES = 64


def _check_features(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    for name, f in (("features_a", a), ("features_b", b)):
        if not isinstance(f, torch.Tensor) or f.dim() != 2:
            shape = list(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise ValueError(f"{name} must be a feature matrix [N, F]; got {shape}.")
        if len(f) < 2:
            raise ValueError(f"{name} has {len(f)} rows; a distance between feature sets needs at least 2 per set.")
        if not bool(torch.isfinite(f).all()):
            raise ValueError(f"{name} contains NaN or infinite values; check the images or the feature extractor.")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"The feature sets have different widths ({a.shape[1]} and {b.shape[1]}): compute both with the same "
            "feature extractor."
        )
    return a.double().cpu(), b.double().cpu()


def _sqrtm_psd(c: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a positive semi-definite matrix (tiny negative eigenvalues from rounding clamped)."""
    values, vectors = torch.linalg.eigh(c)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance (eq. 7.5) between Gaussians fitted to two feature sets ``[N, F]`` and ``[M, F]``.

    Covariances are normalized by N − 1, as in the reference implementations.  tr (C_a C_b)^{1/2} is computed as
    tr (C_a^{1/2} C_b C_a^{1/2})^{1/2}, the square root of a symmetric matrix (same eigenvalues), in float64.
    """
    a, b = _check_features(features_a, features_b)
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    root_a = _sqrtm_psd(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    return float((mean_a - mean_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross)


KID_SUBSET_SIZE = 1000


def kernel_inception_distance(features_a: torch.Tensor, features_b: torch.Tensor, n_subsets: int = 50,
                              subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> tuple[float, float]:
    """KID (eq. 7.6): the mean and standard deviation of the unbiased polynomial-kernel MMD² (``vaelab.mmd``) over
    ``n_subsets`` random subsets of ``subset_size`` rows of each set (capped at the smaller set), seeded.

    With no more samples (``features_a``) than ``subset_size`` every subset of them is the whole set and the
    standard deviation says little about the estimate's uncertainty: it warns then (pass ``n_subsets=1``, or more
    samples)."""
    a, b = _check_features(features_a, features_b)
    n_subsets = positive_int(n_subsets, "n_subsets")
    size = min(positive_int(subset_size, "subset_size"), len(a), len(b))
    if n_subsets > 1 and len(a) <= subset_size:
        warnings.warn(
            f"KID: {len(a)} samples are not more than the subset size ({subset_size}), so every subset holds all of "
            "them and kid_std says little about the estimate's uncertainty; use more samples or n_subsets=1.",
            stacklevel=2)
    g = torch.Generator().manual_seed(random_seed(seed))
    values = torch.stack([
        mmd2(a[torch.randperm(len(a), generator=g)[:size]], b[torch.randperm(len(b), generator=g)[:size]], "polynomial")
        for _ in range(n_subsets)
    ])
    return float(values.mean()), float(values.std()) if n_subsets > 1 else 0.0


kid = kernel_inception_distance


class FeatureClassifier(nn.Module):
    """A small CNN for 28×28 grey images in [0, 1]: 20 classes (digits 0–9, then the 10 Fashion-MNIST classes).

    conv 3×3 (16) → ReLU → max-pool → conv 3×3 (32) → ReLU → max-pool → linear 1568 → 64 → ReLU → linear 64 → 20.
    ``features(x)`` returns the 64 activations before the last layer divided by ``feature_scale``, their root mean
    square over the training images (stored with the weights), so that features are of order 1: KID's cubic kernel
    (eq. 7.6) assumes that scale.  It is the feature space of :func:`sample_quality`.
    """

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, FEATURES), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, CLASSES)
        self.register_buffer("feature_scale", torch.ones(()))

    @staticmethod
    def as_images(x: torch.Tensor) -> torch.Tensor:
        """``[N, 784]``, ``[N, 28, 28]`` or ``[N, 1, 28, 28]`` in [0, 1] → ``[N, 1, 28, 28]``, else a clear error."""
        if (x.dim() == 2 and x.shape[1] == 784) or (x.dim() == 3 and tuple(x.shape[1:]) == (28, 28)):
            x = x.reshape(-1, 1, 28, 28)
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"The feature classifier takes 28×28 grey images, [N, 784], [N, 28, 28] or [N, 1, 28, 28]; got "
                f"{list(x.shape)}. "
                "For other images pass your own extractor=."
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < -0.01 or hi > 1.01:
            raise ValueError(
                f"The feature classifier expects pixel values in [0, 1], but these lie in [{lo:g}, {hi:g}]. Rescale "
                "them (divide 8-bit images by 255) or clamp model outputs with .clamp(0, 1)."
            )
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.as_images(x)) / self.feature_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.as_images(x)))


@functools.lru_cache(maxsize=1)
def default_extractor() -> FeatureClassifier:
    """The shipped classifier, loaded once (float16 weights on disk, float32 in memory), in eval mode."""
    if not WEIGHTS.exists():
        raise FileNotFoundError(
            f"The feature classifier's weights are missing ({WEIGHTS}). Train them with "
            "`python scripts/train_feature_classifier.py` (a few minutes on a CPU), or pass extractor=."
        )
    model = FeatureClassifier()
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


# The default extractor's features of recently seen tensors (the real images every call compares with): id → (a weak
# reference to the tensor, its version counter, the features).  A tensor changed in place has a new version, and a
# new tensor at a reused id fails the identity check, so a stale entry is never returned.
_FEATURE_CACHE: dict[int, tuple[weakref.ref, int, torch.Tensor]] = {}


@torch.no_grad()
def features(images: torch.Tensor, extractor: Callable | None = None, batch_size: int = 1000) -> torch.Tensor:
    """Features ``[N, F]`` of ``images`` under ``extractor`` (default: :func:`default_extractor`'s ``features``),
    computed in batches on the extractor's device; returned on the CPU.  With the default extractor the features of
    a tensor are kept while the tensor lives and is unchanged, so comparing many models with the same real images
    computes the real images' features once."""
    images = from_dataset(images)  # a Dataset or DataLoader of images (labels, if any, are not used)
    cached = extractor is None and isinstance(images, torch.Tensor)
    if cached:
        hit = _FEATURE_CACHE.get(id(images))
        if hit is not None and hit[0]() is images and hit[1] == images._version:
            return hit[2].clone()
    if extractor is None:
        extractor = default_extractor().features
    owner = getattr(extractor, "__self__", extractor)
    device = next(iter(owner.parameters())).device if isinstance(owner, nn.Module) else torch.device("cpu")
    out = torch.cat([extractor(batch.to(device)).float().cpu()
                     for batch in torch.as_tensor(images).float().split(positive_int(batch_size, "batch_size"))])
    if cached:
        key = id(images)
        _FEATURE_CACHE[key] = (weakref.ref(images, lambda _: _FEATURE_CACHE.pop(key, None)), images._version, out)
        out = out.clone()
    return out


def sample_quality(samples: torch.Tensor, real: torch.Tensor, extractor: Callable | None = None,
                   kid_subsets: int = 50, seed: int = 0, kid: bool = True) -> dict:
    """FD (eq. 7.5) and KID (eq. 7.6) between ``samples`` and ``real`` images in a feature space.

    Returns ``{"fid", "kid", "kid_std", "extractor"}``.  With the default extractor these are distances in the
    feature space of vaelab's small classifier, **not comparable with Inception-based FID/KID** in papers; only
    rankings and ratios within the book are meaningful.  ``kid=False`` leaves KID out (``None``): it costs about
    twenty times as much as FD.
    """
    fa, fb = features(samples, extractor), features(real, extractor)
    kid_mean, kid_std = (kernel_inception_distance(fa, fb, n_subsets=kid_subsets, seed=seed) if kid
                         else (None, None))
    name = "vaelab FeatureClassifier (not Inception)" if extractor is None else getattr(
        extractor, "__qualname__", type(extractor).__name__)
    return {"fid": frechet_distance(fa, fb), "kid": kid_mean, "kid_std": kid_std, "extractor": name}
