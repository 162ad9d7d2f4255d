"""TunedThresholdDetectorCV: thresholds tuned by cross-validation on labelled data."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline

from skood.density import TabularFlowDensity
from skood.detectors import LikelihoodDetector
from skood.model_selection import TunedThresholdDetectorCV


@pytest.fixture(scope="module")
def digits():
    """Digits 0-4 are inliers, 5% of the training set and 9% of the test set are 5-9.

    Features: 20 PCA components fit on training inliers. ``flow`` is a small
    tabular flow trained on the first 300 training inliers, which the tuned
    detectors below do not see.
    """
    X, d = load_digits(return_X_y=True)
    rng = np.random.RandomState(0)
    inl, out = np.flatnonzero(d < 5), np.flatnonzero(d >= 5)
    rng.shuffle(inl)
    rng.shuffle(out)
    tr_in, te_in, tr_out, te_out = inl[:600], inl[600:], out[:30], out[30:60]
    pca = PCA(20, random_state=0).fit(X[tr_in])
    X_tr, X_te = pca.transform(X[np.r_[tr_in, tr_out]]), pca.transform(X[np.r_[te_in, te_out]])
    y_tr = np.r_[np.ones(600, int), -np.ones(30, int)]
    y_te = np.r_[np.ones(len(te_in), int), -np.ones(30, int)]
    flow = TabularFlowDensity(n_layers=2, hidden_units=32, max_epochs=60,
                              random_state=0).fit(X_tr[:300])
    return X_tr[300:], y_tr[300:], X_te, y_te, X_tr[y_tr == 1], FrozenEstimator(flow)


def test_tuned_f1_beats_the_default_offset_on_held_out_digits(digits):
    X, y, X_te, y_te, _, flow = digits
    det = LikelihoodDetector(flow)
    default = f1_score(y_te, clone_fit(det, X[y == 1]).predict(X_te), pos_label=-1)
    tuned = TunedThresholdDetectorCV(det, random_state=0).fit(X, y)
    f1 = f1_score(y_te, tuned.predict(X_te), pos_label=-1)
    # Measured: 0.656 with the contamination="auto" offset, 0.686 tuned.
    assert default == pytest.approx(0.656, abs=0.01)
    assert f1 > default + 0.02
    # score() is the tuned scoring: the F1 of the outlier class.
    assert tuned.score(X_te, y_te) == pytest.approx(f1, abs=1e-12)
    # The refit detector uses every inlier; the offset is its own offset + the median
    # relative threshold of the five folds.
    assert tuned.fold_thresholds_.shape == (5,)
    rel = tuned.fold_thresholds_ - tuned.fold_references_
    assert tuned.relative_threshold_ == pytest.approx(np.median(rel))
    assert tuned.offset_ == pytest.approx(tuned.estimator_.offset_ + np.median(rel))
    assert tuned.best_threshold_ == tuned.offset_
    np.testing.assert_array_equal(tuned.predict(X_te),
                                  np.where(tuned.score_samples(X_te) >= tuned.offset_, 1, -1))


def clone_fit(det, X):
    from sklearn.base import clone

    return clone(det).fit(X)


def test_tuned_thresholds_for_sklearn_detectors(digits):
    _, _, X_te, y_te, X_in, _ = digits
    # The classical detectors see all 600 training inliers and 30 outliers.
    X = np.r_[X_in, digits[0][digits[1] == -1]]
    y = np.r_[np.ones(len(X_in), int), -np.ones(30, int)]
    lof = LocalOutlierFactor(novelty=True)
    default = f1_score(y_te, clone_fit(lof, X_in).predict(X_te), pos_label=-1)
    tuned = TunedThresholdDetectorCV(lof, random_state=0).fit(X, y)
    # LOF's fixed offset (-1.5) flags almost nothing here: F1 0.235 -> 0.69.
    assert default < 0.3
    assert f1_score(y_te, tuned.predict(X_te), pos_label=-1) > default + 0.3
    ba = TunedThresholdDetectorCV(lof, scoring="balanced_accuracy", random_state=0).fit(X, y)
    assert balanced_accuracy_score(y_te, ba.predict(X_te)) > 0.9
    assert ba.score(X_te, y_te) == pytest.approx(balanced_accuracy_score(y_te, ba.predict(X_te)))
    # A false-alarm budget: held-out inliers flagged stay near max_fpr.
    tpr = TunedThresholdDetectorCV(lof, scoring="tpr_at_fpr", max_fpr=0.05,
                                   random_state=0).fit(X, y)
    pred = tpr.predict(X_te)
    assert np.mean(pred[y_te == 1] == -1) <= 0.05
    assert np.mean(pred[y_te == -1] == -1) > 0.6


def test_curve_and_best_score(digits):
    X, y, _, _, _, flow = digits
    tuned = TunedThresholdDetectorCV(LikelihoodDetector(flow), random_state=0).fit(X, y)
    res = tuned.cv_results_
    n = res["thresholds"].shape[0]
    assert n > 20
    for key in ("relative_thresholds", "mean_score", "std_score", "split0_score", "split4_score"):
        assert res[key].shape == (n,)
    np.testing.assert_allclose(res["thresholds"], res["relative_thresholds"]
                               + tuned.estimator_.offset_)
    splits = np.array([res[f"split{k}_score"] for k in range(5)])
    np.testing.assert_allclose(res["mean_score"], splits.mean(axis=0))
    # The median relative threshold is one of the folds' candidates, so it is on the
    # curve, and best_score_ is the curve there.
    i = np.argmin(np.abs(res["relative_thresholds"] - tuned.relative_threshold_))
    assert res["relative_thresholds"][i] == pytest.approx(tuned.relative_threshold_)
    assert tuned.best_score_ == pytest.approx(res["mean_score"][i])
    assert 0.5 < tuned.best_score_ <= res["mean_score"].max()


def test_inside_grid_search(digits):
    """A detector parameter and the threshold are tuned together (score = tuned F1)."""
    X, y, X_te, y_te, _, _ = digits
    pipe = make_pipeline(PCA(random_state=0), LocalOutlierFactor(novelty=True))
    search = GridSearchCV(
        TunedThresholdDetectorCV(pipe, cv=3, random_state=0),
        {"detector__pca__n_components": [1, 15]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert search.best_params_ == {"detector__pca__n_components": 15}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.2
    # Pipelines expose their last step's offset_: the reference is that offset.
    assert search.best_estimator_.threshold_reference_ == "offset"
    assert search.score(X_te, y_te) == pytest.approx(
        f1_score(y_te, search.predict(X_te), pos_label=-1))


def test_callable_scoring_and_label_encodings(digits):
    X, y, X_te, y_te, _, flow = digits
    det = LikelihoodDetector(flow)
    builtin = TunedThresholdDetectorCV(det, random_state=0).fit(X, y)

    def f1_out(y_true, y_pred):
        return f1_score(y_true, y_pred, pos_label=-1)

    fn = TunedThresholdDetectorCV(det, scoring=f1_out, random_state=0).fit(X, y)
    np.testing.assert_allclose(fn.fold_thresholds_, builtin.fold_thresholds_)
    assert fn.best_score_ == pytest.approx(builtin.best_score_)
    assert fn.score(X_te, y_te) == pytest.approx(builtin.score(X_te, y_te))
    # 0/1 labels with 1 = outlier: the same folds and threshold.
    y01 = np.where(y == -1, 1, 0)
    enc = TunedThresholdDetectorCV(det, outlier_label=1, random_state=0).fit(X, y01)
    assert enc.offset_ == pytest.approx(builtin.offset_)
    seen = []

    def spy(y_true, y_pred):
        seen.append((set(np.unique(y_true)), set(np.unique(y_pred))))
        return f1_score(y_true, y_pred, pos_label=1)

    TunedThresholdDetectorCV(det, scoring=spy, outlier_label=1, cv=2, random_state=0).fit(X, y01)
    assert seen[0][0] == {0, 1} and seen[-1][1] <= {0, 1}


def test_without_labels_keeps_the_detector_offset(digits):
    X, y, _, _, _, flow = digits
    X_in = X[y == 1]
    plain = TunedThresholdDetectorCV(IsolationForest(random_state=0)).fit(X_in)
    assert plain.offset_ == -0.5 and plain.cv_results_ is None and plain.fold_thresholds_ is None
    det = TunedThresholdDetectorCV(LikelihoodDetector(flow)).fit(X_in)
    assert det.offset_ == LikelihoodDetector(flow).fit(X_in).offset_
    # Labels without a single outlier: a warning that names outlier_label.
    with pytest.warns(UserWarning, match="outlier_label"):
        TunedThresholdDetectorCV(IsolationForest(random_state=0)).fit(X, np.where(y == 1, 0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # score without labels: the detector's own label-free score (median log-likelihood).
        assert det.score(X_in) == pytest.approx(det.estimator_.score(X_in))


def test_errors(digits):
    X, y, *_ = digits
    y3 = y.copy()
    y3[:10] = 0  # three classes: -1, 0, 1
    with pytest.raises(ValueError, match="outlier_label"):
        TunedThresholdDetectorCV(IsolationForest()).fit(X, y3)
    with pytest.raises(ValueError, match="no outliers"):
        # A validation fold of inliers only (rows 100-199).
        TunedThresholdDetectorCV(IsolationForest(), cv=[(np.arange(100), np.arange(100, 200))]
                                 ).fit(X, y)
    with pytest.raises(ValueError, match="max_fpr"):
        TunedThresholdDetectorCV(IsolationForest(), max_fpr=1.5).fit(X, y)
