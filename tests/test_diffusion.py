"""The diffusion backbone: its estimators against closed forms, and the estimator's contract.

Closed forms use Gaussian data, whose VP-SDE marginals are Gaussian with an
analytic score; nothing here trains a network except the estimator tests
(tiny networks, a few epochs).
"""

import math
import pickle

import numpy as np
import pytest
import torch

from skood.density import DiffusionDensity
from skood.diffusion import (
    VPSDE,
    DiffusionModule,
    EpsUNet,
    eps_and_trace,
    flipd,
    knee_time,
    ode_times,
    probability_flow_log_prob,
    rademacher_probes,
    sample_ddim,
    score_norms,
)

SDE = VPSDE()
F64 = torch.float64


def gaussian_eps(mean, cov):
    """eps(y, t) = sigma(t) C_t^{-1} (y - alpha(t) mean), C_t = alpha^2 cov + sigma^2 I."""
    d = len(mean)

    def eps_fn(y, t):
        a = SDE.alpha(t)[:, None, None]
        s = SDE.sigma(t)[:, None, None]
        c = a**2 * cov + s**2 * torch.eye(d, dtype=y.dtype)
        r = y - a[:, :, 0] * mean
        return s[:, :, 0] * torch.linalg.solve(c, r.unsqueeze(-1)).squeeze(-1)

    return eps_fn


def subspace_eps(d, big_d):
    """Data N(0, I_d) on the first d coordinates of R^D (zero elsewhere)."""
    var0 = torch.zeros(big_d, dtype=F64)
    var0[:d] = 1.0

    def eps_fn(y, t):
        a, s = SDE.alpha(t)[:, None], SDE.sigma(t)[:, None]
        return s * y / (a**2 * var0 + s**2)

    return eps_fn


def _sample(mean, cov, n, seed=0):
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=F64)
    return mean + z @ torch.linalg.cholesky(cov).T


def _random_gaussian(d, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=F64) * 0.5
    return torch.randn(d, generator=g, dtype=F64), a @ a.T + 0.3 * torch.eye(d, dtype=F64)


# -- closed forms ---------------------------------------------------------------------------
def test_vpsde_marginals():
    for t in (1e-4, 0.1, 0.5, 1.0):
        assert SDE.alpha(t) ** 2 + SDE.sigma(t) ** 2 == pytest.approx(1.0)
        assert SDE.noise_ratio(SDE.time_for_noise_ratio(SDE.noise_ratio(t))) == \
            pytest.approx(SDE.noise_ratio(t))
    t = torch.tensor([0.3], dtype=F64)
    assert float(SDE.alpha(t)) == pytest.approx(SDE.alpha(0.3))


def test_ode_log_likelihood_matches_gaussian_closed_form():
    mean, cov = _random_gaussian(4)
    # A centred Gaussian: the prior at t = 1 is then N(0, I) up to alpha(1)^2 = 4e-5
    # in the covariance (with a mean m, the error adds about alpha(1) |y| |m| nats).
    mean = torch.zeros(4, dtype=F64)
    y = _sample(mean, cov, 20)
    t_min = 1e-3
    # The ODE from t_min gives the density of the data at time t_min.
    a, s = SDE.alpha(t_min), SDE.sigma(t_min)
    exact = torch.distributions.MultivariateNormal(
        a * mean, a**2 * cov + s**2 * torch.eye(4, dtype=F64)).log_prob(y)
    for grid in ("log_snr", "uniform"):
        errors = {}
        for steps in (25, 400):
            lp = probability_flow_log_prob(gaussian_eps(mean, cov), y, SDE, n_steps=steps,
                                           t_min=t_min, grid=grid)
            errors[steps] = float((lp - exact).abs().max())
        # Euler's error shrinks with the steps
        assert errors[25] < 0.3
        assert errors[400] < 0.02
        assert errors[400] < errors[25] / 4
    with pytest.raises(ValueError, match="grid"):
        probability_flow_log_prob(gaussian_eps(mean, cov), y, SDE, grid="cosine")


def test_ode_times_are_uniform_in_log_snr():
    ts = ode_times(SDE, 10, t_min=1e-3)
    assert ts[0] == 1e-3 and ts[-1] == 1.0 and len(ts) == 11
    log_ratio = np.log([SDE.noise_ratio(t) for t in ts])
    np.testing.assert_allclose(np.diff(log_ratio), np.diff(log_ratio)[0], rtol=1e-9)
    # smaller steps near t_min, where the ODE changes fastest
    assert ts[1] - ts[0] < ts[-1] - ts[-2]
    np.testing.assert_allclose(ode_times(SDE, 4, grid="uniform"), np.linspace(1e-3, 1, 5))


def test_hutchinson_trace_within_standard_error_of_exact():
    mean, cov = _random_gaussian(6, seed=1)
    eps_fn = gaussian_eps(mean, cov)
    y = torch.randn(3, 6, generator=torch.Generator().manual_seed(1), dtype=F64)
    t = torch.full((3,), 0.05, dtype=F64)
    _, exact = eps_and_trace(eps_fn, y, t, torch.eye(6, dtype=F64), exact=True)
    probes = rademacher_probes(400, 6, generator=torch.Generator().manual_seed(0), dtype=F64)
    n, p, d = 3, 400, 6
    # Per-probe estimates, to get their standard error.
    _, single = eps_and_trace(eps_fn, y, t, probes[:1], exact=False)
    y_rep = y.unsqueeze(1).expand(n, p, d).reshape(n * p, d).requires_grad_(True)
    eps = eps_fn(y_rep, t.repeat_interleave(p))
    v = probes.unsqueeze(0).expand(n, p, d).reshape(n * p, d)
    (g,) = torch.autograd.grad(eps, y_rep, v)
    per_probe = (g * v).sum(1).reshape(n, p)
    _, hutch = eps_and_trace(eps_fn, y, t, probes, exact=False)
    assert torch.allclose(hutch, per_probe.mean(1))
    se = per_probe.std(1) / math.sqrt(p)
    assert bool(((hutch - exact).abs() < 3 * se).all())
    assert bool((se > 0).all())  # a non-diagonal Jacobian: the estimate is really random
    # and the ODE likelihood with probes is within a few nats of the exact one
    lp_exact = probability_flow_log_prob(eps_fn, y, SDE, n_steps=25)
    lp_hutch = probability_flow_log_prob(eps_fn, y, SDE, n_steps=25, probes=probes[:64])
    assert float((lp_exact - lp_hutch).abs().max()) < 0.5


@pytest.mark.parametrize("d", [2, 5])
def test_flipd_on_affine_subspace_returns_its_dimension(d):
    big_d = 12
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(big_d, big_d, generator=g, dtype=F64))[0]
    offset = torch.randn(big_d, generator=g, dtype=F64)
    base = subspace_eps(d, big_d)

    def eps_fn(y, t):  # the subspace rotated and shifted: an affine d-dim subspace
        a = SDE.alpha(t)[:, None]
        return base((y - a * offset) @ basis, t) @ basis.T

    z = torch.zeros(300, big_d, dtype=F64)
    z[:, :d] = torch.randn(300, d, generator=g, dtype=F64)
    x = z @ basis.T + offset
    for t0 in (1e-3, 1e-2):
        lid = flipd(eps_fn, x, SDE, t0)
        assert float(lid.mean()) == pytest.approx(d, abs=0.05)
        # Hutchinson: unbiased; with the probes shared by all rows its error is that
        # of one trace estimate, standard error sqrt(2 sum_{i!=j} J_ij^2 / P) < 0.25 here.
        probes = rademacher_probes(400, big_d, generator=g, dtype=F64)
        assert float(flipd(eps_fn, x, SDE, t0, probes=probes).mean()) == \
            pytest.approx(d, abs=0.75)


def test_flipd_on_full_dimensional_gaussian_returns_ambient_dimension():
    big_d = 8
    mean, cov = _random_gaussian(big_d, seed=3)
    x = _sample(mean, cov, 300)
    lid = flipd(gaussian_eps(mean, cov), x, SDE, 1e-3)
    assert float(lid.mean()) == pytest.approx(big_d, abs=0.1)


def test_knee_time_finds_the_plateau():
    times = np.geomspace(1e-4, 1, 21)
    # ambient D=50 at small t0, a plateau at 5, then 0
    curve = 5 + 45 / (1 + (times / 1e-3) ** 2) - 5 / (1 + (0.3 / times) ** 4)
    t0 = knee_time(times, curve)
    assert 3e-3 <= t0 <= 0.1


def test_score_norms_and_ddim_on_gaussian():
    mean, cov = _random_gaussian(3, seed=4)
    eps_fn = gaussian_eps(mean, cov)
    y = _sample(mean, cov, 2000)
    norms = score_norms(eps_fn, y, SDE, [0.01, 0.5])
    assert norms.shape == (2000, 2)
    # DDIM maps N(0, I) to samples of the data distribution
    noise = torch.randn(4000, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    x = sample_ddim(eps_fn, noise, SDE, n_steps=200)
    assert torch.allclose(x.mean(0), mean, atol=0.1)
    assert torch.allclose(torch.cov(x.T), cov, atol=0.15)


# -- the estimator ------------------------------------------------------------------------
_SMALL = dict(hidden_units=(16, 8), time_embedding_dim=8, max_epochs=3, ode_steps=5,
              n_score_levels=3, path_steps=3, random_state=0)


@pytest.fixture(scope="module")
def blob():
    return np.random.RandomState(0).normal(size=(200, 3))


@pytest.fixture(scope="module")
def fitted(blob):
    return DiffusionDensity(pixel_scale="continuous", flipd_t0=0.05, **_SMALL).fit(blob)


def test_statistics_are_deterministic_under_random_state(blob, fitted):
    a = fitted.diffusion_statistics(blob[:10], statistics=("log_prob", "flipd",
                                                            "score_norms", "path"))
    other = DiffusionDensity(pixel_scale="continuous", flipd_t0=0.05, **_SMALL).fit(blob)
    b = other.diffusion_statistics(blob[:10], statistics=("log_prob", "flipd",
                                                           "score_norms", "path"))
    for name in ("log_prob", "flipd", "score_norms", "path"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    # a different seed gives a different model
    c = DiffusionDensity(pixel_scale="continuous", flipd_t0=0.05,
                         **{**_SMALL, "random_state": 1}).fit(blob)
    assert not np.array_equal(c.score_samples(blob[:10]), a.log_prob)
    # scoring does not depend on which other rows are scored
    assert np.array_equal(fitted.score_samples(blob[3:5]), a.log_prob[3:5])


def test_global_torch_rng_untouched(blob):
    state = torch.random.get_rng_state()
    DiffusionDensity(pixel_scale="continuous", flipd_t0="knee", **_SMALL).fit(blob[:50])
    assert torch.equal(state, torch.random.get_rng_state())


def test_hutchinson_estimator_option(blob):
    dm = DiffusionDensity(pixel_scale="continuous", trace="hutchinson", ode_probes=2,
                          flipd_t0=0.05, **_SMALL).fit(blob)
    exact = DiffusionDensity(pixel_scale="continuous", trace="exact", flipd_t0=0.05,
                             **_SMALL).fit(blob)
    assert dm.trace_ == "hutchinson" and exact.trace_ == "exact"
    # same weights (same seed), different traces: close but not equal
    lp, lp_exact = dm.score_samples(blob[:20]), exact.score_samples(blob[:20])
    assert not np.array_equal(lp, lp_exact)
    assert np.abs(lp - lp_exact).max() < 2.0


def test_pixels_in_glow_units():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(64, 16)).astype(np.float64)
    dm = DiffusionDensity(flipd_t0=0.05, **_SMALL).fit(X)
    assert dm.pixel_scale_ == "uint8"
    unit = DiffusionDensity(flipd_t0=0.05, **_SMALL).fit(X / 255.0)
    assert unit.pixel_scale_ == "unit"
    # the same images on either scale get the same log-likelihood (same seed)
    np.testing.assert_allclose(dm.score_samples(X[:4]), unit.score_samples(X[:4] / 255.0),
                               rtol=1e-5)
    bpd = dm.bits_per_dim(X[:4])
    assert np.all(np.isfinite(bpd))
    samples = dm.sample(5, random_state=0)
    assert samples.shape == (5, 16)
    assert np.array_equal(samples, np.round(samples)) and samples.min() >= 0
    assert samples.max() <= 255
    with pytest.raises(ValueError, match="Pixel values must lie in"):
        dm.score_samples(X[:2] + 300)


def test_untrained_model_likelihood_is_the_prior():
    # eps = 0 (zero-initialised output layer, no training step): the ODE maps y to
    # y * exp(-B(1)/2 + B(t_min)/2) and the density is a Gaussian.
    X = np.random.RandomState(0).normal(size=(50, 2))
    dm = DiffusionDensity(pixel_scale="continuous", lr=1e-12, ema_decay=None,
                          max_grad_norm=None, warmup_fraction=0.0, flipd_t0=0.05,
                          **{**_SMALL, "max_epochs": 1}).fit(X)
    lp = dm.score_samples(X[:5])
    assert np.all(np.isfinite(lp))


def test_errors_name_the_problem(blob, fitted):
    with pytest.raises(ValueError, match="Unknown diffusion statistic"):
        fitted.diffusion_statistics(blob[:2], statistics=("jacobian",))
    with pytest.raises(ValueError, match="hidden_units"):
        DiffusionDensity(hidden_units=(), pixel_scale="continuous").fit(blob)
    with pytest.raises(ValueError, match="method"):
        fitted.sample(2, method="langevin")
    with pytest.raises(ValueError, match="not a device skood can use"):
        DiffusionDensity(device="tpu", pixel_scale="continuous").fit(blob)


def test_pickle_and_skood_save_roundtrip(tmp_path, blob, fitted):
    import skood

    lp = fitted.score_samples(blob[:5])
    assert np.array_equal(pickle.loads(pickle.dumps(fitted)).score_samples(blob[:5]), lp)
    path = tmp_path / "dm.skood"
    skood.save(fitted, path)
    loaded = skood.load(path)
    assert np.array_equal(loaded.score_samples(blob[:5]), lp)
    assert np.array_equal(loaded.flipd(blob[:5]), fitted.flipd(blob[:5]))


# -- the convolutional U-Net option ---------------------------------------------------------
_UNET = dict(network="unet", channels=(4, 8), time_embedding_dim=8, max_epochs=2, ode_steps=3,
             n_score_levels=2, path_steps=2, flipd_t0=0.05, trace="hutchinson", random_state=0)


@pytest.fixture(scope="module")
def images():
    rng = np.random.RandomState(0)
    # 2x4x4 images: smooth blobs plus pixel noise, in [0, 255]
    base = np.linspace(0, 200, 32)[None] + rng.randint(0, 40, size=(120, 32))
    return np.clip(base, 0, 255).round()


def test_unet_is_a_per_image_convolutional_eps_network():
    net = DiffusionModule(n_features=32, network="unet", input_shape=(2, 4, 4), channels=(4, 8),
                          time_embedding_dim=8, pixel_max=255.0, seed=0).net
    assert isinstance(net, EpsUNet)
    y = torch.randn(5, 32, generator=torch.Generator().manual_seed(0))
    t = torch.full((5,), 0.3)
    assert torch.count_nonzero(net(y, t)) == 0  # zero output convolution: eps = 0
    torch.nn.init.normal_(net.out.weight, generator=torch.Generator().manual_seed(1))
    out = net(y, t)
    assert out.shape == (5, 32)
    # GroupNorm, not batch norm: a row's prediction does not depend on the batch
    # (up to float32 kernels that differ with the batch size)
    torch.testing.assert_close(net(y[2:3], t[2:3]), out[2:3], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="divisible by 2"):
        EpsUNet((1, 5, 5), channels=(4, 8))


def test_unet_density_fits_scores_samples_and_saves(tmp_path, images):
    import skood

    dm = DiffusionDensity((2, 4, 4), **_UNET).fit(images)
    assert isinstance(dm.module_.net, EpsUNet)
    out = dm.diffusion_statistics(images[:6], statistics=("log_prob", "flipd", "score_norms",
                                                         "path"))
    assert np.all(np.isfinite(out.log_prob)) and out.score_norms.shape == (6, 2)
    # independent of the other rows scored (up to float32 convolution kernels that
    # differ with the batch size)
    np.testing.assert_allclose(dm.score_samples(images[2:4]), out.log_prob[2:4], rtol=1e-5)
    assert dm.sample(3, random_state=0).shape == (3, 32)
    path = tmp_path / "unet.skood"
    skood.save(dm, path)
    np.testing.assert_array_equal(skood.load(path).score_samples(images[:6]), out.log_prob)
    # the MLP on the same data is a different model
    mlp = DiffusionDensity((2, 4, 4), **{**_UNET, "network": "mlp", "hidden_units": (8,)})
    assert not np.array_equal(mlp.fit(images).score_samples(images[:6]), out.log_prob)


def test_unet_needs_an_image_shape(images):
    with pytest.raises(ValueError, match="needs the image shape"):
        DiffusionDensity(**_UNET).fit(images)
    with pytest.raises(ValueError, match="divisible by 8"):
        DiffusionDensity((2, 4, 4), **{**_UNET, "channels": (4, 8, 8, 8)}).fit(images)
    with pytest.raises(ValueError, match="channels"):
        DiffusionDensity((2, 4, 4), **{**_UNET, "channels": (4, 0)}).fit(images)


def test_to_moves_a_fitted_diffusion_model(blob, fitted):
    lp = fitted.score_samples(blob[:5])
    moved = pickle.loads(pickle.dumps(fitted)).to("cpu")
    assert moved.device_ == torch.device("cpu")
    np.testing.assert_array_equal(moved.score_samples(blob[:5]), lp)
    with pytest.raises(ValueError, match="not a device skood can use"):
        moved.to("tpu")
