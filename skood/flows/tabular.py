"""Flow for feature vectors: a one-level dense Glow."""

from .glow import Glow


class TabularFlow(Glow):
    """RealNVP/Glow-style flow on vectors of ``n_features``.

    A :class:`Glow` on ``(n_features, 1, 1)`` inputs with one level: each of the
    ``n_layers`` steps is ActNorm, a learned invertible linear map (LU, which
    generalises RealNVP's fixed permutations) and an affine coupling whose
    conditioner is an MLP with two hidden layers of ``hidden_units`` (1x1
    convolutions on 1x1 maps). The prior is a learned diagonal Gaussian. One scale,
    so ``log_prob_per_scale`` has one column.

    Examples
    --------
    >>> import torch
    >>> from skood.flows import TabularFlow
    >>> flow = TabularFlow(4, n_layers=2, hidden_units=8)
    >>> flow.n_scales, flow.latent_shapes
    (1, [(4, 1, 1)])
    """

    def __init__(self, n_features, n_layers=4, hidden_units=64):
        super().__init__((int(n_features), 1, 1), n_levels=1, n_steps=n_layers,
                         hidden_channels=hidden_units)
