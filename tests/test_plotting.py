"""skood.plotting displays, drawn under Agg from both constructors."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.neighbors import LocalOutlierFactor  # noqa: E402

from skood.density import TabularFlowDensity  # noqa: E402
from skood.detectors import LIDLikelihoodDetector, LikelihoodDetector  # noqa: E402
from skood.metrics import group_aurocs  # noqa: E402
from skood.plotting import (  # noqa: E402
    GroupAUROCDisplay,
    LIDLikelihoodDisplay,
    ROCCurvesDisplay,
    ScoreHistogramDisplay,
)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    X_id, X_ood = rng.normal(size=(40, 3)), rng.normal(0, 2.5, size=(40, 3))
    flow = TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=3, random_state=0)
    dets = {"Likelihood": LikelihoodDetector(flow, random_state=0).fit(X),
            "LOF": LocalOutlierFactor(novelty=True).fit(X)}
    return dets, X_id, X_ood


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_score_histogram(fitted):
    dets, X_id, X_ood = fitted
    det = dets["Likelihood"]
    disp = ScoreHistogramDisplay.from_estimator(det, X_id, X_ood, bins=21)
    assert disp.ax_.get_title() == "LikelihoodDetector"
    assert len(disp.ax_.patches) == 2 * 20  # two histograms of 20 bins
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == ["ID", "OOD"]
    assert disp.figure_ is disp.ax_.figure
    # Same scores from precomputed values, on given axes, with an -inf score.
    s_id, s_ood = det.score_samples(X_id), det.score_samples(X_ood)
    fig, ax = plt.subplots()
    disp2 = ScoreHistogramDisplay.from_predictions(s_id, np.r_[s_ood, -np.inf], name="x", ax=ax)
    assert disp2.ax_ is ax and disp2.ax_.get_title() == "x"
    assert np.isfinite(disp2.bins_).all() and len(ax.patches) == 2 * 39


def test_roc_curves(fitted):
    dets, X_id, X_ood = fitted
    disp = ROCCurvesDisplay.from_estimator(dets, X_id, X_ood)
    assert list(disp.lines_) == ["Likelihood", "LOF"]
    assert len(disp.ax_.lines) == 3  # two curves and the chance diagonal
    assert disp.lines_["Likelihood"].get_linestyle() == "-"
    assert disp.lines_["LOF"].get_linestyle() == "--"  # classical
    assert disp.ax_.get_xlabel() == "FPR (OOD accepted)"
    # The curve's area is the detector's AUROC.
    fpr, tpr, auc = disp.curves["LOF"]
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc)
    scores = {name: (d.score_samples(X_id), d.score_samples(X_ood), "skood")
              for name, d in dets.items()}
    disp2 = ROCCurvesDisplay.from_predictions(scores, title="t")
    assert disp2.ax_.get_title() == "t" and len(disp2.ax_.lines) == 3
    assert all(line.get_linestyle() == "-" for line in disp2.lines_.values())
    assert [t.get_text() for t in disp2.ax_.get_legend().get_texts()] == ["Likelihood", "LOF"]


def test_group_auroc(fitted):
    dets, X_id, X_ood = fitted
    disp = GroupAUROCDisplay.from_estimator(dets, X_id, X_ood, group_sizes=(1, 5, 10))
    assert len(disp.ax_.lines) == 3  # two detectors and the chance level
    expected = group_aurocs(dets["LOF"], X_id, X_ood, group_sizes=(1, 5, 10))
    np.testing.assert_allclose(disp.lines_["LOF"].get_ydata(), list(expected.values()))
    assert disp.ax_.get_xlabel() == "group size M"
    disp2 = GroupAUROCDisplay.from_predictions([1, 2], {"a": [0.5, 0.7]})
    assert disp2.lines_["a"].get_xdata().tolist() == [1, 2]
    with pytest.raises(ValueError, match="2 group sizes"):
        GroupAUROCDisplay.from_predictions([1, 2], {"a": [0.5]})


def test_lid_likelihood():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 3))
    det = LIDLikelihoodDetector(
        TabularFlowDensity(n_layers=1, hidden_units=4, max_epochs=2, dtype="float64",
                           random_state=0), random_state=0).fit(X)
    X_id, X_ood = rng.normal(size=(30, 3)), rng.normal(0, 3, size=(30, 3))
    disp = LIDLikelihoodDisplay.from_estimator(det, X_id, X_ood)
    assert len(disp.ax_.collections) == 2  # ID and OOD scatters
    assert len(disp.threshold_lines_) == 2
    psi_l = disp.threshold_lines_[0].get_xdata()[0]
    psi_lid = disp.threshold_lines_[1].get_ydata()[0]
    # The drawn thresholds are the detector's rule: inlier iff both are above them.
    pairs = det.likelihood_and_lid(np.r_[X_id, X_ood])
    inside = (pairs[:, 0] >= psi_l - 1e-9) & (pairs[:, 1] >= psi_lid - 1e-9)
    np.testing.assert_array_equal(inside, det.predict(np.r_[X_id, X_ood]) == 1)
    assert disp.ax_.get_xlabel() == "log-likelihood (nats)"
    disp2 = LIDLikelihoodDisplay.from_predictions(pairs[:30, 0], pairs[:30, 1],
                                                  pairs[30:, 0], pairs[30:, 1])
    assert len(disp2.ax_.collections) == 2 and disp2.threshold_lines_ == []
    with pytest.raises(TypeError, match="LIDLikelihoodDetector"):
        LIDLikelihoodDisplay.from_estimator(LocalOutlierFactor(novelty=True), X_id, X_ood)
