"""Fashion-MNIST -> MNIST: likelihood + LID (Kamkari et al., ICML 2024) vs likelihood.

Slow (about 5 CPU minutes): a small Glow (2 levels x 4 steps, 32 hidden channels)
trained for 4 epochs on 6000 Fashion-MNIST images, the scale r and the reference
CDFs fitted on 512 held-out training images, then the fast (matrix-free) LID of
300 + 300 test images.
"""

from pathlib import Path

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score

from skood.datasets import load_fashion_mnist, load_mnist
from skood.density import GlowDensity
from skood.detectors import LIDLikelihoodDetector
from skood.metrics import dual_threshold_auroc

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA / "mnist").exists(), reason="real data not available"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated"),
]
N_TEST = 300


@pytest.fixture(scope="module")
def fmnist_lid():
    X = load_fashion_mnist(subset="train", data_home=DATA)[0]
    idx = np.random.RandomState(0).permutation(len(X))
    X_train, X_held = X[idx[:6000]], X[idx[6000:6512]]
    glow = GlowDensity((1, 28, 28), n_levels=2, n_steps=4, hidden_channels=32, max_epochs=4,
                       random_state=0).fit(X_train)
    # The reference CDFs and the scale r come from held-out training images.
    det = LIDLikelihoodDetector(FrozenEstimator(glow), method="fast", random_state=0)
    det.fit(X_held)
    X_id = load_fashion_mnist(subset="test", data_home=DATA)[0][:N_TEST]
    X_ood = load_mnist(subset="test", data_home=DATA)[0][:N_TEST]
    X_test = np.r_[X_id, X_ood]
    y = np.r_[np.ones(N_TEST), -np.ones(N_TEST)]
    return det, det.likelihood_and_lid(X_test), det.score_samples(X_test), y


def test_lid_likelihood_beats_likelihood_on_fmnist_to_mnist(fmnist_lid):
    """Measured (seed 0, 300 + 300 test images, fast LID with the defaults: 1 probe x 12
    Lanczos steps, r = -1.42 from a local-PCA target of 97; 94 s on a shared 2-core CPU):
    likelihood 0.225 (the paradox), LID alone 0.521, dual-threshold oracle 0.521,
    deployable rank-AND score 0.333. (With 2 probes x 10 steps and a step smoothed over
    0.5 nats, r = -1.00: LID 0.350, dual 0.381, rank-AND 0.226.)

    The gain is modest next to the paper's (0.95 dual for a flow): in skood's flow space
    (linearly scaled pixels, no logit layer) MNIST digits do not get a lower LID than
    Fashion-MNIST images (exact LID on a larger Glow: 68 vs 54 at the calibrated r, see
    benchmarks/results/lid_bench.md). Kamkari et al.'s flows model logit-transformed
    pixels, whose sigmoid output squashes the Jacobian at MNIST's saturated black pixels.
    """
    det, pairs, score, y = fmnist_lid
    auc_lik = roc_auc_score(y, pairs[:, 0])
    auc_dual = dual_threshold_auroc(pairs[:, 0], pairs[:, 1], y)
    auc_score = roc_auc_score(y, score)
    print(f"likelihood {auc_lik:.3f}, LID {roc_auc_score(y, pairs[:, 1]):.3f}, "
          f"dual {auc_dual:.3f}, rank-AND {auc_score:.3f}, r = {det.log_threshold_:.3f}, "
          f"target {det.calibration_target_:.1f}")
    assert auc_lik < 0.5  # the paradox: the FMNIST model prefers MNIST
    assert auc_dual > auc_lik + 0.15  # the paper's oracle envelope (measured +0.296)
    assert auc_score > auc_lik + 0.05  # the deployable single score (measured +0.108)
