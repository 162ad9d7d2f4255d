"""
A flow's statistics in a scikit-learn Pipeline
==============================================

:class:`~skood.statistics.FlowStatistics` is a scikit-learn transformer: it maps each
input to named statistics from one pass of a flow (per-scale likelihood terms, the
compressed length of an image, ...). Any scikit-learn density or outlier detector
can then model those statistics: this is what
:class:`~skood.detectors.DensityOfStatesDetector` does with a robust Gaussian, and a
:class:`~sklearn.pipeline.Pipeline` lets you swap in your own.

Two pipelines on digits 0-4 (ID) vs 5-9 (OOD):

1. a Glow on the images, frozen, its statistics modelled by a Gaussian mixture or by
   an IsolationForest;
2. a :class:`~skood.density.TabularFlowDensity` on 16 PCA components of the pixels,
   the whole chain in one pipeline.
"""

# %%
# Pipeline 1: frozen Glow -> statistics -> density or outlier detector
# ---------------------------------------------------------------------
# The flow trains on part of the ID training digits and is frozen; the rest of the
# pipeline is fitted on the *held-out* digits, whose statistics are the ones new ID
# data will have (the flow's likelihood of its own training rows is inflated).
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.frozen import FrozenEstimator
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skood.datasets import load_digits_ood
from skood.density import GlowDensity, TabularFlowDensity
from skood.metrics import auroc_id_ood
from skood.statistics import FlowStatistics

data = load_digits_ood(random_state=0)
X_flow, X_cal = data.X_train[:338], data.X_train[338:]
glow = GlowDensity(
    data.input_shape, n_levels=2, n_steps=4, hidden_channels=32, max_epochs=10,
    random_state=0,
).fit(X_flow)
statistics = FlowStatistics(FrozenEstimator(glow))
print(statistics.fit(X_cal).get_feature_names_out())

pipelines = {
    "statistics -> GaussianMixture": make_pipeline(
        statistics, StandardScaler(), GaussianMixture(n_components=1, random_state=0)
    ),
    "statistics -> IsolationForest": make_pipeline(
        statistics, StandardScaler(), IsolationForest(random_state=0)
    ),
}
for name, model in pipelines.items():
    model.fit(X_cal)
    # GaussianMixture.score_samples is a log-density and IsolationForest's is a
    # normality: both are higher for more in-distribution inputs.
    auc = auroc_id_ood(model.score_samples(data.X_test_id),
                       model.score_samples(data.X_test_ood))
    print(f"{name:<34} AUROC {auc:.3f}")

# %%
# ``predict`` of an outlier detector works through the pipeline as well: +1 for
# inliers, -1 for outliers.
flagged = (pipelines["statistics -> IsolationForest"].predict(data.X_test_ood) == -1).mean()
print(f"OOD digits flagged by the IsolationForest pipeline: {flagged:.0%}")

# %%
# Pipeline 2: PCA -> tabular flow statistics -> Gaussian mixture
# --------------------------------------------------------------
# A flow does not have to see pixels. Here every step, the flow included, is fitted
# by ``Pipeline.fit``: the PCA, the tabular flow (inside ``FlowStatistics``, which
# fits its flow unless it is frozen), the scaler and the mixture. Simple, but the
# mixture then models statistics of the flow's own training rows; holding rows out,
# as above and as ``DensityOfStatesDetector`` does, is the more faithful choice.
tabular = make_pipeline(
    PCA(n_components=16, random_state=0),
    FlowStatistics(TabularFlowDensity(n_layers=4, max_epochs=30, random_state=0)),
    StandardScaler(),
    GaussianMixture(n_components=2, random_state=0),
)
tabular.fit(data.X_train / 255.0)
auc = auroc_id_ood(tabular.score_samples(data.X_test_id / 255.0),
                   tabular.score_samples(data.X_test_ood / 255.0))
print(f"PCA -> tabular flow statistics -> GaussianMixture: AUROC {auc:.3f}")

# %%
# The pieces are ordinary estimators, so the usual tools apply: ``clone``,
# ``get_params`` / ``set_params`` (e.g. ``gaussianmixture__n_components``) and
# ``GridSearchCV`` with one of :mod:`skood.metrics`' scorers.
print(sorted(k for k in tabular.get_params() if k.endswith("n_components")))
