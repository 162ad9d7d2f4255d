"""Fitting from a numpy.memmap streams batches from the file and equals the in-memory fit."""

import tracemalloc

import numpy as np
import pytest
import torch

from skood.density import GlowDensity, TabularFlowDensity
from skood.density._base import BaseFlowDensity
from skood.density.glow import _row_block_moments


def _memmap(X, path):
    mm = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)


def _same_weights(a, b):
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_memmap_fit_equals_in_memory_fit(tmp_path, dtype, early_stopping):
    X = (np.random.RandomState(0).normal(size=(1500, 4)) * [1, 10, 0.1, 3]).astype(dtype)

    def make():
        return TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=2, batch_size=128,
                                  early_stopping=early_stopping, random_state=0)

    in_memory = make().fit(X)
    streamed = make().fit(_memmap(X, tmp_path / "X.dat"))
    assert _same_weights(in_memory, streamed)
    np.testing.assert_array_equal(streamed.score_samples(X), in_memory.score_samples(X))
    assert streamed.n_iter_ == in_memory.n_iter_


def test_uint8_memmap_images_fit_as_the_float_array(tmp_path):
    X = np.random.RandomState(1).randint(0, 256, size=(96, 16)).astype(np.uint8)

    def make():
        return GlowDensity(input_shape=(1, 4, 4), n_levels=1, n_steps=2, hidden_channels=8,
                           max_epochs=2, batch_size=32, random_state=0)

    in_memory = make().fit(X.astype(np.float64))
    streamed = make().fit(_memmap(X, tmp_path / "X.u8"))
    assert _same_weights(in_memory, streamed)
    assert streamed.pixel_scale_ == in_memory.pixel_scale_ == "uint8"


def test_memmap_fit_never_materialises_the_training_set(tmp_path, monkeypatch):
    X = np.random.RandomState(2).normal(size=(20_000, 64))
    mm = _memmap(X, tmp_path / "big.dat")
    del X

    def make():
        return TabularFlowDensity(n_layers=1, hidden_units=8, max_epochs=1, batch_size=4096,
                                  random_state=0)

    make().fit(mm[:100])  # torch's lazy imports happen outside the measurement
    rows = []
    to_tensor = BaseFlowDensity.to_tensor

    def spy(self, A):
        rows.append(A.shape[0])
        return to_tensor(self, A)

    monkeypatch.setattr(BaseFlowDensity, "to_tensor", spy)
    tracemalloc.start()
    try:
        make().fit(mm)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(rows) <= 1024  # ActNorm's initialisation subset and the final check only
    assert peak < mm.nbytes / 4, (peak, mm.nbytes)  # NumPy's copies are traced, torch's
    # are not: the spy above covers those.


@pytest.mark.parametrize("shape, dtype", [((70_001, 5), np.float64), ((70_001, 3), np.float32),
                                          ((5_000, 2), np.int64)])
def test_block_moments_equal_numpy_bit_for_bit(shape, dtype):
    X = (np.random.RandomState(3).normal(size=shape) * 7 + 2).astype(dtype)
    mean, std = _row_block_moments(X, block_rows=9_999)
    np.testing.assert_array_equal(mean, X.mean(axis=0))
    np.testing.assert_array_equal(std, X.std(axis=0))
