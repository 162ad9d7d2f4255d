"""End-to-end smoke test of the ADBench tabular protocol (benchmarks/tabular.py)."""

import numpy as np
import pytest

from skood.datasets import get_data_home

# SKOOD_DATA (tests/conftest.py points it at ../shared/data when that exists) or ~/skood_data.
REAL_DATA = get_data_home()
ADBENCH = REAL_DATA / "adbench"
pytestmark = pytest.mark.skipif(
    not ADBENCH.is_dir(), reason=f"ADBench folder {ADBENCH} not found"
)

tabular = pytest.importorskip("benchmarks.tabular")


def test_split_scale_is_stratified_and_train_scaled():
    X = np.arange(200, dtype=float).reshape(100, 2)
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    X_tr, X_te, y_tr, y_te = tabular.split_scale(X, y, seed=0)
    assert (len(X_tr), len(X_te)) == (70, 30)
    assert (y_tr.sum(), y_te.sum()) == (7, 3)  # stratified
    assert np.isclose(X_tr.min(), 0.0) and np.isclose(X_tr.max(), 1.0)  # fitted on train


def test_quick_protocol_end_to_end(tmp_path, capsys):
    summary = tabular.main(["--quick", "--seeds", "0", "--datasets", "wbc",
                            "--data-home", str(REAL_DATA), "--out", str(tmp_path / "t")])
    assert summary["datasets"] == ["42_WBC"]
    families = summary["family"]
    assert {"Likelihood", "Typicality", "KL divergence", "Likelihood + LID"} <= set(families)
    assert {"IsolationForest", "LOF", "OneClassSVM", "GMM"} <= set(families)
    for metric in ("auroc", "ap"):
        for row in ("42_WBC", "mean"):
            values = np.array(list(summary[metric][row].values()))
            assert np.all((values >= 0) & (values <= 1))
    # WBC is easy: a sane classical detector must beat chance (anomaly = positive class).
    assert summary["auroc"]["42_WBC"]["IsolationForest"] > 0.5

    md = (tmp_path / "t.md").read_text()
    assert "## AUROC" in md and "mean over 1 sets" in md and "IsolationForest" in md
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].split(",")[:6] == ["dataset", "seed", "detector", "family", "auroc", "ap"]
    assert len(lines) == 1 + len(families)  # one row per (dataset, seed, detector)
    assert "| dataset |" in capsys.readouterr().out
