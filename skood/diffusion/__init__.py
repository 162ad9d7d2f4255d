"""Torch pieces of skood's diffusion backbone: the VP-SDE, the epsilon network, and
the estimators read from a score (likelihood, FLIPD, score norms, DDIM paths).

:class:`~skood.density.DiffusionDensity` is the scikit-learn estimator built on
them; the functions here take any ``eps_fn(y, t)``, a trained network or an
analytic one.
"""

from ._estimators import (
    basis_probes,
    ddim_path_statistics,
    eps_and_trace,
    flipd,
    knee_time,
    ode_times,
    probability_flow_log_prob,
    rademacher_probes,
    sample_ddim,
    sample_ode,
    score_norms,
)
from ._network import DiffusionModule, EpsMLP
from ._time import timestep_embedding
from ._unet import EpsUNet
from ._output import DiffusionOutput
from ._sde import VPSDE

__all__ = [
    "DiffusionModule",
    "DiffusionOutput",
    "EpsMLP",
    "EpsUNet",
    "VPSDE",
    "basis_probes",
    "ddim_path_statistics",
    "eps_and_trace",
    "flipd",
    "knee_time",
    "ode_times",
    "probability_flow_log_prob",
    "rademacher_probes",
    "sample_ddim",
    "sample_ode",
    "score_norms",
    "timestep_embedding",
]
