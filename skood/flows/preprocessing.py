"""Pre-transforms in front of a flow: pixel dequantization, logit, standardisation.

All return ``(y, logdet)`` so the estimator's log-likelihood stays in the space
the user's data lives in (standardisation) or in the usual bits/dim convention
(pixels, with or without a logit layer). :class:`PreTransformChain` composes a
non-smooth head (dequantization) with smooth bijections (a logit layer) and
tells LID which part belongs to the generator.
"""

import math

import torch

from .layers import Bijection, Compose


class PixelDequantization(Bijection):
    """Integer pixels -> ``(x_int + u) / 256 - 0.5`` in [-0.5, 0.5).

    ``u ~ U(0, 1)`` per dimension in training mode and ``u = 0.5`` (bin centre)
    in eval mode, so scores are deterministic. Inputs are pixel values in
    ``[0, max_value]``; they are mapped to integers ``round(x * 255 / max_value)``.
    No log-determinant is added: with bins of width 1/256 the bits/dim are
    ``(-log p + D ln 256) / (D ln 2)`` (Glow / Schirrmeister et al. convention).

    The attribute ``generator`` (a ``torch.Generator`` on the input's device, or
    ``None``: torch's global one) is what the training noise is drawn from; skood's
    estimators set it to their fit's own generator while they train.
    """

    generator = None

    def __init__(self, max_value=255.0):
        super().__init__()
        self.max_value = float(max_value)

    def to_int(self, x):
        return torch.round(x * (255.0 / self.max_value))

    def forward(self, x):
        x_int = self.to_int(x)
        if self.training:
            u = torch.rand(x_int.shape, generator=self.generator, dtype=x_int.dtype,
                           device=x_int.device)
        else:
            u = torch.full_like(x_int, 0.5)
        return (x_int + u) / 256.0 - 0.5, x.new_zeros(x.shape[0])

    def inverse(self, y):
        x_int = torch.clamp(torch.floor((y + 0.5) * 256.0), 0, 255)
        return x_int * (self.max_value / 255.0)


class Standardization(Bijection):
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


class LogitTransform(Bijection):
    """``y = logit(alpha + (1 - 2 alpha) * (x + shift))``, elementwise, with its log-det.

    The logit layer of RealNVP (Dinh et al. 2017), used by Kamkari et al.'s flows,
    with ``x~ = x + shift`` in [0, 1). Its log-determinant is
    ``sum(log(1 - 2 alpha) - log s - log(1 - s))`` with
    ``s = alpha + (1 - 2 alpha) x~``, so a log-density of ``y`` plus it is a
    log-density of ``x``; with ``shift = 0.5`` and ``x`` on skood's [-0.5, 0.5)
    pixel grid (``x -> x~`` has unit Jacobian) bits/dim are unchanged in meaning.

    ``s`` lies in ``[alpha, 1 - alpha)``, so ``y`` is bounded by ``logit(1 - alpha)``
    on both sides. The Layer6 code's one-sided form ``alpha + (1 - alpha) x~`` sends
    near-white dequantized pixels to ``y`` of about +14 against -2.9 for black ones;
    with it a CIFAR-10 Glow gave non-finite losses from its first epoch (measured),
    which is why the symmetric form is used.

    Parameters
    ----------
    alpha : float, default=0.05
        Keeps the logit finite. Must be in (0, 0.5).
    shift : float, default=0.5
        Added to the input to bring it into [0, 1).
    """

    def __init__(self, alpha=0.05, shift=0.5):
        super().__init__()
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"alpha must lie in (0, 0.5); got {alpha!r}.")
        self.alpha = float(alpha)
        self.shift = float(shift)

    def forward(self, x):
        s = self.alpha + (1.0 - 2.0 * self.alpha) * (x + self.shift)
        log_s, log_1ms = torch.log(s), torch.log1p(-s)
        logdet = (math.log1p(-2.0 * self.alpha) - log_s - log_1ms).reshape(x.shape[0], -1).sum(1)
        return log_s - log_1ms, logdet

    def inverse(self, y):
        # Differentiable (a sigmoid): LID's generator goes through it.
        return (torch.sigmoid(y) - self.alpha) / (1.0 - 2.0 * self.alpha) - self.shift


class PreTransformChain(Compose):
    """``head`` (e.g. dequantization) followed by smooth bijections ``tail``.

    A :class:`~skood.flows.Compose` whose first layer is singled out: local
    intrinsic dimension (:mod:`skood.flows.spectral`) differentiates the
    generator, which is the flow's inverse followed by the ``tail`` inverses (a
    logit layer's sigmoid, as in Kamkari et al.), in the space produced by
    ``head`` (dequantized pixels at the bin centre), since dequantization is not
    differentiable.

    Parameters
    ----------
    head : Bijection
        Pre-transform returning ``(y, logdet)``, with an ``inverse``.
    *tail : Bijection
        Smooth, invertible pre-transforms of the same kind, applied in order.

    Examples
    --------
    >>> import torch
    >>> from skood.flows import LogitTransform, PixelDequantization, PreTransformChain
    >>> pre = PreTransformChain(PixelDequantization(255.0), LogitTransform(0.05)).eval()
    >>> x = torch.tensor([[0.0, 128.0, 255.0]])
    >>> y, logdet = pre(x)
    >>> pre.inverse(y)
    tensor([[  0., 128., 255.]])
    """

    def __init__(self, head, *tail):
        super().__init__(head, *tail)

    @property
    def head(self):
        return self.layers[0]

    @property
    def tail(self):
        return list(self.layers[1:])

    def inverse_tail(self, y):
        """Inverse of the smooth part only (differentiable)."""
        for t in reversed(self.layers[1:]):
            y = t.inverse(y)
        return y
