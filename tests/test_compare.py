"""compare_detectors / group_aurocs: one table for skood and classical detectors."""

import importlib.util

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.neighbors import LocalOutlierFactor

from skood.benchmark._runner import _group_aurocs
from skood.density import TabularFlowDensity
from skood.detectors import LikelihoodDetector, TypicalityDetector
from skood.metrics import (
    compare_detectors,
    evaluate_id_ood,
    group_auroc,
    group_aurocs,
    make_groups,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return (rng.normal(size=(300, 3)), rng.normal(size=(60, 3)),
            rng.normal(0.0, 1.6, size=(50, 3)))


def _detectors():
    flow = TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=5, random_state=0)
    return {
        "Likelihood": LikelihoodDetector(flow, random_state=0),
        "Typicality": TypicalityDetector(flow, n_bootstrap=50, random_state=0),
        "LOF": LocalOutlierFactor(novelty=True),
    }


def _by_hand(det, X_id, X_ood, sizes):
    """The benchmark runner's group AUROCs as they were computed before group_aurocs."""
    if hasattr(det, "sample_statistics"):
        a, b = det.sample_statistics(X_id), det.sample_statistics(X_ood)

        def gs(stats, groups):
            return np.asarray(det.score_statistics(stats, groups=groups), dtype=np.float64)
    else:
        a, b = det.score_samples(X_id), det.score_samples(X_ood)

        def gs(scores, groups):
            return scores[groups].mean(axis=1)
    return {f"group_auroc_m{m}": group_auroc(gs(a, make_groups(len(X_id), m, random_state=1)),
                                             gs(b, make_groups(len(X_ood), m, random_state=2)))
            for m in sizes}


def test_table_matches_the_metrics_and_the_runner(data):
    X_train, X_id, X_ood = data
    dets = _detectors()
    table = compare_detectors(dets, X_train, X_id, X_ood, group_sizes=(2, 5, 10))
    assert [row["detector"] for row in table] == ["Likelihood", "Typicality", "LOF"]
    for row in table:
        det = dets[row["detector"]]
        s_id, s_ood = det.score_samples(X_id), det.score_samples(X_ood)
        for key, value in evaluate_id_ood(s_id, s_ood).items():
            assert row[key] == value
        expected = _by_hand(det, X_id, X_ood, (2, 5, 10))
        for key, value in expected.items():
            assert row[key] == value
        # The benchmark runner reads the same function: its numbers are unchanged.
        assert _group_aurocs(det, X_id, X_ood, s_id, s_ood) == expected
        assert row["fit_time"] >= 0 and row["score_time"] >= 0
    # The scale shift is visible, and clearer over groups than point-wise.
    lof = table[2]
    assert 0.6 < lof["auroc"] < lof["group_auroc_m10"]
    # Typicality's group statistic is its own, not the group mean of point-wise scores.
    typ, g = dets["Typicality"], make_groups(60, 10, random_state=1)
    own = typ.score_statistics(typ.sample_statistics(X_id), groups=g)
    assert not np.allclose(own, typ.score_samples(X_id)[g].mean(axis=1))


def test_group_aurocs_seeds_and_sizes(data):
    X_train, X_id, X_ood = data
    lof = LocalOutlierFactor(novelty=True).fit(X_train)
    one = group_aurocs(lof, X_id, X_ood, group_sizes=(1,))
    assert one["group_auroc_m1"] == evaluate_id_ood(lof.score_samples(X_id),
                                                    lof.score_samples(X_ood))["auroc"]
    assert group_aurocs(lof, X_id, X_ood, random_state=7) == group_aurocs(
        lof, X_id, X_ood, random_state=7)
    assert list(group_aurocs(lof, X_id, X_ood, group_sizes=())) == []
    with pytest.raises(ValueError, match="group size"):
        group_aurocs(lof, X_id, X_ood, group_sizes=(0,))


class _FakePyOD(BaseEstimator):
    def fit(self, X, y=None):
        return self

    def decision_function(self, X):
        return np.zeros(len(X))


_FakePyOD.__module__ = "pyod.models.knn"


def test_refuses_a_bare_pyod_model(data):
    X_train, X_id, X_ood = data
    with pytest.raises(TypeError, match=r"skood\.adapters\.PyODAdapter"):
        compare_detectors({"KNN": _FakePyOD()}, X_train, X_id, X_ood)
    with pytest.raises(TypeError, match="dict"):
        compare_detectors([LocalOutlierFactor(novelty=True)], X_train, X_id, X_ood)


@pytest.mark.skipif(importlib.util.find_spec("pandas") is not None, reason="pandas installed")
def test_as_frame_without_pandas(data):
    X_train, X_id, X_ood = data
    with pytest.raises(ImportError, match="pandas"):
        compare_detectors({"LOF": LocalOutlierFactor(novelty=True)}, X_train, X_id, X_ood,
                          as_frame=True)
