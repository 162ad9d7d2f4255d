"""skood.parallel without a cluster: the thread rule and block-wise scoring."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skood.density import TabularFlowDensity
from skood.detectors import LikelihoodDetector
from skood.parallel import score_blocks, torch_threads

X = np.random.RandomState(0).normal(size=(5_000, 3))


@pytest.fixture(scope="module")
def flow():
    return TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=2,
                              random_state=0).fit(X[:300])


def test_torch_threads_divides_the_cores():
    assert torch_threads(1, n_cores=16) == 16
    assert torch_threads(3, n_cores=16) == 5
    assert torch_threads(4, n_cores=2) == 1
    assert torch_threads() >= 1
    with pytest.raises(ValueError, match="n_concurrent must be a positive integer"):
        torch_threads(0)
    with pytest.raises(ValueError, match="n_cores must be a positive integer"):
        torch_threads(2, n_cores=True)


@pytest.mark.parametrize("block_rows", [1, 999, 5_000, 100_000])
def test_blocks_of_a_numpy_array_equal_in_memory_scoring(flow, block_rows):
    rows = X[:40] if block_rows == 1 else X
    # Equal up to float32 rounding: BLAS may block a 1-row product differently from a
    # 1,000-row one (1 ulp on some CPUs); blocks of many rows score bit for bit.
    tol = dict(rtol=1e-6, atol=0) if block_rows == 1 else dict(rtol=0, atol=0)
    np.testing.assert_allclose(score_blocks(flow, rows, block_rows=block_rows),
                               flow.score_samples(rows), **tol)


def test_blocks_of_a_memmap_equal_in_memory_scoring(flow, tmp_path):
    mm = np.memmap(tmp_path / "X.dat", dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    det = LikelihoodDetector(TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=1,
                                                random_state=0), random_state=0).fit(X[:300])
    for method in ("score_samples", "decision_function", "predict"):
        np.testing.assert_array_equal(score_blocks(det, mm, method, block_rows=1_500),
                                      getattr(det, method)(X))


def test_dask_array_without_a_client_uses_the_current_scheduler(flow):
    da = pytest.importorskip("dask.array")
    lazy = score_blocks(flow, da.from_array(X, chunks=(1_000, 3)))
    assert lazy.numblocks == (5,)
    np.testing.assert_array_equal(lazy.compute(scheduler="threads"), flow.score_samples(X))


def test_score_blocks_refuses_what_it_cannot_score(flow):
    with pytest.raises(ValueError, match="method must be one of"):
        score_blocks(flow, X, "transform")
    with pytest.raises(TypeError, match="TabularFlowDensity has no predict method"):
        score_blocks(flow, X, "predict")
    with pytest.raises(NotFittedError):
        score_blocks(TabularFlowDensity(), X)
    with pytest.raises(ValueError, match="X must be 2-D"):
        score_blocks(flow, X[:, 0])
    with pytest.raises(ValueError, match="block_rows must be a positive integer"):
        score_blocks(flow, X, block_rows=0)
    with pytest.raises(ValueError, match="X has 2 features"):
        score_blocks(flow, X[:, :2])
