"""Flow density estimators (scikit-learn ``DensityMixin`` estimators trained through skorch)."""

from ._base import BaseFlowDensity, bits_per_dim, check_flat, check_representable, discard_fitted
from .glow import GlowDensity
from .tabular import TabularFlowDensity

__all__ = ["BaseFlowDensity", "GlowDensity", "TabularFlowDensity", "bits_per_dim"]
