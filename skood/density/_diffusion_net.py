"""The skorch pieces behind :class:`~skood.density.DiffusionDensity`.

Training goes through skorch's public API: the module is built from a class and
``module__*`` parameters, the per-sample denoising loss is the module's output
(skorch's ``infer`` passes the fit's own random generator), the learning rate
follows a ``LRScheduler`` callback and the weights' exponential moving average
is a callback that swaps the average in when training ends.
"""

import math

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.utils import to_tensor
from torch import nn


class MeanLoss(nn.Module):
    """Mean of the module's per-sample losses; skorch's dummy ``y`` is ignored."""

    def forward(self, loss, y=None):
        return loss.mean()


class DiffusionNet(NeuralNet):
    """skorch net whose module draws its training noise from ``generator``.

    Parameters
    ----------
    generator : torch.Generator or None, default=None
        Passed to the module's ``forward`` in every training step (times, noise,
        dequantization); the fit's own generator, so the global RNG is not used.
    **kwargs
        :class:`skorch.NeuralNet`'s parameters.
    """

    def __init__(self, *args, generator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.generator = generator

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device)
        return self.module_(x, generator=self.generator, **fit_params)

    def __getstate__(self):
        # Generators do not pickle; a fitted model needs neither.
        state = super().__getstate__()
        for key in ("generator", "iterator_train__generator"):
            if key in state:
                state[key] = None
        return state


class WarmupCosine:
    """``LambdaLR`` factor: linear warm-up over ``warmup`` steps, then cosine decay to
    zero at ``total`` steps (a picklable callable)."""

    def __init__(self, warmup, total):
        self.warmup = max(int(warmup), 0)
        self.total = max(int(total), 1)

    def __call__(self, step):
        if step < self.warmup:
            return (step + 1) / self.warmup
        span = max(self.total - self.warmup, 1)
        progress = min((step - self.warmup) / span, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


class EMA(Callback):
    """Exponential moving average of the weights, copied into the module when
    training ends. The decay ramps up as ``min(decay, (1 + k) / (10 + k))`` after
    ``k`` steps, so short trainings are not dominated by the initial weights.

    Parameters
    ----------
    decay : float
    """

    def __init__(self, decay=0.999):
        self.decay = decay

    def on_train_begin(self, net, **kwargs):
        self.shadow_ = [p.detach().clone() for p in net.module_.parameters()]
        self.n_steps_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self.n_steps_ += 1
        d = min(self.decay, (1.0 + self.n_steps_) / (10.0 + self.n_steps_))
        with torch.no_grad():
            for s, p in zip(self.shadow_, net.module_.parameters()):
                s.mul_(d).add_(p.detach(), alpha=1.0 - d)

    def on_train_end(self, net, **kwargs):
        with torch.no_grad():
            for s, p in zip(self.shadow_, net.module_.parameters()):
                p.copy_(s)
        self.shadow_ = None  # the average now is the module's weights
