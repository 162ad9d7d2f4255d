"""Tests for skood.datasets."""

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from skood import datasets
from skood.datasets import (
    get_data_home,
    list_adbench,
    load_adbench,
    load_cifar10,
    load_digits_images,
    load_digits_ood,
    load_fashion_mnist,
    load_mnist,
    load_tiny_imagenet_val,
    resize_images,
    to_grey,
)

# The data home: SKOOD_DATA, which tests/conftest.py points at ../shared/data when
# that folder exists, else ~/skood_data.
REAL_DATA = get_data_home()
needs_real_data = pytest.mark.skipif(
    not REAL_DATA.is_dir(), reason=f"real data folder {REAL_DATA} not found (set SKOOD_DATA)"
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _idx_bytes(array, magic):
    array = np.asarray(array, dtype=np.uint8)
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def _write_gz(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(data)


def _write_tiny_mnist(home, folder="mnist", subset="test", n=3):
    prefix = "t10k" if subset == "test" else "train"
    images = np.arange(n * 28 * 28, dtype=np.int64).reshape(n, 28, 28) % 256
    labels = np.arange(n) % 10
    _write_gz(home / folder / f"{prefix}-images-idx3-ubyte.gz", _idx_bytes(images, 2051))
    _write_gz(home / folder / f"{prefix}-labels-idx1-ubyte.gz", _idx_bytes(labels, 2049))
    return images.astype(np.uint8), labels.astype(np.uint8)


# ---------------------------------------------------------------------------
# digits (embedded)
# ---------------------------------------------------------------------------


def test_load_digits_images_shape_dtype_range():
    X, y = load_digits_images()
    assert X.shape == (1797, 64)
    assert X.dtype == np.uint8
    assert y.shape == (1797,)
    assert X.min() == 0 and X.max() == 255
    assert set(np.unique(y)) == set(range(10))
    X2, y2, shape = load_digits_images(return_shape=True)
    assert shape == (1, 8, 8)
    np.testing.assert_array_equal(X, X2)


def test_load_digits_images_value_mapping():
    from sklearn.datasets import load_digits

    raw = load_digits().data
    X, _ = load_digits_images()
    mapping = {0: 0, 1: 16, 4: 64, 8: 128, 15: 239, 16: 255}
    for v, expected in mapping.items():
        mask = raw == v
        assert mask.any()
        assert np.all(X[mask] == expected), v
    # the mapping is monotone and uses exactly 17 grey levels
    assert len(np.unique(X)) == 17


def test_load_digits_ood_disjoint_and_deterministic():
    data = load_digits_ood()
    assert data.input_shape == (1, 8, 8)
    assert set(np.unique(data.y_train)) == {0, 1, 2, 3, 4}
    assert set(np.unique(data.y_test_id)) == {0, 1, 2, 3, 4}
    assert set(np.unique(data.y_test_ood)) == {5, 6, 7, 8, 9}
    n_in = int(np.isin(load_digits_images()[1], [0, 1, 2, 3, 4]).sum())
    assert len(data.X_train) + len(data.X_test_id) == n_in == 901
    assert len(data.X_test_ood) == 1797 - n_in
    assert abs(len(data.X_test_id) - n_in / 2) <= 1
    for X in (data.X_train, data.X_test_id, data.X_test_ood):
        assert X.dtype == np.uint8 and X.shape[1] == 64
    assert isinstance(data.description, str) and "OOD" in data.description

    again = load_digits_ood()
    np.testing.assert_array_equal(data.X_train, again.X_train)
    np.testing.assert_array_equal(data.X_test_id, again.X_test_id)
    other = load_digits_ood(random_state=1)
    assert not np.array_equal(data.X_train, other.X_train)

    custom = load_digits_ood(inlier_digits=[7], test_size=0.25)
    assert set(np.unique(custom.y_train)) == {7}
    assert 7 not in set(np.unique(custom.y_test_ood))
    assert len(custom.X_test_ood) == 1797 - 179


@pytest.mark.parametrize("bad", [(), range(10), (3, 11), ("a",)])
def test_load_digits_ood_rejects_bad_digits(bad):
    with pytest.raises(ValueError, match="inlier_digits"):
        load_digits_ood(inlier_digits=bad)


# ---------------------------------------------------------------------------
# data home and missing files
# ---------------------------------------------------------------------------


def test_get_data_home_precedence(tmp_path, monkeypatch):
    arg_home = tmp_path / "arg"
    env_home = tmp_path / "env"
    work = tmp_path / "proj" / "repo"
    shared = tmp_path / "proj" / "shared" / "data"
    home = tmp_path / "home"
    for folder in (work, shared, home):
        folder.mkdir(parents=True)
    # A ../shared/data next to the working directory no longer counts.
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SKOOD_DATA", str(env_home))

    # 1. the argument, 2. SKOOD_DATA, 3. ~/skood_data
    assert get_data_home(arg_home) == arg_home
    assert get_data_home(str(arg_home)) == arg_home
    assert get_data_home() == env_home

    monkeypatch.setenv("SKOOD_DATA", "")  # empty = unset
    assert get_data_home() == home / "skood_data"
    assert not (home / "skood_data").exists()  # not created
    (home / "skood_data").mkdir()
    assert get_data_home() == home / "skood_data"

    monkeypatch.delenv("SKOOD_DATA")
    assert get_data_home() == home / "skood_data"
    monkeypatch.setenv("SKOOD_DATA", "~/elsewhere")  # ~ is expanded
    assert get_data_home() == home / "elsewhere"
    assert get_data_home("~/arg") == home / "arg"


def test_missing_file_message_names_default_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SKOOD_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="default location") as info:
        load_mnist()
    assert str(tmp_path / "skood_data") in str(info.value)


@pytest.mark.parametrize(
    "loader, expected",
    [
        (lambda h: load_mnist(subset="test", data_home=h), "t10k-images-idx3-ubyte.gz"),
        (lambda h: load_fashion_mnist(data_home=h), "train-labels-idx1-ubyte.gz"),
        (lambda h: load_cifar10(data_home=h), "CIFAR-10-images_jpeg_q75.tar.gz"),
        (lambda h: load_tiny_imagenet_val(data_home=h), "tiny-imagenet-200_val.tar.gz"),
        (lambda h: load_adbench("cardio", data_home=h), "cardio.npz"),
        (lambda h: list_adbench(data_home=h), "adbench"),
    ],
)
def test_missing_files_message(tmp_path, loader, expected):
    with pytest.raises(FileNotFoundError) as info:
        loader(tmp_path)
    message = str(info.value)
    assert expected in message
    assert str(tmp_path) in message
    assert "SKOOD_DATA" in message and "data_home" in message


def test_missing_file_message_uses_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SKOOD_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SKOOD_DATA environment variable"):
        load_mnist()


@pytest.mark.parametrize(
    "loader",
    [load_mnist, load_fashion_mnist, load_cifar10],
)
@pytest.mark.parametrize("subset", ["valid", "TRAIN", None, 1])
def test_bad_subset(tmp_path, loader, subset):
    with pytest.raises(ValueError, match="subset must be one of"):
        loader(subset=subset, data_home=tmp_path)


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "32"])
def test_tiny_imagenet_bad_size(tmp_path, size):
    with pytest.raises(ValueError, match="size"):
        load_tiny_imagenet_val(size=size, data_home=tmp_path)


# ---------------------------------------------------------------------------
# IDX parsing on hand-written files
# ---------------------------------------------------------------------------


def test_idx_roundtrip(tmp_path):
    images, labels = _write_tiny_mnist(tmp_path, subset="test", n=3)
    X, y, shape = load_mnist(subset="test", data_home=tmp_path, return_shape=True)
    assert shape == (1, 28, 28)
    assert X.shape == (3, 784) and X.dtype == np.uint8
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(X, images.reshape(3, -1))
    np.testing.assert_array_equal(y, [0, 1, 2])
    assert X[1, 0] == 784 % 256
    X[0, 0] = 7  # must not fail

    _write_tiny_mnist(tmp_path, folder="fashion_mnist", subset="train", n=5)
    Xf, yf = load_fashion_mnist(subset="train", data_home=tmp_path)
    assert Xf.shape == (5, 784)
    np.testing.assert_array_equal(yf, [0, 1, 2, 3, 4])


def test_idx_bad_magic(tmp_path):
    _write_tiny_mnist(tmp_path, subset="test", n=2)
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    _write_gz(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", _idx_bytes(images, 2049))
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        load_mnist(subset="test", data_home=tmp_path)


def test_idx_truncated_and_mismatched(tmp_path):
    _write_tiny_mnist(tmp_path, subset="test", n=2)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    data = _idx_bytes(np.zeros((2, 28, 28)), 2051)
    _write_gz(path, data[:-10])
    with pytest.raises(ValueError, match="announces shape"):
        load_mnist(subset="test", data_home=tmp_path)

    _write_gz(path, _idx_bytes(np.zeros((3, 28, 28)), 2051))  # 3 images, 2 labels
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        load_mnist(subset="test", data_home=tmp_path)

    _write_gz(path, _idx_bytes(np.zeros((2, 32, 32)), 2051))
    with pytest.raises(ValueError, match="32x32"):
        load_mnist(subset="test", data_home=tmp_path)

    path.write_bytes(b"not a gzip file at all")
    with pytest.raises(ValueError, match="gzip"):
        load_mnist(subset="test", data_home=tmp_path)


# ---------------------------------------------------------------------------
# image helpers
# ---------------------------------------------------------------------------


def test_to_grey_known_values():
    pixels = np.array(
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [10, 20, 30]],
        dtype=np.uint8,
    )
    # one image of shape (3, 1, 6): channel-first layout
    X = pixels.T.reshape(1, -1)
    grey = to_grey(X, (3, 1, 6))
    assert grey.shape == (1, 6) and grey.dtype == np.uint8
    np.testing.assert_array_equal(grey[0], [76, 150, 29, 255, 0, 18])


def test_to_grey_matches_pillow():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 3, 9, 7), dtype=np.uint8)
    grey = to_grey(images.reshape(4, -1), (3, 9, 7))
    expected = np.stack(
        [np.asarray(Image.fromarray(im.transpose(1, 2, 0), "RGB").convert("L")) for im in images]
    )
    np.testing.assert_array_equal(grey, expected.reshape(4, -1))
    with pytest.raises(ValueError, match="3-channel"):
        to_grey(np.zeros((1, 16), dtype=np.uint8), (1, 4, 4))


@pytest.mark.parametrize("size", [4, 8, 13, 28])
def test_resize_constant_image_stays_constant(size):
    X = np.full((2, 3 * 16 * 16), 173, dtype=np.uint8)
    X[1] = 9
    out = resize_images(X, (3, 16, 16), size)
    assert out.shape == (2, 3 * size * size) and out.dtype == np.uint8
    assert np.all(out[0] == 173) and np.all(out[1] == 9)


def test_resize_known_values_and_pillow_equivalence():
    # 2x2 block averaging when halving (BOX filter)
    image = np.array([[0, 100, 10, 20], [200, 100, 30, 40], [0, 0, 255, 255],
                      [0, 4, 255, 255]], dtype=np.uint8)
    out = resize_images(image.reshape(1, -1), (1, 4, 4), 2)
    np.testing.assert_array_equal(out.reshape(2, 2), [[100, 25], [1, 255]])

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(3, 3, 12, 10), dtype=np.uint8)
    for size, resample in [(5, Image.Resampling.BOX), (20, Image.Resampling.BILINEAR)]:
        out = resize_images(images.reshape(3, -1), (3, 12, 10), size)
        expected = np.stack([
            np.asarray(
                Image.fromarray(im.transpose(1, 2, 0), "RGB").resize((size, size), resample)
            ).transpose(2, 0, 1)
            for im in images
        ])
        np.testing.assert_array_equal(out, expected.reshape(3, -1))
    # same size is a copy
    same = resize_images(images.reshape(3, -1), (3, 12, 10), (12, 10))
    np.testing.assert_array_equal(same, images.reshape(3, -1))


def test_resize_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        resize_images(np.zeros((2, 10), dtype=np.uint8), (1, 4, 4), 2)
    with pytest.raises(ValueError, match="uint8"):
        resize_images(np.full((1, 16), 300.0), (1, 4, 4), 2)
    with pytest.raises(ValueError, match="size"):
        resize_images(np.zeros((1, 16), dtype=np.uint8), (1, 4, 4), 0)


# ---------------------------------------------------------------------------
# ADBench on a hand-written file
# ---------------------------------------------------------------------------


def test_adbench_name_matching(tmp_path):
    folder = tmp_path / "adbench"
    folder.mkdir()
    X = np.arange(12, dtype=np.int16).reshape(4, 3)
    np.savez(folder / "6_cardio.npz", X=X, y=np.array([0, 1, 0, 0], dtype=np.int32))
    np.savez(folder / "31_satimage-2.npz", X=X, y=np.array([0, 0, 0, 1]))
    np.savez(folder / "30_satimage.npz", X=X, y=np.array([1, 0, 0, 0]))
    assert list_adbench(tmp_path) == ["6_cardio", "30_satimage", "31_satimage-2"]
    for name in ["cardio", "6_cardio", "6_cardio.npz", "CARDIO", "cardio.npz"]:
        Xl, yl = load_adbench(name, data_home=tmp_path)
        assert Xl.dtype == np.float64 and yl.dtype == np.int64
        np.testing.assert_array_equal(Xl, X)
        np.testing.assert_array_equal(yl, [0, 1, 0, 0])
    np.testing.assert_array_equal(load_adbench("satimage", data_home=tmp_path)[1], [1, 0, 0, 0])
    np.testing.assert_array_equal(load_adbench("satimage-2", data_home=tmp_path)[1], [0, 0, 0, 1])
    with pytest.raises(FileNotFoundError, match="Available: 6_cardio"):
        load_adbench("musk", data_home=tmp_path)

    np.savez(folder / "7_bad.npz", X=X, y=np.array([0, 2, 0, 0]))
    with pytest.raises(ValueError, match="0 \\(normal\\) and 1"):
        load_adbench("bad", data_home=tmp_path)
    np.savez(folder / "8_cardio.npz", X=X, y=np.zeros(4))
    with pytest.raises(ValueError, match="ambiguous"):
        load_adbench("cardio", data_home=tmp_path)


# ---------------------------------------------------------------------------
# real data (skipped when ../shared/data is absent)
# ---------------------------------------------------------------------------


@needs_real_data
def test_real_mnist_test():
    X, y, shape = load_mnist(subset="test", data_home=REAL_DATA, return_shape=True)
    assert X.shape == (10000, 784) and X.dtype == np.uint8
    assert shape == (1, 28, 28)
    np.testing.assert_array_equal(
        np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    assert X.mean() / 255 == pytest.approx(0.1325, abs=1e-3)


@needs_real_data
@pytest.mark.slow
def test_real_mnist_train_statistics():
    X, y = load_mnist(subset="train", data_home=REAL_DATA)
    assert X.shape == (60000, 784)
    assert np.bincount(y).sum() == 60000
    scaled = X / 255.0
    assert scaled.mean() == pytest.approx(0.1307, abs=1e-4)
    assert scaled.std() == pytest.approx(0.3081, abs=1e-4)


@needs_real_data
def test_real_fashion_mnist_test():
    X, y = load_fashion_mnist(subset="test", data_home=REAL_DATA)
    assert X.shape == (10000, 784) and X.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10))
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)
    assert X.mean() / 255 == pytest.approx(0.2868, abs=1e-3)


@needs_real_data
@pytest.mark.slow
def test_real_fashion_mnist_train_statistics():
    X, y = load_fashion_mnist(subset="train", data_home=REAL_DATA)
    assert X.shape == (60000, 784)
    np.testing.assert_array_equal(np.bincount(y), [6000] * 10)
    assert (X / 255.0).mean() == pytest.approx(0.2860, abs=1e-4)


@needs_real_data
def test_real_adbench():
    names = list_adbench(REAL_DATA)
    assert len(names) == 20
    assert "6_cardio" in names and "32_shuttle" in names
    X, y = load_adbench("cardio", data_home=REAL_DATA)
    assert X.shape == (1831, 21) and len(y) == len(X)
    assert X.dtype == np.float64
    assert set(np.unique(y)) == {0, 1}
    assert int(y.sum()) == 176


@needs_real_data
@pytest.mark.slow
def test_real_adbench_all_load():
    for name in list_adbench(REAL_DATA):
        X, y = load_adbench(name, data_home=REAL_DATA)
        assert X.ndim == 2 and len(X) == len(y)
        assert set(np.unique(y)) == {0, 1}
        assert 0 < y.mean() < 0.5


@needs_real_data
@pytest.mark.slow
def test_real_cifar10_test_and_cache():
    X, y, shape = load_cifar10(subset="test", data_home=REAL_DATA, return_shape=True)
    assert shape == (3, 32, 32)
    assert X.shape == (10000, 3072) and X.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)
    assert np.all(np.diff(y) >= 0)  # sorted by class
    # channel-first layout: the first 1024 values are the red plane
    images = X.reshape(-1, 3, 32, 32)
    assert images[:, 0].mean() > images[:, 2].mean()  # CIFAR red mean > blue mean

    X[:] = 0  # corrupting the returned copy must not touch the cache
    X2, y2 = load_cifar10(subset="test", data_home=REAL_DATA)
    assert X2.max() == 255 and X2.flags.writeable
    np.testing.assert_array_equal(y, y2)


@needs_real_data
@pytest.mark.slow
def test_real_cifar10_train():
    X, y = load_cifar10(subset="train", data_home=REAL_DATA)
    assert X.shape == (50000, 3072)
    np.testing.assert_array_equal(np.bincount(y), [5000] * 10)
    means = X.reshape(-1, 3, 1024).mean(axis=(0, 2)) / 255
    np.testing.assert_allclose(means, [0.491, 0.482, 0.447], atol=0.01)


@needs_real_data
@pytest.mark.slow
def test_real_tiny_imagenet_val():
    X, y, shape = load_tiny_imagenet_val(data_home=REAL_DATA, return_shape=True)
    assert X.shape == (10000, 3 * 64 * 64) and shape == (3, 64, 64)
    assert X.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y, minlength=200), [50] * 200)

    X32, y32, shape32 = load_tiny_imagenet_val(size=32, data_home=REAL_DATA, return_shape=True)
    assert X32.shape == (10000, 3072) and shape32 == (3, 32, 32)
    np.testing.assert_array_equal(y32, y)
    np.testing.assert_array_equal(X32[:5], resize_images(X[:5], (3, 64, 64), 32))

    Xg, _, shape_g = load_tiny_imagenet_val(
        size=28, grey=True, data_home=REAL_DATA, return_shape=True
    )
    assert Xg.shape == (10000, 784) and shape_g == (1, 28, 28)
    expected = to_grey(resize_images(X[:5], (3, 64, 64), 28), (3, 28, 28))
    np.testing.assert_array_equal(Xg[:5], expected)
    # stored-grey images come back with three equal channels
    planes = X.reshape(-1, 3, 64 * 64)
    n_grey = int(np.sum(np.all(planes[:, 0] == planes[:, 1], axis=1)
                        & np.all(planes[:, 1] == planes[:, 2], axis=1)))
    assert n_grey >= 168


def test_module_constants():
    assert datasets.CIFAR10_CLASSES[0] == "airplane" and datasets.CIFAR10_CLASSES[9] == "truck"
    assert datasets.MNIST_SHAPE == (1, 28, 28)
    assert datasets.CIFAR10_SHAPE == (3, 32, 32)
