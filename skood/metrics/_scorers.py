"""Scorers for scikit-learn model selection (``GridSearchCV(..., scoring=...)``)."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from ._ranking import METRIC_NAMES, aupr_in, aupr_out, auroc, fpr_at_95_tpr

_METRIC_FUNCTIONS = {
    "auroc": auroc,
    "aupr_in": aupr_in,
    "aupr_out": aupr_out,
    "fpr95": fpr_at_95_tpr,
}


def _is_pyod_model(estimator):
    """Whether ``estimator`` follows PyOD's convention (``decision_function`` = outlyingness).

    A PyOD detector is recognised by its module (``pyod.*``) or by PyOD's
    fitted attributes ``threshold_`` and ``decision_scores_``; a pipeline by
    its last step. Anything with ``score_samples`` is not one: PyOD detectors
    have none, and ``score_samples`` is normality by scikit-learn's convention.
    """
    if hasattr(estimator, "score_samples"):
        return False
    if isinstance(estimator, Pipeline):
        return _is_pyod_model(estimator.steps[-1][1])
    module = type(estimator).__module__ or ""
    return (
        module == "pyod"
        or module.startswith("pyod.")
        or (hasattr(estimator, "threshold_") and hasattr(estimator, "decision_scores_"))
    )


def _check_not_pyod(estimator, what="an OOD scorer"):
    """Raise ``TypeError`` naming :class:`skood.adapters.PyODAdapter` for a PyOD model."""
    if _is_pyod_model(estimator):
        name = type(estimator).__name__
        raise TypeError(
            f"{name} looks like a PyOD detector: its decision_function is outlyingness "
            f"(higher = more outlying), the opposite of the normality {what} "
            f"needs. Wrap it with skood.adapters.PyODAdapter ("
            f"`from skood.adapters import PyODAdapter`; PyODAdapter({name}(...))), whose "
            f"score_samples is -decision_function."
        )


def _normality_scores(estimator, X):
    """Normality scores of a fitted estimator: ``score_samples``, else ``decision_function``.

    ``decision_function`` is normality for scikit-learn's outlier detectors
    but outlyingness for PyOD's, and PyOD detectors also count as scikit-learn
    outlier detectors (they subclass ``BaseEstimator`` and set the tag), so
    they are refused first: a silent fallback would invert the metric.
    """
    _check_not_pyod(estimator)
    for method in ("score_samples", "decision_function"):
        if hasattr(estimator, method):
            return np.asarray(getattr(estimator, method)(X), dtype=np.float64).ravel()
    raise TypeError(
        f"{type(estimator).__name__} has neither score_samples nor decision_function; "
        f"an OOD scorer needs one of them (higher = more in-distribution)."
    )


class _OODScorer:
    """Callable ``scorer(estimator, X, y)`` for scikit-learn model selection.

    Scores ``X`` with the estimator's ``score_samples`` (or, failing that,
    ``decision_function``) and evaluates one metric against ``y``. Greater is
    better: ``"fpr95"`` is returned negated, like scikit-learn's ``neg_*``
    scorers. PyOD detectors are refused (``TypeError``), see
    :func:`make_ood_scorer`.

    Parameters
    ----------
    metric : {"auroc", "aupr_in", "aupr_out", "fpr95"}
    outlier_label : scalar or None
        See :func:`auroc`.
    """

    def __init__(self, metric, outlier_label=None):
        self.metric = metric
        self.outlier_label = outlier_label

    def __call__(self, estimator, X, y):
        """Evaluate ``estimator`` on ``(X, y)``.

        Parameters
        ----------
        estimator : fitted estimator
            Has ``score_samples`` or ``decision_function`` (normality).
        X : array-like of shape (n_samples, n_features)
            Evaluation data.
        y : array-like of shape (n_samples,)
            Labels, ``+1`` ID / ``-1`` OOD unless ``outlier_label`` was given.

        Returns
        -------
        float
            The metric, negated for ``"fpr95"``.
        """
        scores = _normality_scores(estimator, X)
        value = _METRIC_FUNCTIONS[self.metric](y, scores, outlier_label=self.outlier_label)
        return -value if self.metric == "fpr95" else value

    def __repr__(self):
        extra = "" if self.outlier_label is None else f", outlier_label={self.outlier_label!r}"
        return f"make_ood_scorer({self.metric!r}{extra})"


def make_ood_scorer(metric, *, outlier_label=None):
    """Build a scorer for ``GridSearchCV`` / ``cross_validate`` from an OOD metric.

    The scorer is a callable ``scorer(estimator, X, y)`` that scores ``X`` with
    ``estimator.score_samples`` when available, else with
    ``estimator.decision_function``, and compares the normality scores with
    ``y``. Greater is better: ``"fpr95"`` (lower is better) is returned
    negated, like scikit-learn's ``neg_*`` scorers.

    A PyOD detector (a class from the ``pyod`` package, an object with PyOD's
    fitted ``threshold_`` and ``decision_scores_`` but no ``score_samples``,
    or a pipeline ending in one) is refused with a ``TypeError``: its
    ``decision_function`` is outlyingness, so reading it as normality would
    silently turn an AUROC of 0.9 into 0.1. Wrap it in
    :class:`skood.adapters.PyODAdapter` instead.

    Parameters
    ----------
    metric : {"auroc", "aupr_in", "aupr_out", "fpr95"}
        The metric; ``"neg_fpr95"`` is accepted as an alias of ``"fpr95"``.
    outlier_label : scalar, default=None
        The value of ``y`` that means OOD, needed unless ``y`` uses
        scikit-learn's ``+1/-1`` labels (e.g. ``outlier_label=1`` for 0/1
        labels with 1 = outlier).

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``; picklable. It raises
        ``TypeError`` for a PyOD detector or an estimator with neither
        ``score_samples`` nor ``decision_function``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skood.metrics import make_ood_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(6, 1, (10, 2))]
    >>> y = np.r_[np.zeros(50, int), np.ones(10, int)]  # 1 = outlier
    >>> scorer = make_ood_scorer("auroc", outlier_label=1)
    >>> scorer
    make_ood_scorer('auroc', outlier_label=1)
    >>> round(scorer(IsolationForest(random_state=0).fit(X), X, y), 3)
    0.994

    As ``scoring`` of a model selection:

    >>> from sklearn.model_selection import GridSearchCV
    >>> search = GridSearchCV(IsolationForest(), {"max_samples": [0.5, 1.0]},
    ...                       scoring=scorer)
    """
    if metric == "neg_fpr95":
        metric = "fpr95"
    if metric not in METRIC_NAMES:
        raise ValueError(f"metric must be one of {METRIC_NAMES}; got {metric!r}.")
    return _OODScorer(metric, outlier_label)


#: AUROC scorer for labels ``+1`` ID / ``-1`` OOD.
auroc_scorer = make_ood_scorer("auroc")
#: AUPR-In scorer for labels ``+1`` ID / ``-1`` OOD.
aupr_in_scorer = make_ood_scorer("aupr_in")
#: AUPR-Out scorer for labels ``+1`` ID / ``-1`` OOD.
aupr_out_scorer = make_ood_scorer("aupr_out")
#: Negated FPR@95TPR scorer (greater is better) for labels ``+1`` ID / ``-1`` OOD.
neg_fpr95_scorer = make_ood_scorer("fpr95")

#: Name -> scorer, usable directly as multi-metric ``scoring`` of ``GridSearchCV``.
SCORERS = {
    "auroc": auroc_scorer,
    "aupr_in": aupr_in_scorer,
    "aupr_out": aupr_out_scorer,
    "neg_fpr95": neg_fpr95_scorer,
}

