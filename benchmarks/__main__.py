"""Command line: ``python -m benchmarks --quick`` or ``python -m benchmarks --tasks fmnist-mnist``."""

import argparse
import csv
import sys
import time
from pathlib import Path

from .runner import run_task
from .tasks import TASKS, load_task

RESULTS = Path(__file__).parent / "results"
_COLS = ("auroc", "aupr_in", "aupr_out", "fpr95", "group_auroc_m5")


def _markdown(rows):
    head = ("| task | detector | family | AUROC | AUPR-In | AUPR-Out | FPR@95TPR | "
            "group AUROC (M=5) | budget | fit (s) |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        vals = " | ".join("-" if r[c] != r[c] else f"{r[c]:.3f}" for c in _COLS)
        lines.append(f"| {r['task']} | {r['detector']} | {r['family']} | {vals} | "
                     f"{r['budget']} | {r['fit_s']} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="digits 0-4 vs 5-9 (embedded data, a few minutes on 2 cores)")
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=None)
    p.add_argument("--epochs", type=int, default=None, help="flow training epochs")
    p.add_argument("--n-train", type=int, default=None, help="subsample the ID training set")
    p.add_argument("--n-test", type=int, default=2000, help="subsample each test set")
    p.add_argument("--no-cache", action="store_true", help="retrain flows")
    p.add_argument("--data-home", default=None)
    p.add_argument("--out", default=None, help="results file stem (default: by mode)")
    args = p.parse_args(argv)

    tasks = args.tasks or (["digits"] if args.quick or not args.tasks else [])
    epochs = args.epochs or (10 if args.quick else 5)
    rows = []
    t0 = time.perf_counter()
    for name in tasks:
        print(f"== {name}", flush=True)
        task = load_task(name, n_train=args.n_train, n_test=args.n_test,
                         data_home=args.data_home)
        rows += run_task(task, epochs=epochs, quick=args.quick or name == "digits",
                         use_cache=not args.no_cache,
                         log=lambda m: print(m, flush=True))
    table = _markdown(rows)
    print()
    print(table)
    print(f"\nTotal time: {time.perf_counter() - t0:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    stem = args.out or ("quick" if tasks == ["digits"] else "images")
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    with open(RESULTS / f"{stem}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"Wrote {RESULTS / (stem + '.md')} and .csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
