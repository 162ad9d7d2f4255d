"""A pre-transform followed by a flow: the torch model behind every density estimator."""

import torch
from torch import nn

from ._output import FlowOutput


class DensityModule(nn.Module):
    """``pre`` (dequantization, standardisation, logit) then ``flow``, in data space.

    The torch side of the gateway: :meth:`outputs` is one pass returning a
    :class:`FlowOutput` whose per-scale terms include the pre-transform's
    log-determinant in scale 0 (so they always sum to the total);
    :meth:`encode` / :meth:`decode` are the encoder and the differentiable
    generator that local intrinsic dimension needs.

    Parameters
    ----------
    pre : Bijection or None
        Pre-transform returning ``(y, logdet)``; ``None`` for none. A
        :class:`~skood.flows.PreTransformChain`'s smooth ``tail`` belongs to the
        generator (:meth:`decode`), its ``head`` (dequantization) does not.
    flow : nn.Module
        A flow returning a :class:`FlowOutput` (:class:`~skood.flows.Glow`,
        :class:`~skood.flows.TabularFlow`).

    Examples
    --------
    >>> import torch
    >>> from skood.flows import DensityModule, Standardization, TabularFlow
    >>> m = DensityModule(Standardization([0.0, 0.0], [2.0, 2.0]), TabularFlow(2, 2, 4)).eval()
    >>> x = torch.randn(3, 2)
    >>> log_prob, z = m.encode(x)
    >>> torch.allclose(m.decode(z), m.to_flow_space(x), atol=1e-5)
    True
    """

    def __init__(self, pre, flow):
        super().__init__()
        self.pre = pre
        self.flow = flow

    @property
    def _head(self):
        return getattr(self.pre, "head", self.pre)

    def outputs(self, x):
        """One pass: a :class:`FlowOutput` of tensors in data space."""
        if self.pre is None:
            return self.flow(x)
        y, logdet = self.pre(x)
        out = self.flow(y)
        out.log_prob = out.log_prob + logdet
        for name in ("log_prob_per_scale", "logdet_per_scale"):
            per = getattr(out, name)
            if per is not None:
                setattr(out, name, torch.cat([per[:, :1] + logdet[:, None], per[:, 1:]], 1))
        return out

    def forward(self, x):
        return self.outputs(x).log_prob

    def generate(self, latents, normalized=True):
        """Per-scale latents -> data space (inverse of the flow and of the pre-transform)."""
        y = self.flow.inverse(latents, normalized=normalized)
        return y if self.pre is None else self.pre.inverse(y)

    # -- the maps local intrinsic dimension differentiates ------------------------------
    def to_flow_space(self, x):
        """The generator's output space: the pre-transform's head (no smooth tail), in eval
        mode (pixels at the bin centre)."""
        self.eval()
        with torch.no_grad():
            return x if self._head is None else self._head(x)[0]

    def encode(self, x):
        """Log-likelihood (pre-transform included) and flattened prior-normalised latents."""
        # ActNorm initialises itself in training mode: everything here runs in eval.
        self.eval()
        with torch.no_grad():
            out = self.outputs(x)
            return out.log_prob, self.flow.flatten_latents(out.latents_normalized)

    def decode(self, z):
        """Generator: flattened prior-normalised latents -> flattened flow space
        (differentiable; includes the inverse of a chain's smooth tail)."""
        y = self.flow.inverse(self.flow.unflatten_latents(z), normalized=True)
        if hasattr(self.pre, "inverse_tail"):
            y = self.pre.inverse_tail(y)
        return y.reshape(z.shape[0], -1)
