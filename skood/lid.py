"""Local intrinsic dimension (LID) of a normalizing flow's generator.

Kamkari et al. (ICML 2024) explain the likelihood paradox geometrically: an
out-of-distribution point can have a high density but lie on a manifold of low
*local intrinsic dimension*, so it carries negligible probability mass. For a
flow with generator ``g`` (prior-normalised latent ``z_hat`` -> flow space) the
LID at scale ``r`` of a point ``x`` with ``z_hat = f(x)`` is the number of
singular values of the Jacobian ``J = dg/dz_hat`` above ``exp(r)``.

This module estimates it two ways:

* **exact** (:func:`flow_singular_values`): the full ``D x D`` Jacobian from
  ``D`` reverse-mode (or forward-mode) products, ``chunk_size`` of them per pass
  on stacked copies of the batch to bound memory, then its singular values.
* **fast** (:func:`flow_spectral_quadrature`): matrix-free stochastic Lanczos
  quadrature on ``J^T J``, never forming ``J``. Golub-Kahan bidiagonalisation
  from a few fixed probe vectors needs one Jacobian-vector and one
  vector-Jacobian product per step; the Ritz values and weights give the count
  ``tr 1[J^T J > exp(2r)]`` for *every* ``r`` at once.

Both work on any device and dtype. "Flow space" is the space the generator maps
to: for pixels ``(x_int + 0.5) / 256 - 0.5`` (bin centre, no dequantization
noise), for tabular data the standardised features. Smooth pre-transform layers
after dequantization (a :class:`~skood.flows.PreTransformChain` tail, e.g.
``GlowDensity(logit_alpha=0.05)``'s logit layer) are part of the generator, whose
last layer is then their inverse (a sigmoid), as in Kamkari et al.

The scale ``r`` is chosen without OOD data by :func:`calibrate_log_threshold`
(mean LID of a training buffer = a model-free local-PCA estimate, or the middle
of the widest plateau of the mean-LID curve).
"""

import math

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from torch.func import jacfwd, jvp, vmap

__all__ = [
    "calibrate_log_threshold",
    "flow_jacobian",
    "flow_singular_values",
    "flow_spectral_quadrature",
    "lid_from_quadrature",
    "lid_from_singular_values",
    "local_pca_dimension",
]


# -- the flow as a pair of maps ------------------------------------------------------
class _FlowMap:
    """Encoder ``x -> (log p(x), z_hat)`` and generator ``z_hat -> y`` of a flow.

    Accepts a fitted skood density estimator (possibly inside a
    ``FrozenEstimator``), a ``DensityModule`` (``.pre`` and ``.flow``) or a bare
    flow module (``forward`` returning a ``FlowOutput``, ``inverse``,
    ``flatten_latents``, ``unflatten_latents``).
    """

    def __init__(self, obj):
        est = obj.estimator if isinstance(obj, FrozenEstimator) else obj
        self.estimator = None
        if isinstance(est, torch.nn.Module):
            module = est
        else:
            if not hasattr(est, "module_"):
                raise TypeError(
                    "Expected a fitted skood density estimator, a DensityModule or a flow "
                    f"module; got {type(obj).__name__}."
                )
            self.estimator = est
            module = est.module_
        self.pre = getattr(module, "pre", None)
        # A chain's smooth tail (e.g. a logit layer) belongs to the generator; only
        # its non-differentiable head (dequantization) stays outside.
        self.pre_tail = getattr(self.pre, "tail", None)
        self.pre_head = self.pre if self.pre_tail is None else self.pre.head
        self.flow = getattr(module, "flow", module)
        self.module = module
        tensors = list(module.parameters()) + list(module.buffers())
        floats = [t for t in tensors if t.is_floating_point()]
        if self.estimator is not None:
            self.device, self.dtype = self.estimator.device_, self.estimator.dtype_
        elif floats:
            self.device, self.dtype = floats[0].device, floats[0].dtype
        else:
            self.device, self.dtype = torch.device("cpu"), torch.get_default_dtype()

    def validate(self, X):
        """Validated NumPy input (estimators) or the input as it is (modules)."""
        if self.estimator is not None:
            return self.estimator._validate_for_scoring(X)
        return X

    def as_tensor(self, X):
        if torch.is_tensor(X):
            return X.to(self.device, self.dtype)
        # a copy: inputs may be read-only (memmaps), which torch does not support
        return torch.tensor(np.asarray(X), dtype=self.dtype, device=self.device)

    def to_flow_space(self, x):
        """The generator's output space: the pre-transform without a chain's smooth
        tail (eval mode: pixels at the bin centre)."""
        self.module.eval()
        with torch.no_grad():
            return x if self.pre_head is None else self.pre_head(x)[0]

    def encode(self, x):
        """Log-likelihood (pre-transform included) and flattened ``z_hat`` of ``x``."""
        # ActNorm initialises itself in training mode: everything here runs in eval.
        self.module.eval()
        with torch.no_grad():
            if self.pre is not None:
                y, logdet = self.pre(x)
            else:
                y, logdet = x, x.new_zeros(x.shape[0])
            out = self.flow(y)
            z = self.flow.flatten_latents(out.latents_normalized)
        return out.log_prob + logdet, z

    def generate(self, z):
        """Generator ``g``: flattened prior-normalised latents -> flattened flow space."""
        y = self.flow.inverse(self.flow.unflatten_latents(z), normalized=True)
        if self.pre_tail is not None:
            y = self.pre.inverse_tail(y)
        return y.reshape(z.shape[0], -1)

    def batches(self, X, batch_size, verbose=False, desc=None):
        """Yield ``(slice, tensor)`` over ``X`` in batches, with a tqdm bar if verbose."""
        n = len(X)
        starts = range(0, n, batch_size)
        if verbose:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=desc, unit="batch", total=math.ceil(n / batch_size))
        for start in starts:
            sl = slice(start, min(start + batch_size, n))
            yield sl, self.as_tensor(X[sl])


def _to_numpy(t):
    return t.detach().to("cpu", torch.float64).numpy()


# -- exact Jacobian -------------------------------------------------------------------
# Tangents (or cotangents) ride along the batch dimension: the generator runs on ``c``
# stacked copies of the ``n`` latents. No ``torch.func.vmap`` is involved, so any
# module works (vmap rejects e.g. channels-last copies inside the flow).
def _basis(start, c, n, d, like):
    """Rows ``e_start .. e_{start+c-1}``, each repeated for the ``n`` samples: (c*n, d)."""
    eye = torch.zeros(c, d, dtype=like.dtype, device=like.device)
    eye[torch.arange(c), torch.arange(start, start + c)] = 1.0
    return eye[:, None, :].expand(c, n, d).reshape(c * n, d)


def _jacobian_reverse(g, z, chunk_size):
    """``J[i]`` row by row: one forward and one backward pass per ``chunk_size`` rows.

    Reverse mode is the cheapest exact path on a CPU: a backward pass through a
    Glow costs about as much as the forward pass, whereas forward-mode AD carries
    a tangent through every operation (and recomputes the primal per chunk).
    Memory: the activations of ``chunk_size * n`` stacked copies.
    """
    n, d = z.shape
    chunk = d if chunk_size is None else max(1, min(int(chunk_size), d))
    rows = []
    for start in range(0, d, chunk):
        c = min(chunk, d - start)
        with torch.enable_grad():
            zz = z.detach().repeat(c, 1).requires_grad_()
            y = g(zz)
            (grad,) = torch.autograd.grad(y, zz, _basis(start, c, n, d, z))
        rows.append(grad.reshape(c, n, d))
    return torch.cat(rows, 0).transpose(0, 1)  # (n, d_out, d_in)


def _jacobian_forward(g, z, chunk_size):
    """``J[i]`` column by column: one forward-mode pass (``torch.func.jvp``) per chunk."""
    n, d = z.shape
    chunk = d if chunk_size is None else max(1, min(int(chunk_size), d))
    cols = []
    for start in range(0, d, chunk):
        c = min(chunk, d - start)
        out = jvp(g, (z.repeat(c, 1),), (_basis(start, c, n, d, z),))[1]
        cols.append(out.reshape(c, n, -1))
    return torch.cat(cols, 0).permute(1, 2, 0)  # (n, d_out, d_in)


def _jacobian_jacfwd(g, z):
    """``torch.func.jacfwd`` of the per-sample generator (all ``D`` tangents at once),
    vmapped over samples. The reference for the timings; needs a vmap-compatible flow."""

    def g_one(zi):
        return g(zi[None])[0]

    return vmap(jacfwd(g_one))(z)


def _jacobian_columns(g, z):
    """Reference path: one JVP per column (all samples at once), in a Python loop."""
    n, d = z.shape
    cols = []
    for j in range(d):
        t = torch.zeros_like(z)
        t[:, j] = 1.0
        cols.append(jvp(g, (z,), (t,))[1])
    return torch.stack(cols, -1)


_JACOBIAN_METHODS = ("reverse", "forward", "jacfwd", "columns")


def _jacobian(fm, z, method, chunk_size):
    if method == "reverse":
        return _jacobian_reverse(fm.generate, z, chunk_size)
    with torch.no_grad():  # no graph on the parameters; torch.func transforms still apply
        if method == "forward":
            return _jacobian_forward(fm.generate, z, chunk_size)
        if method == "jacfwd":
            return _jacobian_jacfwd(fm.generate, z)
        if method == "columns":
            return _jacobian_columns(fm.generate, z)
    raise ValueError(f"method must be one of {_JACOBIAN_METHODS}; got {method!r}.")


def _default_batch_size(n_dims, chunk_size):
    # About 2**18 / D stacked copies per pass (at least 64): for a 28x28 Glow with 128
    # hidden channels, 334 copies keep a few hundred MB of activations for the backward.
    cols = n_dims if chunk_size is None else min(chunk_size, n_dims)
    return max(1, max(64, 2**18 // max(n_dims, 1)) // max(cols, 1))


def flow_jacobian(flow, X, *, method="reverse", chunk_size=128, batch_size=None):
    """Jacobian of a flow's generator at the latent of each sample.

    ``J(x) = dg/dz_hat`` evaluated at ``z_hat = f(x)``, where ``g`` maps the
    flattened prior-normalised latents to flow space (the flow's input after the
    pre-transform; with a logit layer, the space before it, ``g`` ending with the
    sigmoid). ``J(x)`` is the inverse of the Jacobian of ``x -> z_hat``.

    Parameters
    ----------
    flow : fitted density estimator, DensityModule or flow module
        A fitted :class:`~skood.density.GlowDensity` /
        :class:`~skood.density.TabularFlowDensity` (also inside a
        :class:`~sklearn.frozen.FrozenEstimator`), or a torch module; modules are
        switched to eval mode.
    X : array-like of shape (n_samples, n_features)
        Samples in the estimator's input space (for a module: its input space).
    method : {"reverse", "forward", "jacfwd", "columns"}, default="reverse"
        ``"reverse"``: ``chunk_size`` rows per pass, one forward and one backward
        pass (``torch.autograd``) over ``chunk_size`` stacked copies of the
        batch; the fastest on a CPU. ``"forward"``: ``chunk_size`` columns per
        forward-mode pass (``torch.func.jvp``) over stacked copies; no
        activations are stored. ``"jacfwd"``: ``torch.func.jacfwd`` per sample
        (all columns at once, ``chunk_size`` is ignored), vmapped over samples;
        needs a flow that ``torch.func.vmap`` supports. ``"columns"``: one
        product per column in a Python loop (slow reference).
    chunk_size : int or None, default=128
        Rows (``"reverse"``) or columns (``"forward"``) per pass (``None``:
        all). Memory grows with ``batch_size * chunk_size``.
    batch_size : int or None, default=None
        Samples per pass; ``None`` picks about ``max(64, 2**18 / D)`` stacked
        copies per pass, i.e. ``batch_size = max(1, copies // chunk_size)``.

    Returns
    -------
    J : ndarray of shape (n_samples, n_features, n_features)
        ``J[i, a, b] = d y_a / d z_hat_b`` at sample ``i`` (float64).
    """
    fm = _FlowMap(flow)
    X = fm.validate(X)
    out = []
    for _, x in fm.batches(X, batch_size or _default_batch_size(_n_dims(X), chunk_size)):
        _, z = fm.encode(x)
        out.append(_to_numpy(_jacobian(fm, z, method, chunk_size)))
    return np.concatenate(out)


def _n_dims(X):
    return int(np.prod(X.shape[1:]))


def flow_singular_values(flow, X, *, chunk_size=128, batch_size=None, method="reverse",
                         return_log_prob=False, verbose=False):
    """Singular values of the generator Jacobian at each sample (exact LID path).

    Parameters
    ----------
    flow : fitted density estimator, DensityModule or flow module
        See :func:`flow_jacobian`.
    X : array-like of shape (n_samples, n_features)
    chunk_size : int or None, default=128
        Jacobian rows (or columns) per pass.
    batch_size : int or None, default=None
        Samples per pass (``None``: see :func:`flow_jacobian`).
    method : {"reverse", "forward", "jacfwd", "columns"}, default="reverse"
        How the Jacobian is formed; see :func:`flow_jacobian`.
    return_log_prob : bool, default=False
        Also return the log-likelihoods from the same encoder pass.
    verbose : bool, default=False
        Show a progress bar over batches.

    Returns
    -------
    singular_values : ndarray of shape (n_samples, n_features)
        Sorted in decreasing order (float64). Non-finite Jacobian entries (a
        diverged model) are set to zero first.
    log_prob : ndarray of shape (n_samples,)
        Only if ``return_log_prob``.
    """
    fm = _FlowMap(flow)
    X = fm.validate(X)
    bs = batch_size or _default_batch_size(_n_dims(X), chunk_size)
    svs, lps = [], []
    for _, x in fm.batches(X, bs, verbose, desc="exact LID"):
        lp, z = fm.encode(x)
        J = torch.nan_to_num(_jacobian(fm, z, method, chunk_size), nan=0.0, posinf=0.0,
                             neginf=0.0)
        svs.append(_to_numpy(torch.linalg.svdvals(J)))
        lps.append(_to_numpy(lp))
    sv = np.concatenate(svs)
    return (sv, np.concatenate(lps)) if return_log_prob else sv


def lid_from_singular_values(singular_values, log_threshold=None):
    """LID = number of singular values above ``exp(log_threshold)``.

    Parameters
    ----------
    singular_values : array-like of shape (n_samples, n_dims)
        Singular values of the generator Jacobian, any order.
    log_threshold : float or None, default=None
        The scale ``r``. ``None`` uses the largest-gap rule: sort decreasingly
        and count the singular values above the largest gap in ``log sigma``.
        (For a flow the *large* singular values are the tangent directions; the
        reference code applies the rule to an ascending spectrum and counts from
        the wrong end.)

    Returns
    -------
    lid : ndarray of shape (n_samples,)
        Integers in ``[0, n_dims]`` (float64).
    """
    sv = np.atleast_2d(np.asarray(singular_values, dtype=np.float64))
    if log_threshold is not None:
        return np.sum(sv > math.exp(log_threshold), axis=1).astype(np.float64)
    n_dims = sv.shape[1]
    if n_dims < 2:
        return np.full(sv.shape[0], float(n_dims))
    log_sv = np.log(np.maximum(-np.sort(-sv, axis=1), np.finfo(np.float64).tiny))
    gaps = log_sv[:, :-1] - log_sv[:, 1:]
    return (np.argmax(gaps, axis=1) + 1).astype(np.float64)


# -- fast, matrix-free path -------------------------------------------------------------
def _rademacher_probes(n_probes, n_dims, random_state, device, dtype):
    # Drawn on the CPU from a local generator: identical on every device, and the
    # same probes serve every sample, so a sample's estimate is batch-independent.
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (n_probes, n_dims), generator=gen, dtype=torch.float64) * 2 - 1
    return (signs / math.sqrt(n_dims)).to(device, dtype)


def _dot(a, b):
    return (a * b).sum(-1)


def _orthogonalize(w, basis):
    # Two passes of classical Gram-Schmidt against the stored vectors (full
    # reorthogonalisation: a few steps, so it is cheap and keeps the Ritz values clean).
    if not basis:
        return w
    Q = torch.stack(basis)  # (j, m, n, d)
    for _ in range(2):
        w = w - torch.einsum("jmn,jmnd->mnd", torch.einsum("jmnd,mnd->jmn", Q, w), Q)
    return w


_JVP_METHODS = ("autodiff", "central_difference")


def _golub_kahan(g, z, probes, n_steps, jvp_method="central_difference"):
    """Batched Golub-Kahan bidiagonalisation of ``J = dg/dz`` at every row of ``z``.

    Starting from each probe ``v_1`` it builds ``J V_k = U_k B_k`` with ``B_k``
    upper bidiagonal, so ``B_k^T B_k`` is the Lanczos matrix of ``J^T J`` from
    ``v_1``. Costs ``n_steps`` JVPs and ``n_steps - 1`` VJPs per probe. The
    probes ride along the batch dimension (``m`` stacked copies of the ``n``
    latents): one forward pass with autograd serves every VJP; each JVP is one
    ``torch.func.jvp`` (``"autodiff"``) or two plain forward passes
    (``"central_difference"``). Returns the diagonal ``(m, n, k)`` and
    superdiagonal ``(m, n, k - 1)`` of ``B_k``; see :func:`_gauss_quadrature`.
    """
    if jvp_method not in _JVP_METHODS:
        raise ValueError(f"jvp_method must be one of {_JVP_METHODS}; got {jvp_method!r}.")
    n, d = z.shape
    m = probes.shape[0]
    k = max(1, min(int(n_steps), d))
    eps = torch.finfo(z.dtype).eps
    zz = z.detach().repeat(m, 1)  # row p * n + i: sample i, probe p

    # Central differences along unit vectors: truncation error O(h^2), rounding error
    # O(eps / h); h = 4 eps^(1/3) (0.02 in float32) balances them with some margin for
    # the rounding accumulated through the flow's layers.
    h = 4.0 * eps ** (1.0 / 3.0)

    def apply_j(V):  # (m, n, d) -> J V
        V = V.reshape(m * n, d)
        with torch.no_grad():
            if jvp_method == "central_difference":
                # Forward-mode AD costs ~3.5 forward passes per product in eager PyTorch
                # on a CPU (a tangent through every op, decomposed in Python); two plain
                # passes cost 2 and run in the flow's fastest layout.
                out = (g(zz + h * V) - g(zz - h * V)) / (2.0 * h)
            else:
                out = jvp(g, (zz,), (V,))[1]
        return out.reshape(m, n, -1)

    with torch.enable_grad():  # the graph of one forward pass serves all the VJPs
        zg = zz.clone().requires_grad_()
        yg = g(zg)

    def apply_jt(U):
        (out,) = torch.autograd.grad(yg, zg, U.reshape(m * n, -1), retain_graph=True)
        return out.reshape(m, n, d)

    alphas, betas = [], []
    V = [probes[:, None, :].expand(m, n, d).clone()]
    U = []
    active = torch.ones(m, n, dtype=torch.bool, device=z.device)
    scale = torch.zeros(m, n, dtype=z.dtype, device=z.device)
    for j in range(k):
        p = apply_j(V[-1])
        if j > 0:
            p = p - betas[-1][..., None] * U[-1]
        p = _orthogonalize(p, U)
        alpha = torch.linalg.vector_norm(p, dim=-1)
        scale = torch.maximum(scale, alpha)
        # Breakdown (invariant Krylov subspace, e.g. j >= rank): stop that row here;
        # zero entries of B give zero quadrature weights.
        active = active & (alpha > 1e3 * eps * scale)
        alpha = torch.where(active, alpha, torch.zeros_like(alpha))
        U.append(torch.where(active[..., None], p / alpha.clamp_min(eps)[..., None], 0.0))
        alphas.append(alpha)
        if j == k - 1:
            break
        q = apply_jt(U[-1]) - alpha[..., None] * V[-1]
        q = _orthogonalize(q, V)
        beta = torch.linalg.vector_norm(q, dim=-1)
        active = active & (beta > 1e3 * eps * scale)
        beta = torch.where(active, beta, torch.zeros_like(beta))
        V.append(torch.where(active[..., None], q / beta.clamp_min(eps)[..., None], 0.0))
        betas.append(beta)
    empty = alphas[0].new_zeros(m, n, 0)
    return torch.stack(alphas, -1), torch.stack(betas, -1) if betas else empty


def _gauss_quadrature(alphas, betas, n_steps=None):
    """Ritz singular values and Gauss weights from the first ``n_steps`` steps of
    :func:`_golub_kahan` (its bidiagonal ``B_k`` has ``B_j`` as leading block, so one
    long run gives the quadrature of every shorter one).

    Returns ``(nodes, weights)`` of shape ``(..., n_steps)``; the weights are the
    squared first components of ``B``'s right singular vectors.
    """
    alphas = torch.as_tensor(alphas, dtype=torch.float64)
    betas = torch.as_tensor(betas, dtype=torch.float64)
    k = alphas.shape[-1] if n_steps is None else max(1, min(int(n_steps), alphas.shape[-1]))
    B = torch.diag_embed(alphas[..., :k])
    if k > 1:
        B = B + torch.diag_embed(betas[..., : k - 1], offset=1)
    _, s, vh = torch.linalg.svd(B)
    return s, vh[..., 0] ** 2  # vh rows are right singular vectors


def flow_spectral_quadrature(flow, X, *, n_probes=1, n_steps=12, random_state=None,
                             jvp_method="central_difference", batch_size=None,
                             return_log_prob=False,
                             verbose=False):
    """Stochastic Lanczos quadrature of the generator Jacobian's spectrum (fast LID path).

    For each sample and each of ``n_probes`` Rademacher probes ``v``, ``n_steps``
    steps of Golub-Kahan bidiagonalisation of ``J`` give Ritz singular values
    ``s_j`` and weights ``w_j`` (summing to one) such that
    ``v^T h(J^T J) v ~= sum_j w_j h(s_j^2)``. Averaged over probes and multiplied
    by ``D`` this estimates ``tr h(J^T J)`` (Hutchinson), and with ``h`` a step at
    ``exp(2r)`` the LID at every scale ``r`` (:func:`lid_from_quadrature`).
    ``J`` is never formed: each step is one Jacobian-vector product
    (``torch.func.jvp``, or a central difference) and one vector-Jacobian
    product (a backward pass through a graph built once per batch); the probes
    ride along the batch dimension.

    Cost per sample: ``n_probes * (n_steps JVPs + (n_steps - 1) VJPs)``, each
    about one to four forward passes. Accuracy: the Hutchinson standard
    deviation is about ``sqrt(2 LID (1 - LID / D) / n_probes)`` and the Gauss
    quadrature of a (smoothed) step is resolved to a fraction ``~1 / n_steps`` of
    the spectral mass near the threshold; see ``benchmarks/results/lid_bench.md``
    for measured errors per setting.

    Parameters
    ----------
    flow : fitted density estimator, DensityModule or flow module
        See :func:`flow_jacobian`.
    X : array-like of shape (n_samples, n_features)
    n_probes : int, default=1
        Probe vectors; the standard deviation of the estimate falls as
        ``1 / sqrt(n_probes)``.
    n_steps : int, default=12
        Lanczos steps per probe (capped at ``D``); more steps resolve the
        spectrum near the threshold better. On a trained 28x28 Glow the
        quadrature bias dominated the error: 1 probe x 12 steps (23 products)
        was as accurate as 2 x 10 (38 products), 1 x 16 twice as accurate.
    random_state : int, RandomState instance or None, default=None
        Seeds the probes. The *same* probes serve every sample, so a sample's
        estimate does not depend on the rest of the batch.
    jvp_method : {"central_difference", "autodiff"}, default="central_difference"
        How ``J v`` is computed: ``(g(z + h v) - g(z - h v)) / 2h`` with
        ``h = 4 eps^(1/3)`` (two plain forward passes; about 2x faster overall
        than forward-mode AD in eager PyTorch on a CPU, with relative errors of
        ~1e-4 in float32, far below the estimator's own noise), or forward-mode
        AD with ``torch.func.jvp`` (exact to rounding).
    batch_size : int or None, default=None
        Samples per pass (``None``: ``max(1, 32768 // (n_probes * D))``). The
        VJP keeps the activations of ``n_probes * batch_size`` stacked copies.
    return_log_prob : bool, default=False
        Also return the log-likelihoods from the same encoder pass.
    verbose : bool, default=False
        Show a progress bar over batches.

    Returns
    -------
    nodes : ndarray of shape (n_samples, n_probes, n_steps)
        Ritz singular values (float64); unused steps after a breakdown are 0
        with weight 0.
    weights : ndarray of shape (n_samples, n_probes, n_steps)
        Quadrature weights; they sum to one over the last axis.
    log_prob : ndarray of shape (n_samples,)
        Only if ``return_log_prob``.
    """
    fm = _FlowMap(flow)
    X = fm.validate(X)
    probes = _rademacher_probes(n_probes, _n_dims(X), random_state, fm.device, fm.dtype)
    bs = batch_size or max(1, 2**15 // (n_probes * _n_dims(X)))
    nodes, weights, lps = [], [], []
    for _, x in fm.batches(X, bs, verbose, desc="fast LID"):
        lp, z = fm.encode(x)
        s, w = _gauss_quadrature(*_golub_kahan(fm.generate, z, probes, n_steps, jvp_method))
        nodes.append(_to_numpy(s.transpose(0, 1)))
        weights.append(_to_numpy(w.transpose(0, 1)))
        lps.append(_to_numpy(lp))
    nodes, weights = np.concatenate(nodes), np.concatenate(weights)
    if return_log_prob:
        return nodes, weights, np.concatenate(lps)
    return nodes, weights


def lid_from_quadrature(nodes, weights, log_threshold, n_dims, *, smoothing=0.25):
    """LID at scale ``r`` from a Lanczos quadrature (:func:`flow_spectral_quadrature`).

    ``LID = D * mean_probes sum_j w_j h((log s_j - r) / smoothing)`` with ``h`` the
    logistic function: a step at ``sigma = exp(r)`` smoothed over ``smoothing``
    nats of ``log sigma``. A few Ritz nodes resolve a step function coarsely;
    smoothing symmetrically in ``log sigma`` trades that error for a
    second-order bias and makes the estimate continuous in the inputs.

    Parameters
    ----------
    nodes, weights : ndarray of shape (n_samples, n_probes, n_steps)
    log_threshold : float
        The scale ``r``.
    n_dims : int
        ``D``, the dimension of the flow.
    smoothing : float, default=0.25
        Width of the step in ``log sigma``; 0 gives the hard step. Too wide a
        step leaks the (usually much larger) mass below the threshold into the
        count: on a trained Glow 0.25 beat both 0 and 0.5 at every setting.

    Returns
    -------
    lid : ndarray of shape (n_samples,)
        Values in ``[0, n_dims]`` (float64).
    """
    log_s = np.log(np.maximum(np.asarray(nodes, dtype=np.float64), np.finfo(np.float64).tiny))
    if smoothing > 0:
        # logistic via tanh: no overflow warnings far from the threshold
        h = 0.5 * (1.0 + np.tanh((log_s - log_threshold) / (2.0 * smoothing)))
    else:
        h = (log_s > log_threshold).astype(np.float64)
    lid = n_dims * np.mean(np.sum(np.asarray(weights) * h, axis=-1), axis=-1)
    return np.clip(lid, 0.0, n_dims)


# -- choosing the scale r ---------------------------------------------------------------
def local_pca_dimension(X, *, n_neighbors=100, alpha=0.001, query=None):
    """Fukunaga-Olsen local PCA estimate of the intrinsic dimension around query points.

    For each query point, PCA of its ``n_neighbors`` nearest neighbours in ``X``
    (the point itself included when it belongs to ``X``); the local dimension is
    the number of covariance eigenvalues above ``alpha`` times the largest one.
    A model-free reference for calibrating the flow's LID scale: Kamkari et al.
    use scikit-dim's ``lPCA`` with the Fukunaga-Olsen rule at ``alpha = 0.001``
    (at scikit-dim's default 0.05 the estimates are implausibly small).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Reference points, in the space where LID is measured (flow space).
    n_neighbors : int or None, default=100
        Neighbourhood size, capped at ``n_samples``. ``None`` uses all points (a
        global PCA estimate). A local estimate cannot exceed ``n_neighbors - 1``.
    alpha : float, default=0.001
        Relative eigenvalue threshold.
    query : array-like of shape (n_queries, n_features) or None, default=None
        Points at which to estimate; ``None`` means every row of ``X``.

    Returns
    -------
    dims : ndarray of shape (n_queries,)
        Local dimension estimates (float64); their mean is the usual summary.
    """
    X = np.asarray(X, dtype=np.float64)
    Q = X if query is None else np.asarray(query, dtype=np.float64)
    n = X.shape[0]
    k = n if n_neighbors is None else max(2, min(int(n_neighbors), n))
    if k >= n:
        neigh = np.broadcast_to(np.arange(n), (len(Q), n))
    else:
        neigh = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(Q, return_distance=False)
    dims = np.empty(len(Q))
    step = max(1, 2**24 // (k * X.shape[1]))  # bound the stacked neighbourhoods' memory
    for start in range(0, len(Q), step):
        P = X[neigh[start : start + step]]
        P = P - P.mean(axis=1, keepdims=True)
        ev = np.linalg.svd(P, compute_uv=False) ** 2
        dims[start : start + step] = np.sum(ev > alpha * ev[:, :1], axis=1)
    return dims


def calibrate_log_threshold(lid_fn, *, method="lpca", target=None, bounds=(-100.0, 100.0),
                            breakpoints=None, n_dims=None, n_grid=2001, tol=1e-6):
    """Choose the LID scale ``r`` from in-distribution data only (Kamkari et al., Sec. 5.4).

    Parameters
    ----------
    lid_fn : callable
        ``lid_fn(r)`` returns the LIDs of a buffer of training points at scale
        ``r``; non-increasing in ``r``.
    method : {"lpca", "plateau"}, default="lpca"
        ``"lpca"``: bisection for the ``r`` at which the buffer's mean LID equals
        ``target`` (a model-free estimate, e.g. the mean of
        :func:`local_pca_dimension`). ``"plateau"``: the middle of the widest
        interval of ``r`` (on a grid of ``n_grid`` points over ``bounds``) where
        the mean LID varies by less than one, excluding values within one of 0
        and ``n_dims``.
    target : float or None, default=None
        Target mean LID, required for ``"lpca"``.
    bounds : (float, float), default=(-100.0, 100.0)
        Search interval for ``r``; narrow it to the range of ``log sigma`` of the
        spectra for a finer plateau grid.
    breakpoints : array-like or None, default=None
        The values of ``r`` where ``lid_fn`` jumps (the log singular values of an
        exact spectrum). If given, the ``"lpca"`` result is moved to the middle
        of the interval between neighbouring breakpoints whose mean LID is
        closest to ``target``, away from any buffer point's singular values.
    n_dims : int or None, default=None
        ``D``, needed for ``"plateau"``.
    n_grid : int, default=2001
    tol : float, default=1e-6
        Bisection tolerance on ``r``.

    Returns
    -------
    log_threshold : float
    """
    lo, hi = float(bounds[0]), float(bounds[1])

    def mean_lid(r):
        return float(np.mean(lid_fn(r)))

    if method == "lpca":
        if target is None:
            raise ValueError("method='lpca' needs the target mean LID.")
        if mean_lid(lo) < target:
            return lo
        if mean_lid(hi) >= target:
            return hi
        while hi - lo > tol:  # invariant: mean_lid(lo) >= target > mean_lid(hi)
            mid = 0.5 * (lo + hi)
            if mean_lid(mid) >= target:
                lo = mid
            else:
                hi = mid
        if breakpoints is None:
            return 0.5 * (lo + hi)
        # lo and hi straddle one jump: return the middle of whichever of the two
        # constant pieces around it has the mean LID closest to the target.
        bp = np.unique(np.asarray(breakpoints, dtype=np.float64).ravel())
        bp = bp[np.isfinite(bp)]
        candidates = []
        for r in (lo, hi):
            i = int(np.searchsorted(bp, r, side="right"))  # bp[i-1] <= r < bp[i]
            left = bp[i - 1] if i > 0 else None
            right = bp[i] if i < len(bp) else None
            if left is not None and right is not None:
                mid = 0.5 * (left + right)
            elif left is not None:
                mid = left + 1.0
            elif right is not None:
                mid = right - 1.0
            else:
                mid = r
            candidates.append((abs(mean_lid(mid) - target), mid))
        return float(min(candidates)[1])
    if method == "plateau":
        if n_dims is None:
            raise ValueError("method='plateau' needs n_dims.")
        grid = np.linspace(lo, hi, n_grid)
        curve = np.array([mean_lid(r) for r in grid])
        keep = (curve > 1.0) & (curve < n_dims - 1.0)  # a monotone curve: one interval
        if not keep.any():
            return 0.5 * (lo + hi)
        grid, curve = grid[keep], curve[keep]
        best, start = (0, 0), 0
        for end in range(len(curve)):  # widest window with max - min < 1 (curve decreases)
            while curve[start] - curve[end] >= 1.0:
                start += 1
            if end - start > best[1] - best[0]:
                best = (start, end)
        return float(0.5 * (grid[best[0]] + grid[best[1]]))
    raise ValueError(f"method must be 'lpca' or 'plateau'; got {method!r}.")
