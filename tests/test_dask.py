"""On a Dask cluster (two worker processes): searches equal the single-process search,
block-wise scoring of Dask arrays and memmaps equals in-memory scoring."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skood.density import TabularFlowDensity
from skood.detectors import LikelihoodDetector
from skood.metrics import make_ood_scorer
from skood.parallel import score_blocks, set_torch_threads, torch_threads

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
from joblib import parallel_backend  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        yield client


def _flow(**kw):
    return TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=2, random_state=0, **kw)


@pytest.fixture(scope="module")
def fitted():
    X = np.random.RandomState(0).normal(size=(300, 4))
    return _flow().fit(X)


@pytest.fixture(scope="module")
def X_large():
    return np.random.RandomState(1).normal(size=(200_000, 4))


def test_grid_search_on_the_cluster_equals_the_single_process_search(client):
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(160, 3)), rng.normal(3.0, 1.0, size=(40, 3))])
    y = np.r_[np.ones(160, dtype=int), -np.ones(40, dtype=int)]
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    search = GridSearchCV(
        LikelihoodDetector(_flow(), random_state=0),
        {"flow__n_layers": [1, 2], "contamination": [0.1, 0.25]},
        scoring={"auroc": make_ood_scorer("auroc"), "accuracy": "accuracy"},
        refit="auroc", cv=2,
    )
    single = GridSearchCV(**search.get_params(deep=False)).set_params(n_jobs=1).fit(X, y)
    with parallel_backend("dask"):
        on_cluster = search.fit(X, y)
    for key in ("split0_test_auroc", "split1_test_auroc", "split0_test_accuracy",
                "split1_test_accuracy"):
        np.testing.assert_array_equal(on_cluster.cv_results_[key], single.cv_results_[key])
    # contamination moves the threshold, hence accuracy, not the ranking (AUROC).
    acc = single.cv_results_["mean_test_accuracy"]
    assert len(set(np.round(acc, 12))) > 1
    assert on_cluster.best_params_ == single.best_params_
    np.testing.assert_array_equal(on_cluster.best_estimator_.decision_function(X),
                                  single.best_estimator_.decision_function(X))
    # The tasks ran on the workers (two processes), not in this one.
    assert sum(len(v) for v in client.processing().values()) == 0
    assert len(client.scheduler_info()["workers"]) == 2


def test_scoring_a_dask_array_equals_in_memory_scoring(client, fitted, X_large):
    X = da.from_array(X_large, chunks=(25_000, 2))  # column chunks are gathered
    lazy = score_blocks(fitted, X)
    assert isinstance(lazy, da.Array)
    assert lazy.shape == (200_000,) and lazy.numblocks == (8,)
    np.testing.assert_array_equal(lazy.compute(), fitted.score_samples(X_large))


def test_scoring_a_memmap_on_the_workers_equals_in_memory_scoring(client, fitted, X_large,
                                                                   tmp_path):
    path = tmp_path / "X.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X_large.shape)
    mm[:] = X_large
    mm.flush()
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=X_large.shape)
    out = score_blocks(fitted, mm, block_rows=50_000)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, fitted.score_samples(np.asarray(mm)))
    det = LikelihoodDetector(_flow(), random_state=0).fit(X_large[:300])
    np.testing.assert_array_equal(score_blocks(det, mm, "predict", block_rows=70_000),
                                  det.predict(np.asarray(mm)))


def test_set_torch_threads_shares_each_machines_cores(client):
    threads = set_torch_threads(client)
    # Both workers run on this machine, one Dask thread each.
    assert sorted(threads.values()) == [torch_threads(2)] * 2
    assert set(set_torch_threads(client, n_threads=1).values()) == {1}
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        set_torch_threads(client, n_threads=0)
