"""Every public estimator passes scikit-learn's estimator checks, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skood.density import GlowDensity, TabularFlowDensity
from skood.detectors import (
    InputComplexityDetector,
    LastScaleDetector,
    LikelihoodDetector,
    LikelihoodRatioDetector,
)

# Small, float64 configurations: float32 fails the subset-invariance check by ~1e-7.
_TAB = dict(n_layers=2, hidden_units=8, max_epochs=2, dtype="float64", random_state=0)


def _estimators():
    return [
        TabularFlowDensity(**_TAB),
        GlowDensity(
            pixel_scale="continuous", n_levels=1, n_steps=2, hidden_channels=8, max_epochs=2,
            dtype="float64", random_state=0,
        ),
        LikelihoodDetector(TabularFlowDensity(**_TAB)),
        LastScaleDetector(TabularFlowDensity(**_TAB)),
        LikelihoodRatioDetector(TabularFlowDensity(**_TAB), random_state=0),
        InputComplexityDetector(TabularFlowDensity(**_TAB), codec="png"),
    ]


@parametrize_with_checks(_estimators())
def test_sklearn_compatible(estimator, check):
    check(estimator)
