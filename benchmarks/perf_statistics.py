"""What the default detector's statistics cost next to one likelihood pass.

The default detector (``DensityOfStatesDetector``) reads the per-scale likelihood terms
of one flow pass and adds each image's lossless compressed length (PNG, Serrà et al.'s
complexity). The pass runs in torch; compression runs in Pillow, whose encoders release
the GIL, so ``n_jobs`` threads compress in parallel. Measured side by side in one
process, interleaved: for ``n`` test images (default 10,000) of the image benchmark's
Fashion-MNIST task at 32x32 and its 3-level Glow (3 x 4 x 64; trained briefly, the cost
of a pass does not depend on training):

- one likelihood pass (``score_samples``);
- ``FlowStatistics`` (per-scale terms + compression) with ``n_jobs=1`` and ``-1``;
- the compression alone, with ``n_jobs=1`` and ``-1``.

The ratio "statistics / likelihood pass" is what the default detector costs over a plain
likelihood detector. Run (results in ``benchmarks/results/perf_statistics.md``)::

    OMP_NUM_THREADS=1 python -m benchmarks.perf_statistics

torch uses ``torch.get_num_threads()`` threads (``OMP_NUM_THREADS``); compression with
``n_jobs=-1`` uses every core, so on a machine shared with other jobs the parallel rows
are the noisiest. Uses skood's public API only.
"""

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

from skood.benchmark import glow_params, load_task
from skood.density import GlowDensity
from skood.statistics import FlowStatistics, compressed_bits


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf_statistics",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10000, help="images scored")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results/perf_statistics")
    args = p.parse_args(argv)

    task = load_task("fmnist-mnist", n_train=1000, image_size=32)
    params = glow_params(task, epochs=1, quick=False)
    glow = GlowDensity(**params, verbose=0).fit(task.X_train)
    frozen = FrozenEstimator(glow)
    X = task.X_id
    X = np.concatenate([X] * int(np.ceil(args.n / len(X))))[: args.n]
    shape = task.input_shape

    stats = {k: FlowStatistics(frozen, compression="png", n_jobs=k).fit(X[:10]) for k in (1, -1)}
    cases = {
        "likelihood pass (score_samples)": lambda: glow.score_samples(X),
        "FlowStatistics, n_jobs=1": lambda: stats[1].transform(X),
        "FlowStatistics, n_jobs=-1": lambda: stats[-1].transform(X),
        "compression alone, n_jobs=1": lambda: compressed_bits(X, shape, "png", n_jobs=1),
        "compression alone, n_jobs=-1": lambda: compressed_bits(X, shape, "png", n_jobs=-1),
    }
    times = {k: [] for k in cases}
    for r in range(args.repeats):
        for name in (list(cases) if r % 2 == 0 else list(cases)[::-1]):
            times[name].append(_time(cases[name]))
            print(f"repeat {r}: {name}: {times[name][-1]:.2f} s", flush=True)

    med = {k: float(np.median(v)) for k, v in times.items()}
    base = med["likelihood pass (score_samples)"]
    lines = [
        "# The default detector's statistics: cost next to one likelihood pass", "",
        "`OMP_NUM_THREADS=1 python -m benchmarks.perf_statistics`", "",
        f"{args.n} Fashion-MNIST test images at {shape[1]}x{shape[2]}, Glow "
        f"{params['n_levels']} levels x {params['n_steps']} steps x "
        f"{params['hidden_channels']} channels, float32; torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s), {os.cpu_count()} cores, "
        f"{platform.machine()}. Median of {args.repeats} interleaved repeats, on a "
        "machine that may be shared with other jobs. Statistics = per-scale likelihood "
        "terms of one pass + PNG compressed length (what DensityOfStatesDetector reads "
        "by default on images).", "",
        "| computation | seconds | images/s | x likelihood pass |",
        "|---|---:|---:|---:|",
    ]
    for name, t in med.items():
        lines.append(f"| {name} | {t:.2f} | {args.n / t:,.0f} | {t / base:.2f}x |")
    best = min(med["FlowStatistics, n_jobs=1"], med["FlowStatistics, n_jobs=-1"])
    lines += ["", f"Target (all statistics within 1.5x one likelihood pass): "
              f"{'met' if best <= 1.5 * base else '**not met**'} ({best / base:.2f}x)."]
    out = Path(args.out).with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
