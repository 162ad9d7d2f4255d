"""The typed output of one flow pass: what every detector reads."""

from dataclasses import dataclass, field


@dataclass
class FlowOutput:
    """Everything one forward pass of a flow yields.

    A density estimator's :meth:`~skood.density.BaseFlowDensity.flow_pass` returns
    it with NumPy float64 arrays; a torch flow module returns it with tensors.

    Attributes
    ----------
    log_prob : tensor or ndarray of shape (n,)
        Total log-likelihood in the flow's data space.
    log_prob_per_scale : tensor or ndarray of shape (n, n_scales)
        Contribution of each scale: ``logdet_per_scale + log_prior_per_scale``.
        Sums to ``log_prob`` over scales.
    latents : list of tensors or ndarrays
        Raw latents ``z_l`` per scale, shape ``(n, C_l, H_l, W_l)`` (empty when
        the pass was asked not to keep them).
    latents_normalized : list of tensors or ndarrays
        Prior-normalised latents ``(z_l - mean_l) / std_l``: N(0, I) under the model.
    logdet_per_scale : tensor or ndarray of shape (n, n_scales) or None
        Log-determinant of the scale's block of layers (scale 0 also holds the
        pre-transform's, e.g. a standardisation or logit layer). ``None`` for a
        flow that does not report it.
    log_prior_per_scale : tensor or ndarray of shape (n, n_scales) or None
        Prior log-density of the latents factored out at each scale.

    Examples
    --------
    >>> import torch
    >>> from skood.flows import TabularFlow
    >>> out = TabularFlow(3, n_layers=2, hidden_units=4)(torch.randn(5, 3))
    >>> out.log_prob.shape, out.log_prob_per_scale.shape, len(out.latents)
    (torch.Size([5]), torch.Size([5, 1]), 1)
    """

    log_prob: object
    log_prob_per_scale: object
    latents: list = field(default_factory=list)
    latents_normalized: list = field(default_factory=list)
    logdet_per_scale: object = None
    log_prior_per_scale: object = None

    @property
    def n_scales(self):
        """Number of scales (columns of the per-scale arrays)."""
        return self.log_prob_per_scale.shape[1]
