"""Label-free thresholds with a guarantee: split-conformal outlier detection.

:class:`ConformalDetector` calibrates any outlier detector on held-out inliers:
its conformal p-values make :meth:`~ConformalDetector.predict` flag new inliers
at a rate of at most ``alpha`` in finite samples, and Benjamini-Hochberg on them
(:func:`benjamini_hochberg`, :meth:`~ConformalDetector.select_outliers`) controls
the false discovery rate of a batch (Bates et al., "Testing for outliers with
conformal p-values", Ann. Statist. 2023). A separate package from
:mod:`skood.model_selection`, which needs labelled outliers: these thresholds
need none.
"""

from ._detector import ConformalDetector
from ._p_values import benjamini_hochberg, conformal_p_values

__all__ = ["ConformalDetector", "benjamini_hochberg", "conformal_p_values"]
