"""Base classes shared by skood's estimators."""

import numpy as np
from sklearn.base import OutlierMixin

__all__ = ["OffsetOutlierMixin", "offset_from_scores"]

# Scores this close to the threshold (relative to the scores' range) are round-off
# ties: float32 scores of one row move by about 1e-7 with the batch it is scored in.
_TIE_RTOL = 1e-6


def offset_from_scores(scores, false_alarm_rate):
    """The threshold that flags ``false_alarm_rate`` of ``scores``, never on one of them.

    The ``false_alarm_rate`` quantile (linear interpolation) of the finite
    ``scores``; where that lands within round-off of a score (tied scores, or a
    quantile that falls on a sample), it moves down to halfway to the next
    lower score. Otherwise a calibration row would sit on the threshold and its
    label would flip with the last bit of its score, e.g. between scoring it
    alone and in a batch.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Normality of the calibration rows.
    false_alarm_rate : float in [0, 1]

    Returns
    -------
    offset : float

    Examples
    --------
    >>> from skood.base import offset_from_scores
    >>> offset_from_scores([1.0, 2.0, 3.0, 4.0, 5.0], 0.25)
    1.5
    >>> offset_from_scores([1.0, 2.0, 3.0, 4.0, 5.0], 0.3)
    2.2
    """
    scores = np.asarray(scores, dtype=np.float64)
    scores = np.sort(scores[np.isfinite(scores)])
    if scores.size == 0:
        raise ValueError("No finite calibration score to set the threshold from.")
    t = float(np.percentile(scores, 100.0 * false_alarm_rate))
    tol = _TIE_RTOL * max(float(scores[-1] - scores[0]), abs(t), np.finfo(np.float64).tiny)
    near = np.abs(scores - t) <= tol
    if not near.any():
        return t
    tied = scores[near][0]
    lower = scores[scores < tied - tol]
    return float(0.5 * (lower[-1] + tied)) if lower.size else float(tied - 2 * tol)


class OffsetOutlierMixin(OutlierMixin):
    """Outlier detector whose decisions are a normality score against ``offset_``.

    scikit-learn's outlier convention, written once: a subclass provides
    ``score_samples(X)`` (normality: higher = more in-distribution) and a fitted
    ``offset_``; this mixin adds ``decision_function = score_samples - offset_``
    (negative for outliers), ``predict`` (+1 inlier, -1 outlier) and, from
    :class:`sklearn.base.OutlierMixin`, ``fit_predict``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skood.base import OffsetOutlierMixin
    >>> class Norm(OffsetOutlierMixin, BaseEstimator):
    ...     def fit(self, X, y=None):
    ...         self.offset_ = -2.0
    ...         return self
    ...     def score_samples(self, X):
    ...         return -np.linalg.norm(X, axis=1)
    >>> Norm().fit(None).predict(np.array([[0.0, 1.0], [3.0, 4.0]]))
    array([ 1, -1])
    """

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, -1 for outliers (``decision_function(X) < 0``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return np.where(self.decision_function(X) >= 0, 1, -1)
