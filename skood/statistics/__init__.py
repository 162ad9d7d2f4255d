"""Statistics of inputs under a trained flow or diffusion model, as scikit-learn transformers.

:class:`FlowStatistics` maps inputs to named per-sample statistics from one pass
of a flow: per-scale log-determinants and prior terms, normalised latent norms,
optionally the compressed length of images and a reference model's
log-likelihood. Use it on its own in a :class:`~sklearn.pipeline.Pipeline` with
any scikit-learn density or outlier detector, or through
:class:`~skood.detectors.DensityOfStatesDetector`. :class:`DiffusionStatistics`
does the same for a diffusion model (multiscale score norms, FLIPD, the
likelihood, DDIM path statistics).
"""

from ._compression import compressed_bits
from ._diffusion_statistics import DiffusionStatistics
from ._flow_statistics import FlowStatistics

__all__ = ["DiffusionStatistics", "FlowStatistics", "compressed_bits"]
