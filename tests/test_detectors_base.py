"""The outlier-detector contract around a flow (BaseFlowDetector / LikelihoodDetector):
scores, offsets, FrozenEstimator reuse, pipelines and model selection."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

from skood.density import TabularFlowDensity
from skood.detectors import LikelihoodDetector
from skood.detectors._base import AUTO_CONTAMINATION

try:  # written concurrently; fall back to the plain callable if absent
    from skood.metrics import auroc_scorer
except ImportError:  # pragma: no cover
    auroc_scorer = None


def _auroc(est, X, y):
    """+1 = inlier (positive), -1 = outlier; scores are normality."""
    return roc_auc_score(y, est.score_samples(X))


SCORER = auroc_scorer if auroc_scorer is not None else _auroc

_FLOW = dict(n_layers=2, hidden_units=8, max_epochs=2, batch_size=128, dtype="float64",
             random_state=0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny models: one intra-op thread is much faster on a shared machine. Restored after.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _flow(**kw):
    return TabularFlowDensity(**dict(_FLOW, **kw))


@pytest.fixture(scope="module")
def data():
    """300 inliers N(0, I_2) (offset and scaled), 60 outliers shifted by 6 sd."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 2)) * [3.0, 0.5] + [10.0, 0.0]
    X_out = rng.normal(size=(60, 2)) * [3.0, 0.5] + [10.0, 0.0] + [18.0, 3.0]
    return X, X_out


@pytest.fixture(scope="module")
def detector(data):
    X, _ = data
    return LikelihoodDetector(_flow(), calibration_fraction=0.0).fit(X)


# ---------------------------------------------------------------------------------------
# LikelihoodDetector
# ---------------------------------------------------------------------------------------
def test_scores_are_the_flow_log_likelihood(detector, data):
    X, X_out = data
    Z = np.vstack([X, X_out])
    s = detector.score_samples(Z)
    assert s.shape == (360,) and s.dtype == np.float64
    np.testing.assert_array_equal(s, detector.flow_.score_samples(Z))
    # The flow is a fitted clone: same as fitting the same flow by hand (same seed).
    np.testing.assert_array_equal(s, _flow().fit(X).score_samples(Z))
    assert not hasattr(detector.flow, "net_")  # the parameter itself is left unfitted
    assert detector.score(X) == pytest.approx(np.median(s[:300]), rel=1e-12)
    assert detector.n_features_in_ == 2
    # The outliers are clearly less likely.
    assert roc_auc_score(np.r_[np.ones(300), -np.ones(60)], s) > 0.95


def test_decision_function_and_predict(detector, data):
    X, X_out = data
    Z = np.vstack([X, X_out])
    s = detector.score_samples(Z)
    np.testing.assert_array_equal(detector.decision_function(Z), s - detector.offset_)
    pred = detector.predict(Z)
    assert pred.dtype.kind == "i" and set(np.unique(pred)) <= {-1, 1}
    np.testing.assert_array_equal(pred, np.where(s - detector.offset_ >= 0, 1, -1))
    assert np.all(pred[300:] == -1)  # every shifted outlier is flagged


def test_auto_contamination_flags_5_percent(detector, data):
    X, _ = data
    assert AUTO_CONTAMINATION == 0.05
    train = detector.score_samples(X)
    assert detector.offset_ == pytest.approx(np.percentile(train, 5), rel=1e-12)
    n_flagged = int(np.sum(detector.predict(X) == -1))
    assert n_flagged == 15  # 5% of 300
    assert isinstance(detector.offset_, float)


@pytest.mark.parametrize("contamination, expected", [(0.1, 30), (30 / 300, 30), (0.5, 150)])
def test_contamination_flags_exact_count(contamination, expected, data):
    X, _ = data
    det = LikelihoodDetector(_flow(), calibration_fraction=0.0, contamination=contamination)
    labels = det.fit_predict(X)
    assert int(np.sum(labels == -1)) == expected
    np.testing.assert_array_equal(det.predict(X), labels)
    assert det.offset_ == pytest.approx(np.percentile(det.score_samples(X), 100 * contamination))


@pytest.mark.parametrize("contamination", [0.0, 0.51, -0.1, "high"])
def test_invalid_contamination(contamination, data):
    with pytest.raises(ValueError, match="contamination"):
        LikelihoodDetector(_flow(), calibration_fraction=0.0, contamination=contamination).fit(data[0])


def test_invalid_flow_and_input(data, detector):
    X, _ = data
    with pytest.raises(ValueError, match="'flow' parameter"):
        LikelihoodDetector(flow="glow").fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but LikelihoodDetector is expecting"):
        detector.score_samples(np.ones((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        detector.predict(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match=r"minimum of 2"):
        LikelihoodDetector(_flow(), calibration_fraction=0.0).fit(X[:1])


def test_default_flow(data):
    det = LikelihoodDetector().fit(data[0][:100])
    assert type(det.flow_) is TabularFlowDensity
    assert det.predict(data[1][:5]).shape == (5,)


# ---------------------------------------------------------------------------------------
# FrozenEstimator: one pre-trained flow, several detectors
# ---------------------------------------------------------------------------------------
def test_frozen_flow_is_used_as_is(data):
    X, X_out = data
    flow = _flow().fit(X)
    n_epochs = len(flow.history_)
    net = flow.net_
    weights = {k: v.clone() for k, v in flow.module_.state_dict().items()}
    frozen = FrozenEstimator(flow)

    # Fit the detectors on *other* data: a refit would change the flow.
    det_a = LikelihoodDetector(frozen).fit(X_out)
    det_b = LikelihoodDetector(frozen, contamination=0.2).fit(X[:100])
    assert det_a.flow_ is frozen and det_b.flow_ is frozen
    assert flow.net_ is net
    assert len(flow.history_) == n_epochs
    for k, v in flow.module_.state_dict().items():
        assert torch.equal(v, weights[k]), k

    Z = np.vstack([X, X_out])
    expected = flow.score_samples(Z)
    np.testing.assert_array_equal(det_a.score_samples(Z), expected)
    np.testing.assert_array_equal(det_b.score_samples(Z), expected)
    # Only the thresholds differ (each from its own training data).
    assert det_a.offset_ == pytest.approx(np.percentile(flow.score_samples(X_out), 5))
    assert det_b.offset_ == pytest.approx(np.percentile(flow.score_samples(X[:100]), 20))
    # clone keeps the frozen flow (no refit) too.
    det_c = clone(det_a).fit(X)
    assert det_c.flow_ is frozen
    np.testing.assert_array_equal(det_c.score_samples(Z), expected)


# ---------------------------------------------------------------------------------------
# Pipelines, clone, model selection
# ---------------------------------------------------------------------------------------
def test_pipeline(data):
    X, X_out = data
    Z = np.vstack([X, X_out])
    pipe = make_pipeline(MinMaxScaler(), LikelihoodDetector(_flow(), calibration_fraction=0.0, contamination=0.1))
    labels = pipe.fit_predict(X)
    assert int(np.sum(labels == -1)) == 30
    scaler, det = pipe.named_steps["minmaxscaler"], pipe.named_steps["likelihooddetector"]
    np.testing.assert_array_equal(pipe.score_samples(Z), det.score_samples(scaler.transform(Z)))
    np.testing.assert_array_equal(
        pipe.decision_function(Z), det.decision_function(scaler.transform(Z))
    )
    np.testing.assert_array_equal(pipe.predict(Z), det.predict(scaler.transform(Z)))
    assert pipe.score(X) == pytest.approx(det.score(scaler.transform(X)))
    # A min-max scaled copy of the data gives a density in scaled space: the standardised
    # flow sees the same data, so scores differ by the log-Jacobian of the scaler.
    plain = LikelihoodDetector(_flow(), calibration_fraction=0.0, contamination=0.1).fit(X)
    np.testing.assert_allclose(
        pipe.score_samples(X),
        plain.score_samples(X) + np.sum(np.log(1 / scaler.scale_)),
        rtol=0, atol=1e-6,
    )

    pipe2 = make_pipeline(FunctionTransformer(np.log1p, validate=True),
                          LikelihoodDetector(_flow(), calibration_fraction=0.0))
    Xp = np.abs(X)
    assert pipe2.fit(Xp).score_samples(Xp).shape == (300,)


def test_clone_and_params(detector):
    c = clone(detector)
    assert not hasattr(c, "flow_") and not hasattr(c, "offset_")
    assert c.get_params()["flow__hidden_units"] == 8
    assert c.get_params()["contamination"] == "auto"
    c.set_params(flow__hidden_units=4, contamination=0.2)
    assert c.flow.hidden_units == 4 and detector.flow.hidden_units == 8


def test_grid_search_without_labels_uses_median_log_likelihood(data):
    X, _ = data
    det = LikelihoodDetector(_flow(), calibration_fraction=0.0)
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(det, {"flow__hidden_units": [4, 8]}, cv=cv).fit(X)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_["flow__hidden_units"] in (4, 8)
    # Split 0 of the first candidate, by hand: the held-out median log-likelihood.
    train, test = next(cv.split(X))
    by_hand = clone(det).set_params(flow__hidden_units=4).fit(X[train])
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(
        np.median(by_hand.score_samples(X[test])), rel=1e-9
    )
    # The refitted best detector works.
    assert search.best_estimator_.predict(X[:5]).shape == (5,)
    # Same through a pipeline.
    pipe = make_pipeline(MinMaxScaler(), det)
    search = GridSearchCV(pipe, {"likelihooddetector__flow__hidden_units": [4, 8]}, cv=cv).fit(X)
    assert np.isfinite(search.best_score_)


def test_grid_search_with_labels_and_auroc_scorer(data):
    X, X_out = data
    Z = np.vstack([X, X_out])
    y = np.r_[np.ones(300, dtype=int), -np.ones(60, dtype=int)]
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        LikelihoodDetector(_flow(), calibration_fraction=0.0), {"flow__hidden_units": [4, 8]}, scoring=SCORER, cv=cv
    ).fit(Z, y)
    assert np.all(search.cv_results_["mean_test_score"] > 0.9)
    assert 0.9 < search.best_score_ <= 1.0
    # By hand for one fold: AUROC of the held-out scores, +1 = inlier = positive.
    train, test = next(cv.split(Z, y))
    by_hand = LikelihoodDetector(_flow(hidden_units=4), calibration_fraction=0.0).fit(Z[train])
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(
        _auroc(by_hand, Z[test], y[test]), rel=1e-9
    )
    # sklearn's "roc_auc" agrees with +1/-1 labels (greater label = inlier = positive).
    np.testing.assert_allclose(
        cross_val_score(LikelihoodDetector(_flow(), calibration_fraction=0.0), Z, y, scoring="roc_auc", cv=cv),
        cross_val_score(LikelihoodDetector(_flow(), calibration_fraction=0.0), Z, y, scoring=_auroc, cv=cv),
        rtol=1e-12,
    )


@pytest.mark.skipif(auroc_scorer is None, reason="skood.metrics.auroc_scorer not available")
def test_auroc_scorer_convention(detector, data):
    X, X_out = data
    Z = np.vstack([X, X_out])
    y = np.r_[np.ones(300, dtype=int), -np.ones(60, dtype=int)]
    assert auroc_scorer(detector, Z, y) == pytest.approx(_auroc(detector, Z, y), rel=1e-12)
