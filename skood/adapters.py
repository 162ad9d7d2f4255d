"""Adapters that give other libraries' detectors scikit-learn's outlier conventions.

PyOD's detectors look like scikit-learn estimators (they subclass
``BaseEstimator`` and even carry the outlier-detector tag) but score the other
way round: their ``decision_function`` is *outlyingness* (higher = more
outlying) and their labels are ``1`` = outlier, ``0`` = inlier. skood's metrics
and scorers expect scikit-learn's *normality* (higher = more in-distribution)
and labels ``+1`` / ``-1``. :class:`PyODAdapter` converts, so a PyOD detector
can sit in a :class:`~sklearn.pipeline.Pipeline`, a ``GridSearchCV`` scored by
:func:`skood.metrics.make_ood_scorer`, or a benchmark next to scikit-learn's
detectors.
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from .base import OffsetOutlierMixin
from .metrics import from_pyod
from .utils._sklearn_compat import HasMethods, _fit_context

__all__ = ["PyODAdapter"]

#: PyOD's default ``contamination``, used when the wrapped detector has none.
PYOD_DEFAULT_CONTAMINATION = 0.1


class PyODAdapter(OffsetOutlierMixin, BaseEstimator):
    """A PyOD-style detector behind scikit-learn's outlier-detection conventions.

    Wraps any detector that follows PyOD's conventions: ``fit(X)``,
    ``decision_function(X)`` returning outlyingness (higher = more outlying)
    and, usually, a fitted ``threshold_`` on that outlyingness. The adapter
    is a scikit-learn outlier detector: ``score_samples`` is normality
    (higher = more in-distribution), ``decision_function`` is negative for
    outliers and ``predict`` returns ``+1`` (inlier) or ``-1`` (outlier).

    Parameters
    ----------
    detector : object
        An unfitted PyOD (or PyOD-like) detector with ``fit`` and
        ``decision_function``, e.g. ``pyod.models.knn.KNN()``. It is cloned by
        :meth:`fit` (with :func:`sklearn.base.clone`), so it must be
        clonable, as every PyOD detector is; the instance passed stays
        unfitted.

    Attributes
    ----------
    detector_ : object
        The fitted clone of ``detector``.
    offset_ : float
        Normality threshold: ``decision_function = score_samples - offset_``.
        It is ``-detector_.threshold_`` when the detector has one (PyOD's own
        threshold, so :meth:`predict` agrees with PyOD's ``labels_`` rule),
        else the ``contamination`` quantile of the training normality scores,
        the rule PyOD uses for ``threshold_``, with the detector's
        ``contamination`` (0.1 when it has none).
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during :meth:`fit`, when ``X`` has string
        column names.

    See Also
    --------
    skood.metrics.from_pyod : the score and label conversion used here.
    skood.metrics.make_ood_scorer : scorers, which refuse a bare PyOD detector.

    Notes
    -----
    The scores are those of PyOD, negated, so every ranking metric (AUROC,
    AUPR) of ``PyODAdapter(det)`` equals PyOD's own with the labels
    converted by :func:`skood.metrics.from_pyod`.

    Examples
    --------
    Any object with PyOD's conventions works; here a distance to the mean:

    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skood.adapters import PyODAdapter
    >>> class Distance(BaseEstimator):  # PyOD-style: high = outlying
    ...     def fit(self, X, y=None):
    ...         self.center_ = X.mean(axis=0)
    ...         self.threshold_ = 1.0
    ...         return self
    ...     def decision_function(self, X):
    ...         return np.abs(X - self.center_).sum(axis=1)
    >>> X = np.array([[-0.5], [0.0], [0.5]])
    >>> adapter = PyODAdapter(Distance()).fit(X)
    >>> adapter.score_samples([[0.2], [3.0]])  # normality
    array([-0.2, -3. ])
    >>> adapter.offset_
    -1.0
    >>> adapter.predict([[0.2], [3.0]])
    array([ 1, -1])

    With PyOD itself (an optional extra, ``pip install skood[pyod]``):

    >>> from pyod.models.knn import KNN  # doctest: +SKIP
    >>> from skood.metrics import auroc_scorer
    >>> detector = PyODAdapter(KNN(n_neighbors=5)).fit(X_train)  # doctest: +SKIP
    >>> auroc_scorer(detector, X_test, y_test)  # doctest: +SKIP
    """

    _parameter_constraints = {"detector": [HasMethods(["fit", "decision_function"])]}

    def __init__(self, detector):
        self.detector = detector

    # The wrapped detector is a third-party object without scikit-learn's
    # parameter constraints; nothing to skip for it, so validate nested calls.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit a clone of the wrapped detector on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : PyODAdapter
            The fitted adapter.
        """
        X = validate_data(self, X)
        self.detector_ = clone(self.detector).fit(X)
        threshold = getattr(self.detector_, "threshold_", None)
        if threshold is not None:
            self.offset_ = -float(threshold)
            return self
        contamination = getattr(self.detector_, "contamination", PYOD_DEFAULT_CONTAMINATION)
        if (
            isinstance(contamination, (bool, np.bool_))
            or not isinstance(contamination, Real)
            or not 0 <= contamination <= 0.5
        ):
            raise ValueError(
                f"{type(self.detector_).__name__} has no threshold_ and its "
                f"contamination={contamination!r} is not a fraction in [0, 0.5]; "
                f"PyODAdapter needs one of them to set offset_."
            )
        # PyOD's decision_scores_ are its training scores (for KNN they leave
        # each sample out of its own neighbours); use them as PyOD would.
        train_scores = getattr(self.detector_, "decision_scores_", None)
        if train_scores is None:
            train_scores = self.detector_.decision_function(X)
        normality = from_pyod(np.ravel(train_scores))[0]
        self.offset_ = float(np.percentile(normality, 100.0 * contamination))
        return self

    def score_samples(self, X):
        """Normality of the samples: the wrapped detector's outlyingness, negated.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher = more in-distribution.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return from_pyod(np.ravel(self.detector_.decision_function(X)))[0]
