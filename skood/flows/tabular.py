"""Flow for feature vectors: a stack of ActNorm, LU-linear and MLP affine couplings."""

import torch
from torch import nn

from ._output import FlowOutput
from .layers import DiagonalGaussianPrior, FlowStep, gaussian_log_prob

class TabularFlow(nn.Module):
    """RealNVP/Glow-style flow on vectors of ``n_features``.

    Each of the ``n_layers`` steps is ActNorm, a learned invertible linear map (LU,
    which generalises RealNVP's fixed permutations) and an affine coupling whose
    conditioner is an MLP with two hidden layers of ``hidden_units``. The prior is a
    learned diagonal Gaussian. One scale, so ``log_prob_per_scale`` has one column.
    """

    def __init__(self, n_features, n_layers=4, hidden_units=64):
        super().__init__()
        self.input_shape = (int(n_features), 1, 1)
        self.latent_shapes = [self.input_shape]
        # A 1x1 convolution on (N, D, 1, 1) is a dense layer: reuse the image layers.
        self.steps = nn.ModuleList(
            [FlowStep(n_features, hidden_units, kernel_size=1) for _ in range(n_layers)]
        )
        self.prior = DiagonalGaussianPrior(self.input_shape)

    @property
    def n_scales(self):
        return 1

    def forward(self, x):
        h = x.reshape(x.shape[0], *self.input_shape)
        logdet = h.new_zeros(h.shape[0])
        for step in self.steps:
            h, ld = step(h)
            logdet = logdet + ld
        mean, log_std = self.prior.params(None, h.shape[0])
        lp, z_hat = gaussian_log_prob(h, mean, log_std)
        total = logdet + lp
        return FlowOutput(total, total[:, None], [h], [z_hat])

    def inverse(self, latents, normalized=False):
        z = latents[0]
        if normalized:
            mean, log_std = self.prior.params(None, z.shape[0])
            z = mean + log_std.exp() * z
        for step in reversed(self.steps):
            z = step.inverse(z)
        return z.reshape(z.shape[0], -1)

    def sample(self, n, temperature=1.0, generator=None):
        p = next(self.parameters())
        z = temperature * torch.randn(
            (n, *self.input_shape), generator=generator, device=p.device, dtype=p.dtype
        )
        return self.inverse([z], normalized=True)

    def flatten_latents(self, latents):
        return latents[0].flatten(1)

    def unflatten_latents(self, z):
        return [z.reshape(z.shape[0], *self.input_shape)]
