"""Model selection for outlier detectors: thresholds tuned on labelled data.

:class:`TunedThresholdDetectorCV` keeps a detector's scores and chooses its
threshold by cross-validation (F1 of the outlier class, balanced accuracy, or
the outlier detection rate at a false-alarm budget), the outlier-detection
counterpart of scikit-learn's ``TunedThresholdClassifierCV``. For a label-free
threshold with a guaranteed false-alarm rate see :mod:`skood.conformal`.
"""

from ._tuned_threshold import TunedThresholdDetectorCV

__all__ = ["TunedThresholdDetectorCV"]
