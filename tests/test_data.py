"""Tests of vaelab.data: the shipped MNIST subset, binarization, the one-hot toy, the IDX reader and the loaders'
error messages. No test reaches the network: every test runs with VAELAB_OFFLINE=1 and a guard on urlopen, and the
one download test serves files from a local HTTP server."""

import gzip
import hashlib
import http.server
import math
import struct
import threading
import urllib.request
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

import vaelab as vl
from vaelab import data as D


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No downloads, an empty cache folder, no VAELAB_DATA, and urlopen refuses anything but localhost."""
    monkeypatch.setenv("VAELAB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VAELAB_DATA", raising=False)
    monkeypatch.setattr(D, "_DOWNLOAD_FAILED", {})
    real_urlopen = urllib.request.urlopen

    def local_only(request, *args, **kwargs):
        url = getattr(request, "full_url", request)
        if not url.startswith("http://127.0.0.1:"):
            pytest.fail(f"a test tried to reach the network: {url}")
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


# --------------------------------------------------------------------------------------------------------- helpers


def write_idx(path, array, gz=False):
    """Write ``array`` as an IDX file (the format read_idx reads)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    array = np.asarray(array)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    raw = bytes([0, 0, codes[big.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + big.tobytes()
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)
    return Path(path)


def fake_folder(folder, n_train=30, n_test=10, gz=True, seed=0):
    """A tiny stand-in for an MNIST-style folder: the four IDX files with random images and labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    content = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        image_file, label_file = D.IDX_FILES[split]
        write_idx(folder / (image_file + suffix), images, gz)
        write_idx(folder / (label_file + suffix), labels, gz)
        content[split] = images, labels
    return content


# --------------------------------------------------------------------------------------------- the shipped subset


def test_subset_file_matches_recorded_checksum():
    assert hashlib.sha256(D.SUBSET_PATH.read_bytes()).hexdigest() == D.SUBSET_SHA256
    assert D.SUBSET_PATH.stat().st_size < 5_000_000


@pytest.mark.parametrize("split, n", [("train", 8000), ("test", 2000)])
def test_subset_shapes_values_and_labels(split, n):
    x = D.load("mnist", split=split, source="subset", verbose=False)
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (n, 784)
    assert x.min() == 0 and x.max() == 1
    assert torch.equal((x * 255).round() / 255, x)  # multiples of 1/255: exact bytes
    assert x.labels.dtype == torch.int64 and x.labels.shape == (n,)
    assert set(x.labels.tolist()) == set(range(10))
    assert x.name == "mnist" and x.binarize is None and "subset" in x.source
    assert torch.equal(x, D.load("mnist", split=split, source="subset", verbose=False))  # deterministic


def test_subset_split_is_disjoint_and_stratified():
    with np.load(D.SUBSET_PATH) as npz:
        assert len(np.intersect1d(npz["train_index"], npz["test_index"])) == 0
        train, test = np.bincount(npz["y_train"]), np.bincount(npz["y_test"])
    assert np.allclose(test / (train + test), 0.2, atol=0.002)


def test_auto_without_full_mnist_falls_back_to_subset_and_says_so(capsys):
    x = D.load("mnist", split="test")
    line = capsys.readouterr().out
    assert x.shape == (2000, 784) and "subset" in x.source
    assert "shipped 10,000-digit subset" in line and "2,000 images" in line
    assert "full MNIST not found" in line and "VAELAB_DATA" in line and "VAELAB_OFFLINE" in line


def test_returned_tensor_behaves_like_a_plain_tensor():
    x = D.load("mnist", source="subset", verbose=False)
    assert type(x[:5]) is torch.Tensor and type(x * 2) is torch.Tensor  # ops give plain tensors
    assert "mnist" in repr(x)


def test_n_keeps_first_rows_and_attributes():
    full = D.load("mnist", source="subset", verbose=False)
    x = D.load("mnist", source="subset", n=100, verbose=False)
    assert x.shape == (100, 784) and torch.equal(x, full[:100]) and torch.equal(x.labels, full.labels[:100])
    assert x.name == "mnist"
    with pytest.raises(ValueError, match="n must be an integer between 1 and 8,000"):
        D.load("mnist", source="subset", n=9000, verbose=False)


# -------------------------------------------------------------------------------------------------- binarization


def test_fixed_binarization_is_deterministic_and_binary():
    gray = D.load("mnist", source="subset", verbose=False)
    a = D.load("mnist", source="subset", binarize="fixed", seed=3, verbose=False)
    b = D.load("mnist", source="subset", binarize="fixed", seed=3, verbose=False)
    c = D.load("mnist", source="subset", binarize="fixed", seed=4, verbose=False)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) == {0.0, 1.0} and a.dtype == torch.float32
    assert a.binarize == "fixed" and a.name == "mnist" and torch.equal(a.labels, gray.labels)
    assert abs(a.mean().item() - gray.mean().item()) < 0.005  # E[Bernoulli(p)] = p
    assert bool(((gray == 0) <= (a == 0)).all()) and bool(((gray == 1) <= (a == 1)).all())


def test_binarize_helper_keeps_attributes():
    x = D.load("mnist", split="test", source="subset", verbose=False)
    b = D.binarize(x, seed=1)
    assert torch.equal(b, D.binarize(x, seed=1))
    assert b.binarize == "fixed" and b.name == "mnist" and b.source == x.source and torch.equal(b.labels, x.labels)
    assert x.binarize is None  # the input is left alone
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        D.binarize(x * 255)
    with pytest.raises(ValueError, match="float tensor"):
        D.binarize(np.zeros(3))


def test_dynamic_binarization_returns_grayscale_marked_dynamic():
    x = D.load("mnist", source="subset", binarize="dynamic", verbose=False)
    assert x.binarize == "dynamic"
    assert torch.equal(x, D.load("mnist", source="subset", verbose=False))


# ---------------------------------------------------------------------------------------------------- one-hot toy


def test_onehot_toy():
    x = D.load("onehot", verbose=False)
    t = D.load("onehot", split="test", verbose=False)
    assert x.shape == (1000, 4) and t.shape == (200, 4) and x.dtype == torch.float32
    assert torch.equal(x.sum(1), torch.ones(1000)) and set(x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(x.sum(0), torch.full((4,), 250.0))
    assert torch.equal(x.argmax(1), x.labels) and x.labels.dtype == torch.int64
    assert x.name == "onehot" and x.binarize is None
    assert torch.equal(x, D.load("onehot", verbose=False))
    assert not torch.equal(x, D.load("onehot", seed=1, verbose=False))
    assert D.load("onehot", n=8, verbose=False).shape == (8, 4)
    with pytest.raises(ValueError, match="multiple of 4"):
        D.load("onehot", n=10)


# ------------------------------------------------------------------------------------------------------ read_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_read_idx_round_trip(tmp_path, gz, dtype):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    got = D.read_idx(write_idx(tmp_path / "a.idx", array, gz))
    assert got.shape == (2, 3, 4) and got.dtype == np.dtype(dtype) and np.array_equal(got, array)
    assert got.flags.writeable


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match=r"bad\b.*not an IDX file.*bad magic number.*delete it"):
        D.read_idx(path)


def test_read_idx_unknown_dtype(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(bytes([0, 0, 0x07, 1]) + struct.pack(">I", 2) + b"ab")
    with pytest.raises(ValueError, match="unknown IDX dtype code 0x07"):
        D.read_idx(path)


def test_read_idx_truncated_payload(tmp_path):
    path = write_idx(tmp_path / "t.idx", np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"t\.idx: payload is truncated.*\[5, 28, 28\].*delete it"):
        D.read_idx(path)


def test_read_idx_trailing_bytes_and_short_header(tmp_path):
    path = write_idx(tmp_path / "t.idx", np.zeros(4, np.uint8))
    path.write_bytes(path.read_bytes() + b"xx")
    with pytest.raises(ValueError, match="longer than its header says"):
        D.read_idx(path)
    path.write_bytes(bytes([0, 0, 0x08, 3]) + b"\x00\x00")
    with pytest.raises(ValueError, match="too short"):
        D.read_idx(path)


def test_read_idx_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "t.gz", np.zeros((50, 28, 28), np.uint8), gz=True)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"t\.gz: gzip data cannot be decompressed.*delete it"):
        D.read_idx(path)


# ------------------------------------------------------------------------------------------ loading IDX folders


@pytest.mark.parametrize("gz", [True, False])
def test_load_full_mnist_from_root(tmp_path, gz):
    content = fake_folder(tmp_path / "data", gz=gz)
    for split, n in (("train", 30), ("test", 10)):
        x = D.load("mnist", split=split, root=tmp_path / "data", verbose=False)
        images, labels = content[split]
        assert x.shape == (n, 784) and x.dtype == torch.float32
        assert torch.equal(x, torch.from_numpy(images.reshape(n, 784)).float() / 255)
        assert torch.equal(x.labels, torch.from_numpy(labels).long())
        assert x.source == str(tmp_path / "data")


def test_load_from_vaelab_data_and_root_subfolder(tmp_path, monkeypatch, capsys):
    fake_folder(tmp_path / "fashion-mnist", n_train=12)
    monkeypatch.setenv("VAELAB_DATA", str(tmp_path))
    x = D.load("fashion-mnist", split="train")
    assert x.shape == (12, 784) and x.name == "fashion-mnist"
    assert f"fashion-mnist (train): {tmp_path / 'fashion-mnist'}, 12 images" in capsys.readouterr().out
    monkeypatch.delenv("VAELAB_DATA")
    assert D.load("fashion-mnist", root=tmp_path, verbose=False).shape == (12, 784)  # root/<name>


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_load_reads_torchvisions_folder_layout(tmp_path, name, folder):
    """torchvision.datasets.MNIST(root) keeps the files in root/MNIST/raw/*-ubyte (and .gz)."""
    content = fake_folder(tmp_path / folder / "raw", n_train=9, gz=False)
    x = D.load(name, root=tmp_path, verbose=False)
    assert torch.equal(x, torch.from_numpy(content["train"][0].reshape(9, 784)).float() / 255)
    assert x.source == str(tmp_path / folder / "raw")


def test_load_full_mnist_from_cache_folder(tmp_path):
    fake_folder(tmp_path / "cache" / "vaelab" / "mnist", n_test=7)
    x = D.load("mnist", split="test", source="full", verbose=False)
    assert x.shape == (7, 784) and "cache" in x.source


def test_corrupted_idx_in_data_folder(tmp_path):
    fake_folder(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz.*delete it and let vaelab download it again"):
        D.load("mnist", split="test", root=tmp_path, verbose=False)


def test_wrong_contents_in_data_folder(tmp_path):
    fake_folder(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8), gz=True)  # 3 labels for 10 images
    with pytest.raises(ValueError, match="expected 10 labels"):
        D.load("mnist", split="test", root=tmp_path, verbose=False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((10, 32, 32), np.uint8), gz=True)
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \[N, 28, 28\]"):
        D.load("mnist", split="test", root=tmp_path, verbose=False)


def test_debian_fashion_mnist_if_installed():
    folder = D.DEBIAN_DIRS["fashion-mnist"]
    if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    train = D.load("fashion-mnist", split="train", verbose=False)
    test = D.load("fashion-mnist", split="test", verbose=False)
    assert train.shape == (60000, 784) and test.shape == (10000, 784)
    assert torch.equal(test.labels.bincount(), torch.full((10,), 1000))
    assert train.source == str(folder) and train.min() >= 0 and train.max() <= 1


# ----------------------------------------------------------------------------------------- errors: names and args


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown data set 'cifar10'.*'mnist', 'fashion-mnist', 'onehot'"):
        D.load("cifar10")


@pytest.mark.parametrize("kwargs, message", [
    (dict(split="valid"), r"split must be one of 'train', 'test', got 'valid'"),
    (dict(binarize=True), r"binarize must be one of None, 'dynamic', 'fixed', got True"),
    (dict(source="web"), r"source must be one of 'auto', 'subset', 'full', got 'web'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        D.load("mnist", **kwargs)


def test_no_subset_of_fashion_mnist():
    with pytest.raises(ValueError, match="no shipped subset of fashion-mnist"):
        D.load("fashion-mnist", source="subset")


# ---------------------------------------------------------------------------------------- errors: missing data


def test_missing_fashion_mnist_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "DEBIAN_DIRS", {"fashion-mnist": tmp_path / "no-debian"})
    with pytest.raises(FileNotFoundError) as info:
        D.load("fashion-mnist", root=tmp_path / "nowhere")
    message = str(info.value)
    for needle in ("fashion-mnist (train) not found", str(tmp_path / "nowhere"), "no-debian",
                   str(tmp_path / "cache" / "vaelab" / "fashion-mnist"), "VAELAB_OFFLINE=1",
                   "apt-get install dataset-fashion-mnist", "$VAELAB_DATA/fashion-mnist", "network"):
        assert needle in message


def test_missing_full_mnist_offline_says_how_to_get_it():
    with pytest.raises(FileNotFoundError, match=r"mnist \(test\) not found.*VAELAB_DATA/mnist.*source='subset'"):
        D.load("mnist", split="test", source="full")


# -------------------------------------------------------------------------------------- errors: the shipped npz


def test_corrupted_npz_fails_the_checksum(tmp_path, monkeypatch):
    broken = tmp_path / "mnist10k.npz"
    raw = bytearray(D.SUBSET_PATH.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    broken.write_bytes(bytes(raw))
    monkeypatch.setattr(D, "SUBSET_PATH", broken)
    with pytest.raises(ValueError, match="corrupted: sha256 checksum mismatch.*reinstall vaelab"):
        D.load("mnist", source="subset")


def test_unreadable_npz(tmp_path, monkeypatch):
    broken = tmp_path / "mnist10k.npz"
    broken.write_bytes(D.SUBSET_PATH.read_bytes()[:50_000])  # a truncated zip
    monkeypatch.setattr(D, "SUBSET_PATH", broken)
    monkeypatch.setattr(D, "SUBSET_SHA256", hashlib.sha256(broken.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="cannot be read.*scripts/convert_mnist.py"):
        D.load("mnist", source="subset")


def test_missing_npz(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "SUBSET_PATH", tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match="subset .*gone.npz is missing; reinstall vaelab"):
        D.load("mnist", source="subset")


# ----------------------------------------------------------------------------- download (from a local server)


@pytest.fixture
def local_mirror(tmp_path):
    """An HTTP server on 127.0.0.1 serving a fake MNIST folder; yields (url, {file: md5})."""
    served = tmp_path / "served"
    fake_folder(served, n_train=5, n_test=3)
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", md5
    server.shutdown()
    server.server_close()


def test_download_into_cache(local_mirror, monkeypatch, tmp_path, capsys):
    url, md5 = local_mirror
    monkeypatch.delenv("VAELAB_OFFLINE")
    monkeypatch.setattr(D, "MIRRORS", {"mnist": (url + "missing/", url)})  # the first mirror answers 404
    monkeypatch.setattr(D, "MD5", {"mnist": md5})
    x = D.load("mnist", split="test")
    assert x.shape == (3, 784) and x.source.endswith("(downloaded)")
    assert sorted(p.name for p in (tmp_path / "cache" / "vaelab" / "mnist").iterdir()) == sorted(md5)
    assert "downloading" in capsys.readouterr().out
    assert D.load("mnist", split="train", verbose=False).shape == (5, 784)  # now found in the cache


def test_download_with_wrong_checksum_falls_back_once(local_mirror, monkeypatch, tmp_path, capsys):
    url, md5 = local_mirror
    monkeypatch.delenv("VAELAB_OFFLINE")
    monkeypatch.setattr(D, "MIRRORS", {"mnist": (url,)})
    monkeypatch.setattr(D, "MD5", {"mnist": dict.fromkeys(md5, "0" * 32)})
    x = D.load("mnist", split="test")
    assert "subset" in x.source and "wrong MD5 checksum" in capsys.readouterr().out
    assert not any((tmp_path / "cache" / "vaelab" / "mnist").glob("*.gz"))

    def fetch(*args):
        raise AssertionError("a failed download was tried again")

    monkeypatch.setattr(D, "_fetch", fetch)  # not tried again in this session
    assert "subset" in D.load("mnist", split="test", verbose=False).source


def test_manifold_data_lie_on_an_r_dimensional_manifold():
    x = vl.manifold(500, r=2, d=10, seed=0)
    assert x.shape == (500, 10) and x.labels.shape == (500, 2)
    assert float(x.var(0).mean()) == pytest.approx(1.0, rel=0.2)
    # locally r-dimensional: in small neighbourhoods 2 singular values dominate (the rest is curvature) ...
    dense = vl.manifold(5000, r=2, d=10, seed=0)
    for centre in dense[:5]:
        near = dense[(dense - centre).norm(dim=1).argsort()[:12]]
        s = torch.linalg.svdvals(near - near.mean(0))
        assert s[2] < 0.15 * s[1] and s[3] < 0.02 * s[1]
    # ... but not globally flat: the manifold is curved, more than r principal directions carry variance
    assert int((torch.linalg.svdvals(dense - dense.mean(0)) > 0.05 * math.sqrt(len(dense))).sum()) > 2
    assert torch.equal(vl.manifold(50, 2, 10, seed=0), vl.manifold(50, 2, 10, seed=0))
    test = vl.manifold(50, 2, 10, seed=0, split="test")
    assert not torch.equal(test, vl.manifold(50, 2, 10, seed=0))
    with pytest.raises(ValueError, match="smaller than the ambient"):
        vl.manifold(10, r=5, d=5)


# ---- Datasets, DataLoaders and image-shaped data: what a PyTorch user passes -----------------------------------
class PairDataset(torch.utils.data.Dataset):
    """A map-style dataset of (image [1, 28, 28], label) pairs, like torchvision's MNIST."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i].reshape(1, 28, 28), int(self.labels[i])


def _digits(n=300):
    x = vl.load("mnist", n=n, binarize="fixed", verbose=False)
    return torch.Tensor(x).clone(), x.labels.clone()


def test_datasets_loaders_and_images_give_what_the_tensor_gives():
    x, y = _digits()
    torch.manual_seed(0)
    model = vl.VAE(x_dim=784, z_dim=4, hidden=[32])
    reference = vl.elbo(model, x)
    inputs = {
        "TensorDataset": torch.utils.data.TensorDataset(x, y),
        "DataLoader": torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=7, shuffle=True),
        "Dataset of (image, label)": PairDataset(x, y),
        "images [N, 28, 28]": x.reshape(-1, 28, 28),
        "images [N, 1, 28, 28]": x.reshape(-1, 1, 28, 28),
        "numpy float64": x.numpy().astype(np.float64),
    }
    for name, data in inputs.items():
        assert vl.elbo(model, data) == reference, name
        assert torch.equal(vl.encode_data(model, data)[0], vl.encode_data(model, x)[0]), name
    assert vl.active_units(model, PairDataset(x, y)) == vl.active_units(model, x)
    assert float(vl.log_likelihood(model, PairDataset(x, y), k=4)) == float(vl.log_likelihood(model, x, k=4))


def test_fit_trains_on_a_dataset_exactly_as_on_its_tensor():
    x, y = _digits()
    histories = []
    for data in (x, torch.utils.data.TensorDataset(x, y), PairDataset(x, y)):
        torch.manual_seed(0)
        model = vl.VAE(x_dim=784, z_dim=4, hidden=[32])
        histories.append(vl.fit(model, data, epochs=2, batch_size=50, test=data, progress=False))
    drop = [{k: v for k, v in h.as_dict().items() if k != "seconds"} for h in histories]
    assert drop[0] == drop[1] == drop[2]


def test_labels_of_a_dataset_are_kept():
    x, y = _digits(40)
    data = vl.data.from_dataset(PairDataset(x, y))
    assert torch.equal(data.labels, y) and data.shape == (40, 1, 28, 28)
    recorder = vl.LatentRecorder(PairDataset(x, y))
    recorder(0, None, vl.VAE(x_dim=784, z_dim=2, hidden=[8]))
    assert np.array_equal(recorder.run()["labels"], y.numpy())
    quality = vl.metrics.sample_quality(torch.utils.data.TensorDataset(x[:30]), PairDataset(x, y), kid=False)
    assert quality["fid"] == vl.metrics.sample_quality(x[:30], x, kid=False)["fid"]


def test_images_of_another_size_and_datasets_vaelab_cannot_hold_are_refused_with_the_fix():
    model = vl.VAE(x_dim=784, z_dim=2, hidden=[8])
    with pytest.raises(ValueError, match="Their 1024 values per example do not match x_dim=784"):
        vl.elbo(model, torch.rand(5, 32, 32))

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield torch.rand(784)
    with pytest.raises(TypeError, match="iterable-style dataset"):
        vl.elbo(model, Stream())
    with pytest.raises(MemoryError, match="train on a subset"):
        vl.data.from_dataset(PairDataset(*_digits(10)), limit_bytes=1000)


def test_flattening_images_is_said_once(monkeypatch):
    monkeypatch.setattr(vl.models, "_FLATTENING_SAID", set())
    x, _ = _digits(20)
    model = vl.VAE(x_dim=784, z_dim=2, hidden=[8])
    with pytest.warns(UserWarning, match=r"flattens examples of shape \[1, 28, 28\]") as said:
        vl.elbo(model, x.reshape(-1, 1, 28, 28))
        vl.fit(model, x.reshape(-1, 1, 28, 28), epochs=1, batch_size=10, test=x.reshape(-1, 1, 28, 28),
               progress=False)
    assert len([w for w in said if "flattens" in str(w.message)]) == 1
