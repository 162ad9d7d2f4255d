"""ADBench tabular protocol: skood flow detectors against classical anomaly detectors.

Run as ``python -m benchmarks.tabular [--quick] [--seeds 0 1 2] [--datasets NAME ...]``.

Protocol (as in ADBench, Han et al., NeurIPS 2022, unsupervised setting), for every
``.npz`` set in ``<data_home>/adbench`` and every seed:

1. stratified 70/30 train/test split (seeded);
2. MinMax scaling fitted on the train part only;
3. every detector is fitted on the *contaminated* train part (labels unused);
4. AUROC and average precision on the test part, anomaly = positive class. skood's
   ``score_samples`` is normality (higher = inlier), so the metrics are
   :func:`skood.metrics.auroc` (label 1 = outlier) and :func:`skood.metrics.aupr_out`
   (average precision of ``-score`` with anomalies positive).

One :class:`~skood.density.TabularFlowDensity` is trained per (data set, seed) with a
single configuration for all data sets (:func:`flow_params`) and shared by the skood
detectors through :class:`sklearn.frozen.FrozenEstimator`. No hyper-parameter is chosen
with test labels.
"""

import argparse
import csv
import math
import platform
import re
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.frozen import FrozenEstimator
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import OneClassSVM

from skood.adapters import PyODAdapter
from skood.datasets import get_data_home, list_adbench, load_adbench
from skood.density import TabularFlowDensity
from skood.detectors import (
    DensityOfStatesDetector,
    KLDivergenceDetector,
    LIDLikelihoodDetector,
    LikelihoodDetector,
    TypicalityDetector,
)
from skood.metrics import aupr_out, auroc

RESULTS = Path(__file__).parent / "results"

#: Flow training rows at most (larger train parts are subsampled, seeded).
MAX_FLOW_TRAIN = 4000
#: OneClassSVM training rows at most (its fit is quadratic in n; only shuttle exceeds it).
MAX_OCSVM_TRAIN = 10000
#: Gradient steps budget of one flow: ``max_epochs = ceil(MAX_STEPS / steps per epoch)``.
MAX_STEPS = 4000


def flow_params(n_train, n_features, seed, *, quick=False):
    """The one flow configuration used on every data set.

    Chosen on principle, not on test labels:

    - early stopping on a 20% validation split of the (unlabelled) train part, patience
      10 epochs, best weights restored: label-free and adapts the training length to n;
    - Adam weight decay 1e-4 and gradient clipping: the smallest sets have ~100 rows;
    - a budget in gradient steps (:data:`MAX_STEPS`) rather than epochs, so small and
      large sets get comparable optimisation (at most 300 epochs);
    - the skood default architecture (6 steps, 64 hidden units), batch size 128.

    Parameters
    ----------
    n_train : int
        Rows the flow is trained on (after subsampling).
    n_features : int
    seed : int
    quick : bool, default=False
        A tiny budget for smoke tests (2 steps of 16 units, at most 5 epochs).

    Returns
    -------
    params : dict
        Keyword arguments of :class:`~skood.density.TabularFlowDensity`.
    """
    batch_size = 128
    if quick:
        return dict(n_layers=2, hidden_units=16, max_epochs=5, batch_size=batch_size,
                    lr=1e-3, weight_decay=1e-4, random_state=seed)
    steps_per_epoch = max(1, math.ceil(0.8 * n_train / batch_size))
    return dict(
        n_layers=6,
        hidden_units=64,
        max_epochs=int(min(300, math.ceil(MAX_STEPS / steps_per_epoch))),
        batch_size=batch_size,
        lr=1e-3,
        weight_decay=1e-4,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=10,
        random_state=seed,
    )


class _Subsampled:
    """Fit ``estimator`` on at most ``max_rows`` random rows (for quadratic-cost models)."""

    def __init__(self, estimator, max_rows, seed):
        self.estimator, self.max_rows, self.seed = estimator, max_rows, seed

    def fit(self, X):
        if len(X) > self.max_rows:
            rng = np.random.RandomState(self.seed)
            X = X[np.sort(rng.choice(len(X), self.max_rows, replace=False))]
        self.estimator.fit(X)
        return self

    def score_samples(self, X):
        return self.estimator.score_samples(X)


def classical_detectors(seed):
    """Classical baselines with library defaults; ``score_samples`` is normality.

    Parameters
    ----------
    seed : int

    Returns
    -------
    detectors : dict
        Name -> unfitted estimator with ``fit(X)`` and ``score_samples(X)``.
    """
    dets = {
        "IsolationForest": IsolationForest(random_state=seed),
        "LOF": LocalOutlierFactor(novelty=True),
        "OneClassSVM": _Subsampled(OneClassSVM(gamma="scale"), MAX_OCSVM_TRAIN, seed),
        "GMM": GaussianMixture(random_state=seed),
    }
    try:  # optional: PyOD is not a dependency of skood (extra "bench")
        from pyod.models.ecod import ECOD
        from pyod.models.knn import KNN
    except ImportError:
        return dets
    # The adapter turns PyOD's outlyingness into normality (score_samples).
    dets["PyOD KNN"] = PyODAdapter(KNN())
    dets["PyOD ECOD"] = PyODAdapter(ECOD())
    return dets


def skood_detectors(frozen, seed, *, quick=False):
    """Point-wise skood detectors sharing one trained flow.

    Parameters
    ----------
    frozen : sklearn.frozen.FrozenEstimator
        The trained flow.
    seed : int
    quick : bool, default=False
        Smaller bootstrap / reference sets.

    Returns
    -------
    detectors : dict
        Name -> unfitted detector.
    """
    n_boot = 100 if quick else 1000
    return {
        "Likelihood": LikelihoodDetector(frozen),
        "Typicality": TypicalityDetector(frozen, n_bootstrap=n_boot, random_state=seed),
        # Point-wise: a sample's D latent coordinates pooled against N(0, 1).
        "KL divergence": KLDivergenceDetector(frozen, n_bootstrap=n_boot, random_state=seed),
        # "auto": exact Jacobian spectra up to 128 features, the matrix-free estimate on
        # wider sets (exact costs 22x the fast one per point at D=512 and grows as D^3;
        # benchmarks/results/perf_lid.md), so the wide ADBench sets finish.
        "Likelihood + LID": LIDLikelihoodDetector(
            frozen, method="auto", n_reference=128 if quick else 512,
            n_calibration=64 if quick else 128, random_state=seed),
    }


def split_scale(X, y, seed):
    """Stratified 70/30 split and MinMax scaling fitted on the train part.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        1 = anomaly, 0 = normal.
    seed : int

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
    """
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                              random_state=seed)
    scaler = MinMaxScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def _metrics(y_test, scores):
    scores = np.asarray(scores, dtype=np.float64)
    # A flow can return NaN for extreme test points; rank them as the most anomalous.
    scores = np.where(np.isnan(scores), -np.inf, scores)
    return auroc(y_test, scores, outlier_label=1), aupr_out(y_test, scores, outlier_label=1)


def run_dataset(name, seed, *, quick=False, data_home=None, cross_fit=None, n_jobs=None,
                log=print):
    """Run every detector on one data set and seed.

    Parameters
    ----------
    name : str
        ADBench set, see :func:`skood.datasets.list_adbench`.
    seed : int
    quick : bool, default=False
        Tiny flow budget (smoke tests).
    data_home : str or None, default=None
    cross_fit : int or None, default=None
        Adds the default detector cross-fitted on that many folds (one flow per fold).
    n_jobs : int or None, default=None
        Jobs of the cross-fitted detector (its folds' flows train in parallel; the
        scores do not depend on it).
    log : callable, default=print

    Returns
    -------
    rows : list of dict
        One row per detector with keys ``dataset, seed, detector, family, auroc, ap,
        fit_s, score_s, n_train, n_test, n_features, n_flow_train, flow_epochs, flow_s``.
    """
    X, y = load_adbench(name, data_home=data_home)
    X_tr, X_te, y_tr, y_te = split_scale(X, y, seed)
    rng = np.random.RandomState(seed)
    X_flow = X_tr
    if len(X_tr) > MAX_FLOW_TRAIN:
        X_flow = X_tr[np.sort(rng.choice(len(X_tr), MAX_FLOW_TRAIN, replace=False))]
    base = dict(dataset=name, seed=seed, n_train=len(X_tr), n_test=len(X_te),
                n_features=X.shape[1], n_flow_train=len(X_flow))
    rows = []

    t = time.perf_counter()
    flow = TabularFlowDensity(**flow_params(len(X_flow), X.shape[1], seed, quick=quick))
    flow.fit(X_flow)
    flow_s = time.perf_counter() - t
    base.update(flow_epochs=flow.n_iter_, flow_s=round(flow_s, 2))
    log(f"  {name} seed {seed}: flow {flow.n_iter_} epochs on {len(X_flow)} rows, "
        f"{flow_s:.1f} s")
    frozen = FrozenEstimator(flow)

    def record(det_name, family, det, extra_fit_s=0.0, X_fit=X_tr):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter of the baselines
            det.fit(X_fit)
            t1 = time.perf_counter()
            scores = det.score_samples(X_te)
        t2 = time.perf_counter()
        roc, ap = _metrics(y_te, scores)
        rows.append(dict(base, detector=det_name, family=family, auroc=roc, ap=ap,
                         fit_s=round(t1 - t0 + extra_fit_s, 2), score_s=round(t2 - t1, 2)))
        log(f"    {det_name:18s} AUROC {roc:.3f}  AP {ap:.3f}")

    # The default detector as a user runs it: its own flow (same configuration) on 80%
    # of the flow's rows, the density of statistics on the other 20%.
    n_own = len(X_flow) - int(round(0.2 * len(X_flow)))
    dos = DensityOfStatesDetector(
        TabularFlowDensity(**flow_params(n_own, X.shape[1], seed, quick=quick)),
        random_state=seed)
    record("Density of states", "skood", dos, X_fit=X_flow)
    if cross_fit is not None:  # every row calibrates; each fold's flow on the other folds
        n_fold = len(X_flow) - int(round(len(X_flow) / cross_fit))
        dos_cf = DensityOfStatesDetector(
            TabularFlowDensity(**flow_params(n_fold, X.shape[1], seed, quick=quick)),
            cross_fit=cross_fit, n_jobs=n_jobs, random_state=seed)
        record(f"Density of states (cross-fit {cross_fit})", "skood", dos_cf, X_fit=X_flow)
    for det_name, det in skood_detectors(frozen, seed, quick=quick).items():
        record(det_name, "skood", det, flow_s)
    for det_name, det in classical_detectors(seed).items():
        record(det_name, "classical", det)
    return rows


# ---------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------

CSV_FIELDS = ("dataset", "seed", "detector", "family", "auroc", "ap", "fit_s", "score_s",
              "n_train", "n_test", "n_features", "n_flow_train", "flow_epochs", "flow_s")


def summarize(rows):
    """Per-dataset means over seeds and the mean over data sets.

    Parameters
    ----------
    rows : list of dict
        Output of :func:`run_dataset`, any number of data sets and seeds.

    Returns
    -------
    summary : dict
        ``datasets`` (ordered names), ``detectors`` (ordered names), ``family``
        (detector -> family), ``auroc`` and ``ap`` (``{dataset: {detector: mean}}``, plus
        the key ``"mean"`` for the mean over data sets), ``flow`` (dataset -> mean epochs
        and seconds) and ``n_seeds`` (dataset -> number of seeds).
    """
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    detectors = list(dict.fromkeys(r["detector"] for r in rows))
    out = dict(datasets=datasets, detectors=detectors,
               family={r["detector"]: r["family"] for r in rows}, flow={}, n_seeds={})
    for metric in ("auroc", "ap"):
        table = {}
        for d in datasets:
            table[d] = {det: float(np.mean([r[metric] for r in rows
                                            if r["dataset"] == d and r["detector"] == det]))
                        for det in detectors}
        table["mean"] = {det: float(np.mean([table[d][det] for d in datasets]))
                         for det in detectors}
        out[metric] = table
    for d in datasets:
        first = [r for r in rows if r["dataset"] == d and r["detector"] == detectors[0]]
        out["flow"][d] = (float(np.mean([r["flow_epochs"] for r in first])),
                          float(np.mean([r["flow_s"] for r in first])),
                          first[0]["n_flow_train"], first[0]["n_features"])
        out["n_seeds"][d] = len(first)
    return out


def _table(summary, metric):
    dets = summary["detectors"]
    lines = ["| dataset | " + " | ".join(dets) + " |", "|---|" + "---:|" * len(dets)]
    for d in summary["datasets"] + ["mean"]:
        vals = summary[metric][d]
        best = max(vals.values())
        cells = [(f"**{vals[k]:.3f}**" if vals[k] == best else f"{vals[k]:.3f}") for k in dets]
        label = f"**mean over {len(summary['datasets'])} sets**" if d == "mean" else d
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _verdict(summary):
    mean = summary["auroc"]["mean"]
    skood = {k: v for k, v in mean.items() if summary["family"][k] == "skood"}
    if not skood or "IsolationForest" not in mean:
        return "Target not evaluated (needs a skood detector and IsolationForest)."
    iso = mean["IsolationForest"]
    default = "Density of states"
    best = max(skood, key=skood.get)
    lines = [f"Best skood detector: {best} {skood[best]:.3f} (IsolationForest {iso:.3f})."]
    if default in skood:
        met = skood[default] >= iso + 0.02
        lines.append(f"Target (the default detector's mean AUROC >= IsolationForest's + 0.02): "
                     f"**{'met' if met else 'not met'}** - {default} {skood[default]:.3f} vs "
                     f"{iso + 0.02:.3f}.")
    return " ".join(lines)


def to_markdown(summary, *, seeds, quick, wall_s, hardware, cross_fit=None):
    """Markdown report: AUROC and AP tables (per-dataset means, overall mean), budget."""
    params = flow_params(1000, 10, 0, quick=quick)
    arch = (f"{params['n_layers']} flow steps (ActNorm, LU linear, affine coupling MLP with "
            f"{params['hidden_units']} hidden units), batch {params['batch_size']}, "
            f"lr {params['lr']}, weight decay {params['weight_decay']}")
    budget = ("5 epochs, no early stopping (quick smoke-test budget)" if quick else
              f"early stopping on a 20% validation split (patience 10, best weights), at most "
              f"{MAX_STEPS} gradient steps (max 300 epochs); train parts above "
              f"{MAX_FLOW_TRAIN} rows subsampled to {MAX_FLOW_TRAIN} for the flow")
    flow_lines = ["| dataset | D | flow rows | epochs (mean) | flow s (mean) |",
                  "|---|---:|---:|---:|---:|"]
    for d in summary["datasets"]:
        ep, s, n, dim = summary["flow"][d]
        flow_lines.append(f"| {d} | {dim} | {n} | {ep:.0f} | {s:.1f} |")
    total_flow = sum(summary["flow"][d][1] * summary["n_seeds"][d] for d in summary["datasets"])
    return "\n".join([
        "# ADBench tabular benchmark",
        "",
        "Generated by `python -m benchmarks.tabular"
        + (" --quick" if quick else "") + f" --seeds {' '.join(map(str, seeds))}"
        + (f" --cross-fit {cross_fit}" if cross_fit else "") + "`.",
        "",
        "Protocol: stratified 70/30 split per seed, MinMax scaling fitted on the train part, "
        "every detector fitted on the contaminated train part (no labels), AUROC and "
        "average precision (AP) on the test part with anomaly as the positive class. "
        f"Values are means over seeds {', '.join(map(str, seeds))}; the last row is the "
        "mean over data sets; bold = best in the row.",
        "",
        f"Flow (`TabularFlowDensity`, one per data set and seed, shared by the skood detectors "
        f"through `FrozenEstimator`): {arch}; {budget}. Classical detectors use library "
        f"defaults (GMM: 1 full-covariance component; OneClassSVM: RBF, gamma='scale', fitted "
        f"on at most {MAX_OCSVM_TRAIN} train rows).",
        "",
        f"Hardware: {hardware}. Total wall time {wall_s / 60:.1f} min, of which flow "
        f"training {total_flow / 60:.1f} min.",
        "",
        _verdict(summary),
        "",
        "## AUROC",
        "",
        _table(summary, "auroc"),
        "",
        "## Average precision (anomaly positive)",
        "",
        _table(summary, "ap"),
        "",
        "## Flow budget",
        "",
        "\n".join(flow_lines),
        "",
    ])


def write_csv(rows, path):
    """Write one row per (data set, seed, detector)."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{r[k]:.6f}" if k in ("auroc", "ap") else r[k])
                             for k in CSV_FIELDS})


def _resolve_name(name, available):
    """The ADBench file stem of ``name`` ("wbc" -> "42_WBC"), as :func:`load_adbench` does."""
    key = re.sub(r"^\d+_", "", name.strip().removesuffix(".npz")).lower()
    matches = [a for a in available
               if a.lower() == name.lower() or re.sub(r"^\d+_", "", a).lower() == key]
    if len(matches) != 1:
        raise SystemExit(f"unknown or ambiguous ADBench name {name!r}; available: "
                         f"{', '.join(available)}")
    return matches[0]


def read_csv(path):
    """Rows written by :func:`write_csv`, and the wall time they took (sum of fit and
    scoring times, the flow counted once per data set and seed)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("auroc", "ap", "fit_s", "score_s", "flow_s"):
            r[k] = float(r[k])
        for k in ("seed", "n_train", "n_test", "n_features", "n_flow_train", "flow_epochs"):
            r[k] = int(r[k])
    wall = sum(r["fit_s"] + r["score_s"] for r in rows)
    wall -= sum(r["flow_s"] for r in rows if r["family"] == "skood")
    wall += sum({(r["dataset"], r["seed"]): r["flow_s"] for r in rows}.values())
    return rows, wall


def main(argv=None):
    """Command-line entry point; returns the summary dict."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.tabular", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny flow budget (smoke test)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--datasets", nargs="+", default=None,
                   help="ADBench names (default: every .npz in <data_home>/adbench)")
    p.add_argument("--data-home", default=None)
    p.add_argument("--cross-fit", type=int, default=None, metavar="K",
                   help="add the default detector cross-fitted on K folds")
    p.add_argument("--n-jobs", type=int, default=None,
                   help="jobs of the cross-fitted detector (same scores, less wall time)")
    p.add_argument("--from-csv", default=None,
                   help="rebuild the report from a results CSV instead of running")
    p.add_argument("--out", default=None,
                   help="results file stem (default: benchmarks/results/tabular, "
                        "tabular_quick with --quick)")
    args = p.parse_args(argv)

    stem = Path(args.out) if args.out else RESULTS / ("tabular_quick" if args.quick
                                                      else "tabular")
    stem.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.from_csv:
        rows, wall = read_csv(args.from_csv)
    else:
        available = list_adbench(args.data_home)
        datasets = available if not args.datasets else [
            _resolve_name(n, available) for n in args.datasets]
        print(f"ADBench from {get_data_home(args.data_home)}: {len(datasets)} sets, "
              f"seeds {args.seeds}", flush=True)
        rows = []
        for name in datasets:
            for seed in args.seeds:
                rows += run_dataset(name, seed, quick=args.quick, data_home=args.data_home,
                                    cross_fit=args.cross_fit, n_jobs=args.n_jobs,
                                    log=lambda m: print(m, flush=True))
            write_csv(rows, stem.with_suffix(".csv"))  # partial results survive a crash
        wall = time.perf_counter() - t0
    seeds = sorted({int(r["seed"]) for r in rows})
    hardware = (f"{platform.machine()} CPU, 2 cores shared with other jobs, "
                f"{torch.get_num_threads()} torch thread(s)")
    summary = summarize(rows)
    folds = [re.search(r"cross-fit (\d+)", r["detector"]) for r in rows]
    cross_fit = next((int(m.group(1)) for m in folds if m), None)
    md = to_markdown(summary, seeds=seeds, quick=args.quick, wall_s=wall, hardware=hardware,
                     cross_fit=cross_fit)
    print(md)
    stem.with_suffix(".md").write_text(md)
    write_csv(rows, stem.with_suffix(".csv"))
    print(f"wrote {stem.with_suffix('.md')} and {stem.with_suffix('.csv')}")
    return summary


if __name__ == "__main__":
    main()
