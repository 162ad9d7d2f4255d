"""Base class of skood's detectors: it owns the pipeline around a flow.

validate -> split the rows the flow trains on from held-out calibration rows ->
fit the flow(s) -> one pass over the calibration rows gives per-sample
statistics -> the detector's calibration (e.g. an entropy, a density of the
statistics) -> ``offset_`` from the calibration scores, group thresholds by
bootstrap -> predict. A detector is then a small function of the gateway's
output: its per-sample statistics (``_statistics``), its point-wise score
(``_point_scores``) and, where it has a group statistic, how that reduces over a
group (``_group_scores``; by default the group mean of point-wise normality).
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..base import OffsetOutlierMixin, offset_from_scores
from ..density import TabularFlowDensity
from ..density import check_flat, discard_fitted
from ..density.diffusion import is_diffusion
from ..metrics import make_groups
from ..persistence import versioned_state
from ..utils._sklearn_compat import FlowMethods, HasMethods, Interval, StrOptions, _fit_context
from ._groups import (
    CACHED_GROUP_SIZES,
    DEFAULT_GROUP_SIZE,
    check_group_size,
    group_index,
    group_reduce,
    group_sizes,
    n_rows,
)

#: ``contamination="auto"`` flags calibration samples below this quantile of their
#: scores: the 95%-of-inliers operating point the OOD literature reports.
AUTO_CONTAMINATION = 0.05
#: Bootstrap groups drawn per group size for the group thresholds.
N_BOOTSTRAP = 1000


#: The ``flow`` constraint of detectors that need only a likelihood: a normalizing
#: flow or a diffusion model (or None: the default flow).
LIKELIHOOD_MODELS = [HasMethods(["fit", "flow_pass"]), HasMethods(["fit", "diffusion_statistics"]),
                     None]


def log_likelihood(model, X):
    """Log-likelihood of each row of ``X`` through the model's gateway: a flow's
    :meth:`flow_pass`, a diffusion model's probability-flow ODE
    (:meth:`~skood.density.DiffusionDensity.diffusion_statistics`), else the
    model's ``score_samples`` (any scikit-learn density)."""
    if is_diffusion(model):
        return model.diffusion_statistics(X, statistics=("log_prob",)).log_prob
    if hasattr(model, "flow_pass"):
        return model.flow_pass(X, latents=False).log_prob
    return np.asarray(model.score_samples(X), dtype=float)


def seeded(model, rng):
    """``model`` (``None``: a :class:`~skood.density.TabularFlowDensity`) with an
    unset ``random_state`` drawn from ``rng``, unfitted.

    A detector's ``random_state`` then makes its whole fit reproducible, the
    flow's initialisation and shuffling included (scikit-learn's meaning of an
    int ``random_state``); a model's own ``random_state`` wins, and a
    ``FrozenEstimator`` is used as it is. ``rng`` is drawn from only when a seed
    is filled in, so a model with its own seed leaves the detector's other
    random choices unchanged.
    """
    model = TabularFlowDensity() if model is None else model
    if isinstance(model, FrozenEstimator):
        return model
    params = model.get_params(deep=False)
    if "random_state" not in params or params["random_state"] is not None:
        return model
    return clone(model).set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))


def fit_flow(flow, X, rng=None):
    """Fit a clone of ``flow`` on ``X``; a ``FrozenEstimator`` is used as it is.

    ``None`` fits a :class:`~skood.density.TabularFlowDensity`, which takes any
    feature vectors (images included, as flat vectors). With ``rng``, an unset
    ``random_state`` of the flow is drawn from it (:func:`seeded`).
    """
    flow = TabularFlowDensity() if flow is None else flow
    if rng is not None:
        flow = seeded(flow, rng)
    # clone() of a FrozenEstimator returns it unchanged and its fit() is a no-op,
    # so one pre-trained flow can serve several detectors.
    return clone(flow).fit(X, None)


def split_calibration(X, calibration_fraction, random_state, frozen):
    """Split ``X`` into the rows the flow is fit on and held-out calibration rows.

    A frozen (pre-fitted) flow is not trained on ``X``, so all of ``X``
    calibrates; ``calibration_fraction=0`` calibrates on the training rows.
    """
    if frozen or calibration_fraction == 0:
        return X, X
    n = X.shape[0]
    n_cal = max(1, int(round(calibration_fraction * n)))
    if n - n_cal < 2:
        raise ValueError(
            f"calibration_fraction={calibration_fraction} of n_samples={n} leaves "
            f"{n - n_cal} sample(s) to fit the flow on; at least 2 are needed."
        )
    perm = random_state.permutation(n)
    return X[np.sort(perm[n_cal:])], X[np.sort(perm[:n_cal])]


class BaseFlowDetector(OffsetOutlierMixin, BaseEstimator):
    """The outlier-detector contract around a flow, with group tests on every detector.

    ``fit(X)`` holds out ``calibration_fraction`` of ``X`` (chosen by
    ``random_state``), fits the flow on the rest and calibrates on the held-out
    rows: the detector's own statistics (an entropy, a density of statistics),
    ``offset_`` (the ``contamination`` quantile of the calibration scores, so new
    in-distribution samples are flagged at about that rate) and the group
    thresholds. A flow passed in a :class:`sklearn.frozen.FrozenEstimator` is
    not trained on ``X``: all of ``X`` then calibrates (pass data the flow did
    not train on). ``calibration_fraction=0`` calibrates on the training rows
    themselves, which is scikit-learn's meaning of ``contamination`` (that
    fraction of the training set is flagged) but biased for flows, whose
    likelihoods are inflated on the rows they fit.

    Subclasses implement ``_statistics(X)`` (per-sample statistics of validated
    ``X`` from one pass of ``flow_``) and, unless the statistics are already the
    point-wise normality, ``_point_scores(stats)``; they may override
    ``_split(X, rng)``, ``_fit_models(X, rng)``, ``_calibrate(X_fit, X_cal, stats, rng)``,
    ``_group_scores(stats, index)`` and ``_check_groups(index)``.

    Group API (every detector): :meth:`score_groups`, :meth:`predict_groups`,
    :meth:`group_threshold`, and :meth:`sample_statistics` with
    :meth:`score_statistics` to score several groupings from one flow pass. See
    :mod:`skood.detectors._groups` for the group specifications.
    """

    _parameter_constraints = {
        "flow": [FlowMethods(), None],
        "calibration_fraction": [Interval(Real, 0, 1, closed="left")],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "random_state": ["random_state"],
    }

    # -- pickling: record the versions, warn when they differ on load -----------------
    def __getstate__(self):
        return versioned_state(super().__getstate__(), saving=True)

    def __setstate__(self, state):
        super().__setstate__(versioned_state(state, saving=False))

    # -- fitting -----------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the flow on part of ``X`` and calibrate the detector on the rest.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            In-distribution samples.
        y : ignored

        Returns
        -------
        self
        """
        X = validate_data(self, check_flat(X), dtype=[np.float64, np.float32],
                          ensure_min_samples=2)
        try:
            return self._fit(X)
        except BaseException:
            # Interrupted (KeyboardInterrupt included) or failed: no half-fitted detector.
            discard_fitted(self)
            raise

    def _fit(self, X):
        rng = check_random_state(self.random_state)
        X_fit, X_cal = self._split(X, rng)
        self._fit_models(X_fit, rng)
        X_cal = self._calibration_rows(X_cal, rng)
        stats = self._calibrate(X_fit, X_cal, self._calibration_statistics(X_fit, X_cal, rng),
                                rng)
        self.calibration_statistics_ = stats
        self.bootstrap_seed_ = int(rng.randint(np.iinfo(np.int32).max))
        self.offset_ = offset_from_scores(self._calibration_scores(stats),
                                          self._false_alarm_rate())
        self.group_thresholds_ = {
            m: self._bootstrap_threshold(m) for m in CACHED_GROUP_SIZES
            if m >= self._min_group_size()
        }
        return self

    # -- hooks -------------------------------------------------------------------------
    def _split(self, X, rng):
        """The rows the flow is fit on and the calibration rows (``calibration_fraction``)."""
        frozen = isinstance(self.flow, FrozenEstimator)
        return split_calibration(X, self.calibration_fraction, rng, frozen)

    def _fit_models(self, X, rng):
        """Fit the model(s) the statistics come from on the training rows ``X``."""
        self.flow_ = fit_flow(self.flow, X, rng)

    def _calibration_rows(self, X, rng):
        """The calibration rows whose statistics are kept (all by default)."""
        return X

    def _statistics(self, X):  # pragma: no cover - abstract
        """Per-sample statistics of validated ``X`` (first axis = samples)."""
        raise NotImplementedError

    def _calibration_statistics(self, X_fit, X_cal, rng):
        """Statistics of the calibration rows ``X_cal`` (a detector whose statistics
        compare a row with reference rows, e.g. the rows of ``X_fit``, fits them here
        and leaves the row itself out)."""
        return self._statistics(X_cal)

    def _calibrate(self, X_fit, X_cal, stats, rng):
        """Fit what the score needs from the calibration statistics; returns the
        statistics to keep for the bootstrap (by default ``stats``)."""
        return stats

    def _point_scores(self, stats):
        """Point-wise normality from per-sample statistics."""
        return stats

    def _calibration_scores(self, stats):
        """Point-wise scores of the calibration rows that set ``offset_`` (a detector
        fitted on those rows may return out-of-fold scores instead)."""
        return self._point_scores(stats)

    def _group_scores(self, stats, index):
        """Normality of each group of ``index`` (from :func:`group_index`)."""
        return group_reduce(self._point_scores(stats), index, np.mean)

    def _check_groups(self, index):
        """Reject groups the statistic cannot score (e.g. too small)."""

    def _min_group_size(self):
        return 1

    def _false_alarm_rate(self):
        return AUTO_CONTAMINATION if self.contamination == "auto" else self.contamination

    def _group_false_alarm_rate(self):
        return self._false_alarm_rate()

    def _n_bootstrap(self):
        return N_BOOTSTRAP

    # -- per-sample API ----------------------------------------------------------------
    def _validate(self, X):
        check_is_fitted(self)
        return validate_data(self, check_flat(X), dtype="numeric", reset=False)

    def sample_statistics(self, X):
        """Per-sample statistics of ``X`` from one flow pass.

        What :meth:`score_samples` and :meth:`score_groups` are computed from;
        pass them to :meth:`score_statistics` to score several groupings (e.g.
        several group sizes) without repeating the flow pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        statistics : ndarray or tuple
            Indexed by sample along the first axis (of each array).
        """
        return self._statistics(self._validate(X))

    def score_samples(self, X):
        """Normality of each sample: higher means more in-distribution.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        return np.asarray(self._point_scores(self.sample_statistics(X)), dtype=np.float64)

    def score(self, X, y=None):
        """Median log-likelihood of ``X`` under the (in-distribution) flow.

        Label-free model selection for ``GridSearchCV``: pass held-out
        in-distribution rows; higher is better. The median, not the mean,
        because per-sample log-likelihoods of a flow are heavy-tailed on the
        low side: one corrupted or unusual row can sit at ``-4e5`` nats where
        the others sit near ``-16``, and then decides a mean on its own (a
        ``-inf`` row makes every mean ``-inf``). The median moves by at most
        one order statistic per such row; it measures how well the flow fits
        the typical row, not the tail. Mean log-likelihood remains available
        as ``flow_.score(X)``.

        Likelihood is not OOD quality (that is the paradox this library is
        about): a flow with a higher median likelihood of in-distribution
        data can still rank OOD data above it. To tune for detection, pass a
        scorer from :mod:`skood.metrics` and labelled data, or use
        :class:`skood.model_selection.TunedThresholdDetectorCV`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        score : float
            Median of ``flow_.score_samples(X)``, in nats.
        """
        check_is_fitted(self)
        log_prob = np.asarray(self.flow_.score_samples(X), dtype=np.float64)
        # A NaN log-likelihood (a failed row) counts as the lowest, like -inf.
        return float(np.median(np.nan_to_num(log_prob, nan=-np.inf)))

    # -- group API ---------------------------------------------------------------------
    def score_statistics(self, statistics, groups=None, group_size=1):
        """Normality of groups of samples from their :meth:`sample_statistics`.

        Parameters
        ----------
        statistics : output of :meth:`sample_statistics`
        groups : None or array-like of shape (n_samples,) or (n_groups, m), default=None
            Group labels (one per sample) or row indices (one row per group);
            ``None`` groups consecutive chunks of ``group_size`` rows.
        group_size : int, default=1
            Group size when ``groups`` is None; must divide ``n_samples``.

        Returns
        -------
        scores : ndarray of shape (n_groups,)
        """
        check_is_fitted(self)
        index = group_index(n_rows(statistics), groups, group_size)
        self._check_groups(index)
        return np.asarray(self._group_scores(statistics, index), dtype=np.float64)

    def score_groups(self, X, groups=None, group_size=DEFAULT_GROUP_SIZE):
        """Normality of each group of samples: higher means more in-distribution.

        Detectors with a group statistic (typicality, KL divergence) use it; the
        others score a group by the mean :meth:`score_samples` of its members.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        groups : None or array-like of shape (n_samples,) or (n_groups, m), default=None
            Group labels (one per sample) or row indices (one row per group);
            ``None`` groups consecutive chunks of ``group_size`` rows.
        group_size : int, default=5
            Group size when ``groups`` is None; must divide ``n_samples``.

        Returns
        -------
        scores : ndarray of shape (n_groups,)
        """
        return self.score_statistics(self.sample_statistics(X), groups, group_size)

    def predict_groups(self, X, groups=None, group_size=DEFAULT_GROUP_SIZE):
        """+1 for in-distribution groups, -1 for OOD groups.

        A group is OOD when its score is below :meth:`group_threshold` of its size.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        groups : None or array-like of shape (n_samples,) or (n_groups, m), default=None
        group_size : int, default=5

        Returns
        -------
        labels : ndarray of shape (n_groups,)
        """
        stats = self.sample_statistics(X)
        index = group_index(n_rows(stats), groups, group_size)
        self._check_groups(index)
        scores = self._group_scores(stats, index)
        sizes = group_sizes(index)
        thresholds = {m: self.group_threshold(m) for m in np.unique(sizes)}
        return np.where(scores >= np.array([thresholds[m] for m in sizes]), 1, -1)

    def group_threshold(self, group_size=DEFAULT_GROUP_SIZE):
        """Score threshold of :meth:`predict_groups` for groups of ``group_size``.

        The false-alarm-rate quantile of the scores of bootstrap groups of
        ``group_size`` distinct calibration samples (with replacement when there
        are fewer calibration samples than that). Sizes 1 and 5 are computed in
        ``fit``; others on demand, with a generator seeded by
        ``(bootstrap_seed_, group_size)`` so they are reproducible.

        Parameters
        ----------
        group_size : int, default=5

        Returns
        -------
        threshold : float
        """
        check_is_fitted(self)
        group_size = check_group_size(group_size)
        if group_size in self.group_thresholds_:
            return self.group_thresholds_[group_size]
        return self._bootstrap_threshold(group_size)

    def _bootstrap_index(self, group_size):
        # A generator seeded by (fit seed, group size): the same groups every time.
        rng = np.random.RandomState([self.bootstrap_seed_, group_size])
        n_pool = n_rows(self.calibration_statistics_)
        if group_size > n_pool:
            return rng.randint(n_pool, size=(self._n_bootstrap(), group_size))
        return make_groups(n_pool, group_size, n_groups=self._n_bootstrap(), random_state=rng)

    def _bootstrap_threshold(self, group_size):
        index = self._bootstrap_index(group_size)
        self._check_groups(index)
        scores = self._group_scores(self.calibration_statistics_, index)
        return float(np.quantile(scores, self._group_false_alarm_rate()))
