"""Group detectors: the KLODS-style KL statistic and the typicality test.

Statistic checks run on synthetic latents (exact prior samples, injected
correlations, affine flows); detector checks on tiny float64 tabular flows; one
slow test trains a small Glow on Fashion-MNIST and tests on MNIST.
"""

import pickle
from functools import partial

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator

from skood.density import GlowDensity, TabularFlowDensity
from skood.detectors._groups import group_index
from skood.detectors.kl_divergence import (
    KLDivergenceDetector,
    expected_kl_bias,
    local_kl_statistic,
)
from skood.detectors.likelihood import LikelihoodDetector
from skood.detectors.typicality import TypicalityDetector

_TAB = dict(n_layers=2, hidden_units=8, max_epochs=2, dtype="float64", random_state=0)


# -- the KL statistic on synthetic latents -------------------------------------------
def _gaussian_kl(m0, S0, m1, S1):
    """Closed-form KL(N(m0, S0) || N(m1, S1))."""
    k = len(m0)
    S1_inv = np.linalg.inv(S1)
    d = m1 - m0
    return 0.5 * (
        np.trace(S1_inv @ S0) + d @ S1_inv @ d - k
        + np.linalg.slogdet(S1)[1] - np.linalg.slogdet(S0)[1]
    )


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("n", [10, 40, 160])
def test_expected_bias_matches_first_order_formula_and_simulation(k, n):
    exact = expected_kl_bias(k, n)
    first_order = k * (k + 3) / (4 * n)
    # Same leading term; the remainder is O(1/n^2).
    assert abs(exact - first_order) < 2.0 * k**3 / n**2
    # Monte Carlo: 4000 groups of n prior vectors, as k-dim "channel" vectors.
    rng = np.random.RandomState(k * 1000 + n)
    z = rng.normal(size=(4000 * n, k, 1, 1))
    raw = local_kl_statistic(z, group_size=n, neighbourhood="channel", reg=0.0,
                             bias_correction=False)
    se = raw.std() / np.sqrt(raw.size)
    assert abs(raw.mean() - exact) < 4 * se


def test_unbiased_covariance_has_same_first_order_bias():
    # The ML covariance (used) and the unbiased one differ by O(1/n^2) in mean KL.
    rng = np.random.RandomState(0)
    k, n, reps = 3, 200, 4000
    x = rng.normal(size=(reps, n, k))
    mu = x.mean(1)
    xc = x - mu[:, None]
    cov_u = np.matmul(xc.transpose(0, 2, 1), xc) / (n - 1)
    kl_u = 0.5 * (np.trace(cov_u, axis1=1, axis2=2) + (mu**2).sum(1) - k
                  - np.linalg.slogdet(cov_u)[1])
    first_order = k * (k + 3) / (4 * n)
    assert abs(kl_u.mean() - first_order) < 4 * kl_u.std() / np.sqrt(reps) + 2 * k**3 / n**2


@pytest.mark.parametrize(
    "neighbourhood, pooling",
    [("2x2", "all"), ("pair", "all"), ("channel", "all"), ("pixel", "all"),
     ("pixel", "per_position"), ("pair", "per_position")],
)
@pytest.mark.parametrize("statistic", ["kl", "dimwise", "tc"])
def test_prior_latents_have_zero_kl_after_bias_correction(neighbourhood, pooling, statistic):
    rng = np.random.RandomState(0)
    # 2 scales as in a Glow: (2, 8, 8) and (8, 4, 4); 2000 groups of 5.
    z = [rng.normal(size=(10000, 2, 8, 8)), rng.normal(size=(10000, 8, 4, 4))]
    kw = dict(group_size=5, neighbourhood=neighbourhood, statistic=statistic, pooling=pooling)
    raw = local_kl_statistic(z, bias_correction=False, **kw)
    corrected = local_kl_statistic(z, **kw)
    if statistic == "tc" and neighbourhood == "pixel":
        np.testing.assert_allclose(raw, 0.0, atol=1e-12)  # one dimension: no dependence
        return
    np.testing.assert_allclose(raw - corrected, raw.mean() - corrected.mean())
    se = corrected.std() / np.sqrt(corrected.size)
    assert abs(corrected.mean()) < 4 * se
    # The correction removes the whole bias: what is left is tiny next to it.
    assert abs(corrected.mean()) < 0.05 * raw.mean()


def test_kl_statistic_identity_kl_equals_dimwise_plus_tc():
    rng = np.random.RandomState(1)
    z = 1.3 * rng.normal(size=(20, 4, 6, 6)) + 0.2
    parts = {
        s: local_kl_statistic(z, group_size=5, statistic=s, bias_correction=False)
        for s in ("kl", "dimwise", "tc")
    }
    np.testing.assert_allclose(parts["kl"], parts["dimwise"] + parts["tc"], rtol=1e-10)


def _ar1_latents(rho, n, rng, shape=(2, 8, 8)):
    """Latents with marginals N(0, 1) and correlation rho between horizontal neighbours."""
    c, h, w = shape
    eps = rng.normal(size=(n, c, h, w))
    z = np.empty_like(eps)
    z[..., 0] = eps[..., 0]
    for j in range(1, w):
        z[..., j] = rho * z[..., j - 1] + np.sqrt(1 - rho**2) * eps[..., j]
    return z


@pytest.mark.parametrize("neighbourhood", ["2x2", "pair"])
def test_kl_grows_monotonically_with_neighbour_correlation(neighbourhood):
    rhos = [0.0, 0.1, 0.2, 0.4, 0.6, 0.8]
    means = []
    for rho in rhos:
        z = _ar1_latents(rho, 1000, np.random.RandomState(0))
        means.append(local_kl_statistic(z, group_size=5, neighbourhood=neighbourhood).mean())
    assert np.all(np.diff(means) > 0), means
    assert abs(means[0]) < 0.01
    if neighbourhood == "pair":
        # Horizontal pairs carry the whole dependence: TC = -1/2 log(1 - rho^2).
        np.testing.assert_allclose(means[1:], -0.5 * np.log(1 - np.square(rhos[1:])),
                                   rtol=0.1, atol=0.003)


def test_kl_is_invariant_under_an_affine_flow():
    rng = np.random.RandomState(0)
    d = 3
    m = rng.normal(size=d)
    L = rng.normal(size=(d, d))
    S = L @ L.T + 0.5 * np.eye(d)
    A = rng.normal(size=(d, d)) + 2 * np.eye(d)
    b = rng.normal(size=d)
    # Data space: KL of N(m, S) to the flow's density, the pull-back of N(0, I)
    # through z = A x + b, i.e. N(-A^-1 b, (A^T A)^-1).
    A_inv = np.linalg.inv(A)
    kl_x = _gaussian_kl(m, S, -A_inv @ b, A_inv @ A_inv.T)
    # Latent space: KL of the pushed-forward N(A m + b, A S A^T) to the prior.
    kl_z = _gaussian_kl(A @ m + b, A @ S @ A.T, np.zeros(d), np.eye(d))
    assert kl_x > 0.5
    np.testing.assert_allclose(kl_x, kl_z, rtol=1e-10)
    # The detector's statistic on latents of samples estimates the same number.
    x = rng.multivariate_normal(m, S, size=20000)
    z = (x @ A.T + b).reshape(-1, d, 1, 1)
    est = local_kl_statistic(z, groups=np.zeros(len(z)), neighbourhood="channel")
    np.testing.assert_allclose(est, kl_z, rtol=0.03)


def test_local_kl_statistic_rejects_groups_with_too_few_vectors():
    z = np.random.RandomState(0).normal(size=(10, 4, 1, 1))
    with pytest.raises(ValueError, match="at least 5 samples"):
        local_kl_statistic(z, group_size=2, neighbourhood="channel")
    with pytest.raises(ValueError, match="at least 2 samples"):
        local_kl_statistic(z, group_size=1, pooling="per_position")
    with pytest.raises(ValueError, match="2x2"):
        local_kl_statistic(z, neighbourhood="2x2")


# -- group specifications ---------------------------------------------------------------
def test_group_index_forms():
    np.testing.assert_array_equal(group_index(6, None, 3), [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(group_index(4, ["b", "a", "b", "a"]), [[1, 3], [0, 2]])
    ragged = group_index(5, [2, 1, 2, 2, 1])
    assert [list(g) for g in ragged] == [[1, 4], [0, 2, 3]]
    np.testing.assert_array_equal(group_index(5, [[4, 0], [1, 1]]), [[4, 0], [1, 1]])


@pytest.mark.parametrize(
    "groups, group_size, match",
    [
        (None, 4, "does not divide"),
        (None, 0, ">= 1"),
        (None, 2.0, "integer"),
        (None, True, "integer"),
        (np.zeros(5), 5, "one label per sample"),
        (np.zeros((3, 0), dtype=int), 5, "Empty groups"),
        (np.zeros((0, 5), dtype=int), 5, "Empty groups"),
        (np.array([[0, 6]]), 5, r"in \[0, 5\]"),
        (np.array([[0.0, 1.0]]), 5, "integer row indices"),
    ],
)
def test_group_index_errors(groups, group_size, match):
    with pytest.raises(ValueError, match=match):
        group_index(6, groups, group_size)


# -- detectors on tiny tabular flows ----------------------------------------------------
@pytest.fixture(scope="module")
def gaussian_setup():
    """A tiny flow fit on 2-D Gaussian data, plus calibration and fresh ID data."""
    rng = np.random.RandomState(0)
    cov = np.array([[1.0, 0.6], [0.6, 1.0]])
    X = rng.multivariate_normal([0, 0], cov, size=12500)
    flow = TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=3, dtype="float64",
                              random_state=0).fit(X[:500])
    return FrozenEstimator(flow), X[500:2500], X[2500:]


@pytest.mark.parametrize("make", [
    TypicalityDetector,
    partial(KLDivergenceDetector, pooling="all"),
    KLDivergenceDetector,
])
def test_bootstrap_threshold_gives_the_false_alarm_rate(make, gaussian_setup):
    flow, X_cal, X_new = gaussian_setup
    alpha = 0.1
    det = make(flow, alpha=alpha, n_bootstrap=4000, random_state=0).fit(X_cal)
    for m in [m for m in (1, 5) if m >= getattr(det, "min_group_size_", 1)]:
        labels = det.predict_groups(X_new, group_size=m)
        # Sampling error of the fresh groups and of the calibration set.
        se = np.sqrt(alpha * (1 - alpha) * (1 / labels.size + 1 / len(X_cal)))
        assert abs(np.mean(labels == -1) - alpha) < 3 * se, (m, np.mean(labels == -1))


@pytest.mark.parametrize("make", [TypicalityDetector, partial(KLDivergenceDetector, pooling="all")])
def test_group_scores_consistent_and_pure(make, gaussian_setup):
    flow, X_cal, X_new = gaussian_setup
    det = make(flow, n_bootstrap=200, random_state=0).fit(X_cal[:500])
    X = X_new[:30]
    np.testing.assert_allclose(det.score_groups(X, group_size=1), det.score_samples(X))
    labels = np.repeat(np.arange(10), 3)[::-1]
    # Groups come in the sorted order of their labels: here the reverse of the chunks.
    np.testing.assert_allclose(det.score_groups(X, groups=labels),
                               det.score_groups(X, group_size=3)[::-1])
    index = np.arange(30).reshape(10, 3)
    np.testing.assert_allclose(det.score_groups(X, groups=index),
                               det.score_groups(X, group_size=3))
    # Ragged groups: each group is scored on its own.
    ragged = np.r_[np.zeros(4), np.ones(26)]
    np.testing.assert_allclose(det.score_groups(X, groups=ragged),
                               [det.score_groups(X[:4], group_size=4)[0],
                                det.score_groups(X[4:], group_size=26)[0]])
    # Thresholds of uncached sizes: reproducible, and the estimator is not modified.
    state = pickle.dumps(det.__dict__)
    t3 = det.group_threshold(3)
    det.predict_groups(X, group_size=3)
    det.predict_groups(X, groups=ragged)
    assert det.group_threshold(3) == t3
    assert pickle.dumps(det.__dict__) == state
    assert sorted(det.group_thresholds_) == [1, 5]
    # An OOD shift is caught at the group level.
    assert np.all(det.predict_groups(X + 6.0, group_size=5) == -1)


def test_typicality_entropy_is_held_out_mean_nll(gaussian_setup):
    flow, X_cal, _ = gaussian_setup
    det = TypicalityDetector(flow, n_bootstrap=10).fit(X_cal)
    np.testing.assert_allclose(det.entropy_, -flow.score_samples(X_cal).mean())
    # An unfitted flow is trained on the rest; entropy from the held-out 20%.
    det = TypicalityDetector(TabularFlowDensity(**_TAB), n_bootstrap=10,
                             random_state=0).fit(X_cal[:200])
    assert det.calibration_statistics_.shape == (40,)


def test_group_api_errors(gaussian_setup):
    flow, X_cal, X_new = gaussian_setup
    det = KLDivergenceDetector(flow, n_bootstrap=10, random_state=0).fit(X_cal[:100])
    X = X_new[:10]
    with pytest.raises(ValueError, match="does not divide"):
        det.score_groups(X, group_size=3)
    with pytest.raises(ValueError, match="one label per sample"):
        det.predict_groups(X, groups=np.zeros(9))
    with pytest.raises(ValueError, match=">= 1"):
        det.score_groups(X, group_size=0)
    with pytest.raises(ValueError, match=">= 1"):
        det.group_threshold(0)
    with pytest.raises(ValueError, match="Empty groups"):
        det.score_groups(X, groups=np.zeros((0, 2), dtype=int))
    # A group-only configuration: the whole 2-D latent vector needs > 2 vectors.
    with pytest.raises(ValueError, match="cannot score single samples"):
        KLDivergenceDetector(flow, neighbourhood="channel").fit(X_cal[:100])
    with pytest.raises(ValueError, match="2x2"):
        KLDivergenceDetector(flow, neighbourhood="2x2").fit(X_cal[:100])
    with pytest.raises(ValueError, match="scales"):
        KLDivergenceDetector(flow, scales=(1,)).fit(X_cal[:100])


def test_kl_per_position_pooling(gaussian_setup):
    flow, X_cal, X_new = gaussian_setup
    det = KLDivergenceDetector(flow, alpha=0.1, n_bootstrap=2000, random_state=0).fit(X_cal)
    assert det.pooling == "per_position"  # the default
    assert det.families_ == [(0, "pixel", 1, 2)] and det.min_group_size_ == 2
    assert sorted(det.group_thresholds_) == [5]
    # Single samples: the pooled ("all") statistic.
    pooled = KLDivergenceDetector(flow, pooling="all", n_bootstrap=1).fit(X_cal[:10])
    np.testing.assert_allclose(det.score_samples(X_new[:50]), pooled.score_samples(X_new[:50]))
    with pytest.raises(ValueError, match="at least 2 samples"):
        det.score_groups(X_new[:10], group_size=1)
    with pytest.raises(ValueError, match="at least 2 samples"):
        det.group_threshold(1)
    # Per coordinate across 5 members: the bias is 2 coordinates x the k = 1, n = 5 bias.
    raw = KLDivergenceDetector(flow, pooling="per_position", bias_correction="none",
                               n_bootstrap=1).fit(X_cal[:10]).score_groups(X_new[:100])
    np.testing.assert_allclose(det.score_groups(X_new[:100]) - raw, 2 * expected_kl_bias(1, 5))
    labels = det.predict_groups(X_new, group_size=5)
    se = np.sqrt(0.1 * 0.9 * (1 / labels.size + 1 / len(X_cal)))
    assert abs(np.mean(labels == -1) - 0.1) < 3 * se


@pytest.mark.parametrize("bias_correction", ["analytic", "calibrate", "none"])
def test_kl_bias_correction_modes_shift_by_a_constant(bias_correction, gaussian_setup):
    flow, X_cal, X_new = gaussian_setup
    X_new = X_new[:2000]
    det = KLDivergenceDetector(flow, pooling="all", bias_correction=bias_correction,
                               n_bootstrap=500, random_state=0).fit(X_cal[:1000])
    raw = KLDivergenceDetector(flow, pooling="all", bias_correction="none", n_bootstrap=1).fit(
        X_cal[:50]).score_groups(X_new)
    shift = det.score_groups(X_new) - raw
    np.testing.assert_allclose(shift, shift[0], atol=1e-12)
    # Tabular flow, D = 2: groups of 5 pool 10 scalar latents.
    expected = {"analytic": expected_kl_bias(1, 10), "none": 0.0}
    if bias_correction in expected:
        assert shift[0] == pytest.approx(expected[bias_correction], abs=1e-12)
    if bias_correction == "calibrate":
        # Calibrated: ID groups are centred on zero.
        scores = det.score_groups(X_new)
        se = scores.std() * np.sqrt(1 / scores.size + 1 / det.n_bootstrap)
        assert abs(scores.mean()) < 4 * se


# -- real data -----------------------------------------------------------------------------
@pytest.mark.slow
def test_fashion_mnist_vs_mnist_groups_of_five():
    """Fashion-MNIST (ID) vs MNIST (OOD), one small Glow shared by all detectors.

    Glow: 2 levels x 4 steps, 32 channels, trained on 2000 Fashion-MNIST
    images for 3 epochs on the CPU; 1000 other training images calibrate the
    detectors; 1000 test images per set, disjoint random groups of M = 5.
    Measured AUROC (point-wise / M = 5), CPU, seed 0: likelihood 0.308 / 0.128
    (group = mean log-likelihood); typicality 0.486 / 0.723; KL with the
    default ``pooling="per_position"`` 0.752 / 0.995; KL with
    ``pooling="all"`` (2x2 blocks, the spec's main design) 0.550 / 0.874.
    """
    from skood.datasets import load_fashion_mnist, load_mnist
    from skood.metrics import auroc_id_ood, group_auroc, make_groups

    Xf, _ = load_fashion_mnist(subset="train")
    Xf_test, _ = load_fashion_mnist(subset="test")
    Xm_test, _ = load_mnist(subset="test")
    rng = np.random.RandomState(0)
    perm = rng.permutation(len(Xf))
    X_train, X_cal = Xf[perm[:2000]], Xf[perm[2000:3000]]
    X_id = Xf_test[rng.permutation(len(Xf_test))[:1000]]
    X_ood = Xm_test[rng.permutation(len(Xm_test))[:1000]]

    glow = GlowDensity((1, 28, 28), n_levels=2, n_steps=4, hidden_channels=32,
                       max_epochs=3, batch_size=32, random_state=0).fit(X_train)
    frozen = FrozenEstimator(glow)
    detectors = {
        "likelihood": LikelihoodDetector(frozen),
        "typicality": TypicalityDetector(frozen, random_state=0),
        "kl": KLDivergenceDetector(frozen, random_state=0),
        "kl_all_2x2": KLDivergenceDetector(frozen, pooling="all", random_state=0),
    }
    g_id = make_groups(len(X_id), 5, random_state=1)
    g_ood = make_groups(len(X_ood), 5, random_state=2)
    point, group = {}, {}
    for name, det in detectors.items():
        det.fit(X_cal)
        point[name] = auroc_id_ood(det.score_samples(X_id), det.score_samples(X_ood))
        if name == "likelihood":
            # The group form of the likelihood baseline: mean log-likelihood.
            s_id = det.score_samples(X_id)[g_id].mean(1)
            s_ood = det.score_samples(X_ood)[g_ood].mean(1)
        else:
            s_id = det.score_groups(X_id, groups=g_id)
            s_ood = det.score_groups(X_ood, groups=g_ood)
        group[name] = group_auroc(s_id, s_ood)
    print({name: (round(point[name], 3), round(group[name], 3)) for name in point})
    assert point["likelihood"] < 0.5  # the paradox
    assert group["kl"] > max(group["likelihood"], point["likelihood"]) + 0.3
    assert group["kl"] > 0.95
    assert group["typicality"] > group["likelihood"]
