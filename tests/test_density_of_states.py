"""FlowStatistics and DensityOfStatesDetector: columns, two-sidedness, invariances."""

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score

from skood.base import offset_from_scores
from skood.datasets import load_digits_images
from skood.density import GlowDensity, TabularFlowDensity
from skood.detectors import DensityOfStatesDetector, LikelihoodDetector
from skood.statistics import FlowStatistics, compressed_bits

_TAB = dict(n_layers=2, hidden_units=16, max_epochs=10, dtype="float64", random_state=0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.RandomState(0)
    cov = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 0.5]])
    X = rng.multivariate_normal(np.zeros(3), cov, size=1200)
    flow = TabularFlowDensity(**_TAB).fit(X[:800])
    return flow, X[800:1000], X[1000:], rng


def test_statistics_columns_are_the_gateway_terms():
    X, _ = load_digits_images()
    glow = GlowDensity((1, 8, 8), n_levels=2, n_steps=1, hidden_channels=8, max_epochs=1,
                       dtype="float64", random_state=0).fit(X[:300])
    fs = FlowStatistics(FrozenEstimator(glow), per_scale="split").fit(X[:10])
    names = list(fs.get_feature_names_out())
    assert names == ["log_prior_0", "logdet_0", "latent_norm_0", "log_prior_1", "logdet_1",
                     "latent_norm_1", "compressed_bits"]
    S = fs.transform(X[300:340])
    out = glow.flow_pass(X[300:340])
    for s in range(2):
        np.testing.assert_array_equal(S[:, 3 * s], out.log_prior_per_scale[:, s])
        np.testing.assert_array_equal(S[:, 3 * s + 1], out.logdet_per_scale[:, s])
        z = out.latents_normalized[s].reshape(40, -1)
        np.testing.assert_allclose(S[:, 3 * s + 2], (z**2).mean(1), rtol=1e-12)
    # Prior + log-det per scale sum to the log-likelihood.
    np.testing.assert_allclose(S[:, [0, 1, 3, 4]].sum(1), out.log_prob, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(S[:, 6], compressed_bits(X[300:340], (1, 8, 8), "png") / 64)
    # The default columns: one log-likelihood term per scale, summing to log p(x).
    terms = FlowStatistics(FrozenEstimator(glow)).fit(X[:10])
    assert list(terms.get_feature_names_out()) == ["log_lik_0", "log_lik_1", "compressed_bits"]
    T = terms.transform(X[300:340])
    np.testing.assert_array_equal(T[:, :2], out.log_prob_per_scale)
    np.testing.assert_allclose(T[:, :2].sum(1), out.log_prob, rtol=0, atol=1e-9)
    np.testing.assert_allclose(T[:, :2], S[:, [0, 3]] + S[:, [1, 4]], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(T[:, 2], S[:, 6])
    # Parallel compression gives the same bits.
    np.testing.assert_array_equal(compressed_bits(X[:200], (1, 8, 8), n_jobs=2),
                                  compressed_bits(X[:200], (1, 8, 8), n_jobs=1))


def test_statistics_reference_column_and_errors(gaussian):
    flow, X_cal, _, _ = gaussian
    ref = TabularFlowDensity(**dict(_TAB, max_epochs=1)).fit(X_cal)
    fs = FlowStatistics(FrozenEstimator(flow), reference=FrozenEstimator(ref)).fit(X_cal)
    assert fs.get_feature_names_out()[-1] == "reference_log_prob"
    np.testing.assert_array_equal(fs.transform(X_cal[:5])[:, -1], ref.score_samples(X_cal[:5]))
    with pytest.raises(ValueError, match="compression='png' needs pixel data"):
        FlowStatistics(FrozenEstimator(flow), compression="png").fit(X_cal)


def test_two_sided_too_likely_inputs_are_outliers():
    # In 16 dimensions, inputs at the mode are *more* likely than any in-distribution
    # sample: likelihood calls them the most normal, the density of states calls them
    # atypical (their latent norm is far below the N(0, I) value of about 1).
    rng = np.random.RandomState(0)
    X = rng.normal(size=(1200, 16)) * np.linspace(0.5, 2.0, 16)
    flow = TabularFlowDensity(**_TAB).fit(X[:800])
    X_cal, X_test = X[800:1000], X[1000:]
    X_mode = np.random.RandomState(1).normal(scale=0.05, size=(200, 16))
    lik = LikelihoodDetector(FrozenEstimator(flow)).fit(X_cal)
    # Without the isolation forest (the statistics of images; on tabular data its
    # default adds it).
    dose = DensityOfStatesDetector(FrozenEstimator(flow), isolation_forest=False,
                                   random_state=0).fit(X_cal)
    y = np.r_[np.ones(len(X_test)), np.zeros(200)]
    auc_lik = roc_auc_score(y, lik.score_samples(np.r_[X_test, X_mode]))
    auc_dose = roc_auc_score(y, dose.score_samples(np.r_[X_test, X_mode]))
    assert auc_lik < 0.2 and auc_dose > 0.95, (auc_lik, auc_dose)
    assert np.mean(dose.predict(X_mode) == -1) > 0.9
    # Unlikely inputs are outliers too.
    X_far = X_test + 4.0
    assert np.mean(dose.predict(X_far) == -1) > 0.9
    # The false-alarm rate on new ID data is about contamination (0.05).
    assert np.mean(dose.predict(X_test) == -1) < 0.15
    # The tabular default adds the isolation forest as a second, one-sided test: the
    # forest calls the mode typical, but the smaller of the two log p-values still
    # flags it (measured: AUROC 0.975 as without it, 99% of the mode inputs flagged).
    default = DensityOfStatesDetector(FrozenEstimator(flow), random_state=0).fit(X_cal)
    assert default.statistic_names_[-1] == "isolation_score"
    auc_default = roc_auc_score(y, default.score_samples(np.r_[X_test, X_mode]))
    assert auc_default > 0.95, auc_default
    assert np.mean(default.predict(X_mode) == -1) > 0.9
    assert np.mean(default.predict(X_far) == -1) > 0.9
    assert np.mean(default.predict(X_test) == -1) < 0.15
    # As a column of the density instead, the forest's score vouches for the mode
    # inputs (measured 0.5% flagged): why it is a separate test.
    from sklearn.preprocessing import RobustScaler
    from skood.detectors._robust_gaussian import RobustGaussian
    S_cal, S_mode = default.calibration_statistics_, default.sample_statistics(X_mode)
    scaler = RobustScaler(unit_variance=True).fit(S_cal)
    joint = RobustGaussian(random_state=0).fit(scaler.transform(S_cal))
    cal_scores = joint.score_samples(scaler.transform(S_cal))
    assert np.mean(joint.score_samples(scaler.transform(S_mode))
                   < np.quantile(cal_scores, 0.05)) < 0.2


def test_invariant_to_units_and_robust_to_dependent_columns(gaussian):
    flow, X_cal, X_test, _ = gaussian
    fs = FlowStatistics(FrozenEstimator(flow), per_scale="split").fit(X_cal)
    S_cal, S_test = fs.transform(X_cal), fs.transform(X_test)
    det = DensityOfStatesDetector(FrozenEstimator(flow), statistics="split", n_neighbors=None,
                                  isolation_forest=False, random_state=0)
    base = det.fit(X_cal).score_samples(X_test)
    # The same detector on statistics in other units (a scaled flow) ranks identically:
    # the second stage standardises by median and IQR. Checked on the second stage.
    from sklearn.preprocessing import RobustScaler
    units = [1e3, 1e-3, 7.0]
    z1 = RobustScaler(unit_variance=True).fit(S_cal).transform(S_test)
    z2 = RobustScaler(unit_variance=True).fit(S_cal * units).transform(S_test * units)
    np.testing.assert_allclose(z1, z2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(det.density_.score_samples(z2), base, rtol=1e-9, atol=1e-9)
    # Exactly dependent columns (the per-scale sum = log-likelihood; a duplicate) do
    # not break any density: the robust Gaussian fits in the data's span.
    S_dep = np.column_stack([S_cal, S_cal[:, 0] + S_cal[:, 1], S_cal[:, 2]])
    for density in ("robust", "gmm", "kde"):
        dep = DensityOfStatesDetector(FrozenEstimator(flow), statistics="split",
                                      n_neighbors=None, density=density, random_state=0)
        Z = RobustScaler(unit_variance=True).fit_transform(S_dep)
        model = dep._make_density(Z, None, 0).fit(Z)
        assert np.all(np.isfinite(model.score_samples(Z))), density


def test_robust_density_with_statistics_dependent_up_to_round_off():
    # A tabular flow's prior term and latent norm are one statistic up to float32
    # round-off: the fit is silent (MinCovDet's rank warning is about that direction)
    # and finite, and the informative direction still orders the rows.
    import warnings
    from skood.detectors._robust_gaussian import RobustGaussian
    rng = np.random.RandomState(0)
    a = rng.normal(size=400)
    S = np.c_[a, -a + 5e-6 * rng.normal(size=400)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rg = RobustGaussian(random_state=0).fit(S)
    scores = rg.score_samples(np.c_[[0.0, 3.0, 6.0], [0.0, -3.0, -6.0]])
    assert np.all(np.isfinite(scores)) and scores[0] > scores[1] > scores[2]


def test_log_chi2_tail_is_finite_far_out():
    from scipy.stats import chi2
    from skood.detectors._robust_gaussian import log_chi2_sf
    x = np.r_[np.linspace(0.01, 20, 50), 100.0, 600.0, 1200.0]
    for dof in (1, 2, 3, 6):
        np.testing.assert_allclose(log_chi2_sf(x, dof), chi2.logsf(x, dof), rtol=1e-9)
        far = log_chi2_sf(np.array([1300.0, 2000.0, 1e5]), dof)
        assert np.all(np.isfinite(far)) and np.all(np.diff(far) < 0)
    # Two degrees of freedom: the tail is exp(-x / 2) exactly, far out too.
    np.testing.assert_allclose(log_chi2_sf(np.array([2000.0, 1e5]), 2), [-1000.0, -5e4],
                               rtol=1e-12)


def test_robust_density_ignores_a_contaminating_cluster():
    # 10% of the calibration rows are anomalies in a tight cluster of their own (as in
    # ADBench's shuttle set). A maximum-likelihood mixture gives them a component; the
    # robust Gaussian does not, so new anomalies from that cluster score low.
    from skood.detectors._robust_gaussian import RobustGaussian
    rng = np.random.RandomState(0)
    inliers = rng.normal(size=(900, 2)) * [1.0, 0.5]
    cluster = rng.normal(size=(100, 2)) * 0.05 + [4.0, 0.0]
    S = np.r_[inliers, cluster]
    rg = RobustGaussian(random_state=0).fit(S)
    assert rg.support_[900:].sum() == 0 and rg.support_[:900].mean() > 0.9
    np.testing.assert_allclose(rg.location_, [0, 0], atol=0.1)
    np.testing.assert_allclose(np.diag(rg.covariance_), [1.0, 0.25], rtol=0.15)
    new_in = rng.normal(size=(200, 2)) * [1.0, 0.5]
    new_out = rng.normal(size=(200, 2)) * 0.05 + [4.0, 0.0]
    y = np.r_[np.ones(200), np.zeros(200)]
    assert roc_auc_score(y, rg.score_samples(np.r_[new_in, new_out])) > 0.99
    from sklearn.mixture import GaussianMixture
    gmm = GaussianMixture(2, random_state=0).fit(S)
    assert roc_auc_score(y, gmm.score_samples(np.r_[new_in, new_out])) < 0.5
    # Its log-density is a Gaussian's: brute force at one point.
    x = np.array([[0.3, -0.2]])
    diff = x[0] - rg.location_
    cov = rg.covariance_
    expected = -0.5 * (2 * np.log(2 * np.pi) + np.log(np.linalg.det(cov))
                       + diff @ np.linalg.solve(cov, diff))
    np.testing.assert_allclose(rg.score_samples(x), [expected], rtol=1e-12)


@pytest.mark.parametrize("density", ["robust", "gmm", "kde", "ocsvm"])
def test_densities_and_group_api(gaussian, density):
    flow, X_cal, X_test, _ = gaussian
    det = DensityOfStatesDetector(FrozenEstimator(flow), density=density,
                                  random_state=0).fit(X_cal)
    # The forest's test needs the robust Gaussian's p-value ("auto" leaves it out).
    assert det.statistic_names_[-1] == ("isolation_score" if density == "robust"
                                        else "knn_distance")
    s_id, s_out = det.score_samples(X_test), det.score_samples(X_test + 4.0)
    assert roc_auc_score(np.r_[np.ones(200), np.zeros(200)], np.r_[s_id, s_out]) > 0.95
    np.testing.assert_allclose(det.score_groups(X_test, group_size=5),
                               s_id.reshape(-1, 5).mean(1), rtol=1e-12)
    # offset_ is the contamination quantile of out-of-fold calibration scores.
    assert det.offset_ == pytest.approx(offset_from_scores(det.calibration_scores_, 0.05))


def test_unfrozen_flow_trains_on_the_rest(gaussian):
    _, X_cal, X_test, _ = gaussian
    X = np.r_[X_cal, X_test]
    det = DensityOfStatesDetector(TabularFlowDensity(**dict(_TAB, max_epochs=2)),
                                  random_state=0).fit(X)
    assert det.calibration_statistics_.shape == (80, 3)
    # The distance statistic's reference: every row fit saw (flow rows and calibration
    # rows), a calibration row leaving itself out.
    from sklearn.preprocessing import StandardScaler
    Xs = StandardScaler().fit_transform(X)
    d = np.linalg.norm(Xs[:, None] - Xs[None], axis=2)
    loo = np.sort(d, 1)[:, 1:6].mean(1)
    cal_knn = np.sort(det.calibration_statistics_[:, 1])
    rows = np.flatnonzero(np.isin(np.round(loo, 10), np.round(cal_knn, 10)))
    assert len(rows) == 80
    np.testing.assert_allclose(np.sort(loo[rows]), cal_knn, rtol=1e-10)
    # A training row scored again leaves itself out too (fit_predict is consistent).
    np.testing.assert_allclose(det.sample_statistics(X)[:, 1], loo, rtol=1e-8)
    assert det.predict(X[:10]).shape == (10,)


def test_knn_distance_in_input_and_latent_space(gaussian):
    flow, X_cal, X_test, _ = gaussian
    from sklearn.preprocessing import StandardScaler
    det = DensityOfStatesDetector(FrozenEstimator(flow), random_state=0).fit(X_cal)
    S = det.sample_statistics(X_test)
    assert det.statistic_names_ == ["log_lik_0", "knn_distance", "isolation_score"]
    ref = StandardScaler().fit(X_cal)
    d = np.linalg.norm(ref.transform(X_test)[:, None] - ref.transform(X_cal)[None], axis=2)
    np.testing.assert_allclose(S[:, 1], np.sort(d, 1)[:, :5].mean(1), rtol=1e-10)
    # Calibration rows leave themselves out of their neighbours (a frozen flow).
    d_cal = np.linalg.norm(ref.transform(X_cal)[:, None] - ref.transform(X_cal)[None], axis=2)
    np.testing.assert_allclose(det.calibration_statistics_[:, 1],
                               np.sort(d_cal, 1)[:, 1:6].mean(1), rtol=1e-10)
    assert det.neighbor_scaler_ is not None
    # Latent space: the distance between prior-normalised latents.
    lat = DensityOfStatesDetector(FrozenEstimator(flow), neighbor_space="latent",
                                  random_state=0).fit(X_cal)
    z_test = flow.flow_pass(X_test).latents_normalized[0].reshape(len(X_test), -1)
    z_cal = flow.flow_pass(X_cal).latents_normalized[0].reshape(len(X_cal), -1)
    dz = np.linalg.norm(z_test[:, None] - z_cal[None], axis=2)
    np.testing.assert_allclose(lat.sample_statistics(X_test)[:, 1],
                               np.sort(dz, 1)[:, :5].mean(1), rtol=1e-8)
    assert lat.neighbor_scaler_ is None
    # Pixel inputs are compared as they are (no standardisation).
    X, _ = load_digits_images()
    glow = GlowDensity((1, 8, 8), n_levels=2, n_steps=1, hidden_channels=8, max_epochs=1,
                       random_state=0).fit(X[:300])
    pix = DensityOfStatesDetector(FrozenEstimator(glow), random_state=0).fit(X[300:500])
    assert pix.neighbor_scaler_ is None
    dp = np.linalg.norm(X[500:520, None].astype(float) - X[None, 300:500], axis=2)
    np.testing.assert_allclose(pix.sample_statistics(X[500:520])[:, -1],
                               np.sort(dp, 1)[:, :5].mean(1), rtol=1e-10)


def test_cross_fit_each_row_under_the_flow_that_did_not_train_on_it(gaussian):
    _, X_cal, X_test, _ = gaussian
    X = np.r_[X_cal, X_test]
    det = DensityOfStatesDetector(TabularFlowDensity(**dict(_TAB, max_epochs=2)),
                                  cross_fit=3, random_state=0).fit(X)
    assert len(det.flows_) == 3 and det.flow_ is det.flows_[0]
    assert len(det.fold_statistics_) == 2
    # Folds partition the rows; each flow trained on the rows of the other folds.
    assert np.bincount(det.fold_index_).tolist() == [134, 133, 133]
    for k, flow in enumerate(det.flows_):
        assert flow.n_features_in_ == 3
        assert len(flow.history_) == 2
    # Every row calibrates (calibration_fraction is ignored), with its own fold's flow.
    assert det.calibration_statistics_.shape == (400, 3)
    S = det.sample_statistics(X)
    assert S.shape == (400, 3, 3)
    for k, flow in enumerate(det.flows_):
        rows = det.fold_index_ == k
        np.testing.assert_allclose(det.calibration_statistics_[rows, 0],
                                   flow.flow_pass(X[rows]).log_prob, rtol=1e-10)
        np.testing.assert_allclose(S[:, k, 0], flow.flow_pass(X).log_prob, rtol=1e-10)
    # The distance and isolation statistics do not depend on the flow; the score is the
    # mean over flows of the smaller of the density's log p-value (of each flow's
    # statistics) and the forest's.
    np.testing.assert_array_equal(S[:, 0, 1:], S[:, 2, 1:])
    from scipy.special import log_ndtr
    iso = log_ndtr(det.isolation_scaler_.transform(S[:, 0, 2:])[:, 0])
    Z = [det.scaler_.transform(S[:, k, :2]) for k in range(3)]
    expected = np.mean([np.minimum(det.density_.log_tail(z), iso) for z in Z], axis=0)
    np.testing.assert_allclose(det.score_samples(X), expected, rtol=1e-12)
    # offset_ from the out-of-fold calibration scores; far inputs are outliers.
    assert det.offset_ == pytest.approx(offset_from_scores(det.calibration_scores_, 0.05))
    assert (det.predict(X_test + 6.0) == -1).mean() > 0.95
    np.testing.assert_allclose(det.score_groups(X_test, group_size=5),
                               det.score_samples(X_test).reshape(-1, 5).mean(1), rtol=1e-12)


def test_cross_fit_trains_the_folds_flows_in_parallel(gaussian):
    # Two loky worker processes train the folds' flows: the same flows and scores as
    # one job (each fit is seeded by the flow's own random_state).
    _, X_cal, X_test, _ = gaussian
    X = np.r_[X_cal, X_test]
    kw = dict(flow=TabularFlowDensity(**dict(_TAB, max_epochs=2)), cross_fit=2,
              random_state=0)
    serial = DensityOfStatesDetector(**kw).fit(X)
    parallel = DensityOfStatesDetector(**kw, n_jobs=2).fit(X)
    for a, b in zip(serial.flows_, parallel.flows_):
        assert a is not b
        np.testing.assert_array_equal(a.flow_pass(X_test).log_prob,
                                      b.flow_pass(X_test).log_prob)
    np.testing.assert_array_equal(serial.fold_index_, parallel.fold_index_)
    np.testing.assert_allclose(parallel.score_samples(X_test), serial.score_samples(X_test),
                               rtol=1e-12)
    assert parallel.offset_ == pytest.approx(serial.offset_, rel=1e-12)


def test_cross_fit_shares_the_compression_column():
    X, _ = load_digits_images()
    glow = GlowDensity((1, 8, 8), n_levels=2, n_steps=1, hidden_channels=8, max_epochs=1,
                       random_state=0)
    det = DensityOfStatesDetector(glow, cross_fit=2, n_neighbors=None,
                                  random_state=0).fit(X[:200])
    assert det.statistic_names_ == ["log_lik_0", "log_lik_1", "compressed_bits"]
    S = det.sample_statistics(X[200:220])
    bits = FlowStatistics(FrozenEstimator(det.flows_[1])).fit(X[:2]).transform(X[200:220])
    np.testing.assert_allclose(S[:, 1], bits, rtol=1e-10)
    np.testing.assert_array_equal(S[:, 0, 2], S[:, 1, 2])


def test_cross_fit_errors(gaussian):
    flow, X_cal, _, _ = gaussian
    with pytest.raises(ValueError, match="FrozenEstimator is not trained"):
        DensityOfStatesDetector(FrozenEstimator(flow), cross_fit=3).fit(X_cal)
    with pytest.raises(ValueError, match="latent space"):
        DensityOfStatesDetector(TabularFlowDensity(**_TAB), cross_fit=3,
                                neighbor_space="latent").fit(X_cal)
    with pytest.raises(ValueError, match="at least as many rows"):
        DensityOfStatesDetector(TabularFlowDensity(**_TAB), cross_fit=5).fit(X_cal[:4])
    with pytest.raises(ValueError, match="cross_fit"):
        DensityOfStatesDetector(TabularFlowDensity(**_TAB), cross_fit=1).fit(X_cal)


def test_isolation_score_column(gaussian):
    from sklearn.base import clone
    from sklearn.ensemble import IsolationForest
    from sklearn.model_selection import KFold
    flow, X_cal, X_test, _ = gaussian
    det = DensityOfStatesDetector(FrozenEstimator(flow), random_state=0).fit(X_cal)
    forest = det.isolation_forest_
    assert det.statistic_names_ == ["log_lik_0", "knn_distance", "isolation_score"]
    assert isinstance(forest, IsolationForest) and forest.n_estimators == 100
    # New inputs: the forest's score_samples, fitted on all rows of a frozen flow.
    S = det.sample_statistics(X_test)
    np.testing.assert_array_equal(S[:, -1], forest.score_samples(X_test))
    ref = clone(forest).fit(X_cal)
    np.testing.assert_array_equal(ref.score_samples(X_test), S[:, -1])
    # The calibration rows are the forest's rows: their scores are out-of-fold (five
    # folds seeded like the forest), not the optimistic in-sample ones.
    oof = np.empty(len(X_cal))
    for tr, te in KFold(5, shuffle=True, random_state=forest.random_state).split(X_cal):
        oof[te] = clone(forest).fit(X_cal[tr]).score_samples(X_cal[te])
    np.testing.assert_array_equal(det.calibration_statistics_[:, -1], oof)
    assert np.mean(forest.score_samples(X_cal) > oof) > 0.6
    # Off: the columns without it; the other columns unchanged.
    off = DensityOfStatesDetector(FrozenEstimator(flow), isolation_forest=False,
                                  random_state=0).fit(X_cal)
    assert off.isolation_forest_ is None and off.statistic_names_ == ["log_lik_0",
                                                                      "knn_distance"]
    np.testing.assert_array_equal(off.sample_statistics(X_test), S[:, :2])
    # The score: the smaller of the density's log p-value (chi-square tail of the
    # squared Mahalanobis distance) and the forest's one-sided log Phi(z).
    from scipy.special import log_ndtr
    from scipy.stats import chi2
    z = det.scaler_.transform(S[:, :2])
    log_p = chi2.logsf(det.density_.mahalanobis(z), 2)
    iso = log_ndtr((S[:, -1] - np.median(det.calibration_statistics_[:, -1]))
                   / det.isolation_scaler_.scale_[0])
    np.testing.assert_allclose(det.score_samples(X_test), np.minimum(log_p, iso), rtol=1e-10)
    assert 0 < np.mean(iso < log_p) < 1  # each test decides for some inputs
    with pytest.raises(ValueError, match="density='gmm' has none"):
        DensityOfStatesDetector(TabularFlowDensity(**_TAB), density="gmm",
                                isolation_forest=True).fit(X_cal)
    # An unfrozen flow: the forest is fitted on the flow's rows, and the held-out
    # calibration rows are scored as new inputs.
    X = np.r_[X_cal, X_test]
    own = DensityOfStatesDetector(TabularFlowDensity(**dict(_TAB, max_epochs=2)),
                                  random_state=0).fit(X)
    n_fit = len(X) - len(own.calibration_statistics_)
    assert own.isolation_forest_.max_samples_ == min(256, n_fit)
    cal_rows = np.isin(own.sample_statistics(X)[:, 0], own.calibration_statistics_[:, 0])
    assert cal_rows.sum() == len(own.calibration_statistics_)
    np.testing.assert_array_equal(
        np.sort(own.isolation_forest_.score_samples(X[cal_rows])),
        np.sort(own.calibration_statistics_[:, -1]))


def test_isolation_score_auto_is_for_non_image_data():
    X, _ = load_digits_images()
    glow = GlowDensity((1, 8, 8), n_levels=2, n_steps=1, hidden_channels=8, max_epochs=1,
                       random_state=0).fit(X[:300])
    auto = DensityOfStatesDetector(FrozenEstimator(glow), random_state=0).fit(X[300:500])
    assert auto.isolation_forest_ is None and "isolation_score" not in auto.statistic_names_
    on = DensityOfStatesDetector(FrozenEstimator(glow), isolation_forest=True,
                                 random_state=0).fit(X[300:500])
    assert on.statistic_names_[-1] == "isolation_score"
    # The pixels' own columns are the same either way.
    np.testing.assert_array_equal(on.sample_statistics(X[500:520])[:, :-1],
                                  auto.sample_statistics(X[500:520]))


def test_cross_fit_isolation_scores_follow_the_flows_folds(gaussian):
    from sklearn.base import clone
    _, X_cal, X_test, _ = gaussian
    X = np.r_[X_cal, X_test]
    det = DensityOfStatesDetector(TabularFlowDensity(**dict(_TAB, max_epochs=2)),
                                  cross_fit=3, random_state=0).fit(X)
    forest = det.isolation_forest_
    for k in range(3):
        rows = det.fold_index_ == k
        fold = clone(forest).fit(X[~rows])
        np.testing.assert_array_equal(det.calibration_statistics_[rows, -1],
                                      fold.score_samples(X[rows]))
    # New inputs: the forest on every row, the same under each flow.
    S = det.sample_statistics(X_test)
    np.testing.assert_array_equal(S[:, 1, -1], forest.score_samples(X_test))
    np.testing.assert_array_equal(S[:, 0, -1], S[:, 2, -1])
