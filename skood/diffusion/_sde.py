"""The variance-preserving SDE (Song et al., 2021) with a linear noise schedule."""

import math

import torch


class VPSDE:
    """Variance-preserving SDE ``dy = -1/2 beta(t) y dt + sqrt(beta(t)) dW`` on ``t in [0, 1]``.

    ``beta(t) = beta_min + (beta_max - beta_min) t``; the perturbation kernel is
    ``y_t = alpha(t) y_0 + sigma(t) eps`` with ``alpha(t) = exp(-B(t) / 2)``,
    ``sigma(t)^2 = 1 - exp(-B(t))`` and ``B(t) = int_0^t beta``. An
    epsilon-prediction network ``eps(y, t)`` gives the score
    ``s(y, t) = -eps(y, t) / sigma(t)``.

    Methods take Python floats or tensors and return the same kind.

    Parameters
    ----------
    beta_min, beta_max : float, default=0.1, 20.0

    Examples
    --------
    >>> from skood.diffusion import VPSDE
    >>> sde = VPSDE()
    >>> round(sde.alpha(1.0) ** 2 + sde.sigma(1.0) ** 2, 12)
    1.0
    >>> round(sde.noise_ratio(sde.time_for_noise_ratio(0.5)), 12)
    0.5
    """

    def __init__(self, beta_min=0.1, beta_max=20.0):
        self.beta_min = float(beta_min)
        self.beta_max = float(beta_max)

    def beta(self, t):
        return self.beta_min + (self.beta_max - self.beta_min) * t

    def integral(self, t):
        """``B(t) = int_0^t beta(s) ds``."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def alpha(self, t):
        b = self.integral(t)
        return torch.exp(-0.5 * b) if torch.is_tensor(b) else math.exp(-0.5 * b)

    def sigma(self, t):
        b = self.integral(t)
        if torch.is_tensor(b):
            return torch.sqrt(-torch.expm1(-b))
        return math.sqrt(-math.expm1(-b))

    def noise_ratio(self, t):
        """``sigma(t) / alpha(t)``: the noise level relative to the signal."""
        b = self.integral(t)
        return torch.sqrt(torch.expm1(b)) if torch.is_tensor(b) else math.sqrt(math.expm1(b))

    def time_for_noise_ratio(self, ratio):
        """The time ``t`` at which ``sigma(t) / alpha(t) = ratio`` (a float)."""
        b = math.log1p(float(ratio) ** 2)
        a = 0.5 * (self.beta_max - self.beta_min)
        if a == 0:
            return b / self.beta_min
        return (-self.beta_min + math.sqrt(self.beta_min ** 2 + 4 * a * b)) / (2 * a)
