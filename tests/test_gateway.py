"""The gateway (one flow pass, typed output) and the detector base that owns the pipeline.

``tests/data/scores_before_gateway.npz`` holds every detector's scores, offsets and
group scores computed by the code *before* the gateway refactor (same data, same
seeds, float64): the refactor preserved them. Exactly on the machine that wrote
the file; two epochs of float64 training on another CPU's instruction set (other
BLAS kernels) move them by up to ~1e-6, hence the tolerance ``_CROSS_CPU``.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator

from skood.datasets import load_digits_images
from skood.density import GlowDensity, TabularFlowDensity
from skood.detectors import (
    InputComplexityDetector,
    KLDivergenceDetector,
    LastScaleDetector,
    LIDLikelihoodDetector,
    LikelihoodDetector,
    LikelihoodRatioDetector,
    TypicalityDetector,
)
from skood.metrics import make_groups

BEFORE = Path(__file__).parent / "data" / "scores_before_gateway.npz"
# Relative and absolute: scores differ by <= 4e-6 across x86 CPUs (measured).
_CROSS_CPU = dict(rtol=1e-5, atol=1e-5)
_GLOW = dict(input_shape=(1, 8, 8), n_levels=2, n_steps=2, hidden_channels=16, max_epochs=2,
             dtype="float64", random_state=0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def setup():
    X, y = load_digits_images()
    X_in, X_out = X[y < 5], X[y >= 5]
    X_fit, X_cal = X_in[:500], X_in[500:700]
    X_test = np.r_[X_in[700:760], X_out[:60]]
    glow = GlowDensity(**_GLOW).fit(X_fit)
    bg = GlowDensity(**{**_GLOW, "weight_decay": 1e-4}).fit(X_fit[::-1].copy())
    return glow, bg, X_cal, X_test


def _detectors(glow, bg):
    fz = FrozenEstimator(glow)
    return {
        "likelihood": LikelihoodDetector(fz),
        "last_scale": LastScaleDetector(fz),
        "ratio": LikelihoodRatioDetector(fz, reference=FrozenEstimator(bg)),
        "input_complexity": InputComplexityDetector(fz, codec="png"),
        "typicality": TypicalityDetector(fz, n_bootstrap=200, random_state=0),
        "kl": KLDivergenceDetector(fz, n_bootstrap=200, random_state=0),
        "kl_all": KLDivergenceDetector(fz, pooling="all", n_bootstrap=200, random_state=0),
        "lid": LIDLikelihoodDetector(fz, method="fast", n_reference=100, n_calibration=32,
                                     random_state=0),
    }


def test_flow_pass_equals_scores_before_the_refactor(setup):
    glow, _, _, X_test = setup
    before = np.load(BEFORE)
    out = glow.flow_pass(X_test)
    np.testing.assert_allclose(out.log_prob, before["glow_log_prob"], **_CROSS_CPU)
    np.testing.assert_allclose(out.log_prob_per_scale, before["glow_per_scale"], **_CROSS_CPU)
    # The typed output's parts add up: per scale log-det + prior term, scales to the total.
    np.testing.assert_allclose(out.logdet_per_scale + out.log_prior_per_scale,
                               out.log_prob_per_scale, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out.log_prob_per_scale.sum(1), out.log_prob, rtol=0, atol=1e-10)
    assert [z.shape[1:] for z in out.latents_normalized] == glow.latent_shapes_
    tab = TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=2, dtype="float64",
                             random_state=0)
    Xt = np.random.RandomState(0).normal(size=(200, 3))
    np.testing.assert_allclose(tab.fit(Xt).score_samples(Xt[:50] * 1.5),
                               before["tabular_log_prob"], **_CROSS_CPU)


@pytest.mark.parametrize("name", ["likelihood", "last_scale", "ratio", "input_complexity",
                                  "typicality", "kl", "kl_all", "lid"])
def test_every_detector_scores_as_before_the_refactor(setup, name):
    glow, bg, X_cal, X_test = setup
    before = np.load(BEFORE)
    det = _detectors(glow, bg)[name].fit(X_cal)
    close = _CROSS_CPU
    np.testing.assert_allclose(det.score_samples(X_test), before[f"{name}_scores"], **close)
    if name == "lid":
        # Its rank scores tie, and the old offset sat on a tie; it now moves halfway
        # down to the next lower score (skood.base.offset_from_scores).
        assert before["lid_offset"] - 0.01 < det.offset_ < before["lid_offset"]
    else:
        np.testing.assert_allclose(det.offset_, before[f"{name}_offset"], **close)
    if f"{name}_groups5" in before:
        np.testing.assert_allclose(det.score_groups(X_test, group_size=5),
                                   before[f"{name}_groups5"], **close)
        np.testing.assert_allclose(det.group_threshold(5), before[f"{name}_threshold5"],
                                   **close)


@pytest.mark.parametrize("name", ["likelihood", "last_scale", "ratio", "input_complexity", "lid"])
def test_group_api_on_every_detector_is_the_group_mean(setup, name):
    glow, bg, X_cal, X_test = setup
    det = _detectors(glow, bg)[name].fit(X_cal)
    s = det.score_samples(X_test)
    np.testing.assert_allclose(det.score_groups(X_test, group_size=5),
                               s.reshape(-1, 5).mean(1), rtol=0, atol=1e-12)
    # Several group sizes from one pass: the same numbers as score_groups.
    stats = det.sample_statistics(X_test)
    for m in (2, 5, 10):
        g = make_groups(len(X_test), m, random_state=m)
        np.testing.assert_allclose(det.score_statistics(stats, groups=g), s[g].mean(1),
                                   rtol=0, atol=1e-12)
    # Group thresholds: the contamination quantile of bootstrap ID groups.
    assert sorted(det.group_thresholds_) == [1, 5]
    labels = det.predict_groups(X_test, group_size=5)
    assert set(np.unique(labels)) <= {-1, 1}


def test_calibration_split_is_one_parameter_for_every_detector():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    flow = TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=2, dtype="float64",
                              random_state=0)
    for cls in (LikelihoodDetector, LastScaleDetector, TypicalityDetector, InputComplexityDetector):
        det = cls(flow, random_state=0).fit(X)
        # The flow trained on 160 rows; the 40 held-out rows calibrate.
        assert det.flow_.n_features_in_ == 2
        assert len(det.calibration_statistics_) == 40
        assert det.offset_ == pytest.approx(
            np.percentile(det._point_scores(det.calibration_statistics_), 5))
        # calibration_fraction=0: calibrate on the training rows (sklearn's contamination).
        det0 = cls(flow, calibration_fraction=0.0, random_state=0).fit(X)
        assert len(det0.calibration_statistics_) == 200
    with pytest.raises(ValueError, match="calibration_fraction"):
        LikelihoodDetector(flow, calibration_fraction=0.999).fit(X)
