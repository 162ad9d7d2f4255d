"""Final-scale likelihood of a multi-scale flow (Schirrmeister et al., NeurIPS 2020)."""

from numbers import Integral

from ..utils._sklearn_compat import Interval
from ._base import BaseFlowDetector


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
    calibration_fraction : float in [0, 1), default=0.2
        Fraction of ``X`` held out from the flow's training to calibrate the
        detector (``offset_``, group thresholds). Ignored for a frozen
        flow, which calibrates on all of ``X``; 0 calibrates on the training rows.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected false-alarm rate: ``offset_`` is that quantile of the
        calibration scores (``"auto"``: 0.05), and the group thresholds that
        quantile of bootstrap group scores.
    random_state : int, RandomState instance or None, default=None
        Seeds the calibration split, the bootstrap and the flow where its own
        ``random_state`` is None (the default flow included).

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
        "n_last_scales": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, flow=None, *, n_last_scales=1, calibration_fraction=0.2,
                 contamination="auto", random_state=None):
        self.flow = flow
        self.n_last_scales = n_last_scales
        self.calibration_fraction = calibration_fraction
        self.contamination = contamination
        self.random_state = random_state

    def _statistics(self, X):
        per_scale = self.flow_.flow_pass(X, latents=False).log_prob_per_scale
        return per_scale[:, -self.n_last_scales :].sum(axis=1)
