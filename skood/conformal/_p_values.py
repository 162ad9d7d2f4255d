"""Conformal p-values and the Benjamini-Hochberg procedure."""

from __future__ import annotations

from numbers import Real

import numpy as np


def _check_level(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1); got {value!r}.")
    return float(value)


def conformal_p_values(calibration_scores, scores):
    """Marginal conformal p-values of ``scores`` against held-out inlier scores.

    ``p(x) = (1 + #{calibration scores <= s(x)}) / (n_cal + 1)`` with ``s`` the
    normality (higher = more in-distribution), so outliers get small p-values.
    If the calibration rows and a new inlier are exchangeable (the detector did
    not see the calibration rows), ``P(p(x) <= alpha) <= alpha`` for every
    ``alpha``, in finite samples: a test that flags ``p <= alpha`` has a
    false-alarm rate of at most ``alpha`` (Bates et al., "Testing for outliers
    with conformal p-values", Ann. Statist. 2023). The probability is over the
    calibration set and the new point together; for one fixed calibration set
    the false-alarm rate fluctuates around its mean by about
    ``sqrt(alpha (1 - alpha) / n_cal)``.

    Parameters
    ----------
    calibration_scores : array-like of shape (n_cal,)
        Normality scores of held-out inliers.
    scores : array-like of shape (n_samples,)
        Normality scores to test.

    Returns
    -------
    p_values : ndarray of shape (n_samples,)
        In ``[1 / (n_cal + 1), 1]``.

    Examples
    --------
    >>> from skood.conformal import conformal_p_values
    >>> conformal_p_values([1.0, 2.0, 3.0, 4.0], [0.5, 2.0, 9.0])
    array([0.2, 0.6, 1. ])
    """
    cal = np.sort(np.asarray(calibration_scores, dtype=np.float64).ravel())
    if cal.shape[0] == 0:
        raise ValueError("calibration_scores is empty.")
    if np.isnan(cal).any():
        raise ValueError("calibration_scores contains NaN.")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D; got an array of shape {scores.shape}.")
    # A NaN score counts as the least normal: p = 1 / (n_cal + 1).
    scores = np.nan_to_num(scores, nan=-np.inf, posinf=np.inf, neginf=-np.inf)
    return (1.0 + np.searchsorted(cal, scores, side="right")) / (cal.shape[0] + 1.0)


def benjamini_hochberg(p_values, fdr=0.1):
    """Benjamini-Hochberg selection: which hypotheses to reject at a false discovery rate.

    With ``p_(1) <= ... <= p_(m)`` sorted, rejects the ``k`` smallest p-values,
    ``k`` the largest index with ``p_(k) <= k * fdr / m`` (none if there is
    none). For independent or positively dependent (PRDS) p-values the
    expected fraction of false rejections among the rejections is at most
    ``fdr * m_0 / m`` (``m_0`` true nulls). Marginal conformal p-values
    computed against the same calibration set are dependent, but PRDS (Bates
    et al., Ann. Statist. 2023), so BH on them controls the FDR of a batch of
    outlier detections: at most ``fdr`` of the flagged points are, on
    average, inliers.

    Parameters
    ----------
    p_values : array-like of shape (n_samples,)
        In ``[0, 1]``.
    fdr : float in (0, 1), default=0.1
        Target false discovery rate.

    Returns
    -------
    rejected : ndarray of bool, shape (n_samples,)
        True for the selected hypotheses (outliers).

    Examples
    --------
    >>> from skood.conformal import benjamini_hochberg
    >>> benjamini_hochberg([0.001, 0.02, 0.03, 0.5], fdr=0.1)
    array([ True,  True,  True, False])
    >>> benjamini_hochberg([0.001, 0.02, 0.03, 0.5], fdr=0.01)
    array([ True, False, False, False])
    """
    fdr = _check_level(fdr, "fdr")
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D; got an array of shape {p.shape}.")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p_values must lie in [0, 1] (no NaN).")
    m = p.shape[0]
    rejected = np.zeros(m, dtype=bool)
    if m == 0:
        return rejected
    order = np.argsort(p, kind="stable")
    below = p[order] <= fdr * np.arange(1, m + 1) / m
    if below.any():
        k = int(np.flatnonzero(below)[-1]) + 1
        rejected[order[:k]] = True
    return rejected
