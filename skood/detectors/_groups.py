"""Group (set-level) OOD detection: the API shared by the typicality and KL detectors.

Some tests decide whether a *set* of inputs is in-distribution: the typicality
test (Nalisnick et al. 2019) compares the mean negative log-likelihood of a
group with the model's entropy, KLODS (Zhang et al.) compares the distribution
of a group's latents with the prior. Detectors with such a test inherit
:class:`GroupDetectorMixin`.

Group API
---------
Per-sample methods keep scikit-learn's meaning: ``score_samples``,
``decision_function``, ``predict`` and ``fit_predict`` score each sample on its
own (the point-wise mode, group size M = 1) and ``predict`` thresholds at
``offset_`` (set from ``contamination``). The group methods are:

``score_groups(X, groups=None, group_size=5)``
    One normality score per group (higher = more in-distribution).
``predict_groups(X, groups=None, group_size=5)``
    +1 (in-distribution group) / -1 (OOD group): ``score_groups >=
    group_threshold(size of the group)``.
``group_threshold(group_size=5)``
    The ``alpha`` quantile of the scores of ``n_bootstrap`` groups of that size
    drawn from held-out in-distribution data (the typicality test's bootstrap
    threshold): ID groups are flagged at rate ``alpha``. The thresholds of group
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
from sklearn.utils.validation import check_is_fitted

from ..metrics import make_groups

#: Group sizes whose thresholds are computed in ``fit``: point-wise and the
#: default of the group methods (KLODS' M = 5).
DEFAULT_GROUP_SIZE = 5
_CACHED_GROUP_SIZES = (1, DEFAULT_GROUP_SIZE)


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


def split_holdout(X, validation_fraction, random_state, frozen):
    """Split ``X`` into the rows the flow is fit on and held-out calibration rows.

    A frozen (pre-fitted) flow is not trained on ``X``, so all of ``X`` is
    held-out data.
    """
    if frozen:
        return X, X
    n = X.shape[0]
    n_holdout = max(1, int(round(validation_fraction * n)))
    if n - n_holdout < 2:
        raise ValueError(
            f"validation_fraction={validation_fraction} of n_samples={n} leaves "
            f"{n - n_holdout} sample(s) to fit the flow on; at least 2 are needed."
        )
    perm = random_state.permutation(n)
    return X[np.sort(perm[n_holdout:])], X[np.sort(perm[:n_holdout])]


class GroupDetectorMixin:
    """Group methods for a :class:`~skood.detectors.BaseFlowDetector`.

    See the module docstring for the API. Subclasses implement

    - ``_sample_stats(X)``: per-sample quantities of validated ``X`` (first axis
      = samples) from which group scores are computed;
    - ``_score_index(stats, index)``: normality of each group of
      :func:`group_index` ``index`` over ``stats``;

    and store in ``fit`` the statistics of their held-out data in
    ``holdout_stats_``, an integer ``bootstrap_seed_`` and ``group_thresholds_``
    (from :meth:`_fit_group_thresholds`). They have ``alpha`` and
    ``n_bootstrap`` parameters.
    """

    def _score(self, X):
        # Point-wise mode: each sample is a group of size 1.
        return self._score_index(self._sample_stats(X), np.arange(X.shape[0])[:, None])

    def _check_index(self, index):
        """Hook: reject groups a statistic cannot score (e.g. too small)."""

    def score_groups(self, X, groups=None, group_size=DEFAULT_GROUP_SIZE):
        """Normality of each group of samples: higher means more in-distribution.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        groups : None or array-like of shape (n_samples,) or (n_groups, m), default=None
            Group labels (one per sample) or row indices (one row per group);
            ``None`` groups consecutive chunks of ``group_size`` rows.
        group_size : int, default=5
            Group size when ``groups`` is None; must divide ``n_samples``.

        Returns
        -------
        scores : ndarray of shape (n_groups,)
        """
        X = self._validate(X)
        index = group_index(X.shape[0], groups, group_size)
        self._check_index(index)
        return np.asarray(self._score_index(self._sample_stats(X), index), dtype=np.float64)

    def predict_groups(self, X, groups=None, group_size=DEFAULT_GROUP_SIZE):
        """+1 for in-distribution groups, -1 for OOD groups.

        A group is OOD when its score is below :meth:`group_threshold` of its
        size: the test's false-alarm rate on ID groups is ``alpha``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        groups : None or array-like of shape (n_samples,) or (n_groups, m), default=None
        group_size : int, default=5

        Returns
        -------
        labels : ndarray of shape (n_groups,)
        """
        X = self._validate(X)
        index = group_index(X.shape[0], groups, group_size)
        self._check_index(index)
        scores = self._score_index(self._sample_stats(X), index)
        sizes = group_sizes(index)
        thresholds = {m: self.group_threshold(m) for m in np.unique(sizes)}
        threshold = np.array([thresholds[m] for m in sizes])
        return np.where(scores >= threshold, 1, -1)

    def group_threshold(self, group_size=DEFAULT_GROUP_SIZE):
        """Score threshold of :meth:`predict_groups` for groups of ``group_size``.

        The ``alpha`` quantile of the scores of ``n_bootstrap`` groups of
        ``group_size`` distinct samples drawn from the held-out in-distribution data.

        Parameters
        ----------
        group_size : int, default=5

        Returns
        -------
        threshold : float
        """
        check_is_fitted(self)
        group_size = check_group_size(group_size)
        if group_size in self.group_thresholds_:
            return self.group_thresholds_[group_size]
        return self._bootstrap_threshold(group_size)

    def _bootstrap_index(self, group_size):
        # A generator seeded by (fit seed, group size): the same groups every time.
        rng = np.random.RandomState([self.bootstrap_seed_, group_size])
        n_pool = _n_rows(self.holdout_stats_)
        if group_size > n_pool:
            # Fewer held-out samples than a group: members drawn with replacement.
            return rng.randint(n_pool, size=(self.n_bootstrap, group_size))
        return make_groups(n_pool, group_size, n_groups=self.n_bootstrap, random_state=rng)

    def _bootstrap_threshold(self, group_size):
        index = self._bootstrap_index(group_size)
        self._check_index(index)
        scores = self._score_index(self.holdout_stats_, index)
        return float(np.quantile(scores, self.alpha))

    def _min_group_size(self):
        """Hook: smallest group size the statistic can score."""
        return 1

    def _fit_group_thresholds(self):
        return {
            m: self._bootstrap_threshold(m)
            for m in _CACHED_GROUP_SIZES
            if m >= self._min_group_size()
        }


def _n_rows(stats):
    while isinstance(stats, (list, tuple)):
        stats = stats[0]
    return np.asarray(stats).shape[0]
