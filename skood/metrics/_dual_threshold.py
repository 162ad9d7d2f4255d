"""Oracle AUROC of two thresholds, on log-likelihood and on LID."""

from __future__ import annotations

import numpy as np

from ._ranking import _as_1d_scores, _resolve_labels

def _max_of_lines_integral(level, intercepts, slopes):
    """Integral over ``[0, 1]`` of ``max(level, max_i intercepts[i] + slopes[i] * x)``.

    ``slopes`` are > 0. Walks the upper envelope from ``x = 0``: the next line
    on the envelope is the one of larger slope that overtakes the current one
    first.
    """
    c = np.r_[level, intercepts]
    s = np.r_[0.0, slopes]
    cur = np.lexsort((s, c))[-1]  # highest at x = 0, steepest among ties
    x, total = 0.0, 0.0
    while True:
        steeper = np.flatnonzero(s > s[cur])
        if steeper.size == 0:
            break
        cross = np.maximum((c[cur] - c[steeper]) / (s[steeper] - s[cur]), x)
        x_next = cross.min()
        if x_next >= 1.0:
            break
        tied = steeper[cross == x_next]
        nxt = tied[np.argmax(s[tied])]
        total += (x_next - x) * (c[cur] + s[cur] * (x + x_next) / 2)
        x, cur = x_next, nxt
    return total + (1.0 - x) * (c[cur] + s[cur] * (x + 1.0) / 2)


def _unit_pieces(f0, t0, f1, t1, envelope):
    """Cut segments into unit OOD-count intervals; keep pieces ending above the step.

    Returns the interval ``k`` of each kept piece, its value at ``k`` and its slope.
    """
    spans = f1 - f0
    slope = (t1 - t0) / spans
    seg = np.repeat(np.arange(f0.size), spans)
    offset = np.arange(seg.size) - np.repeat(np.cumsum(spans) - spans, spans)
    k = f0[seg] + offset
    u = t0[seg] + slope[seg] * offset
    above = u + slope[seg] > envelope[k]
    return k[above], u[above], slope[seg][above]


def _diagonal_excess(f0, t0, f1, t1, envelope, chunk=1 << 20):
    """Area that diagonal ROC segments add above the step envelope, in count units.

    Parameters
    ----------
    f0, t0, f1, t1 : ndarray of int
        Segment end points in (OOD count, ID count) units, ``f0 < f1``, ``t0 < t1``.
    envelope : ndarray of shape (n_ood + 1,)
        The step envelope: best ID count among vertices with OOD count <= k.
    chunk : int
        Rough bound on the number of unit pieces expanded at once.

    Returns
    -------
    float
        The area between ``max(step, segments)`` and the step.
    """
    # A segment that ends below the envelope at its start is never above it.
    keep = t1 > envelope[f0]
    f0, t0, f1, t1 = f0[keep], t0[keep], f1[keep], t1[keep]
    if f0.size == 0:
        return 0.0
    cum = np.cumsum(f1 - f0)
    cuts = np.searchsorted(cum, np.arange(chunk, cum[-1], chunk), side="right")
    edges = np.unique(np.r_[0, cuts, f0.size])
    pieces = [
        _unit_pieces(f0[i:j], t0[i:j], f1[i:j], t1[i:j], envelope)
        for i, j in zip(edges[:-1], edges[1:])
    ]
    k, u, s = (np.concatenate(p) for p in zip(*pieces))
    if k.size == 0:
        return 0.0
    order = np.argsort(k, kind="stable")
    k, u, s = k[order], u[order], s[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, k.size])
    g = envelope[k[starts]].astype(np.float64)
    # Closed form for an interval with one piece above the step.
    single = sizes == 1
    u1, s1, g1 = u[starts[single]], s[starts[single]], g[single]
    x0 = np.clip((g1 - u1) / s1, 0.0, 1.0)  # where the piece rises above the step
    excess = float(np.sum((1.0 - x0) * ((np.maximum(u1, g1) + u1 + s1) / 2 - g1)))
    for i in np.flatnonzero(~single):
        sl = slice(starts[i], starts[i] + sizes[i])
        excess += _max_of_lines_integral(g[i], u[sl], s[sl]) - g[i]
    return excess


def _run_ends(values):
    """Mask of the last element of each run of equal consecutive values."""
    last = np.empty(values.shape[0], dtype=bool)
    np.not_equal(values[1:], values[:-1], out=last[:-1])
    last[-1] = True
    return last


def _envelope_auc(loglik, lid, is_id):
    """Area under the upper envelope of the ROC curves of ``(l >= a) & (d >= b)``."""
    n_id = int(is_id.sum())
    n_ood = is_id.shape[0] - n_id
    order = np.argsort(loglik, kind="stable")[::-1]  # decreasing log-likelihood
    l_sorted, d_sorted, id_sorted = loglik[order], lid[order], is_id[order]
    l_ties = bool(np.any(l_sorted[1:] == l_sorted[:-1]))
    # best[k]: highest ID count of a vertex with exactly k OOD samples accepted.
    best = np.full(n_ood + 1, -1, dtype=np.int64)
    best[0] = 0  # (0, 0): accept nothing
    best[n_ood] = n_id  # (1, 1): accept everything
    diagonals = []
    for b in np.unique(lid):
        mask = d_sorted >= b
        ids = id_sorted[mask]
        # ROC vertices of the log-likelihood on {d >= b}: one per distinct
        # value of l, after its whole tie group is accepted.
        n_in = np.cumsum(ids)
        n_out = np.arange(1, ids.shape[0] + 1) - n_in
        if l_ties:
            ends = _run_ends(l_sorted[mask])
            n_in, n_out = n_in[ends], n_out[ends]
        top = _run_ends(n_out)  # the highest vertex of each OOD count
        best[n_out[top]] = np.maximum(best[n_out[top]], n_in[top])
        if l_ties:
            # A tie group holding ID and OOD samples gives a diagonal segment,
            # as in roc_auc_score (a random split of the group).
            f, t = np.concatenate([[0], n_out]), np.concatenate([[0], n_in])
            diag = (f[1:] > f[:-1]) & (t[1:] > t[:-1])
            if diag.any():
                diagonals.append(np.stack([f[:-1][diag], t[:-1][diag], f[1:][diag], t[1:][diag]]))
    envelope = np.maximum.accumulate(best)
    area = float(envelope[:-1].sum())  # step function, exact in integer counts
    if diagonals:
        area += _diagonal_excess(*np.concatenate(diagonals, axis=1), envelope)
    return area / (n_id * n_ood)


def dual_threshold_auroc(loglik, lid, y_true, *, outlier_label=None):
    """Oracle AUROC of two thresholds, on log-likelihood and on LID.

    The "dual threshold" envelope of Kamkari et al. (ICML 2024, "A geometric
    explanation of the likelihood OOD detection paradox"). Each sample has a
    log-likelihood ``l`` and a local intrinsic dimension estimate ``d``; the
    classifier with thresholds ``(a, b)`` declares a sample in-distribution
    iff ``l >= a`` and ``d >= b``. Its TPR is the fraction of ID samples
    accepted and its FPR the fraction of OOD samples accepted. The result is
    the area under the upper envelope of all these operating points: for each
    FPR ``f``, the best TPR reachable with FPR ``<= f``.

    This is an **oracle upper bound**, not a deployable detector: every
    operating point picks its own pair of thresholds using the test labels.
    Use it to judge whether (likelihood, LID) jointly separate ID from OOD,
    not to compare with single-score detectors as an equal.

    Computation is exact. For each distinct LID value ``b`` the samples with
    ``d >= b`` are swept by decreasing ``l``, giving the ROC curve of the
    likelihood restricted to them (equal log-likelihoods form one threshold,
    so a tie group of ID and OOD samples gives a diagonal segment, exactly as
    in :func:`sklearn.metrics.roc_auc_score`); the envelope of all these
    curves, with (0, 0) and (1, 1), is integrated with linear interpolation.
    Without such ties the curves are staircases and the envelope is the
    running maximum of the pooled operating points. Cost:
    ``O(n log n + n_distinct_lid * n)`` time and ``O(n)`` memory (about a
    second for 5000 samples with continuous LID values).

    Properties: the result is at least the AUROC of the log-likelihood alone
    and equals it when the LID is constant; it is at least the AUROC of the
    LID alone when the LID has no ties between ID and OOD samples; it lies in
    [0, 1]. Ties in the LID are not split: a threshold on ``d`` keeps or drops
    a whole tie group, whereas ``roc_auc_score`` credits a tie with a random
    split (a constant LID has AUROC 0.5, while the result is then the AUROC
    of the log-likelihood, which may be lower).

    Parameters
    ----------
    loglik : array-like of shape (n_samples,)
        Log-likelihood of each sample (higher = more in-distribution);
        ``-inf`` is allowed.
    lid : array-like of shape (n_samples,)
        LID estimate of each sample; higher is taken as more
        in-distribution (pass ``-lid`` for the opposite orientation).
    y_true : array-like of shape (n_samples,)
        ``+1`` ID / ``-1`` OOD, or see ``outlier_label``.
    outlier_label : scalar, default=None
        The value of ``y_true`` that means OOD; see :func:`auroc`.

    Returns
    -------
    float
        The oracle AUROC, in [0, 1].

    Raises
    ------
    ValueError
        For invalid labels (see :func:`auroc`), NaN values or arrays of
        different lengths.

    Examples
    --------
    >>> from skood.metrics import auroc, dual_threshold_auroc
    >>> loglik = [-1.0, -2.0, -1.5, -3.0]
    >>> lid = [5.0, 4.0, 1.0, 5.0]
    >>> y_true = [1, 1, -1, -1]
    >>> auroc(y_true, loglik)  # the likelihood alone ranks the first OOD sample too high
    0.75
    >>> dual_threshold_auroc(loglik, lid, y_true)  # lid >= 4 and loglik >= -2 separate them
    1.0
    """
    loglik = _as_1d_scores(loglik, "loglik")
    lid = _as_1d_scores(lid, "lid")
    if lid.shape != loglik.shape:
        raise ValueError(
            f"loglik and lid have different lengths: {loglik.shape[0]} != {lid.shape[0]}."
        )
    is_id = _resolve_labels(y_true, loglik.shape[0], outlier_label)
    return _envelope_auc(loglik, lid, is_id)
