"""Each fit draws from its own random streams: thread-safe, reproducible fits that leave
torch's and NumPy's global generators alone."""

import threading

import numpy as np
import pytest
import torch
from joblib import parallel_backend
from sklearn.model_selection import cross_val_score
from torch.nn import functional as F

from skood.density import GlowDensity, TabularFlowDensity
from skood.detectors import DensityOfStatesDetector, LikelihoodDetector, LikelihoodRatioDetector
from skood.detectors._base import split_calibration
from skood.utils._rng import PrivateRNG

X_TAB = np.random.RandomState(0).normal(size=(300, 4))
X_IMG = np.random.RandomState(1).randint(0, 256, size=(64, 16)).astype(np.float64)


def _tabular(seed, **kw):
    return TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=2, batch_size=64,
                              random_state=seed, **kw)


def _glow(seed):
    return GlowDensity(input_shape=(1, 4, 4), n_levels=1, n_steps=2, hidden_channels=8,
                       max_epochs=2, batch_size=16, random_state=seed)


def _weights(density):
    return {k: v.clone() for k, v in density.module_.state_dict().items()}


def _assert_same_fit(a, b, X):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


@pytest.mark.parametrize("make, X", [(_tabular, X_TAB), (_glow, X_IMG)])
def test_concurrent_fits_in_threads_equal_sequential_fits(make, X):
    sequential = [make(seed).fit(X) for seed in range(3)]
    threaded = [make(seed) for seed in range(3)]
    errors = []

    def fit(est):
        try:
            est.fit(X)
        except Exception as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(est,)) for est in threaded]
    for t in threads:
        t.start()
    # The main thread draws from the global generator meanwhile: no effect on the fits.
    for _ in range(200):
        torch.randn(8)
    for t in threads:
        t.join()
    assert not errors
    for a, b in zip(sequential, threaded):
        _assert_same_fit(a, b, X)
    # Different seeds, different models: the comparison above can fail.
    assert not np.array_equal(sequential[0].score_samples(X), sequential[1].score_samples(X))


@pytest.mark.parametrize("make, X, kw", [
    (_tabular, X_TAB, {}),
    (_tabular, X_TAB, {"early_stopping": True}),  # a validation loader too
    (_glow, X_IMG, None),                          # dequantisation noise
])
def test_fit_leaves_global_generators_unchanged(make, X, kw):
    torch.manual_seed(123)
    np.random.seed(123)
    torch_before, np_before = torch.get_rng_state(), np.random.get_state()
    (make(0, **kw) if kw else make(0)).fit(X)
    assert torch.equal(torch.get_rng_state(), torch_before)
    np_after = np.random.get_state()
    assert np_after[0] == np_before[0]
    np.testing.assert_array_equal(np_after[1], np_before[1])
    assert np_after[2:] == np_before[2:]


def test_fit_does_not_depend_on_global_generator_state():
    torch.manual_seed(0)
    a = _tabular(5).fit(X_TAB)
    torch.manual_seed(1)
    torch.randn(100)
    b = _tabular(5).fit(X_TAB)
    _assert_same_fit(a, b, X_TAB)


def test_cross_val_score_threading_backend_equals_sequential():
    est = _tabular(0)
    sequential = cross_val_score(est, X_TAB, cv=3, n_jobs=1)
    with parallel_backend("threading", n_jobs=3):
        threaded = cross_val_score(est, X_TAB, cv=3)
    np.testing.assert_array_equal(threaded, sequential)


def test_detector_cross_validation_in_threads_equals_sequential():
    X = X_TAB
    sequential = [LikelihoodDetector(_tabular(s), random_state=s).fit(X).score_samples(X)
                  for s in range(2)]
    out = [None, None]

    def fit(i):
        out[i] = LikelihoodDetector(_tabular(i), random_state=i).fit(X).score_samples(X)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(sequential, out):
        np.testing.assert_array_equal(a, b)


def test_private_rng_matches_a_seeded_global_generator():
    torch.manual_seed(7)
    expected = (torch.nn.Linear(5, 3).weight.detach().clone(), torch.randperm(10),
                torch.rand(4))
    with PrivateRNG(7):
        got = (torch.nn.Linear(5, 3).weight.detach().clone(), torch.randperm(10),
               torch.rand(4))
    for e, g in zip(expected, got):
        assert torch.equal(e, g)


def test_private_rng_dropout_draws_from_the_private_stream():
    x = torch.ones(4, 6, 3, 3)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    with PrivateRNG(3):
        a = F.dropout(x, 0.5, training=True)
        channels = F.dropout2d(x, 0.5, training=True)
    with PrivateRNG(3):
        b = F.dropout(x, 0.5, training=True)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, b)
    assert set(torch.unique(a).tolist()) == {0.0, 2.0}
    # dropout2d zeroes whole channels: each (sample, channel) plane is constant.
    flat = channels.reshape(4, 6, -1)
    assert torch.equal(flat.amin(-1), flat.amax(-1))
    assert set(torch.unique(channels).tolist()) == {0.0, 2.0}
    with PrivateRNG(3):
        assert torch.equal(F.dropout(x, 0.5, training=False), x)


def test_private_rng_refuses_ops_without_a_generator():
    with PrivateRNG(0), pytest.raises(RuntimeError, match="alpha_dropout draws from torch's"):
        F.alpha_dropout(torch.ones(3), 0.5, training=True)


def test_fitted_model_keeps_no_generator(tmp_path):
    flow = _tabular(0, checkpoint_dir=tmp_path).fit(X_TAB)
    assert flow.net_.rng is None
    held = [cb for _, cb in flow.net_.callbacks_ if getattr(cb, "rng", None) is not None]
    assert held == []


# -- a detector's random_state seeds the flows that have no seed of their own ---------------
def _unseeded_flow():
    return TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=2, batch_size=64)


@pytest.mark.parametrize("make", [
    lambda **kw: LikelihoodDetector(_unseeded_flow(), **kw),
    lambda **kw: DensityOfStatesDetector(_unseeded_flow(), **kw),
    lambda **kw: DensityOfStatesDetector(_unseeded_flow(), cross_fit=2, **kw),
    lambda **kw: LikelihoodRatioDetector(_unseeded_flow(), **kw),
])
def test_detector_seed_makes_a_fit_with_an_unseeded_flow_reproducible(make):
    a, b, c = (make(random_state=s).fit(X_TAB) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.score_samples(X_TAB), b.score_samples(X_TAB))
    assert not np.array_equal(a.score_samples(X_TAB), c.score_samples(X_TAB))
    assert a.flow.random_state is None  # the parameter itself is left alone (clone-safe)
    assert isinstance(a.flow_.random_state, int)


def test_default_flow_is_seeded_by_the_detector():
    a, b = (LikelihoodDetector(random_state=3).fit(X_TAB[:, :2]) for _ in range(2))
    _assert_same_fit(a.flow_, b.flow_, X_TAB[:, :2])


def test_a_flow_seed_of_its_own_wins_and_leaves_the_detector_draws_alone():
    det = LikelihoodDetector(_tabular(7), random_state=0).fit(X_TAB)
    assert det.flow_.random_state == 7
    X_fit, _ = split_calibration(X_TAB, 0.2, np.random.RandomState(0), frozen=False)
    _assert_same_fit(det.flow_, _tabular(7).fit(X_fit), X_TAB)
    # No seed drawn for a seeded flow: the detector's later draws do not move.
    other = LikelihoodDetector(_tabular(8), random_state=0).fit(X_TAB)
    assert other.bootstrap_seed_ == det.bootstrap_seed_


def test_cross_fitted_unseeded_flows_get_one_seed_each():
    det = DensityOfStatesDetector(_unseeded_flow(), cross_fit=3, random_state=0).fit(X_TAB)
    seeds = [f.random_state for f in det.flows_]
    assert len(set(seeds)) == 3
    det = DensityOfStatesDetector(_tabular(5), cross_fit=3, random_state=0).fit(X_TAB)
    assert [f.random_state for f in det.flows_] == [5, 5, 5]
