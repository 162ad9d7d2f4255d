"""Ranking metrics of OOD detectors and the label and score validation they share.

The other modules of :mod:`skood.metrics` import their validation helpers
(:func:`_as_1d_scores`, :func:`_resolve_labels`) from here, so that every
metric reads labels and scores the same way.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

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

    Examples
    --------
    >>> from skood.metrics import auroc
    >>> y_true = [1, 1, -1, -1]        # +1 ID, -1 OOD
    >>> scores = [3.0, 2.0, 2.5, 0.0]  # normality: higher = more ID
    >>> auroc(y_true, scores)          # ID wins 3 of the 4 (ID, OOD) pairs
    0.75

    PyOD / ADBench labels (1 = outlier) need ``outlier_label``:

    >>> auroc([0, 0, 1, 1], scores, outlier_label=1)
    0.75
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

    Examples
    --------
    >>> from skood.metrics import aupr_in
    >>> aupr_in([1, 1, -1, -1], [3.0, 2.0, 2.5, 0.0])
    0.8333333333333333
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

    Examples
    --------
    >>> from skood.metrics import aupr_out
    >>> aupr_out([1, 1, -1, -1], [3.0, 2.0, 2.5, 0.0])
    0.8333333333333333
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

    Examples
    --------
    >>> from skood.metrics import fpr_at_tpr
    >>> y_true = [1, 1, 1, 1, -1, -1]
    >>> scores = [4.0, 3.0, 2.0, 1.0, 2.5, 0.0]
    >>> fpr_at_tpr(y_true, scores, tpr=0.5)   # keep ID >= 3.0: no OOD accepted
    0.0
    >>> fpr_at_tpr(y_true, scores, tpr=0.75)  # keep ID >= 2.0: the OOD 2.5 is accepted
    0.5
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

    Examples
    --------
    >>> from skood.metrics import fpr_at_95_tpr
    >>> fpr_at_95_tpr([1, 1, 1, 1, -1, -1], [4.0, 3.0, 2.0, 1.0, 2.5, 0.0])
    0.5
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

    Examples
    --------
    >>> from skood.metrics import ood_metrics
    >>> ood_metrics([1, 1, 1, 1, -1, -1], [4.0, 3.0, 2.0, 1.0, 2.5, 0.0])
    {'auroc': 0.75, 'aupr_in': 0.8875, 'aupr_out': 0.75, 'fpr95': 0.5}
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

    Examples
    --------
    >>> from skood.metrics import evaluate_id_ood
    >>> evaluate_id_ood([4.0, 3.0, 2.0, 1.0], [2.5, 0.0])
    {'auroc': 0.75, 'aupr_in': 0.8875, 'aupr_out': 0.75, 'fpr95': 0.5}
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

    Examples
    --------
    >>> from skood.metrics import auroc_id_ood
    >>> auroc_id_ood([4.0, 3.0, 2.0, 1.0], [2.5, 0.0])
    0.75
    """
    return auroc(*_id_ood_labels(scores_id, scores_ood))



def inlier_mask(y_true, *, outlier_label=None):
    """Which samples are in-distribution, read with skood's label conventions.

    The labels every metric of :mod:`skood.metrics` reads, as a boolean mask;
    for estimators that take labels (e.g.
    :class:`skood.model_selection.TunedThresholdDetectorCV`).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        ``+1`` for ID (inliers), ``-1`` for OOD (outliers); any other two-value
        encoding together with ``outlier_label``.
    outlier_label : scalar, default=None
        The value of ``y_true`` that means OOD; see :func:`auroc`.

    Returns
    -------
    is_id : ndarray of shape (n_samples,), dtype bool

    Raises
    ------
    ValueError
        If the labels are not ``+1/-1`` and no ``outlier_label`` is given, if
        there are more than two classes, or if only one class is present.

    Examples
    --------
    >>> from skood.metrics import inlier_mask
    >>> inlier_mask([1, -1, 1])
    array([ True, False,  True])
    >>> inlier_mask([0, 1, 0], outlier_label=1)
    array([ True, False,  True])
    """
    y_true = np.asarray(y_true)
    return _resolve_labels(y_true, y_true.shape[0] if y_true.ndim else 0, outlier_label)
