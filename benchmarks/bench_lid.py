"""LID for flows: exact Jacobian paths vs the matrix-free estimator, and their AUROCs.

28x28 grey Glow (2 levels, 8 steps, 128 hidden channels), float32, CPU, briefly
trained on a Fashion-MNIST subset. Measured side by side in one run:

* per-sample time of one log-likelihood, the column-at-a-time Jacobian (one
  JVP per column, on ONE sample), ``torch.func.jacfwd`` on the whole flow, the
  exact batched paths (:func:`skood.flows.spectral.flow_jacobian`, reverse and forward
  mode, ``chunk_size`` products per pass) and the fast path
  (:func:`skood.flows.spectral.flow_spectral_quadrature`), with ratios;
* agreement ``mean |LID_fast - LID_exact| / D`` on Fashion-MNIST and MNIST test
  images at a scale ``r`` calibrated on training images only (local PCA), for a
  grid of probes x Lanczos steps (one long Golub-Kahan run gives every shorter
  one), with the measured cost of each setting;
* AUROCs for Fashion-MNIST (ID) vs MNIST (OOD): likelihood, LID, the oracle
  dual-threshold envelope (exact and fast LID) and the deployable rank-AND
  score of :class:`~skood.detectors.lid.LIDLikelihoodDetector` (fast).

    OMP_NUM_THREADS=1 python -m benchmarks.bench_lid [--n-train 6000] [--epochs 4] [--n-exact 8] [--n-fast 150]

Writes ``benchmarks/results/lid_bench.md`` and ``lid_bench.csv``. The trained
flow is cached under ``benchmarks/cache/``. Run with ``OMP_NUM_THREADS=1`` on a
shared machine.
"""

import argparse
import csv
import platform
import time
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score

RESULTS = Path(__file__).parent / "results"
CACHE = Path(__file__).parent / "cache"
CONFIG = dict(input_shape=(1, 28, 28), n_levels=2, n_steps=8, hidden_channels=128,
              batch_size=64, lr=1e-3, random_state=0)
GRID_PROBES = (1, 2, 4)
GRID_STEPS = (4, 6, 8, 10, 12, 16)


def _once(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _best_of(fn, repeats):
    """Smallest wall time of ``repeats`` calls after a warm-up call (shared CPU: the
    minimum is the least disturbed measurement)."""
    fn()
    return min(_once(fn)[0] for _ in range(repeats))


def _train(args, X_train):
    from skood.density import GlowDensity

    path = CACHE / f"lid_bench_glow_n{args.n_train}_e{args.epochs}.joblib"
    if path.exists():
        est, t_fit = joblib.load(path)
        print(f"loaded cached flow (trained in {t_fit:.0f} s)", flush=True)
        return est, t_fit
    t_fit, est = _once(lambda: GlowDensity(max_epochs=args.epochs, **CONFIG).fit(X_train))
    CACHE.mkdir(exist_ok=True)
    joblib.dump((est, t_fit), path)
    print(f"trained in {t_fit:.0f} s", flush=True)
    return est, t_fit


def main(argv=None):
    from skood.detectors import lid_calibration
    from skood.flows import spectral
    from skood.datasets import load_fashion_mnist, load_mnist
    from skood.detectors import LIDLikelihoodDetector
    from skood.detectors.lid_calibration import FAST_SMOOTHING
    from skood.flows import channels_last
    from skood.metrics import dual_threshold_auroc

    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_lid", description=__doc__)
    p.add_argument("--n-train", type=int, default=6000, help="FMNIST training images")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--n-exact", type=int, default=8, help="test images per side, exact LID")
    p.add_argument("--n-fast", type=int, default=150, help="test images per side, fast LID")
    p.add_argument("--n-calibration", type=int, default=128)
    p.add_argument("--n-probes", type=int, default=None, help="default: the detector's")
    p.add_argument("--lanczos-steps", type=int, default=None, help="default: the detector's")
    p.add_argument("--skip-columns", action="store_true",
                   help="skip the column-at-a-time timing (~1 min)")
    args = p.parse_args(argv)
    defaults = LIDLikelihoodDetector().get_params()
    n_probes = args.n_probes or defaults["n_probes"]
    n_steps = args.lanczos_steps or defaults["lanczos_steps"]
    D = 784
    t_start = time.perf_counter()

    rng = np.random.RandomState(0)
    X_train, _ = load_fashion_mnist(subset="train")
    X_train = X_train[rng.permutation(len(X_train))[: args.n_train]]
    X_id, _ = load_fashion_mnist(subset="test")
    X_ood, _ = load_mnist(subset="test")
    X_id = X_id[rng.permutation(len(X_id))[: args.n_fast]]
    X_ood = X_ood[rng.permutation(len(X_ood))[: args.n_fast]]
    est, t_fit = _train(args, X_train)
    one, batch = X_id[:1], X_id[:16]
    nb = len(batch)
    fast_kw = dict(n_probes=n_probes, n_steps=n_steps, random_state=0)

    # -- timings, side by side (per sample) -------------------------------------------------
    timings = {}

    def record(name, seconds):
        timings[name] = seconds
        print(f"{name}: {seconds:.4g} s/sample", flush=True)

    n64 = len(X_id[:64])
    record(f"log_prob (batch {n64})", _best_of(lambda: est.score_samples(X_id[:64]), 5) / n64)
    if not args.skip_columns:
        record("column-at-a-time Jacobian, 784 JVPs (1 sample)",
               _once(lambda: spectral.flow_jacobian(est, one, method="columns"))[0])
    with channels_last(False):
        record("torch.func.jacfwd, whole flow (1 sample; NCHW layout)",
               _once(lambda: spectral.flow_jacobian(est, one, method="jacfwd"))[0])
        record("exact batched, reverse, chunk 128 (1 sample; NCHW layout)",
               _once(lambda: spectral.flow_jacobian(est, one))[0])
    record("exact batched, forward, chunk 128 (1 sample)",
           _once(lambda: spectral.flow_jacobian(est, one, method="forward"))[0])
    record("exact batched, reverse, chunk 128 (1 sample)",
           _once(lambda: spectral.flow_jacobian(est, one))[0])
    record("exact batched, reverse, chunk 128 + SVD (batch 4)",
           _once(lambda: spectral.flow_singular_values(est, X_id[:4]))[0] / 4)
    record(f"fast, {n_probes} probes x {n_steps} steps (batch 16)",
           _best_of(lambda: spectral.flow_spectral_quadrature(est, batch, **fast_kw), 2) / nb)
    grid_cost = {}
    for m, k in [(1, 8), (1, 16), (2, 10), (4, 10)]:
        if (m, k) == (n_probes, n_steps):
            continue
        grid_cost[m, k] = _once(lambda: spectral.flow_spectral_quadrature(
            est, batch, n_probes=m, n_steps=k, random_state=0))[0] / nb
        print(f"  fast {m} x {k}: {grid_cost[m, k]:.4g} s/sample", flush=True)

    # -- calibration on training images only, then agreement and AUROCs --------------------
    det = LIDLikelihoodDetector(FrozenEstimator(est), method="fast",
                                n_calibration=args.n_calibration,
                                n_reference=max(args.n_calibration, 256), n_probes=n_probes,
                                lanczos_steps=n_steps, random_state=0)
    t_det, _ = _once(lambda: det.fit(X_train))
    r = det.log_threshold_
    print(f"detector fit (calibration + reference) {t_det:.0f} s, r = {r:.3f}, "
          f"LPCA target {det.calibration_target_:.1f}", flush=True)

    n_ex = args.n_exact
    X_ex = np.r_[X_id[:n_ex], X_ood[:n_ex]]
    t_exact_eval, (sv, lp_ex) = _once(lambda: spectral.flow_singular_values(
        est, X_ex, return_log_prob=True))
    print(f"exact spectra of {len(X_ex)} images in {t_exact_eval:.0f} s", flush=True)
    lid_exact = lid_calibration.lid_from_singular_values(sv, r)
    y_ex = np.r_[np.ones(n_ex), -np.ones(n_ex)]

    # Every (probes, steps) setting from the public fast path with the same seed: the
    # probes of a smaller setting are the first ones of a larger one.
    def quadrature(m, k, jvp_method="central_difference"):
        return spectral.flow_spectral_quadrature(est, X_ex, n_probes=m, n_steps=k,
                                                 random_state=0, jvp_method=jvp_method)

    # The same probes with forward-mode AD products: the cost of central differences.
    lid_ad = lid_calibration.lid_from_quadrature(*quadrature(n_probes, n_steps, "autodiff"),
                                                 r, D, smoothing=FAST_SMOOTHING)
    grid = []
    for m in GRID_PROBES:
        for k in GRID_STEPS:
            nodes, weights = quadrature(m, k)
            est_lid = lid_calibration.lid_from_quadrature(nodes, weights, r, D, smoothing=FAST_SMOOTHING)
            hard = lid_calibration.lid_from_quadrature(nodes, weights, r, D, smoothing=0.0)
            wide = lid_calibration.lid_from_quadrature(nodes, weights, r, D, smoothing=0.5)
            if (m, k) == (n_probes, n_steps):
                fast_lid_main = est_lid
            grid.append(dict(probes=m, steps=k, products=m * (2 * k - 1),
                             mae=float(np.mean(np.abs(est_lid - lid_exact)) / D),
                             mae_hard=float(np.mean(np.abs(hard - lid_exact)) / D),
                             mae_wide=float(np.mean(np.abs(wide - lid_exact)) / D),
                             bias=float(np.mean(est_lid - lid_exact)) / D,
                             auroc=float(roc_auc_score(y_ex, est_lid)),
                             dual=float(dual_threshold_auroc(lp_ex, est_lid, y_ex))))
    # The exact spectrum with the fast path's smoothed step: the estimator's own target.
    log_sv = np.log(np.maximum(sv, 1e-300))
    lid_exact_smooth = np.sum(0.5 * (1 + np.tanh((log_sv - r) / (2 * FAST_SMOOTHING))), 1)

    X_all = np.r_[X_id, X_ood]
    y_all = np.r_[np.ones(len(X_id)), -np.ones(len(X_ood))]
    t_fast_eval, pairs = _once(lambda: det.likelihood_and_lid(X_all))
    score = det.score_samples(X_all)
    fast_main = next(g for g in grid if (g["probes"], g["steps"]) == (n_probes, n_steps)) \
        if n_probes in GRID_PROBES and n_steps in GRID_STEPS else None

    auc = roc_auc_score
    rows = [
        ("likelihood", "exact subset", auc(y_ex, lp_ex), len(X_ex)),
        ("LID (exact)", "exact subset", auc(y_ex, lid_exact), len(X_ex)),
        ("dual threshold, exact LID (oracle)", "exact subset",
         dual_threshold_auroc(lp_ex, lid_exact, y_ex), len(X_ex)),
    ]
    if fast_main is not None:
        rows += [("LID (fast)", "exact subset", fast_main["auroc"], len(X_ex)),
                 ("dual threshold, fast LID (oracle)", "exact subset", fast_main["dual"],
                  len(X_ex))]
    rows += [
        ("likelihood", "fast set", auc(y_all, pairs[:, 0]), len(X_all)),
        ("LID (fast)", "fast set", auc(y_all, pairs[:, 1]), len(X_all)),
        ("dual threshold, fast LID (oracle)", "fast set",
         dual_threshold_auroc(pairs[:, 0], pairs[:, 1], y_all), len(X_all)),
        ("rank-AND min(F_L, F_LID), fast (deployable)", "fast set", auc(y_all, score),
         len(X_all)),
    ]
    total = time.perf_counter() - t_start

    # -- report ---------------------------------------------------------------------------------
    base = timings[f"log_prob (batch {n64})"]
    exact = timings["exact batched, reverse, chunk 128 + SVD (batch 4)"]
    lines = [
        "# LID for flows: timings, agreement, AUROC (FMNIST -> MNIST)",
        "",
        f"Glow 28x28x1, 2 levels x 8 steps, 128 hidden, float32; torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), {platform.machine()} CPU shared with other jobs "
        "(absolute times are noisy; ratios are from the same run).",
        f"Budget: trained {args.epochs} epoch(s) on {args.n_train} FMNIST training images "
        f"({t_fit:.0f} s); exact LID on {n_ex} + {n_ex} test images ({t_exact_eval:.0f} s); "
        f"fast LID ({n_probes} probes x {n_steps} Lanczos steps, step smoothed over "
        f"{FAST_SMOOTHING} nats) on {len(X_id)} + {len(X_ood)} ({t_fast_eval:.0f} s); "
        f"whole run {total / 60:.1f} min.",
        f"Scale r = {r:.3f}, calibrated by the fast detector on {args.n_calibration} "
        f"training images (local PCA target {det.calibration_target_:.1f} of {D}); "
        f"detector fit {t_det:.0f} s.",
        "",
        "## Per-sample times",
        "",
        "| path | seconds per sample | x log_prob | exact (reverse + SVD) / this |",
        "|---|---|---|---|",
    ]
    for k, v in timings.items():
        lines.append(f"| {k} | {v:.4g} | {v / base:.1f} | {exact / v:.2f} |")
    for (m, k), v in grid_cost.items():
        lines.append(f"| fast, {m} probes x {k} steps (batch 16) | {v:.4g} | {v / base:.1f} | "
                     f"{exact / v:.2f} |")
    lines += [
        "",
        "Memory of the exact paths: one pass holds ``chunk_size x batch`` stacked copies "
        "(reverse: their activations for the backward pass; forward: tangents only); "
        "``jacfwd`` pushes all 784 tangents of a sample at once.",
        "",
        f"## Agreement with the exact LID ({len(X_ex)} test images, r = {r:.3f})",
        "",
        f"Mean exact LID: FMNIST {lid_exact[:n_ex].mean():.1f}, MNIST "
        f"{lid_exact[n_ex:].mean():.1f}; exact spectrum through the smoothed step: "
        f"{lid_exact_smooth[:n_ex].mean():.1f} / {lid_exact_smooth[n_ex:].mean():.1f} "
        f"(mean |smoothed - exact| / D = "
        f"{np.mean(np.abs(lid_exact_smooth - lid_exact)) / D:.4f}, the floor of the "
        "smoothing bias).",
        "",
        "| probes | steps | products per sample (JVP+VJP) | mean abs err / D | bias / D | "
        "hard step: err / D | step over 0.5 nats: err / D | AUROC LID | AUROC dual (oracle) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for g in grid:
        lines.append(f"| {g['probes']} | {g['steps']} | {g['products']} | {g['mae']:.4f} | "
                     f"{g['bias']:+.4f} | {g['mae_hard']:.4f} | {g['mae_wide']:.4f} | "
                     f"{g['auroc']:.3f} | "
                     f"{g['dual']:.3f} |")
    if fast_main is not None:
        lines += ["", f"Central differences vs forward-mode AD for the JVPs ({n_probes} x "
                  f"{n_steps}, same probes): mean |LID_cd - LID_ad| / D = "
                  f"{np.mean(np.abs(fast_lid_main - lid_ad)) / D:.2e}; forward-mode AD "
                  f"vs exact: {np.mean(np.abs(lid_ad - lid_exact)) / D:.4f}."]
    lines += [
        "",
        "## AUROC, FMNIST (ID, positive) vs MNIST (OOD)",
        "",
        "| score | evaluation set | AUROC | n |",
        "|---|---|---|---|",
    ]
    for name, where, value, n in rows:
        lines.append(f"| {name} | {where} | {value:.3f} | {n} |")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lid_bench.md").write_text(text + "\n")
    with open(RESULTS / "lid_bench.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "name", "value", "unit_or_set", "n"])
        for k, v in timings.items():
            w.writerow(["timing", k, f"{v:.6g}", "s/sample", 1])
        for (m, k), v in grid_cost.items():
            w.writerow(["timing", f"fast, {m} probes x {k} steps", f"{v:.6g}", "s/sample", 16])
        for g in grid:
            w.writerow(["agreement", f"mean|fast-exact|/D, {g['probes']}x{g['steps']}",
                        f"{g['mae']:.6g}", "exact subset", len(X_ex)])
        for name, where, value, n in rows:
            w.writerow(["auroc", name, f"{value:.6g}", where, n])


if __name__ == "__main__":
    main()
