"""AUROC against flow training time: where the papers' methods come alive.

For each training budget (epochs x training images, about 0.5, 2 and 8 CPU-minutes
per flow on one thread here; 30 with ``--budgets 30``), one Glow is trained as the
default detector trains it (``DensityOfStatesDetector(GlowDensity(...))`` on
``n`` images: the flow on 80%, the density of its statistics on 20%), and the
papers' methods score with the same flow (``FrozenEstimator(dos.flow_)``),
calibrated on 1000 further training images that no flow saw: the likelihood, the
last scale (Schirrmeister et al.), likelihood + LID (Kamkari et al., fast LID on
200 + 200 test images) and, with ``--general``, the general-model ratio with the
outlier loss (a general model and a fine-tuned ID model at the same budget).
Classical detectors are fitted on the same training images.

Run (results in ``benchmarks/results/budget-<task>.md``)::

    OMP_NUM_THREADS=1 python -m benchmarks.budget --task fmnist-mnist --budgets 0.5 2 8 \\
        --general
    OMP_NUM_THREADS=1 python -m benchmarks.budget --task cifar10-tiny --budgets 0.5 2

Uses skood's public API only.
"""

import argparse
import platform
import time
from pathlib import Path

import torch
from sklearn.frozen import FrozenEstimator

from skood.benchmark import classical_detectors, fit_cached, glow_params, load_task
from skood.density import GlowDensity
from skood.detectors import (
    DensityOfStatesDetector,
    LastScaleDetector,
    LIDLikelihoodDetector,
    LikelihoodDetector,
    LikelihoodRatioDetector,
)
from skood.metrics import evaluate_id_ood, group_auroc, make_groups

#: CPU-minutes (1 thread, this project's CPU) -> (epochs, training images of the flow).
#: Set from the measured throughput of the 3-level 3x4x64 Glow at 32x32 (about
#: 1.4 ms per image-epoch for grey images, 3 ms for colour, unloaded).
BUDGETS = {
    "0.5": (4, 4000),
    "2": (8, 11000),
    "8": (16, 24000),
    "30": (30, 45000),
}
N_CAL = 1000
N_LID = 200


def _record(rows, budget, name, det, X_id, X_ood, seconds, log):
    s_id, s_ood = det.score_samples(X_id), det.score_samples(X_ood)
    row = dict(budget=budget, detector=name, train_s=round(seconds, 1),
               **evaluate_id_ood(s_id, s_ood))
    if hasattr(det, "sample_statistics"):
        st_id, st_ood = det.sample_statistics(X_id), det.sample_statistics(X_ood)
        g_id = det.score_statistics(st_id, groups=make_groups(len(X_id), 5, random_state=1))
        g_ood = det.score_statistics(st_ood, groups=make_groups(len(X_ood), 5, random_state=2))
    else:
        g_id = s_id[make_groups(len(X_id), 5, random_state=1)].mean(1)
        g_ood = s_ood[make_groups(len(X_ood), 5, random_state=2)].mean(1)
    row["group_auroc_m5"] = group_auroc(g_id, g_ood)
    rows.append(row)
    log(f"  [{budget} min] {name:32s} AUROC {row['auroc']:.3f}  M=5 {row['group_auroc_m5']:.3f}"
        f"  ({seconds:.0f} s)")


def run_budget(task_name, budget, *, general, cache_dir, log=print):
    """All rows of one budget (see the module docstring)."""
    epochs, n_flow = BUDGETS[budget]
    n_dos = int(round(n_flow / 0.8))  # the detector's flow trains on 80% of its rows
    grey = task_name in ("fmnist-mnist", "mnist-fmnist")
    task = load_task(task_name, n_train=n_dos + N_CAL, n_test=2000,
                     n_general=n_flow if general else None, image_size=32 if grey else None)
    X_cal, X_dos = task.X_train[:N_CAL], task.X_train[N_CAL:]
    params = glow_params(task, epochs, quick=False)
    rows = []
    dos, t_dos = fit_cached(DensityOfStatesDetector(GlowDensity(**params), random_state=0),
                            X_dos, f"budget-{task.flow_key}-{budget}-dos", cache_dir=cache_dir,
                            log=log)
    _record(rows, budget, "Density of states", dos, task.X_id, task.X_ood, t_dos, log)
    frozen = FrozenEstimator(dos.flow_)
    for name, det in (("Likelihood", LikelihoodDetector(frozen)),
                      ("Last scale", LastScaleDetector(frozen))):
        _record(rows, budget, name, det.fit(X_cal), task.X_id, task.X_ood, t_dos, log)
    lid = LIDLikelihoodDetector(frozen, method="fast", random_state=0).fit(X_cal[:256])
    _record(rows, budget, "Likelihood + LID", lid, task.X_id[:N_LID], task.X_ood[:N_LID],
            t_dos, log)
    if general and task.general is not None:
        gen, t_gen = fit_cached(GlowDensity(**params), task.general,
                                f"budget-{task.general_key}-{budget}-general",
                                cache_dir=cache_dir, log=log)
        ol, t_ol = fit_cached(
            LikelihoodRatioDetector(GlowDensity(**params), reference=FrozenEstimator(gen),
                                    general_data=task.general, fine_tune=True,
                                    outlier_loss_weight="auto", random_state=0),
            X_dos, f"budget-{task_name}-{budget}-outlierloss", cache_dir=cache_dir, log=log)
        _record(rows, budget, "Ratio (general) + outlier loss", ol, task.X_id, task.X_ood,
                t_gen + t_ol, log)
    for name, det in classical_detectors(50).items():
        t = time.perf_counter()
        det.fit(task.X_train)
        _record(rows, budget, name, det, task.X_id, task.X_ood, time.perf_counter() - t, log)
    return rows


def to_markdown(task_name, rows, wall_s):
    budgets = list(dict.fromkeys(r["budget"] for r in rows))
    dets = list(dict.fromkeys(r["detector"] for r in rows))
    cell = {(r["budget"], r["detector"]): r for r in rows}
    head = " | ".join(f"{b} min: AUROC / M=5" for b in budgets)
    lines = [f"# AUROC against flow training budget: {task_name}", "",
             "Generated by `python -m benchmarks.budget` (see its docstring for the "
             "protocol). Budget = CPU-minutes of one flow at 1 thread "
             f"({', '.join(f'{b} min = {BUDGETS[b][0]} epochs x {BUDGETS[b][1]} images' for b in budgets)}); "
             "the measured training seconds are in the last columns (the machine was shared "
             "with other jobs, so they run above the nominal budget).", "",
             f"| detector | {head} | " + " | ".join(f"train s ({b})" for b in budgets) + " |",
             "|---|" + "---|" * (2 * len(budgets))]
    for d in dets:
        vals = []
        for b in budgets:
            r = cell.get((b, d))
            vals.append("-" if r is None else f"{r['auroc']:.3f} / {r['group_auroc_m5']:.3f}")
        secs = [str(cell[(b, d)]["train_s"]) if (b, d) in cell else "-" for b in budgets]
        lines.append(f"| {d} | " + " | ".join(vals) + " | " + " | ".join(secs) + " |")
    lines += ["", f"Hardware: {platform.machine()}, {torch.get_num_threads()} torch thread(s), "
              f"CPU. Wall time {wall_s:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="fmnist-mnist")
    p.add_argument("--budgets", nargs="+", default=["0.5", "2", "8"], choices=list(BUDGETS))
    p.add_argument("--general", action="store_true",
                   help="add the general-model ratio with outlier loss (2 more flows a budget)")
    p.add_argument("--results-dir", default="benchmarks/results")
    p.add_argument("--cache-dir", default="benchmarks/results/cache")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for b in args.budgets:
        rows += run_budget(args.task, b, general=args.general, cache_dir=args.cache_dir)
        out = Path(args.results_dir) / f"budget-{args.task}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_markdown(args.task, rows, time.perf_counter() - t0))
        print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
