"""The ``device`` parameter: validated with a clear error; a fitted model moves devices."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from skood.density import GlowDensity, TabularFlowDensity
from skood.utils._device import check_device

X = np.random.RandomState(0).normal(size=(80, 3))
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def _flow(**kw):
    return TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=1, random_state=0, **kw)


@pytest.mark.parametrize("device", ["tpu", "gpu", "cuda:x", "cpu:0", "mps:1", "CUDA", ""])
def test_unknown_device_names_are_refused(device):
    with pytest.raises(ValueError, match=r"is not a device skood can use: pass 'cpu', 'cuda', "
                                         r"'cuda:N' \(N a GPU index\), 'mps' or 'auto'"):
        _flow(device=device).fit(X)


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_refused_with_the_reason(device):
    why = "has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
    with pytest.raises(ValueError, match=f"device='{device}' is not available: .*{why}"):
        _flow(device=device).fit(X)
    with pytest.raises(ValueError, match="is not available"):
        GlowDensity(input_shape=(1, 2, 2), device=device).fit(np.zeros((4, 4)))


def test_cuda_index_beyond_the_visible_gpus_is_refused():
    with pytest.raises(ValueError, match="'cuda:99' is not available"):
        check_device("cuda:99")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_mps_without_mps_is_refused():
    with pytest.raises(ValueError, match="'mps' is not available: Apple's MPS backend"):
        _flow(device="mps").fit(X)


def test_non_string_device_is_refused():
    with pytest.raises(TypeError, match="device must be a str"):
        check_device(0)


@no_cuda
@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a CPU-only machine")
def test_auto_is_the_cpu_without_a_gpu_and_fits_as_cpu():
    auto = _flow(device="auto").fit(X)
    assert auto.device_ == torch.device("cpu")
    np.testing.assert_array_equal(auto.score_samples(X), _flow(device="cpu").fit(X).score_samples(X))


def test_to_moves_a_fitted_model_and_keeps_its_scores():
    flow = _flow().fit(X)
    expected = flow.score_samples(X)
    assert flow.to("auto") is flow
    assert flow.device_ == check_device("auto")
    assert next(flow.module_.parameters()).device.type == flow.device_.type
    flow.to("cpu")
    np.testing.assert_array_equal(flow.score_samples(X), expected)
    with pytest.raises(ValueError, match="'tpu' is not a device"):
        flow.to("tpu")
    with pytest.raises(NotFittedError):
        _flow().to("cpu")
