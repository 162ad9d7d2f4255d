"""Base classes shared by skood's estimators."""

import numpy as np
from sklearn.base import OutlierMixin

__all__ = ["OffsetOutlierMixin"]


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
