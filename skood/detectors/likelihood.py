"""Plain likelihood detector (the baseline every method is measured against)."""

from sklearn.utils._param_validation import HasMethods

from ._base import BaseFlowDetector, fit_flow


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
        :class:`~skood.density.TabularFlowDensity` with default parameters.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Fraction of training samples flagged as outliers: sets ``offset_`` to
        that quantile of the training scores. ``"auto"`` uses 0.05.

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
        "flow": [HasMethods(["fit", "score_samples"]), None],
    }

    def __init__(self, flow=None, *, contamination="auto"):
        self.flow = flow
        self.contamination = contamination

    def _fit_method(self, X):
        self.flow_ = fit_flow(self.flow, X)

    def _score(self, X):
        return self.flow_.score_samples(X)
