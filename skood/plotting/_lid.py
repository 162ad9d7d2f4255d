"""Log-likelihood against local intrinsic dimension, with the dual thresholds."""

from __future__ import annotations

import numpy as np

from ._base import get_axes


def _inverse_ecdf(level, reference):
    """The value where the mid-rank ECDF of ``reference`` reaches ``level``."""
    support, counts = np.unique(np.asarray(reference, dtype=np.float64), return_counts=True)
    p = (np.cumsum(counts) - 0.5 * counts) / counts.sum()
    return float(np.interp(level, p, support))


class LIDLikelihoodDisplay:
    """Scatter of log-likelihood vs local intrinsic dimension, ID and OOD.

    Kamkari et al.'s rule is "in-distribution iff ``log p >= psi_L`` and
    ``LID >= psi_LID``": the thresholds are drawn as a vertical and a
    horizontal line, and the ID region is their upper right quadrant. For a
    fitted :class:`~skood.detectors.LIDLikelihoodDetector` they are the
    values of log-likelihood and LID where its reference ranks reach
    ``offset_`` (its score is the smaller of the two ranks).

    Parameters
    ----------
    log_prob_id, lid_id, log_prob_ood, lid_ood : ndarray
    thresholds : tuple of float or None, default=None
        ``(psi_L, psi_LID)``.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    threshold_lines_ : list of Line2D
        The two threshold lines (empty without thresholds).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skood.plotting import LIDLikelihoodDisplay
    >>> rng = np.random.RandomState(0)
    >>> disp = LIDLikelihoodDisplay.from_predictions(
    ...     rng.normal(size=30), rng.randint(5, 8, 30), rng.normal(1, 1, 30),
    ...     rng.randint(1, 4, 30), thresholds=(-1.5, 4.5))
    >>> len(disp.ax_.collections), len(disp.threshold_lines_)
    (2, 2)
    """

    def __init__(self, log_prob_id, lid_id, log_prob_ood, lid_ood, *, thresholds=None):
        self.log_prob_id = np.asarray(log_prob_id, dtype=np.float64)
        self.lid_id = np.asarray(lid_id, dtype=np.float64)
        self.log_prob_ood = np.asarray(log_prob_ood, dtype=np.float64)
        self.lid_ood = np.asarray(lid_ood, dtype=np.float64)
        self.thresholds = thresholds

    def plot(self, ax=None, *, title=None, s=8):
        """Draw the scatter and the threshold lines.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        title : str, default=None
        s : float, default=8
            Marker size.

        Returns
        -------
        self
        """
        ax, fig = get_axes(ax, "LIDLikelihoodDisplay")
        ax.scatter(self.log_prob_id, self.lid_id, s=s, alpha=0.6, label="ID")
        ax.scatter(self.log_prob_ood, self.lid_ood, s=s, alpha=0.6, label="OOD")
        self.threshold_lines_ = []
        if self.thresholds is not None:
            psi_l, psi_lid = self.thresholds
            self.threshold_lines_ = [
                ax.axvline(psi_l, color="k", lw=0.8, ls="--", label="log-likelihood threshold"),
                ax.axhline(psi_lid, color="k", lw=0.8, ls=":", label="LID threshold"),
            ]
        ax.set(xlabel="log-likelihood (nats)", ylabel="local intrinsic dimension")
        if title is not None:
            ax.set_title(title)
        ax.legend(fontsize=7)
        self.ax_, self.figure_ = ax, fig
        return self

    @classmethod
    def from_predictions(cls, log_prob_id, lid_id, log_prob_ood, lid_ood, *, thresholds=None,
                         ax=None, **kwargs):
        """Draw precomputed log-likelihoods and LIDs.

        Parameters
        ----------
        log_prob_id, lid_id, log_prob_ood, lid_ood : array-like
        thresholds : tuple of float or None, default=None
            ``(psi_L, psi_LID)``.
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        LIDLikelihoodDisplay
        """
        return cls(log_prob_id, lid_id, log_prob_ood, lid_ood,
                   thresholds=thresholds).plot(ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X_id, X_ood, *, ax=None, **kwargs):
        """Draw a fitted :class:`~skood.detectors.LIDLikelihoodDetector` on ID and OOD data.

        Parameters
        ----------
        estimator : fitted LIDLikelihoodDetector
            Its ``likelihood_and_lid`` gives the points; its ``offset_`` and
            reference values the thresholds.
        X_id, X_ood : array-like
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        LIDLikelihoodDisplay
        """
        if not hasattr(estimator, "likelihood_and_lid"):
            raise TypeError(f"{type(estimator).__name__} has no likelihood_and_lid; "
                            f"pass a fitted LIDLikelihoodDetector.")
        a, b = estimator.likelihood_and_lid(X_id), estimator.likelihood_and_lid(X_ood)
        thresholds = (_inverse_ecdf(estimator.offset_, estimator.reference_log_prob_),
                      _inverse_ecdf(estimator.offset_, estimator.reference_lid_))
        return cls.from_predictions(a[:, 0], a[:, 1], b[:, 0], b[:, 1],
                                    thresholds=thresholds, ax=ax, **kwargs)
