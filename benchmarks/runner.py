"""Fit skood detectors and classical baselines on one task; return a results table.

Each flow is trained once per (task, architecture, budget, seed), cached on disk
under ``benchmarks/cache/`` and shared by every detector through
``sklearn.frozen.FrozenEstimator``.
"""

import hashlib
import json
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.frozen import FrozenEstimator
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import OneClassSVM

from skood.density import GlowDensity
from skood.detectors import (
    InputComplexityDetector,
    KLDivergenceDetector,
    LastScaleDetector,
    LIDLikelihoodDetector,
    LikelihoodDetector,
    LikelihoodRatioDetector,
    TypicalityDetector,
)
from skood.detectors.likelihood_ratio import mutate
from skood.metrics import evaluate_id_ood, group_auroc, make_groups

GROUP_SIZE = 5

CACHE = Path(__file__).parent / "cache"


def glow_params(task, epochs, quick):
    """Architecture and budget per task (documented in docs/benchmarks.md)."""
    c, h, w = task.input_shape
    if quick:
        return dict(input_shape=task.input_shape, n_levels=2, n_steps=4, hidden_channels=32,
                    max_epochs=epochs, batch_size=64, lr=1e-3, random_state=0)
    return dict(input_shape=task.input_shape, n_levels=2 if h == 28 else 3, n_steps=4,
                hidden_channels=64, max_epochs=epochs, batch_size=64, lr=1e-3, random_state=0)


def fit_cached(estimator, X, key, *, use_cache=True, log=print):
    """Fit ``estimator`` on ``X`` or load it from the cache; returns (fitted, seconds)."""
    digest = hashlib.sha1(
        json.dumps([key, repr(sorted(estimator.get_params().items())), X.shape,
                    float(np.asarray(X[:64], float).sum())]).encode()
    ).hexdigest()[:16]
    path = CACHE / f"{key}-{digest}.joblib"
    if use_cache and path.exists():
        fitted, seconds = joblib.load(path)
        log(f"  loaded {key} from cache (trained in {seconds:.0f} s)")
        return fitted, seconds
    log(f"  training {key} on {X.shape[0]} samples ...")
    t = time.perf_counter()
    fitted = estimator.fit(X)
    seconds = time.perf_counter() - t
    if use_cache:
        CACHE.mkdir(exist_ok=True)
        joblib.dump((fitted, seconds), path)
    log(f"  trained {key} in {seconds:.0f} s")
    return fitted, seconds


def classical_detectors(n_components=50):
    """Classical baselines; ``score_samples`` is normality for all of them."""
    scale = FunctionTransformer(lambda X: np.asarray(X, float) / 255.0)

    def pca(n):
        return PCA(n_components=n, random_state=0)

    dets = {
        "IsolationForest": make_pipeline(scale, IsolationForest(random_state=0)),
        "LOF (PCA)": make_pipeline(scale, pca(n_components), LocalOutlierFactor(novelty=True)),
        "OneClassSVM (PCA)": make_pipeline(scale, pca(n_components), OneClassSVM(gamma="scale")),
        "GMM (PCA)": make_pipeline(scale, pca(n_components),
                                   GaussianMixture(10, covariance_type="full", random_state=0)),
    }
    try:  # optional: PyOD is not a dependency of skood
        from pyod.models.ecod import ECOD
        from pyod.models.knn import KNN

        from skood.metrics import from_pyod

        class _PyOD:
            def __init__(self, model):
                self.model = model

            def fit(self, X):
                self.model.fit(np.asarray(X, float) / 255.0)
                return self

            def score_samples(self, X):
                return from_pyod(self.model.decision_function(np.asarray(X, float) / 255.0))[0]

        dets["PyOD KNN"] = _PyOD(KNN())
        dets["PyOD ECOD"] = _PyOD(ECOD())
    except ImportError:
        pass
    return dets


def _groups(X):
    """Indices that put ``X`` into disjoint random groups of GROUP_SIZE, concatenated."""
    return make_groups(len(X), GROUP_SIZE, random_state=0).ravel()


def _n_pca(task):
    return int(min(50, task.X_train.shape[1] // 2, task.X_train.shape[0] // 2))


def run_task(task, *, epochs=5, quick=False, use_cache=True, log=print):
    """Run every detector on ``task``; returns a list of result rows (dicts)."""
    params = glow_params(task, epochs, quick)
    budget = f"{epochs} ep, n={len(task.X_train)}"
    rows = []

    def record(name, family, scores_id, scores_ood, seconds, train_note=budget, group=None):
        row = dict(task=task.name, detector=name, family=family, budget=train_note,
                   fit_s=round(seconds, 1), **evaluate_id_ood(scores_id, scores_ood),
                   group_auroc_m5=float("nan") if group is None else group)
        rows.append(row)
        log(f"  {name:28s} AUROC {row['auroc']:.3f}")

    flow, t_flow = fit_cached(GlowDensity(**params), task.X_train, f"{task.name}-glow",
                              use_cache=use_cache, log=log)
    frozen = FrozenEstimator(flow)

    rng = np.random.RandomState(0)
    X_bg = mutate(task.X_train, 0.2, random_state=rng)
    bg, t_bg = fit_cached(GlowDensity(**{**params, "weight_decay": 1e-4}), X_bg,
                          f"{task.name}-background", use_cache=use_cache, log=log)
    skood_dets = {
        "Likelihood": (LikelihoodDetector(frozen), t_flow),
        "Last scale": (LastScaleDetector(frozen), t_flow),
        "Ratio (background)": (LikelihoodRatioDetector(frozen, reference=FrozenEstimator(bg)),
                               t_flow + t_bg),
        "Input complexity": (InputComplexityDetector(frozen), t_flow),
        "Typicality": (TypicalityDetector(frozen, random_state=0), t_flow),
        "KL divergence (KLODS)": (KLDivergenceDetector(frozen, random_state=0), t_flow),
        "Likelihood + LID": (
            LIDLikelihoodDetector(frozen, method="exact" if quick else "fast", random_state=0),
            t_flow),
    }
    if task.general is not None:
        gen, t_gen = fit_cached(GlowDensity(**params), task.general, f"{task.name}-general",
                                use_cache=use_cache, log=log)
        skood_dets["Ratio (general)"] = (
            LikelihoodRatioDetector(frozen, reference=FrozenEstimator(gen)), t_flow + t_gen)

    for name, (det, t_fit) in skood_dets.items():
        t = time.perf_counter()
        det.fit(task.X_train[:2000])
        s_id, s_ood = det.score_samples(task.X_id), det.score_samples(task.X_ood)
        group = None
        if hasattr(det, "score_groups"):
            group = group_auroc(*(det.score_groups(X[_groups(X)], group_size=GROUP_SIZE)
                                  for X in (task.X_id, task.X_ood)))
        record(name, "skood", s_id, s_ood, t_fit + time.perf_counter() - t, group=group)

    for name, det in classical_detectors(_n_pca(task)).items():
        t = time.perf_counter()
        det.fit(task.X_train)
        s_id, s_ood = det.score_samples(task.X_id), det.score_samples(task.X_ood)
        record(name, "classical", s_id, s_ood, time.perf_counter() - t, "default")
    return rows
