"""Split-conformal calibration of an outlier detector."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..base import OffsetOutlierMixin
from ..utils._sklearn_compat import HasMethods, Interval, _fit_context
from ._p_values import _check_level, benjamini_hochberg, conformal_p_values


class ConformalDetector(OffsetOutlierMixin, MetaEstimatorMixin, BaseEstimator):
    """An outlier detector with a finite-sample false-alarm guarantee (split conformal).

    ``fit(X)`` splits the inliers ``X`` at random: ``detector`` is fit on one
    part and scores the other, the **calibration** rows it never saw. A new
    point's conformal p-value is the rank of its score among the calibration
    scores, ``(1 + #{calibration scores <= s(x)}) / (n_cal + 1)``, and
    :meth:`predict` flags ``p <= alpha``. Because a new inlier and the
    calibration rows are exchangeable, the probability that it is flagged is
    at most ``alpha``, whatever the detector, the data or ``n_cal``: exactly
    ``floor(alpha (n_cal + 1)) / (n_cal + 1)`` for continuous scores (Bates
    et al., "Testing for outliers with conformal p-values", Ann. Statist.
    2023). The guarantee is on average over calibration sets; for one fitted
    detector the false-alarm rate is random around it (standard deviation
    about ``sqrt(alpha (1 - alpha) / n_cal)``), so use a few hundred
    calibration rows or more. It needs no labels, and holds for new data
    drawn like ``X`` (not after a shift of the inlier distribution).

    For a batch, :meth:`select_outliers` applies Benjamini-Hochberg to the
    p-values: on average at most ``fdr`` of the selected points are inliers
    (the p-values share a calibration set but are PRDS, for which BH controls
    the false discovery rate; Bates et al.).

    The calibration rows are held out here, not taken from a skood
    detector's own calibration split: skood detectors fit quantities on
    their calibration rows (an entropy, a density of statistics, a LID
    scale), and scores of rows a detector was fit on are not exchangeable
    with new scores. For a pre-trained flow in
    :class:`sklearn.frozen.FrozenEstimator`, pass rows the flow did not train
    on.

    Parameters
    ----------
    detector : estimator
        An unfitted outlier detector with ``fit`` and ``score_samples``
        (normality): any skood detector, scikit-learn's IsolationForest,
        ``LocalOutlierFactor(novelty=True)``, a pipeline ending in one, or
        :class:`skood.adapters.PyODAdapter`.
    alpha : float in (0, 1), default=0.05
        Level of :meth:`predict`: the guaranteed false-alarm rate.
    calibration_size : float in (0, 1) or int >= 1, default=0.2
        Calibration rows: a fraction of ``X`` or a number. ``predict`` can
        flag anything only when ``n_cal >= 1 / alpha - 1`` (a warning says so).
    random_state : int, RandomState instance or None, default=None
        Seeds the split.

    Attributes
    ----------
    estimator_ : estimator
        ``detector`` fit on the rows not used for calibration.
    calibration_scores_ : ndarray of shape (n_cal,)
        Sorted ``score_samples`` of the calibration rows.
    offset_ : float
        ``predict`` flags ``score_samples(X) < offset_``, which is ``p <= alpha``:
        the ``floor(alpha (n_cal + 1))``-th smallest calibration score (``-inf``
        when that is 0).
    n_features_in_ : int

    See Also
    --------
    skood.model_selection.TunedThresholdDetectorCV : a threshold tuned on
        labelled outliers.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skood.conformal import ConformalDetector
    >>> rng = np.random.RandomState(0)
    >>> det = ConformalDetector(IsolationForest(random_state=0), alpha=0.1,
    ...                         calibration_size=999, random_state=0)
    >>> det = det.fit(rng.normal(size=(2000, 2)))
    >>> det.p_values([[0.0, 0.0], [6.0, 6.0]])     # an inlier, an outlier
    array([0.989, 0.001])
    >>> det.predict([[0.0, 0.0], [6.0, 6.0]])
    array([ 1, -1])

    The false-alarm rate on fresh inliers is 0.1 on average over calibration
    sets; this one calibration set gives a little more (the standard deviation
    over calibration sets of 999 rows is about 0.01):

    >>> X_new = rng.normal(size=(2000, 2))
    >>> round(float(np.mean(det.predict(X_new) == -1)), 3)
    0.122
    """

    _parameter_constraints = {
        "detector": [HasMethods(["fit", "score_samples"])],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "calibration_size": [Interval(Real, 0, 1, closed="neither"),
                             Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, detector, *, alpha=0.05, calibration_size=0.2, random_state=None):
        self.detector = detector
        self.alpha = alpha
        self.calibration_size = calibration_size
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the detector on part of ``X`` and calibrate on the rest.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inliers.
        y : ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, ensure_min_samples=2)
        n = X.shape[0]
        if isinstance(self.calibration_size, Integral):
            n_cal = int(self.calibration_size)
        else:
            n_cal = max(1, int(round(self.calibration_size * n)))
        if n - n_cal < 1:
            raise ValueError(
                f"calibration_size={self.calibration_size} leaves no row of the "
                f"{n} samples to fit the detector on."
            )
        perm = check_random_state(self.random_state).permutation(n)
        cal, fit_rows = np.sort(perm[:n_cal]), np.sort(perm[n_cal:])
        self.estimator_ = clone(self.detector).fit(X[fit_rows])
        scores = np.asarray(self.estimator_.score_samples(X[cal]), dtype=np.float64)
        self.calibration_scores_ = np.sort(np.nan_to_num(scores, nan=-np.inf))
        k = self._rank(self.alpha)
        if k == 0:
            warnings.warn(
                f"{n_cal} calibration rows are too few for alpha={self.alpha}: no p-value "
                f"can be <= alpha, so predict flags nothing (need at least "
                f"{math.ceil(1 / self.alpha - 1)}).", UserWarning, stacklevel=2,
            )
            self.offset_ = -np.inf
        else:
            self.offset_ = float(self.calibration_scores_[k - 1])
        return self

    def _rank(self, alpha):
        """``floor(alpha (n_cal + 1))``, robust to products a hair below an integer."""
        n_cal = self.calibration_scores_.shape[0]
        return min(n_cal, int(math.floor(alpha * (n_cal + 1) + 1e-9)))

    def score_samples(self, X):
        """Normality of each sample (the detector's ``score_samples``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.asarray(self.estimator_.score_samples(X), dtype=np.float64)

    def p_values(self, X):
        """Conformal p-values: small for outliers.

        ``(1 + #{calibration scores <= score_samples(x)}) / (n_cal + 1)``; for a
        new inlier ``P(p <= a) <= a`` for every ``a`` (see
        :func:`conformal_p_values`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        p_values : ndarray of shape (n_samples,)
        """
        return conformal_p_values(self.calibration_scores_, self.score_samples(X))

    def select_outliers(self, X, fdr=0.1):
        """Benjamini-Hochberg selection of outliers in the batch ``X``.

        On average at most ``fdr`` of the selected rows are inliers (false
        discovery rate); see :func:`benjamini_hochberg`. Unlike
        :meth:`predict`, the threshold adapts to the batch: more outliers in
        ``X``, more selected.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        fdr : float in (0, 1), default=0.1

        Returns
        -------
        selected : ndarray of bool, shape (n_samples,)
            True for the rows declared outliers.
        """
        _check_level(fdr, "fdr")
        return benjamini_hochberg(self.p_values(X), fdr)
