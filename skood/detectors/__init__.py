"""OOD detectors: one scikit-learn ``OutlierMixin`` estimator per method."""

from ._base import BaseFlowDetector
from .input_complexity import InputComplexityDetector
from .last_scale import LastScaleDetector
from .likelihood import LikelihoodDetector
from .likelihood_ratio import LikelihoodRatioDetector

__all__ = [
    "BaseFlowDetector",
    "InputComplexityDetector",
    "LastScaleDetector",
    "LikelihoodDetector",
    "LikelihoodRatioDetector",
]
