"""Split-conformal outlier detection: the finite-sample guarantees, measured."""

import warnings

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from skood.conformal import ConformalDetector, benjamini_hochberg, conformal_p_values
from skood.density import TabularFlowDensity
from skood.detectors import LikelihoodDetector

N_SPLITS = 200


def _lof():
    return LocalOutlierFactor(n_neighbors=10, novelty=True)


def test_false_alarm_rate_is_at_most_alpha_over_seeded_splits():
    """Mean false-alarm rate on fresh inliers <= alpha + 3 standard errors.

    With 49 calibration rows and alpha = 0.1 the guarantee is exact for continuous
    scores: floor(0.1 * 50) / 50 = 0.1, so the mean must also not fall far below it.
    """
    alpha, rates = 0.1, []
    for seed in range(N_SPLITS):
        rng = np.random.RandomState(seed)
        det = ConformalDetector(_lof(), alpha=alpha, calibration_size=49, random_state=seed)
        det.fit(rng.normal(size=(150, 2)))
        X_new = rng.normal(size=(200, 2))
        pred = det.predict(X_new)
        # predict flags exactly the p-values <= alpha.
        np.testing.assert_array_equal(pred == -1, det.p_values(X_new) <= alpha)
        rates.append(np.mean(pred == -1))
    rates = np.array(rates)
    se = rates.std(ddof=1) / np.sqrt(N_SPLITS)
    assert rates.mean() <= alpha + 3 * se
    assert rates.mean() >= alpha - 3 * se  # exact here: not conservative either
    # One calibration set is random: rates spread around alpha.
    assert rates.std() > 0.02


def test_benjamini_hochberg_controls_the_fdr_on_a_mixture():
    fdr, fdps, powers = 0.1, [], []
    for seed in range(N_SPLITS):
        rng = np.random.RandomState(seed)
        det = ConformalDetector(_lof(), calibration_size=100, random_state=seed)
        det.fit(rng.normal(size=(200, 2)))
        X = np.r_[rng.normal(size=(90, 2)), rng.normal(4.0, 1.0, size=(10, 2))]
        selected = det.select_outliers(X, fdr=fdr)
        is_out = np.r_[np.zeros(90, bool), np.ones(10, bool)]
        fdps.append(np.sum(selected & ~is_out) / max(1, selected.sum()))
        powers.append(np.mean(selected[is_out]))
    fdps = np.array(fdps)
    se = fdps.std(ddof=1) / np.sqrt(N_SPLITS)
    # BH controls the FDR at fdr * m0 / m = 0.09.
    assert fdps.mean() <= fdr * 0.9 + 3 * se
    assert np.mean(powers) > 0.5  # and finds most outliers 4 sd away


def test_p_values_and_offset():
    cal = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
    np.testing.assert_allclose(conformal_p_values(cal, [0.0, 2.0, 2.5, 9.0, np.nan]),
                               np.array([1, 4, 4, 6, 1]) / 6)
    rng = np.random.RandomState(0)
    det = ConformalDetector(IsolationForest(random_state=0), alpha=0.05, calibration_size=99,
                            random_state=0).fit(rng.normal(size=(300, 3)))
    assert det.calibration_scores_.shape == (99,)
    assert np.all(np.diff(det.calibration_scores_) >= 0)
    # floor(0.05 * 100) = 5: the 5th smallest calibration score.
    assert det.offset_ == det.calibration_scores_[4]
    X = rng.normal(size=(500, 3)) * 1.5
    np.testing.assert_array_equal(det.decision_function(X), det.score_samples(X) - det.offset_)
    np.testing.assert_array_equal(det.predict(X) == -1, det.p_values(X) <= 0.05)
    # The detector never saw the calibration rows: it was fit on the other 201.
    assert det.estimator_.n_features_in_ == 3 and det.estimator_.max_samples_ == 201


def test_works_with_a_skood_detector():
    rng = np.random.RandomState(0)
    flow = TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=5, random_state=0)
    det = ConformalDetector(LikelihoodDetector(flow, random_state=0), alpha=0.1,
                            calibration_size=0.25, random_state=0).fit(rng.normal(size=(400, 2)))
    assert det.calibration_scores_.shape == (100,)
    p = det.p_values(np.r_[rng.normal(size=(200, 2)), rng.normal(6, 1, size=(20, 2))])
    assert np.mean(p[200:] <= 0.1) == 1.0  # the far outliers are all flagged
    assert np.mean(p[:200] <= 0.1) < 0.2


def test_benjamini_hochberg_step_up():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.5])
    # m = 5, fdr = 0.2: thresholds 0.04, 0.08, 0.12, 0.16, 0.2 -> p_(3) = 0.04 <= 0.12,
    # p_(4) = 0.2 > 0.16: the three smallest.
    np.testing.assert_array_equal(benjamini_hochberg(p, 0.2), [True, True, True, False, False])
    # fdr = 0.05: p_(2) = 0.03 > 0.02 and p_(3) = 0.04 > 0.03: only the first.
    np.testing.assert_array_equal(benjamini_hochberg(p, 0.05), [True, False, False, False, False])
    # Step-up: p_(1) = 0.04 > 0.1 / 3 and p_(2) = 0.07 > 0.2 / 3, but p_(3) = 0.09 <= 0.1:
    # all three are rejected.
    assert benjamini_hochberg([0.09, 0.04, 0.07], 0.1).all()
    assert not benjamini_hochberg(np.full(4, 0.9), 0.1).any()
    with pytest.raises(ValueError, match="fdr"):
        benjamini_hochberg(p, 1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.1, 1.2])


def test_too_few_calibration_rows_warn():
    rng = np.random.RandomState(0)
    with pytest.warns(UserWarning, match="too few"):
        det = ConformalDetector(IsolationForest(n_estimators=5), alpha=0.05,
                                calibration_size=10).fit(rng.normal(size=(50, 2)))
    assert det.offset_ == -np.inf and np.all(det.predict(rng.normal(size=(5, 2)) * 9) == 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ConformalDetector(IsolationForest(n_estimators=5), alpha=0.05,
                          calibration_size=19).fit(rng.normal(size=(50, 2)))
    with pytest.raises(ValueError, match="leaves no row"):
        ConformalDetector(IsolationForest(), calibration_size=50).fit(rng.normal(size=(50, 2)))
