"""Density estimators (scikit-learn ``DensityMixin`` estimators trained through skorch):
normalizing flows and a diffusion model."""

from ._base import BaseFlowDensity, bits_per_dim, check_flat, check_representable, discard_fitted
from .diffusion import DiffusionDensity
from .glow import GlowDensity
from .tabular import TabularFlowDensity

__all__ = ["BaseFlowDensity", "DiffusionDensity", "GlowDensity", "TabularFlowDensity",
           "bits_per_dim"]
