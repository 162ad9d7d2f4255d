"""Groups of samples for group (set-level) OOD tests."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from ._ranking import auroc_id_ood

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

    Examples
    --------
    >>> from skood.metrics import make_groups
    >>> make_groups(10, 3, random_state=0)  # 3 disjoint groups, one sample left out
    array([[1, 0, 2],
           [7, 4, 9],
           [6, 8, 5]])
    >>> make_groups(10, 3, n_groups=2, random_state=0)  # groups may share samples
    array([[1, 2, 3],
           [5, 3, 6]])
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

    Examples
    --------
    >>> from skood.metrics import group_labels_from_indices, make_groups
    >>> groups = make_groups(7, 3, random_state=0)
    >>> group_labels_from_indices(groups, 7)  # sample 3 is in no group
    array([ 0,  0,  0, -1,  1,  1,  1])
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

    Examples
    --------
    >>> from skood.metrics import group_auroc
    >>> group_auroc([5.0, 4.2, 3.9], [4.0, 1.0])  # one score per group
    0.8333333333333333
    """
    return auroc_id_ood(group_scores_id, group_scores_ood)

