"""Cost of local intrinsic dimension by method and width: where ``method="auto"`` switches.

``LIDLikelihoodDetector`` reads LID from the generator Jacobian's spectrum, exactly
(``"exact"``: ``D`` vector-Jacobian products per point and a ``D x D`` SVD) or
matrix-free (``"fast"``: stochastic Lanczos quadrature, ``n_probes * lanczos_steps``
Jacobian-vector and vector-Jacobian products whatever ``D``). This times both per
point on a ``TabularFlowDensity`` (the detector's default flow; 6 steps, 64 hidden
units, float32, CPU) at several widths ``D``, one process, the two methods
interleaved, and writes ``benchmarks/results/perf_lid.md``. The ``"auto"``
threshold is the width past which the exact spectrum costs several times the fast
one.

    OMP_NUM_THREADS=1 python -m benchmarks.perf_lid [--dims 8 32 64 128 256 512] [--points 32]
"""

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"


def measure(d, n_points, repeats):
    from skood.density import TabularFlowDensity
    from skood.flows.spectral import flow_singular_values, flow_spectral_quadrature

    rng = np.random.RandomState(d)
    X = rng.normal(size=(max(200, n_points), d)).astype(np.float32)
    flow = TabularFlowDensity(max_epochs=1, random_state=0).fit(X)
    Xq = X[:n_points]
    fns = {
        "exact": lambda: flow_singular_values(flow, Xq, return_log_prob=True),
        "fast": lambda: flow_spectral_quadrature(flow, Xq, random_state=0,
                                                 return_log_prob=True),
    }
    times = {k: [] for k in fns}
    for k in fns:  # warm-up
        fns[k]()
    for r in range(repeats):
        for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            t = time.perf_counter()
            fns[k]()
            times[k].append((time.perf_counter() - t) / n_points)
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[8, 32, 64, 128, 256, 512])
    parser.add_argument("--points", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    lines = [
        f"TabularFlowDensity defaults (6 steps, 64 hidden units), float32, CPU; torch "
        f"{torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"{platform.processor() or platform.machine()}; {args.points} points, median of "
        f"{args.repeats} interleaved repeats, on a machine shared with other jobs. "
        "Exact: `flow_singular_values` (D vector-Jacobian products, chunks of 128, "
        "and an SVD); fast: `flow_spectral_quadrature` (1 probe x 12 Lanczos steps).",
        "",
        "| D | exact (ms / point) | fast (ms / point) | exact / fast |",
        "|---|---|---|---|",
    ]
    for d in args.dims:
        t = measure(d, args.points, args.repeats)
        lines.append(f"| {d} | {t['exact'] * 1e3:.2f} | {t['fast'] * 1e3:.2f} | "
                     f"{t['exact'] / t['fast']:.2f}x |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "perf_lid.md").write_text(
            "# Local intrinsic dimension: exact vs fast cost by width\n\n"
            f"`OMP_NUM_THREADS=1 python -m benchmarks.perf_lid --dims "
            f"{' '.join(map(str, args.dims))} --points {args.points} --repeats "
            f"{args.repeats}`\n\n" + text + "\n")


if __name__ == "__main__":
    main()
