"""Shared machinery of skood's flow density estimators."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit

from ..exceptions import TrainingDivergedError
from ..flows import FlowOutput
from ._net import DensityModule, DensityNet, NLLLoss

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _to_numpy(t):
    return t.detach().to("cpu", torch.float64).numpy()


class BaseFlowDensity(DensityMixin, BaseEstimator):
    """Base class: training through skorch, batched scoring, sampling, persistence.

    Subclasses implement ``_build_module(X)`` returning a
    :class:`~skood.density._net.DensityModule`, and may override
    ``_check_values(X)`` for domain checks (pixel range).
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
        "device": [str],
        "dtype": [StrOptions(set(_DTYPES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # -- fitting ---------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the flow by maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        return self._fit(X)

    def _fit(self, X, *, init_from=None, outlier_X=None, outlier_log_prob=None,
             outlier_weight=0.0, outlier_temperature=1.0):
        """Fit, optionally starting from another fitted estimator's weights
        (``init_from``, same architecture) and adding Schirrmeister et al.'s outlier
        loss ``outlier_weight * softplus((log p(x') - log p_gen(x')) / T)`` on
        batches ``x'`` of ``outlier_X`` with frozen ``outlier_log_prob``."""
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        self._check_values(X, fitting=True)
        self.device_ = torch.device(self.device)
        self.dtype_ = _DTYPES[self.dtype]
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        cuda = [self.device_] if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            module = self._build_module(X).to(self.device_, self.dtype_)
            if init_from is None:
                self._data_init(module, X)
            else:
                _load_weights(module, init_from.module_)
            self.net_ = self._make_net(module, X, seed)
            if outlier_weight > 0:
                self.net_.outlier_data = (
                    self._as_tensor(outlier_X),
                    torch.as_tensor(outlier_log_prob, dtype=self.dtype_, device=self.device_),
                )
                self.net_.outlier_weight = outlier_weight / X.shape[1]
                self.net_.outlier_temperature = outlier_temperature
            self.net_.fit(self._as_tensor(X), None)
            self.net_.outlier_data = None  # not worth persisting
        self.n_iter_ = len(self.net_.history)
        self.history_ = self.net_.history
        self._check_trained(X)
        return self

    def _make_net(self, module, X, seed, **kwargs):
        callbacks = []
        train_split = None
        if self.early_stopping:
            train_split = ValidSplit(self.validation_fraction, random_state=seed)
            callbacks.append(
                EarlyStopping(monitor="valid_loss", patience=self.n_iter_no_change, load_best=True)
            )
        if self.verbose:
            callbacks.append(ProgressBar())
        params = dict(
            module=module,
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
            max_grad_norm=self.max_grad_norm,
            verbose=int(self.verbose),
        )
        params.update(kwargs)
        return DensityNet(**params)

    def _data_init(self, module, X, n_init=512):
        # ActNorm's data-dependent initialisation runs on one training-mode pass over a
        # random subset (data sorted by class would otherwise initialise on one class).
        idx = torch.randperm(X.shape[0])[:n_init].numpy()
        module.train()
        with torch.no_grad():
            module(self._as_tensor(X[np.sort(idx)]))

    def _check_trained(self, X):
        bad = [n for n, p in self.module_.named_parameters() if not torch.isfinite(p).all()]
        finite = not bad and np.isfinite(self._flow_outputs(X[:1024], latents=False).log_prob).all()
        if not finite:
            raise TrainingDivergedError(
                f"Training diverged by epoch {self.n_iter_}: the fitted flow has non-finite "
                f"{'parameters (' + bad[0] + ')' if bad else 'log-likelihoods on the training data'}."
                " Try a lower learning rate (lr), a smaller max_grad_norm, dtype='float64', or "
                "check the input for extreme values."
            )

    # -- helpers ---------------------------------------------------------------
    @property
    def module_(self):
        """The fitted torch module (pre-transform + flow)."""
        return self.net_.module_

    def _as_tensor(self, X):
        return torch.tensor(np.asarray(X), dtype=self.dtype_, device=self.device_)

    def _check_values(self, X, fitting=False):
        """Domain checks on validated input (overridden for pixels)."""

    def _validate_for_scoring(self, X):
        check_is_fitted(self)
        # "numeric" keeps uint8 images as they are: the float copy is made per batch,
        # so scoring memory does not grow with n_samples.
        X = validate_data(self, X, dtype="numeric", reset=False)
        self._check_values(X)
        return X

    def _eval_batches(self, X):
        bs = max(4 * self.batch_size, 256)
        for start in range(0, X.shape[0], bs):
            yield self._as_tensor(X[start : start + bs])

    # -- public scoring API ----------------------------------------------------
    def flow_outputs(self, X, *, latents=True):
        """One forward pass: log-likelihood, per-scale terms and (optionally) latents.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        latents : bool, default=True
            Also return the raw and prior-normalised latents per scale (memory grows
            with ``n_samples * n_features``; turn off to score large sets).

        Returns
        -------
        outputs : FlowOutput
            NumPy float64 arrays: ``log_prob`` (n,), ``log_prob_per_scale`` (n, n_scales),
            and lists ``latents`` / ``latents_normalized`` of (n, C_l, H_l, W_l) arrays.
        """
        X = self._validate_for_scoring(X)
        return self._flow_outputs(X, latents=latents)

    def _flow_outputs(self, X, latents=True):
        module = self.module_
        module.eval()
        lp, per, zs, zh = [], [], [], []
        with torch.no_grad():
            for xb in self._eval_batches(X):
                out = module.outputs(xb)
                lp.append(_to_numpy(out.log_prob))
                per.append(_to_numpy(out.log_prob_per_scale))
                if latents:
                    zs.append([_to_numpy(z) for z in out.latents])
                    zh.append([_to_numpy(z) for z in out.latents_normalized])
        result = FlowOutput(np.concatenate(lp), np.concatenate(per))
        if latents:
            result.latents = [np.concatenate(s) for s in zip(*zs)]
            result.latents_normalized = [np.concatenate(s) for s in zip(*zh)]
        return result

    def score_samples(self, X):
        """Log-likelihood of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        X = self._validate_for_scoring(X)
        return self._flow_outputs(X, latents=False).log_prob

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` (higher is better; label-free model selection)."""
        return float(np.mean(self.score_samples(X)))

    def log_prob_per_scale(self, X):
        """Per-scale log-likelihood contributions, shape (n_samples, n_scales); rows sum to
        :meth:`score_samples`."""
        X = self._validate_for_scoring(X)
        return self._flow_outputs(X, latents=False).log_prob_per_scale

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
        flow = module.flow
        with torch.no_grad():
            z = [
                temperature * torch.randn((n_samples, *s), generator=gen, device=self.device_,
                                          dtype=self.dtype_)
                for s in flow.latent_shapes
            ]
            x = module.generate(z, normalized=True)
        return _to_numpy(x)

    # -- persistence -----------------------------------------------------------
    def __setstate__(self, state):
        # A model saved on a GPU must load on a CPU-only machine (skorch moves the net).
        device = state.get("device_")
        if device is not None and device.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                "This model was fitted on CUDA, which is not available: loading it on the CPU.",
                UserWarning,
            )
            state["device_"] = torch.device("cpu")
        self.__dict__.update(state)


def _load_weights(module, source):
    src = source.state_dict()
    dst = module.state_dict()
    bad = [k for k in dst if k not in src or src[k].shape != dst[k].shape]
    if bad or len(src) != len(dst):
        raise ValueError(
            "Cannot initialise from the reference model: its architecture differs "
            f"(first mismatch: {bad[0] if bad else 'parameter count'}). Use the same "
            "flow class and parameters for both models."
        )
    module.load_state_dict(src)


def bits_per_dim(log_prob, n_dims):
    """Bits per dimension of 8-bit data from a log-density on [-0.5, 0.5) with bin width 1/256."""
    return (-np.asarray(log_prob) + n_dims * math.log(256)) / (n_dims * math.log(2))
