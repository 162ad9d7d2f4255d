"""Numerical tests of the torch flow backbones (skood.flows).

Every layer and every whole flow is checked for invertibility and for its
log-determinant / log-likelihood against a brute-force Jacobian, in float64.
Couplings and conditional priors start as the identity (zero-initialised output
convolutions), so all parameters are perturbed first: otherwise the checks would
be trivial.
"""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd.functional import jacobian

from skood.density import bits_per_dim
from skood.flows import (
    ActNorm,
    AffineCoupling,
    ConditionalGaussianPrior,
    FlowOutput,
    FlowStep,
    Glow,
    InvConv1x1,
    PixelDequantization,
    Standardization,
    TabularFlow,
    squeeze,
    unsqueeze,
)
from skood.flows.layers import ZeroConv2d, gaussian_log_prob

DT = torch.float64
INV_ATOL = 1e-10
LOGDET_ATOL = 1e-8


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny tensors: one intra-op thread is much faster (and far less sensitive to a
    # loaded machine) than several. Restored afterwards.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _seed():
    # Local RNG state for every test: the tests must not depend on each other's order.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def _perturb(module, scale=0.3):
    """Add noise to every parameter (makes zero-initialised couplings/priors non-trivial)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module


def _n_nonzero_zeroconv(module):
    return sum(
        int(m.conv.weight.abs().sum() > 0) for m in module.modules() if isinstance(m, ZeroConv2d)
    )


def _prepare(module, x_init=None, scale=0.3):
    """float64, data-dependent ActNorm init (train mode) on ``x_init``, perturb, eval."""
    module = module.to(DT)
    if x_init is not None:
        module.train()
        with torch.no_grad():
            module(x_init)
    _perturb(module, scale)
    for m in module.modules():
        if isinstance(m, ActNorm):
            m.initialized.fill_(True)
    return module.eval()


def _brute_logdet(fn, x):
    """log|det J| of ``fn`` at each sample of ``x`` (fn maps one flat sample to a flat vector)."""
    out = []
    for xi in x:
        jac = jacobian(lambda v: fn(v.reshape(1, *x.shape[1:])).reshape(-1), xi.reshape(-1))
        assert jac.shape[0] == jac.shape[1]
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


# ---------------------------------------------------------------------------------------
# squeeze
# ---------------------------------------------------------------------------------------
def test_squeeze_moves_2x2_blocks_into_channels_and_is_invertible():
    x = torch.arange(2 * 3 * 4 * 6, dtype=DT).reshape(2, 3, 4, 6)
    y = squeeze(x)
    assert y.shape == (2, 12, 2, 3)
    # Channel 4c + 2i + j holds pixel (2h + i, 2w + j) of channel c.
    for c in range(3):
        for i in range(2):
            for j in range(2):
                np.testing.assert_array_equal(y[:, 4 * c + 2 * i + j], x[:, c, i::2, j::2])
    torch.testing.assert_close(unsqueeze(y), x, atol=0, rtol=0)
    z = torch.randn(2, 12, 2, 3, dtype=DT)
    torch.testing.assert_close(squeeze(unsqueeze(z)), z, atol=0, rtol=0)


def test_squeeze_is_volume_preserving():
    x = torch.randn(1, 2, 4, 2, dtype=DT)
    ld = _brute_logdet(squeeze, x)
    torch.testing.assert_close(ld, torch.zeros(1, dtype=DT), atol=LOGDET_ATOL, rtol=0)


# ---------------------------------------------------------------------------------------
# single layers
# ---------------------------------------------------------------------------------------
def _check_layer(layer, x):
    y, logdet = layer(x)
    assert y.shape == x.shape
    assert logdet.shape == (x.shape[0],)
    assert not torch.allclose(y, x)  # the layer does something
    torch.testing.assert_close(layer.inverse(y), x, atol=INV_ATOL, rtol=0)
    brute = _brute_logdet(lambda v: layer(v)[0], x)
    torch.testing.assert_close(logdet, brute, atol=LOGDET_ATOL, rtol=0)
    return y, logdet


def test_actnorm_data_dependent_init():
    layer = ActNorm(3).to(DT)
    x = 5.0 + 3.0 * torch.randn(16, 3, 4, 4, dtype=DT)
    layer.train()
    y, _ = layer(x)
    assert bool(layer.initialized)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=DT), atol=1e-12, rtol=0)
    torch.testing.assert_close(
        y.std(dim=(0, 2, 3), unbiased=False), torch.ones(3, dtype=DT), atol=1e-12, rtol=0
    )
    # Initialised once only: a second batch does not re-initialise.
    bias = layer.bias.detach().clone()
    layer(x * 10)
    torch.testing.assert_close(layer.bias.detach(), bias, atol=0, rtol=0)


def test_actnorm_no_init_in_eval_mode():
    layer = ActNorm(2).to(DT).eval()
    x = torch.randn(4, 2, 2, 2, dtype=DT) + 7
    y, logdet = layer(x)
    assert not bool(layer.initialized)
    torch.testing.assert_close(y, x, atol=0, rtol=0)
    torch.testing.assert_close(logdet, torch.zeros(4, dtype=DT), atol=0, rtol=0)


def test_actnorm_constant_channel_does_not_blow_up():
    layer = ActNorm(2).to(DT).train()
    x = torch.randn(8, 2, 2, 2, dtype=DT)
    x[:, 1] = 3.0  # constant channel: std 0
    y, logdet = layer(x)
    assert torch.isfinite(y).all() and torch.isfinite(logdet).all()


def test_actnorm_invertible_and_logdet():
    x_init = 2.0 + 0.5 * torch.randn(8, 4, 2, 2, dtype=DT)
    layer = _prepare(ActNorm(4), x_init)
    assert layer.log_scale.detach().abs().min() > 0
    x = torch.randn(2, 4, 2, 2, dtype=DT)
    _, logdet = _check_layer(layer, x)
    torch.testing.assert_close(
        logdet, (4 * layer.log_scale.sum()).expand(2), atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_invconv1x1_invertible_and_logdet(channels):
    layer = _prepare(InvConv1x1(channels))
    w = layer.weight()
    torch.testing.assert_close(
        torch.linalg.slogdet(w)[1], layer.log_s.sum(), atol=1e-12, rtol=0
    )
    x = torch.randn(2, channels, 2, 2, dtype=DT)
    _check_layer(layer, x)


@pytest.mark.parametrize(
    "channels, kernel_size", [(4, 3), (3, 3), (2, 1), (1, 3), (1, 1)]
)
def test_affine_coupling_invertible_and_logdet(channels, kernel_size):
    layer = _prepare(AffineCoupling(channels, hidden_channels=8, kernel_size=kernel_size))
    assert _n_nonzero_zeroconv(layer) == 1  # the output convolution is no longer zero
    x = torch.randn(2, channels, 2, 2, dtype=DT)
    y, logdet = _check_layer(layer, x)
    # The conditioning half passes through unchanged.
    n_cond = channels // 2
    torch.testing.assert_close(y[:, :n_cond], x[:, :n_cond], atol=0, rtol=0)
    assert logdet.abs().min() > 1e-3  # not volume preserving after perturbation


def test_affine_coupling_is_identity_at_init():
    layer = AffineCoupling(4, hidden_channels=8).to(DT)
    x = torch.randn(2, 4, 2, 2, dtype=DT)
    y, logdet = layer(x)
    # sigmoid(0 + 2) scale: not exactly the identity, but the shift is zero and the
    # scale is the constant sigmoid(2).
    s = 1 / (1 + math.exp(-2.0))
    torch.testing.assert_close(y[:, 2:], s * x[:, 2:], atol=1e-12, rtol=0)
    torch.testing.assert_close(logdet, torch.full((2,), 8 * math.log(s), dtype=DT))


def test_affine_coupling_one_channel_is_elementwise_affine():
    layer = _prepare(AffineCoupling(1, hidden_channels=8, kernel_size=1))
    x = torch.randn(3, 1, 2, 2, dtype=DT)
    y, logdet = layer(x)
    # No conditioning input: the map is x -> a * x + b with a, b independent of x.
    y2, logdet2 = layer(2 * x)
    torch.testing.assert_close(y2 - y, (y - layer(torch.zeros_like(x))[0]), atol=1e-12, rtol=0)
    torch.testing.assert_close(logdet, logdet2, atol=1e-12, rtol=0)
    torch.testing.assert_close(logdet, logdet[:1].expand(3), atol=1e-12, rtol=0)


@pytest.mark.parametrize("channels, kernel_size", [(4, 3), (3, 1), (1, 3)])
def test_flow_step_invertible_and_logdet(channels, kernel_size):
    x_init = 1.0 + 2.0 * torch.randn(8, channels, 2, 2, dtype=DT)
    step = _prepare(FlowStep(channels, hidden_channels=8, kernel_size=kernel_size), x_init)
    x = torch.randn(2, channels, 2, 2, dtype=DT)
    _, logdet = _check_layer(step, x)
    # Sum of the parts' logdets along the composition.
    h, parts = x, x.new_zeros(2)
    for layer in step.layers:
        h, ld = layer(h)
        parts = parts + ld
    torch.testing.assert_close(logdet, parts, atol=1e-12, rtol=0)


def test_standardization_logdet():
    mean = torch.tensor([1.0, -2.0, 3.0], dtype=DT)
    scale = torch.tensor([0.5, 2.0, 4.0], dtype=DT)
    layer = Standardization(mean, scale)
    x = torch.randn(2, 3, dtype=DT)
    y, logdet = layer(x)
    torch.testing.assert_close(y, (x - mean) / scale)
    torch.testing.assert_close(layer.inverse(y), x, atol=INV_ATOL, rtol=0)
    brute = _brute_logdet(lambda v: layer(v)[0], x)
    torch.testing.assert_close(logdet, brute, atol=LOGDET_ATOL, rtol=0)


def test_gaussian_log_prob_matches_torch_distributions():
    z = torch.randn(3, 2, 2, 2, dtype=DT)
    mean = torch.randn(3, 2, 2, 2, dtype=DT)
    log_std = 0.3 * torch.randn(3, 2, 2, 2, dtype=DT)
    lp, z_hat = gaussian_log_prob(z, mean, log_std)
    ref = torch.distributions.Normal(mean, log_std.exp()).log_prob(z).flatten(1).sum(1)
    torch.testing.assert_close(lp, ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(z_hat, (z - mean) / log_std.exp(), atol=1e-12, rtol=0)


# ---------------------------------------------------------------------------------------
# whole flows
# ---------------------------------------------------------------------------------------
GLOW_CONFIGS = [
    ((1, 4, 4), 2, 2, "conditional"),
    ((1, 4, 4), 2, 2, "diagonal"),
    ((2, 2, 2), 1, 2, "conditional"),
    ((3, 1, 1), 2, 2, "conditional"),  # dense Glow on vectors (no squeeze)
]


def _glow(shape, n_levels, n_steps, prior, hidden=8, scale=0.3):
    x_init = 0.3 * torch.randn(16, int(np.prod(shape)), dtype=DT)
    flow = _prepare(Glow(shape, n_levels, n_steps, hidden, prior), x_init, scale)
    return flow


def _flat_normalized(flow, x):
    return flow.flatten_latents(flow(x).latents_normalized)


def _brute_log_prob(flow, x):
    """log p(x) = sum log N(z_hat; 0, I) + log|det d z_hat / dx| (change of variables)."""
    z_hat = _flat_normalized(flow, x)
    log_n = (-0.5 * z_hat**2 - 0.5 * math.log(2 * math.pi)).sum(1)
    return log_n + _brute_logdet(lambda v: _flat_normalized(flow, v), x)


@pytest.mark.parametrize("shape, n_levels, n_steps, prior", GLOW_CONFIGS)
def test_glow_log_prob_equals_change_of_variables(shape, n_levels, n_steps, prior):
    flow = _glow(shape, n_levels, n_steps, prior)
    if prior == "conditional" and n_levels > 1:
        # The conditional priors are perturbed too (not N(0, I) any more).
        assert isinstance(flow.levels[0].prior, ConditionalGaussianPrior)
    assert _n_nonzero_zeroconv(flow) > 0
    x = 0.3 * torch.randn(2, int(np.prod(shape)), dtype=DT)
    out = flow(x)
    assert isinstance(out, FlowOutput)
    assert out.log_prob.shape == (2,)
    assert out.log_prob_per_scale.shape == (2, n_levels)
    torch.testing.assert_close(out.log_prob, _brute_log_prob(flow, x), atol=LOGDET_ATOL, rtol=0)


@pytest.mark.parametrize("shape, n_levels, n_steps, prior", GLOW_CONFIGS)
def test_glow_invertible(shape, n_levels, n_steps, prior):
    flow = _glow(shape, n_levels, n_steps, prior)
    x = 0.3 * torch.randn(3, int(np.prod(shape)), dtype=DT)
    out = flow(x)
    assert [tuple(z.shape[1:]) for z in out.latents] == [tuple(s) for s in flow.latent_shapes]
    assert sum(int(np.prod(s)) for s in flow.latent_shapes) == int(np.prod(shape))
    torch.testing.assert_close(flow.inverse(out.latents), x, atol=INV_ATOL, rtol=0)
    torch.testing.assert_close(
        flow.inverse(out.latents_normalized, normalized=True), x, atol=INV_ATOL, rtol=0
    )
    # Raw and normalised latents really differ (the priors are not N(0, I)).
    assert not torch.allclose(out.latents[0], out.latents_normalized[0])
    # Flatten / unflatten round trip.
    flat = flow.flatten_latents(out.latents)
    assert flat.shape == (3, int(np.prod(shape)))
    for a, b in zip(flow.unflatten_latents(flat), out.latents):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_glow_sample_shape_and_temperature_zero():
    # Mild perturbation: the inverse of a strongly perturbed random coupling can overflow.
    flow = _glow((1, 4, 4), 2, 2, "conditional", scale=0.05)
    gen = torch.Generator().manual_seed(0)
    x = flow.sample(5, generator=gen)
    assert x.shape == (5, 16) and x.dtype == DT
    assert torch.isfinite(x).all()
    # Samples map back to the latents they were drawn from.
    gen = torch.Generator().manual_seed(0)
    z = [torch.randn((5, *s), generator=gen, dtype=DT) for s in flow.latent_shapes]
    torch.testing.assert_close(flow(x).latents_normalized[0], z[0], atol=1e-8, rtol=0)
    # Same generator seed -> same samples.
    x2 = flow.sample(5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, x2, atol=0, rtol=0)
    # Temperature 0 gives the mode of the latents: all samples identical.
    x0 = flow.sample(3, temperature=0.0)
    torch.testing.assert_close(x0, x0[:1].expand(3, -1), atol=1e-12, rtol=0)


def test_tabular_flow_invertible_and_log_prob():
    x_init = torch.randn(32, 3, dtype=DT) * torch.tensor([1.0, 3.0, 0.2], dtype=DT)
    flow = _prepare(TabularFlow(3, n_layers=3, hidden_units=8), x_init)
    assert _n_nonzero_zeroconv(flow) == 3
    x = torch.randn(3, 3, dtype=DT)
    out = flow(x)
    assert out.log_prob.shape == (3,)
    torch.testing.assert_close(out.log_prob_per_scale[:, 0], out.log_prob, atol=0, rtol=0)
    torch.testing.assert_close(flow.inverse(out.latents), x, atol=INV_ATOL, rtol=0)
    torch.testing.assert_close(
        flow.inverse(out.latents_normalized, normalized=True), x, atol=INV_ATOL, rtol=0
    )
    torch.testing.assert_close(out.log_prob, _brute_log_prob(flow, x), atol=LOGDET_ATOL, rtol=0)
    s = flow.sample(4, generator=torch.Generator().manual_seed(1))
    assert s.shape == (4, 3)


def test_tabular_flow_one_feature():
    flow = _prepare(TabularFlow(1, n_layers=2, hidden_units=4), torch.randn(8, 1, dtype=DT))
    x = torch.randn(4, 1, dtype=DT)
    out = flow(x)
    torch.testing.assert_close(flow.inverse(out.latents), x, atol=INV_ATOL, rtol=0)
    torch.testing.assert_close(out.log_prob, _brute_log_prob(flow, x), atol=LOGDET_ATOL, rtol=0)


@pytest.mark.parametrize(
    "shape, n_levels, prior",
    [
        ((1, 4, 4), 2, "conditional"),
        ((1, 4, 4), 2, "diagonal"),
        ((3, 8, 8), 3, "conditional"),
        ((3, 8, 8), 3, "diagonal"),
        ((2, 8, 4), 2, "conditional"),
    ],
)
def test_glow_per_scale_terms_sum_to_total(shape, n_levels, prior):
    flow = _glow(shape, n_levels, 1, prior)
    x = 0.3 * torch.randn(4, int(np.prod(shape)), dtype=DT)
    out = flow(x)
    assert out.log_prob_per_scale.shape == (4, n_levels)
    torch.testing.assert_close(out.log_prob_per_scale.sum(1), out.log_prob, atol=1e-10, rtol=0)
    # Each scale contributes something different (not a trivial split).
    assert torch.all(out.log_prob_per_scale.std(1) > 0)
    # Latent dimensions halve per level except for the top.
    dims = [int(np.prod(s)) for s in flow.latent_shapes]
    assert sum(dims) == int(np.prod(shape))


def test_glow_per_scale_top_term_is_brute_force_conditional_density():
    """The top scale's term is log p(z_top) + logdet of the top level's steps: check it
    against the brute-force Jacobian of that level alone."""
    flow = _glow((1, 4, 4), 2, 2, "conditional")
    x = 0.3 * torch.randn(2, 16, dtype=DT)
    out = flow(x)
    # Input of the top level = the kept half after level 1.
    h = squeeze(x.reshape(2, 1, 4, 4))
    for step in flow.levels[0].steps:
        h, _ = step(h)
    h = h[:, : flow.levels[0].n_kept]
    top = flow.levels[1]

    def top_map(v):
        g = squeeze(v)
        for step in top.steps:
            g, _ = step(g)
        mean, log_std = top.prior.params(None, g.shape[0])
        return (g - mean) * torch.exp(-log_std)

    z_hat = top_map(h).flatten(1)
    expected = (-0.5 * z_hat**2 - 0.5 * math.log(2 * math.pi)).sum(1) + _brute_logdet(top_map, h)
    torch.testing.assert_close(out.log_prob_per_scale[:, 1], expected, atol=LOGDET_ATOL, rtol=0)


@pytest.mark.parametrize(
    "shape, n_levels", [((1, 6, 6), 2), ((1, 8, 12), 3), ((3, 4, 5), 1), ((1, 1, 4), 1)]
)
def test_glow_rejects_indivisible_shapes(shape, n_levels):
    with pytest.raises(ValueError, match=r"input_shape=\(" + ", ".join(map(str, shape)) + r"\)"):
        Glow(shape, n_levels=n_levels, n_steps=1, hidden_channels=4)


def test_glow_rejects_too_few_channels_to_split():
    with pytest.raises(ValueError, match="too few to split"):
        Glow((1, 1, 1), n_levels=2, n_steps=1, hidden_channels=4)


def test_glow_rejects_unknown_split_prior():
    # A typo must not silently build a model with another prior.
    with pytest.raises(ValueError, match="split_prior"):
        Glow((1, 4, 4), n_levels=2, n_steps=1, hidden_channels=4, split_prior="conditionl")


def test_glow_rejects_zero_levels():
    # n_levels=0 builds an empty flow whose forward fails with an opaque torch error.
    with pytest.raises(ValueError, match="n_levels"):
        Glow((1, 4, 4), n_levels=0, n_steps=1, hidden_channels=4)


# ---------------------------------------------------------------------------------------
# bits/dim and dequantization
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_dims", [1, 64, 3072])
def test_bits_per_dim_of_uniform_density_is_8(n_dims):
    # U([-0.5, 0.5]^D) has density 1, log-density 0.
    np.testing.assert_allclose(bits_per_dim(np.zeros(3), n_dims), 8.0, rtol=0, atol=1e-12)
    # And 8 - log p / (D ln 2) in general.
    lp = np.array([-100.0, 50.0])
    np.testing.assert_allclose(
        bits_per_dim(lp, n_dims), 8 - lp / (n_dims * math.log(2)), rtol=0, atol=1e-12
    )


def test_pixel_dequantization_eval_is_bin_centre():
    deq = PixelDequantization().eval()
    v = torch.arange(256, dtype=DT)[None]
    y, logdet = deq(v)
    # Exact: (v + 0.5) / 256 - 0.5 is representable in binary floating point.
    torch.testing.assert_close(y, (v + 0.5) / 256 - 0.5, atol=0, rtol=0)
    assert y.min() == -0.5 + 0.5 / 256 and y.max() == 0.5 - 0.5 / 256
    torch.testing.assert_close(logdet, torch.zeros(1, dtype=DT), atol=0, rtol=0)
    torch.testing.assert_close(deq.inverse(y), v, atol=0, rtol=0)


def test_pixel_dequantization_train_noise_stays_in_bin():
    deq = PixelDequantization().train()
    v = torch.arange(256, dtype=DT).repeat(50, 1)
    y, _ = deq(v)
    u = (y + 0.5) * 256 - v
    assert u.min() >= 0 and u.max() < 1
    # Really random: roughly uniform over the bin.
    assert abs(u.mean().item() - 0.5) < 0.01
    assert abs(u.var().item() - 1 / 12) < 0.005
    torch.testing.assert_close(deq.inverse(y), v, atol=0, rtol=0)


def test_pixel_dequantization_inverse_recovers_integers_and_clamps():
    deq = PixelDequantization()
    y = torch.tensor([[-0.7, -0.5, 0.0, 0.499, 0.6]], dtype=DT)
    torch.testing.assert_close(
        deq.inverse(y), torch.tensor([[0.0, 0.0, 128.0, 255.0, 255.0]], dtype=DT)
    )


def test_pixel_dequantization_unit_scale_equals_uint8():
    v = torch.arange(256, dtype=DT)[None]
    u8, unit = PixelDequantization(255.0).eval(), PixelDequantization(1.0).eval()
    y8, _ = u8(v)
    y1, _ = unit(v / 255.0)
    torch.testing.assert_close(y1, y8, atol=0, rtol=0)
    torch.testing.assert_close(unit.inverse(y1), v / 255.0, atol=1e-15, rtol=0)
    # Same noise in training mode for the same seed.
    u8.train(), unit.train()
    torch.manual_seed(3)
    a, _ = u8(v)
    torch.manual_seed(3)
    b, _ = unit(v / 255.0)
    torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_glow_float32_fast_path_matches_float64_under_vmap_and_jacfwd():
    """The CPU float32 channels-last coupling path must stay compatible with
    torch.func (LID uses vmap + jacfwd) and agree with the float64 path."""
    torch.manual_seed(0)
    flow32 = Glow((1, 8, 8), n_levels=2, n_steps=2, hidden_channels=8)
    flow32.train()
    with torch.no_grad():
        flow32(torch.rand(16, 1, 8, 8) - 0.5)  # ActNorm init
        for p in flow32.parameters():
            p.add_(0.05 * torch.randn_like(p))
    flow32.eval()
    flow64 = copy.deepcopy(flow32).double()
    x = torch.rand(2, 1, 8, 8) - 0.5

    def log_prob(flow):
        return lambda xi: flow(xi[None]).log_prob[0]

    g32 = torch.func.vmap(torch.func.jacfwd(log_prob(flow32)))(x)
    g64 = torch.func.vmap(torch.func.jacfwd(log_prob(flow64)))(x.double())
    assert g32.dtype == torch.float32
    np.testing.assert_allclose(g32.detach().numpy(), g64.detach().numpy(), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(flow32(x).log_prob.detach().numpy(),
                               flow64(x.double()).log_prob.detach().numpy(), rtol=1e-5)


# ---------------------------------------------------------------------------------------
# logit pre-transform (RealNVP; Kamkari et al.'s flows) and pre-transform chains
# ---------------------------------------------------------------------------------------
def _pixels_grid(n=4, shape=(1, 3, 3)):
    """Dequantized pixels on skood's grid [-0.5, 0.5), including both extreme bins."""
    v = torch.randint(0, 256, (n, *shape)).to(DT)
    v[0].fill_(0.0)
    v[1].fill_(255.0)
    return (v + torch.rand_like(v)) / 256 - 0.5


@pytest.mark.parametrize("alpha", [0.05, 1e-6, 0.3])
def test_logit_transform_invertible_and_bounded(alpha):
    from skood.flows import LogitTransform

    t = LogitTransform(alpha)
    x = _pixels_grid()
    y, _ = t(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(t.inverse(y), x, atol=INV_ATOL, rtol=0)
    # RealNVP's formula: y = logit(alpha + (1 - 2 alpha) x~), x~ = x + 0.5; symmetric bounds.
    s = alpha + (1 - 2 * alpha) * (x + 0.5)
    torch.testing.assert_close(y, torch.log(s / (1 - s)), atol=1e-9, rtol=0)
    bound = math.log((1 - alpha) / alpha)
    assert y.min() >= -bound - 1e-9 and y.max() <= bound + 1e-9
    y2 = torch.randn(3, 1, 3, 3, dtype=DT) * 2 + 1
    torch.testing.assert_close(t(t.inverse(y2))[0], y2, atol=1e-9, rtol=0)


@pytest.mark.parametrize("alpha", [0.05, 0.3])
def test_logit_transform_logdet_is_brute_force_jacobian(alpha):
    from skood.flows import LogitTransform

    t = LogitTransform(alpha)
    x = _pixels_grid(3)
    _, logdet = t(x)
    for i in range(len(x)):
        J = jacobian(lambda xi: t(xi[None])[0][0].reshape(-1), x[i]).reshape(9, 9)
        _, ref = torch.linalg.slogdet(J)
        torch.testing.assert_close(logdet[i], ref, atol=LOGDET_ATOL, rtol=0)


def test_logit_transform_rejects_bad_alpha():
    from skood.flows import LogitTransform

    for alpha in (0.0, 0.5, 1.0, -0.1):
        with pytest.raises(ValueError, match="alpha"):
            LogitTransform(alpha)


def test_logit_of_uniform_pixels_is_8_bits_per_dim():
    """x~ ~ U[0, 1) pushed through the logit has the density s(1 - s) / (1 - 2 alpha)
    (s = sigmoid(y)); adding the log-det must give back log-density 0, i.e. 8 bits/dim."""
    from skood.flows import LogitTransform

    alpha = 0.05
    t = LogitTransform(alpha)
    x = _pixels_grid(5, (1, 4, 4))
    y, logdet = t(x)
    s = torch.sigmoid(y)
    log_p_y = (torch.log(s) + torch.log1p(-s) - math.log(1 - 2 * alpha)).reshape(5, -1).sum(1)
    lp = (log_p_y + logdet).numpy()
    np.testing.assert_allclose(lp, 0.0, atol=1e-9)
    np.testing.assert_allclose(bits_per_dim(lp, 16), 8.0, atol=1e-10)


def test_pre_transform_chain_composes_logdets_and_inverts():
    from skood.flows import LogitTransform, PreTransformChain

    deq, logit = PixelDequantization(255.0), LogitTransform(0.05)
    chain = PreTransformChain(deq, logit).eval()
    v = torch.randint(0, 256, (4, 1, 3, 3)).to(DT)
    y, logdet = chain(v)
    x, ld0 = deq.eval()(v)
    y1, ld1 = logit(x)
    torch.testing.assert_close(y, y1, atol=0, rtol=0)
    torch.testing.assert_close(logdet, ld0 + ld1, atol=0, rtol=0)
    # The smooth tail alone undoes the logit; the full inverse recovers the integers.
    torch.testing.assert_close(chain.inverse_tail(y), x, atol=INV_ATOL, rtol=0)
    torch.testing.assert_close(chain.inverse(y), v, atol=0, rtol=0)
    # Training mode: dequantization noise, still inside the pixel's bin.
    chain.train()
    torch.testing.assert_close(chain.inverse(chain(v)[0]), v, atol=0, rtol=0)


# ---------------------------------------------------------------------------------------
# speed paths: cached 1x1 weight, factors applied to the batch, chunked scoring
# ---------------------------------------------------------------------------------------
def _recomposed(layer):
    """``P L U`` written out with dense products, as the layer's definition states."""
    lower = layer.lower * layer.mask + layer.eye
    upper = layer.upper * layer.mask.T + torch.diag(layer.sign_s * torch.exp(layer.log_s))
    return layer.perm @ lower @ upper


def _scored(layer, x):
    layer.eval()
    with torch.no_grad():
        return layer(x)[0]


def test_invconv_cached_weight_is_reused_and_equal_to_the_definition():
    layer = _prepare(InvConv1x1(5))
    with torch.no_grad():
        w1, w2 = layer.weight(), layer.weight()
        assert w1 is w2  # the cache, not a recomputation
        assert layer.inverse(layer(torch.randn(2, 5, 3, 3, dtype=DT))[0]).shape == (2, 5, 3, 3)
        assert layer._cached(inverse=True) is layer._cached(inverse=True)
    torch.testing.assert_close(w1, _recomposed(layer), atol=0, rtol=0)
    # With gradients or in training mode nothing is cached.
    assert layer.weight() is not layer.weight()
    assert layer.weight().requires_grad
    layer.train()
    with torch.no_grad():
        assert layer.weight() is not layer.weight()


@pytest.mark.parametrize("optimizer", ["adam", "adam_foreach", "sgd"])
def test_invconv_cache_is_invalidated_by_an_optimizer_step(optimizer):
    layer = _prepare(InvConv1x1(4))
    x = torch.randn(3, 4, 2, 2, dtype=DT)
    before = _scored(layer, x)
    opt = {"adam": lambda p: torch.optim.Adam(p, lr=0.1),
           "adam_foreach": lambda p: torch.optim.Adam(p, lr=0.1, foreach=True),
           "sgd": lambda p: torch.optim.SGD(p, lr=0.1)}[optimizer](layer.parameters())
    layer.train()
    layer(x)[0].pow(2).sum().backward()
    opt.step()
    after = _scored(layer, x)
    expected = F.conv2d(x, _recomposed(layer).detach()[:, :, None, None])
    assert (after - before).abs().max() > 1e-3  # the step moved the weight...
    torch.testing.assert_close(after, expected, atol=1e-12, rtol=0)  # ...and the cache saw it


def test_invconv_cache_is_invalidated_by_load_state_dict_and_dtype_changes():
    layer, other = _prepare(InvConv1x1(4)), _prepare(InvConv1x1(4))
    x = torch.randn(3, 4, 2, 2, dtype=DT)
    _scored(layer, x)  # fills the cache
    layer.load_state_dict(other.state_dict())
    torch.testing.assert_close(_scored(layer, x), _scored(other, x), atol=0, rtol=0)
    # In-place edits of a parameter, and of the permutation buffer, are seen too.
    with torch.no_grad():
        layer.log_s.add_(0.5)
        layer.perm.copy_(layer.perm.flip(0))
    torch.testing.assert_close(
        _scored(layer, x), F.conv2d(x, _recomposed(layer)[:, :, None, None]), atol=1e-12, rtol=0)
    y32 = _scored(layer.float(), x.float())
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), _scored(layer.double(), x), atol=1e-5, rtol=1e-5)
    copied = copy.deepcopy(layer)  # the cache's weak references do not travel
    torch.testing.assert_close(_scored(copied, x), _scored(layer, x), atol=0, rtol=0)


def test_invconv_dense_factor_path_equals_the_composed_weight_with_gradients():
    """Few rows, many features, gradients: the factors are applied to the batch;
    values and gradients equal those of the composed weight."""
    d, n = 40, 6
    layer = _prepare(InvConv1x1(d)).train()
    x = torch.randn(n, d, 1, 1, dtype=DT, requires_grad=True)
    y, logdet = layer(x)  # 2 * d > n: the factor path
    w = _recomposed(layer)
    y_ref = F.conv2d(x, w[:, :, None, None])
    torch.testing.assert_close(y, y_ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(logdet, layer.log_s.sum().expand(n), atol=1e-12, rtol=0)
    g = torch.autograd.grad(y.pow(2).sum(), [x, layer.lower, layer.upper, layer.log_s])
    g_ref = torch.autograd.grad(y_ref.pow(2).sum(), [x, layer.lower, layer.upper, layer.log_s])
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_invconv_float32_matmul_path_matches_float64_convolution():
    layer = _prepare(InvConv1x1(6))
    x = torch.randn(4, 6, 5, 5, dtype=DT)
    y64 = _scored(layer, x)
    y32 = _scored(copy.deepcopy(layer).float(), x.float())
    torch.testing.assert_close(y32.double(), y64, atol=1e-5, rtol=1e-5)
    x1 = torch.randn(4, 6, 1, 1, dtype=DT)  # dense inputs: a linear layer
    torch.testing.assert_close(_scored(copy.deepcopy(layer).float(), x1.float()).double(),
                               _scored(layer, x1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_glow_scoring_in_chunks_equals_one_pass(dtype):
    flow = _prepare(Glow((1, 8, 8), n_levels=2, n_steps=2, hidden_channels=8),
                    torch.rand(16, 1, 8, 8, dtype=DT) - 0.5).to(dtype)
    x = torch.rand(37, 64, dtype=dtype) - 0.5
    flow.scoring_chunk_bytes = 8 * 4 * 4 * x.element_size() * 5  # 5 rows per chunk
    assert flow._scoring_rows(x.reshape(-1, 1, 8, 8)) is None  # gradients enabled: no chunks
    with torch.no_grad():
        assert flow._scoring_rows(x.reshape(-1, 1, 8, 8)) == 5
        chunked = flow(x)
        flow.scoring_chunk_bytes = None
        whole = flow(x)
    tol = dict(atol=1e-12, rtol=0) if dtype == torch.float64 else dict(atol=1e-4, rtol=1e-5)
    for name in ("log_prob", "log_prob_per_scale", "logdet_per_scale", "log_prior_per_scale"):
        torch.testing.assert_close(getattr(chunked, name), getattr(whole, name), **tol)
    for a, b in zip(chunked.latents + chunked.latents_normalized,
                    whole.latents + whole.latents_normalized):
        torch.testing.assert_close(a, b, **tol)


def test_channels_last_switch_changes_layout_not_values():
    from skood.flows import channels_last
    from skood.flows.layers import AffineCoupling

    torch.manual_seed(0)
    layer = AffineCoupling(4, hidden_channels=8)
    x = torch.randn(3, 4, 4, 4)
    y_fast, ld_fast = layer(x)
    with channels_last(False):
        y_plain, ld_plain = layer(x)
        with channels_last(True):
            pass  # nested: restored to False on exit
        y_again, _ = layer(x)
    torch.testing.assert_close(y_fast, y_plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ld_fast, ld_plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y_again, y_plain, rtol=0, atol=0)
    from skood.flows.layers import _conv_layout

    def is_channels_last(t):
        return _conv_layout(t).is_contiguous(memory_format=torch.channels_last)

    with channels_last(False):
        assert not is_channels_last(x)
        with channels_last(True):
            assert is_channels_last(x) or torch.get_num_threads() > 1
        assert not is_channels_last(x)
