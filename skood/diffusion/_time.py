"""The sinusoidal time embedding shared by the epsilon networks."""

import math

import torch
from torch.nn import functional as F


def timestep_embedding(t, dim):
    """Sinusoidal embedding of ``1000 t`` (Transformer / DDPM style), shape ``(n, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=t.dtype, device=t.device)
                      / max(half, 1))
    args = 1000.0 * t[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], 1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb
