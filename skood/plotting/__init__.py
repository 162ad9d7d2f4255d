"""Plots of OOD detectors as scikit-learn-style Display objects (needs matplotlib).

Each display has ``from_estimator(...)`` (score data with fitted detectors) and
``from_predictions(...)`` (precomputed scores), both of which draw it, and
``plot(ax=None)`` to redraw; the drawing is on ``ax_`` of ``figure_``.
matplotlib is optional (``pip install 'skood[plot]'``) and imported only when a
display draws.

- :class:`ScoreHistogramDisplay`: ID vs OOD histograms of one detector's scores;
- :class:`ROCCurvesDisplay`: ROC curves of several detectors on one axes;
- :class:`LIDLikelihoodDisplay`: log-likelihood vs LID with the dual thresholds
  of a :class:`~skood.detectors.LIDLikelihoodDetector`;
- :class:`GroupAUROCDisplay`: group AUROC against the group size.
"""

from ._groups import GroupAUROCDisplay
from ._lid import LIDLikelihoodDisplay
from ._scores import ROCCurvesDisplay, ScoreHistogramDisplay

__all__ = ["GroupAUROCDisplay", "LIDLikelihoodDisplay", "ROCCurvesDisplay",
           "ScoreHistogramDisplay"]
