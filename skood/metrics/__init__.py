"""OOD-detection metrics, scikit-learn scorers and group helpers.

Conventions
-----------
skood follows scikit-learn's outlier-detection conventions throughout:

* **Scores are normality**: a higher score means *more* in-distribution
  ("ID"), as returned by ``score_samples`` / ``decision_function`` of
  scikit-learn's outlier detectors and of every skood detector.
* **Labels** are scikit-learn's: ``+1`` for inliers (ID) and ``-1`` for
  outliers (out-of-distribution, "OOD"). Other encodings, e.g. ``0/1``, are
  accepted only together with an explicit ``outlier_label`` naming the value
  that means OOD (``outlier_label=1`` for the PyOD / ADBench convention where
  1 = anomaly). Labels other than ``{-1, +1}`` without ``outlier_label`` raise
  ``ValueError`` rather than guess, because the two common ``0/1`` conventions
  disagree on which value is the outlier.

With these conventions the metrics are:

* **AUROC**: area under the ROC curve with ID as the positive class and the
  normality score as the decision value (identical to OOD as the positive
  class scored by ``-normality``). 0.5 is chance, 1 is perfect.
* **AUPR-In**: average precision with ID as the positive class, score =
  normality.
* **AUPR-Out**: average precision with OOD as the positive class, score =
  ``-normality``.
* **FPR@95TPR** (``"fpr95"``): ID is the positive class. The threshold ``t`` is
  the largest value such that at least 95% of the ID scores are ``>= t`` (95%
  of the ID data is kept); the metric is the fraction of OOD samples with
  score ``>= t``, i.e. OOD samples wrongly accepted as ID. Lower is better.
  Note that pytorch-ood uses the opposite convention (OOD is the positive
  class: the threshold detects 95% of the OOD samples and the metric is the
  fraction of ID samples flagged), so its numbers are not comparable with
  these in general.

The metrics only depend on the *order* of the scores (and their ties), so
``-inf`` scores, e.g. the log-likelihood of an impossible input, are allowed;
NaN scores raise ``ValueError``.

PyOD uses the opposite orientation (higher = more outlying, 1 = outlier);
:func:`from_pyod` and :func:`to_pyod` convert scores and labels, and
:class:`skood.adapters.PyODAdapter` wraps a PyOD detector as a scikit-learn
outlier detector. The scorers refuse a bare PyOD detector, whose
``decision_function`` they would otherwise read the wrong way round.

Contents
--------
Metrics
    :func:`auroc`, :func:`aupr_in`, :func:`aupr_out`, :func:`fpr_at_tpr`,
    :func:`fpr_at_95_tpr`, :func:`ood_metrics`, :func:`evaluate_id_ood`,
    :func:`auroc_id_ood`.
Labels
    :func:`inlier_mask` (the label conventions above, as a boolean mask).
Scorers for model selection (``GridSearchCV(..., scoring=...)``)
    :data:`auroc_scorer`, :data:`aupr_in_scorer`, :data:`aupr_out_scorer`,
    :data:`neg_fpr95_scorer`, :data:`SCORERS`, :func:`make_ood_scorer`.
Conversion
    :func:`from_pyod`, :func:`to_pyod`.
Groups
    :func:`make_groups`, :func:`group_labels_from_indices`,
    :func:`group_auroc`.
Two-score oracle
    :func:`dual_threshold_auroc`.
Comparison
    :func:`compare_detectors` (fit several detectors, one table of metrics),
    :func:`group_aurocs` (group AUROC per group size of one fitted detector).
"""

from ._compare import compare_detectors, group_aurocs
from ._dual_threshold import dual_threshold_auroc
from ._groups import group_auroc, group_labels_from_indices, make_groups
from ._pyod import from_pyod, to_pyod
from ._ranking import (
    aupr_in,
    aupr_out,
    auroc,
    auroc_id_ood,
    evaluate_id_ood,
    fpr_at_95_tpr,
    fpr_at_tpr,
    inlier_mask,
    ood_metrics,
)
from ._scorers import (
    SCORERS,
    aupr_in_scorer,
    aupr_out_scorer,
    auroc_scorer,
    make_ood_scorer,
    neg_fpr95_scorer,
)

__all__ = [
    "SCORERS",
    "aupr_in",
    "aupr_in_scorer",
    "aupr_out",
    "aupr_out_scorer",
    "auroc",
    "auroc_id_ood",
    "auroc_scorer",
    "compare_detectors",
    "dual_threshold_auroc",
    "evaluate_id_ood",
    "fpr_at_95_tpr",
    "fpr_at_tpr",
    "from_pyod",
    "group_auroc",
    "group_aurocs",
    "group_labels_from_indices",
    "inlier_mask",
    "make_groups",
    "make_ood_scorer",
    "neg_fpr95_scorer",
    "ood_metrics",
    "to_pyod",
]
