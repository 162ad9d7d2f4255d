"""Dataset loaders for skood's examples, tests and benchmarks.

Every loader returns plain NumPy arrays. Images are returned **flattened**:
an image set of shape ``(n, C, H, W)`` (channels first) is returned as a
``uint8`` array of shape ``(n, C * H * W)`` in C order, because skood's
estimators take a 2-D ``X`` together with an ``input_shape=(C, H, W)``
parameter. ``X.reshape(-1, *input_shape)`` recovers the images.

Nothing is downloaded: the real data sets are read from a local folder, the
*data home* (see :func:`get_data_home`), laid out as::

    <data_home>/
        mnist/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
              t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz
        fashion_mnist/  (same four file names as mnist/)
        cifar10/CIFAR-10-images_jpeg_q75.tar.gz
        tiny_imagenet_val/tiny-imagenet-200_val.tar.gz
        adbench/<k>_<name>.npz   (arrays ``X`` and ``y``, 1 = anomaly)

The small scikit-learn digits set (:func:`load_digits_images`,
:func:`load_digits_ood`) ships with scikit-learn and needs no data home.
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import re
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state

__all__ = [
    "ADBENCH_DIR",
    "CIFAR10_CLASSES",
    "CIFAR10_SHAPE",
    "DIGITS_SHAPE",
    "MNIST_SHAPE",
    "get_data_home",
    "list_adbench",
    "load_adbench",
    "load_cifar10",
    "load_digits_images",
    "load_digits_ood",
    "load_fashion_mnist",
    "load_mnist",
    "load_tiny_imagenet_val",
    "resize_images",
    "to_grey",
]

#: Image shape ``(C, H, W)`` of :func:`load_digits_images`.
DIGITS_SHAPE = (1, 8, 8)
#: Image shape ``(C, H, W)`` of :func:`load_mnist` and :func:`load_fashion_mnist`.
MNIST_SHAPE = (1, 28, 28)
#: Image shape ``(C, H, W)`` of :func:`load_cifar10`.
CIFAR10_SHAPE = (3, 32, 32)
#: CIFAR-10 class names; the label of a class is its index in this tuple.
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
#: Name of the ADBench folder inside the data home.
ADBENCH_DIR = "adbench"

_ENV_VAR = "SKOOD_DATA"
_SUBSETS = ("train", "test")
_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_CIFAR10_DIR = "cifar10"
_CIFAR10_TARBALL = "CIFAR-10-images_jpeg_q75.tar.gz"
_TINY_DIR = "tiny_imagenet_val"
_TINY_TARBALL = "tiny-imagenet-200_val.tar.gz"
_TINY_SIZE = 64
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# ---------------------------------------------------------------------------
# data home
# ---------------------------------------------------------------------------


def _default_data_homes():
    """Return the candidate default data homes, in the order they are tried."""
    return [
        (Path.cwd() / ".." / "shared" / "data").resolve(),
        Path("~/skood_data").expanduser(),
    ]


def _data_home_with_source(data_home=None):
    """Resolve the data home and say where the choice came from.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit data home, see :func:`get_data_home`.

    Returns
    -------
    path : pathlib.Path
        The data home.
    source : str
        A short human-readable description of where ``path`` came from.
    """
    if data_home is not None:
        return Path(data_home).expanduser(), "the data_home argument"
    env = os.environ.get(_ENV_VAR, "")
    if env.strip():
        return Path(env).expanduser(), f"the {_ENV_VAR} environment variable"
    candidates = _default_data_homes()
    for candidate in candidates:
        if candidate.is_dir():
            return candidate, "the default location"
    return candidates[-1], "the default location (which does not exist)"


def get_data_home(data_home=None):
    """Return the folder that holds skood's real data sets.

    The folder is chosen in this order:

    1. the ``data_home`` argument, if it is not None;
    2. the ``SKOOD_DATA`` environment variable, if it is set and non-empty;
    3. the first existing folder among ``../shared/data`` (relative to the
       current working directory) and ``~/skood_data``;
    4. ``~/skood_data``, even if it does not exist (it is not created).

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit data home. ``~`` is expanded.

    Returns
    -------
    data_home : pathlib.Path
        The data home. It is not checked for existence when given explicitly.
    """
    return _data_home_with_source(data_home)[0]


def _missing_files_error(what, paths, data_home, source):
    """Build a FileNotFoundError that says what is missing and how to fix it."""
    listed = ", ".join(str(p) for p in paths)
    return FileNotFoundError(
        f"{what}: expected file(s) not found: {listed}. "
        f"Searched data_home={data_home} (from {source}). skood does not download "
        "data: put the files there, or point skood at your copy with the "
        f"`data_home` argument or the {_ENV_VAR} environment variable."
    )


def _require_files(what, folder, names, data_home):
    """Return the paths of ``names`` in ``<data_home>/<folder>`` or raise."""
    home, source = _data_home_with_source(data_home)
    paths = [home / folder / name for name in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise _missing_files_error(what, missing, home, source)
    return paths


def _check_subset(subset):
    """Raise ValueError unless ``subset`` is 'train' or 'test'."""
    if not isinstance(subset, str) or subset not in _SUBSETS:
        raise ValueError(f"subset must be one of {_SUBSETS}, got {subset!r}.")


def _file_key(path):
    """Cache key of a file: its resolved path, size and modification time."""
    path = Path(path).resolve()
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _readonly(array):
    """Mark ``array`` read-only (for arrays kept in a cache) and return it."""
    array.setflags(write=False)
    return array


def _return(X, y, shape, return_shape):
    """Return ``(X, y)`` or ``(X, y, shape)``."""
    if return_shape:
        return X, y, tuple(int(s) for s in shape)
    return X, y


# ---------------------------------------------------------------------------
# scikit-learn digits (embedded)
# ---------------------------------------------------------------------------


def load_digits_images(*, return_shape=False):
    """Load scikit-learn's 8x8 digits as uint8 images.

    The digits (values 0..16) are rescaled to 0..255 with
    ``round(v * 255 / 16)`` (halves rounded up, so 8 -> 128).

    Parameters
    ----------
    return_shape : bool, default=False
        If True, also return the image shape ``(1, 8, 8)``.

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype uint8
        Flattened images.
    y : ndarray of shape (1797,), dtype int
        Digit labels 0..9.
    input_shape : tuple of int
        ``(1, 8, 8)``; only if ``return_shape`` is True.
    """
    digits = load_digits()
    values = np.asarray(digits.data, dtype=np.float64)
    X = np.floor(values * 255.0 / 16.0 + 0.5).clip(0, 255).astype(np.uint8)
    y = np.asarray(digits.target, dtype=np.int64)
    return _return(X, y, DIGITS_SHAPE, return_shape)


def load_digits_ood(*, inlier_digits=(0, 1, 2, 3, 4), random_state=0, test_size=0.5):
    """Split scikit-learn's digits into an out-of-distribution demo.

    The digits in ``inlier_digits`` are in-distribution: they are split
    (stratified by digit) into a training part and an in-distribution test
    part. All the other digits form the out-of-distribution test set.

    Parameters
    ----------
    inlier_digits : sequence of int, default=(0, 1, 2, 3, 4)
        The in-distribution digits; a non-empty proper subset of 0..9.
    random_state : int, RandomState instance or None, default=0
        Seed of the train/test split of the inlier digits.
    test_size : float or int, default=0.5
        Fraction (or number) of the inlier digits put in ``X_test_id``.

    Returns
    -------
    data : sklearn.utils.Bunch
        With attributes

        - ``X_train`` : uint8 array (n_train, 64), inlier digits to fit on;
        - ``y_train`` : digit labels of ``X_train``;
        - ``X_test_id`` : uint8 array, held-out inlier digits;
        - ``y_test_id`` : digit labels of ``X_test_id``;
        - ``X_test_ood`` : uint8 array, all the digits not in ``inlier_digits``;
        - ``y_test_ood`` : digit labels of ``X_test_ood``;
        - ``input_shape`` : ``(1, 8, 8)``;
        - ``inlier_digits`` : tuple of the inlier digits;
        - ``description`` : a one-paragraph description.
    """
    try:
        inliers = tuple(sorted({int(d) for d in inlier_digits}))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"inlier_digits must be a sequence of ints, got {inlier_digits!r}."
        ) from exc
    if not inliers or any(d < 0 or d > 9 for d in inliers) or len(inliers) == 10:
        raise ValueError(
            "inlier_digits must be a non-empty proper subset of 0..9, "
            f"got {inlier_digits!r}."
        )
    X, y = load_digits_images()
    is_in = np.isin(y, inliers)
    X_in, y_in = X[is_in], y[is_in]
    X_train, X_test_id, y_train, y_test_id = train_test_split(
        X_in,
        y_in,
        test_size=test_size,
        random_state=check_random_state(random_state),
        stratify=y_in,
    )
    outliers = tuple(d for d in range(10) if d not in inliers)
    description = (
        "scikit-learn digits (8x8 grey, rescaled to 0..255) as an OOD demo: "
        f"in-distribution digits {inliers} split into X_train ({len(X_train)}) and "
        f"X_test_id ({len(X_test_id)}); out-of-distribution digits {outliers} in "
        f"X_test_ood ({int((~is_in).sum())}). Images are flattened; "
        "input_shape=(1, 8, 8)."
    )
    return Bunch(
        X_train=X_train,
        y_train=y_train,
        X_test_id=X_test_id,
        y_test_id=y_test_id,
        X_test_ood=X[~is_in],
        y_test_ood=y[~is_in],
        input_shape=DIGITS_SHAPE,
        inlier_digits=inliers,
        description=description,
    )


# ---------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)
# ---------------------------------------------------------------------------


def _parse_idx(data, expected_magic, source="IDX data"):
    """Parse the bytes of an uncompressed IDX file holding unsigned bytes.

    Parameters
    ----------
    data : bytes
        The whole file content.
    expected_magic : int
        2051 for images (3 dimensions), 2049 for labels (1 dimension).
    source : str
        Name of the file, for error messages.

    Returns
    -------
    array : ndarray of dtype uint8
        Array of the shape given in the header.
    """
    if len(data) < 4:
        raise ValueError(f"{source}: too short ({len(data)} bytes) to be an IDX file.")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        raise ValueError(
            f"{source}: bad IDX magic number {magic}, expected {expected_magic}; "
            "the file is corrupt or not the expected kind."
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{source}: truncated IDX header.")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) if shape else 1
    got = len(data) - header
    if got != expected:
        raise ValueError(
            f"{source}: IDX header announces shape {shape} ({expected} bytes) "
            f"but the file holds {got} data bytes."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def _read_idx_gz(path, expected_magic):
    """Read a gzip-compressed IDX file, see :func:`_parse_idx`."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a valid gzip file ({exc}).") from exc
    return _parse_idx(data, expected_magic, source=str(path))


def _load_idx_dataset(what, folder, subset, data_home, return_shape):
    """Load one subset of an MNIST-like IDX data set."""
    _check_subset(subset)
    image_path, label_path = _require_files(what, folder, _IDX_FILES[subset], data_home)
    images = _read_idx_gz(image_path, _IDX_IMAGES_MAGIC)
    labels = _read_idx_gz(label_path, _IDX_LABELS_MAGIC)
    n, height, width = images.shape
    if (1, height, width) != MNIST_SHAPE:
        raise ValueError(
            f"{image_path}: images are {height}x{width}, expected "
            f"{MNIST_SHAPE[1]}x{MNIST_SHAPE[2]}."
        )
    if labels.shape != (n,):
        raise ValueError(
            f"{label_path}: {labels.shape[0]} labels for {n} images in {image_path}."
        )
    if n and labels.max() > 9:
        raise ValueError(f"{label_path}: labels must be 0..9, found {labels.max()}.")
    return _return(images.reshape(n, -1), labels, MNIST_SHAPE, return_shape)


def load_mnist(*, subset="train", data_home=None, return_shape=False):
    """Load MNIST from the original IDX ``.gz`` files.

    Reads ``<data_home>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        60000 training or 10000 test images.
    data_home : str or path-like, default=None
        Data home, see :func:`get_data_home`.
    return_shape : bool, default=False
        If True, also return the image shape ``(1, 28, 28)``.

    Returns
    -------
    X : ndarray of shape (n, 784), dtype uint8
        Flattened 28x28 grey images.
    y : ndarray of shape (n,), dtype uint8
        Digit labels 0..9.
    input_shape : tuple of int
        ``(1, 28, 28)``; only if ``return_shape`` is True.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message names it and the data home.
    ValueError
        If ``subset`` is invalid or a file is corrupt (bad gzip stream, bad
        magic number, or sizes not matching the header).
    """
    return _load_idx_dataset("MNIST", "mnist", subset, data_home, return_shape)


def load_fashion_mnist(*, subset="train", data_home=None, return_shape=False):
    """Load Fashion-MNIST from the original IDX ``.gz`` files.

    Reads ``<data_home>/fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        60000 training or 10000 test images.
    data_home : str or path-like, default=None
        Data home, see :func:`get_data_home`.
    return_shape : bool, default=False
        If True, also return the image shape ``(1, 28, 28)``.

    Returns
    -------
    X : ndarray of shape (n, 784), dtype uint8
        Flattened 28x28 grey images.
    y : ndarray of shape (n,), dtype uint8
        Class labels 0..9.
    input_shape : tuple of int
        ``(1, 28, 28)``; only if ``return_shape`` is True.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message names it and the data home.
    ValueError
        If ``subset`` is invalid or a file is corrupt.
    """
    return _load_idx_dataset(
        "Fashion-MNIST", "fashion_mnist", subset, data_home, return_shape
    )


# ---------------------------------------------------------------------------
# image helpers
# ---------------------------------------------------------------------------


def _check_images(X, input_shape):
    """Validate flattened uint8 images; return them as (n, C, H, W)."""
    X = np.asarray(X)
    try:
        shape = tuple(int(s) for s in input_shape)
    except TypeError as exc:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r}.") from exc
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r}.")
    if X.ndim != 2 or X.shape[1] != int(np.prod(shape)):
        raise ValueError(
            f"X must have shape (n, {int(np.prod(shape))}) for input_shape={shape}, "
            f"got {X.shape}."
        )
    if X.dtype != np.uint8:
        if X.size and (
            not np.all(np.isfinite(X)) or X.min() < 0 or X.max() > 255
            or not np.all(np.equal(np.mod(X, 1), 0))
        ):
            raise ValueError("X must hold uint8 pixel values (integers in 0..255).")
        X = X.astype(np.uint8)
    return X.reshape(-1, *shape)


def _pil_filters(image_module):
    """Return Pillow's filter namespace (``Image.Resampling`` from Pillow 9.1)."""
    return getattr(image_module, "Resampling", image_module)


def _resample_filter(old_hw, new_hw, resample):
    """Pick the Pillow filter: BOX when shrinking both sides, else BILINEAR."""
    from PIL import Image

    if resample is not None:
        return resample
    if new_hw[0] < old_hw[0] and new_hw[1] < old_hw[1]:
        return _pil_filters(Image).BOX
    return _pil_filters(Image).BILINEAR


def resize_images(X, input_shape, size, *, resample=None):
    """Resize flattened uint8 images with Pillow.

    Each channel is resized as a Pillow ``"L"`` image (Pillow resizes the
    bands of an RGB image independently, so this gives the same pixels).

    Parameters
    ----------
    X : array-like of shape (n, C * H * W)
        Flattened images, uint8 values, channels first.
    input_shape : tuple of int
        ``(C, H, W)``.
    size : int or tuple of int
        Target side ``size`` (square output) or ``(height, width)``.
    resample : PIL.Image.Resampling, default=None
        Pillow filter. None uses ``BOX`` (area averaging) when both sides
        shrink and ``BILINEAR`` otherwise (upscaling or mixed).

    Returns
    -------
    X_resized : ndarray of shape (n, C * size * size), dtype uint8
        Flattened resized images, shape ``(C, size, size)`` channels first.
    """
    from PIL import Image

    images = _check_images(X, input_shape)
    n, channels, height, width = images.shape
    if np.ndim(size) == 0:
        new_h = new_w = int(size)
    else:
        new_h, new_w = (int(s) for s in size)
    if new_h < 1 or new_w < 1:
        raise ValueError(f"size must be positive, got {size!r}.")
    out = np.empty((n, channels, new_h, new_w), dtype=np.uint8)
    if (new_h, new_w) == (height, width):
        out[...] = images
        return out.reshape(n, -1)
    filt = _resample_filter((height, width), (new_h, new_w), resample)
    for i in range(n):
        for c in range(channels):
            img = Image.fromarray(np.ascontiguousarray(images[i, c]), mode="L")
            out[i, c] = np.asarray(img.resize((new_w, new_h), resample=filt))
    return out.reshape(n, -1)


def to_grey(X, input_shape):
    """Convert flattened RGB images to one grey channel as Pillow's "L" mode.

    Uses the ITU-R 601-2 luma ``L = 0.299 R + 0.587 G + 0.114 B``, rounded,
    computed with Pillow's fixed-point formula
    ``(19595 R + 38470 G + 7471 B + 32768) >> 16`` so that the result is
    identical to ``Image.convert("L")`` (it differs from the exactly rounded
    float formula by 1 for about 0.06 % of all RGB colours).

    Parameters
    ----------
    X : array-like of shape (n, 3 * H * W)
        Flattened RGB images, uint8 values, channels first.
    input_shape : tuple of int
        ``(3, H, W)``.

    Returns
    -------
    X_grey : ndarray of shape (n, H * W), dtype uint8
        Flattened grey images, shape ``(1, H, W)``.
    """
    images = _check_images(X, input_shape)
    if images.shape[1] != 3:
        raise ValueError(f"to_grey needs 3-channel RGB images, got input_shape={input_shape}.")
    rgb = images.astype(np.uint32)
    luma = (19595 * rgb[:, 0] + 38470 * rgb[:, 1] + 7471 * rgb[:, 2] + 0x8000) >> 16
    return luma.astype(np.uint8).reshape(images.shape[0], -1)


def _decode_image(data, source):
    """Decode image bytes with Pillow into an (H, W, 3) uint8 RGB array."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"{source}: cannot decode image ({exc}).") from exc


def _member_parts(name):
    """Split a tar member name into path components, dropping '.' and ''."""
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _open_tar(path):
    """Open a tarball for sequential reading, turning tar errors into ValueError."""
    try:
        return tarfile.open(path, mode="r|*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable tar archive ({exc}).") from exc


# ---------------------------------------------------------------------------
# CIFAR-10 (JPEG tarball)
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _cifar10_cached(file_key, subset):
    """Decode one CIFAR-10 subset; cached by (file, subset). Arrays are read-only."""
    path = file_key[0]
    class_index = {name: i for i, name in enumerate(CIFAR10_CLASSES)}
    found = []  # (label, relative name, bytes)
    try:
        with _open_tar(path) as tf:
            for member in tf:
                if not member.isfile():
                    continue
                parts = _member_parts(member.name)
                if len(parts) < 3 or not parts[-1].lower().endswith(_IMAGE_SUFFIXES):
                    continue
                if parts[-3] != subset:
                    continue
                label = class_index.get(parts[-2])
                if label is None:
                    raise ValueError(
                        f"{path}: unknown CIFAR-10 class folder {parts[-2]!r} "
                        f"in member {member.name!r}."
                    )
                found.append((label, parts[-1], tf.extractfile(member).read()))
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt tar archive ({exc}).") from exc
    if not found:
        raise ValueError(f"{path}: no '{subset}/<class>/*.jpg' images found.")
    found.sort(key=lambda item: (item[0], item[1]))
    X = np.empty((len(found), int(np.prod(CIFAR10_SHAPE))), dtype=np.uint8)
    y = np.empty(len(found), dtype=np.int64)
    for i, (label, name, data) in enumerate(found):
        image = _decode_image(data, f"{path}:{subset}/{CIFAR10_CLASSES[label]}/{name}")
        if image.shape != (32, 32, 3):
            raise ValueError(f"{path}: image {name} has shape {image.shape}, expected 32x32.")
        X[i] = image.transpose(2, 0, 1).ravel()
        y[i] = label
    return _readonly(X), _readonly(y)


def load_cifar10(*, subset="train", data_home=None, return_shape=False):
    """Load CIFAR-10 from the JPEG (quality 75) tarball.

    Reads ``<data_home>/cifar10/CIFAR-10-images_jpeg_q75.tar.gz`` whose members
    are ``[<folder>/]{train,test}/<class>/NNNN.jpg``. The images are decoded
    with Pillow (``convert("RGB")``) and ordered by class, then by file name,
    so the order is deterministic. Labels are the index of the class folder in
    :data:`CIFAR10_CLASSES` (the standard CIFAR-10 order).

    Decoding is slow (about 10 s for the 60000 images), so the decoded arrays
    are cached in memory (``functools.lru_cache`` keyed by the file path, size
    and modification time, and the subset); each call returns fresh copies.

    Note that these are JPEG-compressed pixels, not the original CIFAR-10 ones:
    bits/dim are not comparable with published CIFAR-10 figures.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        50000 training or 10000 test images.
    data_home : str or path-like, default=None
        Data home, see :func:`get_data_home`.
    return_shape : bool, default=False
        If True, also return the image shape ``(3, 32, 32)``.

    Returns
    -------
    X : ndarray of shape (n, 3072), dtype uint8
        Flattened images in channels-first ``(3, 32, 32)`` order.
    y : ndarray of shape (n,), dtype int64
        Class labels 0..9.
    input_shape : tuple of int
        ``(3, 32, 32)``; only if ``return_shape`` is True.

    Raises
    ------
    FileNotFoundError
        If the tarball is missing; the message names it and the data home.
    ValueError
        If ``subset`` is invalid or the tarball is corrupt.
    """
    _check_subset(subset)
    (path,) = _require_files("CIFAR-10", _CIFAR10_DIR, [_CIFAR10_TARBALL], data_home)
    X, y = _cifar10_cached(_file_key(path), subset)
    return _return(X.copy(), y.copy(), CIFAR10_SHAPE, return_shape)


# ---------------------------------------------------------------------------
# Tiny ImageNet validation split
# ---------------------------------------------------------------------------


def _tiny_sort_key(name):
    """Sort 'val_<k>.JPEG' numerically by k, other names after, by name."""
    match = re.fullmatch(r"val_(\d+)\.jpe?g", name, flags=re.IGNORECASE)
    return (0, int(match.group(1)), name) if match else (1, 0, name)


@functools.lru_cache(maxsize=2)
def _tiny_imagenet_cached(file_key):
    """Decode the 64x64 RGB Tiny ImageNet val images; cached, read-only arrays."""
    path = file_key[0]
    images, annotations, wnids = {}, None, None
    try:
        with _open_tar(path) as tf:
            for member in tf:
                if not member.isfile():
                    continue
                parts = _member_parts(member.name)
                if not parts:
                    continue
                if parts[-1] == "wnids.txt" and "val" not in parts[:-1]:
                    wnids = tf.extractfile(member).read().decode("utf-8")
                elif parts[-2:] == ["val", "val_annotations.txt"]:
                    annotations = tf.extractfile(member).read().decode("utf-8")
                elif (
                    len(parts) >= 3
                    and parts[-3:-1] == ["val", "images"]
                    and parts[-1].lower().endswith(_IMAGE_SUFFIXES)
                ):
                    images[parts[-1]] = tf.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt tar archive ({exc}).") from exc
    if wnids is None or annotations is None or not images:
        raise ValueError(
            f"{path}: expected 'wnids.txt', 'val/val_annotations.txt' and "
            "'val/images/*.JPEG' in the archive."
        )
    wnid_index = {w: i for i, w in enumerate(wnids.split())}
    image_wnid = {}
    for line in annotations.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            image_wnid[fields[0]] = fields[1]
    names = sorted(images, key=_tiny_sort_key)
    n = len(names)
    X = np.empty((n, 3 * _TINY_SIZE * _TINY_SIZE), dtype=np.uint8)
    y = np.empty(n, dtype=np.int64)
    for i, name in enumerate(names):
        wnid = image_wnid.get(name)
        if wnid not in wnid_index:
            raise ValueError(
                f"{path}: image {name} has no valid class in val_annotations.txt "
                f"(got {wnid!r})."
            )
        image = _decode_image(images[name], f"{path}:val/images/{name}")
        if image.shape != (_TINY_SIZE, _TINY_SIZE, 3):
            raise ValueError(f"{path}: image {name} has shape {image.shape}, expected 64x64.")
        X[i] = image.transpose(2, 0, 1).ravel()
        y[i] = wnid_index[wnid]
    return _readonly(X), _readonly(y)


def load_tiny_imagenet_val(*, size=64, grey=False, data_home=None, return_shape=False):
    """Load the 10000 Tiny ImageNet validation images.

    Reads ``<data_home>/tiny_imagenet_val/tiny-imagenet-200_val.tar.gz``
    (``val/images/*.JPEG``, ``val/val_annotations.txt``, ``wnids.txt``).
    Images are decoded with Pillow and converted to RGB (168 of them are
    stored grey), ordered by their number (``val_0``, ``val_1``, ...), then
    resized with :func:`resize_images` (``BOX`` filter when shrinking,
    ``BILINEAR`` when enlarging) and, if ``grey``, converted to one channel
    with :func:`to_grey` (Pillow's ``"L"`` luma) *after* resizing. The decoded
    64x64 RGB images are cached in memory; each call returns fresh arrays.

    Typical uses: ``size=32`` as an OOD set for CIFAR-10, and ``size=28,
    grey=True`` as a "general distribution" for MNIST-like data.

    Parameters
    ----------
    size : int, default=64
        Side of the returned square images.
    grey : bool, default=False
        If True, return one grey channel instead of RGB.
    data_home : str or path-like, default=None
        Data home, see :func:`get_data_home`.
    return_shape : bool, default=False
        If True, also return the image shape ``(C, size, size)``.

    Returns
    -------
    X : ndarray of shape (10000, C * size * size), dtype uint8
        Flattened images, channels first, ``C`` = 1 if ``grey`` else 3.
    y : ndarray of shape (10000,), dtype int64
        Class index 0..199: position of the image's wnid in ``wnids.txt``.
    input_shape : tuple of int
        ``(C, size, size)``; only if ``return_shape`` is True.

    Raises
    ------
    FileNotFoundError
        If the tarball is missing; the message names it and the data home.
    ValueError
        If ``size`` is invalid or the tarball is corrupt.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}.")
    size = int(size)
    (path,) = _require_files("Tiny ImageNet val", _TINY_DIR, [_TINY_TARBALL], data_home)
    X, y = _tiny_imagenet_cached(_file_key(path))
    shape = (3, _TINY_SIZE, _TINY_SIZE)
    X = resize_images(X, shape, size) if size != _TINY_SIZE else X.copy()
    shape = (3, size, size)
    if grey:
        X = to_grey(X, shape)
        shape = (1, size, size)
    return _return(X, y.copy(), shape, return_shape)


# ---------------------------------------------------------------------------
# ADBench
# ---------------------------------------------------------------------------


def _adbench_sort_key(stem):
    """Sort ADBench stems by their numeric prefix, then by name."""
    match = re.match(r"(\d+)_", stem)
    return (int(match.group(1)) if match else float("inf"), stem.lower())


def _strip_number(stem):
    """'6_cardio' -> 'cardio'; names without a numeric prefix are unchanged."""
    return re.sub(r"^\d+_", "", stem)


def list_adbench(data_home=None):
    """List the ADBench data sets in ``<data_home>/adbench``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data home, see :func:`get_data_home`.

    Returns
    -------
    names : list of str
        File stems such as ``"6_cardio"``, sorted by their ADBench number.
        Any of them, with or without the number prefix, can be passed to
        :func:`load_adbench`.

    Raises
    ------
    FileNotFoundError
        If the ``adbench`` folder does not exist.
    """
    home, source = _data_home_with_source(data_home)
    folder = home / ADBENCH_DIR
    if not folder.is_dir():
        raise _missing_files_error("ADBench", [folder / "*.npz"], home, source)
    stems = [p.stem for p in folder.glob("*.npz") if p.is_file()]
    return sorted(stems, key=_adbench_sort_key)


def load_adbench(name, *, data_home=None):
    """Load one ADBench tabular anomaly-detection data set.

    Reads ``<data_home>/adbench/<name>.npz`` with arrays ``X`` and ``y``.
    ``name`` may be given with or without ``.npz`` and with or without the
    ADBench number prefix, case-insensitively: ``"cardio"``, ``"6_cardio"``
    and ``"6_cardio.npz"`` all load ``6_cardio.npz``.

    The labels follow the ADBench / PyOD convention, **1 = anomaly, 0 =
    normal**. skood's metrics expect scikit-learn's outlier convention
    (+1 inlier, -1 outlier); convert with ``skood.metrics.from_pyod(scores, y)`` or pass ``outlier_label=1`` to the metrics.

    Parameters
    ----------
    name : str
        Data set name, see :func:`list_adbench`.
    data_home : str or path-like, default=None
        Data home, see :func:`get_data_home`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        Features, unscaled, exactly as stored.
    y : ndarray of shape (n_samples,), dtype int64
        1 for anomalies, 0 for normal samples.

    Raises
    ------
    FileNotFoundError
        If no file matches; the message names the expected path, the data home
        and the available names.
    ValueError
        If the name is ambiguous or the file does not hold valid ``X``/``y``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}.")
    stem = name.strip()
    if stem.lower().endswith(".npz"):
        stem = stem[:-4]
    home, source = _data_home_with_source(data_home)
    folder = home / ADBENCH_DIR
    path = folder / f"{stem}.npz"
    if not path.is_file():
        available = list_adbench(data_home=home) if folder.is_dir() else []
        matches = [s for s in available if s.lower() == stem.lower()]
        if not matches:
            wanted = _strip_number(stem).lower()
            matches = [s for s in available if _strip_number(s).lower() == wanted]
        if len(matches) > 1:
            raise ValueError(f"ADBench name {name!r} is ambiguous: matches {matches}.")
        if not matches:
            err = _missing_files_error("ADBench", [path], home, source)
            if available:
                err.args = (err.args[0] + f" Available: {', '.join(available)}.",)
            raise err
        path = folder / f"{matches[0]}.npz"
    with np.load(path, allow_pickle=False) as data:
        if "X" not in data.files or "y" not in data.files:
            raise ValueError(f"{path}: expected arrays 'X' and 'y', found {data.files}.")
        X = np.asarray(data["X"], dtype=np.float64)
        y_raw = np.asarray(data["y"])
    if X.ndim != 2 or y_raw.ndim != 1 or X.shape[0] != y_raw.shape[0]:
        raise ValueError(
            f"{path}: X must be 2-D and y 1-D of the same length, got X {X.shape}, "
            f"y {y_raw.shape}."
        )
    if not np.all(np.isin(y_raw, (0, 1))):
        raise ValueError(f"{path}: y must hold 0 (normal) and 1 (anomaly) only.")
    return X, y_raw.astype(np.int64)
