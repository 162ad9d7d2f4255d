"""Compare detectors in one call: point-wise and group metrics on ID/OOD test sets."""

from __future__ import annotations

import time
from numbers import Integral

import numpy as np

from ._groups import _check_int, group_auroc, make_groups
from ._ranking import evaluate_id_ood
from ._scorers import _check_not_pyod, _normality_scores


def _group_seeds(random_state):
    """Seeds of the ID and the OOD groups: ``random_state`` and ``random_state + 1``."""
    if random_state is None or isinstance(random_state, (Integral, np.integer)):
        if random_state is None:
            return None, None
        return int(random_state), int(random_state) + 1
    return random_state, random_state  # a generator: drawn from in turn


def group_aurocs(detector, X_id, X_ood, *, group_sizes=(5,), scores_id=None,
                 scores_ood=None, random_state=1):
    """Group AUROC of a fitted detector for each group size.

    Disjoint random groups of ``m`` samples are drawn from each test set
    (:func:`make_groups`) and scored as one item each. A detector with
    ``sample_statistics`` / ``score_statistics`` (every skood detector) scores
    a group with its own group statistic (typicality, KL divergence; the
    group mean of point-wise normality for the others), from one flow pass
    per test set shared by every group size. Any other detector scores a
    group by the mean of its members' point-wise normality, so every detector
    is compared as a group test on the same groups.

    Parameters
    ----------
    detector : fitted estimator
        A skood detector, or any detector with ``score_samples`` (or
        ``decision_function``) = normality.
    X_id, X_ood : array-like of shape (n_id, n_features), (n_ood, n_features)
        In-distribution and OOD test sets.
    group_sizes : sequence of int, default=(5,)
    scores_id, scores_ood : array-like, default=None
        Point-wise normality of ``X_id`` / ``X_ood`` if already computed
        (used by detectors without ``sample_statistics``).
    random_state : int, RandomState, Generator or None, default=1
        An int seeds the ID groups with it and the OOD groups with it + 1.

    Returns
    -------
    dict
        ``{"group_auroc_m<m>": float}`` per group size.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import LocalOutlierFactor
    >>> from skood.metrics import group_aurocs
    >>> rng = np.random.RandomState(0)
    >>> lof = LocalOutlierFactor(novelty=True).fit(rng.normal(size=(200, 2)))
    >>> X_id, X_ood = rng.normal(size=(100, 2)), rng.normal(0, 1.5, size=(100, 2))
    >>> {k: round(v, 2) for k, v in group_aurocs(lof, X_id, X_ood, group_sizes=(1, 10)).items()}
    {'group_auroc_m1': 0.69, 'group_auroc_m10': 0.98}
    """
    sizes = [_check_int(m, "group size", 1) for m in group_sizes]
    seed_id, seed_ood = _group_seeds(random_state)
    if hasattr(detector, "sample_statistics") and hasattr(detector, "score_statistics"):
        stats_id, stats_ood = detector.sample_statistics(X_id), detector.sample_statistics(X_ood)

        def group_scores(stats, groups):
            return np.asarray(detector.score_statistics(stats, groups=groups), dtype=np.float64)
    else:
        stats_id = np.asarray(_normality_scores(detector, X_id) if scores_id is None
                              else scores_id, dtype=np.float64)
        stats_ood = np.asarray(_normality_scores(detector, X_ood) if scores_ood is None
                               else scores_ood, dtype=np.float64)

        def group_scores(scores, groups):
            return scores[groups].mean(axis=1)

    out = {}
    for m in sizes:
        g_id = make_groups(len(X_id), m, random_state=seed_id)
        g_ood = make_groups(len(X_ood), m, random_state=seed_ood)
        out[f"group_auroc_m{m}"] = group_auroc(group_scores(stats_id, g_id),
                                               group_scores(stats_ood, g_ood))
    return out


def compare_detectors(detectors, X_train, X_id, X_ood, *, group_sizes=(5,), random_state=1,
                      as_frame=False):
    """Fit several detectors on the same data and tabulate their OOD metrics.

    Each detector is fit on ``X_train`` (in-distribution rows only) and scores
    the in-distribution test set ``X_id`` and the OOD test set ``X_ood``:
    AUROC, AUPR-In, AUPR-Out and FPR@95TPR of the point-wise normality
    (``score_samples``, else ``decision_function``; see
    :func:`evaluate_id_ood`) and, per group size, the group AUROC of
    :func:`group_aurocs` (a skood detector's own group statistic; the group
    mean of point-wise normality otherwise), on the same groups for every
    detector. Skood detectors, scikit-learn's outlier detectors, pipelines
    and :class:`skood.adapters.PyODAdapter` mix freely; a bare PyOD model is
    refused (its ``decision_function`` is outlyingness).

    Parameters
    ----------
    detectors : dict of str to estimator
        Name -> unfitted detector. Each is fit in place (``fit(X_train)``);
        pass ``sklearn.base.clone(d)`` to keep the originals unfitted.
    X_train : array-like of shape (n_train, n_features)
        In-distribution training rows.
    X_id, X_ood : array-like of shape (n_id, n_features), (n_ood, n_features)
        In-distribution and OOD test sets.
    group_sizes : sequence of int, default=(5,)
        Group sizes of the group AUROC columns; ``()`` for none.
    random_state : int, RandomState, Generator or None, default=1
        Seeds the groups (see :func:`group_aurocs`).
    as_frame : bool, default=False
        Return a ``pandas.DataFrame`` (pandas must be installed; it is not a
        dependency of skood).

    Returns
    -------
    table : list of dict or pandas.DataFrame
        One row per detector, in the order of ``detectors``: ``"detector"``,
        ``"auroc"``, ``"aupr_in"``, ``"aupr_out"``, ``"fpr95"``,
        ``"group_auroc_m<m>"`` per group size, ``"fit_time"`` and
        ``"score_time"`` (seconds; scoring includes the group statistics).

    Raises
    ------
    TypeError
        If a detector is a bare PyOD model (wrap it in
        :class:`skood.adapters.PyODAdapter`) or has no normality score.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.neighbors import LocalOutlierFactor
    >>> from skood.metrics import compare_detectors
    >>> rng = np.random.RandomState(0)
    >>> X_train, X_id = rng.normal(size=(300, 2)), rng.normal(size=(100, 2))
    >>> X_ood = rng.normal(0.0, 3.0, size=(100, 2))
    >>> table = compare_detectors(
    ...     {"IsolationForest": IsolationForest(random_state=0),
    ...      "LOF": LocalOutlierFactor(novelty=True)}, X_train, X_id, X_ood)
    >>> [(row["detector"], round(row["auroc"], 2), round(row["group_auroc_m5"], 2))
    ...  for row in table]
    [('IsolationForest', 0.86, 1.0), ('LOF', 0.89, 1.0)]
    """
    if not isinstance(detectors, dict) or not detectors:
        raise TypeError("detectors must be a non-empty dict of name -> detector.")
    for name, det in detectors.items():
        _check_not_pyod(det, what=f"compare_detectors (detector {name!r})")
        if not hasattr(det, "fit"):
            raise TypeError(f"detector {name!r} ({type(det).__name__}) has no fit method.")
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "compare_detectors(as_frame=True) needs pandas, which skood does not "
                "depend on: pip install pandas, or use the default list of dicts."
            ) from exc
    rows = []
    for name, det in detectors.items():
        t0 = time.perf_counter()
        det.fit(X_train)
        t1 = time.perf_counter()
        s_id, s_ood = _normality_scores(det, X_id), _normality_scores(det, X_ood)
        groups = group_aurocs(det, X_id, X_ood, group_sizes=group_sizes, scores_id=s_id,
                              scores_ood=s_ood, random_state=random_state)
        t2 = time.perf_counter()
        rows.append({"detector": name, **evaluate_id_ood(s_id, s_ood), **groups,
                     "fit_time": t1 - t0, "score_time": t2 - t1})
    return pd.DataFrame(rows) if as_frame else rows
