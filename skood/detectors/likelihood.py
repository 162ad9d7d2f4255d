"""Plain likelihood detector (the baseline every method is measured against)."""

from ._base import LIKELIHOOD_MODELS, BaseFlowDetector, log_likelihood


class LikelihoodDetector(BaseFlowDetector):
    """Normality = the flow's log-likelihood ``log p(x)``.

    The baseline of Nalisnick et al. (2019): simple and often strong, but deep
    generative models can assign *higher* likelihood to some OOD data than to
    their training data (Fashion-MNIST -> MNIST, CIFAR-10 -> SVHN).

    Parameters
    ----------
    flow : density estimator or None, default=None
        An unfitted skood density estimator (cloned and fitted in ``fit``), or a
        fitted one wrapped in :class:`sklearn.frozen.FrozenEstimator` (used as it
        is, so one trained flow can serve several detectors). ``None`` uses
        :class:`~skood.density.TabularFlowDensity` with default parameters. A
        :class:`~skood.density.DiffusionDensity` works too: its
        probability-flow ODE log-likelihood is the score.
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
        The fitted flow.
    offset_ : float
        Threshold on ``score_samples``: ``decision_function = score_samples - offset_``.
    n_features_in_ : int

    Examples
    --------
    >>> from skood.datasets import load_digits_images
    >>> from skood.density import GlowDensity
    >>> from skood.detectors import LikelihoodDetector
    >>> X, _ = load_digits_images()
    >>> det = LikelihoodDetector(GlowDensity((1, 8, 8), max_epochs=1, random_state=0))
    >>> det.fit(X).predict(X[:4]).shape
    (4,)
    """

    _parameter_constraints = {
        **BaseFlowDetector._parameter_constraints,
        "flow": LIKELIHOOD_MODELS,
    }

    def __init__(self, flow=None, *, calibration_fraction=0.2, contamination="auto",
                 random_state=None):
        self.flow = flow
        self.calibration_fraction = calibration_fraction
        self.contamination = contamination
        self.random_state = random_state

    def _statistics(self, X):
        return log_likelihood(self.flow_, X)
