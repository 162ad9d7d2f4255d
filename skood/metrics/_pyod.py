"""Conversion between PyOD's conventions and skood's (scikit-learn's)."""

from __future__ import annotations

import numpy as np

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

    Examples
    --------
    >>> from skood.metrics import from_pyod
    >>> scores, labels = from_pyod([0.2, 3.5], [0, 1])  # PyOD: the second is an outlier
    >>> scores
    array([-0.2, -3.5])
    >>> labels
    array([ 1, -1])
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

    Examples
    --------
    >>> from skood.metrics import to_pyod
    >>> scores, labels = to_pyod([-0.2, -3.5], [1, -1])
    >>> scores
    array([0.2, 3.5])
    >>> labels
    array([0, 1])
    """
    scores = -np.asarray(scores, dtype=np.float64)
    if labels is None:
        return scores, None
    labels = _check_binary(labels, (-1, 1), "labels")
    return scores, np.where(labels == -1, 1, 0)

