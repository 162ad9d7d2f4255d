"""Threshold metrics of an outlier detector: one value per candidate threshold.

A threshold ``t`` flags the samples whose normality score is below it
(``score < t``: the rule of ``predict``, where ``decision_function = score -
offset_ >= 0`` means inlier). The built-in metrics are computed for every
candidate at once from cumulative counts of the sorted scores; a callable metric
is evaluated on the predicted labels of each candidate.
"""

from __future__ import annotations

import numpy as np

#: Built-in ``scoring`` names of :class:`TunedThresholdDetectorCV`.
BUILTIN_SCORINGS = ("f1", "balanced_accuracy", "tpr_at_fpr")


def candidate_thresholds(scores):
    """Thresholds that separate the distinct values of ``scores``.

    The first flags nothing (the smallest score); each next one sits midway
    between two consecutive distinct scores, so it flags exactly the samples
    below it, like the score it stands for, with a margin on either side.
    Flagging every sample is not a candidate.
    """
    values = np.unique(scores)
    lo, hi = values[:-1], values[1:]
    with np.errstate(invalid="ignore", over="ignore"):
        mid = lo + (hi - lo) / 2.0
    # Midway to an infinite score is infinite: use the finite side (or the score).
    mid = np.where(np.isfinite(mid), mid, hi)
    return np.r_[values[:1], mid]


def _counts(scores, is_out, thresholds):
    """Flagged outliers (true positives) and flagged inliers (false alarms)."""
    order = np.argsort(scores, kind="stable")
    s, out = scores[order], is_out[order]
    cum_out = np.r_[0, np.cumsum(out)]
    cum_in = np.r_[0, np.cumsum(~out)]
    n_flagged = np.searchsorted(s, thresholds, side="left")  # count of scores < t
    return cum_out[n_flagged], cum_in[n_flagged]


def builtin_metric(name, tp, fp, n_out, n_in, max_fpr):
    """A built-in metric from counts (arrays broadcast)."""
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    tpr = tp / n_out if n_out else np.zeros_like(tp)
    fpr = fp / n_in if n_in else np.zeros_like(fp)
    if name == "f1":
        denom = tp + (n_out - tp) + tp + fp  # 2 TP + FN + FP
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    if name == "balanced_accuracy":
        if not n_out:
            return 1.0 - fpr
        if not n_in:
            return tpr
        return 0.5 * (tpr + 1.0 - fpr)
    if name == "tpr_at_fpr":
        return np.where(fpr <= max_fpr + 1e-12, tpr, 0.0)
    raise ValueError(f"unknown scoring {name!r}")  # pragma: no cover - validated before


def threshold_scores(scoring, scores, is_out, thresholds, *, max_fpr, encode):
    """The metric of every threshold of ``thresholds`` on ``(scores, is_out)``.

    Parameters
    ----------
    scoring : str or callable
        A name of :data:`BUILTIN_SCORINGS` or ``metric(y_true, y_pred)``.
    scores : ndarray of shape (n_samples,)
        Normality scores.
    is_out : ndarray of bool, shape (n_samples,)
        True outliers.
    thresholds : ndarray of shape (n_thresholds,)
    max_fpr : float
        False-alarm budget of ``"tpr_at_fpr"``.
    encode : callable
        Boolean "is outlier" mask -> labels in the user's encoding (for callables).

    Returns
    -------
    ndarray of shape (n_thresholds,)
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if isinstance(scoring, str):
        tp, fp = _counts(scores, is_out, thresholds)
        n_out = int(is_out.sum())
        return builtin_metric(scoring, tp, fp, n_out, is_out.shape[0] - n_out, max_fpr)
    y_true = encode(is_out)
    return np.array([float(scoring(y_true, encode(scores < t))) for t in thresholds])
