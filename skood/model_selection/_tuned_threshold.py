"""Tune an outlier detector's threshold by cross-validation on labelled data."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import column_or_1d
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from ..base import OffsetOutlierMixin
from ..metrics import inlier_mask
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions, _fit_context
from ._threshold_metrics import (
    BUILTIN_SCORINGS,
    builtin_metric,
    candidate_thresholds,
    threshold_scores,
)

#: At most this many relative thresholds on the curve of ``cv_results_``.
_MAX_CURVE_POINTS = 500


def default_offset(detector):
    """The fitted ``offset_`` of a detector (of a pipeline's last step), or None."""
    while isinstance(detector, Pipeline):
        detector = detector.steps[-1][1]
    offset = getattr(detector, "offset_", None)
    return None if offset is None else float(offset)


class TunedThresholdDetectorCV(OffsetOutlierMixin, MetaEstimatorMixin, BaseEstimator):
    """An outlier detector whose threshold is tuned by cross-validation on labels.

    The outlier-detection counterpart of scikit-learn's
    :class:`~sklearn.model_selection.TunedThresholdClassifierCV`. The scores of
    ``detector`` are kept; only the threshold ``offset_`` (``predict`` flags
    ``score_samples(X) < offset_``) is chosen, to maximise ``scoring`` on
    labelled data:

    1. in each split of ``cv`` a clone of ``detector`` is fit on the training
       fold's **inliers only** (a detector is a model of normal data) and scores
       the validation fold, inliers and outliers;
    2. the candidate thresholds are the validation scores (midway between
       consecutive distinct scores); the fold's threshold is the best candidate
       (the lowest one among ties);
    3. each fold's threshold is expressed **relative to that fold's own
       reference**, by default the fitted detector's own ``offset_`` (its
       ``contamination`` threshold): ``fold_thresholds_ - fold_references_``.
       The final relative threshold is the **median** over the folds;
    4. ``detector`` is refit on all the inliers and ``offset_`` = its reference
       + the relative threshold.

    Why relative: the refit detector is a different fit, on more rows, and
    its raw scores need not sit where a fold's did; a flow's log-likelihoods,
    for instance, move by nats between fits. Its own default offset is a
    quantile of its held-out scores for skood's detectors (``contamination``,
    the 5% false-alarm point by default), so "so many nats below the 5%
    point" transfers between fits where a raw log-likelihood does not. For
    scikit-learn's IsolationForest and LOF, whose default ``offset_`` is a
    constant (-0.5, -1.5), both references agree. Why the median: with a few
    outliers per validation fold a fold's best threshold is noisy and may
    jump to an isolated validation score; the median ignores one such fold,
    the mean does not.

    **Without labels** (``fit(X)``, ``y=None``, or ``y`` without a single
    outlier, as in a pipeline that passes its targets along) the threshold is
    not tuned: the detector is fit on all of ``X`` and ``offset_`` is its own
    offset (a warning is issued when ``y`` was given but holds no outlier).

    Parameters
    ----------
    detector : estimator
        An unfitted outlier detector with scikit-learn's conventions
        (``fit``, ``score_samples`` = normality, and a fitted ``offset_``):
        any skood detector, scikit-learn's ``IsolationForest``,
        ``LocalOutlierFactor(novelty=True)``, a pipeline ending in one, or
        :class:`skood.adapters.PyODAdapter`.
    scoring : {"f1", "balanced_accuracy", "tpr_at_fpr"} or callable, default="f1"
        What the threshold maximises:

        - ``"f1"``: F1 score of the outlier class;
        - ``"balanced_accuracy"``: mean of the outlier detection rate and the
          inlier acceptance rate;
        - ``"tpr_at_fpr"``: the fraction of outliers flagged, among the
          thresholds whose false-alarm rate (inliers flagged) is at most
          ``max_fpr`` (0 for thresholds above that budget);
        - a callable ``metric(y_true, y_pred) -> float``, greater is better,
          such as :func:`sklearn.metrics.f1_score` with ``pos_label=-1``:
          it receives labels in the encoding of ``y`` (``+1/-1``, or
          ``outlier_label`` and the other value of ``y``). It is called once per
          candidate threshold.
    max_fpr : float in [0, 1), default=0.05
        False-alarm budget of ``scoring="tpr_at_fpr"``; ignored otherwise.
    cv : int, cross-validation generator or iterable, default=None
        ``None``: ``StratifiedKFold(5, shuffle=True, random_state=random_state)``;
        an int: that many stratified shuffled folds; a splitter or an iterable
        of (train, validation) indices is used as given (its ``split`` gets the
        binary "is outlier" labels). Every validation fold needs inliers and
        outliers.
    threshold_reference : {"auto", "offset", "score"}, default="auto"
        What a fold's threshold is expressed relative to: ``"offset"``, the
        fitted detector's ``offset_``; ``"score"``, nothing (raw scores);
        ``"auto"``: ``"offset"`` when the detector has one, else ``"score"``.
    outlier_label : scalar, default=None
        The value of ``y`` that means outlier; needed unless ``y`` uses
        scikit-learn's ``+1`` (inlier) / ``-1`` (outlier), e.g.
        ``outlier_label=1`` for 0/1 labels where 1 = outlier (PyOD, ADBench).
    random_state : int, RandomState instance or None, default=None
        Seeds the default cross-validation splits.

    Attributes
    ----------
    estimator_ : estimator
        ``detector`` refit on all the inliers of ``X`` (on all of ``X`` without labels).
    offset_ : float
        The tuned threshold: ``decision_function = score_samples - offset_``.
    best_threshold_ : float
        ``offset_``.
    relative_threshold_ : float or None
        The median relative threshold of the folds; None without labels.
    fold_thresholds_ : ndarray of shape (n_splits,) or None
        Each fold's chosen threshold, on that fold's score scale.
    fold_references_ : ndarray of shape (n_splits,) or None
        Each fold's reference (its detector's ``offset_``, or 0).
    threshold_reference_ : str
        ``"offset"`` or ``"score"``, as resolved from ``threshold_reference``.
    best_score_ : float or None
        Mean over the folds of ``scoring`` at each fold's reference + the final
        relative threshold (the cross-validated score of the chosen rule).
    cv_results_ : dict or None
        The curve of the mean CV score against the threshold: ``"thresholds"``
        (on the refit detector's scale), ``"relative_thresholds"``,
        ``"mean_score"``, ``"std_score"`` and ``"split<k>_score"``, arrays of
        equal length (at most 500 points). None without labels.
    n_features_in_ : int

    See Also
    --------
    skood.conformal.ConformalDetector : a label-free threshold with a
        guaranteed false-alarm rate.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skood.model_selection import TunedThresholdDetectorCV
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(0, 1, (300, 2)), rng.normal(0, 5, (30, 2))]
    >>> y = np.r_[np.ones(300, int), -np.ones(30, int)]   # -1 = outlier
    >>> det = TunedThresholdDetectorCV(IsolationForest(random_state=0), random_state=0)
    >>> det.fit(X, y).offset_ < -0.5      # IsolationForest's own -0.5 flags too many
    True
    >>> round(det.score(X, y), 2)          # F1 of the outlier class (own offset: 0.47)
    0.74
    >>> det.cv_results_["mean_score"].shape == det.cv_results_["thresholds"].shape
    True
    """

    _parameter_constraints = {
        "detector": [HasMethods(["fit", "score_samples"])],
        "scoring": [StrOptions(set(BUILTIN_SCORINGS)), callable],
        "max_fpr": [Interval(Real, 0, 1, closed="left")],
        "cv": ["cv_object"],
        "threshold_reference": [StrOptions({"auto", "offset", "score"})],
        "outlier_label": "no_validation",
        "random_state": ["random_state"],
    }

    def __init__(self, detector, *, scoring="f1", max_fpr=0.05, cv=None,
                 threshold_reference="auto", outlier_label=None, random_state=None):
        self.detector = detector
        self.scoring = scoring
        self.max_fpr = max_fpr
        self.cv = cv
        self.threshold_reference = threshold_reference
        self.outlier_label = outlier_label
        self.random_state = random_state

    # -- labels --------------------------------------------------------------------
    def _outliers(self, y, n_samples, action):
        """``(is_outlier mask, inlier value)`` from ``y``, or None when it holds no outlier."""
        if y is None:
            return None
        y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty(n_samples), y)
        outlier = -1 if self.outlier_label is None else self.outlier_label
        if not np.any(y == outlier):
            hint = ("" if self.outlier_label is not None else
                    " For labels other than +1/-1 (e.g. 0/1 with 1 = outlier) pass "
                    "outlier_label.")
            warnings.warn(
                f"y holds no outlier (no label {outlier!r}): {action}.{hint}",
                UserWarning, stacklevel=3,
            )
            return None
        is_out = ~inlier_mask(y, outlier_label=self.outlier_label)
        inlier_value = 1 if self.outlier_label is None else y[~is_out][0]
        return is_out, inlier_value

    def _encoder(self, inlier_value):
        outlier = -1 if self.outlier_label is None else self.outlier_label

        def encode(is_out):
            return np.where(is_out, outlier, inlier_value)

        return encode

    def _check_cv(self, is_out):
        if self.cv is None or isinstance(self.cv, Integral):
            n_splits = 5 if self.cv is None else self.cv
            return StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state)
        return check_cv(self.cv, is_out, classifier=True)

    def _reference(self, fitted):
        if self.threshold_reference_ == "score":
            return 0.0
        offset = default_offset(fitted)
        if offset is None:
            raise ValueError(
                f"threshold_reference='offset' needs a detector with a fitted offset_; "
                f"{type(fitted).__name__} has none. Use threshold_reference='score'."
            )
        return offset

    # -- fitting -------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the detector and tune its threshold on labelled data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inliers and labelled outliers.
        y : array-like of shape (n_samples,), default=None
            ``+1`` inlier / ``-1`` outlier (or see ``outlier_label``). Without
            it, or without any outlier in it, the detector's own threshold is
            kept.

        Returns
        -------
        self
        """
        X = validate_data(self, X, ensure_min_samples=2)
        labels = self._outliers(y, X.shape[0], "the threshold is not tuned, the "
                                "detector's own offset_ is kept")
        self.fold_thresholds_ = self.fold_references_ = None
        self.relative_threshold_ = self.best_score_ = self.cv_results_ = None
        if labels is None:
            self.threshold_reference_ = "offset"
            self.estimator_ = clone(self.detector).fit(X)
            offset = default_offset(self.estimator_)
            if offset is None:
                raise ValueError(
                    f"fit without labels keeps the detector's own offset_, but "
                    f"{type(self.estimator_).__name__} has none; pass labels y with "
                    f"outliers to tune a threshold."
                )
            self.offset_ = self.best_threshold_ = offset
            return self

        is_out, inlier_value = labels
        self._inlier_value = inlier_value
        encode = self._encoder(inlier_value)
        self.threshold_reference_ = self.threshold_reference
        folds = []
        for k, (train, val) in enumerate(self._check_cv(is_out).split(X, is_out)):
            train, val = np.asarray(train), np.asarray(val)
            fit_rows = train[~is_out[train]]
            n_val_out = int(is_out[val].sum())
            if n_val_out == 0 or n_val_out == val.shape[0]:
                raise ValueError(
                    f"validation fold {k} holds {'no' if n_val_out == 0 else 'only'} "
                    f"outliers; every fold needs both (use stratified folds, fewer "
                    f"splits or more labelled outliers)."
                )
            if fit_rows.shape[0] < 2:
                raise ValueError(f"training fold {k} holds fewer than 2 inliers.")
            fitted = clone(self.detector).fit(X[fit_rows])
            if self.threshold_reference_ == "auto":
                self.threshold_reference_ = (
                    "offset" if default_offset(fitted) is not None else "score")
            scores = np.asarray(fitted.score_samples(X[val]), dtype=np.float64)
            candidates = candidate_thresholds(scores)
            values = threshold_scores(self.scoring, scores, is_out[val], candidates,
                                      max_fpr=self.max_fpr, encode=encode)
            best = int(np.argmax(np.nan_to_num(values, nan=-np.inf)))
            folds.append((scores, is_out[val], self._reference(fitted), candidates,
                          candidates[best]))

        self.fold_thresholds_ = np.array([f[4] for f in folds])
        self.fold_references_ = np.array([f[2] for f in folds])
        self.relative_threshold_ = float(np.median(self.fold_thresholds_
                                                   - self.fold_references_))
        self.estimator_ = clone(self.detector).fit(X[~is_out])
        reference = self._reference(self.estimator_)
        self.offset_ = self.best_threshold_ = reference + self.relative_threshold_

        def fold_curve(fold, relative):
            scores, out, ref = fold[:3]
            return threshold_scores(self.scoring, scores, out, ref + relative,
                                    max_fpr=self.max_fpr, encode=encode)

        self.best_score_ = float(np.mean(
            [fold_curve(f, np.array([self.relative_threshold_]))[0] for f in folds]))
        grid = np.concatenate([f[3] - f[2] for f in folds])
        grid = np.unique(grid[np.isfinite(grid)])
        if grid.shape[0] > _MAX_CURVE_POINTS:
            grid = grid[np.linspace(0, grid.shape[0] - 1, _MAX_CURVE_POINTS).round().astype(int)]
        curves = np.array([fold_curve(f, grid) for f in folds])
        self.cv_results_ = {
            "thresholds": grid + reference,
            "relative_thresholds": grid,
            "mean_score": curves.mean(axis=0),
            "std_score": curves.std(axis=0),
            **{f"split{k}_score": c for k, c in enumerate(curves)},
        }
        return self

    # -- prediction ----------------------------------------------------------------
    def score_samples(self, X):
        """Normality of each sample (the detector's ``score_samples``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.asarray(self.estimator_.score_samples(X), dtype=np.float64)

    def score(self, X, y=None):
        """``scoring`` of :meth:`predict` against labels: greater is better.

        What ``GridSearchCV`` maximises when it gets no ``scoring`` of its own,
        so the detector's hyper-parameters and the tuned threshold are chosen
        together. ``"tpr_at_fpr"`` is the fraction of outliers flagged if the
        false-alarm rate is at most ``max_fpr``, else 0. Without labels, or
        with labels that hold no outlier (warning), the detector's own
        label-free ``score`` is returned where it has one (a skood detector:
        the median log-likelihood), else the median of its ``score_samples(X)``
        (how normal ``X`` looks to it; not comparable between detectors).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            ``+1`` inlier / ``-1`` outlier, or see ``outlier_label``.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        labels = self._outliers(y, X.shape[0], "score falls back to the detector's "
                                "label-free score")
        if labels is None:
            if hasattr(self.estimator_, "score"):
                return float(self.estimator_.score(X))
            return float(np.median(self.estimator_.score_samples(X)))
        is_out, inlier_value = labels
        flagged = self.predict(X) == -1
        if callable(self.scoring):
            encode = self._encoder(inlier_value)
            return float(self.scoring(encode(is_out), encode(flagged)))
        n_out = int(is_out.sum())
        tp, fp = int(np.sum(flagged & is_out)), int(np.sum(flagged & ~is_out))
        return float(builtin_metric(self.scoring, tp, fp, n_out, is_out.shape[0] - n_out,
                                    self.max_fpr))
