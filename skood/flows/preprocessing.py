"""Pre-transforms in front of a flow: pixel dequantization and standardisation.

Both return ``(y, logdet)`` so the estimator's log-likelihood stays in the space
the user's data lives in (standardisation) or in the usual bits/dim convention
(pixels).
"""

import torch
from torch import nn


class PixelDequantization(nn.Module):
    """Integer pixels -> ``(x_int + u) / 256 - 0.5`` in [-0.5, 0.5).

    ``u ~ U(0, 1)`` per dimension in training mode and ``u = 0.5`` (bin centre)
    in eval mode, so scores are deterministic. Inputs are pixel values in
    ``[0, max_value]``; they are mapped to integers ``round(x * 255 / max_value)``.
    No log-determinant is added: with bins of width 1/256 the bits/dim are
    ``(-log p + D ln 256) / (D ln 2)`` (Glow / Schirrmeister et al. convention).
    """

    def __init__(self, max_value=255.0):
        super().__init__()
        self.max_value = float(max_value)

    def to_int(self, x):
        return torch.round(x * (255.0 / self.max_value))

    def forward(self, x):
        x_int = self.to_int(x)
        u = torch.rand_like(x_int) if self.training else torch.full_like(x_int, 0.5)
        return (x_int + u) / 256.0 - 0.5, x.new_zeros(x.shape[0])

    def inverse(self, y):
        x_int = torch.clamp(torch.floor((y + 0.5) * 256.0), 0, 255)
        return x_int * (self.max_value / 255.0)


class Standardization(nn.Module):
    """``(x - mean) / scale`` with its log-determinant ``-sum(log scale)``."""

    def __init__(self, mean, scale):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean).reshape(1, -1))
        self.register_buffer("scale", torch.as_tensor(scale).reshape(1, -1))

    def forward(self, x):
        logdet = -torch.log(self.scale).sum()
        return (x - self.mean) / self.scale, logdet.expand(x.shape[0])

    def inverse(self, y):
        return y * self.scale + self.mean
