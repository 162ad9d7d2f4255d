"""Likelihood ratio against a reference model: Ren et al.'s background model or
Schirrmeister et al.'s general-distribution model, with the optional outlier loss."""

from numbers import Real

import numpy as np
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state

from ..density.diffusion import is_diffusion
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from ._base import LIKELIHOOD_MODELS, BaseFlowDetector, fit_flow, log_likelihood, seeded

# Schirrmeister et al.'s outlier-loss defaults, for 32x32x3 images (D = 3072).
_PAPER_DIM, _PAPER_WEIGHT, _PAPER_TEMPERATURE = 3072, 6000.0, 1000.0


def mutate(X, mutation_rate, *, random_state=None, low=0.0, high=255.0, integer=True):
    """Replace each entry of ``X`` with probability ``mutation_rate`` by a uniform value.

    For images (``integer=True``) the replacement is a uniform integer in
    ``{low..high}`` (Ren et al. 2019: mutation in pixel space); otherwise a uniform
    real in ``[low, high]`` (``low``/``high`` may be per-feature arrays).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    mutation_rate : float in [0, 1]
    random_state : int, RandomState instance or None
    low, high : float or ndarray of shape (n_features,)
    integer : bool, default=True

    Returns
    -------
    X_mutated : ndarray, same shape and dtype as ``X``
    """
    if not 0.0 <= mutation_rate <= 1.0:
        raise ValueError(f"mutation_rate must be in [0, 1]; got {mutation_rate}.")
    rng = check_random_state(random_state)
    mask = rng.random_sample(X.shape) < mutation_rate
    low = np.broadcast_to(np.asarray(low, dtype=np.float64), X.shape[1:])
    high = np.broadcast_to(np.asarray(high, dtype=np.float64), X.shape[1:])
    if integer:
        values = rng.randint(0, 2**31 - 1, size=X.shape) % (high - low + 1).astype(np.int64) + low
    else:
        values = low + (high - low) * rng.random_sample(X.shape)
    out = X.copy()
    out[mask] = values[mask].astype(X.dtype)
    return out


class OutlierLoss:
    """Schirrmeister et al.'s outlier loss, as a flow density's ``auxiliary_loss``.

    ``weight * mean softplus((log p(x') - log p_ref(x')) / temperature)`` over a
    batch of general-distribution samples ``x'`` drawn (with replacement) at each
    training step, with the reference model's log-likelihoods ``log p_ref(x')``
    computed once (the reference is frozen). It pushes the in-distribution model's
    likelihood of general samples below the reference's.

    Parameters
    ----------
    general_data : ndarray of shape (n_general, n_features)
        General-distribution samples, in the flow's input space.
    reference_log_prob : ndarray of shape (n_general,)
        The reference model's log-likelihood of each of them.
    weight : float
        Multiplies the loss; the training loss is in nats per dimension, so pass
        the paper's weight divided by the number of features.
    temperature : float

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skood.detectors.likelihood_ratio import OutlierLoss
    >>> from skood.flows import DensityModule, TabularFlow
    >>> loss = OutlierLoss(np.zeros((4, 2)), np.zeros(4), weight=1.0, temperature=1.0)
    >>> _ = torch.manual_seed(0)
    >>> float(loss(DensityModule(None, TabularFlow(2, 1, 4)), 3)) > 0
    True
    """

    def __init__(self, general_data, reference_log_prob, weight, temperature):
        self.general_data = general_data
        self.reference_log_prob = reference_log_prob
        self.weight = weight
        self.temperature = temperature

    def __call__(self, module, n_rows):
        p = next(module.parameters())
        x_gen = torch.as_tensor(np.asarray(self.general_data), dtype=p.dtype, device=p.device)
        lp_gen = torch.as_tensor(np.asarray(self.reference_log_prob), dtype=p.dtype,
                                 device=p.device)
        idx = torch.randint(0, x_gen.shape[0], (n_rows,), device=p.device)
        logit = (module(x_gen[idx]) - lp_gen[idx]) / self.temperature
        return self.weight * torch.nn.functional.softplus(logit).mean()


class LikelihoodRatioDetector(BaseFlowDetector):
    """Normality = ``log p_in(x) - log p_ref(x)``.

    Dividing out a reference model cancels the low-level image statistics
    (smoothness, texture) that dominate any flow's likelihood and cause the
    likelihood paradox. Two references:

    - ``reference="background"`` (Ren et al. 2019): the same architecture trained
      on the in-distribution data with each pixel replaced, with probability
      ``mutation_rate``, by a uniform random intensity (in integer pixel space),
      with weight decay ``background_weight_decay``.
    - ``reference=<density estimator>`` (Schirrmeister et al. 2020): a model of a
      broad "general" distribution. Pass it fitted and wrapped in
      :class:`sklearn.frozen.FrozenEstimator` (trained once, reused by every
      detector and every CV fold), or unfitted together with ``general_data``.

    General data reach ``fit`` through constructor parameters (``reference`` and
    ``general_data``), not ``fit`` arguments, so the detector works unchanged in
    ``Pipeline``, ``GridSearchCV`` and ``cross_validate``: CV splits only ``X``.

    Parameters
    ----------
    flow : density estimator or None, default=None
        In-distribution model (unfitted, or fitted in a ``FrozenEstimator``).
        ``None`` uses :class:`~skood.density.TabularFlowDensity`. A
        :class:`~skood.density.DiffusionDensity` works too (its probability-flow
        ODE likelihood), except with ``fine_tune`` and the outlier loss, which
        train a flow.
    reference : "background" or density estimator, default="background"
        A flow, a diffusion model or any scikit-learn density (its
        ``score_samples`` is the log-likelihood), in the same units as ``flow``.
    mutation_rate : float in [0, 1], default=0.2
        Background model only. Ren et al. tune it in [0.1, 0.3].
    background_weight_decay : float, default=1e-4
        L2 weight decay of the background model (Ren et al.).
    general_data : array-like of shape (n_general, n_features) or None, default=None
        General-distribution samples: fit an unfitted ``reference`` and feed the
        outlier loss.
    fine_tune : bool, default=False
        Initialise the in-distribution model from the reference model's weights
        and fine-tune it (Schirrmeister et al.'s recipe: the low-level parts of the
        two models stay aligned and cancel in the ratio). Needs identical
        architectures.
    outlier_loss_weight : float or "auto", default=0.0
        Weight ``w`` of the outlier loss ``w * softplus((log p_in(x') - log p_ref(x'))
        / T)`` on general samples ``x'`` (reference frozen); 0 disables it.
        ``"auto"``: the paper's 6000 scaled by ``D / 3072``. Needs ``general_data``.
    outlier_loss_temperature : float or "auto", default="auto"
        ``T``: ``"auto"`` is the paper's 1000 scaled by ``D / 3072``.
    calibration_fraction : float in [0, 1), default=0.2
        Fraction of ``X`` held out from the flow's training to calibrate the
        detector (``offset_``, group thresholds). Ignored for a frozen
        flow, which calibrates on all of ``X``; 0 calibrates on the training rows.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected false-alarm rate: ``offset_`` is that quantile of the
        calibration scores (``"auto"``: 0.05), and the group thresholds that
        quantile of bootstrap group scores.
    random_state : int, RandomState instance or None, default=None
        Seeds the calibration split, the bootstrap, the mutations and the flows
        (and an unfitted reference model) whose own ``random_state`` is None.

    Attributes
    ----------
    flow_ : density estimator
        Fitted in-distribution model.
    reference_ : density estimator
        Fitted reference model.
    offset_ : float
    n_features_in_ : int

    Examples
    --------
    >>> from skood.datasets import load_digits_images
    >>> from skood.density import GlowDensity
    >>> from skood.detectors import LikelihoodRatioDetector
    >>> X, _ = load_digits_images()
    >>> glow = GlowDensity((1, 8, 8), max_epochs=1, random_state=0)
    >>> det = LikelihoodRatioDetector(glow, mutation_rate=0.2, random_state=0).fit(X)
    >>> det.score_samples(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **BaseFlowDetector._parameter_constraints,
        "flow": LIKELIHOOD_MODELS,
        "reference": [StrOptions({"background"}), HasMethods(["fit", "score_samples"])],
        "mutation_rate": [Interval(Real, 0, 1, closed="both")],
        "background_weight_decay": [Interval(Real, 0, None, closed="left")],
        "general_data": ["array-like", None],
        "fine_tune": ["boolean"],
        "outlier_loss_weight": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "outlier_loss_temperature": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
    }

    def __init__(
        self,
        flow=None,
        *,
        reference="background",
        mutation_rate=0.2,
        background_weight_decay=1e-4,
        general_data=None,
        fine_tune=False,
        outlier_loss_weight=0.0,
        outlier_loss_temperature="auto",
        calibration_fraction=0.2,
        contamination="auto",
        random_state=None,
    ):
        self.flow = flow
        self.reference = reference
        self.mutation_rate = mutation_rate
        self.background_weight_decay = background_weight_decay
        self.general_data = general_data
        self.fine_tune = fine_tune
        self.outlier_loss_weight = outlier_loss_weight
        self.outlier_loss_temperature = outlier_loss_temperature
        self.calibration_fraction = calibration_fraction
        self.contamination = contamination
        self.random_state = random_state

    def _fit_models(self, X, rng):
        # One seed for the in-distribution flow and its background copy.
        flow = seeded(self.flow, rng)
        general = None if self.general_data is None else np.asarray(self.general_data, float)
        if general is not None and (general.ndim != 2 or general.shape[1] != X.shape[1]):
            raise ValueError(
                f"general_data must have shape (n, {X.shape[1]}) like X; got {general.shape}."
            )
        weight = self.outlier_loss_weight
        if weight == "auto":
            weight = _PAPER_WEIGHT * X.shape[1] / _PAPER_DIM
        if (self.fine_tune or weight > 0) and is_diffusion(flow):
            raise ValueError(
                "fine_tune and the outlier loss train a normalizing flow (its init_from and "
                "auxiliary_loss); a diffusion model does not have them. Use a flow, or "
                "fine_tune=False and outlier_loss_weight=0."
            )
        self.reference_ = self._fit_reference(flow, X, general, rng)
        if not (self.fine_tune or weight > 0):
            self.flow_ = fit_flow(flow, X)
            return
        if isinstance(flow, FrozenEstimator):
            raise ValueError(
                "fine_tune and the outlier loss train the in-distribution model: pass an "
                "unfitted flow, not a FrozenEstimator."
            )
        params = {}
        if self.fine_tune:
            ref = self.reference_
            params["init_from"] = ref if isinstance(ref, FrozenEstimator) else FrozenEstimator(ref)
        if weight > 0:
            if general is None:
                raise ValueError("The outlier loss needs general_data (general-distribution samples).")
            temperature = self.outlier_loss_temperature
            if temperature == "auto":
                temperature = _PAPER_TEMPERATURE * X.shape[1] / _PAPER_DIM
            params["auxiliary_loss"] = OutlierLoss(
                general, self.reference_.score_samples(general), weight / X.shape[1], temperature
            )
        self.flow_ = clone(flow).set_params(**params).fit(X)

    def _fit_reference(self, flow, X, general, rng):
        if not isinstance(self.reference, str):
            if isinstance(self.reference, FrozenEstimator):
                return self.reference
            if general is None:
                raise ValueError(
                    "An unfitted reference model needs general_data to be trained on; or "
                    "pass a fitted one wrapped in sklearn.frozen.FrozenEstimator."
                )
            return clone(seeded(self.reference, rng)).fit(general, None)
        if isinstance(flow, FrozenEstimator):
            raise ValueError(
                "reference='background' trains a copy of `flow` on mutated data: pass an "
                "unfitted flow (or a fitted background model as `reference`)."
            )
        background = clone(flow)
        if "weight_decay" in background.get_params():
            background.set_params(weight_decay=self.background_weight_decay)
        return background.fit(self._mutate(background, X))

    def _mutate(self, flow, X):
        scale = flow.get_params().get("pixel_scale", "continuous")
        if scale == "auto":
            scale = "uint8" if X.max() > 1.0 else "unit"
        if scale == "continuous":
            return mutate(X, self.mutation_rate, random_state=self.random_state,
                          low=X.min(axis=0), high=X.max(axis=0), integer=False)
        if scale == "uint8":
            return mutate(X, self.mutation_rate, random_state=self.random_state)
        X255 = np.round(X * 255.0)
        return mutate(X255, self.mutation_rate, random_state=self.random_state) / 255.0

    def _statistics(self, X):
        ratio = log_likelihood(self.flow_, X) - log_likelihood(self.reference_, X)
        # Non-finite ratios count as outliers (as in Schirrmeister et al.'s code).
        return np.where(np.isfinite(ratio), ratio, -1e300)
