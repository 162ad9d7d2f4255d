"""LID of flows (Kamkari et al., ICML 2024): Jacobians, estimators, calibration, detector."""

import math

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from torch import nn

from skood.detectors import lid_calibration
from skood.flows import spectral
from skood.density import TabularFlowDensity
from skood.detectors.lid import LIDLikelihoodDetector, _ecdf
from skood.flows import FlowOutput, Glow

_TAB = dict(n_layers=2, hidden_units=8, max_epochs=2, dtype="float64", random_state=0)
# The first torch.func.jvp imports torch's JVP decompositions, which use torch.jit.script.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


# -- a flow whose generator is a known linear map ------------------------------------
class LinearFlow(nn.Module):
    """Generator ``y = A z_hat``: LID at scale r = number of singular values of A above e^r."""

    def __init__(self, A):
        super().__init__()
        d = A.shape[0]
        self.register_buffer("A", A)
        self.register_buffer("A_inv", torch.linalg.inv(A))
        self.latent_shapes = [(d, 1, 1)]

    def forward(self, x):
        z = x @ self.A_inv.T
        log_prob = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(1)
        log_prob = log_prob - torch.linalg.slogdet(self.A)[1]
        return FlowOutput(log_prob, log_prob[:, None], [z], [z])

    def inverse(self, latents, normalized=True):
        z = latents[0].reshape(latents[0].shape[0], -1)
        return z @ self.A.T

    def flatten_latents(self, latents):
        return latents[0].flatten(1)

    def unflatten_latents(self, z):
        return [z]


def _linear_flow(d_big, d_small, seed=0):
    """Random rotations around singular values in [1, 3] (d_big) and [1e-4, 1e-3]."""
    rng = np.random.RandomState(seed)
    D = d_big + d_small
    s = np.r_[rng.uniform(1, 3, d_big), rng.uniform(1e-4, 1e-3, d_small)]
    Q1 = np.linalg.qr(rng.normal(size=(D, D)))[0]
    Q2 = np.linalg.qr(rng.normal(size=(D, D)))[0]
    A = torch.tensor(Q1 @ np.diag(s) @ Q2.T, dtype=torch.float64)
    X = rng.normal(size=(6, D))
    return LinearFlow(A), X, s


def _random_glow(input_shape=(1, 4, 4), seed=0, n=2):
    """A float64 Glow with ActNorm initialised and non-trivial (perturbed) couplings."""
    torch.manual_seed(seed)
    flow = Glow(input_shape, n_levels=2, n_steps=1, hidden_channels=8).double()
    D = int(np.prod(input_shape))
    flow.train()
    with torch.no_grad():
        flow(torch.rand(64, D, dtype=torch.float64) - 0.5)
        for p in flow.parameters():  # zero-initialised convolutions would make it affine
            p.add_(0.05 * torch.randn_like(p))
    flow.eval()
    return flow, torch.rand(n, D, dtype=torch.float64) - 0.5


@pytest.fixture(scope="module")
def glow():
    flow, x = _random_glow()
    return flow, x, spectral.flow_jacobian(flow, x, method="reverse", chunk_size=5, batch_size=1)


# -- exact Jacobian ---------------------------------------------------------------------
def test_jacobian_paths_agree_and_invert_forward_jacobian(glow):
    flow, x, J = glow
    assert J.shape == (2, 16, 16)
    np.testing.assert_allclose(spectral.flow_jacobian(flow, x, method="columns"), J, atol=1e-8)
    np.testing.assert_allclose(spectral.flow_jacobian(flow, x, method="forward", chunk_size=3), J,
                               atol=1e-8)
    np.testing.assert_allclose(spectral.flow_jacobian(flow, x, method="jacfwd"), J, atol=1e-8)
    np.testing.assert_allclose(spectral.flow_jacobian(flow, x, chunk_size=None), J, atol=1e-8)

    # g = f^-1, so dg/dz_hat at f(x) is the inverse of the encoder's Jacobian at x.
    def encode(xi):
        return flow.flatten_latents(flow(xi[None]).latents_normalized)[0]

    Jf = torch.func.vmap(torch.func.jacrev(encode))(x).detach().numpy()
    np.testing.assert_allclose(J @ Jf, np.broadcast_to(np.eye(16), J.shape), atol=1e-8)

    sv = spectral.flow_singular_values(flow, x)
    np.testing.assert_allclose(sv, np.linalg.svd(J, compute_uv=False), rtol=1e-10)


def test_float32_glow_paths_agree():
    """float32 on a CPU: the Glow runs its coupling networks channels-last, which
    ``torch.func.vmap`` rejects; the batched paths stack copies instead of vmapping."""
    flow, x = _random_glow(n=3)
    flow = flow.float()
    x = x.float()
    J = spectral.flow_jacobian(flow, x, chunk_size=6)
    assert J.shape == (3, 16, 16)
    np.testing.assert_allclose(spectral.flow_jacobian(flow, x, method="forward", chunk_size=7), J,
                               atol=1e-5)
    nodes_fd, w_fd = spectral.flow_spectral_quadrature(flow, x, n_probes=2, n_steps=5,
                                                  random_state=0)
    nodes_ad, w_ad = spectral.flow_spectral_quadrature(flow, x, n_probes=2, n_steps=5,
                                                  random_state=0, jvp_method="autodiff")
    np.testing.assert_allclose(nodes_fd, nodes_ad, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(w_fd, w_ad, atol=1e-3)


def test_jacobian_of_fitted_estimator_includes_pre_transform():
    X = np.random.RandomState(0).normal(size=(50, 3)) * [1.0, 10.0, 100.0] + 5
    est = TabularFlowDensity(**_TAB).fit(X)
    J = spectral.flow_jacobian(FrozenEstimator(est), X[:4])
    assert J.shape == (4, 3, 3)
    # g maps to the standardised space: log|det J| = log p(x) - log N(z_hat) - log|det pre|,
    # i.e. -log|det dz_hat/dy|.
    out = est.flow_pass(X[:4])
    z = np.concatenate([z.reshape(4, -1) for z in out.latents_normalized], 1)
    log_n = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(1)
    pre_logdet = -np.log(est.module_.pre.scale.numpy()).sum()
    np.testing.assert_allclose(
        np.linalg.slogdet(J)[1], -(out.log_prob - pre_logdet - log_n), rtol=1e-8
    )


# -- LID from spectra ---------------------------------------------------------------------
def test_exact_lid_on_known_linear_generator():
    flow, X, s = _linear_flow(d_big=7, d_small=5)
    sv = spectral.flow_singular_values(flow, X)
    np.testing.assert_allclose(sv, np.tile(np.sort(s)[::-1], (6, 1)), rtol=1e-10)
    for r in (math.log(0.02), 0.0, math.log(0.9)):  # anywhere in the gap
        np.testing.assert_array_equal(lid_calibration.lid_from_singular_values(sv, r), 7)
    np.testing.assert_array_equal(lid_calibration.lid_from_singular_values(sv, -10.0), 12)
    np.testing.assert_array_equal(lid_calibration.lid_from_singular_values(sv, 2.0), 0)
    np.testing.assert_array_equal(lid_calibration.lid_from_singular_values(sv, None), 7)


def test_gap_rule_counts_above_the_largest_log_gap_in_any_order():
    sv = np.array([[0.009, 10.0, 0.01, 9.0, 8.0], [1.0, 0.5, 0.4, 0.3, 0.2]])
    np.testing.assert_array_equal(lid_calibration.lid_from_singular_values(sv, None), [3, 1])
    np.testing.assert_array_equal(lid_calibration.lid_from_singular_values([[2.0]], None), [1])


def test_fast_lid_matches_exact_on_linear_generator():
    flow, X, _ = _linear_flow(d_big=8, d_small=16)
    nodes, weights = spectral.flow_spectral_quadrature(flow, X, n_probes=100, n_steps=8,
                                                  random_state=0)
    assert nodes.shape == weights.shape == (6, 100, 8)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-10)
    fast = lid_calibration.lid_from_quadrature(nodes, weights, -3.5, 24)
    # Hutchinson with 100 Rademacher probes: standard deviation ~0.33 here
    assert np.all(np.abs(fast - 8) < 1.5), fast
    hard = lid_calibration.lid_from_quadrature(nodes, weights, -3.5, 24, smoothing=0)
    np.testing.assert_allclose(hard, fast, atol=0.05)  # the spectrum is >3 nats from the step


@pytest.mark.parametrize("jvp_method", ["central_difference", "autodiff"])
def test_fast_lid_with_full_krylov_space_is_exact_per_probe(glow, jvp_method):
    flow, x, J = glow
    nodes, weights = spectral.flow_spectral_quadrature(flow, x, n_probes=1, n_steps=40,
                                                  random_state=0, jvp_method=jvp_method)
    assert nodes.shape[-1] == 16  # capped at D
    # 16 steps span the whole space: the Ritz values are the singular values
    sv = np.linalg.svd(J, compute_uv=False)
    np.testing.assert_allclose(np.sort(nodes[:, 0], 1), np.sort(sv, 1), rtol=1e-6)


def test_shorter_lanczos_runs_are_leading_blocks(glow):
    flow, x, _ = glow
    fm = spectral._FlowMap(flow)
    _, z = fm.encode(x)
    probes = spectral._rademacher_probes(2, 16, 0, z.device, z.dtype)
    a, b = spectral._golub_kahan(fm.generate, z, probes, 8)
    s4, w4 = spectral._gauss_quadrature(a, b, 4)
    nodes, weights = spectral.flow_spectral_quadrature(flow, x, n_probes=2, n_steps=4,
                                                  random_state=0)
    np.testing.assert_allclose(s4.transpose(0, 1).numpy(), nodes, rtol=1e-8)
    np.testing.assert_allclose(w4.transpose(0, 1).numpy(), weights, atol=1e-10)


def test_fast_lid_is_seeded_and_batch_independent(glow):
    flow, x, _ = glow
    a = spectral.flow_spectral_quadrature(flow, x, n_probes=2, n_steps=4, random_state=3)
    b = spectral.flow_spectral_quadrature(flow, x[1:2], n_probes=2, n_steps=4, random_state=3,
                                     batch_size=1)
    c = spectral.flow_spectral_quadrature(flow, x[:1], n_probes=2, n_steps=4, random_state=4)
    np.testing.assert_allclose(a[0][1:2], b[0], rtol=1e-8)
    np.testing.assert_allclose(a[1][1:2], b[1], atol=1e-8)
    assert not np.allclose(a[0][:1], c[0])


# -- calibration ------------------------------------------------------------------------
def test_local_pca_dimension_of_a_linear_subspace():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 10)) + 1e-4 * rng.normal(size=(400, 10))
    np.testing.assert_array_equal(lid_calibration.local_pca_dimension(X, n_neighbors=30, alpha=0.01), 3)
    assert lid_calibration.local_pca_dimension(X, n_neighbors=None, alpha=0.01, query=X[:2]).tolist() == [3, 3]


def test_calibrate_log_threshold_lpca_and_plateau():
    rng = np.random.RandomState(0)
    # 5 "tangent" singular values near e^1, 7 "normal" ones near e^-6, per sample
    log_sv = np.c_[rng.normal(1.0, 0.2, (20, 5)), rng.normal(-6.0, 0.2, (20, 7))]
    sv = np.exp(log_sv)

    def lid_fn(r):
        return lid_calibration.lid_from_singular_values(sv, r)

    r = lid_calibration.calibrate_log_threshold(lid_fn, target=5.0, breakpoints=log_sv,
                                    bounds=(log_sv.min() - 1, log_sv.max() + 1))
    assert log_sv[:, 5:].max() < r < log_sv[:, :5].min()
    assert np.mean(lid_fn(r)) == 5.0
    r = lid_calibration.calibrate_log_threshold(lid_fn, target=8.5)  # between two jumps: closest mean
    assert abs(np.mean(lid_fn(r)) - 8.5) <= 0.05 + 1e-12
    r = lid_calibration.calibrate_log_threshold(lid_fn, method="plateau", n_dims=12, bounds=(-10, 5))
    assert log_sv[:, 5:].max() < r < log_sv[:, :5].min()
    np.testing.assert_array_equal(lid_fn(r), 5)


def test_ecdf_is_continuous_monotone_with_ordered_tails():
    ref = np.array([1.0, 2.0, 2.0, 3.0])
    v = np.array([-np.inf, -5.0, 0.0, 1.0, 2.0, 2.5, 3.0, 4.0, 50.0, np.nan])
    p = _ecdf(v, ref)
    assert np.all(np.diff(p[:-1]) > 0)  # strictly increasing, tails included
    np.testing.assert_allclose(p[[3, 4, 6]], [0.125, 0.5, 0.875])
    assert p[0] == 0.0 and p[-1] == 0.0 and 0 < p[1] < p[2] < 0.125 and p[8] < 1.0


# -- the detector --------------------------------------------------------------------------
_CHECK_FLOW = dict(n_layers=1, hidden_units=4, max_epochs=1, dtype="float64", random_state=0)


def test_detector_score_is_rank_and_of_likelihood_and_lid():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 2))
    X_test = np.r_[X[:5], [[0.0, 8.0], [50.0, 50.0]]]
    det = LIDLikelihoodDetector(TabularFlowDensity(**_TAB), log_threshold=-3.0, random_state=0)
    det.fit(X)
    assert det.log_threshold_ == -3.0 and det.calibration_target_ is None
    pairs = det.likelihood_and_lid(X_test)
    assert pairs.shape == (7, 2)
    np.testing.assert_allclose(pairs[:, 0], det.flow_.score_samples(X_test))
    np.testing.assert_array_equal(pairs[:5, 1], 2)  # an invertible 2-D flow at a small r
    expected = np.minimum(_ecdf(pairs[:, 0], det.reference_log_prob_),
                          _ecdf(pairs[:, 1], det.reference_lid_))
    np.testing.assert_allclose(det.score_samples(X_test), expected)
    assert np.all(det.score_samples(X_test[5:]) < det.score_samples(X[:5]).min())
    assert np.all(det.predict(X_test[5:]) == -1)

    fast = LIDLikelihoodDetector(TabularFlowDensity(**_TAB), method="fast", random_state=0,
                                 calibration="plateau").fit(X)
    assert np.all((fast.reference_lid_ >= 0) & (fast.reference_lid_ <= 2))
    np.testing.assert_allclose(fast.score_samples(X[:3]), fast.score_samples(X[:3]))


def test_dual_threshold_auroc_dominates_single_scores():
    from skood.metrics import dual_threshold_auroc

    rng = np.random.RandomState(0)
    n = 200
    # ID: high LID, moderate likelihood; OOD half paradoxical (higher likelihood, low LID)
    ll = np.r_[rng.normal(0, 1, n), rng.normal(1.0, 1, n // 2), rng.normal(-3, 1, n // 2)]
    lid_ = np.r_[rng.normal(10, 1, n), rng.normal(6, 1, n // 2), rng.normal(10, 1, n // 2)]
    y = np.r_[np.ones(n), -np.ones(n)]
    dual = dual_threshold_auroc(ll, lid_, y)
    assert dual >= roc_auc_score(y, ll) - 1e-12
    assert dual >= roc_auc_score(y, lid_) - 1e-12
    assert dual > 0.9
    np.testing.assert_allclose(dual_threshold_auroc(ll, np.full(2 * n, 7.0), y),
                               roc_auc_score(y, ll), atol=1e-12)
