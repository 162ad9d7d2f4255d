"""LID for flows: exact Jacobian paths vs the matrix-free estimator, and their AUROCs.

28x28 grey Glow (2 levels, 8 steps, 128 hidden channels), float32, CPU, briefly
trained on a Fashion-MNIST subset. Measured side by side in one run:

* per-sample time of one log-likelihood, the column-at-a-time Jacobian (one
  JVP per column; on ONE sample only), ``torch.func.jacfwd``, the exact batched
  path (:func:`skood.lid.flow_singular_values`) and the fast path
  (:func:`skood.lid.flow_spectral_quadrature`), with ratios;
* agreement ``mean |LID_fast - LID_exact| / D`` on Fashion-MNIST and MNIST test
  images, at a scale ``r`` calibrated on training images only (local PCA);
* AUROCs for Fashion-MNIST (ID) vs MNIST (OOD): likelihood, LID, the oracle
  dual-threshold envelope (exact and fast LID) and the deployable rank-AND
  score of :class:`~skood.detectors.lid.LIDLikelihoodDetector` (fast).

    python -m benchmarks.bench_lid [--n-train 1024] [--n-exact 6] [--n-fast 100]

Writes ``benchmarks/results/lid_bench.md`` and ``lid_bench.csv``.
"""

import argparse
import csv
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score

RESULTS = Path(__file__).parent / "results"
CONFIG = dict(input_shape=(1, 28, 28), n_levels=2, n_steps=8, hidden_channels=128,
              batch_size=64, lr=1e-3, random_state=0)


def _timed(fn, repeats=1):
    """Median wall time of ``repeats`` calls (after the first, which warms up) and the result."""
    out = fn()
    if repeats <= 1:
        t = time.perf_counter()
        out = fn()
        return time.perf_counter() - t, out
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def _once(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(argv=None):
    from skood import lid
    from skood.datasets import load_fashion_mnist, load_mnist
    from skood.density import GlowDensity
    from skood.detectors.lid import LIDLikelihoodDetector
    from skood.metrics import dual_threshold_auroc

    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_lid", description=__doc__)
    p.add_argument("--n-train", type=int, default=1024, help="FMNIST training images")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--n-exact", type=int, default=6, help="test images per side, exact LID")
    p.add_argument("--n-fast", type=int, default=100, help="test images per side, fast LID")
    p.add_argument("--n-calibration", type=int, default=64)
    p.add_argument("--n-probes", type=int, default=2)
    p.add_argument("--lanczos-steps", type=int, default=10)
    p.add_argument("--skip-columns", action="store_true",
                   help="skip the column-at-a-time timing (~1 min)")
    args = p.parse_args(argv)
    D = 784
    t_start = time.perf_counter()

    rng = np.random.RandomState(0)
    X_train, _ = load_fashion_mnist(subset="train")
    X_train = X_train[rng.permutation(len(X_train))[: args.n_train]]
    X_id, _ = load_fashion_mnist(subset="test")
    X_ood, _ = load_mnist(subset="test")
    X_id = X_id[rng.permutation(len(X_id))[: args.n_fast]]
    X_ood = X_ood[rng.permutation(len(X_ood))[: args.n_fast]]

    t_fit, est = _once(lambda: GlowDensity(max_epochs=args.epochs, **CONFIG).fit(X_train))
    print(f"trained in {t_fit:.0f} s", flush=True)
    one = X_id[:1]
    fast_kw = dict(n_probes=args.n_probes, n_steps=args.lanczos_steps, random_state=0)

    # -- timings, side by side ---------------------------------------------------------
    timings = {}
    timings["log_prob (1 sample)"] = _timed(lambda: est.score_samples(one), repeats=5)[0]
    batch = X_id[:64]
    timings["log_prob (per sample, batch 64)"] = _timed(lambda: est.score_samples(batch))[0] / 64
    if not args.skip_columns:
        timings["column-at-a-time Jacobian (1 sample)"] = _once(
            lambda: lid.flow_jacobian(est, one, method="columns"))[0]
    timings["torch.func.jacfwd (1 sample)"] = _once(
        lambda: lid.flow_jacobian(est, one, method="jacfwd"))[0]
    timings["exact batched: Jacobian (1 sample)"] = _once(
        lambda: lid.flow_jacobian(est, one, chunk_size=128))[0]
    t_ex, _ = _once(lambda: lid.flow_singular_values(est, X_id[:8], chunk_size=128))
    timings["exact batched: Jacobian + SVD (per sample, batch 8)"] = t_ex / 8
    timings["fast (1 sample)"] = _once(lambda: lid.flow_spectral_quadrature(est, one, **fast_kw))[0]
    t_fast, _ = _once(lambda: lid.flow_spectral_quadrature(est, X_id[:32], **fast_kw))
    timings["fast (per sample, batch 32)"] = t_fast / 32
    for k, v in timings.items():
        print(f"{k}: {v:.3f} s", flush=True)

    # -- calibration on training images only, then agreement and AUROCs ----------------
    det = LIDLikelihoodDetector(FrozenEstimator(est), method="fast", n_calibration=args.n_calibration,
                                n_reference=max(args.n_calibration, 256), n_probes=args.n_probes,
                                lanczos_steps=args.lanczos_steps, random_state=0)
    t_det, _ = _once(lambda: det.fit(X_train))
    r = det.log_threshold_
    print(f"detector fit (calibration + reference) {t_det:.0f} s, r = {r:.3f}, "
          f"LPCA target {det.calibration_target_:.1f}", flush=True)

    n_ex = args.n_exact
    X_ex = np.r_[X_id[:n_ex], X_ood[:n_ex]]
    t_exact_eval, (sv, lp_ex) = _once(lambda: lid.flow_singular_values(
        est, X_ex, chunk_size=128, return_log_prob=True))
    nodes, weights = lid.flow_spectral_quadrature(est, X_ex, **fast_kw)
    lid_exact = lid.lid_from_singular_values(sv, r)
    lid_fast = lid.lid_from_quadrature(nodes, weights, r, D, smoothing=0.5)
    lid_fast_hard = lid.lid_from_quadrature(nodes, weights, r, D, smoothing=0.0)
    agree = np.abs(lid_fast - lid_exact) / D
    y_ex = np.r_[np.ones(n_ex), -np.ones(n_ex)]

    X_all = np.r_[X_id, X_ood]
    y_all = np.r_[np.ones(len(X_id)), -np.ones(len(X_ood))]
    t_fast_eval, pairs = _once(lambda: det.likelihood_and_lid(X_all))
    score = det._combine(pairs[:, 0], pairs[:, 1])

    def auc(s, y):
        return roc_auc_score(y, s)

    rows = [
        ("likelihood", "exact subset", auc(lp_ex, y_ex), len(X_ex)),
        ("LID (exact)", "exact subset", auc(lid_exact, y_ex), len(X_ex)),
        ("LID (fast)", "exact subset", auc(lid_fast[:], y_ex), len(X_ex)),
        ("dual threshold, exact LID (oracle)", "exact subset",
         dual_threshold_auroc(lp_ex, lid_exact, y_ex), len(X_ex)),
        ("dual threshold, fast LID (oracle)", "exact subset",
         dual_threshold_auroc(lp_ex, lid_fast, y_ex), len(X_ex)),
        ("likelihood", "fast set", auc(pairs[:, 0], y_all), len(X_all)),
        ("LID (fast)", "fast set", auc(pairs[:, 1], y_all), len(X_all)),
        ("dual threshold, fast LID (oracle)", "fast set",
         dual_threshold_auroc(pairs[:, 0], pairs[:, 1], y_all), len(X_all)),
        ("rank-AND min(F_L, F_LID), fast (deployable)", "fast set", auc(score, y_all), len(X_all)),
    ]
    total = time.perf_counter() - t_start

    # -- report ---------------------------------------------------------------------------
    base = timings["log_prob (per sample, batch 64)"]
    exact = timings["exact batched: Jacobian + SVD (per sample, batch 8)"]
    lines = [
        f"# LID for flows: timings, agreement, AUROC (FMNIST -> MNIST)",
        "",
        f"Glow 28x28x1, 2 levels x 8 steps, 128 hidden, float32; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.machine()} CPU shared with other jobs "
        "(absolute times are noisy; the ratios are measured in the same run).",
        f"Budget: trained {args.epochs} epoch(s) on {args.n_train} FMNIST images ({t_fit:.0f} s); "
        f"exact LID on {n_ex} + {n_ex} test images ({t_exact_eval:.0f} s); fast LID "
        f"(n_probes={args.n_probes}, lanczos_steps={args.lanczos_steps}) on "
        f"{len(X_id)} + {len(X_ood)} ({t_fast_eval:.0f} s); whole run {total / 60:.1f} min.",
        f"Scale r = {r:.3f}, calibrated on {args.n_calibration} training images (fast LID, "
        f"local PCA target {det.calibration_target_:.1f} of {D}).",
        "",
        "| measure | seconds per sample | x log_prob | exact / this |",
        "|---|---|---|---|",
    ]
    for k, v in timings.items():
        lines.append(f"| {k} | {v:.4g} | {v / base:.1f} | {exact / v:.2f} |")
    lines += [
        "",
        f"Agreement on {len(X_ex)} test images: mean |LID_fast - LID_exact| / D = "
        f"{agree.mean():.4f} (max {agree.max():.4f}); with a hard step (no smoothing) "
        f"{np.mean(np.abs(lid_fast_hard - lid_exact)) / D:.4f}. Mean exact LID: ID "
        f"{lid_exact[:n_ex].mean():.1f}, OOD {lid_exact[n_ex:].mean():.1f}; fast: ID "
        f"{lid_fast[:n_ex].mean():.1f}, OOD {lid_fast[n_ex:].mean():.1f}.",
        "",
        "| score | evaluation set | AUROC (ID positive) | n |",
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
        w.writerow(["agreement", "mean|fast-exact|/D", f"{agree.mean():.6g}", "exact subset",
                    len(X_ex)])
        for name, where, value, n in rows:
            w.writerow(["auroc", name, f"{value:.6g}", where, n])


if __name__ == "__main__":
    main()
