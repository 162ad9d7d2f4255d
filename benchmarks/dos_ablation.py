"""Which statistics the default detector uses: an ablation of DensityOfStatesDetector.

Each variant is the detector as a user runs it, ``DensityOfStatesDetector(
GlowDensity(...), <variant>, random_state=0).fit(X_train)``, on the image
benchmark's tasks and budget (``skood benchmark``'s 3-level Glow 3x4x64 at 32x32,
4 epochs, 5000 training images: the flow on 4000, the density of statistics on
1000; 2000 + 2000 test images; digits: the quick 2-level Glow, 10 epochs). The same
``random_state`` gives every variant the same calibration split and the same
trained flow, so the rows differ only in the statistics:

- default: one log-likelihood term per scale, compressed length, k-NN distance in
  input space; a robust (Minimum Covariance Determinant) Gaussian density;
- ``density="gmm"``: a Gaussian mixture, components chosen by cross-validation;
- ``statistics="split"``: per scale the prior term, log-determinant and latent norm;
- ``neighbor_space="latent"``: the k-NN distance between the flow's latents;
- ``n_neighbors=None``: no distance statistic;
- ``cross_fit=5``: five flows (each on four fifths of the training images), the
  density fitted on all 5000 rows' out-of-fold statistics, scores averaged over flows.

Run (results in ``benchmarks/results/density_of_states_ablation.md``)::

    OMP_NUM_THREADS=1 python -m benchmarks.dos_ablation

``--variants`` runs some of them, ``--seeds 0 1 2`` repeats them with other seeds
(mean ± standard deviation) and ``--out`` names the results file.

Uses skood's public API only.
"""

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skood.benchmark import classical_detectors, fit_cached, glow_params, load_task
from skood.density import GlowDensity
from skood.detectors import DensityOfStatesDetector
from skood.metrics import evaluate_id_ood, group_aurocs

VARIANTS = {
    "default": {},
    'density="gmm"': {"density": "gmm"},
    'statistics="split"': {"statistics": "split"},
    'neighbor_space="latent"': {"neighbor_space": "latent"},
    "n_neighbors=None": {"n_neighbors": None},
    "cross_fit=5": {"cross_fit": 5},
}
TASKS = ("digits", "fmnist-mnist", "mnist-fmnist", "cifar10-tiny", "cifar10-noise",
         "cifar10-constant")


def run(tasks, cache_dir, variants=tuple(VARIANTS), seeds=(0,), classical=False, log=print):
    """One row per (task, variant, seed); ``seed`` seeds the flow and the detector.
    ``classical``: also the classical detectors of ``skood benchmark`` (deterministic:
    one row each) on the same training images, the bar the default is measured by."""
    rows = []
    for name in tasks:
        quick = name == "digits"
        grey = name in ("fmnist-mnist", "mnist-fmnist")
        task = load_task(name) if quick else load_task(
            name, n_train=5000, n_test=2000, image_size=32 if grey else None)
        for seed in seeds:
            params = dict(glow_params(task, 10 if quick else 4, quick), random_state=seed)
            for label in variants:
                variant = VARIANTS[label]
                key = f"ablation-{task.flow_key}-{label}" + (f"-seed{seed}" if seed else "")
                det, seconds = fit_cached(
                    DensityOfStatesDetector(GlowDensity(**params), random_state=seed,
                                            **variant),
                    task.X_train, key, cache_dir=cache_dir, log=log)
                s_id, s_ood = det.score_samples(task.X_id), det.score_samples(task.X_ood)
                m = evaluate_id_ood(s_id, s_ood)
                m5 = group_aurocs(det, task.X_id, task.X_ood, scores_id=s_id,
                                  scores_ood=s_ood)["group_auroc_m5"]
                rows.append(dict(task=task.name, variant=label, seed=seed, auroc=m["auroc"],
                                 fpr95=m["fpr95"], group_auroc_m5=m5,
                                 n_statistics=len(det.statistic_names_), fit_s=seconds))
                log(f"  {task.name:18s} {label:26s} seed {seed}  AUROC {m['auroc']:.3f}  "
                    f"M=5 {m5:.3f}")
        if classical:
            n_pca = int(min(50, task.X_train.shape[1] // 2, task.X_train.shape[0] // 2))
            for label, det in classical_detectors(n_pca).items():
                t = time.perf_counter()
                det.fit(task.X_train)
                s_id, s_ood = det.score_samples(task.X_id), det.score_samples(task.X_ood)
                m = evaluate_id_ood(s_id, s_ood)
                m5 = group_aurocs(det, task.X_id, task.X_ood, scores_id=s_id,
                                  scores_ood=s_ood)["group_auroc_m5"]
                rows.append(dict(task=task.name, variant=f"{label} (classical)", seed=seeds[0],
                                 auroc=m["auroc"], fpr95=m["fpr95"], group_auroc_m5=m5,
                                 n_statistics=None, fit_s=time.perf_counter() - t))
                log(f"  {task.name:18s} {label:26s} AUROC {m['auroc']:.3f}")
    return rows


def _cell(rows, key, fmt="{:.3f}"):
    """One value, or the mean +- standard deviation over seeds."""
    v = np.array([r[key] for r in rows])
    return fmt.format(v[0]) if len(v) == 1 else (fmt + " ± " + fmt).format(v.mean(), v.std(ddof=1))


def to_markdown(rows, wall_s, command="python -m benchmarks.dos_ablation"):
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    cell = {}
    for r in rows:
        cell.setdefault((r["task"], r["variant"]), []).append(r)
    spread = ("" if len(seeds) == 1 else
              f" Each cell: mean ± standard deviation over seeds {', '.join(map(str, seeds))} "
              "(the seed sets the flow's initialisation and training order and the "
              "detector's calibration split; the data are the same).")
    lines = ["# DensityOfStatesDetector: which statistics", "",
             f"Generated by `{command}` (protocol in its docstring). "
             "Point-wise AUROC; in brackets the number of statistics the density is fitted "
             "to. Then, for the default and the cross-fitted variant, FPR at 95% TPR and the "
             "group AUROC at M = 5." + spread,
             "", "| variant | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for v in variants:
        vals = ["-" if (t, v) not in cell else _cell(cell[(t, v)], "auroc") + (
            "" if cell[(t, v)][0]["n_statistics"] is None
            else f" ({cell[(t, v)][0]['n_statistics']})") for t in tasks]
        lines.append(f"| {v} | " + " | ".join(vals) + " |")
    for key, label in (("fpr95", "FPR@95TPR"), ("group_auroc_m5", "M=5")):
        for v in (v for v in variants if v in ("default", "cross_fit=5")):
            vals = [_cell(cell[(t, v)], key) if (t, v) in cell else "-" for t in tasks]
            lines.append(f"| {v}: {label} | " + " | ".join(vals) + " |")
    lines += ["", f"Hardware: {platform.machine()}, {torch.get_num_threads()} torch thread(s), "
              f"CPU, shared with other jobs. Wall time {wall_s:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0],
                   help="seeds of the flow and the detector (mean ± sd over several)")
    p.add_argument("--classical", action="store_true",
                   help="add the classical detectors on the same training images")
    p.add_argument("--out", default="density_of_states_ablation.md",
                   help="results file name (in --results-dir)")
    p.add_argument("--results-dir", default="benchmarks/results")
    p.add_argument("--cache-dir", default="benchmarks/results/cache")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(args.tasks, args.cache_dir, args.variants, args.seeds, args.classical)
    out = Path(args.results_dir) / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m benchmarks.dos_ablation"] + list(sys.argv[1:] if argv is None
                                                                     else argv))
    out.write_text(to_markdown(rows, time.perf_counter() - t0, command))
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
