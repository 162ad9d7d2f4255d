"""What a diffusion model's score tells about an input, as functions of ``eps(y, t)``.

Every function takes the epsilon-prediction function ``eps_fn(y, t) -> (n, D)``
(``y``: a tensor of shape ``(n, D)``, ``t``: shape ``(n,)``) and a :class:`VPSDE`,
so the same code runs on a trained network and on an analytic score (the tests
use Gaussians, where the answers are known in closed form).

Costs are in network evaluations per input ("evaluations"); a vector-Jacobian
product (one backward pass) costs about two.
"""

import math

import torch


def rademacher_probes(n_probes, n_features, *, generator=None, dtype=torch.float32,
                      device="cpu"):
    """``(n_probes, n_features)`` random signs (Hutchinson's trace probes)."""
    bits = torch.randint(0, 2, (n_probes, n_features), generator=generator, device=device)
    return (2 * bits - 1).to(dtype)


def basis_probes(n_features, *, dtype=torch.float32, device="cpu"):
    """The identity as ``n_features`` probes: the exact trace."""
    return torch.eye(n_features, dtype=dtype, device=device)


def eps_and_trace(eps_fn, y, t, probes, *, exact=False):
    """``eps(y, t)`` and the trace of its Jacobian ``d eps / d y``.

    Parameters
    ----------
    eps_fn : callable
    y : tensor of shape (n, D)
    t : tensor of shape (n,)
    probes : tensor of shape (P, D)
        Hutchinson probes (the same for every row), or :func:`basis_probes`.
    exact : bool, default=False
        ``probes`` is the basis: the trace is the sum of ``v^T J v`` (exact), not
        their mean (Hutchinson's unbiased estimate).

    Returns
    -------
    eps : tensor of shape (n, D)
    trace : tensor of shape (n,)

    Cost: a forward and a backward pass on ``n * P`` rows (about ``3 P``
    evaluations per input).
    """
    n, d = y.shape
    p = probes.shape[0]
    with torch.enable_grad():
        y_rep = y.detach().unsqueeze(1).expand(n, p, d).reshape(n * p, d).requires_grad_(True)
        eps = eps_fn(y_rep, t.detach().repeat_interleave(p))
        v = probes.unsqueeze(0).expand(n, p, d).reshape(n * p, d)
        (grad,) = torch.autograd.grad(eps, y_rep, grad_outputs=v, allow_unused=True)
    vjv = torch.zeros(n, p, dtype=y.dtype, device=y.device) if grad is None else \
        (grad * v).sum(1).reshape(n, p)
    trace = vjv.sum(1) if exact else vjv.mean(1)
    return eps.detach().reshape(n, p, d)[:, 0], trace.detach()


def ode_times(sde, n_steps, t_min=1e-3, grid="log_snr"):
    """The ``n_steps + 1`` times of the probability-flow ODE's steps, ``t_min`` to 1.

    ``"log_snr"``: uniform in the log signal-to-noise ratio, so every step covers
    the same factor of noise: near ``t_min`` the ODE's velocity and divergence
    (which scale as ``1 / sigma(t)``) change fastest, and uniform steps in ``t``
    sample them there far too coarsely (measured on a convolutional model of
    28x28 images at 25 steps: uniform in ``t`` -5.3 bits/dim, an impossible value
    for a probability of 8-bit pixels, against 2.7 here and 2.9 for 200 uniform
    steps). ``"uniform"``: uniform in ``t``.
    """
    if grid == "uniform":
        return [float(t) for t in torch.linspace(t_min, 1.0, n_steps + 1, dtype=torch.float64)]
    if grid != "log_snr":
        raise ValueError(f"grid must be 'log_snr' or 'uniform'; got {grid!r}.")
    r0, r1 = sde.noise_ratio(float(t_min)), sde.noise_ratio(1.0)
    ratios = torch.logspace(math.log10(r0), math.log10(r1), n_steps + 1, dtype=torch.float64)
    ts = [sde.time_for_noise_ratio(float(r)) for r in ratios]
    ts[0], ts[-1] = float(t_min), 1.0  # exact ends, whatever the round-off
    return ts


def probability_flow_log_prob(eps_fn, y0, sde, *, n_steps=25, t_min=1e-3, probes=None,
                              exact=False, grid="log_snr"):
    """Log-density of ``y0`` from the probability-flow ODE (Euler steps).

    ``dy/dt = -1/2 beta(t) (y - eps(y, t) / sigma(t))`` is integrated from
    ``t_min`` to 1, and ``log p(y0) = log N(y(1); 0, I) + int div``, with the
    divergence ``-1/2 beta(t) (D - tr(d eps / d y) / sigma(t))`` (exact or
    Hutchinson, the same probes at every step). ``t_min > 0`` keeps
    ``1 / sigma(t)`` finite: the result is the density of the data smoothed
    by noise of standard deviation about ``sigma(t_min)``.

    Parameters
    ----------
    eps_fn : callable
    y0 : tensor of shape (n, D)
    sde : VPSDE
    n_steps : int, default=25
    t_min : float, default=1e-3
    probes : tensor of shape (P, D) or None
        ``None``: the exact trace (:func:`basis_probes`).
    exact : bool, default=False
        ``probes`` is the basis (set automatically when ``probes`` is None).
    grid : {"log_snr", "uniform"}, default="log_snr"
        Where the steps are (:func:`ode_times`).

    Returns
    -------
    log_prob : tensor of shape (n,)

    Cost: ``n_steps * (1 + 2 P)`` evaluations per input (``P = D`` exact).
    """
    n, d = y0.shape
    if probes is None:
        probes, exact = basis_probes(d, dtype=y0.dtype, device=y0.device), True
    ts = ode_times(sde, n_steps, t_min, grid)
    y = y0.detach()
    delta = torch.zeros(n, dtype=y0.dtype, device=y0.device)
    for i in range(n_steps):
        t, h = ts[i], ts[i + 1] - ts[i]
        eps, trace = eps_and_trace(eps_fn, y, y.new_full((n,), t), probes, exact=exact)
        beta, sigma = sde.beta(t), sde.sigma(t)
        y = y - h * 0.5 * beta * (y - eps / sigma)
        delta = delta - h * 0.5 * beta * (d - trace / sigma)
    log_prior = -0.5 * (y * y).sum(1) - 0.5 * d * math.log(2 * math.pi)
    return log_prior + delta


def flipd(eps_fn, y0, sde, t0, *, probes=None, exact=False):
    """FLIPD local intrinsic dimension (Kamkari et al., NeurIPS 2024) at time ``t0``.

    ``FLIPD(x, t0) = D + sigma(t0)^2 [tr grad s(y, t0) + ||s(y, t0)||^2]`` at
    ``y = alpha(t0) x``, i.e. ``D - sigma(t0) tr(d eps / d y) + ||eps(y, t0)||^2``
    for an epsilon network. About ``d`` for inputs near a ``d``-dimensional
    manifold of the model, at scales where ``sigma(t0)`` is small against the
    manifold's extent and large against the off-manifold spread.

    Parameters
    ----------
    eps_fn : callable
    y0 : tensor of shape (n, D)
    sde : VPSDE
    t0 : float
    probes : tensor of shape (P, D) or None
        Hutchinson probes; ``None``: the exact trace.
    exact : bool, default=False

    Returns
    -------
    lid : tensor of shape (n,)

    Cost: ``1 + 2 P`` evaluations per input.
    """
    n, d = y0.shape
    if probes is None:
        probes, exact = basis_probes(d, dtype=y0.dtype, device=y0.device), True
    y = sde.alpha(float(t0)) * y0.detach()
    eps, trace = eps_and_trace(eps_fn, y, y.new_full((n,), float(t0)), probes, exact=exact)
    return d - sde.sigma(float(t0)) * trace + (eps * eps).sum(1)


def score_norms(eps_fn, y0, sde, times):
    """Multiscale score norms (MSMA: Mahmood et al., ICLR 2021) of clean inputs.

    ``||eps(alpha(t) y0, t)|| = sigma(t) ||s(alpha(t) y0, t)||`` for each ``t`` in
    ``times``: the norm of the noise-scaled score at the input itself (no noise
    added). Cost: ``len(times)`` evaluations per input, no gradients.

    Returns
    -------
    norms : tensor of shape (n, len(times))
    """
    n = y0.shape[0]
    cols = []
    with torch.no_grad():
        for t in times:
            eps = eps_fn(sde.alpha(float(t)) * y0, y0.new_full((n,), float(t)))
            cols.append(torch.linalg.vector_norm(eps, dim=1))
    return torch.stack(cols, 1)


def ddim_path_statistics(eps_fn, y0, sde, *, n_steps=10, t_min=1e-3):
    """DiffPath's rate and curvature (Heng et al., NeurIPS 2024) along a DDIM path.

    The deterministic DDIM map is run forward (data to noise) from ``t_min`` to 1
    in ``n_steps`` steps uniform in ``t``; with ``eps_k`` the prediction at step
    ``k``: rate ``sqrt(sum_k ||eps_k||^2)`` and curvature
    ``sqrt(sum_k ||(eps_{k+1} - eps_k) / dt||^2)``. Cost: ``n_steps + 1``
    evaluations per input, no gradients.

    Returns
    -------
    stats : tensor of shape (n, 2)
        Columns: rate, curvature.
    """
    n = y0.shape[0]
    ts = torch.linspace(t_min, 1.0, n_steps + 1, dtype=torch.float64).tolist()
    y = sde.alpha(ts[0]) * y0
    eps_list = []
    with torch.no_grad():
        for k, t in enumerate(ts):
            eps = eps_fn(y, y.new_full((n,), t))
            eps_list.append(eps)
            if k + 1 < len(ts):
                s = ts[k + 1]
                x0 = (y - sde.sigma(t) * eps) / sde.alpha(t)
                y = sde.alpha(s) * x0 + sde.sigma(s) * eps
    eps = torch.stack(eps_list)  # (K+1, n, D)
    rate = torch.sqrt((eps * eps).sum((0, 2)))
    dt = (1.0 - t_min) / n_steps
    diff = (eps[1:] - eps[:-1]) / dt
    curvature = torch.sqrt((diff * diff).sum((0, 2)))
    return torch.stack([rate, curvature], 1)


def sample_ddim(eps_fn, noise, sde, *, n_steps=50, t_min=1e-3):
    """Deterministic DDIM sampling from ``noise`` (``y(1)``) down to ``t_min``.

    Returns the final denoised estimate ``(y - sigma eps) / alpha`` at ``t_min``.
    Cost: ``n_steps`` evaluations per sample.
    """
    n = noise.shape[0]
    ts = torch.linspace(1.0, t_min, n_steps + 1, dtype=torch.float64).tolist()
    y = noise
    with torch.no_grad():
        for k in range(n_steps):
            t, s = ts[k], ts[k + 1]
            eps = eps_fn(y, y.new_full((n,), t))
            x0 = (y - sde.sigma(t) * eps) / sde.alpha(t)
            y = sde.alpha(s) * x0 + sde.sigma(s) * eps
        eps = eps_fn(y, y.new_full((n,), t_min))
        return (y - sde.sigma(t_min) * eps) / sde.alpha(t_min)


def sample_ode(eps_fn, noise, sde, *, n_steps=50, t_min=1e-3):
    """Sampling by Euler steps of the probability-flow ODE from ``t = 1`` to ``t_min``,
    returning the denoised estimate at ``t_min``. Cost: ``n_steps`` evaluations."""
    n = noise.shape[0]
    ts = torch.linspace(1.0, t_min, n_steps + 1, dtype=torch.float64).tolist()
    y = noise
    with torch.no_grad():
        for k in range(n_steps):
            t, h = ts[k], ts[k + 1] - ts[k]
            eps = eps_fn(y, y.new_full((n,), t))
            y = y + h * (-0.5 * sde.beta(t)) * (y - eps / sde.sigma(t))
        eps = eps_fn(y, y.new_full((n,), t_min))
        return (y - sde.sigma(t_min) * eps) / sde.alpha(t_min)


def knee_time(times, mean_lid):
    """The knee of a decreasing curve of mean FLIPD over ``log t0``.

    Kneedle-style: with ``log t0`` and the curve both rescaled to [0, 1], the
    grid point farthest below the chord joining the curve's first and last
    points. A reconstruction of "the knee of FLIPD over t0"; the grid is the
    caller's.
    """
    x = torch.log(torch.as_tensor(times, dtype=torch.float64))
    y = torch.as_tensor(mean_lid, dtype=torch.float64)
    x = (x - x[0]) / (x[-1] - x[0])
    span = float(y.max() - y.min())
    if span == 0:
        return float(times[0])
    y = (y - y.min()) / span
    chord = y[0] + (y[-1] - y[0]) * x
    return float(times[int(torch.argmax(chord - y))])
