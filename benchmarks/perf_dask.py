"""Scoring on a Dask cluster: throughput with 1 and 2 workers, and a worker's memory.

A ``TabularFlowDensity`` (default architecture, 16 features, trained briefly: the
speed of a pass does not depend on how well it is trained) scores 1,000,000 rows
with :func:`skood.parallel.score_blocks`, on a ``LocalCluster`` of worker processes
with one Dask thread each and torch's threads set by
:func:`skood.parallel.set_torch_threads` (the machine's cores shared between the
workers, so both configurations use the same cores):

a float32 ``numpy.memmap`` on disk, each worker reading its own blocks from the
file. Each configuration runs with Dask's default worker environment and without its
``MALLOC_TRIM_THRESHOLD_=65536``: that setting turns off glibc's adaptive mmap
threshold, so every large torch buffer is mapped and unmapped afresh.

Reported: rows/s (best of ``--repeats``), scores checked equal to in-memory scoring,
and the peak resident memory of a worker above its idle level while it scores the
memmap (sampled every 50 ms), against the data's size. Public API only.

    OMP_NUM_THREADS=1 python -m benchmarks.perf_dask [--rows 1000000] [--repeats 2]
"""

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from skood.density import TabularFlowDensity
from skood.parallel import available_cores, score_blocks, set_torch_threads

from ._provenance import git_rev

RESULTS = Path(__file__).parent / "results"
N_FEATURES, BLOCK_ROWS = 16, 50_000


def _rss():
    import psutil

    return psutil.Process().memory_info().rss


class _PeakMemory:
    """Samples every worker's resident memory in a background thread."""

    def __init__(self, client, interval=0.05):
        self.client, self.interval = client, interval
        self.base = client.run(_rss)
        self.peak = dict(self.base)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            for worker, rss in self.client.run(_rss).items():
                self.peak[worker] = max(self.peak[worker], rss)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def max_increase(self):
        return max(self.peak[w] - self.base[w] for w in self.base)



def _worker_env():
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def measure(n_workers, flow, mm, expected, repeats, dask_env=True):
    import dask
    from distributed import Client, LocalCluster

    # Nannies of a LocalCluster copy their environment into this process's os.environ,
    # whence the next cluster's workers inherit it: undo that as well.
    trim = "65536" if dask_env else None
    if not dask_env:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": trim}), \
            LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        trim = set(client.run(_worker_env).values())
        assert trim == ({"65536"} if dask_env else {None}), trim
        threads = set_torch_threads(client)
        # Warm-up: the workers import skood and receive the model.
        score_blocks(flow, mm[:BLOCK_ROWS], block_rows=BLOCK_ROWS)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            with _PeakMemory(client) as memory:
                out = score_blocks(flow, mm, block_rows=BLOCK_ROWS)
            times.append(time.perf_counter() - t0)
            assert np.array_equal(out, expected), "blocked scores differ from in-memory"
    return {"memmap": min(times), "peak_mb": memory.max_increase() / 2**20,
            "threads": sorted(threads.values())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    rng = np.random.RandomState(0)
    flow = TabularFlowDensity(max_epochs=1, random_state=0).fit(
        rng.normal(size=(5_000, N_FEATURES)).astype(np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.f32")
        mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(args.rows, N_FEATURES))
        for i in range(0, args.rows, 100_000):
            n = min(100_000, args.rows - i)
            mm[i:i + n] = rng.normal(size=(n, N_FEATURES))
        mm.flush()
        mm = np.memmap(path, dtype=np.float32, mode="r", shape=(args.rows, N_FEATURES))
        t0 = time.perf_counter()
        expected = flow.score_samples(mm)
        in_process = time.perf_counter() - t0
        results = {(n, env): measure(n, flow, mm, expected, args.repeats, env)
                   for env in (False, True) for n in (1, 2)}
    data_mb = args.rows * N_FEATURES * 4 / 2**20
    lines = [
        f"TabularFlowDensity (default architecture), {N_FEATURES} float32 features, "
        f"{args.rows:,} rows ({data_mb:.0f} MiB) in blocks of {BLOCK_ROWS:,}; "
        f"LocalCluster worker processes with 1 Dask thread each, torch threads from "
        f"set_torch_threads; {available_cores()} cores ({platform.machine()}, shared with "
        f"other jobs), torch {torch.__version__}, skood {git_rev()}. Best of "
        f"{args.repeats}; scores equal in-memory scoring bit for bit in every run. "
        f"In this process, without Dask ({torch.get_num_threads()} torch thread(s)): "
        f"{args.rows / in_process:,.0f} rows/s.",
        "",
        "| workers | worker environment | torch threads per worker | rows/s | "
        "worker peak memory above idle (MiB) |",
        "|---|---|---|---|---|",
    ]
    for (n, env), r in results.items():
        env_text = "Dask's default (MALLOC_TRIM_THRESHOLD_=65536)" if env else \
            "without MALLOC_TRIM_THRESHOLD_"
        lines.append(f"| {n} | {env_text} | {', '.join(map(str, r['threads']))} | "
                     f"{args.rows / r['memmap']:,.0f} | {r['peak_mb']:.0f} |")
    lines += [
        "",
        f"The data ({data_mb:.0f} MiB) stay on disk; a worker's peak is its working memory "
        f"for one block of {BLOCK_ROWS:,} rows (the flow's activations, sized by "
        "scikit-learn's working_memory), whatever the number of rows.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        cmd = f"OMP_NUM_THREADS=1 python -m benchmarks.perf_dask --rows {args.rows} " \
              f"--repeats {args.repeats}"
        (RESULTS / "perf_dask.md").write_text(
            "# Scoring on a Dask cluster\n\n" + text + f"\n\nReproduce: `{cmd}`\n")


if __name__ == "__main__":
    main()
