"""Group AUROC against group size."""

from __future__ import annotations

import numpy as np

from ._base import get_axes


class GroupAUROCDisplay:
    """AUROC of group tests against the group size, one line per detector.

    Parameters
    ----------
    group_sizes : sequence of int
    aurocs : dict of str to sequence of float
        Name -> the AUROC at each group size.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : dict of str to Line2D

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skood.plotting import GroupAUROCDisplay
    >>> disp = GroupAUROCDisplay.from_predictions([1, 5, 10], {"a": [0.6, 0.8, 0.9]})
    >>> disp.lines_["a"].get_ydata().tolist()
    [0.6, 0.8, 0.9]
    """

    def __init__(self, group_sizes, aurocs):
        self.group_sizes = [int(m) for m in group_sizes]
        self.aurocs = {name: np.asarray(v, dtype=np.float64) for name, v in aurocs.items()}
        for name, v in self.aurocs.items():
            if v.shape != (len(self.group_sizes),):
                raise ValueError(f"aurocs[{name!r}] has {v.size} values for "
                                 f"{len(self.group_sizes)} group sizes.")

    def plot(self, ax=None, *, title=None):
        """Draw one line per detector and the chance level.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        title : str, default=None

        Returns
        -------
        self
        """
        ax, fig = get_axes(ax, "GroupAUROCDisplay")
        self.lines_ = {}
        for name, values in self.aurocs.items():
            (self.lines_[name],) = ax.plot(self.group_sizes, values, marker="o", lw=1.2,
                                           label=name)
        ax.axhline(0.5, c="grey", lw=0.5)
        ax.set(xlabel="group size M", ylabel="group AUROC", xticks=self.group_sizes)
        if title is not None:
            ax.set_title(title)
        ax.legend(fontsize=7)
        self.ax_, self.figure_ = ax, fig
        return self

    @classmethod
    def from_predictions(cls, group_sizes, aurocs, *, ax=None, **kwargs):
        """Draw precomputed group AUROCs.

        Parameters
        ----------
        group_sizes : sequence of int
        aurocs : dict of str to sequence of float
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        GroupAUROCDisplay
        """
        return cls(group_sizes, aurocs).plot(ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimators, X_id, X_ood, *, group_sizes=(1, 2, 5, 10),
                       random_state=1, ax=None, **kwargs):
        """Group AUROCs of fitted detectors (:func:`skood.metrics.group_aurocs`), drawn.

        Parameters
        ----------
        estimators : dict of str to fitted detector
        X_id, X_ood : array-like
        group_sizes : sequence of int, default=(1, 2, 5, 10)
        random_state : int, default=1
            Seeds the groups.
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        GroupAUROCDisplay
        """
        from ..metrics import group_aurocs

        aurocs = {}
        for name, est in estimators.items():
            res = group_aurocs(est, X_id, X_ood, group_sizes=group_sizes,
                               random_state=random_state)
            aurocs[name] = [res[f"group_auroc_m{m}"] for m in group_sizes]
        return cls.from_predictions(group_sizes, aurocs, ax=ax, **kwargs)
