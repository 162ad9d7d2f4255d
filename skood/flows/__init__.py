"""Torch flow backbones: small invertible layers composed into Glow and a tabular flow."""

from ._output import FlowOutput
from .glow import Glow
from .layers import (
    ActNorm,
    AffineCoupling,
    ConditionalGaussianPrior,
    DiagonalGaussianPrior,
    FlowStep,
    InvConv1x1,
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
    "ConditionalGaussianPrior",
    "DiagonalGaussianPrior",
    "FlowOutput",
    "FlowStep",
    "Glow",
    "InvConv1x1",
    "LogitTransform",
    "PixelDequantization",
    "PreTransformChain",
    "Standardization",
    "TabularFlow",
    "squeeze",
    "unsqueeze",
]
