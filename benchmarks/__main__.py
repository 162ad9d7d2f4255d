"""Command line: ``python -m benchmarks --quick`` or ``python -m benchmarks --tasks fmnist-mnist``."""

import argparse
import csv
import platform
import sys
import time
from pathlib import Path

import torch

from skood.benchmark._runner import GROUP_SIZES, plot_scores, run_task
from skood.benchmark._tasks import TASKS, load_task

RESULTS = Path(__file__).parent / "results"
_COLS = ("auroc", "aupr_in", "aupr_out", "fpr95") + tuple(f"group_auroc_m{m}" for m in GROUP_SIZES)


def _markdown(rows):
    groups = " | ".join(f"group M={m}" for m in GROUP_SIZES)
    head = (f"| task | detector | family | AUROC | AUPR-In | AUPR-Out | FPR@95TPR | {groups} | "
            "n test (ID+OOD) | budget | fit (s) |")
    lines = [head, "|" + "---|" * (10 + len(GROUP_SIZES))]
    for r in rows:
        vals = " | ".join("-" if r[c] != r[c] else f"{r[c]:.3f}" for c in _COLS)
        lines.append(f"| {r['task']} | {r['detector']} | {r['family']} | {vals} | "
                     f"{r['n_test']} | {r['budget']} | {r['fit_s']} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="digits 0-4 vs 5-9 (embedded data, a few minutes on 2 cores)")
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=None)
    p.add_argument("--epochs", type=int, default=None, help="flow training epochs")
    p.add_argument("--n-train", type=int, default=None, help="subsample the ID training set")
    p.add_argument("--n-test", type=int, default=2000, help="subsample each test set")
    p.add_argument("--n-general", type=int, default=None, help="subsample the general data")
    p.add_argument("--n-lid", type=int, default=300,
                   help="test images per side scored by the LID detector (Jacobian spectra)")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize (Fashion-)MNIST, e.g. 32 for a 3-level Glow as in the paper")
    p.add_argument("--no-general", action="store_true",
                   help="skip the general-model ratios (three extra flows per task)")
    p.add_argument("--no-cache", action="store_true", help="retrain flows")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--data-home", default=None)
    p.add_argument("--out", default=None, help="results file stem (default: by mode)")
    args = p.parse_args(argv)

    tasks = args.tasks or (["digits"] if args.quick or not args.tasks else [])
    epochs = args.epochs or (10 if args.quick else 5)
    rows = []
    t0 = time.perf_counter()
    hardware = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
                f"threads, {'CUDA' if torch.cuda.is_available() else 'CPU'}")
    for name in tasks:
        print(f"== {name}", flush=True)
        task = load_task(name, n_train=args.n_train, n_test=args.n_test,
                         n_general=args.n_general, image_size=args.image_size,
                         data_home=args.data_home)
        task_rows, scores = run_task(task, epochs=epochs, quick=args.quick or name == "digits",
                                     use_cache=not args.no_cache, n_lid=args.n_lid,
                                     general_methods=not args.no_general,
                                     log=lambda m: print(m, flush=True))
        rows += task_rows
        if not args.no_plots:
            for path in plot_scores(task.name, scores, RESULTS / "plots"):
                print(f"  wrote {path}")
    table = _markdown(rows)
    print()
    print(table)
    print(f"\nTotal time: {time.perf_counter() - t0:.0f} s ({hardware})")
    RESULTS.mkdir(exist_ok=True)
    stem = args.out or ("quick" if tasks == ["digits"] else "images")
    (RESULTS / f"{stem}.md").write_text(
        table + f"\n\nHardware: {hardware}. Total time {time.perf_counter() - t0:.0f} s.\n")
    with open(RESULTS / f"{stem}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"Wrote {RESULTS / (stem + '.md')} and .csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
