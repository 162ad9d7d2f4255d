"""Typicality test (Nalisnick, Matsukawa, Teh & Lakshminarayanan, 2019), group and point-wise.

In high dimension a model's samples concentrate in its *typical set*: their mean
negative log-likelihood is close to the model's entropy ``H``. Inputs whose mean
NLL is far from ``H`` in *either* direction are atypical, which catches the OOD
sets a likelihood threshold misses because they are *too likely* (Fashion-MNIST
-> MNIST). The test is made for groups of M inputs; M = 1 is its point-wise form.
See :mod:`skood.detectors._groups` for the group API.
"""

from numbers import Integral, Real

import numpy as np

from ..utils._sklearn_compat import Interval
from ._base import LIKELIHOOD_MODELS, BaseFlowDetector, log_likelihood
from ._groups import group_reduce


class TypicalityDetector(BaseFlowDetector):
    """Typicality test: normality = ``-| mean NLL of the group - H |``.

    The entropy estimate ``H = entropy_`` is the mean negative log-likelihood
    ``-log p(x)`` of held-out in-distribution samples. A group ``X_M`` of M
    samples has the statistic ``eps(X_M) = | (1/M) sum_m -log p(x_m) - H |``
    (higher = more OOD); its normality score is ``-eps``. ``score_samples`` is the
    point-wise form (M = 1), ``score_groups`` the group test.

    ``fit`` holds out ``calibration_fraction`` of ``X`` (chosen by
    ``random_state``), fits the flow on the rest and estimates ``H`` on the
    held-out part: on the training samples themselves the NLL is biased low (the
    flow has fit them). A flow passed in a :class:`sklearn.frozen.FrozenEstimator`
    is not trained on ``X``, so all of ``X`` is used to estimate ``H``: pass data
    the flow was not trained on.

    :meth:`predict_groups` implements the test's decision: a group of size M is
    OOD when ``eps`` exceeds the ``1 - alpha`` quantile of ``eps`` over
    ``n_bootstrap`` groups of M held-out samples (:meth:`group_threshold` is
    that quantile, negated). ``predict`` (per sample) instead thresholds at
    ``offset_``, set by ``contamination`` on the calibration scores like every
    skood detector.

    Parameters
    ----------
    flow : density estimator or None, default=None
        An unfitted skood density estimator (cloned and fitted in ``fit``), or a
        fitted one wrapped in :class:`sklearn.frozen.FrozenEstimator`. ``None``
        uses :class:`~skood.density.TabularFlowDensity`. A
        :class:`~skood.density.DiffusionDensity` works too (its probability-flow
        ODE log-likelihood).
    alpha : float in (0, 1), default=0.01
        False-alarm rate of :meth:`predict_groups` on in-distribution groups.
    n_bootstrap : int, default=1000
        Number of held-out groups drawn per group size for the threshold.
    calibration_fraction : float in [0, 1), default=0.2
        Fraction of ``X`` held out from the flow's training to calibrate the
        detector (``offset_``, group thresholds, the entropy). Ignored for a frozen
        flow, which calibrates on all of ``X``; 0 calibrates on the training rows.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected false-alarm rate: ``offset_`` is that quantile of the
        calibration scores (``"auto"``: 0.05), and the group thresholds that
        quantile of bootstrap group scores (groups: ``alpha``).
    random_state : int, RandomState instance or None, default=None
        Seeds the calibration split, the bootstrap and the flow where its own
        ``random_state`` is None (the default flow included).

    Attributes
    ----------
    flow_ : density estimator
        The fitted flow.
    entropy_ : float
        Entropy estimate ``H`` (nats): mean NLL of the held-out samples.
    calibration_statistics_ : ndarray of shape (n_calibration,)
        NLL of the calibration samples (the bootstrap pool).
    group_thresholds_ : dict
        ``{group_size: threshold}`` for group sizes 1 and 5 (see
        :meth:`group_threshold`).
    bootstrap_seed_ : int
        Seed of the bootstrap generator.
    offset_ : float
        Threshold on ``score_samples`` used by ``predict``.
    n_features_in_ : int

    See Also
    --------
    KLDivergenceDetector : group test on the latent distribution (KLODS).

    References
    ----------
    E. Nalisnick, A. Matsukawa, Y. W. Teh, B. Lakshminarayanan, "Detecting
    out-of-distribution inputs to deep generative models using typicality",
    arXiv:1906.02994, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skood.density import TabularFlowDensity
    >>> from skood.detectors.typicality import TypicalityDetector
    >>> X = np.random.RandomState(0).normal(size=(300, 3))
    >>> det = TypicalityDetector(TabularFlowDensity(max_epochs=2, random_state=0),
    ...                          random_state=0).fit(X)
    >>> det.score_groups(X[:20], group_size=5).shape
    (4,)
    >>> det.predict_groups(X[:20] + 5.0, group_size=5)
    array([-1, -1, -1, -1])
    """

    _parameter_constraints = {
        **BaseFlowDetector._parameter_constraints,
        "flow": LIKELIHOOD_MODELS,
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "n_bootstrap": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        flow=None,
        *,
        alpha=0.01,
        n_bootstrap=1000,
        calibration_fraction=0.2,
        contamination="auto",
        random_state=None,
    ):
        self.flow = flow
        self.calibration_fraction = calibration_fraction
        self.alpha = alpha
        self.n_bootstrap = n_bootstrap
        self.contamination = contamination
        self.random_state = random_state

    def _statistics(self, X):
        return -log_likelihood(self.flow_, X)

    def _calibrate(self, X_fit, X_cal, nll, rng):
        self.entropy_ = float(np.mean(nll))
        return nll

    def _point_scores(self, nll):
        return -np.abs(nll - self.entropy_)

    def _group_scores(self, nll, index):
        return -np.abs(group_reduce(nll, index, np.mean) - self.entropy_)

    def _group_false_alarm_rate(self):
        return self.alpha

    def _n_bootstrap(self):
        return self.n_bootstrap
