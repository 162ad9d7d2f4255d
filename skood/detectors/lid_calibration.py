"""Local intrinsic dimension from Jacobian spectra, and the choice of its scale.

The spectra come from :mod:`skood.flows.spectral`. The LID at scale ``r`` is
the number of singular values of the generator Jacobian above ``exp(r)``
(Kamkari et al., ICML 2024). The scale is chosen without OOD data by
:func:`calibrate_log_threshold`: the mean LID of a training buffer equals a
model-free local-PCA estimate (:func:`local_pca_dimension`), or the middle of
the widest plateau of the mean-LID curve.
"""

import math

import numpy as np
from sklearn.neighbors import NearestNeighbors

__all__ = [
    "FAST_SMOOTHING",
    "calibrate_log_threshold",
    "lid_from_quadrature",
    "lid_from_singular_values",
    "local_pca_dimension",
]


#: Width (nats of log sigma) of the smoothed step of the fast estimator
#: (:func:`lid_from_quadrature`): 0.25 gave the smallest error against exact LID for
#: every setting and scale measured in benchmarks/results/lid_bench.md (0.5 adds a
#: bias, 0 the full quadrature error).
FAST_SMOOTHING = 0.25


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
def lid_from_quadrature(nodes, weights, log_threshold, n_dims, *, smoothing=FAST_SMOOTHING):
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
