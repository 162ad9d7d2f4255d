"""Behaviour of the flow density estimators (skood.density): likelihoods with numbers,
input validation, divergence, seeding and persistence."""

import math
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skood.density import GlowDensity, TabularFlowDensity, bits_per_dim
from skood.density._net import NLLLoss
from skood.exceptions import TrainingDivergedError

_TAB = dict(n_layers=2, hidden_units=8, max_epochs=2, batch_size=64, random_state=0)
_GLOW = dict(
    input_shape=(1, 8, 8), n_levels=2, n_steps=1, hidden_channels=8, max_epochs=1,
    batch_size=128, random_state=0,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny models: one intra-op thread is much faster on a shared machine. Restored after.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def digits():
    """load_digits pixels rescaled to [0, 255] integers, shape (1797, 64)."""
    return np.round(load_digits().data * 255 / 16)


@pytest.fixture(scope="module")
def glow(digits):
    return GlowDensity(**_GLOW, dtype="float64").fit(digits)


@pytest.fixture(scope="module")
def tabular():
    X = np.random.RandomState(0).normal(size=(200, 3)) * [1.0, 10.0, 0.1] + [0.0, 100.0, -3.0]
    return TabularFlowDensity(**_TAB, dtype="float64").fit(X), X


# ---------------------------------------------------------------------------------------
# likelihoods with numbers
# ---------------------------------------------------------------------------------------
def _gaussian_logpdf(X, mean, cov):
    d = X - mean
    prec = np.linalg.inv(cov)
    _, logdet = np.linalg.slogdet(cov)
    maha = np.einsum("ni,ij,nj->n", d, prec, d)
    return -0.5 * (maha + logdet + X.shape[1] * math.log(2 * math.pi))


def test_tabular_flow_recovers_gaussian_log_likelihood():
    # Correlated 2-D Gaussian with a large offset and very different scales: the
    # in-estimator standardisation must add its log-Jacobian (data-space density).
    rng = np.random.RandomState(0)
    sd = np.array([10.0, 0.1])
    cov = np.array([[1.0, 0.8], [0.8, 1.0]]) * np.outer(sd, sd)
    mean = np.array([100.0, -5.0])
    X = rng.multivariate_normal(mean, cov, 2000)
    X_new = rng.multivariate_normal(mean, cov, 20000)
    flow = TabularFlowDensity(
        n_layers=2, hidden_units=8, max_epochs=10, lr=1e-2, batch_size=256, random_state=0
    ).fit(X)
    scores = flow.score_samples(X_new)
    true = _gaussian_logpdf(X_new, mean, cov)
    entropy = 0.5 * (2 * (1 + math.log(2 * math.pi)) + np.linalg.slogdet(cov)[1])
    assert abs(scores.mean() - (-entropy)) < 0.05
    assert abs(np.mean(scores - true)) < 0.05  # paired: ~ -KL(p || model)
    assert np.corrcoef(scores, true)[0, 1] > 0.95
    # score() is the mean log-likelihood.
    assert flow.score(X_new) == pytest.approx(scores.mean(), rel=1e-12)


def test_tabular_log_likelihood_is_in_data_space():
    """Rescaling the data by 10 rescales the density by 10**-D: the scores shift by
    exactly -D ln 10 (standardisation makes training identical)."""
    X = np.random.RandomState(1).normal(size=(150, 3))
    kw = dict(_TAB, dtype="float64")
    a = TabularFlowDensity(**kw).fit(X).score_samples(X)
    b = TabularFlowDensity(**kw).fit(10 * X).score_samples(10 * X)
    np.testing.assert_allclose(b, a - 3 * math.log(10), rtol=0, atol=1e-6)


def test_tabular_outputs(tabular):
    flow, X = tabular
    s = flow.score_samples(X)
    assert s.shape == (200,) and s.dtype == np.float64 and np.isfinite(s).all()
    per = flow.log_prob_per_scale(X)
    assert per.shape == (200, 1)
    np.testing.assert_allclose(per[:, 0], s, rtol=0, atol=1e-12)
    out = flow.flow_pass(X[:5])
    assert [z.shape for z in out.latents] == [(5, 3, 1, 1)]
    assert [z.shape for z in out.latents_normalized] == [(5, 3, 1, 1)]
    np.testing.assert_allclose(out.log_prob, s[:5], rtol=0, atol=1e-12)
    out = flow.flow_pass(X[:5], latents=False)
    assert out.latents == [] and out.latents_normalized == []
    # Scoring is batch independent.
    np.testing.assert_allclose(flow.score_samples(X[3:4]), s[3:4], rtol=1e-6, atol=1e-6)
    smp = flow.sample(7, random_state=0)
    assert smp.shape == (7, 3) and smp.dtype == np.float64
    # Samples live in data space (means ~ [0, 100, -3]).
    assert abs(flow.sample(500, random_state=0)[:, 1].mean() - 100) < 5


def test_glow_scores(glow, digits):
    X = digits[:300]
    s = glow.score_samples(X)
    assert s.shape == (300,) and s.dtype == np.float64 and np.isfinite(s).all()
    per = glow.log_prob_per_scale(X)
    assert per.shape == (300, 2) and per.dtype == np.float64
    np.testing.assert_allclose(per.sum(1), s, rtol=0, atol=1e-8)
    out = glow.flow_pass(X[:4])
    assert [z.shape for z in out.latents] == [(4, 2, 4, 4), (4, 8, 2, 2)]
    np.testing.assert_allclose(out.log_prob_per_scale, per[:4], rtol=0, atol=1e-10)
    # Batch independent: a sample's score does not depend on the rest of the batch.
    np.testing.assert_allclose(glow.score_samples(X[7:8]), s[7:8], rtol=0, atol=1e-8)


def test_glow_scores_uint8_input_like_float(glow, digits):
    X = digits[:100]
    np.testing.assert_array_equal(
        glow.score_samples(X.astype(np.uint8)), glow.score_samples(X)
    )
    np.testing.assert_array_equal(
        glow.score_samples(X.astype(np.float32)), glow.score_samples(X)
    )


def test_glow_bits_per_dim(glow, digits):
    X = digits[:300]
    lp = glow.score_samples(X)
    bpd = glow.bits_per_dim(X)
    D = 64
    np.testing.assert_allclose(bpd, (-lp + D * math.log(256)) / (D * math.log(2)), rtol=1e-12)
    np.testing.assert_allclose(bpd, bits_per_dim(lp, D), rtol=0, atol=0)
    # One epoch of a tiny Glow: a little above or below the 8 bits/dim of a uniform model.
    assert 0 < bpd.mean() < 9.5
    assert np.all(bpd > 0)


def test_glow_dense_on_vectors():
    """input_shape=None: a dense Glow on (n_features, 1, 1) "images"."""
    X = np.random.RandomState(0).normal(size=(200, 6)) * 5 + 50
    g = GlowDensity(
        pixel_scale="continuous", n_levels=2, n_steps=1, hidden_channels=8, max_epochs=2,
        dtype="float64", random_state=0,
    ).fit(X)
    assert g.input_shape_ == (6, 1, 1)
    s = g.score_samples(X)
    np.testing.assert_allclose(g.log_prob_per_scale(X).sum(1), s, rtol=0, atol=1e-9)
    assert [z.shape[1:] for z in g.flow_pass(X[:2]).latents] == [(3, 1, 1), (3, 1, 1)]
    assert abs(g.sample(300, random_state=0).mean() - 50) < 5  # data space


def test_glow_bits_per_dim_needs_pixels(digits):
    g = GlowDensity(**dict(_GLOW, max_epochs=1), pixel_scale="continuous").fit(digits[:200])
    assert np.isfinite(g.score_samples(digits[:5])).all()
    with pytest.raises(ValueError, match="pixel"):
        g.bits_per_dim(digits[:5])


def test_glow_sample_pixels(glow):
    x = glow.sample(6, random_state=0)
    assert x.shape == (6, 64) and x.dtype == np.float64
    assert x.min() >= 0 and x.max() <= 255
    np.testing.assert_array_equal(x, np.round(x))  # integer pixel values
    np.testing.assert_array_equal(glow.sample(6, random_state=0), x)
    assert not np.array_equal(glow.sample(6, random_state=1), x)


def test_glow_pixel_scale_auto_uint8_vs_unit(digits):
    X = digits[:400]
    a = GlowDensity(**_GLOW).fit(X)
    b = GlowDensity(**_GLOW).fit(X / 255.0)
    assert a.pixel_scale_ == "uint8" and b.pixel_scale_ == "unit"
    np.testing.assert_allclose(b.score_samples(X / 255.0), a.score_samples(X), rtol=1e-6)
    # Explicit scales resolve to themselves.
    assert GlowDensity(**_GLOW, pixel_scale="unit").fit(X / 255.0).pixel_scale_ == "unit"
    # Unit-scale samples are pixels / 255.
    x = b.sample(4, random_state=0)
    assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_allclose(x * 255, np.round(x * 255), atol=1e-9)


# ---------------------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------------------
def test_wrong_feature_count_at_score_time(glow, tabular, digits):
    with pytest.raises(ValueError, match="X has 63 features, but GlowDensity is expecting 64"):
        glow.score_samples(digits[:5, :63])
    flow, X = tabular
    with pytest.raises(ValueError, match="X has 2 features, but TabularFlowDensity is expecting"):
        flow.score_samples(X[:5, :2])
    with pytest.raises(ValueError, match="expecting 3"):
        flow.log_prob_per_scale(X[:5, :2])


def test_input_shape_must_match_features(digits):
    with pytest.raises(ValueError, match=r"input_shape=\(1, 8, 7\) holds 56 values but X has 64"):
        GlowDensity(**dict(_GLOW, input_shape=(1, 8, 7))).fit(digits[:50])
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        GlowDensity(**dict(_GLOW, input_shape=(8, 8))).fit(digits[:50])
    with pytest.raises(ValueError, match=r"input_shape=\(4, 4, 4\)"):
        # 4x4 images cannot go through 3 levels of 2x2 squeezes.
        GlowDensity(**dict(_GLOW, input_shape=(4, 4, 4), n_levels=3)).fit(digits[:50])


@pytest.mark.parametrize("bad, message", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_input(bad, message, glow, tabular, digits):
    X = digits[:50].copy()
    X[3, 5] = bad
    with pytest.raises(ValueError, match=message):
        GlowDensity(**_GLOW).fit(X)
    with pytest.raises(ValueError, match=message):
        glow.score_samples(X)
    flow, Xt = tabular
    Xt = Xt[:20].copy()
    Xt[0, 0] = bad
    with pytest.raises(ValueError, match=message):
        TabularFlowDensity(**_TAB).fit(Xt)
    with pytest.raises(ValueError, match=message):
        flow.score_samples(Xt)


def test_pixels_out_of_range(glow, digits):
    X = digits[:50].copy()
    X[0, 0] = 256
    with pytest.raises(ValueError, match=r"Pixel values must lie in \[0, 255\]"):
        GlowDensity(**_GLOW).fit(X)
    X[0, 0] = -1
    with pytest.raises(ValueError, match=r"\[0, 255\].*got values in \[-1"):
        GlowDensity(**_GLOW).fit(X)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        glow.score_samples(X)
    with pytest.raises(ValueError, match=r"Pixel values must lie in \[0, 1\]"):
        GlowDensity(**_GLOW, pixel_scale="unit").fit(digits[:50])
    # A unit-scale model refuses raw uint8 pixels (forgotten / 255) at score time.
    unit = GlowDensity(**_GLOW).fit(digits[:200] / 255.0)
    with pytest.raises(ValueError, match=r"\[0, 1\].*pixel_scale='unit'"):
        unit.score_samples(digits[:5])
    # But a continuous model accepts anything finite.
    GlowDensity(**_GLOW, pixel_scale="continuous").fit(digits[:200] - 1000.0)


def test_too_few_samples_and_wrong_dimensionality(glow, digits):
    with pytest.raises(ValueError, match=r"1 sample\(s\).*minimum of 2"):
        GlowDensity(**_GLOW).fit(digits[:1])
    with pytest.raises(ValueError, match=r"1 sample\(s\).*minimum of 2"):
        TabularFlowDensity(**_TAB).fit(np.ones((1, 3)))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        GlowDensity(**_GLOW).fit(digits[0])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        glow.score_samples(digits[0])
    with pytest.raises(ValueError, match="0 sample"):
        glow.score_samples(digits[:0])
    # A single sample is fine at score time.
    assert glow.score_samples(digits[:1]).shape == (1,)


@pytest.mark.parametrize(
    "cls, params, name",
    [
        (GlowDensity, dict(n_levels=0), "n_levels"),
        (GlowDensity, dict(split_prior="gaussian"), "split_prior"),
        (GlowDensity, dict(pixel_scale="uint16"), "pixel_scale"),
        (GlowDensity, dict(dtype="float16"), "dtype"),
        (TabularFlowDensity, dict(n_layers=0), "n_layers"),
        (TabularFlowDensity, dict(lr=0.0), "lr"),
        (TabularFlowDensity, dict(validation_fraction=1.0), "validation_fraction"),
        (TabularFlowDensity, dict(max_epochs=0), "max_epochs"),
    ],
)
def test_invalid_parameters(cls, params, name, digits):
    est = cls(**dict(_GLOW if cls is GlowDensity else _TAB, **params))
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        est.fit(digits[:20])
    assert issubclass(InvalidParameterError, ValueError)


def test_not_fitted(digits):
    for est in (GlowDensity(**_GLOW), TabularFlowDensity(**_TAB)):
        with pytest.raises(NotFittedError):
            est.score_samples(digits[:2])
        with pytest.raises(NotFittedError):
            est.sample(2)


# ---------------------------------------------------------------------------------------
# divergence
# ---------------------------------------------------------------------------------------
def test_nan_loss_raises_training_diverged(monkeypatch, digits):
    def nan_loss(self, log_prob, y=None):
        return log_prob.mean() * float("nan")

    monkeypatch.setattr(NLLLoss, "forward", nan_loss)
    X = np.random.RandomState(0).normal(size=(100, 3))
    with pytest.raises(TrainingDivergedError, match=r"epoch 1\b.*(lr|learning rate)"):
        TabularFlowDensity(**_TAB).fit(X)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1\b"):
        GlowDensity(**_GLOW).fit(digits[:200])
    assert issubclass(TrainingDivergedError, RuntimeError)


def test_huge_learning_rate_raises_training_diverged():
    X = np.random.RandomState(0).normal(size=(300, 3))
    with pytest.raises(TrainingDivergedError, match=r"epoch \d+.*(lr|learning rate)"):
        TabularFlowDensity(**dict(_TAB, max_epochs=3, lr=1e30)).fit(X)


def test_divergence_in_the_last_epoch_is_detected():
    """lr=1e30: the first step is finite, every later step gives a non-finite loss and
    is skipped. When this happens in the last epoch, fit must not return a model whose
    scores are NaN."""
    X = np.random.RandomState(0).normal(size=(300, 3))
    est = TabularFlowDensity(**dict(_TAB, max_epochs=1, lr=1e30))
    try:
        est.fit(X)
    except TrainingDivergedError as exc:
        assert re.search(r"epoch 1\b", str(exc)), str(exc)
        assert re.search(r"lr|learning rate", str(exc)), str(exc)
        return
    pytest.fail(
        "fit returned a diverged model: train_loss="
        f"{est.history_[:, 'train_loss']}, scores={est.score_samples(X[:3])}"
    )


# ---------------------------------------------------------------------------------------
# seeding
# ---------------------------------------------------------------------------------------
def _np_state_equal(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


@pytest.mark.parametrize("kind", ["tabular", "glow"])
def test_same_seed_bit_identical_and_global_rng_untouched(kind, digits):
    if kind == "tabular":
        X = np.random.RandomState(0).normal(size=(200, 3))
        cls, base = TabularFlowDensity, _TAB
    else:
        X = digits[:300]
        cls, base = GlowDensity, _GLOW

    def make(rs, **kw):
        return cls(**dict(base, random_state=rs, **kw))

    torch.manual_seed(1234)
    np.random.seed(1234)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()

    a = make(0).fit(X)
    b = make(0).fit(X)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.sample(3, random_state=5), b.sample(3, random_state=5))
    # Early stopping's validation split is seeded too.
    c = make(0, early_stopping=True, max_epochs=2).fit(X)
    d = make(0, early_stopping=True, max_epochs=2).fit(X)
    np.testing.assert_array_equal(c.score_samples(X), d.score_samples(X))
    # A RandomState instance in the same state gives the same model.
    e = make(np.random.RandomState(0)).fit(X)
    f = make(np.random.RandomState(0)).fit(X)
    np.testing.assert_array_equal(e.score_samples(X), f.score_samples(X))

    assert torch.equal(torch.get_rng_state(), torch_state)
    assert _np_state_equal(np.random.get_state(), np_state)
    # Different seeds give different models.
    assert not np.array_equal(make(1).fit(X).score_samples(X), a.score_samples(X))


# ---------------------------------------------------------------------------------------
# persistence
# ---------------------------------------------------------------------------------------
def test_joblib_round_trip(tmp_path, glow, tabular, digits):
    flow, X = tabular
    for est, data in ((glow, digits[:100]), (flow, X)):
        path = tmp_path / f"{type(est).__name__}.joblib"
        joblib.dump(est, path)
        loaded = joblib.load(path)
        np.testing.assert_array_equal(loaded.score_samples(data), est.score_samples(data))
        np.testing.assert_array_equal(
            loaded.sample(3, random_state=0), est.sample(3, random_state=0)
        )
        assert loaded.get_params() == est.get_params()
    # pickle too
    loaded = pickle.loads(pickle.dumps(flow))
    np.testing.assert_array_equal(loaded.score_samples(X), flow.score_samples(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a CPU-only machine")
def test_gpu_trained_model_loads_on_cpu(tmp_path, digits):
    X = digits[:200]
    est = GlowDensity(**_GLOW).fit(X)
    expected = est.score_samples(X)
    # Pretend the model was trained on a GPU.
    est.device = "cuda"
    est.device_ = torch.device("cuda")
    est.net_.device = "cuda"
    path = tmp_path / "gpu.joblib"
    joblib.dump(est, path)
    with pytest.warns(UserWarning) as record:
        loaded = joblib.load(path)
    messages = [str(w.message) for w in record]
    assert any("fitted on CUDA" in m for m in messages), messages
    assert loaded.device_ == torch.device("cpu")
    assert torch.device(loaded.net_.device) == torch.device("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(loaded.score_samples(X), expected)
        assert loaded.sample(2, random_state=0).shape == (2, 64)
        assert np.isfinite(loaded.bits_per_dim(X)).all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a CPU-only machine")
def test_gpu_resident_weights_load_on_cpu(monkeypatch, tmp_path):
    """A model whose tensors were *on the GPU* when it was dumped loads on a CPU-only
    machine. Simulated faithfully: while dumping, torch's serialisation tags every
    storage with location "cuda:0", exactly as for CUDA tensors; loading such a storage
    without a ``map_location`` fails on a machine without CUDA."""
    X = np.random.RandomState(0).normal(size=(100, 2))
    est = TabularFlowDensity(**_TAB).fit(X)
    expected = est.score_samples(X)
    est.device = "cuda"
    est.device_ = torch.device("cuda")
    est.net_.device = "cuda"
    path = tmp_path / "gpu.joblib"
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        joblib.dump(est, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the CUDA -> CPU warnings
        loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.score_samples(X), expected)
    assert loaded.device_ == torch.device("cpu")


# ---------------------------------------------------------------------------------------
# early stopping
# ---------------------------------------------------------------------------------------
def test_early_stopping_records_valid_loss():
    X = np.random.RandomState(0).normal(size=(300, 2))
    est = TabularFlowDensity(
        **dict(_TAB, max_epochs=4), early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=2,
    ).fit(X)
    assert est.n_iter_ >= 1
    assert est.n_iter_ == len(est.history_)
    valid = est.history_[:, "valid_loss"]
    assert len(valid) == est.n_iter_ and np.isfinite(valid).all()
    assert np.isfinite(est.history_[:, "train_loss"]).all()
    # Without early stopping there is no validation split.
    plain = TabularFlowDensity(**_TAB).fit(X)
    assert plain.n_iter_ == 2
    assert "valid_loss" not in plain.history_[-1]


def test_history_records_losses_in_nats_per_dim(digits):
    g = GlowDensity(**dict(_GLOW, max_epochs=2)).fit(digits[:400])
    assert g.n_iter_ == 2
    assert g.history_[:, "train_skipped_steps"] == [0, 0]
    loss = np.array(g.history_[:, "train_loss"])
    # nats/dim of the dequantised data: 0 is the uniform density (8 bits/dim).
    assert np.isfinite(loss).all() and np.all(np.abs(loss) < 2)


# ---------------------------------------------------------------------------------------
# logit_alpha: a logit layer after dequantization (Kamkari et al.'s flows)
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def glow_logit(digits):
    return GlowDensity(**_GLOW, logit_alpha=0.05, dtype="float64").fit(digits)


def test_glow_logit_likelihood_is_flow_density_plus_logit_logdet(glow_logit, digits):
    from skood.flows import LogitTransform, PreTransformChain

    X = digits[:50]
    module = glow_logit.module_
    assert isinstance(module.pre, PreTransformChain)
    # By hand: bin centre, logit, flow, plus the logit's log|det| (nats on the 1/256 grid).
    x = torch.tensor((X + 0.5) / 256 - 0.5).reshape(-1, 1, 8, 8)
    y, logdet = LogitTransform(0.05)(x)
    with torch.no_grad():
        ref = (module.flow(y).log_prob + logdet).numpy()
    lp = glow_logit.score_samples(X)
    np.testing.assert_allclose(lp, ref, rtol=1e-10, atol=1e-8)
    # The per-scale terms (logit log-det in the first scale) still sum to the total.
    np.testing.assert_allclose(glow_logit.log_prob_per_scale(X).sum(1), lp, rtol=0, atol=1e-8)
    bpd = glow_logit.bits_per_dim(X)
    np.testing.assert_allclose(bpd, bits_per_dim(lp, 64), rtol=0, atol=0)
    assert 0 < bpd.mean() < 9.5 and np.all(bpd > 0)


def test_glow_logit_samples_are_pixels_and_round_trip(glow_logit, digits, tmp_path):
    x = glow_logit.sample(5, random_state=0)
    assert x.min() >= 0 and x.max() <= 255
    np.testing.assert_array_equal(x, np.round(x))
    path = tmp_path / "g.joblib"
    joblib.dump(glow_logit, path)
    np.testing.assert_array_equal(joblib.load(path).score_samples(digits[:5]),
                                  glow_logit.score_samples(digits[:5]))


def test_glow_logit_generator_for_lid_includes_the_sigmoid(glow_logit, digits):
    """LID differentiates latent -> dequantized pixels: flow inverse, then the sigmoid."""
    from torch.autograd.functional import jacobian

    from skood.flows.spectral import _FlowMap, flow_jacobian

    fm = _FlowMap(glow_logit)
    x = fm.as_tensor(digits[:2])
    _, z = fm.encode(x)
    # g(f(x)) is the pixel at the bin centre, in [-0.5, 0.5) (not in logit space).
    torch.testing.assert_close(fm.generate(z), fm.to_flow_space(x), atol=1e-9, rtol=0)
    assert fm.to_flow_space(x).min() >= -0.5 and fm.to_flow_space(x).max() < 0.5
    module = glow_logit.module_

    def g(zi):
        y = module.flow.inverse(module.flow.unflatten_latents(zi[None]), normalized=True)
        return module.pre.inverse_tail(y).reshape(-1)

    J = flow_jacobian(glow_logit, digits[:2])
    for i in range(2):
        np.testing.assert_allclose(J[i], jacobian(g, z[i]).numpy(), rtol=1e-7, atol=1e-10)


def test_glow_logit_alpha_validation(digits):
    for alpha in (0.0, 0.5, 0.7, -0.1):
        with pytest.raises(InvalidParameterError, match="'logit_alpha' parameter"):
            GlowDensity(**_GLOW, logit_alpha=alpha).fit(digits[:20])
    with pytest.raises(ValueError, match="logit_alpha needs pixel data"):
        GlowDensity(**_GLOW, pixel_scale="continuous", logit_alpha=0.05).fit(digits[:20])
    # Default: no logit layer (the module's pre-transform is the plain dequantization).
    assert GlowDensity().logit_alpha is None
