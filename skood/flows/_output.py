"""The one-pass output protocol every skood flow returns."""

from dataclasses import dataclass, field


@dataclass
class FlowOutput:
    """Everything one forward pass of a flow yields.

    Attributes
    ----------
    log_prob : tensor or ndarray of shape (n,)
        Total log-likelihood in the flow's data space.
    log_prob_per_scale : tensor or ndarray of shape (n, n_scales)
        Contribution of each scale: the log-determinants of the scale's block plus
        the prior log-density of the latents factored out there. Sums to ``log_prob``.
    latents : list of tensors or ndarrays
        Raw latents ``z_l`` per scale, shape ``(n, C_l, H_l, W_l)``.
    latents_normalized : list of tensors or ndarrays
        Prior-normalised latents ``(z_l - mean_l) / std_l``: N(0, I) under the model.
    """

    log_prob: object
    log_prob_per_scale: object
    latents: list = field(default_factory=list)
    latents_normalized: list = field(default_factory=list)
