"""Diffusion density estimator: a VP-SDE with an epsilon-prediction network."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import GradientNormClipping, LRScheduler, ProgressBar

from ..diffusion import (
    VPSDE,
    DiffusionModule,
    DiffusionOutput,
    ddim_path_statistics,
    flipd,
    knee_time,
    probability_flow_log_prob,
    rademacher_probes,
    sample_ddim,
    sample_ode,
    score_norms,
)
from ..exceptions import TrainingDivergedError
from ..utils._device import check_device
from ..utils._sklearn_compat import Interval, StrOptions, _fit_context, get_chunk_n_rows
from ._base import TorchModelMixin, check_flat, check_representable, discard_fitted
from ._diffusion_net import EMA, DiffusionNet, MeanLoss, WarmupCosine
from ._net import SkipNonFiniteSteps
from .glow import (
    _resolve_input_shape,
    check_pixel_values,
    resolve_pixel_scale,
    standardization_params,
)

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: ``trace="auto"``: the exact trace up to this many features, Hutchinson beyond.
AUTO_EXACT_TRACE_MAX_FEATURES = 64
#: ``flipd_t0="knee"``: the grid of ``t0`` and the training rows it is calibrated on.
KNEE_GRID = tuple(float(t) for t in np.geomspace(1e-4, 1.0, 21)[:-1])
KNEE_BUFFER = 128
_STATISTICS = ("log_prob", "flipd", "score_norms", "path")


def _to_numpy(t):
    return t.detach().to("cpu", torch.float64).numpy()


def is_diffusion(model):
    """Whether ``model`` (or the estimator a ``FrozenEstimator`` wraps) is a diffusion
    density, read through :meth:`DiffusionDensity.diffusion_statistics`."""
    return hasattr(model, "diffusion_statistics")


class DiffusionDensity(TorchModelMixin, DensityMixin, BaseEstimator):
    """Diffusion-model density estimator (VP-SDE, epsilon-prediction MLP or U-Net).

    A variance-preserving diffusion (``beta(t)`` linear from ``beta_min`` to
    ``beta_max`` on ``t in [0, 1]``) with a network ``eps(y, t)`` trained by
    denoising score matching, through skorch: AdamW with a linear warm-up and
    cosine decay of the learning rate per step, gradient clipping, and an
    exponential moving average (EMA) of the weights, which becomes the model
    when training ends. The default network is an MLP with skip connections
    and a sinusoidal time embedding (:class:`~skood.diffusion.EpsMLP`), for
    flattened images and tabular data; ``network="unet"`` is a small
    convolutional U-Net for images (:class:`~skood.diffusion.EpsUNet`), which
    shares weights across positions but costs far more per evaluation (on one
    CPU thread about 20x the default MLP on 28x28 images).

    Pixels are treated as :class:`GlowDensity` treats them: dequantized with
    uniform noise in training, taken at the bin centre when scoring, and modelled
    in ``[-1, 1)``; log-likelihoods are densities on ``[-0.5, 0.5)^D`` with bins
    of width 1/256 (the ``D log 2`` of the rescaling is added), so they are in
    the same units as a Glow's and :func:`~skood.density.bits_per_dim` applies.
    Continuous features are standardised and the log-Jacobian is added.

    What the model gives (one network evaluation = one forward pass; a
    backward pass costs about two):

    - :meth:`score_samples`: the probability-flow ODE log-likelihood, ``ode_steps``
      Euler steps from ``t_min`` to 1 (uniform in log-SNR) with the divergence's trace exact or by
      Hutchinson with ``ode_probes`` Rademacher probes:
      ``ode_steps * (1 + 2 P)`` evaluations per input (``P = D`` exact);
    - :meth:`flipd`: FLIPD local intrinsic dimension at ``flipd_t0``,
      ``1 + 2 P`` evaluations;
    - :meth:`score_norms`: multiscale score norms at ``n_score_levels`` noise
      levels, that many evaluations;
    - :meth:`path_statistics`: rate and curvature of a ``path_steps``-step DDIM
      path, ``path_steps + 1`` evaluations;
    - :meth:`diffusion_statistics`: any of these from one validated pass, the
      gateway detectors read (:class:`~skood.diffusion.DiffusionOutput`);
    - :meth:`sample`: DDIM or probability-flow ODE sampling.

    Hutchinson probes are drawn once per fit (from ``random_state``) and shared
    by all inputs, so scores are deterministic and do not depend on which other
    rows are scored with them.

    Parameters
    ----------
    input_shape : tuple of int (C, H, W) or None, default=None
        Image shape (the MLP sees flat vectors; the U-Net needs it). ``None``:
        ``(n_features, 1, 1)``.
    network : {"mlp", "unet"}, default="mlp"
        The epsilon network: the MLP (``hidden_units``) or the convolutional
        U-Net (``channels``; needs ``input_shape`` with height and width
        divisible by ``2 ** (len(channels) - 1)``).
    hidden_units : tuple of int, default=(512, 256, 128)
        Widths of the MLP's down blocks (mirrored on the way up, with skips).
    channels : tuple of int, default=(32, 64, 64)
        Channels per resolution of the U-Net, halving the resolution between
        entries.
    time_embedding_dim : int, default=128
    pixel_scale : {"auto", "uint8", "unit", "continuous"}, default="auto"
        As :class:`GlowDensity`: pixels in [0, 255], in [0, 1], chosen from the
        training maximum, or continuous (standardised) features.
    beta_min, beta_max : float, default=0.1, 20.0
        The linear noise schedule.
    max_epochs : int, default=20
    batch_size : int, default=128
    lr : float, default=1e-3
        Peak AdamW learning rate.
    weight_decay : float, default=0.0
    warmup_fraction : float in [0, 1), default=0.05
        Share of the training steps with a linear warm-up; cosine decay after.
    ema_decay : float in (0, 1) or None, default=0.999
        Decay of the weights' moving average (``None``: no averaging).
    max_grad_norm : float or None, default=1.0
        Gradient-norm clipping; steps with non-finite gradients are skipped.
    t_min : float, default=1e-3
        Start of the probability-flow ODE and end of sampling: likelihoods are
        of the data smoothed by noise of about ``sigma(t_min)`` (0.01 in the
        ``[-1, 1]`` model space for the default schedule, a little more than
        one 8-bit bin).
    ode_steps : int, default=25
        Euler steps of the likelihood ODE.
    ode_grid : {"log_snr", "uniform"}, default="log_snr"
        Where the steps are: uniform in the log signal-to-noise ratio (every
        step the same factor of noise, small steps near ``t_min`` where the ODE
        changes fastest), or uniform in ``t`` (too coarse near ``t_min`` for
        sharp models: a convolutional model of 28x28 images gave -5.3 bits/dim
        at 25 steps, against 2.7 on the log-SNR grid); see
        :func:`~skood.diffusion.ode_times`.
    ode_probes : int, default=1
        Hutchinson probes of the likelihood's divergence.
    trace : {"auto", "exact", "hutchinson"}, default="auto"
        Traces of ``d eps / d y`` (likelihood and FLIPD): ``"exact"`` (``D``
        backward products), ``"hutchinson"`` (Rademacher probes), ``"auto"``:
        exact up to 64 features.
    flipd_t0 : "knee" or float in (0, 1), default="knee"
        Time at which FLIPD is read. ``"knee"`` calibrates it on up to 128
        training rows in ``fit``: the knee of their mean FLIPD over a grid of
        20 values of ``t0`` from 1e-4 to 0.63 (log-spaced), found as the point
        farthest below the chord of the curve (a reconstruction: the FLIPD
        paper picks the knee by eye). A float fixes it.
    flipd_probes : int, default=1
        Hutchinson probes of FLIPD's trace.
    n_score_levels : int, default=10
        Noise levels of the score norms.
    score_noise_range : tuple of float, default=(0.02, 2.0)
        Smallest and largest noise-to-signal ratio ``sigma(t) / alpha(t)`` of
        the score norms (log-spaced), in the model space: on pixels (``[-1, 1]``)
        the default is MSMA's 0.01 to 1 on ``[0, 1]`` pixels.
    path_steps : int, default=10
        DDIM steps of the path statistics.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"`` (a GPU when one
        is available, else the CPU); an unknown or unavailable device is refused
        with a ``ValueError`` when ``fit`` starts.
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling, the training noise and the
        Hutchinson probes through local generators; the global torch RNG is
        left untouched.
    verbose : int, default=0
        Progress bar and a table per epoch.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``module_`` is its :class:`~skood.diffusion.DiffusionModule`
        (with the averaged weights).
    pixel_scale_ : str
    input_shape_ : tuple of int
    trace_ : {"exact", "hutchinson"}
    flipd_t0_ : float
        The FLIPD time in use.
    flipd_curve_ : tuple of ndarray or None
        ``(t0 grid, mean FLIPD)`` of the knee calibration.
    score_norm_times_ : ndarray of shape (n_score_levels,)
    n_features_in_ : int
    n_iter_ : int
    history_ : skorch.History
        Per-epoch training loss (mean squared noise-prediction error).

    See Also
    --------
    skood.diffusion : the functions behind the statistics.
    skood.statistics.DiffusionStatistics : the statistics as a transformer.

    References
    ----------
    Y. Song et al. "Score-Based Generative Modeling through Stochastic
    Differential Equations". ICLR 2021. H. Kamkari et al. "A Geometric View of
    Data Complexity: Efficient Local Intrinsic Dimension Estimation with
    Diffusion Models". NeurIPS 2024. A. Mahmood, J. Oliva, M. Styner.
    "Multiscale Score Matching for Out-of-Distribution Detection". ICLR 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skood.density import DiffusionDensity
    >>> X = np.random.RandomState(0).normal(size=(200, 2))
    >>> dm = DiffusionDensity(hidden_units=(32,), pixel_scale="continuous", max_epochs=2,
    ...                       flipd_t0=0.05, random_state=0).fit(X)
    >>> dm.score_samples(X[:3]).shape
    (3,)
    >>> out = dm.diffusion_statistics(X[:3], statistics=("flipd", "score_norms"))
    >>> out.flipd.shape, out.score_norms.shape
    ((3,), (3, 10))
    """

    _parameter_constraints = {
        "input_shape": [tuple, list, None],
        "network": [StrOptions({"mlp", "unet"})],
        "hidden_units": [tuple, list],
        "channels": [tuple, list],
        "time_embedding_dim": [Interval(Integral, 2, None, closed="left")],
        "pixel_scale": [StrOptions({"auto", "uint8", "unit", "continuous"})],
        "beta_min": [Interval(Real, 0, None, closed="neither")],
        "beta_max": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "warmup_fraction": [Interval(Real, 0, 1, closed="left")],
        "ema_decay": [Interval(Real, 0, 1, closed="neither"), None],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "t_min": [Interval(Real, 0, 1, closed="neither")],
        "ode_steps": [Interval(Integral, 1, None, closed="left")],
        "ode_grid": [StrOptions({"log_snr", "uniform"})],
        "ode_probes": [Interval(Integral, 1, None, closed="left")],
        "trace": [StrOptions({"auto", "exact", "hutchinson"})],
        "flipd_t0": [StrOptions({"knee"}), Interval(Real, 0, 1, closed="neither")],
        "flipd_probes": [Interval(Integral, 1, None, closed="left")],
        "n_score_levels": [Interval(Integral, 1, None, closed="left")],
        "score_noise_range": [tuple, list],
        "path_steps": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "dtype": [StrOptions(set(_DTYPES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        input_shape=None,
        *,
        network="mlp",
        hidden_units=(512, 256, 128),
        channels=(32, 64, 64),
        time_embedding_dim=128,
        pixel_scale="auto",
        beta_min=0.1,
        beta_max=20.0,
        max_epochs=20,
        batch_size=128,
        lr=1e-3,
        weight_decay=0.0,
        warmup_fraction=0.05,
        ema_decay=0.999,
        max_grad_norm=1.0,
        t_min=1e-3,
        ode_steps=25,
        ode_grid="log_snr",
        ode_probes=1,
        trace="auto",
        flipd_t0="knee",
        flipd_probes=1,
        n_score_levels=10,
        score_noise_range=(0.02, 2.0),
        path_steps=10,
        device="cpu",
        dtype="float32",
        random_state=None,
        verbose=0,
    ):
        self.input_shape = input_shape
        self.network = network
        self.hidden_units = hidden_units
        self.channels = channels
        self.time_embedding_dim = time_embedding_dim
        self.pixel_scale = pixel_scale
        self.beta_min = beta_min
        self.beta_max = beta_max
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_fraction = warmup_fraction
        self.ema_decay = ema_decay
        self.max_grad_norm = max_grad_norm
        self.t_min = t_min
        self.ode_steps = ode_steps
        self.ode_grid = ode_grid
        self.ode_probes = ode_probes
        self.trace = trace
        self.flipd_t0 = flipd_t0
        self.flipd_probes = flipd_probes
        self.n_score_levels = n_score_levels
        self.score_noise_range = score_noise_range
        self.path_steps = path_steps
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # -- fitting -----------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the diffusion model by denoising score matching.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        X = validate_data(self, check_flat(X), dtype=[np.float64, np.float32],
                          ensure_min_samples=2)
        try:
            self._check_params()
            check_representable(X, _DTYPES[self.dtype])
            self._resolve_data(X)
            self._check_values(X)
            self.device_ = check_device(self.device)
            self.dtype_ = _DTYPES[self.dtype]
            rng = check_random_state(self.random_state)
            seed = int(rng.randint(np.iinfo(np.int32).max))
            self.probe_seed_ = int(rng.randint(np.iinfo(np.int32).max))
            self.trace_ = self.trace
            if self.trace == "auto":
                self.trace_ = ("exact" if X.shape[1] <= AUTO_EXACT_TRACE_MAX_FEATURES
                               else "hutchinson")
            sde = VPSDE(self.beta_min, self.beta_max)
            lo, hi = self.score_noise_range
            self.score_norm_times_ = np.array([
                sde.time_for_noise_ratio(r)
                for r in np.geomspace(lo, hi, self.n_score_levels)])
            self.net_ = self._make_net(X, seed).initialize()
            self.net_.partial_fit(self.to_tensor(X), None, epochs=self.max_epochs)
            # The generators served the fit; the fitted model needs none.
            self.net_.generator = None
            self.net_.iterator_train__generator = None
            self.n_iter_ = len(self.net_.history)
            self.history_ = self.net_.history
            self._check_trained()
            self._resolve_flipd_t0(X, rng)
        except BaseException:
            discard_fitted(self)
            raise
        return self

    def _check_params(self):
        for name in ("hidden_units", "channels"):
            widths = getattr(self, name)
            if len(widths) == 0 or any(isinstance(w, (bool, np.bool_))
                                       or not isinstance(w, Integral) or w < 1 for w in widths):
                raise ValueError(
                    f"{name} must be a non-empty sequence of positive integers; got {widths!r}."
                )
        if self.network == "unet" and self.input_shape is None:
            raise ValueError(
                "network='unet' needs the image shape: pass input_shape=(C, H, W)."
            )
        rng_ = self.score_noise_range
        if (len(rng_) != 2 or not all(isinstance(r, Real) and not isinstance(r, bool)
                                      for r in rng_) or not 0 < rng_[0] <= rng_[1]):
            raise ValueError(
                "score_noise_range must be (smallest, largest) noise-to-signal ratios with "
                f"0 < smallest <= largest; got {rng_!r}."
            )
        if self.beta_max < self.beta_min:
            raise ValueError(
                f"beta_max ({self.beta_max}) must be at least beta_min ({self.beta_min})."
            )

    def _resolve_data(self, X):
        self.input_shape_ = _resolve_input_shape(self.input_shape, X.shape[1])
        scale, self.pixel_range_ = resolve_pixel_scale(self.pixel_scale, X)
        self.pixel_scale_ = scale
        if scale == "continuous":
            params = standardization_params(X)
            self.mean_, self.scale_ = params["mean"], params["scale"]

    def _check_values(self, X):
        check_pixel_values(self.pixel_scale_, X)

    def _module_params(self, seed):
        params = dict(n_features=self.n_features_in_, network=self.network,
                      hidden_units=tuple(int(w) for w in self.hidden_units),
                      input_shape=tuple(self.input_shape_),
                      channels=tuple(int(c) for c in self.channels),
                      time_embedding_dim=self.time_embedding_dim, beta_min=self.beta_min,
                      beta_max=self.beta_max, seed=seed)
        if self.pixel_scale_ == "continuous":
            params.update(mean=self.mean_, scale=self.scale_)
        else:
            params["pixel_max"] = 255.0 if self.pixel_scale_ == "uint8" else 1.0
        return params

    def _make_net(self, X, seed):
        n_steps = self.max_epochs * math.ceil(X.shape[0] / self.batch_size)
        callbacks = [SkipNonFiniteSteps(
            "Try a lower learning rate (lr), a smaller max_grad_norm, or dtype='float64'.")]
        if self.max_grad_norm is not None:
            callbacks.append(GradientNormClipping(self.max_grad_norm))
        callbacks.append(LRScheduler(
            policy=torch.optim.lr_scheduler.LambdaLR, step_every="batch",
            lr_lambda=WarmupCosine(round(self.warmup_fraction * n_steps), n_steps)))
        if self.ema_decay is not None:
            callbacks.append(EMA(self.ema_decay))
        if self.verbose:
            callbacks.append(ProgressBar())
        device = torch.device(self.device_)
        noise_gen = torch.Generator(device=device).manual_seed(seed)
        shuffle_gen = torch.Generator().manual_seed(seed + 1)
        module_params = {f"module__{k}": v for k, v in self._module_params(seed).items()}
        return DiffusionNet(
            module=DiffusionModule,
            **module_params,
            module__dtype=self.dtype_,
            criterion=MeanLoss,
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            iterator_train__generator=shuffle_gen,
            generator=noise_gen,
            train_split=None,
            callbacks=callbacks,
            device=device,
            verbose=int(self.verbose),
        )

    def _check_trained(self):
        bad = [n for n, p in self.module_.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise TrainingDivergedError(
                f"Training diverged by epoch {self.n_iter_}: the fitted network has non-finite "
                f"parameters ({bad[0]}). Try a lower learning rate (lr), a smaller "
                "max_grad_norm, or dtype='float64'."
            )

    def _resolve_flipd_t0(self, X, rng):
        self.flipd_curve_ = None
        if self.flipd_t0 != "knee":
            self.flipd_t0_ = float(self.flipd_t0)
            return
        idx = np.sort(rng.choice(len(X), min(KNEE_BUFFER, len(X)), replace=False))
        means = [float(np.mean(self._flipd(X[idx], t0))) for t0 in KNEE_GRID]
        self.flipd_curve_ = (np.asarray(KNEE_GRID), np.asarray(means))
        self.flipd_t0_ = knee_time(KNEE_GRID, means)

    # -- torch access --------------------------------------------------------------------
    @property
    def module_(self):
        """The fitted :class:`~skood.diffusion.DiffusionModule`."""
        return self.net_.module_

    @property
    def sde_(self):
        """The model's :class:`~skood.diffusion.VPSDE`."""
        return self.module_.sde

    def eps(self, y, t):
        """The network ``eps(y, t)`` on model-space tensors (differentiable)."""
        return self.module_.eps(y, t)

    def to_tensor(self, X):
        """A validated array as a tensor on the model's device and dtype (a copy)."""
        X = np.ascontiguousarray(X)
        if any(s < 0 for s in X.strides):
            X = X.copy()
        return torch.tensor(X, dtype=self.dtype_, device=self.device_)

    def validate_input(self, X):
        """Validate inputs for scoring: shape, finiteness and domain, as fitted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, check_flat(X), dtype="numeric", reset=False)
        check_representable(X, self.dtype_)
        self._check_values(X)
        return X

    def _probes(self, n_probes, offset):
        d = self.n_features_in_
        if self.trace_ == "exact":
            return None
        gen = torch.Generator(device=self.device_).manual_seed(self.probe_seed_ + offset)
        return rademacher_probes(n_probes, d, generator=gen, dtype=self.dtype_,
                                 device=self.device_)

    def _chunks(self, n_samples, reps):
        width = self.module_.net.activation_floats()
        row_bytes = reps * width * torch.finfo(self.dtype_).bits // 8
        return gen_batches(n_samples, get_chunk_n_rows(row_bytes, max_n_rows=max(n_samples, 1)))

    def _model_space(self, x):
        return self.module_.to_model_space(x)

    # -- the gateway -----------------------------------------------------------------------
    def diffusion_statistics(self, X, statistics=("log_prob", "flipd", "score_norms")):
        """The diffusion model's statistics of ``X``, from one validated pass.

        What detectors read a diffusion model through. Inputs are validated once
        and processed in chunks sized by scikit-learn's ``working_memory``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        statistics : sequence of {"log_prob", "flipd", "score_norms", "path"}
            Which to compute (the others are ``None`` in the output). Costs per
            input in network evaluations: ``log_prob`` ``ode_steps * (1 + 2 P)``,
            ``flipd`` ``1 + 2 P``, ``score_norms`` ``n_score_levels``, ``path``
            ``path_steps + 1`` (``P``: the probes, or ``D`` with the exact trace).

        Returns
        -------
        output : DiffusionOutput
        """
        wanted = tuple(statistics)
        unknown = [s for s in wanted if s not in _STATISTICS]
        if unknown:
            raise ValueError(
                f"Unknown diffusion statistic(s) {unknown}; choose from {list(_STATISTICS)}."
            )
        X = self.validate_input(X)
        parts = {s: [] for s in wanted}
        module = self.module_
        module.eval()
        reps = 1
        if "log_prob" in wanted or "flipd" in wanted:
            reps = self.n_features_in_ if self.trace_ == "exact" else \
                max(self.ode_probes, self.flipd_probes)
        for rows in self._chunks(X.shape[0], reps):
            x = self.to_tensor(X[rows])
            y0 = module.to_model_space(x)
            if "log_prob" in wanted:
                parts["log_prob"].append(_to_numpy(self._log_prob_y(y0)) + module.log_det())
            if "flipd" in wanted:
                parts["flipd"].append(_to_numpy(self._flipd_y(y0, self.flipd_t0_)))
            if "score_norms" in wanted:
                parts["score_norms"].append(_to_numpy(score_norms(
                    self.eps, y0, self.sde_, self.score_norm_times_)))
            if "path" in wanted:
                parts["path"].append(_to_numpy(ddim_path_statistics(
                    self.eps, y0, self.sde_, n_steps=self.path_steps, t_min=self.t_min)))
        out = {s: np.concatenate(v) if v else np.zeros((0,) if s in ("log_prob", "flipd")
                                                       else (0, 0)) for s, v in parts.items()}
        for name, values in out.items():
            bad = np.flatnonzero(~np.isfinite(values).reshape(len(values), -1).all(1))
            if bad.size:
                dtype = ", or fit with dtype='float64'" if self.dtype_ == torch.float32 else ""
                raise ValueError(
                    f"The diffusion model's {name} is not finite for {bad.size} sample(s) "
                    f"(first rows: {bad[:5].tolist()}): their values are too far from the "
                    f"training data for the model's dtype to compute. Check those rows{dtype}."
                )
        return DiffusionOutput(
            **out,
            flipd_t0=self.flipd_t0_ if "flipd" in wanted else None,
            score_norm_times=self.score_norm_times_.copy() if "score_norms" in wanted else None,
        )

    def _log_prob_y(self, y0):
        probes = self._probes(self.ode_probes, 0)
        return probability_flow_log_prob(self.eps, y0, self.sde_, n_steps=self.ode_steps,
                                         t_min=self.t_min, probes=probes, grid=self.ode_grid)

    def _flipd_y(self, y0, t0):
        return flipd(self.eps, y0, self.sde_, t0, probes=self._probes(self.flipd_probes, 1))

    def _flipd(self, X, t0):
        module = self.module_
        module.eval()
        parts = []
        reps = self.n_features_in_ if self.trace_ == "exact" else self.flipd_probes
        for rows in self._chunks(X.shape[0], reps):
            y0 = module.to_model_space(self.to_tensor(X[rows]))
            parts.append(_to_numpy(self._flipd_y(y0, t0)))
        return np.concatenate(parts)

    # -- public scoring API ----------------------------------------------------------------
    def score_samples(self, X):
        """Log-likelihood of each sample (probability-flow ODE).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self.diffusion_statistics(X, statistics=("log_prob",)).log_prob

    def score(self, X, y=None):
        """Mean log-likelihood of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def flipd(self, X, t0=None):
        """FLIPD local intrinsic dimension of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        t0 : float or None, default=None
            ``None``: ``flipd_t0_``.

        Returns
        -------
        lid : ndarray of shape (n_samples,)
        """
        X = self.validate_input(X)
        return self._flipd(X, self.flipd_t0_ if t0 is None else float(t0))

    def score_norms(self, X):
        """Multiscale score norms, shape (n_samples, n_score_levels)."""
        return self.diffusion_statistics(X, statistics=("score_norms",)).score_norms

    def path_statistics(self, X):
        """DDIM path rate and curvature, shape (n_samples, 2)."""
        return self.diffusion_statistics(X, statistics=("path",)).path

    def bits_per_dim(self, X):
        """Bits per dimension of each image (``pixel_scale`` other than ``"continuous"``)."""
        from ._base import bits_per_dim

        if self.pixel_scale_ == "continuous":
            raise ValueError("bits_per_dim needs pixel data; this model has pixel_scale='continuous'.")
        return bits_per_dim(self.score_samples(X), self.n_features_in_)

    def sample(self, n_samples=1, random_state=None, method="ddim", n_steps=50):
        """Draw samples, in the input space (pixels on their integer grid).

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
        method : {"ddim", "ode"}, default="ddim"
            Deterministic DDIM steps, or Euler steps of the probability-flow ODE,
            from Gaussian noise at ``t = 1`` to ``t_min``.
        n_steps : int, default=50
            Network evaluations per sample.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if method not in ("ddim", "ode"):
            raise ValueError(f"method must be 'ddim' or 'ode'; got {method!r}.")
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        gen = torch.Generator(device=self.device_).manual_seed(seed)
        noise = torch.randn((int(n_samples), self.n_features_in_), generator=gen,
                            dtype=self.dtype_, device=self.device_)
        module = self.module_
        module.eval()
        solver = sample_ddim if method == "ddim" else sample_ode
        y = solver(self.eps, noise, self.sde_, n_steps=int(n_steps), t_min=self.t_min)
        with torch.no_grad():
            return _to_numpy(module.from_model_space(y))
