"""Every public estimator passes scikit-learn's estimator checks, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skood.density import DiffusionDensity, GlowDensity, TabularFlowDensity
from skood.statistics import DiffusionStatistics, FlowStatistics
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

# Small, float64 configurations: float32 fails the subset-invariance check by ~1e-7.
_TAB = dict(n_layers=2, hidden_units=8, max_epochs=2, dtype="float64", random_state=0)
# A tiny diffusion model: exact traces (few features), few ODE steps, fixed FLIPD time.
_DIFF = dict(hidden_units=(8,), time_embedding_dim=4, pixel_scale="continuous", max_epochs=1,
             ode_steps=2, n_score_levels=2, flipd_t0=0.05, dtype="float64", random_state=0)
# scikit-learn's checks demand that `contamination` flags exactly that fraction of the
# rows passed to `fit`: true when the detector calibrates on its training rows
# (calibration_fraction=0). The default holds 20% out instead, so that `contamination`
# is the false-alarm rate on new in-distribution data; tests/test_gateway.py tests it.
_DET = dict(calibration_fraction=0.0, random_state=0)


def _estimators():
    return [
        TabularFlowDensity(**_TAB),
        GlowDensity(
            pixel_scale="continuous", n_levels=1, n_steps=2, hidden_channels=8, max_epochs=2,
            dtype="float64", random_state=0,
        ),
        DiffusionDensity(**_DIFF),
        DiffusionStatistics(DiffusionDensity(**_DIFF)),
        LIDLikelihoodDetector(DiffusionDensity(**_DIFF), **_DET),
        LikelihoodDetector(TabularFlowDensity(**_TAB), **_DET),
        LastScaleDetector(TabularFlowDensity(**_TAB), **_DET),
        LikelihoodRatioDetector(TabularFlowDensity(**_TAB), **_DET),
        InputComplexityDetector(TabularFlowDensity(**_TAB), codec="png", **_DET),
        TypicalityDetector(TabularFlowDensity(**_TAB), n_bootstrap=100, **_DET),
        KLDivergenceDetector(TabularFlowDensity(**_TAB), n_bootstrap=100, **_DET),
        DensityOfStatesDetector(TabularFlowDensity(**_TAB), **_DET),
        FlowStatistics(TabularFlowDensity(**_TAB)),
        LIDLikelihoodDetector(
            TabularFlowDensity(n_layers=1, hidden_units=4, max_epochs=1, dtype="float64",
                               random_state=0), **_DET,
        ),
    ]


@parametrize_with_checks(_estimators())
def test_sklearn_compatible(estimator, check):
    check(estimator)


# -- meta-estimators of skood.model_selection / skood.conformal --------------------------
def _meta_estimators():
    from sklearn.ensemble import IsolationForest

    from skood.conformal import ConformalDetector
    from skood.model_selection import TunedThresholdDetectorCV

    return [
        TunedThresholdDetectorCV(LikelihoodDetector(TabularFlowDensity(**_TAB), **_DET)),
        TunedThresholdDetectorCV(IsolationForest(n_estimators=10, random_state=0)),
        ConformalDetector(LikelihoodDetector(TabularFlowDensity(**_TAB), **_DET),
                          random_state=0),
        ConformalDetector(IsolationForest(n_estimators=10, random_state=0), random_state=0),
    ]


@parametrize_with_checks(_meta_estimators())
def test_meta_estimators_sklearn_compatible(estimator, check):
    check(estimator)
