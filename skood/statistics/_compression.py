"""Lossless compressed length of images: a universal reference model (Serrà et al., 2020)."""

import io

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from PIL import Image

_CODECS = ("png", "webp", "jpeg2000")


def _encode(img, codec):
    buf = io.BytesIO()
    if codec == "png":
        img.save(buf, format="PNG", compress_level=9)
    elif codec == "webp":
        img.save(buf, format="WEBP", lossless=True, quality=100, method=6)
    elif codec == "jpeg2000":
        img.save(buf, format="JPEG2000", irreversible=False)
    return 8 * buf.tell()


def compressed_bits(images, input_shape, codec="png", *, n_jobs=None):
    """Losslessly compressed length, in bits, of each 8-bit image.

    Parameters
    ----------
    images : ndarray of shape (n_samples, C*H*W)
        Integer pixels in [0, 255], channels first.
    input_shape : tuple (C, H, W)
        One or three channels are saved as grey / RGB images; any other channel
        count is saved as a grey image of the channel planes stacked vertically.
    codec : {"png", "webp", "jpeg2000", "min"}, default="png"
        PNG at compression level 9, lossless WebP, lossless JPEG 2000, or the
        smallest of the three for each image (Serrà et al.'s "ensemble" idea).
    n_jobs : int or None, default=None
        Threads compressing in parallel (Pillow's encoders release the GIL);
        ``None`` means 1 unless in a :func:`joblib.parallel_config` context,
        ``-1`` all cores.

    Returns
    -------
    bits : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skood.statistics import compressed_bits
    >>> flat = np.zeros((1, 64), dtype=np.uint8)
    >>> noise = np.random.RandomState(0).randint(0, 256, size=(1, 64))
    >>> bool(compressed_bits(flat, (1, 8, 8))[0] < compressed_bits(noise, (1, 8, 8))[0])
    True
    """
    codecs = _CODECS if codec == "min" else (codec,)
    if any(c not in _CODECS for c in codecs):
        raise ValueError(f"codec must be one of {_CODECS + ('min',)}; got {codec!r}.")
    c, h, w = input_shape
    images = np.clip(np.round(np.asarray(images)), 0, 255).astype(np.uint8)

    def chunk_bits(rows):
        out = np.empty(len(rows))
        for i, flat in enumerate(rows):
            x = flat.reshape(c, h, w)
            if c == 3:
                img = Image.fromarray(np.ascontiguousarray(x.transpose(1, 2, 0)), mode="RGB")
            else:
                img = Image.fromarray(x.reshape(c * h, w), mode="L")
            out[i] = min(_encode(img, k) for k in codecs)
        return out

    n_chunks = max(1, min(len(images) // 64, 8 * effective_n_jobs(n_jobs)))
    parts = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(chunk_bits)(rows) for rows in np.array_split(images, n_chunks)
    )
    return np.concatenate(parts) if parts else np.empty(0)


def model_pixel_bits_per_dim(model, X, codec, *, n_jobs=None):
    """Compressed length in bits per dimension of inputs ``X`` of a fitted pixel model.

    ``model`` has ``pixel_scale_`` (``"uint8"`` or ``"unit"``) and ``input_shape_``;
    [0, 1] pixels are put back on [0, 255] before compressing.
    """
    pixels = X if model.pixel_scale_ == "uint8" else np.asarray(X) * 255.0
    return compressed_bits(pixels, model.input_shape_, codec, n_jobs=n_jobs) / X.shape[1]
