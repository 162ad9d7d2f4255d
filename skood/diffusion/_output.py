"""The typed output of one diffusion-statistics pass."""

from dataclasses import dataclass


@dataclass
class DiffusionOutput:
    """What :meth:`~skood.density.DiffusionDensity.diffusion_statistics` computes.

    Arrays are NumPy float64, one row per input; a statistic that was not asked
    for is ``None``.

    Attributes
    ----------
    log_prob : ndarray of shape (n,) or None
        Probability-flow ODE log-likelihood, in the input's units (pixels on
        ``[-0.5, 0.5)`` with bins of width 1/256, or the original features).
    flipd : ndarray of shape (n,) or None
        FLIPD local intrinsic dimension at ``flipd_t0``.
    score_norms : ndarray of shape (n, n_levels) or None
        Multiscale score norms ``||eps(alpha(t) x, t)||``, one column per time
        in ``score_norm_times`` (increasing noise).
    path : ndarray of shape (n, 2) or None
        DDIM path rate and curvature.
    flipd_t0 : float or None
    score_norm_times : ndarray of shape (n_levels,) or None
    """

    log_prob: object = None
    flipd: object = None
    score_norms: object = None
    path: object = None
    flipd_t0: object = None
    score_norm_times: object = None
