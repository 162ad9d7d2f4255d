"""Detectors on a diffusion backbone: those that are backbone-agnostic accept it, through
its gateway; those that need a flow's scales or latents refuse it before training."""

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skood.density import DiffusionDensity
from skood.detectors import (
    DensityOfStatesDetector,
    InputComplexityDetector,
    KLDivergenceDetector,
    LastScaleDetector,
    LIDLikelihoodDetector,
    LikelihoodDetector,
    LikelihoodRatioDetector,
    TypicalityDetector,
)
from skood.statistics import DiffusionStatistics, FlowStatistics, compressed_bits

_SMALL = dict(hidden_units=(16, 8), time_embedding_dim=8, max_epochs=3, ode_steps=5,
              n_score_levels=3, path_steps=3, pixel_scale="continuous", flipd_t0=0.05,
              random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return rng.normal(size=(300, 3)), rng.normal(size=(40, 3)) * 4 + 3


@pytest.fixture(scope="module")
def frozen(data):
    return FrozenEstimator(DiffusionDensity(**_SMALL).fit(data[0]))


def test_likelihood_and_typicality_read_the_ode_likelihood(data, frozen):
    X, X_out = data
    det = LikelihoodDetector(frozen, random_state=0).fit(X)
    np.testing.assert_array_equal(det.score_samples(X[:5]), frozen.score_samples(X[:5]))
    assert det.score_samples(X_out).mean() < det.score_samples(X[:40]).mean()
    typ = TypicalityDetector(frozen, n_bootstrap=50, random_state=0).fit(X)
    assert typ.entropy_ == pytest.approx(-frozen.score_samples(X).mean())
    assert typ.score_groups(X[:20], group_size=5).shape == (4,)


def test_lid_detector_uses_flipd(data, frozen):
    X, X_out = data
    det = LIDLikelihoodDetector(frozen, random_state=0).fit(X)
    assert det.method_ == "flipd" and det.log_threshold_ is None
    assert det.flipd_t0_ == frozen.flipd_t0_
    pairs = det.likelihood_and_lid(X[:6])
    np.testing.assert_array_equal(pairs[:, 0], frozen.score_samples(X[:6]))
    np.testing.assert_array_equal(pairs[:, 1], frozen.flipd(X[:6]))
    assert det.predict(X_out).shape == (40,)


def test_density_of_diffusion_statistics_needs_no_new_class(data, frozen):
    X, X_out = data
    det = DensityOfStatesDetector(frozen, random_state=0).fit(X)
    assert isinstance(det.statistics_, DiffusionStatistics)
    # Non-image data: the isolation forest's score joins (isolation_forest="auto").
    assert det.statistic_names_ == ["score_norm_0", "score_norm_1", "score_norm_2", "flipd",
                                    "knn_distance", "isolation_score"]
    assert det.score_samples(X_out).mean() < det.score_samples(X[:40]).mean()
    chosen = DensityOfStatesDetector(frozen, statistics=("path", "log_prob"), n_neighbors=None,
                                     random_state=0).fit(X)
    assert chosen.statistic_names_ == ["path_rate", "path_curvature", "log_prob",
                                       "isolation_score"]
    # any scikit-learn density on the transformer
    model = make_pipeline(DiffusionStatistics(frozen), StandardScaler(),
                          GaussianMixture(random_state=0)).fit(X)
    assert model.score_samples(X_out).mean() < model.score_samples(X[:40]).mean()


def test_density_of_diffusion_statistics_cross_fitted(data):
    X, X_out = data
    det = DensityOfStatesDetector(DiffusionDensity(**_SMALL), cross_fit=2,
                                  random_state=0).fit(X)
    assert len(det.flows_) == 2 and np.bincount(det.fold_index_).tolist() == [150, 150]
    assert det.calibration_statistics_.shape == (300, 6)
    S = det.sample_statistics(X_out)
    assert S.shape == (40, 2, 6)
    # Each model's own statistics; the distance and isolation columns are shared.
    own = DiffusionStatistics(FrozenEstimator(det.flows_[1])).fit(X[:2]).transform(X_out)
    np.testing.assert_allclose(S[:, 1, :4], own, rtol=1e-10)
    np.testing.assert_array_equal(S[:, 0, 4:], S[:, 1, 4:])
    assert det.score_samples(X_out).mean() < det.score_samples(X[:40]).mean()


def test_input_complexity_and_likelihood_ratio_read_the_ode_likelihood(data, frozen):
    X, X_out = data
    lp = frozen.score_samples(X[:5])
    ic = InputComplexityDetector(frozen, codec="png", random_state=0).fit(X)
    # continuous features: 256 bins per feature over the training range, as for a flow
    low, width = X.min(0), X.max(0) - X.min(0)
    model_bits = -(lp + np.sum(np.log(width / 256.0))) / np.log(2.0)
    levels = np.clip((X[:5] - low) / width, 0, 1) * 255.0
    np.testing.assert_allclose(ic.score_samples(X[:5]) * 3 + model_bits,
                               compressed_bits(levels, (3, 1, 1), "png"), rtol=1e-12, atol=1e-9)
    # a diffusion reference, and any scikit-learn density as the reference
    ratio = LikelihoodRatioDetector(frozen, reference=frozen, random_state=0).fit(X)
    np.testing.assert_array_equal(ratio.score_samples(X[:5]), np.zeros(5))
    kde = FrozenEstimator(KernelDensity(bandwidth=0.5).fit(X))
    ratio = LikelihoodRatioDetector(frozen, reference=kde, random_state=0).fit(X)
    np.testing.assert_allclose(ratio.score_samples(X[:5]), lp - kde.score_samples(X[:5]))


def test_background_ratio_trains_a_diffusion_background_model(data):
    X, X_out = data
    det = LikelihoodRatioDetector(DiffusionDensity(**_SMALL), random_state=0).fit(X)
    assert isinstance(det.reference_, DiffusionDensity)
    assert det.reference_.weight_decay == det.background_weight_decay
    np.testing.assert_allclose(
        det.score_samples(X[:5]),
        det.flow_.score_samples(X[:5]) - det.reference_.score_samples(X[:5]))


def test_flow_training_options_of_the_ratio_refuse_a_diffusion_model(data):
    dm = DiffusionDensity(**{**_SMALL, "max_epochs": 10_000})
    with pytest.raises(ValueError, match="diffusion model does not have them"):
        LikelihoodRatioDetector(dm, fine_tune=True).fit(data[0])


def test_unfitted_diffusion_density_is_trained_by_the_detector(data):
    X, _ = data
    det = LikelihoodDetector(DiffusionDensity(**_SMALL), random_state=0).fit(X)
    assert isinstance(det.flow_, DiffusionDensity)


@pytest.mark.parametrize("make", [
    lambda d: LastScaleDetector(d),
    lambda d: KLDivergenceDetector(d),
    lambda d: FlowStatistics(d),
])
def test_flow_only_methods_refuse_a_diffusion_model_before_training(data, make):
    dm = DiffusionDensity(**{**_SMALL, "max_epochs": 10_000})  # would take minutes
    with pytest.raises((TypeError, ValueError), match="diffusion model does not have"):
        make(dm).fit(data[0])


def test_flow_settings_refused_for_a_diffusion_model(data):
    dm = DiffusionDensity(**{**_SMALL, "max_epochs": 10_000})
    with pytest.raises(ValueError, match="latents"):
        DensityOfStatesDetector(dm, statistics="split").fit(data[0])
    with pytest.raises(ValueError, match="latents"):
        DensityOfStatesDetector(dm, neighbor_space="latent").fit(data[0])
    with pytest.raises(ValueError, match="statistics must be distinct names"):
        DensityOfStatesDetector(dm, statistics=("jacobian",)).fit(data[0])


def test_detectors_on_a_diffusion_model_save_and_load(tmp_path, data, frozen):
    import skood

    X, X_out = data
    for det in (LIDLikelihoodDetector(frozen, random_state=0),
                DensityOfStatesDetector(frozen, random_state=0)):
        det.fit(X)
        path = tmp_path / f"{type(det).__name__}.skood"
        skood.save(det, path)
        np.testing.assert_array_equal(skood.load(path).score_samples(X_out),
                                      det.score_samples(X_out))
