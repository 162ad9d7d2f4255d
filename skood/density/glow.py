"""Multi-scale Glow density estimator for images."""

import warnings
from numbers import Integral, Real

import numpy as np

from ..flows import Glow
from ..utils._sklearn_compat import Interval, StrOptions
from ._base import BaseFlowDensity, bits_per_dim


def standardization_params(X):
    """``module__mean`` / ``module__scale`` that standardise each feature of ``X``."""
    if X.ndim == 2 and X.shape[1] > 1 and X.flags.c_contiguous and not X.flags.f_contiguous:
        mean, scale = _row_block_moments(X)
    else:
        mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale < 1e-8] = 1.0
    return {"mean": mean, "scale": scale}


def _row_block_moments(X, block_rows=None):
    """``X.mean(axis=0)`` and ``X.std(axis=0)`` of a C-ordered array, read in blocks of rows.

    The same numbers, bit for bit: NumPy sums a C-ordered array over its rows one
    row after the other, and each block continues that sum (the running sum is the
    block's first row), so a memory-mapped training set is never copied whole
    (``X.std`` allocates a full-size temporary).
    """
    n = X.shape[0]
    work = np.result_type(X.dtype, np.float16) if X.dtype.kind == "f" else np.float64
    if block_rows is None:  # blocks of about 512 KiB
        block_rows = max(1, 2**19 // (X.shape[1] * np.dtype(work).itemsize))

    def column_sums(blocks):
        acc = None
        for block in blocks:
            acc = np.add.reduce(block if acc is None else np.vstack([acc[None], block]), axis=0)
        return acc

    rows = [slice(i, i + block_rows) for i in range(0, n, block_rows)]
    mean = column_sums(np.asarray(X[r], dtype=work) for r in rows) / n

    def squares():
        for r in rows:
            d = np.asarray(X[r], dtype=work) - mean
            d *= d
            yield d

    return mean, np.sqrt(column_sums(squares()) / n)


class GlowDensity(BaseFlowDensity):
    """Multi-scale Glow density estimator on flattened images.

    Images come flattened to ``(n_samples, C*H*W)`` (channels first, as
    ``X.reshape(n, C, H, W)``) with their shape in ``input_shape``. Pixels are
    dequantized with uniform noise in training and taken at the bin centre when
    scoring, so scores are deterministic. Log-likelihoods are in nats on
    ``[-0.5, 0.5)^D`` with bins of width 1/256; :meth:`bits_per_dim` converts.

    Parameters
    ----------
    input_shape : tuple of int (C, H, W) or None, default=None
        Image shape. ``None`` treats each sample as a ``(n_features, 1, 1)`` image,
        i.e. a dense Glow on vectors (mostly useful with ``pixel_scale="continuous"``).
    n_levels : int, default=2
        Number of scales. ``H`` and ``W`` must be divisible by ``2 ** n_levels``.
    n_steps : int, default=4
        Flow steps (ActNorm, 1x1 conv, affine coupling) per level.
    hidden_channels : int, default=64
        Width of the coupling networks.
    split_prior : {"conditional", "diagonal"}, default="conditional"
        Prior of factored-out latents: Glow's learned conditional Gaussian, or an
        unconditional per-dimension Gaussian as in Schirrmeister et al.'s code.
    pixel_scale : {"auto", "uint8", "unit", "continuous"}, default="auto"
        ``"uint8"``: pixels in [0, 255]; ``"unit"``: pixels in [0, 1];
        ``"auto"``: ``"uint8"`` if the training maximum exceeds 1, else ``"unit"``;
        ``"continuous"``: not pixels, standardise per feature and add the
        log-Jacobian (no dequantization).
    logit_alpha : float in (0, 0.5) or None, default=None
        ``None``: the flow models the dequantized pixels ``x`` in [-0.5, 0.5)
        directly. A float enables a logit layer after dequantization,
        ``y = logit(alpha + (1 - 2 alpha) * (x + 0.5))`` (RealNVP; Kamkari et al.
        use ``alpha = 0.05``), whose log-determinant is included, so
        log-likelihoods and bits/dim keep their units. Local intrinsic dimension
        (:mod:`skood.lid`) then differentiates through the logit's inverse (a
        sigmoid), which flattens the generator at saturated pixels, as in the
        paper. Pixel data only.
    max_epochs : int, default=20
    batch_size : int, default=64
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
    max_grad_norm : float or None, default=50.0
        Gradient-norm clipping; steps with non-finite gradients are skipped.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` and stop after ``n_iter_no_change`` epochs
        without improvement of the validation loss, restoring the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    init_from : fitted density estimator or None, default=None
        Start training from this model's weights instead of a fresh initialisation
        (fine-tuning; Schirrmeister et al. fine-tune from a general model). It must
        have the same architecture; wrap it in :class:`sklearn.frozen.FrozenEstimator`
        so that :func:`sklearn.base.clone` keeps it fitted.
    auxiliary_loss : callable or None, default=None
        ``auxiliary_loss(module, n_rows) -> scalar tensor``, added to the training
        loss of every batch (e.g.
        :class:`~skood.detectors.likelihood_ratio.OutlierLoss`).
    device : str, default="cpu"
        Torch device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, or ``"auto"``
        (a GPU when one is available, else the CPU); an unavailable device is refused
        when fitting. A fitted model moves with :meth:`to`; pickled, it loads on the
        CPU where CUDA is missing.
    dtype : {"float32", "float64"}, default="float32"
    checkpoint_dir : str, path-like or None, default=None
        Directory for a checkpoint of the training state (weights, optimizer,
        epoch, random generator), written after every completed epoch. A ``fit``
        that crashed or was interrupted resumes from the last completed epoch
        when ``fit`` is called again with the same parameters, data and
        ``random_state``, and gives the same model as an uninterrupted fit. The
        checkpoint is deleted when ``fit`` completes.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and dequantization noise through a local
        generator; the global torch RNG is left untouched.
    verbose : int, default=0
        Print a progress bar and a table per epoch.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the torch module.
    pixel_scale_ : str
        Resolved pixel scale.
    pixel_range_ : tuple of float
        ``(min, max)`` of the training data; scoring warns when images of a model
        of [0, 255] pixels look rescaled to [0, 1].
    input_shape_ : tuple of int
    latent_shapes_ : list of tuple
        Shape ``(C_l, H_l, W_l)`` of each scale's latents, finest first.
    n_features_in_ : int
    n_iter_ : int
        Epochs run.
    history_ : skorch.History
        Per-epoch losses (nats/dim) and skipped steps.

    Examples
    --------
    >>> from skood.datasets import load_digits_images
    >>> from skood.density import GlowDensity
    >>> X, _ = load_digits_images()
    >>> glow = GlowDensity(input_shape=(1, 8, 8), max_epochs=1, random_state=0).fit(X)
    >>> glow.score_samples(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BaseFlowDensity._parameter_constraints,
        "input_shape": [tuple, list, None],
        "n_levels": [Interval(Integral, 1, None, closed="left")],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "hidden_channels": [Interval(Integral, 1, None, closed="left")],
        "split_prior": [StrOptions({"conditional", "diagonal"})],
        "pixel_scale": [StrOptions({"auto", "uint8", "unit", "continuous"})],
        "logit_alpha": [Interval(Real, 0, 0.5, closed="neither"), None],
    }

    def __init__(
        self,
        input_shape=None,
        *,
        n_levels=2,
        n_steps=4,
        hidden_channels=64,
        split_prior="conditional",
        pixel_scale="auto",
        logit_alpha=None,
        max_epochs=20,
        batch_size=64,
        lr=1e-3,
        weight_decay=0.0,
        max_grad_norm=50.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        init_from=None,
        auxiliary_loss=None,
        device="cpu",
        dtype="float32",
        checkpoint_dir=None,
        random_state=None,
        verbose=0,
    ):
        self.input_shape = input_shape
        self.n_levels = n_levels
        self.n_steps = n_steps
        self.hidden_channels = hidden_channels
        self.split_prior = split_prior
        self.pixel_scale = pixel_scale
        self.logit_alpha = logit_alpha
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.init_from = init_from
        self.auxiliary_loss = auxiliary_loss
        self.device = device
        self.dtype = dtype
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.verbose = verbose

    def _resolve_data(self, X):
        self.input_shape_ = _resolve_input_shape(self.input_shape, X.shape[1])
        scale, self.pixel_range_ = resolve_pixel_scale(self.pixel_scale, X)
        self.pixel_scale_ = scale
        if scale == "continuous" and self.logit_alpha is not None:
            raise ValueError(
                "logit_alpha needs pixel data; this model has pixel_scale='continuous'."
            )

    def _check_values(self, X):
        check_pixel_values(self.pixel_scale_, X)

    def _check_scale(self, X):
        # A model of [0, 255] pixels scores [0, 1] images as very dark images, and
        # dark images as *more* likely: warn when the input looks rescaled.
        trained_hi = getattr(self, "pixel_range_", (0.0, 255.0))[1]
        if self.pixel_scale_ != "uint8" or trained_hi <= _AMBIGUOUS_MAX or X.size == 0:
            return
        if X.dtype.kind == "f" and float(X.max()) <= 1.0 and np.any(X != np.round(X)):
            warnings.warn(
                f"X lies in [0, 1] with fractional values, but this flow was trained on "
                f"pixels in [0, {trained_hi:g}] (pixel_scale='uint8'): the images look "
                "rescaled, and would score as very dark images. Pass X * 255.",
                UserWarning,
            )

    def _module_params(self, X):
        flow_params = dict(
            input_shape=self.input_shape_,
            n_levels=self.n_levels,
            n_steps=self.n_steps,
            hidden_channels=self.hidden_channels,
            split_prior=self.split_prior,
        )
        if self.pixel_scale_ == "continuous":
            return dict(flow_class=Glow, flow_params=flow_params, **standardization_params(X))
        return dict(flow_class=Glow, flow_params=flow_params, logit_alpha=self.logit_alpha,
                    pixel_max=255.0 if self.pixel_scale_ == "uint8" else 1.0)

    def bits_per_dim(self, X):
        """Bits per dimension of each image (``pixel_scale`` other than ``"continuous"``)."""
        if self.pixel_scale_ == "continuous":
            raise ValueError("bits_per_dim needs pixel data; this model has pixel_scale='continuous'.")
        return bits_per_dim(self.score_samples(X), self.n_features_in_)


#: Training maxima in (1, _AMBIGUOUS_MAX] are ambiguous between [0, 1] data and
#: [0, 255] pixels.
_AMBIGUOUS_MAX = 2.0


def resolve_pixel_scale(pixel_scale, X):
    """The pixel scale of training data ``X`` and its range: ``(scale, (min, max))``.

    ``"auto"`` reads a maximum above 1 as [0, 255] pixels, else [0, 1], and warns
    where the two are ambiguous (a maximum in (1, 2]).
    """
    lo_x, hi_x = float(X.min()), float(X.max())
    scale = pixel_scale
    if scale == "auto":
        scale = "uint8" if hi_x > 1.0 else "unit"
        if 1.0 < hi_x <= _AMBIGUOUS_MAX:
            warnings.warn(
                f"pixel_scale='auto' read the training maximum {hi_x:g} as pixels in "
                "[0, 255]; data in [0, 1] that overshoot slightly look the same. Pass "
                "pixel_scale='uint8' or 'unit' (after clipping) to say which.",
                UserWarning,
            )
    return scale, (lo_x, hi_x)


def check_pixel_values(pixel_scale, X):
    """Refuse pixels outside the model's range (nothing to check for continuous data)."""
    if pixel_scale == "continuous":
        return
    hi = 255.0 if pixel_scale == "uint8" else 1.0
    lo_x, hi_x = float(X.min()), float(X.max())
    if lo_x < 0 or hi_x > hi:
        raise ValueError(
            f"Pixel values must lie in [0, {hi:g}] (pixel_scale={pixel_scale!r}); "
            f"got values in [{lo_x:g}, {hi_x:g}]. Rescale the images, or use "
            "pixel_scale='continuous' for data that are not pixels."
        )


def _resolve_input_shape(input_shape, n_features):
    if input_shape is None:
        return (n_features, 1, 1)
    if any(isinstance(s, (bool, np.bool_)) or not isinstance(s, Integral) for s in input_shape):
        raise ValueError(
            f"input_shape must be (C, H, W) with integer sizes; got {input_shape!r}."
        )
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) with positive sizes; got {input_shape!r}.")
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"input_shape={shape} holds {int(np.prod(shape))} values but X has {n_features} "
            "features. Flatten images as X.reshape(n, C*H*W) with channels first."
        )
    return shape
