"""Likelihood + local intrinsic dimension (Kamkari et al., ICML 2024)."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import gen_batches

from ..density.diffusion import is_diffusion
from ..flows.spectral import flow_singular_values, flow_spectral_quadrature
from ..utils._sklearn_compat import Interval, StrOptions
from ._base import LIKELIHOOD_MODELS, BaseFlowDetector
from .lid_calibration import (
    FAST_SMOOTHING,
    calibrate_log_threshold,
    lid_from_quadrature,
    lid_from_singular_values,
    local_pca_dimension,
)

# method="auto": the exact spectrum up to this many features, the fast one beyond.
# Per point on the default tabular flow (benchmarks/results/perf_lid.md, 1 thread)
# exact costs 0.4x the fast estimate at D=64, 1.3x at D=128, 3.3x at D=192, 5.4x at
# 256 and 22x at 512 (D vector-Jacobian products and a D^3 SVD against a fixed
# number of Lanczos steps): up to 128 it is at most a little dearer and has no
# quadrature error.
_AUTO_EXACT_MAX_FEATURES = 128
# Training points from which the local-PCA neighbourhoods are drawn.
_LPCA_POOL = 5000


class LIDLikelihoodDetector(BaseFlowDetector):
    """Normality from a flow's log-likelihood AND its local intrinsic dimension.

    Kamkari et al. (ICML 2024) explain the likelihood paradox geometrically: an
    OOD point can get a high density while lying on a manifold of low local
    intrinsic dimension (LID), so it has negligible probability mass and the model
    never generates it. Their rule: ``x`` is in-distribution iff
    ``log p(x) >= psi_L`` *and* ``LID_r(x) >= psi_LID``, with ``LID_r(x)`` the
    number of singular values of the generator Jacobian ``dg/dz_hat`` above
    ``exp(r)`` (:mod:`skood.flows.spectral`).

    The paper evaluates this rule with an *oracle* ROC envelope over threshold
    pairs (:func:`skood.metrics.dual_threshold_auroc`, fed by
    :meth:`likelihood_and_lid`). A deployable detector needs one score; this one
    uses a rank-space AND, a **reconstruction** that is not from the paper:
    ``score_samples(x) = min(F_L(log p(x)), F_LID(LID(x)))`` where ``F_L`` and
    ``F_LID`` are empirical CDFs (mid-ranks, linearly interpolated, with
    heavy tails beyond the reference range so that ranks are kept) of
    in-distribution reference values. Thresholding it at ``q`` flags points whose
    likelihood *or* LID is below the ``q``-quantile of in-distribution data.

    For images, use a flow with the paper's logit layer,
    ``GlowDensity(..., logit_alpha=0.05)``: LID is then measured through the
    logit's inverse (a sigmoid), which flattens the generator at saturated pixels
    such as MNIST's black background. On Fashion-MNIST -> MNIST with a small Glow
    (``tests/test_lid_real_data.py``, fast LID on 300 + 300 images) it lifts the
    LID AUROC from 0.52 to 0.82 and the rank-AND score from 0.33 to 0.70 (exact LID
    on 150 + 150 images: 0.35 -> 0.70); without it, MNIST does not get the lower
    LID. (The paper's ~0.95 came from much larger flows; not reproduced here.)

    With a diffusion model (:class:`~skood.density.DiffusionDensity`) LID is its
    FLIPD estimate (Kamkari et al., NeurIPS 2024) at the model's ``flipd_t0_``
    (fixed, or calibrated at the knee of FLIPD over ``t0`` when the model is
    fitted), and the likelihood its probability-flow ODE log-likelihood, both
    from one pass of :meth:`~skood.density.DiffusionDensity.diffusion_statistics`;
    ``method_`` is then ``"flipd"``, and the parameters of the flow estimators
    (``method``, ``log_threshold``, ``calibration``, ``lpca_*``,
    ``n_calibration``, ``chunk_size``, ``n_probes``, ``lanczos_steps``,
    ``jvp_method``, ``batch_size``) do not apply: FLIPD's own are the model's
    (``flipd_t0``, ``flipd_probes``, ``trace``).

    Parameters
    ----------
    flow : density estimator or None, default=None
        An unfitted skood density estimator (cloned and fitted in ``fit``), or a
        fitted one wrapped in :class:`sklearn.frozen.FrozenEstimator`. ``None``
        uses :class:`~skood.density.TabularFlowDensity` with default parameters,
        or a :class:`~skood.density.DiffusionDensity` (FLIPD, see above).
    method : {"auto", "exact", "fast"}, default="auto"
        ``"auto"``: ``"exact"`` for at most 128 features, ``"fast"`` above (the
        choice is stored in ``method_``). Up to 128 features the exact spectrum
        costs at most about 1.3x the fast estimate per point; beyond, its cost
        grows as ``D`` products and a ``D x D`` SVD per point (3.3x at 192
        features, 22x at 512 on the default tabular flow, measured in
        ``benchmarks/results/perf_lid.md``), so wide tabular data and images
        (784 features for 28x28) get the fast estimate.
        ``"exact"``: the full Jacobian (``D`` reverse-mode products, computed
        once per point: the scale calibration only re-reads the cached singular
        values) and its singular values, as in the paper; integer LIDs.
        Affordable for tabular data and small images (seconds per 28x28 image
        on a CPU).
        ``"fast"``: matrix-free stochastic Lanczos quadrature
        (:func:`~skood.flows.spectral.flow_spectral_quadrature`), ``n_probes * lanczos_steps``
        Jacobian-vector and vector-Jacobian products per sample, with a step
        smoothed over 0.25 nats of ``log sigma``: about 45 log-likelihood
        evaluations per sample with the defaults, at a mean error of about 2 % of
        ``D`` against the exact LID on a 28x28 Glow (measured in
        ``benchmarks/results/lid_bench.md``; the error is mostly quadrature bias,
        which more ``lanczos_steps`` reduce faster than more probes).
    log_threshold : "auto" or float, default="auto"
        The scale ``r`` (singular values above ``exp(r)`` count). A float fixes
        it (Kamkari et al.'s guide uses -3 for (F)MNIST flows); ``"auto"``
        calibrates it on in-distribution data with ``calibration``.
    calibration : {"lpca", "plateau"}, default="lpca"
        With ``log_threshold="auto"``: ``"lpca"`` picks ``r`` so that the mean
        LID of ``n_calibration`` training points equals the mean Fukunaga-Olsen
        local-PCA dimension of those points in flow space
        (:func:`~skood.detectors.lid_calibration.local_pca_dimension`, ``lpca_neighbors``,
        ``lpca_alpha``), the paper's procedure; ``"plateau"`` takes the middle of
        the widest range of ``r`` over which their mean LID changes by less than 1.
    lpca_neighbors : int or None, default=100
        Neighbourhood size of the local PCA (``None``: global PCA).
    lpca_alpha : float, default=0.001
        Fukunaga-Olsen threshold: eigenvalues above ``lpca_alpha`` times the
        largest count.
    n_calibration : int, default=128
        Training points used to calibrate ``r`` (the paper's buffer size).
    n_reference : int, default=512
        At most this many in-distribution points fit the two empirical CDFs and
        ``offset_`` (all of them if there are fewer): LID is expensive, so the
        reference set is a random subsample of the calibration rows.
    chunk_size : int or None, default=128
        ``"exact"``: Jacobian rows per pass (memory vs speed).
    n_probes : int, default=1
        ``"fast"``: Rademacher probes (the same for every sample).
    lanczos_steps : int, default=12
        ``"fast"``: Lanczos (Golub-Kahan) steps per probe.
    jvp_method : {"central_difference", "autodiff"}, default="central_difference"
        ``"fast"``: how Jacobian-vector products are computed (two forward
        passes, or forward-mode AD at about twice the cost); see
        :func:`~skood.lid.flow_spectral_quadrature`.
    batch_size : int or None, default=None
        Samples per pass (``None``: about ``max(64, 2**18 / n_features) //
        chunk_size`` for ``"exact"``, ``max(1, 32768 // (n_probes * n_features))``
        for ``"fast"``).
    calibration_fraction : float in [0, 1), default=0.2
        Fraction of ``X`` held out from the flow's training to calibrate the
        detector (``offset_``, group thresholds, the LID scale and the two CDFs). Ignored for a frozen
        flow, which calibrates on all of ``X``; 0 calibrates on the training rows.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected false-alarm rate: ``offset_`` is that quantile of the
        calibration scores (``"auto"``: 0.05), and the group thresholds that
        quantile of bootstrap group scores.
    random_state : int, RandomState instance or None, default=None
        Seeds the calibration split and the bootstrap, the subsampling of
        reference and calibration points, the probes of ``"fast"`` and the flow
        where its own ``random_state`` is None (the default flow included).
    verbose : bool, default=False
        Progress bars over the LID batches.

    Attributes
    ----------
    flow_ : density estimator
        The fitted flow.
    method_ : {"exact", "fast", "flipd"}
        The method used: ``method``, or what ``"auto"`` chose for ``n_features_in_``;
        ``"flipd"`` for a diffusion model.
    log_threshold_ : float or None
        The scale ``r`` in use (None for a diffusion model).
    flipd_t0_ : float or None
        The diffusion model's FLIPD time (None for a flow).
    calibration_target_ : float or None
        The local-PCA dimension that ``r`` was calibrated to (``"lpca"`` only).
    reference_log_prob_ : ndarray of shape (n_reference_samples,)
        Sorted in-distribution log-likelihoods behind ``F_L``.
    reference_lid_ : ndarray of shape (n_reference_samples,)
        Sorted in-distribution LIDs behind ``F_LID``.
    offset_ : float
        Threshold on ``score_samples``: ``decision_function = score_samples - offset_``.
    n_features_in_ : int

    See Also
    --------
    skood.flows.spectral.flow_singular_values : exact Jacobian spectra.
    skood.flows.spectral.flow_spectral_quadrature : the matrix-free estimator.
    skood.metrics.dual_threshold_auroc : the paper's oracle AUROC.

    References
    ----------
    H. Kamkari, B. L. Ross, J. C. Cresswell, A. L. Caterini, R. G. Krishnan and
    G. Loaiza-Ganem. "A Geometric Explanation of the Likelihood OOD Detection
    Paradox". ICML 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from skood.density import TabularFlowDensity
    >>> from skood.detectors import LIDLikelihoodDetector
    >>> X = np.random.RandomState(0).normal(size=(200, 3))
    >>> flow = TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=2, random_state=0)
    >>> det = LIDLikelihoodDetector(flow, random_state=0).fit(X)
    >>> det.likelihood_and_lid(X[:2]).shape
    (2, 2)
    >>> det.predict(X[:4]).shape
    (4,)
    """

    _parameter_constraints = {
        **BaseFlowDetector._parameter_constraints,
        "flow": LIKELIHOOD_MODELS,
        "method": [StrOptions({"auto", "exact", "fast"})],
        "log_threshold": [StrOptions({"auto"}), Interval(Real, -np.inf, np.inf, closed="neither")],
        "calibration": [StrOptions({"lpca", "plateau"})],
        "lpca_neighbors": [Interval(Integral, 2, None, closed="left"), None],
        "lpca_alpha": [Interval(Real, 0, 1, closed="neither")],
        "n_calibration": [Interval(Integral, 1, None, closed="left")],
        "n_reference": [Interval(Integral, 2, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_probes": [Interval(Integral, 1, None, closed="left")],
        "lanczos_steps": [Interval(Integral, 1, None, closed="left")],
        "jvp_method": [StrOptions({"central_difference", "autodiff"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        flow=None,
        *,
        method="auto",
        log_threshold="auto",
        calibration="lpca",
        lpca_neighbors=100,
        lpca_alpha=0.001,
        n_calibration=128,
        n_reference=512,
        chunk_size=128,
        n_probes=1,
        lanczos_steps=12,
        jvp_method="central_difference",
        batch_size=None,
        calibration_fraction=0.2,
        contamination="auto",
        random_state=None,
        verbose=False,
    ):
        self.flow = flow
        self.method = method
        self.log_threshold = log_threshold
        self.calibration = calibration
        self.lpca_neighbors = lpca_neighbors
        self.lpca_alpha = lpca_alpha
        self.n_calibration = n_calibration
        self.n_reference = n_reference
        self.chunk_size = chunk_size
        self.n_probes = n_probes
        self.lanczos_steps = lanczos_steps
        self.jvp_method = jvp_method
        self.batch_size = batch_size
        self.calibration_fraction = calibration_fraction
        self.contamination = contamination
        self.random_state = random_state
        self.verbose = verbose

    # -- the pipeline's hooks ---------------------------------------------------------
    def _calibration_rows(self, X, rng):
        self.method_ = self.method
        if is_diffusion(self.flow_):
            self.method_ = "flipd"
        elif self.method == "auto":
            self.method_ = "exact" if self.n_features_in_ <= _AUTO_EXACT_MAX_FEATURES else "fast"
        if len(X) > self.n_reference:
            X = X[np.sort(rng.choice(len(X), self.n_reference, replace=False))]
        self.probe_seed_ = int(rng.randint(np.iinfo(np.int32).max))
        return X

    def _statistics(self, X):
        """Log-likelihoods and the spectral summary LID is read from, in one pass."""
        return self._spectra(X)

    def _calibrate(self, X_fit, X_cal, stats, rng):
        log_prob, spectra = stats
        buffer = np.sort(rng.permutation(len(log_prob))[: self.n_calibration])
        self.calibration_target_ = None
        self.flipd_t0_ = None
        if self.method_ == "flipd":
            self.log_threshold_ = None
            self.flipd_t0_ = float(self.flow_.flipd_t0_)
        elif self.log_threshold == "auto":
            self.log_threshold_ = self._calibrate_scale(X_fit, X_cal[buffer], stats, buffer,
                                                        rng)
        else:
            self.log_threshold_ = float(self.log_threshold)
        self.reference_log_prob_ = np.sort(log_prob)
        self.reference_lid_ = np.sort(self._lid(spectra, self.log_threshold_))
        return stats

    def _point_scores(self, stats):
        log_prob, spectra = stats
        return self._combine(log_prob, self._lid(spectra, self.log_threshold_))

    # -- LID machinery ---------------------------------------------------------------
    def _spectra(self, X):
        """Log-likelihoods and the spectral summary LID is read from, in one pass."""
        if self.method_ == "flipd":
            out = self.flow_.diffusion_statistics(X, statistics=("log_prob", "flipd"))
            return out.log_prob, out.flipd
        if self.method_ == "exact":
            sv, log_prob = flow_singular_values(
                self.flow_, X, chunk_size=self.chunk_size, batch_size=self.batch_size,
                return_log_prob=True, verbose=self.verbose,
            )
            return log_prob, sv
        nodes, weights, log_prob = flow_spectral_quadrature(
            self.flow_, X, n_probes=self.n_probes, n_steps=self.lanczos_steps,
            random_state=self.probe_seed_, jvp_method=self.jvp_method,
            batch_size=self.batch_size,
            return_log_prob=True, verbose=self.verbose,
        )
        return log_prob, (nodes, weights)

    def _lid(self, spectra, log_threshold):
        if self.method_ == "flipd":
            return spectra
        if self.method_ == "exact":
            return lid_from_singular_values(spectra, log_threshold)
        nodes, weights = spectra
        return lid_from_quadrature(
            nodes, weights, log_threshold, self.n_features_in_, smoothing=FAST_SMOOTHING
        )

    def _calibrate_scale(self, X_fit, X_buffer, stats, buffer, rng):
        spectra = _take(stats[1], buffer)
        if self.method_ == "exact":
            log_s = np.log(np.maximum(spectra, np.finfo(np.float64).tiny))
            breakpoints, pad = log_s, 1.0
        else:
            nodes, weights = spectra
            log_s = np.log(nodes[weights > 0]) if np.any(weights > 0) else np.zeros(1)
            breakpoints, pad = None, 1.0 + 10 * FAST_SMOOTHING
        finite = log_s[np.isfinite(log_s)]
        bounds = (finite.min() - pad, finite.max() + pad) if finite.size else (-100.0, 100.0)

        def lid_fn(r):
            return self._lid(spectra, r)

        if self.calibration == "plateau":
            return calibrate_log_threshold(
                lid_fn, method="plateau", bounds=bounds, n_dims=self.n_features_in_
            )
        pool = X_fit
        if len(pool) > _LPCA_POOL:
            pool = pool[rng.choice(len(pool), _LPCA_POOL, replace=False)]
        self.calibration_target_ = float(np.mean(local_pca_dimension(
            _flow_space(self.flow_, pool), n_neighbors=self.lpca_neighbors,
            alpha=self.lpca_alpha, query=_flow_space(self.flow_, X_buffer),
        )))
        return calibrate_log_threshold(
            lid_fn, method="lpca", target=self.calibration_target_, bounds=bounds,
            breakpoints=breakpoints,
        )

    def _combine(self, log_prob, lid):
        return np.minimum(
            _ecdf(log_prob, self.reference_log_prob_), _ecdf(lid, self.reference_lid_)
        )

    # -- public API --------------------------------------------------------------------
    def likelihood_and_lid(self, X):
        """Log-likelihood and LID of each sample (one encoder pass).

        Feed the columns to :func:`skood.metrics.dual_threshold_auroc` for the
        paper's dual-threshold evaluation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        pairs : ndarray of shape (n_samples, 2)
            Column 0: ``log p(x)`` (nats, the flow's data space); column 1:
            ``LID_r(x)`` at ``r = log_threshold_`` (FLIPD at ``flipd_t0_`` for
            a diffusion model).
        """
        log_prob, spectra = self.sample_statistics(X)
        return np.column_stack([log_prob, self._lid(spectra, self.log_threshold_)])


def _flow_space(flow, X, chunk=1024):
    """Points in the generator's output space (the local-PCA target's space)."""
    X = flow.validate_input(X)
    return np.concatenate([
        flow.to_flow_space(flow.to_tensor(X[rows])).detach().cpu().double().numpy()
        for rows in gen_batches(len(X), chunk)
    ])


def _take(spectra, idx):
    if isinstance(spectra, tuple):
        return tuple(s[idx] for s in spectra)
    return spectra[idx]


def _ecdf(values, reference):
    """Mid-rank empirical CDF of sorted ``reference`` at ``values``, made continuous.

    Linear between the distinct reference values (so a value perturbed by
    rounding moves its score by as little), and outside the reference range a
    tail ``p_min / (1 + distance / scale)`` (``scale``: the reference's standard
    deviation, or 1) that keeps the order of far-away points instead of tying
    them at 0 or 1. Non-finite values (NaN log-likelihood) get 0.
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=-np.inf)
    support, counts = np.unique(reference, return_counts=True)
    n = counts.sum()
    p = (np.cumsum(counts) - 0.5 * counts) / n
    scale = float(np.std(reference)) or 1.0
    out = np.interp(values, support, p)
    below, above = values < support[0], values > support[-1]
    with np.errstate(invalid="ignore", over="ignore"):
        out[below] = p[0] / (1.0 + (support[0] - values[below]) / scale)
        out[above] = 1.0 - (1.0 - p[-1]) / (1.0 + (values[above] - support[-1]) / scale)
    return out
