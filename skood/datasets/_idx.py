"""MNIST and Fashion-MNIST from the original IDX ``.gz`` files."""

from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np

from ._home import _check_subset, _require_files, _return

#: Image shape ``(C, H, W)`` of :func:`load_mnist` and :func:`load_fashion_mnist`.
MNIST_SHAPE = (1, 28, 28)

_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


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

    Examples
    --------
    Needs the IDX files in the data home (nothing is downloaded):

    >>> from skood.datasets import load_mnist
    >>> X, y, input_shape = load_mnist(subset="test", return_shape=True)  # doctest: +SKIP
    >>> X.shape, X.dtype, input_shape  # doctest: +SKIP
    ((10000, 784), dtype('uint8'), (1, 28, 28))
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

    Examples
    --------
    Needs the IDX files in the data home (nothing is downloaded):

    >>> from skood.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(subset="test")  # doctest: +SKIP
    >>> X.shape, y.max()  # doctest: +SKIP
    ((10000, 784), np.uint8(9))
    """
    return _load_idx_dataset(
        "Fashion-MNIST", "fashion_mnist", subset, data_home, return_shape
    )
