"""Score histograms and ROC curves of OOD detectors."""

from __future__ import annotations

import numpy as np

from ._base import check_matplotlib, family_of, get_axes, normality


class ScoreHistogramDisplay:
    """Histograms of a detector's normality scores on ID and OOD data.

    Create it with :meth:`from_estimator` or :meth:`from_predictions`; both
    draw it. Scores are clipped to their 0.5-99.5 percentile range (infinite
    scores dropped from that range) so one extreme score does not flatten the
    histograms.

    Parameters
    ----------
    scores_id, scores_ood : ndarray
        Normality scores (higher = more in-distribution).
    name : str, default=None
        Title of the axes.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    bins_ : ndarray
        Bin edges.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skood.plotting import ScoreHistogramDisplay
    >>> rng = np.random.RandomState(0)
    >>> disp = ScoreHistogramDisplay.from_predictions(rng.normal(size=100),
    ...                                               rng.normal(-2, 1, size=100))
    >>> [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    ['ID', 'OOD']
    """

    def __init__(self, scores_id, scores_ood, *, name=None):
        self.scores_id = np.asarray(scores_id, dtype=np.float64).ravel()
        self.scores_ood = np.asarray(scores_ood, dtype=np.float64).ravel()
        self.name = name

    def plot(self, ax=None, *, bins=40, legend=True, title_fontsize=8):
        """Draw the two histograms.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        bins : int, default=40
        legend : bool, default=True
        title_fontsize : float, default=8

        Returns
        -------
        self
        """
        ax, fig = get_axes(ax, "ScoreHistogramDisplay")
        both = np.r_[self.scores_id, self.scores_ood]
        both = both[np.isfinite(both)]
        lo, hi = np.percentile(both, [0.5, 99.5]) if both.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        self.bins_ = np.linspace(lo, hi, bins)
        for scores, label in ((self.scores_id, "ID"), (self.scores_ood, "OOD")):
            finite = np.nan_to_num(scores, nan=lo, neginf=lo, posinf=hi)
            ax.hist(np.clip(finite, lo, hi), self.bins_, alpha=0.6, density=True, label=label)
        if self.name is not None:
            ax.set_title(self.name, fontsize=title_fontsize)
        ax.set_xlabel("normality score")
        if legend:
            ax.legend(fontsize=7)
        self.ax_, self.figure_ = ax, fig
        return self

    @classmethod
    def from_predictions(cls, scores_id, scores_ood, *, name=None, ax=None, **kwargs):
        """Draw the histograms of precomputed scores.

        Parameters
        ----------
        scores_id, scores_ood : array-like
            Normality scores of ID and OOD samples.
        name : str, default=None
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        ScoreHistogramDisplay
        """
        return cls(scores_id, scores_ood, name=name).plot(ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X_id, X_ood, *, name=None, ax=None, **kwargs):
        """Score ``X_id`` and ``X_ood`` with a fitted detector and draw the histograms.

        Parameters
        ----------
        estimator : fitted detector
            ``score_samples`` (else ``decision_function``) = normality.
        X_id, X_ood : array-like
        name : str, default=None
            Defaults to the estimator's class name.
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        ScoreHistogramDisplay
        """
        name = type(estimator).__name__ if name is None else name
        return cls.from_predictions(normality(estimator, X_id), normality(estimator, X_ood),
                                    name=name, ax=ax, **kwargs)


class ROCCurvesDisplay:
    """ROC curves of several detectors on one axes (ID is the positive class).

    x: FPR (fraction of OOD accepted), y: TPR (fraction of ID accepted), the
    convention of :func:`skood.metrics.auroc`. skood detectors are drawn with
    solid lines, the others dashed.

    Parameters
    ----------
    curves : dict of str to tuple
        Name -> ``(fpr, tpr, auroc)``.
    families : dict of str to str, default=None
        Name -> ``"skood"`` or another family (dashed).

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : dict of str to Line2D

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skood.plotting import ROCCurvesDisplay
    >>> rng = np.random.RandomState(0)
    >>> s_id, s_ood = rng.normal(size=50), rng.normal(-1, 1, size=50)
    >>> disp = ROCCurvesDisplay.from_predictions({"a": (s_id, s_ood), "b": (-s_id, s_ood)})
    >>> sorted(disp.lines_)
    ['a', 'b']
    """

    def __init__(self, curves, *, families=None):
        self.curves = dict(curves)
        self.families = dict(families or {})

    def plot(self, ax=None, *, legend_fontsize=7, title=None):
        """Draw the curves and the chance diagonal.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        legend_fontsize : float, default=7
        title : str, default=None

        Returns
        -------
        self
        """
        plt = check_matplotlib("ROCCurvesDisplay")
        ax, fig = get_axes(ax, "ROCCurvesDisplay")
        self.lines_ = {}
        for i, (name, (fpr, tpr, _)) in enumerate(self.curves.items()):
            ls = "-" if self.families.get(name, "skood") == "skood" else "--"
            (self.lines_[name],) = ax.plot(fpr, tpr, lw=1.2, label=name,
                                           color=plt.cm.tab20(i % 20), ls=ls)
        ax.plot([0, 1], [0, 1], c="grey", lw=0.5)
        ax.set(xlabel="FPR (OOD accepted)", ylabel="TPR (ID accepted)")
        if title is not None:
            ax.set_title(title)
        ax.legend(fontsize=legend_fontsize, loc="lower right")
        self.ax_, self.figure_ = ax, fig
        return self

    @staticmethod
    def _curve(s_id, s_ood):
        from sklearn.metrics import roc_curve

        from ..metrics import auroc_id_ood

        s_id, s_ood = np.asarray(s_id, dtype=np.float64), np.asarray(s_ood, dtype=np.float64)
        y = np.r_[np.ones(len(s_id)), np.zeros(len(s_ood))]
        fpr, tpr, _ = roc_curve(y, np.nan_to_num(np.r_[s_id, s_ood], neginf=-1e300,
                                                 posinf=1e300))
        return fpr, tpr, auroc_id_ood(s_id, s_ood)

    @classmethod
    def from_predictions(cls, scores, *, ax=None, **kwargs):
        """Draw ROC curves of precomputed scores.

        Parameters
        ----------
        scores : dict of str to tuple
            Name -> ``(scores_id, scores_ood)`` or ``(scores_id, scores_ood,
            family)`` (as returned by :func:`skood.benchmark.run_task`).
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        ROCCurvesDisplay
        """
        curves, families = {}, {}
        for name, value in scores.items():
            curves[name] = cls._curve(value[0], value[1])
            families[name] = value[2] if len(value) > 2 else "skood"
        return cls(curves, families=families).plot(ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimators, X_id, X_ood, *, ax=None, **kwargs):
        """Score ``X_id`` and ``X_ood`` with fitted detectors and draw their ROC curves.

        Parameters
        ----------
        estimators : dict of str to fitted detector
        X_id, X_ood : array-like
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        ROCCurvesDisplay
        """
        return cls.from_predictions(
            {name: (normality(est, X_id), normality(est, X_ood), family_of(est))
             for name, est in estimators.items()}, ax=ax, **kwargs)
