"""Choices made for speed that must not change results: LID's ``method="auto"``."""

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator

from skood.density import TabularFlowDensity
from skood.detectors import LIDLikelihoodDetector
from skood.detectors.lid import _AUTO_EXACT_MAX_FEATURES

_FLOW = dict(n_layers=1, hidden_units=4, max_epochs=1, dtype="float64", random_state=0)
_LID = dict(n_reference=12, n_calibration=12, calibration="plateau", random_state=0)


@pytest.mark.parametrize("n_features, expected", [
    (3, "exact"), (_AUTO_EXACT_MAX_FEATURES, "exact"), (_AUTO_EXACT_MAX_FEATURES + 1, "fast"),
])
def test_lid_auto_method_is_exact_on_narrow_and_fast_on_wide_data(n_features, expected):
    X = np.random.RandomState(0).normal(size=(40, n_features))
    flow = FrozenEstimator(TabularFlowDensity(**_FLOW).fit(X))
    auto = LIDLikelihoodDetector(flow, **_LID).fit(X)
    assert LIDLikelihoodDetector().method == "auto"
    assert auto.method_ == expected
    same = LIDLikelihoodDetector(flow, method=expected, **_LID).fit(X)
    assert same.method_ == expected
    # "auto" is exactly the method it chose: same LIDs, scores and offset.
    np.testing.assert_array_equal(auto.likelihood_and_lid(X[:5]), same.likelihood_and_lid(X[:5]))
    np.testing.assert_array_equal(auto.score_samples(X[:5]), same.score_samples(X[:5]))
    assert auto.offset_ == same.offset_
    lid = auto.likelihood_and_lid(X[:5])[:, 1]
    if expected == "exact":
        np.testing.assert_array_equal(lid, np.round(lid))  # integer counts of singular values
    assert np.all((lid >= 0) & (lid <= n_features))
