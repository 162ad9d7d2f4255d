"""Torch flow backbones: small invertible layers composed into Glow and a tabular flow."""

from ._output import FlowOutput
from .density_module import DensityModule
from .glow import Glow
from .layers import (
    ActNorm,
    AffineCoupling,
    Bijection,
    Compose,
    ConditionalGaussianPrior,
    DiagonalGaussianPrior,
    FlowStep,
    InvConv1x1,
    Squeeze,
    channels_last,
    squeeze,
    unsqueeze,
)
from .preprocessing import (
    LogitTransform,
    PixelDequantization,
    PreTransformChain,
    Standardization,
)
from .tabular import TabularFlow

__all__ = [
    "ActNorm",
    "AffineCoupling",
    "Bijection",
    "Compose",
    "ConditionalGaussianPrior",
    "DensityModule",
    "DiagonalGaussianPrior",
    "FlowOutput",
    "FlowStep",
    "Glow",
    "InvConv1x1",
    "LogitTransform",
    "PixelDequantization",
    "PreTransformChain",
    "Squeeze",
    "channels_last",
    "Standardization",
    "TabularFlow",
    "squeeze",
    "unsqueeze",
]
