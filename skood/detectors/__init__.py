"""OOD detectors: one scikit-learn ``OutlierMixin`` estimator per method."""

from ._base import BaseFlowDetector
from .density_of_states import DensityOfStatesDetector
from .input_complexity import InputComplexityDetector
from .kl_divergence import KLDivergenceDetector
from .last_scale import LastScaleDetector
from .lid import LIDLikelihoodDetector
from .likelihood import LikelihoodDetector
from .likelihood_ratio import LikelihoodRatioDetector
from .typicality import TypicalityDetector

__all__ = [
    "BaseFlowDetector",
    "DensityOfStatesDetector",
    "InputComplexityDetector",
    "KLDivergenceDetector",
    "LIDLikelihoodDetector",
    "LastScaleDetector",
    "LikelihoodDetector",
    "LikelihoodRatioDetector",
    "TypicalityDetector",
]
