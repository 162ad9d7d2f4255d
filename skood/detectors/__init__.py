"""OOD detectors: one scikit-learn ``OutlierMixin`` estimator per method."""

from ._base import BaseFlowDetector
from .likelihood import LikelihoodDetector

__all__ = ["BaseFlowDetector", "LikelihoodDetector"]
