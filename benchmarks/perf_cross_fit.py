"""Cross-fitting in parallel: the wall time of ``DensityOfStatesDetector(cross_fit=K)``
with ``n_jobs=1`` and ``n_jobs=2``, side by side in one run.

The K flows of a cross-fitted detector are independent fits, run by joblib (loky
worker processes by default, each with ``cores // n_jobs`` torch threads). This
measures what that buys on the digits task (embedded data) for the two Glow
architectures of ``skood benchmark`` (the quick 2-level one and the full one),
with the single-flow default beside them for the cost of cross-fitting itself.
Reported: fit seconds (the first fit, which starts joblib's workers, and the best
of ``--repeats``), the speed-up of ``n_jobs=2`` over
``n_jobs=1``, and whether the two give the same scores (each fold's flow is seeded
by the detector, so they should, bit for bit). Public API only.

    OMP_NUM_THREADS=1 python -m benchmarks.perf_cross_fit [--folds 5] [--repeats 3]

Run it alone on the machine: the ``n_jobs=2`` row needs two free cores.
"""

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from skood.benchmark import glow_params, load_task
from skood.density import GlowDensity
from skood.detectors import DensityOfStatesDetector
from skood.parallel import available_cores

from ._provenance import git_rev

RESULTS = Path(__file__).parent / "results"


def _fit(params, X, **kw):
    det = DensityOfStatesDetector(GlowDensity(**params), random_state=0, **kw)
    start = time.perf_counter()
    det.fit(X)
    return det, time.perf_counter() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="perf_cross_fit")
    args = ap.parse_args(argv)

    task = load_task("digits")
    X, X_id, X_ood = task.X_train, task.X_id, task.X_ood
    y = np.r_[np.zeros(len(X_id)), np.ones(len(X_ood))]
    rows = []
    for label, quick in (("quick", True), ("full", False)):
        params = glow_params(task, 10, quick)
        arch = (f"{label}: Glow {params['n_levels']}x{params['n_steps']}x"
                f"{params['hidden_channels']}")
        configs = [("default (one flow)", {}),
                   (f"cross_fit={args.folds}, n_jobs=1", dict(cross_fit=args.folds, n_jobs=1)),
                   (f"cross_fit={args.folds}, n_jobs=2", dict(cross_fit=args.folds, n_jobs=2))]
        times, scores = {}, {}
        for _ in range(args.repeats):
            for name, kw in configs:  # interleaved: drifts in machine load hit every row
                det, t = _fit(params, X, **kw)
                times.setdefault(name, []).append(t)
                scores[name] = det.score_samples(np.r_[X_id, X_ood])
                print(f"{arch:32s} {name:26s} {t:7.1f} s", flush=True)
        serial, parallel = (f"cross_fit={args.folds}, n_jobs={j}" for j in (1, 2))
        for name, _ in configs:
            best = min(times[name])
            rows.append((arch, name, times[name][0], best,
                         min(times[serial]) / best if name == parallel else None,
                         roc_auc_score(y, -scores[name]),
                         np.array_equal(scores[name], scores[serial]) if name == parallel
                         else None))

    lines = [
        "# Cross-fitting in parallel (n_jobs)",
        "",
        f"DensityOfStatesDetector on digits 0-4 -> 5-9 ({len(X)} training images, "
        f"{len(X_id)}+{len(X_ood)} test), GlowDensity 10 epochs; {available_cores()} cores "
        f"({platform.machine()}), torch {torch.__version__}, skood {git_rev()}; "
        f"{args.repeats} interleaved repeats; the n_jobs=1 run uses 1 torch thread "
        "(OMP_NUM_THREADS), the n_jobs=2 run one loky worker per core. The first fit "
        "of a process starts joblib's workers (each imports torch); later fits reuse "
        "them: best of the repeats.",
        "",
        "| flow | detector | first fit (s) | best fit (s) | speed-up of n_jobs=2 (best) "
        "| AUROC | scores equal to n_jobs=1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for arch, name, first, t, speedup, auc, same in rows:
        lines.append(f"| {arch} | {name} | {first:.1f} | {t:.1f} | "
                     f"{'' if speedup is None else f'{speedup:.2f}x'} | {auc:.3f} | "
                     f"{'' if same is None else ('yes' if same else 'no')} |")
    workers = min(2, available_cores())
    rounds = -(-args.folds // workers)
    lines += ["", f"{args.folds} folds on {workers} workers run in {rounds} rounds: the "
                  f"speed-up of n_jobs={workers} is at most {args.folds / rounds:.2f}x, less "
                  "the workers' start and the transfer of the fitted flows.",
              "", f"Reproduce: `OMP_NUM_THREADS=1 python -m benchmarks.perf_cross_fit "
                  f"--folds {args.folds} --repeats {args.repeats}`", ""]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.out}.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
