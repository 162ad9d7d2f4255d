"""BaseFlowDetector.score: the median held-out log-likelihood, robust to extreme rows."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skood.density import TabularFlowDensity
from skood.detectors import LikelihoodDetector


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3))
    flow = TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=5, random_state=0)
    return LikelihoodDetector(flow, random_state=0).fit(X[:300]), X[300:]


def test_score_is_the_median_log_likelihood(fitted):
    det, X = fitted
    ll = det.flow_.score_samples(X)
    assert det.score(X) == pytest.approx(np.median(ll), rel=1e-12)


def test_one_extreme_row_barely_moves_the_score(fitted):
    det, X = fitted
    before = det.score(X)
    X_bad = X.copy()
    X_bad[0] = 1e4  # a corrupted row: log-likelihood ~ -1e8
    assert det.flow_.score_samples(X_bad[:1])[0] < -1e6
    mean_shift = abs(det.flow_.score(X_bad) - det.flow_.score(X))
    assert mean_shift > 1e4  # the mean is decided by that one row
    # The median moves by at most one order statistic: a few hundredths of a nat here.
    assert abs(det.score(X_bad) - before) < 0.05
    assert abs(det.score(X_bad) - before) < 1e-5 * mean_shift


def test_label_free_grid_search_is_not_decided_by_one_row(fitted):
    _, X = fitted
    rng = np.random.RandomState(1)
    X_train = np.r_[rng.normal(size=(200, 3)), [[1e4, 1e4, 1e4]]]
    search = GridSearchCV(
        LikelihoodDetector(TabularFlowDensity(n_layers=2, hidden_units=8, random_state=0),
                           random_state=0),
        {"flow__max_epochs": [1, 8]}, cv=3,
    ).fit(X_train)
    # With the mean, the fold holding the corrupted row is -inf-like for both settings;
    # the median scores are finite and ordinary.
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores > -20)
