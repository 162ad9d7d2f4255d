"""OOD-detection metrics, scikit-learn scorers and group helpers.

Conventions
-----------
skood follows scikit-learn's outlier-detection conventions throughout:

* **Scores are normality**: a higher score means *more* in-distribution
  ("ID"), as returned by ``score_samples`` / ``decision_function`` of
  scikit-learn's outlier detectors and of every skood detector.
* **Labels** are scikit-learn's: ``+1`` for inliers (ID) and ``-1`` for
  outliers (out-of-distribution, "OOD"). Other encodings, e.g. ``0/1``, are
  accepted only together with an explicit ``outlier_label`` naming the value
  that means OOD (``outlier_label=1`` for the PyOD / ADBench convention where
  1 = anomaly). Labels other than ``{-1, +1}`` without ``outlier_label`` raise
  ``ValueError`` rather than guess, because the two common ``0/1`` conventions
  disagree on which value is the outlier.

With these conventions the metrics are:

* **AUROC**: area under the ROC curve with ID as the positive class and the
  normality score as the decision value (identical to OOD as the positive
  class scored by ``-normality``). 0.5 is chance, 1 is perfect.
* **AUPR-In**: average precision with ID as the positive class, score =
  normality.
* **AUPR-Out**: average precision with OOD as the positive class, score =
  ``-normality``.
* **FPR@95TPR** (``"fpr95"``): ID is the positive class. The threshold ``t`` is
  the largest value such that at least 95% of the ID scores are ``>= t`` (95%
  of the ID data is kept); the metric is the fraction of OOD samples with
  score ``>= t``, i.e. OOD samples wrongly accepted as ID. Lower is better.
  Note that pytorch-ood uses the opposite convention (OOD is the positive
  class: the threshold detects 95% of the OOD samples and the metric is the
  fraction of ID samples flagged), so its numbers are not comparable with
  these in general.

The metrics only depend on the *order* of the scores (and their ties), so
``-inf`` scores, e.g. the log-likelihood of an impossible input, are allowed;
NaN scores raise ``ValueError``.

PyOD uses the opposite orientation (higher = more outlying, 1 = outlier);
:func:`from_pyod` and :func:`to_pyod` convert scores and labels.

Contents
--------
Metrics
    :func:`auroc`, :func:`aupr_in`, :func:`aupr_out`, :func:`fpr_at_tpr`,
    :func:`fpr_at_95_tpr`, :func:`ood_metrics`, :func:`evaluate_id_ood`,
    :func:`auroc_id_ood`.
Scorers for model selection (``GridSearchCV(..., scoring=...)``)
    :data:`auroc_scorer`, :data:`aupr_in_scorer`, :data:`aupr_out_scorer`,
    :data:`neg_fpr95_scorer`, :data:`SCORERS`, :func:`make_ood_scorer`.
Conversion
    :func:`from_pyod`, :func:`to_pyod`.
Groups
    :func:`make_groups`, :func:`group_labels_from_indices`,
    :func:`group_auroc`.
Two-score oracle
    :func:`dual_threshold_auroc`.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.utils import check_random_state

__all__ = [
    "SCORERS",
    "aupr_in",
    "aupr_in_scorer",
    "aupr_out",
    "aupr_out_scorer",
    "auroc",
    "auroc_id_ood",
    "auroc_scorer",
    "dual_threshold_auroc",
    "evaluate_id_ood",
    "fpr_at_95_tpr",
    "fpr_at_tpr",
    "from_pyod",
    "group_auroc",
    "group_labels_from_indices",
    "make_groups",
    "make_ood_scorer",
    "neg_fpr95_scorer",
    "ood_metrics",
    "to_pyod",
]

#: Names accepted by :func:`make_ood_scorer` and the keys of :func:`ood_metrics`.
METRIC_NAMES = ("auroc", "aupr_in", "aupr_out", "fpr95")


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------


def _as_1d_scores(scores, name="scores"):
    """Return ``scores`` as a 1-D float array without NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {scores.shape}.")
    if np.isnan(scores).any():
        raise ValueError(f"{name} contains NaN.")
    return scores


def _order_preserving_finite(scores):
    """Replace ``scores`` by dense ranks if it holds infinities.

    The metrics only depend on the order of the scores and on their ties, both
    of which dense ranks keep; scikit-learn's metrics reject infinite values.
    """
    if np.isfinite(scores).all():
        return scores
    return np.unique(scores, return_inverse=True)[1].astype(np.float64)


def _resolve_labels(y_true, n_samples, outlier_label=None):
    """Turn labels into a boolean "is in-distribution" mask.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels: ``+1`` ID / ``-1`` OOD, or any two values when
        ``outlier_label`` is given.
    n_samples : int
        Expected length (that of the scores).
    outlier_label : scalar or None
        Value of ``y_true`` meaning OOD.

    Returns
    -------
    is_id : ndarray of shape (n_samples,), dtype bool
    """
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D; got an array of shape {y_true.shape}.")
    if y_true.shape[0] != n_samples:
        raise ValueError(
            f"y_true and scores have different lengths: {y_true.shape[0]} != {n_samples}."
        )
    if n_samples == 0:
        raise ValueError("y_true and scores are empty.")
    values = np.unique(y_true)
    if outlier_label is None:
        if not all(
            isinstance(v, Real) and not isinstance(v, bool) and v in (-1, 1)
            for v in values.tolist()
        ):
            raise ValueError(
                f"y_true must use scikit-learn's labels +1 (inlier, ID) / -1 (outlier, "
                f"OOD); got values {values.tolist()}. For other encodings such as 0/1 "
                f"pass outlier_label, the value meaning OOD (e.g. outlier_label=1)."
            )
        is_id = y_true == 1
    else:
        if values.shape[0] > 2:
            raise ValueError(
                f"y_true must hold two classes; got {values.shape[0]} values "
                f"{values.tolist()}."
            )
        is_id = y_true != outlier_label
    n_id = int(is_id.sum())
    if n_id == 0 or n_id == n_samples:
        kind = "in-distribution (inlier)" if n_id == n_samples else "OOD (outlier)"
        raise ValueError(
            f"y_true must contain both ID and OOD samples; all {n_samples} samples "
            f"are {kind}"
            + ("." if outlier_label is None else f" (outlier_label={outlier_label!r}).")
        )
    return is_id


def _check_inputs(y_true, scores, outlier_label):
    """Validate labels and scores; return ``(is_id, finite_scores)``."""
    scores = _as_1d_scores(scores)
    is_id = _resolve_labels(y_true, scores.shape[0], outlier_label)
    return is_id, _order_preserving_finite(scores)


def _check_tpr(tpr):
    if isinstance(tpr, (bool, np.bool_)) or not isinstance(tpr, Real) or not 0 < tpr <= 1:
        raise ValueError(f"tpr must be a number in (0, 1]; got {tpr!r}.")
    return float(tpr)


# ---------------------------------------------------------------------------
# metrics on validated inputs
# ---------------------------------------------------------------------------


def _auroc(is_id, scores):
    return float(roc_auc_score(is_id, scores))


def _aupr_in(is_id, scores):
    return float(average_precision_score(is_id, scores))


def _aupr_out(is_id, scores):
    return float(average_precision_score(~is_id, -scores))


def _fpr_at_tpr(is_id, scores, tpr):
    id_scores = np.sort(scores[is_id])[::-1]
    # Smallest number of ID samples to keep: ceil(tpr * n_id), robust to
    # products such as 0.95 * 60 landing a hair above an integer.
    n_keep = max(1, math.ceil(tpr * id_scores.shape[0] - 1e-9))
    # The largest t with #{ID >= t} >= n_keep is the n_keep-th largest ID score.
    threshold = id_scores[n_keep - 1]
    return float(np.mean(scores[~is_id] >= threshold))


# ---------------------------------------------------------------------------
# public metrics
# ---------------------------------------------------------------------------


def auroc(y_true, scores, *, outlier_label=None):
    """Area under the ROC curve of an OOD detector.

    ID is the positive class and ``scores`` (normality, higher = more
    in-distribution) the decision value; the value is the same with OOD as the
    positive class scored by ``-scores``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        ``+1`` for ID (inliers), ``-1`` for OOD (outliers); any other two-value
        encoding together with ``outlier_label``.
    scores : array-like of shape (n_samples,)
        Normality scores, higher = more in-distribution.
    outlier_label : scalar, default=None
        The value of ``y_true`` that means OOD, required unless the labels are
        ``+1/-1`` (e.g. ``outlier_label=1`` for 0/1 labels with 1 = outlier).

    Returns
    -------
    float
        AUROC in [0, 1]; 0.5 is chance level.

    Raises
    ------
    ValueError
        If the labels are not ``+1/-1`` and no ``outlier_label`` is given, if
        only one class is present, if the lengths differ or if ``scores``
        contains NaN.
    """
    return _auroc(*_check_inputs(y_true, scores, outlier_label))


def aupr_in(y_true, scores, *, outlier_label=None):
    """Average precision with ID as the positive class (AUPR-In).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        ``+1`` ID / ``-1`` OOD, or see ``outlier_label``.
    scores : array-like of shape (n_samples,)
        Normality scores, higher = more in-distribution.
    outlier_label : scalar, default=None
        The value of ``y_true`` that means OOD; see :func:`auroc`.

    Returns
    -------
    float
        ``average_precision_score(y_true == ID, scores)``; chance level is the
        fraction of ID samples.
    """
    return _aupr_in(*_check_inputs(y_true, scores, outlier_label))


def aupr_out(y_true, scores, *, outlier_label=None):
    """Average precision with OOD as the positive class (AUPR-Out).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        ``+1`` ID / ``-1`` OOD, or see ``outlier_label``.
    scores : array-like of shape (n_samples,)
        Normality scores, higher = more in-distribution.
    outlier_label : scalar, default=None
        The value of ``y_true`` that means OOD; see :func:`auroc`.

    Returns
    -------
    float
        ``average_precision_score(y_true == OOD, -scores)``; chance level is
        the fraction of OOD samples.
    """
    return _aupr_out(*_check_inputs(y_true, scores, outlier_label))


def fpr_at_tpr(y_true, scores, *, tpr=0.95, outlier_label=None):
    """Fraction of OOD samples accepted when a fraction ``tpr`` of ID is kept.

    ID is the positive class. The threshold ``t`` is the largest value such
    that at least ``tpr`` of the ID scores are ``>= t`` (the
    ``ceil(tpr * n_id)``-th largest ID score); the result is the fraction of
    OOD scores ``>= t``. Ties at the threshold are all accepted, so the
    realised TPR can exceed ``tpr``. pytorch-ood uses the opposite convention
    (OOD positive); see the module docstring.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        ``+1`` ID / ``-1`` OOD, or see ``outlier_label``.
    scores : array-like of shape (n_samples,)
        Normality scores, higher = more in-distribution.
    tpr : float, default=0.95
        Fraction of ID samples to keep, in (0, 1].
    outlier_label : scalar, default=None
        The value of ``y_true`` that means OOD; see :func:`auroc`.

    Returns
    -------
    float
        False positive rate in [0, 1]; lower is better.
    """
    tpr = _check_tpr(tpr)
    return _fpr_at_tpr(*_check_inputs(y_true, scores, outlier_label), tpr)


def fpr_at_95_tpr(y_true, scores, *, outlier_label=None):
    """FPR@95TPR: :func:`fpr_at_tpr` with ``tpr=0.95``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        ``+1`` ID / ``-1`` OOD, or see ``outlier_label``.
    scores : array-like of shape (n_samples,)
        Normality scores, higher = more in-distribution.
    outlier_label : scalar, default=None
        The value of ``y_true`` that means OOD; see :func:`auroc`.

    Returns
    -------
    float
        Fraction of OOD samples scored at or above the threshold that keeps
        95% of the ID samples; lower is better.
    """
    return fpr_at_tpr(y_true, scores, tpr=0.95, outlier_label=outlier_label)


def ood_metrics(y_true, scores, *, outlier_label=None):
    """All four OOD metrics at once.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        ``+1`` ID / ``-1`` OOD, or see ``outlier_label``.
    scores : array-like of shape (n_samples,)
        Normality scores, higher = more in-distribution.
    outlier_label : scalar, default=None
        The value of ``y_true`` that means OOD; see :func:`auroc`.

    Returns
    -------
    dict
        ``{"auroc": float, "aupr_in": float, "aupr_out": float, "fpr95": float}``.
    """
    is_id, scores = _check_inputs(y_true, scores, outlier_label)
    return {
        "auroc": _auroc(is_id, scores),
        "aupr_in": _aupr_in(is_id, scores),
        "aupr_out": _aupr_out(is_id, scores),
        "fpr95": _fpr_at_tpr(is_id, scores, 0.95),
    }


def _id_ood_labels(scores_id, scores_ood):
    """Concatenate ID and OOD scores; return ``(y_true, scores)`` with +1/-1 labels."""
    scores_id = _as_1d_scores(scores_id, "scores_id")
    scores_ood = _as_1d_scores(scores_ood, "scores_ood")
    for name, s in (("scores_id", scores_id), ("scores_ood", scores_ood)):
        if s.shape[0] == 0:
            raise ValueError(f"{name} is empty.")
    y_true = np.r_[np.ones(scores_id.shape[0], int), -np.ones(scores_ood.shape[0], int)]
    return y_true, np.concatenate([scores_id, scores_ood])


def evaluate_id_ood(scores_id, scores_ood):
    """All four OOD metrics from separate ID and OOD score arrays.

    Parameters
    ----------
    scores_id : array-like of shape (n_id,)
        Normality scores of in-distribution samples.
    scores_ood : array-like of shape (n_ood,)
        Normality scores of out-of-distribution samples.

    Returns
    -------
    dict
        ``{"auroc", "aupr_in", "aupr_out", "fpr95"}``, see :func:`ood_metrics`.
    """
    return ood_metrics(*_id_ood_labels(scores_id, scores_ood))


def auroc_id_ood(scores_id, scores_ood):
    """AUROC from separate ID and OOD score arrays.

    Parameters
    ----------
    scores_id : array-like of shape (n_id,)
        Normality scores of in-distribution samples.
    scores_ood : array-like of shape (n_ood,)
        Normality scores of out-of-distribution samples.

    Returns
    -------
    float
        The probability that a random ID sample scores higher than a random
        OOD sample, ties counting one half.
    """
    return auroc(*_id_ood_labels(scores_id, scores_ood))


# ---------------------------------------------------------------------------
# scorers
# ---------------------------------------------------------------------------

_METRIC_FUNCTIONS = {
    "auroc": auroc,
    "aupr_in": aupr_in,
    "aupr_out": aupr_out,
    "fpr95": fpr_at_95_tpr,
}


def _normality_scores(estimator, X):
    """Normality scores of a fitted estimator: ``score_samples``, else ``decision_function``."""
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
    scorers.

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
        ``scorer(estimator, X, y) -> float``; picklable.

    Examples
    --------
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.model_selection import GridSearchCV
    >>> search = GridSearchCV(IsolationForest(), {"max_samples": [0.5, 1.0]},
    ...                       scoring=make_ood_scorer("auroc", outlier_label=1))
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


# ---------------------------------------------------------------------------
# PyOD conversion
# ---------------------------------------------------------------------------


def _check_binary(labels, allowed, name):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {labels.shape}.")
    if not np.isin(labels, allowed).all():
        raise ValueError(
            f"{name} must only contain {list(allowed)}; got {np.unique(labels).tolist()}."
        )
    return labels


def from_pyod(scores, labels=None):
    """Convert PyOD-style outputs to skood's (scikit-learn's) convention.

    PyOD's ``decision_function`` / ``decision_scores_`` are outlyingness
    (higher = more outlying) and its labels are ``1`` = outlier, ``0`` =
    inlier. skood uses normality (higher = more in-distribution) and ``+1`` =
    inlier, ``-1`` = outlier.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        PyOD outlier scores.
    labels : array-like of shape (n_samples,), default=None
        PyOD labels (0 inlier, 1 outlier), optional.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``-scores``: normality.
    labels : ndarray of shape (n_samples,) or None
        ``1 -> -1`` and ``0 -> +1``; None when ``labels`` is None.
    """
    scores = -np.asarray(scores, dtype=np.float64)
    if labels is None:
        return scores, None
    labels = _check_binary(labels, (0, 1), "labels")
    return scores, np.where(labels == 1, -1, 1)


def to_pyod(scores, labels=None):
    """Convert skood (scikit-learn) outputs to PyOD's convention; inverse of :func:`from_pyod`.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Normality scores, higher = more in-distribution.
    labels : array-like of shape (n_samples,), default=None
        ``+1`` inlier / ``-1`` outlier, optional.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``-scores``: outlyingness.
    labels : ndarray of shape (n_samples,) or None
        ``-1 -> 1`` and ``+1 -> 0``; None when ``labels`` is None.
    """
    scores = -np.asarray(scores, dtype=np.float64)
    if labels is None:
        return scores, None
    labels = _check_binary(labels, (-1, 1), "labels")
    return scores, np.where(labels == -1, 1, 0)


# ---------------------------------------------------------------------------
# groups
# ---------------------------------------------------------------------------


def _check_int(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def _check_generator(random_state):
    """A ``numpy.random.Generator`` from None, an int, a RandomState or a Generator."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)


def make_groups(n_samples, group_size, *, n_groups=None, random_state=None):
    """Random groups of sample indices, for group (set-level) OOD tests.

    Parameters
    ----------
    n_samples : int
        Number of samples to draw indices from (``0 .. n_samples - 1``).
    group_size : int
        Number of samples per group, ``1 <= group_size <= n_samples``.
    n_groups : int, default=None
        If None, partition a random permutation of the samples into
        ``n_samples // group_size`` disjoint groups (the remainder is
        dropped). Otherwise draw ``n_groups`` groups independently, each of
        ``group_size`` distinct indices; different groups may share samples
        (a bootstrap over groups).
    random_state : int, RandomState, Generator or None, default=None
        Seed or random generator, for reproducible groups.

    Returns
    -------
    groups : ndarray of shape (n_groups, group_size), dtype intp
        Row ``i`` holds the sample indices of group ``i``.

    Raises
    ------
    ValueError
        If an argument is not an integer in its range, or if ``group_size``
        exceeds ``n_samples``.
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    group_size = _check_int(group_size, "group_size", 1)
    if n_groups is not None:
        n_groups = _check_int(n_groups, "n_groups", 1)
    if group_size > n_samples:
        raise ValueError(
            f"group_size={group_size} exceeds n_samples={n_samples}: a group needs "
            f"distinct samples."
        )
    rng = _check_generator(random_state)
    if n_groups is None:
        n_full = n_samples // group_size
        perm = rng.permutation(n_samples)[: n_full * group_size]
        return perm.reshape(n_full, group_size).astype(np.intp)
    groups = np.empty((n_groups, group_size), dtype=np.intp)
    for i in range(n_groups):
        groups[i] = rng.choice(n_samples, size=group_size, replace=False)
    return groups


def group_labels_from_indices(groups, n_samples):
    """Per-sample group ids from disjoint groups of indices.

    Parameters
    ----------
    groups : array-like of int, shape (n_groups, group_size)
        Sample indices of each group, e.g. from :func:`make_groups` with
        ``n_groups=None``. Groups must be disjoint.
    n_samples : int
        Total number of samples.

    Returns
    -------
    labels : ndarray of shape (n_samples,), dtype intp
        ``labels[j]`` is the row of ``groups`` containing sample ``j``, or
        ``-1`` if no group uses it.

    Raises
    ------
    ValueError
        If ``groups`` is not a 2-D integer array of indices in
        ``[0, n_samples)``, or if a sample appears more than once.
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    groups = np.asarray(groups)
    if groups.ndim != 2:
        raise ValueError(f"groups must be 2-D (n_groups, group_size); got shape {groups.shape}.")
    if groups.size and not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(f"groups must hold integer indices; got dtype {groups.dtype}.")
    flat = groups.ravel().astype(np.intp)
    if flat.size and (flat.min() < 0 or flat.max() >= n_samples):
        raise ValueError(f"groups holds indices outside [0, {n_samples}).")
    counts = np.bincount(flat, minlength=n_samples)
    if (counts > 1).any():
        raise ValueError(
            f"groups overlap: {int((counts > 1).sum())} sample(s) appear more than once; "
            f"per-sample group labels need disjoint groups."
        )
    labels = np.full(n_samples, -1, dtype=np.intp)
    labels[flat] = np.repeat(np.arange(groups.shape[0]), groups.shape[1])
    return labels


def group_auroc(group_scores_id, group_scores_ood):
    """AUROC over groups: each group of samples counts as one item.

    Parameters
    ----------
    group_scores_id : array-like of shape (n_id_groups,)
        Normality score of each in-distribution group (higher = more ID).
    group_scores_ood : array-like of shape (n_ood_groups,)
        Normality score of each OOD group.

    Returns
    -------
    float
        ``evaluate_id_ood(group_scores_id, group_scores_ood)["auroc"]``.

    Raises
    ------
    ValueError
        If either array is empty or contains NaN.
    """
    return auroc_id_ood(group_scores_id, group_scores_ood)


# ---------------------------------------------------------------------------
# dual-threshold (likelihood, LID) oracle
# ---------------------------------------------------------------------------


def _max_of_lines_integral(level, intercepts, slopes):
    """Integral over ``[0, 1]`` of ``max(level, max_i intercepts[i] + slopes[i] * x)``.

    ``slopes`` are > 0. Walks the upper envelope from ``x = 0``: the next line
    on the envelope is the one of larger slope that overtakes the current one
    first.
    """
    c = np.r_[level, intercepts]
    s = np.r_[0.0, slopes]
    cur = np.lexsort((s, c))[-1]  # highest at x = 0, steepest among ties
    x, total = 0.0, 0.0
    while True:
        steeper = np.flatnonzero(s > s[cur])
        if steeper.size == 0:
            break
        cross = np.maximum((c[cur] - c[steeper]) / (s[steeper] - s[cur]), x)
        x_next = cross.min()
        if x_next >= 1.0:
            break
        tied = steeper[cross == x_next]
        nxt = tied[np.argmax(s[tied])]
        total += (x_next - x) * (c[cur] + s[cur] * (x + x_next) / 2)
        x, cur = x_next, nxt
    return total + (1.0 - x) * (c[cur] + s[cur] * (x + 1.0) / 2)


def _unit_pieces(f0, t0, f1, t1, envelope):
    """Cut segments into unit OOD-count intervals; keep pieces ending above the step.

    Returns the interval ``k`` of each kept piece, its value at ``k`` and its slope.
    """
    spans = f1 - f0
    slope = (t1 - t0) / spans
    seg = np.repeat(np.arange(f0.size), spans)
    offset = np.arange(seg.size) - np.repeat(np.cumsum(spans) - spans, spans)
    k = f0[seg] + offset
    u = t0[seg] + slope[seg] * offset
    above = u + slope[seg] > envelope[k]
    return k[above], u[above], slope[seg][above]


def _diagonal_excess(f0, t0, f1, t1, envelope, chunk=1 << 20):
    """Area that diagonal ROC segments add above the step envelope, in count units.

    Parameters
    ----------
    f0, t0, f1, t1 : ndarray of int
        Segment end points in (OOD count, ID count) units, ``f0 < f1``, ``t0 < t1``.
    envelope : ndarray of shape (n_ood + 1,)
        The step envelope: best ID count among vertices with OOD count <= k.
    chunk : int
        Rough bound on the number of unit pieces expanded at once.

    Returns
    -------
    float
        The area between ``max(step, segments)`` and the step.
    """
    # A segment that ends below the envelope at its start is never above it.
    keep = t1 > envelope[f0]
    f0, t0, f1, t1 = f0[keep], t0[keep], f1[keep], t1[keep]
    if f0.size == 0:
        return 0.0
    cum = np.cumsum(f1 - f0)
    cuts = np.searchsorted(cum, np.arange(chunk, cum[-1], chunk), side="right")
    edges = np.unique(np.r_[0, cuts, f0.size])
    pieces = [
        _unit_pieces(f0[i:j], t0[i:j], f1[i:j], t1[i:j], envelope)
        for i, j in zip(edges[:-1], edges[1:])
    ]
    k, u, s = (np.concatenate(p) for p in zip(*pieces))
    if k.size == 0:
        return 0.0
    order = np.argsort(k, kind="stable")
    k, u, s = k[order], u[order], s[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, k.size])
    g = envelope[k[starts]].astype(np.float64)
    # Closed form for an interval with one piece above the step.
    single = sizes == 1
    u1, s1, g1 = u[starts[single]], s[starts[single]], g[single]
    x0 = np.clip((g1 - u1) / s1, 0.0, 1.0)  # where the piece rises above the step
    excess = float(np.sum((1.0 - x0) * ((np.maximum(u1, g1) + u1 + s1) / 2 - g1)))
    for i in np.flatnonzero(~single):
        sl = slice(starts[i], starts[i] + sizes[i])
        excess += _max_of_lines_integral(g[i], u[sl], s[sl]) - g[i]
    return excess


def _run_ends(values):
    """Mask of the last element of each run of equal consecutive values."""
    last = np.empty(values.shape[0], dtype=bool)
    np.not_equal(values[1:], values[:-1], out=last[:-1])
    last[-1] = True
    return last


def _envelope_auc(loglik, lid, is_id):
    """Area under the upper envelope of the ROC curves of ``(l >= a) & (d >= b)``."""
    n_id = int(is_id.sum())
    n_ood = is_id.shape[0] - n_id
    order = np.argsort(loglik, kind="stable")[::-1]  # decreasing log-likelihood
    l_sorted, d_sorted, id_sorted = loglik[order], lid[order], is_id[order]
    l_ties = bool(np.any(l_sorted[1:] == l_sorted[:-1]))
    # best[k]: highest ID count of a vertex with exactly k OOD samples accepted.
    best = np.full(n_ood + 1, -1, dtype=np.int64)
    best[0] = 0  # (0, 0): accept nothing
    best[n_ood] = n_id  # (1, 1): accept everything
    diagonals = []
    for b in np.unique(lid):
        mask = d_sorted >= b
        ids = id_sorted[mask]
        # ROC vertices of the log-likelihood on {d >= b}: one per distinct
        # value of l, after its whole tie group is accepted.
        n_in = np.cumsum(ids)
        n_out = np.arange(1, ids.shape[0] + 1) - n_in
        if l_ties:
            ends = _run_ends(l_sorted[mask])
            n_in, n_out = n_in[ends], n_out[ends]
        top = _run_ends(n_out)  # the highest vertex of each OOD count
        best[n_out[top]] = np.maximum(best[n_out[top]], n_in[top])
        if l_ties:
            # A tie group holding ID and OOD samples gives a diagonal segment,
            # as in roc_auc_score (a random split of the group).
            f, t = np.concatenate([[0], n_out]), np.concatenate([[0], n_in])
            diag = (f[1:] > f[:-1]) & (t[1:] > t[:-1])
            if diag.any():
                diagonals.append(np.stack([f[:-1][diag], t[:-1][diag], f[1:][diag], t[1:][diag]]))
    envelope = np.maximum.accumulate(best)
    area = float(envelope[:-1].sum())  # step function, exact in integer counts
    if diagonals:
        area += _diagonal_excess(*np.concatenate(diagonals, axis=1), envelope)
    return area / (n_id * n_ood)


def dual_threshold_auroc(loglik, lid, y_true, *, outlier_label=None):
    """Oracle AUROC of two thresholds, on log-likelihood and on LID.

    The "dual threshold" envelope of Kamkari et al. (ICML 2024, "A geometric
    explanation of the likelihood OOD detection paradox"). Each sample has a
    log-likelihood ``l`` and a local intrinsic dimension estimate ``d``; the
    classifier with thresholds ``(a, b)`` declares a sample in-distribution
    iff ``l >= a`` and ``d >= b``. Its TPR is the fraction of ID samples
    accepted and its FPR the fraction of OOD samples accepted. The result is
    the area under the upper envelope of all these operating points: for each
    FPR ``f``, the best TPR reachable with FPR ``<= f``.

    This is an **oracle upper bound**, not a deployable detector: every
    operating point picks its own pair of thresholds using the test labels.
    Use it to judge whether (likelihood, LID) jointly separate ID from OOD,
    not to compare with single-score detectors as an equal.

    Computation is exact. For each distinct LID value ``b`` the samples with
    ``d >= b`` are swept by decreasing ``l``, giving the ROC curve of the
    likelihood restricted to them (equal log-likelihoods form one threshold,
    so a tie group of ID and OOD samples gives a diagonal segment, exactly as
    in :func:`sklearn.metrics.roc_auc_score`); the envelope of all these
    curves, with (0, 0) and (1, 1), is integrated with linear interpolation.
    Without such ties the curves are staircases and the envelope is the
    running maximum of the pooled operating points. Cost:
    ``O(n log n + n_distinct_lid * n)`` time and ``O(n)`` memory (about a
    second for 5000 samples with continuous LID values).

    Properties: the result is at least the AUROC of the log-likelihood alone
    and equals it when the LID is constant; it is at least the AUROC of the
    LID alone when the LID has no ties between ID and OOD samples; it lies in
    [0, 1]. Ties in the LID are not split: a threshold on ``d`` keeps or drops
    a whole tie group, whereas ``roc_auc_score`` credits a tie with a random
    split (a constant LID has AUROC 0.5, while the result is then the AUROC
    of the log-likelihood, which may be lower).

    Parameters
    ----------
    loglik : array-like of shape (n_samples,)
        Log-likelihood of each sample (higher = more in-distribution);
        ``-inf`` is allowed.
    lid : array-like of shape (n_samples,)
        LID estimate of each sample; higher is taken as more
        in-distribution (pass ``-lid`` for the opposite orientation).
    y_true : array-like of shape (n_samples,)
        ``+1`` ID / ``-1`` OOD, or see ``outlier_label``.
    outlier_label : scalar, default=None
        The value of ``y_true`` that means OOD; see :func:`auroc`.

    Returns
    -------
    float
        The oracle AUROC, in [0, 1].

    Raises
    ------
    ValueError
        For invalid labels (see :func:`auroc`), NaN values or arrays of
        different lengths.
    """
    loglik = _as_1d_scores(loglik, "loglik")
    lid = _as_1d_scores(lid, "lid")
    if lid.shape != loglik.shape:
        raise ValueError(
            f"loglik and lid have different lengths: {loglik.shape[0]} != {lid.shape[0]}."
        )
    is_id = _resolve_labels(y_true, loglik.shape[0], outlier_label)
    return _envelope_auc(loglik, lid, is_id)
