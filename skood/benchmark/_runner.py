"""Fit skood detectors and classical baselines on one task; return a results table.

Each flow is trained once per (task, architecture, budget, seed), cached on disk
under ``benchmarks/cache/`` and shared by every detector through
``sklearn.frozen.FrozenEstimator``. The in-distribution training images are split:
the flows train on all but ``n_cal`` of them, and every detector is calibrated
(thresholds, typicality entropy, bootstrap, LID scale) on the ``n_cal`` held out.
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
from skood.exceptions import TrainingDivergedError
from skood.metrics import evaluate_id_ood, group_auroc, make_groups

GROUP_SIZES = (2, 5, 10)
CACHE = Path(__file__).resolve().parents[2] / "benchmarks" / "cache"


def glow_params(task, epochs, quick):
    """Architecture and budget per task (documented in docs/benchmarks.md)."""
    c, h, w = task.input_shape
    if quick:
        return dict(input_shape=task.input_shape, n_levels=2, n_steps=4, hidden_channels=32,
                    max_epochs=epochs, batch_size=64, lr=1e-3, random_state=0)
    # 3 levels wherever the side allows it (32x32: a 4x4 last scale, as in the paper).
    levels = 3 if h % 8 == 0 and w % 8 == 0 else 2
    return dict(input_shape=task.input_shape, n_levels=levels, n_steps=4,
                hidden_channels=64, max_epochs=epochs, batch_size=64, lr=1e-3, random_state=0)


def _digest(estimator, X, key):
    params = repr(sorted((k, v) for k, v in estimator.get_params(deep=False).items()
                         if not isinstance(v, np.ndarray)))
    arrays = [(k, v.shape, float(np.asarray(v[:64], float).sum()))
              for k, v in estimator.get_params(deep=False).items() if isinstance(v, np.ndarray)]
    blob = json.dumps([key, params, repr(arrays), X.shape, float(np.asarray(X[:64], float).sum())])
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def fit_cached(estimator, X, key, *, use_cache=True, log=print):
    """Fit ``estimator`` on ``X`` or load it from the cache; returns (fitted, seconds)."""
    path = CACHE / f"{key}-{_digest(estimator, X, key)}.joblib"
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


class _PyOD:
    """PyOD model behind skood's convention (``score_samples`` = normality)."""

    def __init__(self, model):
        self.model = model

    def fit(self, X):
        self.model.fit(np.asarray(X, float) / 255.0)
        return self

    def score_samples(self, X):
        from skood.metrics import from_pyod

        return from_pyod(self.model.decision_function(np.asarray(X, float) / 255.0))[0]


def classical_detectors(n_components=50):
    """Classical baselines on pixels / 255; ``score_samples`` is normality for all."""
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

        dets["PyOD KNN"] = _PyOD(KNN())
        dets["PyOD ECOD"] = _PyOD(ECOD())
    except ImportError:
        pass
    return dets


def _n_pca(task):
    return int(min(50, task.X_train.shape[1] // 2, task.X_train.shape[0] // 2))


def _group_aurocs(det, X_id, X_ood, s_id, s_ood):
    """Group AUROC per group size: the detector's own group statistic where it has
    one, otherwise the mean point-wise normality of the group (so every detector,
    classical ones included, is compared as a group test on the same groups)."""
    if hasattr(det, "score_groups"):
        # What score_groups computes, with one flow pass per test set for all group
        # sizes (score_groups would redo the pass for each size).
        stats_id, stats_ood = (det._sample_stats(det._validate(X)) for X in (X_id, X_ood))

        def group_scores(stats, index):
            det._check_index(index)
            return np.asarray(det._score_index(stats, index), dtype=np.float64)

    out = {}
    for m in GROUP_SIZES:
        g_id = make_groups(len(X_id), m, random_state=1)
        g_ood = make_groups(len(X_ood), m, random_state=2)
        if hasattr(det, "score_groups"):
            gs_id, gs_ood = group_scores(stats_id, g_id), group_scores(stats_ood, g_ood)
        else:
            gs_id, gs_ood = s_id[g_id].mean(1), s_ood[g_ood].mean(1)
        out[f"group_auroc_m{m}"] = group_auroc(gs_id, gs_ood)
    return out


def run_task(task, *, epochs=5, quick=False, use_cache=True, log=print, n_cal=1000,
             n_lid=300, general_methods=True):
    """Run every detector on ``task``.

    Returns
    -------
    rows : list of dict
        One result row per detector.
    scores : dict
        ``{detector: (scores_id, scores_ood, family)}`` for plots.
    """
    params = glow_params(task, epochs, quick)
    n_cal = min(n_cal, len(task.X_train) // 4)
    X_cal, X_fit = task.X_train[:n_cal], task.X_train[n_cal:]
    arch = f"Glow {params['n_levels']}x{params['n_steps']}x{params['hidden_channels']}"
    budget = f"{arch}, {epochs} ep, n={len(X_fit)}"
    rows, scores = [], {}

    def record(name, family, s_id, s_ood, seconds, note, det=None, X_id=None, X_ood=None):
        X_id = task.X_id if X_id is None else X_id
        X_ood = task.X_ood if X_ood is None else X_ood
        row = dict(task=task.name, detector=name, family=family, budget=note,
                   fit_s=round(seconds, 1), n_test=f"{len(s_id)}+{len(s_ood)}",
                   **evaluate_id_ood(s_id, s_ood), **_group_aurocs(det, X_id, X_ood, s_id, s_ood))
        rows.append(row)
        scores[name] = (s_id, s_ood, family)
        log(f"  {name:34s} AUROC {row['auroc']:.3f}  group M=5 {row['group_auroc_m5']:.3f}")

    flow, t_flow = fit_cached(GlowDensity(**params), X_fit, f"{task.flow_key}-glow",
                              use_cache=use_cache, log=log)
    frozen = FrozenEstimator(flow)
    log(f"  ID flow: {flow.bits_per_dim(X_cal).mean():.3f} bits/dim on held-out ID images")

    X_bg = mutate(X_fit, 0.2, random_state=np.random.RandomState(0))
    bg, t_bg = fit_cached(GlowDensity(**{**params, "weight_decay": 1e-4}), X_bg,
                          f"{task.flow_key}-background", use_cache=use_cache, log=log)
    dets = {
        "Likelihood": (LikelihoodDetector(frozen), t_flow, budget),
        "Last scale": (LastScaleDetector(frozen), t_flow, budget),
        "Ratio (background)": (LikelihoodRatioDetector(frozen, reference=FrozenEstimator(bg)),
                               t_flow + t_bg, budget + " (x2 models)"),
        "Input complexity": (InputComplexityDetector(frozen), t_flow, budget),
        "Typicality": (TypicalityDetector(frozen, random_state=0), t_flow, budget),
        "KL divergence (KLODS)": (KLDivergenceDetector(frozen, random_state=0), t_flow, budget),
    }
    if task.general is not None and general_methods:
        gen, t_gen = fit_cached(GlowDensity(**params), task.general, f"{task.general_key}-general",
                                use_cache=use_cache, log=log)
        gen_note = f"{budget} + general n={len(task.general)}"
        dets["Ratio (general)"] = (
            LikelihoodRatioDetector(frozen, reference=FrozenEstimator(gen)), t_flow + t_gen,
            gen_note)
        # Schirrmeister et al.'s recipe: the ID model starts from the general model's
        # weights (fine-tuned), optionally with the outlier loss on general images.
        ft, t_ft = fit_cached(
            LikelihoodRatioDetector(GlowDensity(**params), reference=FrozenEstimator(gen),
                                    fine_tune=True), X_fit, f"{task.name}-finetuned",
            use_cache=use_cache, log=log)
        dets["Ratio (general, fine-tuned)"] = (ft, t_gen + t_ft, gen_note + ", fine-tuned")
        ol, t_ol = fit_cached(
            LikelihoodRatioDetector(GlowDensity(**params), reference=FrozenEstimator(gen),
                                    general_data=task.general, fine_tune=True,
                                    outlier_loss_weight="auto"), X_fit,
            f"{task.name}-outlierloss", use_cache=use_cache, log=log)
        dets["Ratio (general) + outlier loss"] = (ol, t_gen + t_ol,
                                                 gen_note + ", fine-tuned + outlier loss")
        frozen_ft = FrozenEstimator(ft.flow_)
        dets["Last scale (fine-tuned model)"] = (LastScaleDetector(frozen_ft), t_gen + t_ft,
                                                 gen_note + ", fine-tuned")

    for name, (det, t_fit, note) in dets.items():
        t = time.perf_counter()
        if not isinstance(det, LikelihoodRatioDetector) or not hasattr(det, "flow_"):
            det.fit(X_cal)
        s_id, s_ood = det.score_samples(task.X_id), det.score_samples(task.X_ood)
        record(name, "skood", s_id, s_ood, t_fit + time.perf_counter() - t, note, det)

    # LID needs Jacobian spectra: scored on a subsample of each test set.
    lid = LIDLikelihoodDetector(frozen, method="exact" if quick else "fast", random_state=0)
    t = time.perf_counter()
    lid.fit(X_cal[:256])
    n = min(n_lid, len(task.X_id), len(task.X_ood))
    X_id, X_ood = task.X_id[:n], task.X_ood[:n]
    record("Likelihood + LID", "skood", lid.score_samples(X_id), lid.score_samples(X_ood),
           t_flow + time.perf_counter() - t, f"{budget}, {lid.method} LID", lid, X_id, X_ood)
    logit_flow = None
    if not quick:
        # Kamkari et al.'s flows model logit pixels: the sigmoid of the generator squashes
        # the Jacobian at saturated pixels, which is what lowers the LID of simple images.
        try:
            logit_flow, t_logit = fit_cached(GlowDensity(**params, logit_alpha=0.05), X_fit,
                                             f"{task.flow_key}-glow-logit",
                                             use_cache=use_cache, log=log)
        except TrainingDivergedError as exc:  # reported in the log, the other rows stand
            log(f"  logit-pixel Glow not trained: {exc}")
    if logit_flow is not None:
        frozen_logit = FrozenEstimator(logit_flow)
        note = f"{budget}, logit pixels"
        det = LikelihoodDetector(frozen_logit).fit(X_cal)
        record("Likelihood (logit flow)", "skood", det.score_samples(task.X_id),
               det.score_samples(task.X_ood), t_logit, note, det)
        t = time.perf_counter()
        lid = LIDLikelihoodDetector(frozen_logit, method="fast", random_state=0).fit(X_cal[:256])
        record("Likelihood + LID (logit flow)", "skood", lid.score_samples(X_id),
               lid.score_samples(X_ood), t_logit + time.perf_counter() - t,
               f"{note}, fast LID", lid, X_id, X_ood)

    for name, det in classical_detectors(_n_pca(task)).items():
        t = time.perf_counter()
        det.fit(task.X_train)
        s_id, s_ood = det.score_samples(task.X_id), det.score_samples(task.X_ood)
        record(name, "classical", s_id, s_ood, time.perf_counter() - t, "default", det)
    return rows, scores


def plot_scores(task_name, scores, out_dir):
    """ROC curves of every detector and ID-vs-OOD score histograms (PNG; needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from sklearn.metrics import roc_curve

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = task_name.replace("@", "_")
    fig, ax = plt.subplots(figsize=(6.5, 6))
    skood_names = [name for name, (*_, family) in scores.items() if family == "skood"]
    for i, (name, (s_id, s_ood, _)) in enumerate(scores.items()):
        y = np.r_[np.ones(len(s_id)), np.zeros(len(s_ood))]
        fpr, tpr, _ = roc_curve(y, np.nan_to_num(np.r_[s_id, s_ood], neginf=-1e300))
        ax.plot(fpr, tpr, lw=1.2, label=name, color=plt.cm.tab20(i % 20),
                ls="-" if name in skood_names else "--")
    ax.plot([0, 1], [0, 1], c="grey", lw=0.5)
    ax.set(xlabel="FPR (OOD accepted)", ylabel="TPR (ID accepted)", title=f"{task_name}: ROC")
    ax.legend(fontsize=7, loc="lower right")
    roc_path = out_dir / f"{stem}-roc.png"
    fig.savefig(roc_path, dpi=110, bbox_inches="tight")
    plt.close(fig)

    names = skood_names
    cols = 4
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        s_id, s_ood, _ = scores[name]
        both = np.r_[s_id, s_ood]
        both = both[np.isfinite(both)]
        lo, hi = np.percentile(both, [0.5, 99.5])
        bins = np.linspace(lo, hi, 40)
        ax.hist(np.clip(s_id, lo, hi), bins, alpha=0.6, density=True, label="ID")
        ax.hist(np.clip(s_ood, lo, hi), bins, alpha=0.6, density=True, label="OOD")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{task_name}: normality scores, ID vs OOD", fontsize=10)
    fig.tight_layout()
    hist_path = out_dir / f"{stem}-hist.png"
    fig.savefig(hist_path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [roc_path, hist_path]

