"""Tests for skood.metrics."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skood.metrics import (
    SCORERS,
    aupr_in,
    aupr_in_scorer,
    aupr_out,
    aupr_out_scorer,
    auroc,
    auroc_id_ood,
    auroc_scorer,
    dual_threshold_auroc,
    evaluate_id_ood,
    fpr_at_95_tpr,
    fpr_at_tpr,
    from_pyod,
    group_auroc,
    group_labels_from_indices,
    make_groups,
    make_ood_scorer,
    neg_fpr95_scorer,
    ood_metrics,
    to_pyod,
)

KEYS = {"auroc", "aupr_in", "aupr_out", "fpr95"}


@pytest.fixture
def random_scores():
    rng = np.random.RandomState(0)
    y = np.r_[np.ones(60, int), -np.ones(40, int)]
    scores = np.r_[rng.normal(1.0, 1.0, 60), rng.normal(0.0, 1.0, 40)]
    perm = rng.permutation(100)
    return y[perm], scores[perm]


# ---------------------------------------------------------------------------
# AUROC, AUPR
# ---------------------------------------------------------------------------


def test_auroc_hand_computed():
    # ID 3, 2 vs OOD 2.5, 0: ID wins 3 of the 4 pairs.
    assert auroc([1, 1, -1, -1], [3, 2, 2.5, 0]) == pytest.approx(0.75)
    # ID 2, 1 vs OOD 1, 0: the tie 1 = 1 counts one half, (3 + 0.5) / 4.
    assert auroc([1, -1, 1, -1], [2, 1, 1, 0]) == pytest.approx(0.875)
    # Perfect, perfectly wrong, chance.
    assert auroc([1, 1, -1], [5, 4, 1]) == 1.0
    assert auroc([1, 1, -1], [1, 2, 3]) == 0.0
    assert auroc([1, -1], [7, 7]) == 0.5


def test_auroc_orientation_equivalence(random_scores):
    y, s = random_scores
    # ID positive with normality == OOD positive with -normality.
    assert auroc(y, s) == pytest.approx(roc_auc_score(y == 1, s))
    assert auroc(y, s) == pytest.approx(roc_auc_score(y == -1, -s))
    assert auroc(y, -s) == pytest.approx(1 - auroc(y, s))


def test_aupr_orientation(random_scores):
    y, s = random_scores
    assert aupr_in(y, s) == pytest.approx(average_precision_score(y == 1, s))
    assert aupr_out(y, s) == pytest.approx(average_precision_score(y == -1, -s))
    assert aupr_in(y, s) != pytest.approx(aupr_out(y, s))


def test_aupr_hand_computed():
    # By normality: ID, OOD, ID. AUPR-In: precision 1 at recall 1/2, 2/3 at
    # recall 1 -> (1 + 2/3) / 2. AUPR-Out ranks by -normality (ID, OOD, ID
    # again): the single OOD sample comes second, precision 1/2.
    y, s = [1, -1, 1], [3, 2, 1]
    assert aupr_in(y, s) == pytest.approx(5 / 6)
    assert aupr_out(y, s) == pytest.approx(0.5)


def test_infinite_scores_are_ordered():
    y = [1, 1, -1, -1]
    assert auroc(y, [0.0, 1.0, -np.inf, -np.inf]) == 1.0
    assert auroc(y, [np.inf, -np.inf, 0.0, 0.0]) == 0.5
    assert aupr_out(y, [0.0, 1.0, -np.inf, -np.inf]) == 1.0


# ---------------------------------------------------------------------------
# FPR@95TPR
# ---------------------------------------------------------------------------


def test_fpr95_hand_built():
    scores_id = np.arange(1.0, 101.0)  # 1..100: keeping 95 of them gives t = 6
    scores_ood = np.array([-3.0, 0.5, 5.9, 6.0, 6.5, 50.0])  # 6.0, 6.5, 50 are >= 6
    y = np.r_[np.ones(100, int), -np.ones(6, int)]
    s = np.r_[scores_id, scores_ood]
    assert fpr_at_95_tpr(y, s) == pytest.approx(3 / 6)
    assert fpr_at_tpr(y, s, tpr=0.95) == pytest.approx(3 / 6)
    assert evaluate_id_ood(scores_id, scores_ood)["fpr95"] == pytest.approx(0.5)
    # tpr = 0.9 keeps 90 ID samples: t = 11, one OOD score is >= 11.
    assert fpr_at_tpr(y, s, tpr=0.9) == pytest.approx(1 / 6)
    # tpr = 1 keeps every ID sample: t = 1, four OOD scores are >= 1.
    assert fpr_at_tpr(y, s, tpr=1.0) == pytest.approx(4 / 6)


def test_fpr95_ties_at_threshold_accepted():
    # 20 ID: 19 keeps -> the 19th largest is 1.0 (tied with the 20th).
    scores_id = np.r_[np.arange(2.0, 20.0), 1.0, 1.0]
    scores_ood = np.array([1.0, 0.99, 3.0])
    assert evaluate_id_ood(scores_id, scores_ood)["fpr95"] == pytest.approx(2 / 3)


def test_fpr95_is_lower_is_better(random_scores):
    y, s = random_scores
    assert fpr_at_95_tpr(y, s) < fpr_at_95_tpr(y, -s)
    assert fpr_at_95_tpr([1, 1, -1], [3, 2, 1]) == 0.0


@pytest.mark.parametrize("tpr", [0, 1.5, -0.1, "0.9", True])
def test_fpr_at_tpr_rejects_bad_tpr(tpr):
    with pytest.raises(ValueError, match="tpr"):
        fpr_at_tpr([1, -1], [1, 0], tpr=tpr)


# ---------------------------------------------------------------------------
# dict helpers, label conventions, errors
# ---------------------------------------------------------------------------


def test_ood_metrics_and_evaluate_id_ood_agree(random_scores):
    y, s = random_scores
    res = ood_metrics(y, s)
    assert set(res) == KEYS
    assert all(isinstance(v, float) for v in res.values())
    assert res["auroc"] == pytest.approx(auroc(y, s))
    assert res["aupr_in"] == pytest.approx(aupr_in(y, s))
    assert res["aupr_out"] == pytest.approx(aupr_out(y, s))
    assert res["fpr95"] == pytest.approx(fpr_at_95_tpr(y, s))
    split = evaluate_id_ood(s[y == 1], s[y == -1])
    assert split == pytest.approx(res)
    assert auroc_id_ood(s[y == 1], s[y == -1]) == pytest.approx(res["auroc"])


def test_zero_one_labels_with_outlier_label(random_scores):
    y, s = random_scores
    y01 = np.where(y == -1, 1, 0)  # PyOD convention: 1 = outlier
    for func in (auroc, aupr_in, aupr_out, fpr_at_95_tpr):
        assert func(y01, s, outlier_label=1) == pytest.approx(func(y, s))
    assert ood_metrics(y01, s, outlier_label=1) == pytest.approx(ood_metrics(y, s))
    # The other 0/1 convention (0 = outlier) and string labels.
    assert auroc(1 - y01, s, outlier_label=0) == pytest.approx(auroc(y, s))
    ystr = np.where(y == 1, "in", "ood")
    assert auroc(ystr, s, outlier_label="ood") == pytest.approx(auroc(y, s))
    assert fpr_at_tpr(y, s, outlier_label=-1) == pytest.approx(fpr_at_95_tpr(y, s))


@pytest.mark.parametrize("func", [auroc, aupr_in, aupr_out, fpr_at_95_tpr, ood_metrics])
def test_label_and_score_errors(func):
    with pytest.raises(ValueError, match="outlier_label"):
        func([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="outlier_label"):
        func([1, 2, 1, 2], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="both"):
        func([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="both"):
        func([-1, -1], [0.1, 0.2])
    with pytest.raises(ValueError, match="both"):
        func([0, 0, 0], [0.1, 0.2, 0.3], outlier_label=1)
    with pytest.raises(ValueError, match="two classes"):
        func([0, 1, 2], [0.1, 0.2, 0.3], outlier_label=1)
    with pytest.raises(ValueError, match="NaN"):
        func([1, -1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="lengths"):
        func([1, -1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="1-D"):
        func([1, -1], [[0.1, 0.2]])


def test_evaluate_id_ood_errors():
    with pytest.raises(ValueError, match="scores_ood is empty"):
        evaluate_id_ood([1.0, 2.0], [])
    with pytest.raises(ValueError, match="NaN"):
        evaluate_id_ood([1.0, np.nan], [0.0])


# ---------------------------------------------------------------------------
# scorers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs_with_outliers():
    rng = np.random.RandomState(0)
    X_in, _ = make_blobs(n_samples=60, centers=2, n_features=2, cluster_std=0.6, random_state=0)
    X_out = rng.uniform(-10, 12, size=(20, 2))
    X = np.r_[X_in, X_out]
    y = np.r_[np.ones(60, int), -np.ones(20, int)]
    return X, y


def test_scorers_in_grid_search(blobs_with_outliers):
    X, y = blobs_with_outliers
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    search = GridSearchCV(
        IsolationForest(n_estimators=15, random_state=0),
        {"max_samples": [0.5, 1.0]},
        scoring=SCORERS,
        refit="auroc",
        cv=cv,
    ).fit(X, y)
    for name in ("auroc", "aupr_in", "aupr_out"):
        assert np.all(search.cv_results_[f"mean_test_{name}"] > 0.5)
    neg_fpr = search.cv_results_["mean_test_neg_fpr95"]
    assert np.all((neg_fpr <= 0) & (neg_fpr > -0.5))
    assert search.best_score_ > 0.5
    # A single scorer as scoring=.
    single = GridSearchCV(
        IsolationForest(n_estimators=15, random_state=0),
        {"max_samples": [0.5, 1.0]},
        scoring=auroc_scorer,
        cv=cv,
    ).fit(X, y)
    assert single.best_score_ == pytest.approx(search.best_score_)


def test_scorer_values_match_metrics(blobs_with_outliers):
    X, y = blobs_with_outliers
    est = IsolationForest(n_estimators=15, random_state=0).fit(X)
    s = est.score_samples(X)
    assert auroc_scorer(est, X, y) == pytest.approx(auroc(y, s))
    assert aupr_in_scorer(est, X, y) == pytest.approx(aupr_in(y, s))
    assert aupr_out_scorer(est, X, y) == pytest.approx(aupr_out(y, s))
    assert neg_fpr95_scorer(est, X, y) == pytest.approx(-fpr_at_95_tpr(y, s))
    assert SCORERS["neg_fpr95"] is neg_fpr95_scorer


def test_make_ood_scorer_with_zero_one_labels(blobs_with_outliers):
    X, y = blobs_with_outliers
    y01 = np.where(y == -1, 1, 0)
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=1)
    est = IsolationForest(n_estimators=15, random_state=0)
    default = cross_val_score(est, X, y, cv=cv, scoring=auroc_scorer)
    scorer = make_ood_scorer("auroc", outlier_label=1)
    zero_one = cross_val_score(est, X, y01, cv=cv, scoring=scorer)
    np.testing.assert_allclose(zero_one, default)
    assert np.all(default > 0.5)
    with pytest.raises(ValueError, match="outlier_label"):
        auroc_scorer(est.fit(X), X, y01)


def test_make_ood_scorer_misc(blobs_with_outliers):
    X, y = blobs_with_outliers
    with pytest.raises(ValueError, match="metric"):
        make_ood_scorer("accuracy")
    scorer = make_ood_scorer("fpr95", outlier_label=1)
    assert "fpr95" in repr(scorer) and "outlier_label=1" in repr(scorer)
    assert repr(make_ood_scorer("neg_fpr95")) == repr(neg_fpr95_scorer)
    restored = pickle.loads(pickle.dumps(scorer))
    est = IsolationForest(n_estimators=10, random_state=0).fit(X)
    y01 = np.where(y == -1, 1, 0)
    assert restored(est, X, y01) == scorer(est, X, y01) <= 0


class _DecisionOnly:
    def decision_function(self, X):
        return np.asarray(X)[:, 0]


class _NoScore:
    pass


def test_scorer_falls_back_to_decision_function():
    X = np.array([[3.0], [2.0], [1.0], [0.0]])
    y = np.array([1, 1, -1, -1])
    assert auroc_scorer(_DecisionOnly(), X, y) == 1.0
    with pytest.raises(TypeError, match="score_samples"):
        auroc_scorer(_NoScore(), X, y)


class _PyODLike:
    """PyOD's conventions: decision_function = outlyingness, fitted threshold_."""

    def fit(self, X, y=None):
        self.decision_scores_ = self.decision_function(X)
        self.threshold_ = np.percentile(self.decision_scores_, 90)
        return self

    def decision_function(self, X):
        return np.abs(np.asarray(X)[:, 0])


class _FromPyODPackage:
    """Unfitted, without PyOD's attributes: recognised by its module alone."""

    def decision_function(self, X):
        return np.abs(np.asarray(X)[:, 0])


_FromPyODPackage.__module__ = "pyod.models.fake"


class _PyODLikeWithScoreSamples(_PyODLike):
    def score_samples(self, X):
        return -self.decision_function(X)


@pytest.mark.parametrize(
    "make",
    [
        lambda X: _PyODLike().fit(X),
        lambda X: _FromPyODPackage(),
        lambda X: make_pipeline(FunctionTransformer(), _PyODLike()).fit(X),
    ],
    ids=["fitted-attributes", "pyod-module", "pipeline"],
)
@pytest.mark.parametrize("scorer", list(SCORERS.values()) + [make_ood_scorer("auroc", outlier_label=1)])
def test_scorers_refuse_pyod_models(make, scorer):
    # Reading PyOD's outlyingness as normality would invert the metric silently.
    X = np.array([[0.0], [0.5], [-0.5], [4.0]])
    est = make(X)
    y = np.array([1, 1, 1, -1]) if scorer.outlier_label is None else np.array([0, 0, 0, 1])
    with pytest.raises(TypeError, match=r"skood\.adapters\.PyODAdapter"):
        scorer(est, X, y)


def test_scorers_trust_score_samples_over_pyod_attributes():
    X = np.array([[0.0], [0.5], [-0.5], [4.0]])
    y = np.array([1, 1, 1, -1])
    assert auroc_scorer(_PyODLikeWithScoreSamples().fit(X), X, y) == 1.0


# ---------------------------------------------------------------------------
# PyOD conversion
# ---------------------------------------------------------------------------


def test_from_pyod_orientation_and_round_trip():
    rng = np.random.RandomState(0)
    outlyingness = np.r_[rng.normal(0, 1, 30), rng.normal(2, 1, 10)]  # PyOD: high = outlier
    labels_pyod = np.r_[np.zeros(30, int), np.ones(10, int)]
    scores, labels = from_pyod(outlyingness, labels_pyod)
    np.testing.assert_array_equal(scores, -outlyingness)
    np.testing.assert_array_equal(labels, np.r_[np.ones(30, int), -np.ones(10, int)])
    # The AUROC a PyOD user computes (outlier positive, score = outlyingness)
    # is the AUROC skood computes after conversion.
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels_pyod, outlyingness))
    assert auroc(labels, scores) > 0.8
    back_scores, back_labels = to_pyod(scores, labels)
    np.testing.assert_array_equal(back_scores, outlyingness)
    np.testing.assert_array_equal(back_labels, labels_pyod)
    assert from_pyod([1.0, -2.0])[1] is None
    np.testing.assert_array_equal(to_pyod([1.0, -2.0])[0], [-1.0, 2.0])


def test_pyod_label_validation():
    with pytest.raises(ValueError, match="labels"):
        from_pyod([0.1, 0.2], [1, -1])
    with pytest.raises(ValueError, match="labels"):
        to_pyod([0.1, 0.2], [0, 1])


# ---------------------------------------------------------------------------
# groups
# ---------------------------------------------------------------------------


def test_make_groups_partition():
    groups = make_groups(23, 5, random_state=0)
    assert groups.shape == (4, 5)
    assert np.issubdtype(groups.dtype, np.integer)
    assert np.unique(groups).size == 20  # disjoint
    assert groups.min() >= 0 and groups.max() < 23
    np.testing.assert_array_equal(groups, make_groups(23, 5, random_state=0))
    assert not np.array_equal(groups, make_groups(23, 5, random_state=1))
    assert make_groups(7, 7, random_state=0).shape == (1, 7)
    assert make_groups(7, 1, random_state=0).shape == (7, 1)


def test_make_groups_bootstrap():
    groups = make_groups(10, 4, n_groups=200, random_state=np.random.RandomState(3))
    assert groups.shape == (200, 4)
    assert all(np.unique(row).size == 4 for row in groups)  # distinct within a group
    assert groups.min() >= 0 and groups.max() < 10
    assert np.unique(groups).size == 10  # groups share samples
    np.testing.assert_array_equal(
        make_groups(10, 4, n_groups=5, random_state=7),
        make_groups(10, 4, n_groups=5, random_state=7),
    )
    gen = make_groups(10, 4, n_groups=3, random_state=np.random.default_rng(0))
    assert gen.shape == (3, 4)


def test_make_groups_errors():
    with pytest.raises(ValueError, match=r"group_size=11.*n_samples=10"):
        make_groups(10, 11)
    with pytest.raises(ValueError, match="group_size"):
        make_groups(10, 0)
    with pytest.raises(ValueError, match="group_size"):
        make_groups(10, 2.5)
    with pytest.raises(ValueError, match="n_groups"):
        make_groups(10, 2, n_groups=0)
    with pytest.raises(ValueError, match="n_samples"):
        make_groups(0, 1)


def test_group_labels_from_indices():
    groups = make_groups(11, 3, random_state=0)
    labels = group_labels_from_indices(groups, 11)
    assert labels.shape == (11,)
    assert np.sum(labels == -1) == 2
    for i, row in enumerate(groups):
        np.testing.assert_array_equal(labels[row], i)
    np.testing.assert_array_equal(
        group_labels_from_indices([[0, 2], [3, 1]], 5), [0, 1, 0, 1, -1]
    )
    with pytest.raises(ValueError, match="overlap"):
        group_labels_from_indices([[0, 1], [1, 2]], 3)
    with pytest.raises(ValueError, match="outside"):
        group_labels_from_indices([[0, 3]], 3)
    with pytest.raises(ValueError, match="2-D"):
        group_labels_from_indices([0, 1], 3)


def test_group_auroc():
    assert group_auroc([3.0, 2.0], [2.5, 0.0]) == pytest.approx(0.75)
    assert group_auroc([1.0], [0.0]) == 1.0
    with pytest.raises(ValueError, match="empty"):
        group_auroc([], [1.0])
    with pytest.raises(ValueError, match="empty"):
        group_auroc([1.0], [])


# ---------------------------------------------------------------------------
# dual-threshold oracle
# ---------------------------------------------------------------------------


def _brute_force_dual_auroc(loglik, lid, is_id):
    """Reference: every threshold pair, the segments between them, exact integral.

    For each b (distinct LID values and +inf) and consecutive a (distinct
    log-likelihoods, decreasing, from +inf), the operating points of
    ``(l >= a) & (d >= b)`` are joined by segments. The envelope
    F(x) = max TPR over points and segment points with FPR <= x is piecewise
    linear between the breakpoints (vertex FPRs and every crossing of segment
    lines with each other and with vertex TPR levels), so the midpoint rule on
    those pieces is exact.
    """
    n_id, n_ood = is_id.sum(), (~is_id).sum()
    a_values = np.r_[np.inf, np.unique(loglik)[::-1]]
    b_values = np.r_[np.inf, np.unique(lid)]
    vertices, diagonals = [(0.0, 0.0), (1.0, 1.0)], []
    for b in b_values:
        curve = []
        for a in a_values:
            accept = (loglik >= a) & (lid >= b)
            curve.append((accept[~is_id].sum() / n_ood, accept[is_id].sum() / n_id))
        vertices += curve
        for (f0, t0), (f1, t1) in zip(curve[:-1], curve[1:]):
            if f1 > f0 and t1 > t0:
                diagonals.append((f0, t0, f1, t1))
    vf, vt = np.array(vertices).T
    breaks = [vf]
    if diagonals:
        df0, dt0, df1, dt1 = np.array(diagonals).T
        slope = (dt1 - dt0) / (df1 - df0)
        intercept = dt0 - slope * df0
        breaks.append(((vt[None, :] - intercept[:, None]) / slope[:, None]).ravel())
        ds = slope[:, None] - slope[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            breaks.append(((intercept[None, :] - intercept[:, None]) / ds).ravel())
    x = np.concatenate(breaks)
    x = np.unique(np.clip(x[np.isfinite(x)], 0.0, 1.0))
    x = np.unique(np.r_[0.0, x, 1.0])
    mid = (x[:-1] + x[1:]) / 2
    env = np.max(np.where(vf[None, :] <= mid[:, None], vt[None, :], 0.0), axis=1)
    if diagonals:
        inside = (df0[None, :] <= mid[:, None]) & (mid[:, None] <= df1[None, :])
        values = np.where(inside, intercept[None, :] + slope[None, :] * mid[:, None], 0.0)
        env = np.maximum(env, values.max(axis=1))
    return float(np.sum(env * np.diff(x)))


def _random_dual_data(seed, n=40, l_levels=None, d_levels=4):
    rng = np.random.RandomState(seed)
    is_id = rng.rand(n) < 0.5
    is_id[:2] = [True, False]
    if l_levels is None:
        loglik = rng.normal(0, 1, n) + 0.7 * is_id
    else:
        loglik = rng.randint(l_levels, size=n) + is_id * rng.randint(2, size=n)
    lid = rng.randint(d_levels, size=n) + is_id * rng.randint(2, size=n)
    return loglik.astype(float), lid.astype(float), is_id


@pytest.mark.parametrize("seed", range(6))
def test_dual_threshold_matches_brute_force_continuous_loglik(seed):
    loglik, lid, is_id = _random_dual_data(seed)
    y = np.where(is_id, 1, -1)
    expected = _brute_force_dual_auroc(loglik, lid, is_id)
    assert dual_threshold_auroc(loglik, lid, y) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_dual_threshold_matches_brute_force_with_ties(seed):
    # Integer log-likelihoods: tie groups of ID and OOD give diagonal segments.
    loglik, lid, is_id = _random_dual_data(100 + seed, l_levels=5, d_levels=3)
    y = np.where(is_id, 1, -1)
    expected = _brute_force_dual_auroc(loglik, lid, is_id)
    assert dual_threshold_auroc(loglik, lid, y) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_dual_threshold_bounds_single_scores(seed):
    rng = np.random.RandomState(seed)
    n = 300
    is_id = rng.rand(n) < 0.6
    loglik = rng.normal(0, 1, n) + 0.5 * is_id
    lid = rng.normal(0, 1, n) + 0.8 * is_id  # continuous: no ties
    y = np.where(is_id, 1, -1)
    result = dual_threshold_auroc(loglik, lid, y)
    assert result >= roc_auc_score(is_id, loglik) - 1e-12
    assert result >= roc_auc_score(is_id, lid) - 1e-12
    assert result <= 1.0
    # Integer log-likelihoods (ties) still bound from above.
    tied = np.round(loglik)
    assert dual_threshold_auroc(tied, lid, y) >= roc_auc_score(is_id, tied) - 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_dual_threshold_constant_lid_equals_auroc(seed):
    rng = np.random.RandomState(seed)
    n = 200
    is_id = rng.rand(n) < 0.5
    y = np.where(is_id, 1, -1)
    constant = np.full(n, 3.0)
    # Continuous, heavily tied and anti-informative log-likelihoods.
    for loglik in (
        rng.normal(0, 1, n) + is_id,
        rng.randint(4, size=n) + rng.randint(2, size=n) * is_id,
        rng.randint(3, size=n) - rng.randint(2, size=n) * is_id,
    ):
        loglik = loglik.astype(float)
        assert dual_threshold_auroc(loglik, constant, y) == pytest.approx(
            roc_auc_score(is_id, loglik), abs=1e-12
        )


def test_dual_threshold_separable():
    # Each score alone is imperfect, but "l >= 0 and d >= 0" separates exactly.
    loglik = np.array([1.0, 2.0, 3.0, -1.0, -2.0, 5.0, 4.0])
    lid = np.array([1.0, 2.0, 1.5, 3.0, 4.0, -1.0, -2.0])
    y = np.array([1, 1, 1, -1, -1, -1, -1])
    assert roc_auc_score(y, loglik) < 1.0 and roc_auc_score(y, lid) < 1.0
    assert dual_threshold_auroc(loglik, lid, y) == 1.0
    # Separable by one score alone, and with 0/1 labels.
    y01 = [0, 0, 0, 1, 1, 1]
    assert dual_threshold_auroc(np.arange(6.0), np.zeros(6), y01, outlier_label=0) == 1.0


def test_dual_threshold_infinite_loglik_and_invariance():
    rng = np.random.RandomState(0)
    n = 60
    is_id = rng.rand(n) < 0.5
    y = np.where(is_id, 1, -1)
    loglik = rng.normal(0, 1, n) + is_id
    lid = rng.randint(5, size=n).astype(float)
    ref = dual_threshold_auroc(loglik, lid, y)
    # Depends only on the orders of l and d.
    assert dual_threshold_auroc(np.exp(loglik), 10 * lid - 3, y) == pytest.approx(ref, abs=1e-12)
    with_inf = loglik.copy()
    with_inf[np.argmin(loglik)] = -np.inf
    assert dual_threshold_auroc(with_inf, lid, y) == pytest.approx(ref, abs=1e-12)


def test_dual_threshold_errors():
    with pytest.raises(ValueError, match="lengths"):
        dual_threshold_auroc([1.0, 2.0], [1.0], [1, -1])
    with pytest.raises(ValueError, match="NaN"):
        dual_threshold_auroc([1.0, np.nan], [1.0, 2.0], [1, -1])
    with pytest.raises(ValueError, match="outlier_label"):
        dual_threshold_auroc([1.0, 2.0], [1.0, 2.0], [0, 1])
    with pytest.raises(ValueError, match="both"):
        dual_threshold_auroc([1.0, 2.0], [1.0, 2.0], [1, 1])
