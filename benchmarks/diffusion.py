"""The diffusion backbone on Fashion-MNIST <-> MNIST and CIFAR-10 -> Tiny ImageNet, on a CPU.

One :class:`~skood.density.DiffusionDensity` (the default MLP epsilon network
narrowed to ``--hidden``, or with ``--network unet`` the convolutional U-Net
with ``--channels``) is trained per in-distribution set for ``--epochs`` epochs
on ``--n-train`` training images, single-threaded; the detectors then read that
one model (``FrozenEstimator``), calibrated on ``--n-cal`` further training
images it never saw:

- the probability-flow ODE likelihood (``LikelihoodDetector``);
- FLIPD alone, likelihood + FLIPD as a deployable score (``LIDLikelihoodDetector``'s
  rank-AND) and as the oracle dual-threshold envelope (``dual_threshold_auroc``);
- typicality on the ODE likelihood;
- the density of the model's statistics (``DensityOfStatesDetector``): its default
  (score norms + FLIPD + PNG length + k-NN distance), every diffusion statistic
  with the PNG length and k-NN distance, the diffusion statistics alone, MSMA's
  score norms alone, and every diffusion statistic alone;
- FLIPD's AUROC against ``t0``;
- side by side, the classical detectors of ``skood benchmark``
  (:func:`skood.benchmark.classical_detectors`) fit on the same training and
  calibration images (the one-class SVM on at most ``--ocsvm-max-train`` of
  them: its fit is quadratic in the rows).

The cost of each statistic per image is measured as a multiple of one network
evaluation (one forward pass of a batch, per image). Trained models are cached
in ``--cache-dir`` (keyed by the parameters and the data, not the source: delete
the cache after changing the model code).

Run (results in ``benchmarks/results/diffusion-<task>.md``)::

    OMP_NUM_THREADS=1 python -m benchmarks.diffusion --task fmnist-mnist mnist-fmnist cifar10-tiny
    OMP_NUM_THREADS=1 python -m benchmarks.diffusion --task fmnist-mnist --network unet --tag=-unet

Uses skood's public API only.
"""

import argparse
import platform
import time
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

import skood
from skood.benchmark import classical_detectors, load_task
from skood.density import DiffusionDensity, bits_per_dim
from skood.detectors import (
    DensityOfStatesDetector,
    LIDLikelihoodDetector,
    LikelihoodDetector,
    TypicalityDetector,
)
from skood.metrics import dual_threshold_auroc, evaluate_id_ood

ALL_STATISTICS = ("log_prob", "flipd", "score_norms", "path")
T0_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)


def fit_or_load(params, X, cache_dir, log=print):
    """Fit ``DiffusionDensity(**params)`` on ``X`` or load the same fit (skood.load)."""
    key = joblib.hash({"params": sorted((k, repr(v)) for k, v in params.items()),
                       "data": joblib.hash(np.asarray(X))})[:16]
    path = Path(cache_dir) / f"diffusion-{key}.skood"
    if path.exists():
        dm = skood.load(path)
        log(f"  loaded the model from {path} (trained in {dm.train_seconds_:.0f} s)")
        return dm, dm.train_seconds_
    log(f"  training DiffusionDensity on {len(X)} images ...")
    t = time.perf_counter()
    dm = DiffusionDensity(**params).fit(X)
    seconds = time.perf_counter() - t
    dm.train_seconds_ = seconds  # a plain float: skood.save keeps it
    path.parent.mkdir(parents=True, exist_ok=True)
    skood.save(dm, path)
    log(f"  trained in {seconds:.0f} s (final loss {dm.history_[-1]['train_loss']:.4f})")
    return dm, seconds


def cost_per_image(dm, X, repeats=3):
    """Seconds per image of one network evaluation and of each statistic (and ratios)."""
    with torch.no_grad():
        y = torch.randn(len(X), X.shape[1], dtype=torch.float32)
        t = torch.full((len(X),), 0.5)
        dm.eps(y, t)
        start = time.perf_counter()
        for _ in range(repeats):
            dm.eps(y, t)
        one_eval = (time.perf_counter() - start) / repeats / len(X)
    out = {"network evaluation": one_eval}
    for stat in ALL_STATISTICS:
        rows = X[:64] if stat == "log_prob" else X
        start = time.perf_counter()
        dm.diffusion_statistics(rows, statistics=(stat,))
        out[stat] = (time.perf_counter() - start) / len(rows)
    return {k: (v, v / one_eval) for k, v in out.items()}


def _row(task, name, scores_id, scores_ood, n, budget, fit_s, metrics=None):
    m = evaluate_id_ood(scores_id, scores_ood) if metrics is None else metrics
    return dict(task=task, detector=name, **{k: round(float(v), 3) for k, v in m.items()},
                n_test=n, budget=budget, fit_s=round(fit_s, 1))


def run(task_name, args, log=print):
    t_start = time.perf_counter()
    task = load_task(task_name, n_train=args.n_train + args.n_cal, n_test=args.n_test)
    X_cal, X_fit = task.X_train[:args.n_cal], task.X_train[args.n_cal:]
    X_id, X_ood = task.X_id, task.X_ood
    n = f"{len(X_id)}+{len(X_ood)}"
    params = dict(input_shape=tuple(task.input_shape), max_epochs=args.epochs,
                  batch_size=128, random_state=0)
    if args.network == "unet":
        params.update(network="unet", channels=tuple(args.channels))
        arch = f"U-Net {'-'.join(map(str, args.channels))}"
    else:
        params.update(hidden_units=tuple(args.hidden))
        arch = f"MLP {'-'.join(map(str, args.hidden))}"
    dm, train_s = fit_or_load(params, X_fit, args.cache_dir, log)
    budget = f"{arch}, {args.epochs} ep, n={len(X_fit)}, {train_s / 60:.1f} CPU-min"
    frozen = FrozenEstimator(dm)
    log(f"  FLIPD t0 (knee): {dm.flipd_t0_:.4g}")

    rows = []
    t = time.perf_counter()
    stats = {k: dm.diffusion_statistics(X, statistics=ALL_STATISTICS)
             for k, X in (("id", X_id), ("ood", X_ood))}
    log(f"  statistics of the test images in {time.perf_counter() - t:.0f} s")
    lp_id, lp_ood = stats["id"].log_prob, stats["ood"].log_prob
    fl_id, fl_ood = stats["id"].flipd, stats["ood"].flipd

    def add(name, det_or_scores, extra=""):
        t = time.perf_counter()
        if isinstance(det_or_scores, tuple):
            s_id, s_ood = det_or_scores
            fit_s = 0.0
        else:
            det = det_or_scores.fit(X_cal)
            fit_s = time.perf_counter() - t
            s_id, s_ood = det.score_samples(X_id), det.score_samples(X_ood)
        rows.append(_row(task.name, name, s_id, s_ood, n, budget + extra, train_s + fit_s))
        log(f"  {name:55s} AUROC {rows[-1]['auroc']:.3f}")

    add("Likelihood (PF-ODE)", LikelihoodDetector(frozen, random_state=0))
    add("FLIPD alone (knee t0)", (fl_id, fl_ood))
    add("Likelihood + FLIPD (rank-AND)", LIDLikelihoodDetector(frozen, random_state=0))
    y = np.r_[np.ones(len(X_id)), -np.ones(len(X_ood))]
    dual = dual_threshold_auroc(np.r_[lp_id, lp_ood], np.r_[fl_id, fl_ood], y)
    rows.append(_row(task.name, "Likelihood + FLIPD (dual threshold, oracle)", None, None, n,
                     budget, train_s, metrics=dict(auroc=dual, aupr_in=np.nan,
                                                   aupr_out=np.nan, fpr95=np.nan)))
    log(f"  {'Likelihood + FLIPD (dual threshold, oracle)':55s} AUROC {dual:.3f}")
    add("Typicality (PF-ODE, point-wise)", TypicalityDetector(frozen, random_state=0))
    add("DoS: score norms + FLIPD + PNG + k-NN (default)",
        DensityOfStatesDetector(frozen, random_state=0))
    add("DoS: score norms + FLIPD", DensityOfStatesDetector(
        frozen, compression=None, n_neighbors=None, random_state=0))
    add("DoS: score norms (MSMA)", DensityOfStatesDetector(
        frozen, statistics=("score_norms",), compression=None, n_neighbors=None,
        random_state=0))
    add("DoS: all diffusion statistics + PNG + k-NN", DensityOfStatesDetector(
        frozen, statistics=ALL_STATISTICS, random_state=0))
    add("DoS: all diffusion statistics", DensityOfStatesDetector(
        frozen, statistics=ALL_STATISTICS, compression=None, n_neighbors=None,
        random_state=0))

    # The classical detectors, fit on every in-distribution training image the
    # diffusion detectors saw (model + calibration), on pixels / 255.
    n_pca = int(min(50, X_id.shape[1] // 2))
    for name, det in classical_detectors(n_pca).items():
        X_train = task.X_train
        if name.startswith("OneClassSVM"):
            X_train = X_train[:args.ocsvm_max_train]
            name = f"{name}, {len(X_train)} rows"
        t = time.perf_counter()
        det.fit(X_train)
        fit_s = time.perf_counter() - t
        rows.append(_row(task.name, f"classical: {name}", det.score_samples(X_id),
                         det.score_samples(X_ood), n, f"{len(X_train)} rows", fit_s))
        log(f"  {'classical: ' + name:55s} AUROC {rows[-1]['auroc']:.3f}")

    t0_rows = []
    for t0 in T0_GRID:
        a, b = dm.flipd(X_id, t0=t0), dm.flipd(X_ood, t0=t0)
        auroc = evaluate_id_ood(a, b)["auroc"]
        dual_t0 = dual_threshold_auroc(np.r_[lp_id, lp_ood], np.r_[a, b], y)
        t0_rows.append((t0, a.mean(), b.mean(), auroc, dual_t0))
    costs = cost_per_image(dm, X_id[:256])
    d = X_id.shape[1]
    bpd = (float(np.mean(bits_per_dim(lp_id, d))), float(np.mean(bits_per_dim(lp_ood, d))))
    total = time.perf_counter() - t_start
    return rows, t0_rows, costs, dm, total, bpd


def markdown_table(rows):
    head = "| task | detector | AUROC | AUPR-In | AUPR-Out | FPR@95TPR | n test (ID+OOD) | fit (s) |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vals = " | ".join("-" if r[c] != r[c] else f"{r[c]:.3f}"
                          for c in ("auroc", "aupr_in", "aupr_out", "fpr95"))
        lines.append(f"| {r['task']} | {r['detector']} | {vals} | {r['n_test']} | {r['fit_s']} |")
    return "\n".join(lines)


def report(task_name, rows, t0_rows, costs, dm, total, bpd, args):
    lines = [f"# Diffusion backbone: {task_name}", "",
             "Generated by `benchmarks/diffusion.py` (public API only). One "
             "`DiffusionDensity` per in-distribution set, trained on one CPU thread for "
             f"{dm.train_seconds_ / 60:.1f} minutes (budget: at most 30 CPU-minutes per "
             "model). Detectors calibrated on "
             f"{args.n_cal} training images the model never saw; classical detectors fit "
             "on the same training and calibration images (pixels / 255). AUROC with OOD "
             "as the positive class, scores = normality.", "",
             f"Model: {rows[0]['budget']}.", "",
             markdown_table(rows), "",
             f"FLIPD time t0 calibrated at the knee: {dm.flipd_t0_:.4g} "
             f"(trace: {dm.trace_}, {dm.flipd_probes} Rademacher probe(s)). "
             f"Likelihood: {dm.ode_steps} Euler steps, {dm.ode_probes} probe(s), "
             f"t_min={dm.t_min}. Mean bits/dim: ID {bpd[0]:.3f}, OOD {bpd[1]:.3f} "
             f"(final training loss {dm.history_[-1]['train_loss']:.4f}).", "",
             "## FLIPD against t0", "",
             "| t0 | mean FLIPD (ID) | mean FLIPD (OOD) | FLIPD AUROC | dual-threshold AUROC |",
             "|---|---|---|---|---|"]
    lines += [f"| {t0:g} | {a:.1f} | {b:.1f} | {au:.3f} | {du:.3f} |"
              for t0, a, b, au, du in t0_rows]
    lines += ["", "## Cost per image", "",
              "| statistic | ms per image | network evaluations |", "|---|---|---|"]
    lines += [f"| {k} | {v * 1e3:.3f} | {r:.1f} |" for k, (v, r) in costs.items()]
    lines += ["", f"Hardware: {platform.machine()}, {torch.get_num_threads()} torch thread(s), "
              f"CPU. Total time {total:.0f} s."]
    path = Path(args.results_dir) / f"diffusion-{task_name}{args.tag}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", nargs="+", default=["fmnist-mnist"],
                        choices=["fmnist-mnist", "mnist-fmnist", "cifar10-tiny"])
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--n-train", type=int, default=50000)
    parser.add_argument("--n-cal", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--network", choices=["mlp", "unet"], default="mlp")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 128],
                        help="MLP widths (--network mlp)")
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 32, 32],
                        help="U-Net channels per resolution (--network unet)")
    parser.add_argument("--ocsvm-max-train", type=int, default=10000)
    parser.add_argument("--cache-dir", default="benchmarks/cache")
    parser.add_argument("--results-dir", default="benchmarks/results")
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in args.task:
        print(f"== {name}")
        rows, t0_rows, costs, dm, total, bpd = run(name, args)
        print(f"  wrote {report(name, rows, t0_rows, costs, dm, total, bpd, args)}")


if __name__ == "__main__":
    main()
