"""The gateway from flows to detectors: skood's flow density estimators' shared base."""

import hashlib
import json
import math
import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import GradientNormClipping, ProgressBar
from skorch.dataset import ValidSplit

from ..exceptions import TrainingDivergedError
from ..flows import FlowOutput
from ..persistence import versioned_state
from ..utils._device import check_device
from ..utils._rng import PrivateRNG
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
    get_chunk_n_rows,
)
from ._net import (
    DensityNet,
    EarlyStop,
    EpochCheckpoint,
    FlowDensityModule,
    NLLLoss,
    SkipNonFiniteSteps,
)

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# Working memory of a flow pass per input row, in units of the input's size: the
# coupling networks' activations are tens of times the input (a 28x28 Glow with 64
# hidden channels keeps 16 hidden values per pixel at its first level).
_ACTIVATIONS_PER_FEATURE = 64


def _to_numpy(t):
    return t.detach().to("cpu", torch.float64).numpy()


def check_flat(X):
    """Refuse image arrays that were not flattened, with the reshape that fixes them.

    skood's estimators take one row per sample; scikit-learn's generic message for a
    3-D or 4-D array does not say how to get there.
    """
    ndim = getattr(X, "ndim", None)
    if isinstance(ndim, int) and ndim in (3, 4):
        raise ValueError(
            f"X has {ndim} dimensions (shape {tuple(X.shape)}), but skood estimators take "
            "one flattened row per sample: pass X.reshape(len(X), -1) (images channels "
            "first, (n, C, H, W) or (n, H, W); for channels-last (n, H, W, C) use "
            "X.transpose(0, 3, 1, 2).reshape(len(X), -1)) and give GlowDensity "
            "input_shape=(C, H, W)."
        )
    return X


def check_representable(X, dtype):
    """Refuse finite values that the compute ``dtype`` (a torch float type) cannot hold."""
    X = np.asarray(X) if not hasattr(X, "dtype") else X
    if X.dtype.kind != "f" or X.size == 0 or float(np.finfo(X.dtype).max) <= torch.finfo(dtype).max:
        return
    limit = torch.finfo(dtype).max
    big = max(float(X.max()), -float(X.min()))
    if big > limit:
        name = str(dtype).replace("torch.", "")
        raise ValueError(
            f"X holds values up to {big:g} in magnitude, beyond what the model's "
            f"dtype={name!r} can represent ({limit:g}): they would become infinite. "
            "Rescale the features, or use dtype='float64'."
        )


def discard_fitted(estimator):
    """Remove an estimator's fitted attributes (after an interrupted or failed fit)."""
    for name in [k for k in vars(estimator) if k.endswith("_") and not k.startswith("__")]:
        delattr(estimator, name)


class TorchModelMixin:
    """What every skood density with a fitted torch module shares: moving it between
    devices, and pickling with version checks (a model saved on a GPU loads on a
    CPU-only machine, with a warning). Expects ``net_`` (a skorch net) and
    ``device_`` once fitted."""

    def to(self, device):
        """Move the fitted model to another device, e.g. to score on the CPU a model
        trained on a GPU.

        Scores on the new device equal those on the old one up to the rounding
        differences between the devices' kernels. Refitting uses the ``device``
        parameter again.

        Parameters
        ----------
        device : str
            ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``, as the
            ``device`` parameter.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from skood.density import TabularFlowDensity
        >>> X = np.random.RandomState(0).normal(size=(100, 3))
        >>> flow = TabularFlowDensity(n_layers=2, max_epochs=2, random_state=0).fit(X)
        >>> flow.to("cpu").device_
        device(type='cpu')
        """
        check_is_fitted(self)
        device = check_device(device)
        self.net_.set_params(device=str(device))
        self.net_.module_.to(device)
        self.device_ = device
        return self

    # -- persistence -----------------------------------------------------------
    def __getstate__(self):
        return versioned_state(super().__getstate__(), saving=True)

    def __setstate__(self, state):
        # Warn when other versions of skood, torch or scikit-learn pickled the model.
        state = versioned_state(state, saving=False)
        # A model saved on a GPU must load on a CPU-only machine (skorch moves the net).
        device = state.get("device_")
        if device is not None and device.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                "This model was fitted on CUDA, which is not available: loading it on the CPU.",
                UserWarning,
            )
            state["device_"] = torch.device("cpu")
        super().__setstate__(state)


class BaseFlowDensity(TorchModelMixin, DensityMixin, BaseEstimator):
    """Base class of the flow density estimators: training through skorch, and the gateway.

    The gateway is what every detector reads a flow through:

    - :meth:`flow_pass`: one validated, chunked forward pass returning a
      :class:`~skood.flows.FlowOutput` (total and per-scale log-likelihoods,
      per-scale log-determinants and prior terms, raw and prior-normalised latents);
    - :meth:`encode`, :meth:`decode`, :meth:`to_flow_space`, with
      :meth:`validate_input` and :meth:`to_tensor`: the encoder and the
      differentiable generator as torch maps, for methods that differentiate the
      flow (local intrinsic dimension).

    Subclasses implement ``_module_params(X)`` (the ``module__*`` parameters of
    :class:`~skood.density._net.FlowDensityModule`), and may override
    ``_resolve_data(X)`` (fitted state read from the training data) and
    ``_check_values(X)`` (a pure domain check, e.g. the pixel range).
    """

    _parameter_constraints = {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "init_from": [HasMethods(["fit", "score_samples"]), None],
        "auxiliary_loss": [callable, None],
        "device": [str],
        "dtype": [StrOptions(set(_DTYPES))],
        "checkpoint_dir": [str, os.PathLike, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # -- fitting ---------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the flow by maximum likelihood.

        A :class:`numpy.memmap` is not loaded into memory: training reads its batches
        from the file (integer pixels stay integers until each batch is converted),
        and the standardisation statistics are computed block by block; the fitted
        model equals the one fitted on the same data in memory, bit for bit.

        Parameters
        ----------
        X : array-like or numpy.memmap of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        stream = _is_memmap(X)
        # A float memmap passes validation without a copy; integer pixels would be
        # converted to float64 (eight times their size), so they keep their dtype.
        dtype = None if stream and X.dtype.kind in "ui" else [np.float64, np.float32]
        X = validate_data(self, check_flat(X), dtype=dtype, ensure_min_samples=2)
        try:
            check_representable(X, _DTYPES[self.dtype])
            self._resolve_data(X)
            self._check_values(X)
            self.device_ = check_device(self.device)
            self.dtype_ = _DTYPES[self.dtype]
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            # Every draw of this fit (initial weights, data-dependent initialisation,
            # shuffling, dequantisation noise, an auxiliary loss's sampling) comes from
            # this fit's own generators, seeded with `seed`: the global torch RNG is
            # neither read nor advanced, so fits in parallel threads do not interfere.
            rng = PrivateRNG(seed)
            checkpoint = self._checkpoint(X, seed, rng)
            with rng:
                self.net_ = self._make_net(X, seed, checkpoint, rng).initialize()
                if self.init_from is None:
                    self._data_init(X)
                else:
                    _load_weights(self.net_.module_, self.init_from.module_)
            done = 0 if checkpoint is None or checkpoint.resume is None else \
                int(checkpoint.resume["epoch"])
            try:
                data = _RowDataset(X, self.dtype_) if stream else self.to_tensor(X)
                self.net_.partial_fit(data, None, epochs=max(self.max_epochs - done, 0))
            finally:
                self.net_.rng = None  # the fitted model holds no generator
                if checkpoint is not None:
                    checkpoint.rng = None
            self.n_iter_ = len(self.net_.history)
            self.history_ = self.net_.history
            self._check_trained(X)
        except BaseException:
            # Interrupted (KeyboardInterrupt included) or failed: no half-fitted model
            # (a checkpoint, if any, keeps the completed epochs for the next fit).
            discard_fitted(self)
            raise
        if checkpoint is not None and os.path.exists(checkpoint.path):
            os.remove(checkpoint.path)  # the fit completed: nothing to resume
        return self

    def _checkpoint(self, X, seed, rng=None):
        """The epoch-checkpoint callback of this fit (None without ``checkpoint_dir``),
        holding the checkpoint to resume from when one matches this fit."""
        if getattr(self, "checkpoint_dir", None) is None:
            return None
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        # A checkpoint belongs to one fit: same class, training parameters, data and seed.
        ignored = {"checkpoint_dir", "verbose", "device", "init_from", "auxiliary_loss"}
        params = {k: repr(v) for k, v in sorted(self.get_params(deep=False).items())
                  if k not in ignored}
        digest = hashlib.sha256(json.dumps([type(self).__name__, params, seed,
                                            list(X.shape), str(X.dtype)]).encode())
        for rows in gen_batches(X.shape[0], 65536):  # a memmap is not copied whole
            digest.update(np.ascontiguousarray(X[rows]).tobytes())
        fingerprint = digest.hexdigest()
        path = os.path.join(os.fspath(self.checkpoint_dir), "skood-checkpoint.pt")
        resume = EpochCheckpoint.read(path, fingerprint)
        if resume is None and os.path.exists(path):
            warnings.warn(
                f"Ignoring the checkpoint in {self.checkpoint_dir}: it belongs to another fit "
                "(other parameters, data or random_state); starting from epoch 0.",
                UserWarning,
            )
        return EpochCheckpoint(path, fingerprint, resume, rng=rng)

    def _remedies(self):
        clip = ("a smaller max_grad_norm" if self.max_grad_norm is not None
                else "gradient clipping (max_grad_norm=50)")
        dtype = ", dtype='float64'" if self.dtype == "float32" else ""
        return (f"Try a lower learning rate (lr), {clip}{dtype}, or check the input for "
                "extreme values.")

    def _make_net(self, X, seed, checkpoint=None, rng=None):
        callbacks = [SkipNonFiniteSteps(self._remedies())]
        if self.max_grad_norm is not None:
            callbacks.append(GradientNormClipping(self.max_grad_norm))
        train_split = None
        if self.early_stopping:
            train_split = ValidSplit(self.validation_fraction, random_state=seed)
            callbacks.append(
                EarlyStop(monitor="valid_loss", patience=self.n_iter_no_change, load_best=True)
            )
        if self.verbose:
            callbacks.append(ProgressBar())
        if checkpoint is not None:
            callbacks.append(checkpoint)  # last: after early stopping has updated its state
        module_params = {f"module__{k}": v for k, v in self._module_params(X).items()}
        return DensityNet(
            module=FlowDensityModule,
            **module_params,
            module__dtype=_DTYPES[self.dtype],
            criterion=NLLLoss,
            criterion__n_dims=X.shape[1],
            optimizer=torch.optim.Adam,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=train_split,
            callbacks=callbacks,
            device=self.device_,
            auxiliary_loss=self.auxiliary_loss,
            rng=rng,
            verbose=int(self.verbose),
        )

    def _data_init(self, X, n_init=512):
        # ActNorm's data-dependent initialisation runs on one training-mode pass over a
        # random subset (data sorted by class would otherwise initialise on one class).
        idx = torch.randperm(X.shape[0])[:n_init].numpy()
        module = self.net_.module_
        module.train()
        with torch.no_grad():
            module(self.to_tensor(X[np.sort(idx)]))

    def _check_trained(self, X):
        bad = [n for n, p in self.module_.named_parameters() if not torch.isfinite(p).all()]
        finite = not bad and np.isfinite(self._pass(X[:1024], latents=False).log_prob).all()
        if not finite:
            what = ("parameters (" + bad[0] + ")" if bad
                    else "log-likelihoods on the training data")
            raise TrainingDivergedError(
                f"Training diverged by epoch {self.n_iter_}: the fitted flow has non-finite "
                f"{what}. {self._remedies()}"
            )

    # -- hooks -----------------------------------------------------------------
    def _resolve_data(self, X):
        """Fitted state read from the (validated) training data: here, vectors."""
        self.input_shape_ = (X.shape[1], 1, 1)
        self.pixel_scale_ = "continuous"

    def _check_values(self, X):
        """Domain checks on validated input (overridden for pixels); sets nothing."""

    # -- the gateway -----------------------------------------------------------
    @property
    def module_(self):
        """The fitted torch module (:class:`~skood.flows.DensityModule`: pre-transform + flow)."""
        return self.net_.module_

    @property
    def latent_shapes_(self):
        """Shape ``(C_l, H_l, W_l)`` of the latents of each scale, finest first."""
        return [tuple(s) for s in self.module_.flow.latent_shapes]

    def validate_input(self, X):
        """Validate inputs for scoring: shape, finiteness and domain, as the flow was fitted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Integer images keep their dtype (the float copy is made per chunk).
        """
        check_is_fitted(self)
        # "numeric" keeps uint8 images as they are: the float copy is made per chunk,
        # so scoring memory does not grow with n_samples.
        X = validate_data(self, check_flat(X), dtype="numeric", reset=False)
        check_representable(X, self.dtype_)
        self._check_values(X)
        self._check_scale(X)
        return X

    def _check_scale(self, X):
        """Warnings about validated scoring input that is valid but suspicious."""

    def to_tensor(self, X):
        """A validated array as a tensor on the model's device and dtype (a copy).

        Any memory layout is accepted (reversed or strided views, Fortran order).
        """
        X = np.ascontiguousarray(X)
        if any(s < 0 for s in X.strides):  # a reversed axis of length 1 counts as contiguous
            X = X.copy()
        return torch.tensor(X, dtype=self.dtype_, device=self.device_)

    def _chunks(self, n_samples):
        row_bytes = (_ACTIVATIONS_PER_FEATURE * self.n_features_in_
                     * torch.finfo(self.dtype_).bits // 8)
        return gen_batches(n_samples, get_chunk_n_rows(row_bytes, max_n_rows=n_samples))

    def flow_pass(self, X, *, latents=True):
        """One forward pass: everything detectors read from the flow.

        Inputs are validated once and processed in chunks whose size follows
        scikit-learn's ``working_memory`` (:func:`sklearn.set_config`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        latents : bool, default=True
            Also return the raw and prior-normalised latents per scale (memory grows
            with ``n_samples * n_features``; turn off to score large sets).

        Returns
        -------
        output : FlowOutput
            NumPy float64 arrays: ``log_prob`` (n,), ``log_prob_per_scale``,
            ``logdet_per_scale`` and ``log_prior_per_scale`` (n, n_scales), and lists
            ``latents`` / ``latents_normalized`` of (n, C_l, H_l, W_l) arrays.

        Examples
        --------
        >>> import numpy as np
        >>> from skood.density import TabularFlowDensity
        >>> X = np.random.RandomState(0).normal(size=(100, 3))
        >>> flow = TabularFlowDensity(n_layers=2, max_epochs=2, random_state=0).fit(X)
        >>> out = flow.flow_pass(X[:5])
        >>> out.log_prob.shape, out.logdet_per_scale.shape, out.latents[0].shape
        ((5,), (5, 1), (5, 3, 1, 1))
        >>> bool(np.allclose(out.log_prob_per_scale.sum(1), out.log_prob))
        True
        """
        out = self._pass(self.validate_input(X), latents=latents)
        bad = np.flatnonzero(~np.isfinite(out.log_prob))
        if bad.size:
            dtype = ", or fit with dtype='float64'" if self.dtype_ == torch.float32 else ""
            raise ValueError(
                f"The flow's log-likelihood is not finite for {bad.size} sample(s) (first "
                f"rows: {bad[:5].tolist()}): their values are too far from the training "
                f"data for the model's dtype to compute. Check those rows{dtype}."
            )
        return out

    def _pass(self, X, latents=True):
        module = self.module_
        module.eval()
        parts = []
        with torch.no_grad():
            for rows in self._chunks(X.shape[0]):
                out = module.outputs(self.to_tensor(X[rows]))
                parts.append(FlowOutput(
                    _to_numpy(out.log_prob), _to_numpy(out.log_prob_per_scale),
                    [_to_numpy(z) for z in out.latents] if latents else [],
                    [_to_numpy(z) for z in out.latents_normalized] if latents else [],
                    _to_numpy(out.logdet_per_scale), _to_numpy(out.log_prior_per_scale),
                ))
        arrays = ("log_prob", "log_prob_per_scale", "logdet_per_scale", "log_prior_per_scale")
        lists = ("latents", "latents_normalized")
        return FlowOutput(
            **{name: np.concatenate([getattr(p, name) for p in parts]) for name in arrays},
            **{name: [np.concatenate(s) for s in zip(*(getattr(p, name) for p in parts))]
               for name in lists},
        )

    def encode(self, x):
        """Torch encoder: ``x`` (a tensor from :meth:`to_tensor`) -> ``(log p(x), z_hat)``,
        with ``z_hat`` the flattened prior-normalised latents (no gradient)."""
        return self.module_.encode(x)

    def decode(self, z):
        """Torch generator: flattened prior-normalised latents -> flow space
        (differentiable; see :meth:`to_flow_space`)."""
        return self.module_.decode(z)

    def to_flow_space(self, x):
        """The generator's output space for input tensor ``x``: pixels at the bin centre
        (before a logit layer), or standardised features."""
        return self.module_.to_flow_space(x)

    # -- public scoring API ----------------------------------------------------
    def score_samples(self, X):
        """Log-likelihood of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self.flow_pass(X, latents=False).log_prob

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` (higher is better; label-free model selection).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def log_prob_per_scale(self, X):
        """Per-scale log-likelihood contributions, shape (n_samples, n_scales); rows sum to
        :meth:`score_samples`."""
        return self.flow_pass(X, latents=False).log_prob_per_scale

    def sample(self, n_samples=1, random_state=None, temperature=1.0):
        """Draw samples from the fitted flow, in the input space.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
        temperature : float, default=1.0
            Scale of the latent standard deviation.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        gen = torch.Generator(device=self.device_).manual_seed(seed)
        module = self.module_
        module.eval()
        with torch.no_grad():
            z = module.flow.sample_latents(n_samples, temperature, gen)
            x = module.generate(z, normalized=True)
        return _to_numpy(x)


def _is_memmap(X):
    while isinstance(X, np.ndarray):
        if isinstance(X, np.memmap):
            return True
        X = X.base
    return False


class _RowDataset(torch.utils.data.Dataset):
    """The rows of a (memory-mapped) array as training samples, converted one by one.

    Items are ``(row, dummy target)``, as skorch's own dataset yields them for
    ``y=None``; the data loader stacks them into the same batches as the
    in-memory tensor gives.
    """

    def __init__(self, X, dtype):
        self.X = X
        self.dtype = dtype

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, i):
        return torch.as_tensor(np.array(self.X[i]), dtype=self.dtype), torch.Tensor([0])


def _load_weights(module, source):
    src = source.state_dict()
    dst = module.state_dict()
    bad = [k for k in dst if k not in src or src[k].shape != dst[k].shape]
    if bad or len(src) != len(dst):
        raise ValueError(
            "Cannot initialise from init_from: its architecture differs "
            f"(first mismatch: {bad[0] if bad else 'parameter count'}). Use the same "
            "flow class and parameters for both models."
        )
    module.load_state_dict(src)


def bits_per_dim(log_prob, n_dims):
    """Bits per dimension of 8-bit data from a log-density on [-0.5, 0.5) with bin width 1/256.

    Examples
    --------
    >>> from skood.density import bits_per_dim
    >>> float(bits_per_dim(0.0, 1))  # the uniform density on one 8-bit dimension
    8.0
    """
    return (-np.asarray(log_prob) + n_dims * math.log(256)) / (n_dims * math.log(2))
