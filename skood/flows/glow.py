"""Multi-scale Glow (Kingma & Dhariwal, 2018) with per-scale likelihood terms."""

import torch
from torch import nn

from ._output import FlowOutput
from .layers import (
    Compose,
    ConditionalGaussianPrior,
    DiagonalGaussianPrior,
    FlowStep,
    gaussian_log_prob,
    squeeze,
    unsqueeze,
)


class _Level(nn.Module):
    """One scale: (squeeze) -> ``steps`` (a :class:`Compose`) -> split under ``prior``."""

    def __init__(self, steps, prior, squeeze, n_kept):
        super().__init__()
        self.steps = Compose(*steps)
        self.prior = prior
        self.squeeze = squeeze
        self.n_kept = n_kept  # channels that continue to the next level; None at the top


class Glow(nn.Module):
    """Multi-scale Glow on images of shape ``(C, H, W)``.

    Each of the ``n_levels`` levels squeezes (2x2 blocks into channels), applies
    ``n_steps`` flow steps (ActNorm, LU 1x1 convolution, affine coupling) and, below
    the top, factors half of the channels out under a learned prior. An input of
    shape ``(C, 1, 1)`` is not squeezed: the flow is then a dense Glow on vectors
    (:class:`TabularFlow` is that case with one level).

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)``. ``H`` and ``W`` must be divisible by ``2 ** n_levels`` unless
        both are 1.
    n_levels : int, default=2
    n_steps : int, default=4
        Flow steps per level.
    hidden_channels : int, default=64
        Width of the coupling networks.
    split_prior : {"conditional", "diagonal"}, default="conditional"
        Prior of the factored-out half: Glow's conditional Gaussian (mean and scale
        from the kept half) or an unconditional per-dimension Gaussian (as in
        Schirrmeister et al.'s code).

    Examples
    --------
    >>> import torch
    >>> from skood.flows import Glow
    >>> flow = Glow((1, 8, 8), n_levels=2, n_steps=1, hidden_channels=8).eval()
    >>> x = torch.rand(4, 64) - 0.5
    >>> out = flow(x)
    >>> out.log_prob_per_scale.shape, flow.latent_shapes
    (torch.Size([4, 2]), [(2, 4, 4), (8, 2, 2)])
    >>> torch.allclose(flow.inverse(out.latents), x, atol=1e-5)
    True
    """

    def __init__(
        self, input_shape, n_levels=2, n_steps=4, hidden_channels=64, split_prior="conditional"
    ):
        super().__init__()
        c, h, w = (int(s) for s in input_shape)
        self.input_shape = (c, h, w)
        if n_levels < 1 or n_steps < 1:
            raise ValueError(f"n_levels and n_steps must be >= 1; got {n_levels}, {n_steps}.")
        if split_prior not in ("conditional", "diagonal"):
            raise ValueError(
                f"split_prior must be 'conditional' or 'diagonal'; got {split_prior!r}."
            )
        do_squeeze = (h, w) != (1, 1)
        if do_squeeze and (h % 2**n_levels or w % 2**n_levels):
            raise ValueError(
                f"Glow with n_levels={n_levels} needs H and W divisible by {2**n_levels}; "
                f"got input_shape={self.input_shape}. Pad or resize the images, or use "
                "fewer levels."
            )
        self.levels = nn.ModuleList()
        self.latent_shapes = []
        for level in range(n_levels):
            if do_squeeze:
                c, h, w = 4 * c, h // 2, w // 2
            k = 3 if (h, w) != (1, 1) else 1
            steps = [FlowStep(c, hidden_channels, k) for _ in range(n_steps)]
            if level < n_levels - 1:
                n_out = c // 2
                if n_out == 0:
                    raise ValueError(
                        f"Glow level {level + 1} has {c} channel(s): too few to split. "
                        "Use fewer levels."
                    )
                n_kept = c - n_out
                if split_prior == "conditional":
                    prior = ConditionalGaussianPrior(n_kept, n_out, k)
                else:
                    prior = DiagonalGaussianPrior((n_out, h, w))
                self.latent_shapes.append((n_out, h, w))
                c = n_kept
            else:
                n_kept = None
                prior = DiagonalGaussianPrior((c, h, w))
                self.latent_shapes.append((c, h, w))
            self.levels.append(_Level(steps, prior, do_squeeze, n_kept))

    @property
    def n_scales(self):
        return len(self.levels)

    #: Scoring passes (eval mode, no gradients) run in chunks of rows whose largest
    #: coupling activation takes at most this many bytes: past a few MiB the
    #: activations leave the CPU caches and a pass over a large batch costs up to
    #: twice as much per image (measured on a 28x28 Glow: about 500 images/s at
    #: batch 256 in one piece against 900 in chunks of 64). ``None``: one piece.
    scoring_chunk_bytes = 8 * 2**20

    def _scoring_rows(self, x):
        if self.scoring_chunk_bytes is None or self.training or torch.is_grad_enabled():
            return None
        level = self.levels[0]
        _, h, w = self.input_shape
        if level.squeeze:
            h, w = h // 2, w // 2
        step = level.steps.layers[0]
        hidden = step.layers[2].net[0].out_channels
        per_row = max(hidden, self.input_shape[0]) * h * w * x.element_size()
        return max(1, int(self.scoring_chunk_bytes // per_row))

    def forward(self, x):
        """Run the flow data -> latents; returns a :class:`FlowOutput` of tensors."""
        x = x.reshape(x.shape[0], *self.input_shape)
        rows = self._scoring_rows(x)
        if rows is None or x.shape[0] <= rows:
            return self._forward(x)
        parts = [self._forward(c) for c in torch.split(x, rows)]

        def cat(name):
            return torch.cat([getattr(p, name) for p in parts])

        return FlowOutput(
            cat("log_prob"), cat("log_prob_per_scale"),
            [torch.cat(z) for z in zip(*(p.latents for p in parts))],
            [torch.cat(z) for z in zip(*(p.latents_normalized for p in parts))],
            logdet_per_scale=cat("logdet_per_scale"),
            log_prior_per_scale=cat("log_prior_per_scale"),
        )

    def _forward(self, x):
        n = x.shape[0]
        logdets, priors, latents, normalized = [], [], [], []
        h = x
        for level in self.levels:
            if level.squeeze:
                h = squeeze(h)
            h, logdet = level.steps(h)
            if level.n_kept is None:
                z, cond = h, None
            else:
                h, z = h[:, : level.n_kept], h[:, level.n_kept :]
                cond = h
            mean, log_std = level.prior.params(cond, n)
            lp, z_hat = gaussian_log_prob(z, mean, log_std)
            logdets.append(logdet)
            priors.append(lp)
            latents.append(z)
            normalized.append(z_hat)
        logdets, priors = torch.stack(logdets, 1), torch.stack(priors, 1)
        per_scale = logdets + priors
        return FlowOutput(per_scale.sum(1), per_scale, latents, normalized,
                          logdet_per_scale=logdets, log_prior_per_scale=priors)

    def inverse(self, latents, normalized=False):
        """Map per-scale latents back to data; ``normalized=True`` takes prior-normalised ones."""
        n = latents[0].shape[0]
        h = None
        for level, z in zip(reversed(self.levels), reversed(list(latents))):
            if normalized:
                mean, log_std = level.prior.params(h, n)
                z = mean + torch.exp(log_std) * z
            h = z if h is None else torch.cat([h, z], 1)
            h = level.steps.inverse(h)
            if level.squeeze:
                h = unsqueeze(h)
        return h.reshape(n, -1)

    def sample_latents(self, n, temperature=1.0, generator=None):
        """``n`` prior-normalised latents per scale, ``temperature * N(0, I)``."""
        p = next(self.parameters())
        return [
            temperature
            * torch.randn((n, *s), generator=generator, device=p.device, dtype=p.dtype)
            for s in self.latent_shapes
        ]

    def sample(self, n, temperature=1.0, generator=None):
        """Draw ``n`` samples, flattened to ``(n, C*H*W)``."""
        return self.inverse(self.sample_latents(n, temperature, generator), normalized=True)

    # Flattening helpers for methods that treat the latents as one vector (LID).
    def flatten_latents(self, latents):
        return torch.cat([z.flatten(1) for z in latents], 1)

    def unflatten_latents(self, z):
        out, start = [], 0
        for s in self.latent_shapes:
            size = s[0] * s[1] * s[2]
            out.append(z[:, start : start + size].reshape(z.shape[0], *s))
            start += size
        return out
