"""Fashion-MNIST -> MNIST with a small Glow: the paradox, and the fixes of issue 3.

Slow (about 2 CPU minutes on 2 cores): one Glow and one background Glow, 6000
Fashion-MNIST training images, 4 epochs, 2 levels x 4 steps, 32 hidden channels.
"""

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator

from skood.datasets import get_data_home, load_fashion_mnist, load_mnist
from skood.density import GlowDensity
from skood.detectors import LastScaleDetector, LikelihoodDetector, LikelihoodRatioDetector
from skood.metrics import evaluate_id_ood

DATA = get_data_home()  # SKOOD_DATA, set by tests/conftest.py to ../shared/data
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA / "mnist").exists(), reason="real data not available"),
]


@pytest.fixture(scope="module")
def fmnist_glow():
    X = load_fashion_mnist(subset="train", data_home=DATA)[0]
    X_train = X[np.random.RandomState(0).choice(len(X), 6000, replace=False)]
    glow = GlowDensity((1, 28, 28), n_levels=2, n_steps=4, hidden_channels=32, max_epochs=4,
                       random_state=0).fit(X_train)
    X_id = load_fashion_mnist(subset="test", data_home=DATA)[0][:1000]
    X_ood = load_mnist(subset="test", data_home=DATA)[0][:1000]
    return glow, X_train, X_id, X_ood


def _auroc(det, X_id, X_ood):
    return evaluate_id_ood(det.score_samples(X_id), det.score_samples(X_ood))["auroc"]


def test_paradox_and_hierarchical_fixes(fmnist_glow):
    """Measured (seed 0): likelihood 0.223 (the paradox), last scale 0.309.

    The background-ratio AUROC has not been measured yet: its run did not finish in the
    session that wrote this test (CPU shared with other jobs); the assertion is the
    issue's requirement, not a measured margin."""
    glow, X_train, X_id, X_ood = fmnist_glow
    frozen = FrozenEstimator(glow)
    auc_lik = _auroc(LikelihoodDetector(frozen).fit(X_train[:500]), X_id, X_ood)
    auc_last = _auroc(LastScaleDetector(frozen).fit(X_train[:500]), X_id, X_ood)
    assert auc_lik < 0.5  # FMNIST model prefers MNIST
    assert auc_last > auc_lik + 0.03

    # reference="background" trains copies of an unfitted flow with the same recipe.
    ratio = LikelihoodRatioDetector(GlowDensity(**glow.get_params()), reference="background",
                                    mutation_rate=0.2, calibration_fraction=0.0,
                                    random_state=0)
    auc_ratio = _auroc(ratio.fit(X_train), X_id, X_ood)
    assert auc_ratio > auc_lik + 0.03
