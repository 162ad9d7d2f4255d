"""Final-scale likelihood of a multi-scale flow (Schirrmeister et al., NeurIPS 2020)."""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval

from ._base import BaseFlowDetector, fit_flow


class LastScaleDetector(BaseFlowDetector):
    """Normality = the likelihood contribution of the coarsest scale(s) of a Glow.

    A multi-scale Glow's log-likelihood splits into per-scale terms ``c_k(x)``
    (the log-determinants of scale ``k``'s block plus the prior density of the
    latents factored out there). Fine scales model local texture and smoothness
    shared by all natural images and dominate ``log p(x)``; the last scale carries
    the semantic, dataset-specific part. Schirrmeister et al. (2020) score with
    ``c_L(x)`` alone; ``n_last_scales`` sums the last m scales (a [RECON] variant).

    Parameters
    ----------
    flow : density estimator or None, default=None
        A multi-scale flow with ``log_prob_per_scale`` (e.g.
        :class:`~skood.density.GlowDensity`), unfitted or wrapped in
        :class:`sklearn.frozen.FrozenEstimator`. ``None`` uses
        :class:`~skood.density.TabularFlowDensity` (one scale: plain likelihood).
    n_last_scales : int, default=1
        Number of coarsest scales whose terms are summed. Capped at the number of
        scales of the flow.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Fraction of training samples flagged as outliers (``"auto"``: 0.05).

    Attributes
    ----------
    flow_ : density estimator
    offset_ : float
    n_features_in_ : int

    Examples
    --------
    >>> from skood.datasets import load_digits_images
    >>> from skood.density import GlowDensity
    >>> from skood.detectors import LastScaleDetector
    >>> X, _ = load_digits_images()
    >>> det = LastScaleDetector(GlowDensity((1, 8, 8), max_epochs=1, random_state=0)).fit(X)
    >>> det.score_samples(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **BaseFlowDetector._parameter_constraints,
        "flow": [HasMethods(["fit", "log_prob_per_scale"]), None],
        "n_last_scales": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, flow=None, *, n_last_scales=1, contamination="auto"):
        self.flow = flow
        self.n_last_scales = n_last_scales
        self.contamination = contamination

    def _fit_method(self, X):
        self.flow_ = fit_flow(self.flow, X)

    def _score(self, X):
        per_scale = self.flow_.log_prob_per_scale(X)
        return per_scale[:, -self.n_last_scales :].sum(axis=1)
