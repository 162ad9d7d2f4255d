"""Epsilon-prediction networks and the torch module a diffusion density trains."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._sde import VPSDE
from ._time import timestep_embedding
from ._unet import EpsUNet

# Training draws t uniformly from [_T_TRAIN_MIN, 1].
_T_TRAIN_MIN = 1e-5


class _Block(nn.Module):
    """Residual MLP block conditioned on a time embedding."""

    def __init__(self, d_in, d_out, d_time):
        super().__init__()
        self.lin1 = nn.Linear(d_in, d_out)
        self.time = nn.Linear(d_time, d_out)
        self.lin2 = nn.Linear(d_out, d_out)
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()

    def forward(self, h, temb):
        z = self.lin1(F.silu(h)) + self.time(temb)
        return self.skip(h) + self.lin2(F.silu(z))


class EpsMLP(nn.Module):
    """An MLP "U-Net" on flat vectors: ``eps(y, t)``.

    An input projection to ``hidden_units[0]``, residual blocks down through
    ``hidden_units``, and mirrored blocks back up, each taking the matching
    down block's output as a skip connection (concatenated); every block adds a
    projection of the sinusoidal time embedding. SiLU activations. A linear
    path from the input to the output, gated per output feature by the time
    embedding (``g(t) * (W y)``), carries what a narrow first layer cannot: the
    noise is ``D``-dimensional, and without that path a network narrower than
    ``D`` cannot predict it (measured on 28x28 images with ``(256, 128)``: the
    training loss stalled at 0.70). The output layer and the gate start at zero
    (the initial network predicts ``eps = 0``).

    Parameters
    ----------
    n_features : int
    hidden_units : tuple of int, default=(512, 256, 128)
    time_embedding_dim : int, default=128
    """

    def __init__(self, n_features, hidden_units=(512, 256, 128), time_embedding_dim=128):
        super().__init__()
        widths = [int(w) for w in hidden_units]
        self.time_embedding_dim = int(time_embedding_dim)
        d_t = self.time_embedding_dim
        self.time_mlp = nn.Sequential(nn.Linear(d_t, d_t), nn.SiLU(), nn.Linear(d_t, d_t))
        self.inp = nn.Linear(n_features, widths[0])
        self.down = nn.ModuleList()
        prev = widths[0]
        for w in widths:
            self.down.append(_Block(prev, w, d_t))
            prev = w
        self.up = nn.ModuleList()
        for i in reversed(range(len(widths))):
            out = widths[i - 1] if i > 0 else widths[0]
            self.up.append(_Block(prev + widths[i], out, d_t))
            prev = out
        self.out = nn.Linear(prev, n_features)
        self.skip = nn.Linear(n_features, n_features)
        self.skip_gate = nn.Linear(d_t, n_features)

    def activation_floats(self):
        """Floats per input held by one forward pass (a chunk-size estimate)."""
        return 8 * sum(b.lin2.out_features for b in self.down) + 4 * self.skip.in_features

    def forward(self, y, t):
        temb = self.time_mlp(timestep_embedding(t, self.time_embedding_dim))
        h = self.inp(y)
        skips = []
        for block in self.down:
            h = block(h, temb)
            skips.append(h)
        for block in self.up:
            h = block(torch.cat([h, skips.pop()], 1), temb)
        return self.out(F.silu(h)) + self.skip_gate(temb) * self.skip(y)


def init_weights(module, generator):
    """Initialise every linear and convolutional layer from ``generator`` (torch's
    default uniform ranges), GroupNorm at (1, 0), the output layers of
    :class:`EpsMLP` and :class:`EpsUNet` at zero; the global RNG is not used."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            with torch.no_grad():
                nn.init.uniform_(m.weight, -bound, bound, generator=generator)
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, nn.GroupNorm):
            with torch.no_grad():
                m.weight.fill_(1.0)
                m.bias.zero_()
    # A second pass: modules() visits a network before its layers, so zeroing
    # in the first pass would be overwritten.
    for m in module.modules():
        zero = ((m.out, m.skip_gate) if isinstance(m, EpsMLP)
                else (m.out,) if isinstance(m, EpsUNet) else ())
        with torch.no_grad():
            for layer in zero:
                layer.weight.zero_()
                layer.bias.zero_()


class DiffusionModule(nn.Module):
    """Pre-processing + epsilon network + VP-SDE: what a diffusion density trains.

    Built from plain parameters (skorch's ``module__*``). Inputs are mapped to
    the model space ``y``: pixels in ``[0, pixel_max]`` become
    ``2 ((x_int + u) / 256 - 0.5)`` in ``[-1, 1)`` (``u ~ U(0, 1)`` when
    training, ``1/2`` when scoring: the bin centre), continuous features
    ``(x - mean) / scale``. :meth:`log_det` converts a log-density of ``y`` into
    one of the input in skood's units (pixels on ``[-0.5, 0.5)`` with bins of
    width 1/256, as :class:`~skood.density.GlowDensity`; standardised features
    in the original units).

    ``forward(x, generator)`` returns the per-sample denoising loss
    ``mean((eps(alpha y + sigma e, t) - e)^2)`` with ``t ~ U(1e-5, 1)``,
    ``e ~ N(0, I)`` (and the dequantization noise) drawn from ``generator``.

    Parameters
    ----------
    n_features : int
    hidden_units : tuple of int
        Widths of :class:`EpsMLP` (``network="mlp"``).
    time_embedding_dim : int
    network : {"mlp", "unet"}, default="mlp"
        :class:`EpsMLP` or :class:`EpsUNet`.
    input_shape : tuple of int (C, H, W) or None
        The image shape (``network="unet"``).
    channels : tuple of int
        Channels per resolution of :class:`EpsUNet`.
    pixel_max : float or None
        Pixel data in ``[0, pixel_max]``; ``None``: continuous data.
    mean, scale : array-like of shape (n_features,) or None
        Standardisation of continuous data.
    beta_min, beta_max : float
    seed : int
        Seeds the initial weights (a local generator).
    dtype : torch.dtype
    """

    def __init__(self, *, n_features, hidden_units=(512, 256, 128), time_embedding_dim=128,
                 network="mlp", input_shape=None, channels=(32, 64, 64), pixel_max=None,
                 mean=None, scale=None, beta_min=0.1, beta_max=20.0, seed=0,
                 dtype=torch.float32):
        super().__init__()
        # Built on the meta device and initialised from a local generator: the
        # global torch RNG is neither read nor advanced.
        with torch.device("meta"):
            if network == "unet":
                net = EpsUNet(input_shape, channels, time_embedding_dim)
            else:
                net = EpsMLP(n_features, hidden_units, time_embedding_dim)
        net = net.to_empty(device="cpu")
        init_weights(net, torch.Generator().manual_seed(int(seed)))
        self.net = net
        self.n_features = int(n_features)
        self.pixel_max = None if pixel_max is None else float(pixel_max)
        self.sde = VPSDE(beta_min, beta_max)
        if self.pixel_max is None:
            mean = torch.zeros(n_features) if mean is None else torch.as_tensor(mean)
            scale = torch.ones(n_features) if scale is None else torch.as_tensor(scale)
            self.register_buffer("mean", mean.reshape(1, -1).clone())
            self.register_buffer("scale", scale.reshape(1, -1).clone())
        self.to(dtype)

    # -- spaces ------------------------------------------------------------------------
    def to_model_space(self, x, generator=None, dequantize=False):
        if self.pixel_max is None:
            return (x - self.mean) / self.scale
        x_int = torch.round(x * (255.0 / self.pixel_max))
        if dequantize:
            u = torch.rand(x_int.shape, generator=generator, dtype=x.dtype, device=x.device)
        else:
            u = torch.full_like(x_int, 0.5)
        return 2.0 * ((x_int + u) / 256.0 - 0.5)

    def from_model_space(self, y):
        if self.pixel_max is None:
            return y * self.scale + self.mean
        x_int = torch.clamp(torch.floor((y / 2.0 + 0.5) * 256.0), 0, 255)
        return x_int * (self.pixel_max / 255.0)

    def log_det(self):
        """``log |dy/dx|``: added to ``log p(y)`` for the input's log-density."""
        if self.pixel_max is None:
            return float(-torch.log(self.scale).sum())
        return self.n_features * math.log(2.0)

    # -- network -----------------------------------------------------------------------
    def eps(self, y, t):
        """The network's noise prediction ``eps(y, t)``."""
        return self.net(y, t)

    def forward(self, x, generator=None):
        y0 = self.to_model_space(x, generator, dequantize=True)
        n = y0.shape[0]
        t = _T_TRAIN_MIN + (1.0 - _T_TRAIN_MIN) * torch.rand(
            n, generator=generator, dtype=y0.dtype, device=y0.device)
        noise = torch.randn(y0.shape, generator=generator, dtype=y0.dtype, device=y0.device)
        a, s = self.sde.alpha(t)[:, None], self.sde.sigma(t)[:, None]
        pred = self.net(a * y0 + s * noise, t)
        return ((pred - noise) ** 2).mean(1)
