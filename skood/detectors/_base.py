"""Base class of skood's detectors: sklearn's outlier-detector contract around a flow."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..density import TabularFlowDensity

#: ``contamination="auto"`` flags the training samples below this quantile of the
#: training scores: the 95%-of-inliers operating point the OOD literature reports.
AUTO_CONTAMINATION = 0.05


def fit_flow(flow, X):
    """Fit a clone of ``flow`` on ``X``; a ``FrozenEstimator`` is used as it is."""
    flow = TabularFlowDensity() if flow is None else flow
    # clone() of a FrozenEstimator returns it unchanged and its fit() is a no-op,
    # so one pre-trained flow can serve several detectors.
    return clone(flow).fit(X, None)


class BaseFlowDetector(OutlierMixin, BaseEstimator):
    """Validate -> flow outputs -> method score -> ``offset_`` -> predict.

    Subclasses implement ``_fit_method(X)`` (fit flows and any statistics the
    score needs) and ``_score(X)`` (normality of validated ``X``, higher = more
    in-distribution).
    """

    _parameter_constraints = {
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
    }

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the detector on in-distribution data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        self._fit_method(X)
        self.offset_ = self._offset(self._score(X))
        return self

    def _offset(self, train_scores):
        c = AUTO_CONTAMINATION if self.contamination == "auto" else self.contamination
        return float(np.percentile(train_scores, 100.0 * c))

    def _validate(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype="numeric", reset=False)

    def score_samples(self, X):
        """Normality of each sample: higher means more in-distribution.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        return np.asarray(self._score(self._validate(X)), dtype=np.float64)

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
        """+1 for inliers, -1 for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return np.where(self.decision_function(X) >= 0, 1, -1)

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` under the (in-distribution) flow.

        Label-free model selection for ``GridSearchCV``. Likelihood is not OOD
        quality (that is the paradox this library is about): to tune for
        detection, pass a scorer from :mod:`skood.metrics` and labelled data.
        """
        check_is_fitted(self)
        return float(self.flow_.score(X))
