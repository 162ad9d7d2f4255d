"""Group (set-level) OOD detection: group specifications and reductions.

Every skood detector scores groups of inputs as well as single inputs. Some
statistics are made for groups: the typicality test (Nalisnick et al. 2019)
compares the mean negative log-likelihood of a group with the model's entropy,
KLODS (Zhang et al.) compares the distribution of a group's latents with the
prior. Every other detector scores a group by the mean point-wise normality of
its members. The API lives on :class:`~skood.detectors.BaseFlowDetector`.

Group API
---------
Per-sample methods keep scikit-learn's meaning: ``score_samples``,
``decision_function``, ``predict`` and ``fit_predict`` score each sample on its
own (the point-wise mode, group size M = 1) and ``predict`` thresholds at
``offset_`` (set from ``contamination``). The group methods are:

``score_groups(X, groups=None, group_size=5)``
    One normality score per group (higher = more in-distribution).
``sample_statistics(X)`` and ``score_statistics(statistics, groups=None, group_size=1)``
    The same in two steps: one flow pass, then any number of groupings (e.g.
    several group sizes) scored from the per-sample statistics.
``predict_groups(X, groups=None, group_size=5)``
    +1 (in-distribution group) / -1 (OOD group): ``score_groups >=
    group_threshold(size of the group)``.
``group_threshold(group_size=5)``
    The false-alarm-rate quantile (``contamination``, or ``alpha`` for the
    typicality and KL tests) of the scores of bootstrap groups of that size
    drawn from the calibration data: ID groups are flagged at that rate. The thresholds of group
    sizes 1 and 5 (those the statistic accepts) are computed in ``fit``
    (``group_thresholds_``); others are computed on demand from the stored
    held-out statistics with a generator seeded by ``(bootstrap_seed_,
    group_size)``, so they are reproducible and the estimator is not modified.

Groups must be large enough for the statistic: one that needs M >= 2 (KL with
``pooling="per_position"``) rejects smaller groups with a ``ValueError`` that
names the minimum, and its per-sample methods use a point-wise form instead.

``groups`` says which rows of ``X`` form each group:

- ``None``: consecutive chunks of ``group_size`` rows; ``group_size`` must
  divide ``n_samples``.
- 1-D array of ``n_samples`` labels: rows with the same label form one group.
  Groups are returned in the sorted order of their labels (``np.unique``) and
  may have different sizes. ``group_size`` is ignored.
- 2-D integer array of shape ``(n_groups, group_size)`` of row indices, e.g.
  from :func:`skood.metrics.make_groups`: one group per row; groups may overlap.
  ``group_size`` is ignored.
"""

from numbers import Integral

import numpy as np


#: Group sizes whose thresholds are computed in ``fit``: point-wise and the
#: default of the group methods (KLODS' M = 5).
DEFAULT_GROUP_SIZE = 5
CACHED_GROUP_SIZES = (1, DEFAULT_GROUP_SIZE)


def check_group_size(group_size, name="group_size"):
    """Validate a group size: an integer >= 1 (bool rejected)."""
    if isinstance(group_size, (bool, np.bool_)) or not isinstance(group_size, Integral):
        raise ValueError(f"{name} must be an integer >= 1; got {group_size!r}.")
    if group_size < 1:
        raise ValueError(f"{name} must be >= 1; got {group_size}.")
    return int(group_size)


def group_index(n_samples, groups=None, group_size=DEFAULT_GROUP_SIZE):
    """Resolve a group specification into row indices.

    Parameters
    ----------
    n_samples : int
        Number of rows of ``X``.
    groups : None, array-like of shape (n_samples,) or (n_groups, group_size)
        See the module docstring.
    group_size : int, default=5
        Used when ``groups`` is None.

    Returns
    -------
    index : ndarray of shape (n_groups, m) or list of ndarray
        Row indices of each group: a 2-D array when all groups have the same
        size, else a list of 1-D arrays (one per group, sorted by label).
    """
    if groups is None:
        group_size = check_group_size(group_size)
        if n_samples % group_size:
            raise ValueError(
                f"group_size={group_size} does not divide n_samples={n_samples}: pass "
                "a group size that does, drop the last rows, or give explicit `groups`."
            )
        return np.arange(n_samples).reshape(-1, group_size)
    groups = np.asarray(groups)
    if groups.ndim == 2:
        if groups.shape[0] == 0 or groups.shape[1] == 0:
            raise ValueError(f"Empty groups: an index array of shape {groups.shape}.")
        if not np.issubdtype(groups.dtype, np.integer):
            raise ValueError(
                f"A 2-D `groups` must hold integer row indices; got dtype {groups.dtype}."
            )
        if groups.min() < 0 or groups.max() >= n_samples:
            raise ValueError(
                f"Group indices must be in [0, {n_samples - 1}] (n_samples={n_samples}); "
                f"got values in [{groups.min()}, {groups.max()}]."
            )
        return groups.astype(np.intp)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise ValueError(
            "`groups` must be None, one label per sample (shape (n_samples,) = "
            f"({n_samples},)) or row indices of shape (n_groups, group_size); got shape "
            f"{groups.shape}."
        )
    if n_samples == 0:
        raise ValueError("Empty groups: X has no samples.")
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    members = np.split(order, np.cumsum(counts)[:-1])
    if np.all(counts == counts[0]):
        return np.stack(members)
    return members


def group_sizes(index):
    """Size of each group of a :func:`group_index` result."""
    if isinstance(index, np.ndarray):
        return np.full(index.shape[0], index.shape[1])
    return np.array([len(m) for m in index])


def group_reduce(values, index, reduce=np.sum):
    """``reduce`` per-sample ``values`` (first axis) over the members of each group.

    A group's result depends only on its own members, never on the other groups.
    """
    values = np.asarray(values)
    if isinstance(index, np.ndarray):
        return reduce(values[index], axis=1)
    return np.stack([reduce(values[m], axis=0) for m in index])


def n_rows(stats):
    """Number of samples of per-sample statistics (an array, or nested lists/tuples of arrays)."""
    while isinstance(stats, (list, tuple)):
        stats = stats[0]
    return np.asarray(stats).shape[0]
