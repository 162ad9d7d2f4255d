"""Fit skood detectors and classical baselines on one task; return a results table.

Each flow is trained once per (task, architecture, budget, seed), cached on disk
(see :func:`fit_cached`) and shared by every detector through
``sklearn.frozen.FrozenEstimator``. The in-distribution training images are split:
the flows train on all but ``n_cal`` of them, and every detector is calibrated
(thresholds, typicality entropy, bootstrap, LID scale) on the ``n_cal`` held out.
"""

import time

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
    DensityOfStatesDetector,
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
from skood.metrics import evaluate_id_ood

from ._cache import fit_cached

GROUP_SIZES = (2, 5, 10)


def glow_params(task, epochs, quick):
    """Glow parameters (architecture and budget) of a task.

    Parameters
    ----------
    task : Bunch
        From :func:`load_task`.
    epochs : int
        Training epochs.
    quick : bool
        The small 2-level architecture of the quick digits run.

    Returns
    -------
    dict
        Keyword arguments of :class:`~skood.density.GlowDensity` (see
        docs/benchmarks.md for the budgets).
    """
    c, h, w = task.input_shape
    if quick:
        return dict(input_shape=task.input_shape, n_levels=2, n_steps=4, hidden_channels=32,
                    max_epochs=epochs, batch_size=64, lr=1e-3, random_state=0)
    # 3 levels wherever the side allows it (32x32: a 4x4 last scale, as in the paper).
    levels = 3 if h % 8 == 0 and w % 8 == 0 else 2
    return dict(input_shape=task.input_shape, n_levels=levels, n_steps=4,
                hidden_channels=64, max_epochs=epochs, batch_size=64, lr=1e-3, random_state=0)


def _unit_scale(X):
    return np.asarray(X, dtype=float) / 255.0


def classical_detectors(n_components=50):
    """Classical baselines on pixels / 255, keyed by their row name.

    Parameters
    ----------
    n_components : int, default=50
        PCA components in front of LOF, OneClassSVM and the Gaussian mixture.

    Returns
    -------
    dict of str to estimator
        Unfitted estimators whose ``score_samples`` is normality (higher = more
        in-distribution). PyOD's KNN and ECOD are included when PyOD is installed.
    """
    def scale():
        return FunctionTransformer(_unit_scale)

    def pca():
        return PCA(n_components=n_components, random_state=0)

    dets = {
        "IsolationForest": make_pipeline(scale(), IsolationForest(random_state=0)),
        "LOF (PCA)": make_pipeline(scale(), pca(), LocalOutlierFactor(novelty=True)),
        "OneClassSVM (PCA)": make_pipeline(scale(), pca(), OneClassSVM(gamma="scale")),
        "GMM (PCA)": make_pipeline(scale(), pca(),
                                   GaussianMixture(10, covariance_type="full", random_state=0)),
    }
    try:  # optional: PyOD is not a dependency of skood
        from pyod.models.ecod import ECOD
        from pyod.models.knn import KNN

        from skood.adapters import PyODAdapter
    except ImportError:
        return dets
    dets["PyOD KNN"] = make_pipeline(scale(), PyODAdapter(KNN()))
    dets["PyOD ECOD"] = make_pipeline(scale(), PyODAdapter(ECOD()))
    return dets


def _n_pca(task):
    return int(min(50, task.X_train.shape[1] // 2, task.X_train.shape[0] // 2))


def _group_aurocs(det, X_id, X_ood, s_id, s_ood):
    """Group AUROC per group size: :func:`skood.metrics.group_aurocs` on the task.

    skood detectors score groups with their own group statistic, from one flow
    pass per test set (:meth:`sample_statistics`) shared by every group size;
    detectors without one (the classical baselines) score a group by the mean of
    its point-wise normality ``s_id`` / ``s_ood``, so every detector is compared
    as a group test on the same groups (ID groups seeded 1, OOD groups 2).

    Returns
    -------
    dict
        ``{"group_auroc_m<M>": auroc}`` for each size in :data:`GROUP_SIZES`.
    """
    from skood.metrics import group_aurocs

    return group_aurocs(det, X_id, X_ood, group_sizes=GROUP_SIZES, scores_id=s_id,
                        scores_ood=s_ood, random_state=1)


def run_task(task, *, epochs=5, quick=False, cache_dir=None, log=print, n_cal=1000,
             n_lid=300, general_methods=True):
    """Run every detector on ``task``.

    Parameters
    ----------
    task : Bunch
        From :func:`load_task`.
    epochs : int, default=5
        Flow training epochs.
    quick : bool, default=False
        The small architecture and exact LID (digits); otherwise the task's full
        architecture, fast LID and the logit-pixel flow rows.
    cache_dir : path-like, default=None
        Directory of cached flows (:func:`fit_cached`); ``None`` trains every flow
        afresh and stores nothing.
    log : callable, default=print
        Receives progress lines.
    n_cal : int, default=1000
        Held-out training images that calibrate the detectors (at most a quarter).
    n_lid : int, default=300
        Test images per side scored by the LID detectors (Jacobian spectra).
    general_methods : bool, default=True
        Include the general-model ratios when the task has general data.

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

    def fit(estimator, X, name):
        return fit_cached(estimator, X, name, cache_dir=cache_dir, log=log)

    def record(name, family, det, t_train, t_start, note, X_id=None, X_ood=None):
        """Score ``det``; its time is training + calibration + point-wise scoring."""
        X_id = task.X_id if X_id is None else X_id
        X_ood = task.X_ood if X_ood is None else X_ood
        # Point-wise scores from score_samples: a group statistic on groups of one
        # need not equal the point-wise score (typicality, KL divergence).
        s_id, s_ood = (np.asarray(det.score_samples(X), dtype=np.float64) for X in (X_id, X_ood))
        seconds = t_train + time.perf_counter() - t_start
        row = dict(task=task.name, detector=name, family=family, budget=note,
                   fit_s=round(seconds, 1), n_test=f"{len(s_id)}+{len(s_ood)}",
                   **evaluate_id_ood(s_id, s_ood), **_group_aurocs(det, X_id, X_ood, s_id, s_ood))
        rows.append(row)
        scores[name] = (s_id, s_ood, family)
        log(f"  {name:34s} AUROC {row['auroc']:.3f}  group M=5 {row['group_auroc_m5']:.3f}")

    flow, t_flow = fit(GlowDensity(**params), X_fit, f"{task.flow_key}-glow")
    frozen = FrozenEstimator(flow)
    log(f"  ID flow: {flow.bits_per_dim(X_cal).mean():.3f} bits/dim on held-out ID images")

    X_bg = mutate(X_fit, 0.2, random_state=np.random.RandomState(0))
    bg, t_bg = fit(GlowDensity(**{**params, "weight_decay": 1e-4}), X_bg,
                   f"{task.flow_key}-background")
    # The default detector as a user runs it: it trains its own flow (same architecture
    # and budget) on 80% of the training images and fits the density of statistics on
    # the other 20%; its distance statistic uses the flow's training images.
    dos, t_dos = fit(DensityOfStatesDetector(GlowDensity(**params), random_state=0),
                     task.X_train, f"{task.flow_key}-density-of-states")
    n_dos = len(task.X_train) - len(dos.calibration_statistics_)
    dets = {
        "Density of states": (dos, t_dos, f"{arch}, {epochs} ep, n={n_dos} (own flow)"),
        "Likelihood": (LikelihoodDetector(frozen), t_flow, budget),
        "Last scale": (LastScaleDetector(frozen), t_flow, budget),
        "Ratio (background)": (LikelihoodRatioDetector(frozen, reference=FrozenEstimator(bg)),
                               t_flow + t_bg, budget + " (x2 models)"),
        "Input complexity": (InputComplexityDetector(frozen), t_flow, budget),
        "Typicality": (TypicalityDetector(frozen, random_state=0), t_flow, budget),
        "KL divergence (KLODS)": (KLDivergenceDetector(frozen, random_state=0), t_flow, budget),
    }
    if task.general is not None and general_methods:
        gen, t_gen = fit(GlowDensity(**params), task.general, f"{task.general_key}-general")
        gen_note = f"{budget} + general n={len(task.general)}"
        dets["Ratio (general)"] = (
            LikelihoodRatioDetector(frozen, reference=FrozenEstimator(gen)), t_flow + t_gen,
            gen_note)
        # Schirrmeister et al.'s recipe: the ID model starts from the general model's
        # weights (fine-tuned), optionally with the outlier loss on general images.
        # The general model enters these cache keys by its weights (FrozenEstimator).
        ft, t_ft = fit(
            LikelihoodRatioDetector(GlowDensity(**params), reference=FrozenEstimator(gen),
                                    fine_tune=True), X_fit, f"{task.name}-finetuned")
        dets["Ratio (general, fine-tuned)"] = (ft, t_gen + t_ft, gen_note + ", fine-tuned")
        ol, t_ol = fit(
            LikelihoodRatioDetector(GlowDensity(**params), reference=FrozenEstimator(gen),
                                    general_data=task.general, fine_tune=True,
                                    outlier_loss_weight="auto"), X_fit,
            f"{task.name}-outlierloss")
        dets["Ratio (general) + outlier loss"] = (ol, t_gen + t_ol,
                                                 gen_note + ", fine-tuned + outlier loss")
        frozen_ft = FrozenEstimator(ft.flow_)
        dets["Last scale (fine-tuned model)"] = (LastScaleDetector(frozen_ft), t_gen + t_ft,
                                                 gen_note + ", fine-tuned")

    for name, (det, t_fit, note) in dets.items():
        t = time.perf_counter()
        if not hasattr(det, "offset_"):  # not fitted yet: a frozen flow, calibrate
            det.fit(X_cal)
        record(name, "skood", det, t_fit, t, note)

    # LID needs Jacobian spectra: scored on a subsample of each test set.
    n = min(n_lid, len(task.X_id), len(task.X_ood))
    X_id, X_ood = task.X_id[:n], task.X_ood[:n]
    t = time.perf_counter()
    lid = LIDLikelihoodDetector(frozen, method="exact" if quick else "fast", random_state=0)
    lid.fit(X_cal[:256])
    record("Likelihood + LID", "skood", lid, t_flow, t, f"{budget}, {lid.method} LID",
           X_id, X_ood)
    logit_flow = None
    if not quick:
        # Kamkari et al.'s flows model logit pixels: the sigmoid of the generator squashes
        # the Jacobian at saturated pixels, which is what lowers the LID of simple images.
        try:
            logit_flow, t_logit = fit(GlowDensity(**params, logit_alpha=0.05), X_fit,
                                      f"{task.flow_key}-glow-logit")
        except TrainingDivergedError as exc:  # reported in the log, the other rows stand
            log(f"  logit-pixel Glow not trained: {exc}")
    if logit_flow is not None:
        frozen_logit = FrozenEstimator(logit_flow)
        note = f"{budget}, logit pixels"
        t = time.perf_counter()
        det = LikelihoodDetector(frozen_logit).fit(X_cal)
        record("Likelihood (logit flow)", "skood", det, t_logit, t, note)
        t = time.perf_counter()
        lid = LIDLikelihoodDetector(frozen_logit, method="fast", random_state=0).fit(X_cal[:256])
        record("Likelihood + LID (logit flow)", "skood", lid, t_logit, t, f"{note}, fast LID",
               X_id, X_ood)

    for name, det in classical_detectors(_n_pca(task)).items():
        t = time.perf_counter()
        det.fit(task.X_train)
        record(name, "classical", det, 0.0, t, "default")
    return rows, scores
