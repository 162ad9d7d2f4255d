"""Tests for skood.adapters.PyODAdapter."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import make_blobs
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skood.adapters import PyODAdapter
from skood.metrics import auroc, auroc_scorer, from_pyod, make_ood_scorer


class _MeanDistance(BaseEstimator):
    """A tiny detector with PyOD's conventions, for tests without PyOD.

    ``decision_function`` is outlyingness (distance to the training mean),
    ``decision_scores_`` the training outlyingness and ``threshold_`` its
    ``1 - contamination`` quantile, as in ``pyod.models.base.BaseDetector``.
    """

    def __init__(self, contamination=0.1):
        self.contamination = contamination

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.center_ = X.mean(axis=0)
        self.decision_scores_ = self.decision_function(X)
        self.threshold_ = np.percentile(self.decision_scores_, 100 * (1 - self.contamination))
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def decision_function(self, X):
        return np.linalg.norm(np.asarray(X, dtype=np.float64) - self.center_, axis=1)


class _NoThreshold(_MeanDistance):
    """PyOD-like, but without ``threshold_``: the adapter applies the quantile rule."""

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.center_ = X.mean(axis=0)
        return self


@parametrize_with_checks([PyODAdapter(_MeanDistance()), PyODAdapter(_NoThreshold())])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture
def blobs():
    rng = np.random.RandomState(0)
    X_train, _ = make_blobs(n_samples=200, centers=1, n_features=3, random_state=0)
    X_in, _ = make_blobs(n_samples=60, centers=1, n_features=3, random_state=0)
    X_out = X_in.mean(axis=0) + rng.uniform(-8, 8, size=(40, 3))
    X_test = np.r_[X_in, X_out]
    y_test = np.r_[np.ones(60, int), -np.ones(40, int)]
    return X_train, X_test, y_test


def test_scores_are_negated_pyod_outlyingness(blobs):
    X_train, X_test, _ = blobs
    adapter = PyODAdapter(_MeanDistance()).fit(X_train)
    reference = _MeanDistance().fit(X_train)
    np.testing.assert_array_equal(
        adapter.score_samples(X_test), from_pyod(reference.decision_function(X_test))[0]
    )
    assert adapter.offset_ == -reference.threshold_
    np.testing.assert_allclose(
        adapter.decision_function(X_test), adapter.score_samples(X_test) - adapter.offset_
    )


def test_fit_clones_and_predict_matches_pyod_labels(blobs):
    X_train, _, _ = blobs
    detector = _MeanDistance(contamination=0.2)
    adapter = PyODAdapter(detector).fit(X_train)
    assert adapter.detector_ is not detector and not hasattr(detector, "threshold_")
    assert adapter.n_features_in_ == 3
    # PyOD labels 1 = outlier; scikit-learn -1 = outlier.
    np.testing.assert_array_equal(
        adapter.predict(X_train), from_pyod(adapter.detector_.decision_scores_,
                                            adapter.detector_.labels_)[1]
    )
    assert np.mean(adapter.predict(X_train) == -1) == pytest.approx(0.2)


@pytest.mark.parametrize("contamination", [0.1, 0.25])
def test_offset_without_threshold_uses_contamination_quantile(blobs, contamination):
    X_train, _, _ = blobs
    adapter = PyODAdapter(_NoThreshold(contamination=contamination)).fit(X_train)
    expected = np.percentile(adapter.score_samples(X_train), 100 * contamination)
    assert adapter.offset_ == pytest.approx(expected)
    assert np.mean(adapter.predict(X_train) == -1) == pytest.approx(contamination, abs=0.01)


def test_offset_without_threshold_or_contamination_defaults_to_ten_percent(blobs):
    class Bare(BaseEstimator):
        def fit(self, X, y=None):
            self.center_ = np.asarray(X).mean(axis=0)
            return self

        def decision_function(self, X):
            return np.abs(np.asarray(X) - self.center_).sum(axis=1)

    X_train, _, _ = blobs
    adapter = PyODAdapter(Bare()).fit(X_train)
    assert adapter.offset_ == pytest.approx(np.percentile(adapter.score_samples(X_train), 10))
    with pytest.raises(ValueError, match="contamination"):
        PyODAdapter(_NoThreshold(contamination="auto")).fit(X_train)


def test_rejects_detector_without_decision_function():
    with pytest.raises(ValueError, match="detector"):  # InvalidParameterError
        PyODAdapter(StandardScaler()).fit(np.zeros((5, 2)))


def test_scorers_accept_the_adapter_and_refuse_the_bare_detector(blobs):
    X_train, X_test, y_test = blobs
    bare = _MeanDistance().fit(X_train)
    truth = auroc(y_test, -bare.decision_function(X_test))
    assert truth > 0.9
    adapter = PyODAdapter(_MeanDistance()).fit(X_train)
    assert auroc_scorer(adapter, X_test, y_test) == pytest.approx(truth)
    with pytest.raises(TypeError, match="PyODAdapter"):
        auroc_scorer(bare, X_test, y_test)
    # In a pipeline, with PyOD's 0/1 labels.
    pipe = make_pipeline(StandardScaler(), PyODAdapter(_MeanDistance())).fit(X_train)
    y01 = np.where(y_test == -1, 1, 0)
    assert make_ood_scorer("auroc", outlier_label=1)(pipe, X_test, y01) > 0.9


def test_with_pyod_knn(blobs):
    pytest.importorskip("pyod")
    from pyod.models.knn import KNN

    X_train, X_test, y_test = blobs
    adapter = PyODAdapter(KNN()).fit(X_train)
    reference = from_pyod(KNN().fit(X_train).decision_function(X_test))[0]
    np.testing.assert_allclose(adapter.score_samples(X_test), reference)
    assert auroc_scorer(adapter, X_test, y_test) == pytest.approx(auroc(y_test, reference))
    assert auroc(y_test, reference) > 0.9
    assert adapter.offset_ == -adapter.detector_.threshold_
    # The bare model, which the scorer once read as normality (AUROC ~ 1 - truth).
    with pytest.raises(TypeError, match=r"skood\.adapters\.PyODAdapter"):
        auroc_scorer(KNN().fit(X_train), X_test, y_test)
