"""A small convolutional U-Net epsilon network for images, flat in and flat out."""

import torch
from torch import nn
from torch.nn import functional as F

from ._time import timestep_embedding


def _groups(channels):
    """GroupNorm groups: the largest of 8, 4, 2, 1 dividing ``channels``."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class _ResBlock(nn.Module):
    """GroupNorm -> SiLU -> 3x3 conv, plus a per-channel time shift, twice; residual.

    GroupNorm normalises each image on its own, so an image's prediction does not
    depend on the other rows of the batch (a batch norm would).
    """

    def __init__(self, c_in, c_out, d_time):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(d_time, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, h, temb):
        z = self.conv1(F.silu(self.norm1(h))) + self.time(temb)[:, :, None, None]
        z = self.conv2(F.silu(self.norm2(z)))
        return self.skip(h) + z


class EpsUNet(nn.Module):
    """A small convolutional U-Net ``eps(y, t)`` for images, on flat vectors.

    Inputs of ``C * H * W`` features are viewed as ``(C, H, W)`` images. A 3x3
    input convolution, then one residual block per resolution with
    ``channels[i]`` channels, halving the resolution between levels (stride-2
    convolutions); a middle block; and mirrored blocks on the way up (nearest
    upsampling + 3x3 convolution), each taking the matching down block's output
    as a skip connection (concatenated). Every block adds a projection of the
    sinusoidal time embedding; GroupNorm and SiLU. The output convolution starts
    at zero (the initial network predicts ``eps = 0``). ``H`` and ``W`` must be
    divisible by ``2 ** (len(channels) - 1)``.

    Parameters
    ----------
    input_shape : tuple of int (C, H, W)
    channels : tuple of int, default=(32, 64, 64)
        Channels per resolution, from the input's resolution down.
    time_embedding_dim : int, default=128

    Examples
    --------
    >>> import torch
    >>> from skood.diffusion import EpsUNet
    >>> net = EpsUNet((1, 8, 8), channels=(8, 16))
    >>> net(torch.zeros(2, 64), torch.full((2,), 0.5)).shape
    torch.Size([2, 64])
    """

    def __init__(self, input_shape, channels=(32, 64, 64), time_embedding_dim=128):
        super().__init__()
        c, h, w = (int(s) for s in input_shape)
        widths = [int(ch) for ch in channels]
        factor = 2 ** (len(widths) - 1)
        if h % factor or w % factor:
            raise ValueError(
                f"A U-Net with {len(widths)} resolutions halves the image {len(widths) - 1} "
                f"time(s): height and width must be divisible by {factor}; got {h}x{w}. "
                "Use fewer channels entries, or network='mlp'."
            )
        self.input_shape = (c, h, w)
        self.time_embedding_dim = int(time_embedding_dim)
        d_t = self.time_embedding_dim
        self.time_mlp = nn.Sequential(nn.Linear(d_t, d_t), nn.SiLU(), nn.Linear(d_t, d_t))
        self.inp = nn.Conv2d(c, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        prev = widths[0]
        for i, ch in enumerate(widths):
            self.down.append(_ResBlock(prev, ch, d_t))
            prev = ch
            if i < len(widths) - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid = _ResBlock(prev, prev, d_t)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(widths))):
            self.up.append(_ResBlock(prev + widths[i], widths[i], d_t))
            prev = widths[i]
            if i > 0:
                self.upsample.append(nn.Conv2d(prev, prev, 3, padding=1))
        self.out_norm = nn.GroupNorm(_groups(prev), prev)
        self.out = nn.Conv2d(prev, c, 3, padding=1)

    def activation_floats(self):
        """Floats per input held by one forward pass (a chunk-size estimate)."""
        _, h, w = self.input_shape
        per_level = [ch * h * w // 4 ** i for i, ch in enumerate(
            b.conv2.out_channels for b in self.down)]
        # Each block keeps its input, two normalised activations and two convolutions.
        return 10 * sum(per_level)

    def forward(self, y, t):
        temb = self.time_mlp(timestep_embedding(t, self.time_embedding_dim))
        h = self.inp(y.reshape(-1, *self.input_shape))
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, temb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid(h, temb)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], 1), temb)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(F.silu(self.out_norm(h))).reshape(y.shape)
