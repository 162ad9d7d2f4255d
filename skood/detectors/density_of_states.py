"""The density of a flow's own statistics (DoSE: Morningstar et al., AISTATS 2021)."""

from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from scipy.special import log_ndtr
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.frozen import FrozenEstimator
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KernelDensity, NearestNeighbors
from sklearn.preprocessing import RobustScaler, StandardScaler
from sklearn.svm import OneClassSVM

from ..density.diffusion import is_diffusion
from ..statistics import DiffusionStatistics, FlowStatistics
from ..statistics._diffusion_statistics import DEFAULT_DIFFUSION_STATISTICS, check_statistics
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from ._base import LIKELIHOOD_MODELS, BaseFlowDetector, fit_flow, seeded
from ._robust_gaussian import RobustGaussian

_DENSITIES = ("robust", "gmm", "kde", "ocsvm")
# Folds of the cross-validation that chooses the density's complexity and gives the
# out-of-fold calibration scores behind offset_.
_N_FOLDS = 5
# Ridge on the covariance of standardised statistics: keeps exactly dependent
# statistics (e.g. a duplicated column) from making a Gaussian singular.
_REG_COVAR = 1e-3
# Reference rows of the k-NN distance statistic (memory: rows x features floats).
_MAX_REFERENCE = 5000
# A nearest neighbour this much closer than the next one is the input itself.
_DUPLICATE_RTOL = 1e-6


class DensityOfStatesDetector(BaseFlowDetector):
    """Normality = the log-density of a flow's own statistics, fitted on held-out ID data.

    Do not threshold one statistic of the flow (its likelihood): compute several
    statistics of each input from one flow pass (:class:`~skood.statistics.FlowStatistics`:
    the log-likelihood term of each scale, the compressed length of images,
    optionally a reference model's likelihood), add the distance to the nearest
    in-distribution training inputs, standardise them, and fit a density to
    their joint distribution on
    in-distribution rows the flow did not train on (Morningstar et al.'s
    "density of states"). An input is atypical when its statistics are, in
    *either* direction: an input far more likely than the in-distribution range
    (MNIST under a Fashion-MNIST flow) is as atypical as an unlikely one, which a
    likelihood threshold misses.

    The statistics are standardised by their calibration median and
    interquartile range, and the default density is a full-covariance Gaussian
    fitted robustly (the reweighted Minimum Covariance Determinant): the
    calibration rows are unlabelled, and a few atypical ones (anomalies in a
    contaminated training set, inputs on which the flow's likelihood is
    pathological, -1e4 where the rest lie near 40) would otherwise set the
    scale and shape of the density every input is judged by. A Gaussian
    mixture with the number of components chosen by cross-validated held-out
    log-likelihood (MSMA's choice for its score statistics), a kernel density
    and a one-class SVM are options. ``offset_`` is set on out-of-fold
    calibration scores, since in-sample density scores are optimistic. Which
    statistics, the standardisation and the density are choices of this
    reconstruction, exposed as parameters. The defaults keep the density
    low-dimensional (one term per scale rather than three: a density of few
    statistics is estimated well from the few hundred held-out rows there
    usually are) and add the distance statistic of classical detectors,
    measured in input space.

    On data other than images (a tabular flow's features) an isolation forest
    fitted on the flow's training rows is a second, one-sided test: a flow
    fitted on a contaminated training set learns its anomalies as modes of
    their own, while each tree of the forest sees a subsample of 256 rows, in
    which a few anomalies stay isolated. The normality is then the smaller of
    two log p-values: the density's two-sided one (the Gaussian probability of
    being further from its centre, a chi-square tail) and the forest's
    one-sided one (``log Phi(z)`` of its score standardised by the calibration
    median and interquartile range), so an input is atypical when either test
    says so. As a column of the density the forest's score would vouch for
    inputs at the data's mode and mask the too-likely direction; as a separate
    test it keeps that direction (measured on a 16-D Gaussian, inputs at the
    mode: AUROC 0.975 as without the forest, 99% flagged at a 5% false-alarm
    rate against 100% without it and 0.5% with its score as a column). With
    the forest the normality is a log p-value rather than a log-density.

    With a diffusion model (:class:`~skood.density.DiffusionDensity`) the
    statistics are its own (:class:`~skood.statistics.DiffusionStatistics`):
    by default its multiscale score norms and FLIPD (MSMA's statistics and the
    local intrinsic dimension), from one pass; ``statistics`` may name others.

    Parameters
    ----------
    flow : density estimator or None, default=None
        A skood density estimator (unfitted, or fitted in a
        :class:`sklearn.frozen.FrozenEstimator`). ``None`` fits a
        :class:`~skood.density.TabularFlowDensity`.
    statistics : {"terms", "split"}, default="terms"
        The flow's statistics (``per_scale`` of
        :class:`~skood.statistics.FlowStatistics`): ``"terms"``, one
        log-likelihood term per scale; ``"split"``, per scale its prior term,
        log-determinant and normalised latent norm (Morningstar et al.'s Glow
        statistics, three times as many columns). With a diffusion model,
        ``"terms"`` means ``("score_norms", "flipd")``, and a sequence of names
        among ``"score_norms"``, ``"flipd"``, ``"log_prob"`` and ``"path"``
        chooses (see :class:`~skood.statistics.DiffusionStatistics`).
    compression : {"auto", "png", "webp", "jpeg2000", "min"} or None, default="auto"
        Adds the compressed length of each image (``"auto"``: PNG for pixel flows,
        none for other data); see :class:`~skood.statistics.FlowStatistics`.
    reference : fitted density estimator or None, default=None
        Adds its log-likelihood as a statistic (a background or general model,
        wrapped in ``FrozenEstimator``).
    density : {"robust", "gmm", "kde", "ocsvm"}, default="robust"
        ``"robust"``: one full-covariance Gaussian whose mean and covariance are
        the reweighted Minimum Covariance Determinant estimate
        (:class:`sklearn.covariance.MinCovDet`), robust to up to half the
        calibration rows being atypical; ``"gmm"``: full-covariance Gaussian
        mixture, components chosen by cross-validation (better where the
        calibration rows are clean and the statistics multimodal); ``"kde"``:
        Gaussian kernel density, bandwidth chosen by cross-validation;
        ``"ocsvm"``: one-class SVM (``gamma="scale"``), whose score is a
        normality but not a log-density.
    n_neighbors : int or None, default=5
        Adds ``knn_distance``: the mean Euclidean distance to the
        ``n_neighbors`` nearest of the rows passed to ``fit`` (the flow's
        training rows and the calibration rows; at most 5000, the calibration
        rows first, the rest drawn by ``random_state``); an input identical to
        one of them (a calibration row, a training row scored again) leaves
        that row out. The distance statistic of classical detectors (k-NN, LOF): it
        carries small data sets, where the flow's likelihood statistics are
        noisy, and catches inputs far from every training input that a flow
        still finds likely. ``None``: left out.
    isolation_forest : "auto" or bool, default="auto"
        Adds the statistic ``isolation_score`` (last column, not part of the
        density: the one-sided second test above):
        :meth:`sklearn.ensemble.IsolationForest.score_samples` of a forest with
        scikit-learn's defaults (100 trees of 256 rows each) fitted on the
        flow's training rows, seeded by ``random_state``. Where those rows are
        also calibration rows (a frozen flow, cross-fitting) the calibration
        rows get out-of-fold scores (five folds; when cross-fitting, the flows'
        folds), as new inputs do not belong to the forest's rows; with
        ``calibration_fraction=0`` in-sample ones, as every statistic is there.
        The axis-aligned splits of a forest suit features that each mean
        something (tabular data), not pixels, where isolation forests are weak
        detectors: ``"auto"`` adds it for inputs that are not images (a flow
        with ``pixel_scale_ == "continuous"``, as the tabular flow's), not for
        pixel data, and only with ``density="robust"``, whose p-value is exact
        under its Gaussian (``True`` with another density is a ``ValueError``).
    neighbor_space : {"input", "latent"}, default="input"
        Where the distance is measured. ``"input"``: the inputs themselves
        (pixels as they are; other features standardised by the reference rows'
        mean and standard deviation), as classical k-NN detectors do.
        ``"latent"``: the flow's prior-normalised latents, where
        in-distribution data are N(0, I); a flow's latents are not a space where
        near means similar (they whiten away the large-scale structure that
        makes two images alike), so this is usually the weaker choice. Flows
        only.
    cross_fit : int or None, default=None
        Cross-fitting: split ``X`` into ``cross_fit`` folds, fit one flow on
        the rows outside each fold, and fit the density of statistics on every
        row of ``X``, each row's statistics taken from the flow that did not
        train on it (``calibration_fraction`` is then ignored). The density
        sees all rows instead of a fifth of them, and the flows are an
        ensemble: a new input's score is the mean over the flows of the
        log-density of its statistics under each. For small data sets, where
        a fifth of the rows is too few for the density; costs ``cross_fit``
        flows to train and to score with. ``offset_`` is set on the
        out-of-fold scores of single flows; the mean over flows varies less,
        so new in-distribution inputs are flagged at most at about the
        ``contamination`` rate. Not with a frozen flow, nor with
        ``neighbor_space="latent"`` (the flows' latents are different spaces).
        ``None``: one flow, held-out calibration rows.
    max_components : int, default=5
        Largest mixture tried (``"gmm"``); capped so that each component has at
        least 10 calibration rows per statistic.
    n_jobs : int or None, default=None
        Parallel jobs: the flows of the cross-fitting folds are trained in
        ``n_jobs`` joblib workers (processes by default, each with its share of
        the cores' torch threads; on a Dask cluster under
        ``joblib.parallel_config(backend="dask")``), and the compression runs in
        ``n_jobs`` threads. The results do not depend on it. ``None``: one job
        (unless in a :func:`joblib.parallel_config` context); -1: all cores.
        On one GPU, more than one training job shares its memory.
    calibration_fraction : float in [0, 1), default=0.2
        Fraction of ``X`` held out from the flow's training: the rows the density
        of statistics is fitted on (it must not see rows the flow trained on,
        whose likelihoods are inflated). Ignored for a frozen flow, which
        calibrates on all of ``X``, and when cross-fitting. 0 fits everything on all rows and sets
        ``offset_`` on their in-sample scores (biased; scikit-learn's meaning of
        ``contamination``).
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected false-alarm rate: ``offset_`` is that quantile of the
        out-of-fold calibration scores (``"auto"``: 0.05); the group thresholds
        that quantile of bootstrap group scores.
    random_state : int, RandomState instance or None, default=None
        Seeds the calibration split, the cross-validation folds, the mixture and
        the bootstrap, and each flow whose own ``random_state`` is None (the
        default flow included): an int makes the whole fit reproducible.

    Attributes
    ----------
    flow_ : density estimator
        The fitted flow (the first of ``flows_``).
    flows_ : list of density estimators
        The fitted flows: one, or one per fold when cross-fitting.
    fold_index_ : ndarray of shape (n_samples,) or None
        When cross-fitting, the fold of each row passed to ``fit``: the index
        in ``flows_`` of the flow that did not train on it.
    statistics_ : FlowStatistics or DiffusionStatistics
        The fitted statistics transformer (of ``flow_``).
    fold_statistics_ : list of FlowStatistics or DiffusionStatistics
        When cross-fitting, the transformers of the other flows (their own
        columns only; the compression and reference columns are ``statistics_``'s).
        Empty otherwise.
    statistic_names_ : list of str
        Names of the statistics' columns (``statistics_``'s, then
        ``knn_distance``, then ``isolation_score``).
    isolation_forest_ : IsolationForest or None
        The forest of the ``isolation_score`` statistic, fitted on the flow's
        training rows (all rows passed to ``fit`` when cross-fitting).
    neighbors_ : NearestNeighbors or None
        The reference points of the k-NN distance statistic.
    neighbor_scaler_ : StandardScaler or None
        Standardisation of non-pixel inputs before the distance
        (``neighbor_space="input"``).
    scaler_ : RobustScaler
        Standardisation of the statistics by their median and interquartile
        range on the calibration rows (all but ``isolation_score``).
    density_ : estimator
        The fitted density of the standardised statistics (all but
        ``isolation_score``).
    isolation_scaler_ : RobustScaler or None
        Standardisation of ``isolation_score`` by its calibration median and
        interquartile range.
    calibration_statistics_ : ndarray of shape (n_calibration, n_statistics)
        Statistics of the calibration rows (when cross-fitting, every row under
        the flow that did not train on it). :meth:`sample_statistics` of new
        inputs has shape ``(n_samples, n_statistics)``, or
        ``(n_samples, len(flows_), n_statistics)`` when cross-fitting.
    calibration_scores_ : ndarray of shape (n_calibration,)
        Out-of-fold normality of the calibration rows (sets ``offset_``).
    offset_ : float
    n_features_in_ : int

    References
    ----------
    W. Morningstar, C. Ham, A. Gallagher, B. Lakshminarayanan, A. Alemi, J. Dillon.
    "Density of States Estimation for Out-of-Distribution Detection". AISTATS 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skood.density import TabularFlowDensity
    >>> from skood.detectors import DensityOfStatesDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(400, 3))
    >>> flow = TabularFlowDensity(n_layers=2, max_epochs=5, random_state=0)
    >>> det = DensityOfStatesDetector(flow, random_state=0).fit(X)
    >>> det.statistic_names_
    ['log_lik_0', 'knn_distance', 'isolation_score']
    >>> det.predict([[6.0, 6.0, 6.0], X[1]])
    array([-1,  1])
    """

    _parameter_constraints = {
        **BaseFlowDetector._parameter_constraints,
        "flow": LIKELIHOOD_MODELS,
        "statistics": [StrOptions({"terms", "split"}), tuple, list],
        "compression": [StrOptions({"auto", "png", "webp", "jpeg2000", "min"}), None],
        "reference": [HasMethods(["flow_pass"]), None],
        "density": [StrOptions(set(_DENSITIES))],
        "n_neighbors": [Interval(Integral, 1, None, closed="left"), None],
        "isolation_forest": [StrOptions({"auto"}), "boolean"],
        "neighbor_space": [StrOptions({"input", "latent"})],
        "cross_fit": [Interval(Integral, 2, None, closed="left"), None],
        "max_components": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        flow=None,
        *,
        statistics="terms",
        compression="auto",
        reference=None,
        density="robust",
        n_neighbors=5,
        isolation_forest="auto",
        neighbor_space="input",
        cross_fit=None,
        max_components=5,
        n_jobs=None,
        calibration_fraction=0.2,
        contamination="auto",
        random_state=None,
    ):
        self.flow = flow
        self.statistics = statistics
        self.compression = compression
        self.reference = reference
        self.density = density
        self.n_neighbors = n_neighbors
        self.isolation_forest = isolation_forest
        self.neighbor_space = neighbor_space
        self.cross_fit = cross_fit
        self.max_components = max_components
        self.n_jobs = n_jobs
        self.calibration_fraction = calibration_fraction
        self.contamination = contamination
        self.random_state = random_state

    def _split(self, X, rng):
        if self.cross_fit is None:
            return super()._split(X, rng)
        if isinstance(self.flow, FrozenEstimator):
            raise ValueError(
                f"cross_fit={self.cross_fit} trains one flow per fold; a FrozenEstimator "
                "is not trained. Pass an unfitted flow, or cross_fit=None."
            )
        if self.neighbor_space == "latent" and self.n_neighbors is not None:
            raise ValueError(
                f"cross_fit={self.cross_fit} with neighbor_space='latent': each fold's flow "
                "has its own latent space, so distances across them mean nothing. Use "
                "neighbor_space='input'."
            )
        if self.cross_fit > len(X):
            raise ValueError(
                f"cross_fit={self.cross_fit} folds need at least as many rows; got "
                f"n_samples={len(X)}."
            )
        return X, X  # every row calibrates, through the flow that did not train on it

    def _fit_models(self, X, rng):
        if self.isolation_forest not in ("auto", False) and self.density != "robust":
            raise ValueError(
                "isolation_forest=True combines the density's p-value with the forest's; "
                f"density={self.density!r} has none. Use density='robust' or "
                "isolation_forest=False."
            )
        diffusion = is_diffusion(self.flow)
        if diffusion:
            # Checked before training: a wrong setting fails fast.
            if self.statistics == "split" or self.neighbor_space == "latent":
                what = ("statistics='split'" if self.statistics == "split"
                        else "neighbor_space='latent'")
                raise ValueError(
                    f"{what} needs a normalizing flow's latents; a diffusion model has "
                    "none. Use statistics='terms' or names of its statistics, and "
                    "neighbor_space='input'."
                )
            kinds = (DEFAULT_DIFFUSION_STATISTICS if self.statistics == "terms"
                     else check_statistics(self.statistics))
        elif not isinstance(self.statistics, str):
            raise ValueError(
                f"statistics={self.statistics!r} names a diffusion model's statistics; a "
                "flow takes 'terms' or 'split'."
            )
        self.fold_index_ = None
        if self.cross_fit is None:
            self.flows_ = [fit_flow(self.flow, X, rng)]
        else:
            cv = KFold(self.cross_fit, shuffle=True,
                       random_state=int(rng.randint(np.iinfo(np.int32).max)))
            folds = list(cv.split(X))
            # Seeds drawn here, not in the workers: one per fold where the flow has none.
            flows = [seeded(self.flow, rng) for _ in folds]
            # The folds' flows are independent fits: in parallel like
            # CalibratedClassifierCV's (joblib; loky processes by default, whose torch
            # threads joblib limits to cores // n_jobs).
            self.flows_ = Parallel(n_jobs=self.n_jobs)(
                delayed(fit_flow)(flow, X[train]) for flow, (train, _) in zip(flows, folds))
            self.fold_index_ = np.empty(len(X), dtype=np.intp)
            for k, (_, held_out) in enumerate(folds):
                self.fold_index_[held_out] = k
        self.flow_ = self.flows_[0]

        def transformer(model, shared):
            # The compression and the reference do not depend on the flow: the other
            # folds' transformers leave them out and borrow the first one's columns.
            kw = (dict(compression=self.compression, reference=self.reference,
                       n_jobs=self.n_jobs) if shared else dict(compression=None))
            if diffusion:
                st = DiffusionStatistics(FrozenEstimator(model), statistics=kinds, **kw)
            else:
                st = FlowStatistics(FrozenEstimator(model), per_scale=self.statistics, **kw)
            return st.fit(X[:2])  # a frozen model: fit only records the statistics' names

        self.statistics_ = transformer(self.flow_, shared=True)
        self.fold_statistics_ = [transformer(m, shared=False) for m in self.flows_[1:]]
        names = list(self.statistics_.get_feature_names_out())
        names += [] if self.n_neighbors is None else ["knn_distance"]
        self.isolation_forest_ = None
        self.statistic_names_ = names + (["isolation_score"] if self._uses_isolation() else [])

    def _uses_isolation(self):
        if self.isolation_forest == "auto":
            return self.flow_.pixel_scale_ == "continuous" and self.density == "robust"
        return bool(self.isolation_forest)

    def _fit_isolation(self, X_fit, X_cal, rng):
        """Fit the forest on the flow's training rows; returns the calibration rows'
        scores, out-of-fold where the forest's rows are the calibration rows."""
        seed = int(rng.randint(np.iinfo(np.int32).max))
        forest = IsolationForest(random_state=seed)
        self.isolation_forest_ = clone(forest).fit(X_fit)
        if X_fit is not X_cal or self._calibrates_in_sample():  # as new inputs are
            return self.isolation_forest_.score_samples(X_cal)
        if self.fold_index_ is not None:  # cross-fitted: the flows' folds
            folds = [(np.flatnonzero(self.fold_index_ != k), np.flatnonzero(self.fold_index_ == k))
                     for k in range(len(self.flows_))]
        elif len(X_cal) >= 2:
            folds = KFold(min(_N_FOLDS, len(X_cal)), shuffle=True, random_state=seed).split(X_cal)
        else:
            return self.isolation_forest_.score_samples(X_cal)
        scores = np.empty(len(X_cal))
        for train, test in folds:
            scores[test] = clone(forest).fit(X_cal[train]).score_samples(X_cal[test])
        return scores

    def _fit_neighbors(self, X_fit, X_cal, rng):
        """Reference points of the distance: every row ``fit`` saw, at most 5000
        (the calibration rows first)."""
        parts = [X_cal if len(X_cal) <= _MAX_REFERENCE else X_cal[np.sort(
            rng.choice(len(X_cal), _MAX_REFERENCE, replace=False))]]
        n_more = min(len(X_fit), _MAX_REFERENCE - len(parts[0]))
        if X_fit is not X_cal and n_more > 0:  # rows held out from the flow's rows
            parts.append(X_fit[np.sort(rng.choice(len(X_fit), n_more, replace=False))])
        ref = np.concatenate(parts)
        self.neighbor_scaler_ = None
        if self.neighbor_space == "input" and self.flow_.pixel_scale_ == "continuous":
            self.neighbor_scaler_ = StandardScaler().fit(ref)
        k = min(self.n_neighbors + 1, len(ref))  # one more: a row can leave itself out
        points = self._neighbor_points(
            ref, self._pass(ref, self.statistics_) if self._latent_knn() else None)
        self.neighbors_ = NearestNeighbors(n_neighbors=k).fit(points)

    def _latent_knn(self):
        return self.n_neighbors is not None and self.neighbor_space == "latent"

    def _pass(self, X, statistics):
        if isinstance(statistics, DiffusionStatistics):
            return statistics.model_pass(X)
        return statistics.flow_.flow_pass(X, latents=statistics.needs_latents
                                          or self._latent_knn())

    def _model_statistics(self, X, statistics):
        out = self._pass(X, statistics)
        if isinstance(statistics, DiffusionStatistics):
            return statistics.from_diffusion_output(out, X), out
        return statistics.from_flow_pass(out, X), out

    def _neighbor_points(self, X, output):
        if self.neighbor_space == "latent":
            return _flat_latents(output)
        X = np.asarray(X, dtype=np.float64)
        return X if self.neighbor_scaler_ is None else self.neighbor_scaler_.transform(X)

    def _statistics(self, X, folds=None, isolation=None):
        """Statistics of ``X``; cross-fitted, under every flow (n_samples, n_flows,
        n_statistics), or with ``folds`` (the flow of each row) under that flow only.
        ``isolation``: the rows' isolation scores where not the forest's own."""
        S, out = self._model_statistics(X, self.statistics_)
        if self.fold_statistics_:
            # The other flows' own columns; the shared ones (compression, reference) are
            # the first flow's.
            n_own = len(self.fold_statistics_[0].get_feature_names_out())
            if folds is not None:
                for k, st in enumerate(self.fold_statistics_, start=1):
                    rows = folds == k
                    if rows.any():
                        S[rows, :n_own] = self._model_statistics(X[rows], st)[0]
            else:
                S = np.stack([S] + [np.column_stack([self._model_statistics(X, st)[0],
                                                     S[:, n_own:]])
                                    for st in self.fold_statistics_], axis=1)
        if self.n_neighbors is not None:
            S = _append_column(S, self._knn_distance(X, out))
        if self.isolation_forest_ is not None:
            if isolation is None:
                isolation = self.isolation_forest_.score_samples(X)
            S = _append_column(S, isolation)
        return S

    def _knn_distance(self, X, out):
        dist = self.neighbors_.kneighbors(self._neighbor_points(X, out))[0]
        k = min(self.n_neighbors, dist.shape[1] - 1)
        # An input identical to a reference row (a calibration row, a training row
        # scored again) leaves that row out, as the calibration rows do: being a
        # training input is no evidence of being atypically close to the data.
        # (Brute-force distances of identical inputs are zero up to round-off.)
        same = dist[:, 0] <= _DUPLICATE_RTOL * dist[:, 1]
        dist = np.where(same[:, None], dist[:, 1:k + 1], dist[:, :k])
        # The distance itself, not its log: inputs with exact duplicates (common in
        # tabular data) are at distance 0, which a log sends to -inf.
        return dist.mean(1)

    def _calibration_statistics(self, X_fit, X_cal, rng):
        self.neighbors_ = self.neighbor_scaler_ = None
        if self.n_neighbors is not None:
            self._fit_neighbors(X_fit, X_cal, rng)
        isolation = None
        if self._uses_isolation():
            isolation = self._fit_isolation(X_fit, X_cal, rng)
        # Cross-fitted: each row under the flow that did not train on it.
        return self._statistics(X_cal, folds=self.fold_index_, isolation=isolation)

    def _calibrate(self, X_fit, X_cal, S, rng):
        # Median and interquartile range: a few extreme statistics (anomalies among
        # unlabelled rows, a flow's likelihood of -1e4 on one input) must not set
        # the scale every other row is measured in.
        self.isolation_scaler_ = None
        if self.isolation_forest_ is not None:
            self.isolation_scaler_ = RobustScaler(unit_variance=True).fit(S[:, -1:])
        self.scaler_ = RobustScaler(unit_variance=True).fit(self._two_sided(S))
        Z = self.scaler_.transform(self._two_sided(S))
        seed = int(rng.randint(np.iinfo(np.int32).max))
        n_folds = min(_N_FOLDS, len(Z))
        cv = KFold(n_folds, shuffle=True, random_state=seed) if n_folds >= 2 else None
        model = self._make_density(Z, cv, seed)
        self.density_ = model.fit(Z)
        self.calibration_scores_ = self._density_scores(self.density_, Z)
        if cv is not None:  # out-of-fold: in-sample density scores are optimistic
            for train, test in cv.split(Z):
                fold = clone(model).fit(Z[train])
                self.calibration_scores_[test] = self._density_scores(fold, Z[test])
        self.calibration_scores_ = self._with_isolation(self.calibration_scores_, S)
        return S

    def _two_sided(self, S):
        """The columns the density is fitted on (all but the isolation score)."""
        return S if self.isolation_forest_ is None else S[..., :-1]

    def _density_scores(self, density, Z):
        # With the forest's test, the density's log p-value: the two are on one scale.
        if self.isolation_forest_ is None:
            return density.score_samples(Z)
        return density.log_tail(Z)

    def _with_isolation(self, scores, S):
        """The smaller of the density's and the forest's log p-values."""
        if self.isolation_forest_ is None:
            return scores
        z = self.isolation_scaler_.transform(S[:, -1:])[:, 0]
        return np.minimum(scores, log_ndtr(z))

    def _make_density(self, Z, cv, seed):
        n, d = Z.shape
        if self.density == "robust":
            return RobustGaussian(reg_covar=_REG_COVAR, random_state=seed)
        if self.density == "ocsvm":
            return OneClassSVM(gamma="scale")
        if self.density == "kde":
            kde = KernelDensity()
            if cv is None:
                return kde
            grid = {"bandwidth": np.logspace(-1.5, 0.5, 9) * n ** (-1.0 / (d + 4))}
            return _best(GridSearchCV(kde, grid, cv=cv).fit(Z))
        gmm = GaussianMixture(covariance_type="full", reg_covar=_REG_COVAR, n_init=1,
                              random_state=seed)
        k_max = max(1, min(self.max_components, n // (10 * d)))
        if cv is None or k_max == 1:
            return gmm.set_params(n_components=1)
        grid = {"n_components": list(range(1, k_max + 1))}
        return _best(GridSearchCV(gmm, grid, cv=cv).fit(Z))

    def _calibrates_in_sample(self):
        """Calibrating on the training rows (``calibration_fraction=0``: scikit-learn's
        meaning of contamination, that fraction of the rows passed to fit is flagged)
        needs in-sample scores."""
        return (self.calibration_fraction == 0 and self.cross_fit is None
                and not isinstance(self.flow, FrozenEstimator))

    def _calibration_scores(self, S):
        if self._calibrates_in_sample():
            return self._point_scores(S)
        return self.calibration_scores_

    def _point_scores(self, S):
        if S.ndim == 3:  # cross-fitted: the mean over the flows of the log-density
            return np.mean([self._point_scores(S[:, k]) for k in range(S.shape[1])], axis=0)
        scores = self._density_scores(self.density_, self.scaler_.transform(self._two_sided(S)))
        return self._with_isolation(scores, S)


def _append_column(S, column):
    """``S`` with ``column`` (one value per row) as its last statistic; cross-fitted
    statistics (n_samples, n_flows, n_statistics) get it under every flow."""
    column = np.asarray(column)
    if S.ndim == 3:
        column = np.repeat(column[:, None], S.shape[1], axis=1)
    return np.concatenate([S, column[..., None]], axis=-1)


def _flat_latents(output):
    return np.concatenate([z.reshape(len(z), -1) for z in output.latents_normalized], 1)


def _best(search):
    """The unfitted best configuration of a grid search (refit on all rows by the caller)."""
    return search.estimator.set_params(**search.best_params_)
