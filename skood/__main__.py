"""skood's command line: ``skood benchmark --quick``, ``skood --version``.

``python -m skood ...`` is the same command.
"""

import argparse
import sys
import time
from pathlib import Path

import skood

DEFAULT_RESULTS_DIR = "skood-results"


def _add_benchmark_parser(subparsers):
    p = subparsers.add_parser(
        "benchmark", help="run the image OOD benchmark (skood vs classical detectors)",
        description="Fit skood detectors and classical baselines on image OOD tasks and "
                    "write an AUROC table (markdown and CSV) and ROC / histogram plots. "
                    "--quick: digits 0-4 vs 5-9, embedded data.")
    from skood.benchmark import TASKS  # here: `skood --version` needs no benchmark code

    p.add_argument("--quick", action="store_true",
                   help="digits 0-4 vs 5-9 (embedded data, a few minutes on 2 cores)")
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=None, metavar="TASK",
                   help=f"tasks to run (default: digits): {', '.join(TASKS)}")
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
    p.add_argument("--no-cache", action="store_true", help="retrain flows, store none")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--data-home", default=None, help="directory of the real data sets")
    p.add_argument("--out", default=None,
                   help="results file stem (default: 'quick' for digits, else 'images')")
    p.add_argument("--results-dir", default=DEFAULT_RESULTS_DIR,
                   help="where tables and plots go (default: ./%(default)s; "
                        "benchmarks/results updates the committed results)")
    p.add_argument("--cache-dir", default=None,
                   help="where trained flows are cached (default: <results-dir>/cache)")
    p.set_defaults(func=_benchmark)


def _benchmark(args):
    import platform

    import torch

    from skood.benchmark import load_task, markdown_table, plot_scores, run_task, write_results

    tasks = args.tasks or ["digits"]
    epochs = args.epochs or (10 if args.quick else 5)
    results_dir = Path(args.results_dir)
    cache_dir = None if args.no_cache else Path(args.cache_dir or results_dir / "cache")
    hardware = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
                f"threads, {'CUDA' if torch.cuda.is_available() else 'CPU'}")
    rows, written = [], []
    t0 = time.perf_counter()
    for name in tasks:
        print(f"== {name}", flush=True)
        task = load_task(name, n_train=args.n_train, n_test=args.n_test,
                         n_general=args.n_general, image_size=args.image_size,
                         data_home=args.data_home)
        task_rows, scores = run_task(task, epochs=epochs, quick=args.quick or name == "digits",
                                     cache_dir=cache_dir, n_lid=args.n_lid,
                                     general_methods=not args.no_general,
                                     log=lambda m: print(m, flush=True))
        rows += task_rows
        if not args.no_plots:
            written += plot_scores(task.name, scores, results_dir / "plots")
    seconds = time.perf_counter() - t0
    print()
    print(markdown_table(rows))
    print(f"\nTotal time: {seconds:.0f} s ({hardware})")
    stem = args.out or ("quick" if tasks == ["digits"] else "images")
    written = write_results(rows, results_dir, stem,
                            footer=f"Hardware: {hardware}. Total time {seconds:.0f} s.") + written
    print("\nWrote:")
    for path in written:
        print(f"  {path}")
    if cache_dir is not None:
        print(f"Trained flows cached in {cache_dir}")
    return 0


def build_parser(prog="skood"):
    """The ``skood`` argument parser.

    Parameters
    ----------
    prog : str, default="skood"
        Program name shown in usage lines.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog=prog, description="skood: scikit-learn-compatible out-of-distribution "
                               "detection with normalizing flows.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {skood.__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    _add_benchmark_parser(subparsers)
    return parser


def main(argv=None):
    """Run the ``skood`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
