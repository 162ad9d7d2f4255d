"""CIFAR-10 and Tiny ImageNet tarballs, and the image helpers resize_images and to_grey."""

from __future__ import annotations

import functools
import io
import re
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ._home import _check_subset, _require_files, _return

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

_CIFAR10_DIR = "cifar10"
_CIFAR10_TARBALL = "CIFAR-10-images_jpeg_q75.tar.gz"
_TINY_DIR = "tiny_imagenet_val"
_TINY_TARBALL = "tiny-imagenet-200_val.tar.gz"
_TINY_SIZE = 64
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _file_key(path):
    """Cache key of a file: its resolved path, size and modification time."""
    path = Path(path).resolve()
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _readonly(array):
    """Mark ``array`` read-only (for arrays kept in a cache) and return it."""
    array.setflags(write=False)
    return array



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

    Examples
    --------
    >>> from skood.datasets import load_digits_images, resize_images
    >>> X, _ = load_digits_images()
    >>> X4 = resize_images(X[:2], (1, 8, 8), 4)  # 8x8 -> 4x4, 2x2 box averages
    >>> X4.shape, X4.dtype
    ((2, 16), dtype('uint8'))
    >>> X4[0].reshape(4, 4)
    array([[  0, 184, 140,  20],
           [ 28, 116,  76,  64],
           [ 36,  76,  88,  60],
           [  8, 152, 128,   0]], dtype=uint8)
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

    Examples
    --------
    One 2x2 RGB image, channels first: red, green, blue and black pixels.

    >>> import numpy as np
    >>> from skood.datasets import to_grey
    >>> X = np.array([[255, 0, 0, 0,    # R channel
    ...                0, 255, 0, 0,    # G channel
    ...                0, 0, 255, 0]],  # B channel
    ...              dtype=np.uint8)
    >>> to_grey(X, (3, 2, 2))
    array([[ 76, 150,  29,   0]], dtype=uint8)
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

    Examples
    --------
    Needs the tarball in the data home (nothing is downloaded):

    >>> from skood.datasets import CIFAR10_CLASSES, load_cifar10
    >>> X, y, input_shape = load_cifar10(subset="test", return_shape=True)  # doctest: +SKIP
    >>> X.shape, input_shape  # doctest: +SKIP
    ((10000, 3072), (3, 32, 32))
    >>> CIFAR10_CLASSES[y[0]]  # doctest: +SKIP
    'airplane'
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

    Examples
    --------
    Needs the tarball in the data home (nothing is downloaded):

    >>> from skood.datasets import load_tiny_imagenet_val
    >>> X, y, input_shape = load_tiny_imagenet_val(
    ...     size=28, grey=True, return_shape=True)  # doctest: +SKIP
    >>> X.shape, input_shape  # doctest: +SKIP
    ((10000, 784), (1, 28, 28))
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
