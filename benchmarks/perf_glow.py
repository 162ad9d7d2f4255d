"""Glow speed and memory: training step, scoring throughput, peak memory vs n.

28x28 grey Glow (2 levels, 8 steps, 128 hidden channels), float32, CPU.
Peak memory is measured in a fresh subprocess per n (max RSS): the child loads the
trained model (so training memory does not count), builds the input, then scores;
10,000 and 50,000 images are compared side by side, and batched scoring must keep
the extra memory of scoring equal.

    python -m benchmarks.perf_glow
"""

import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"
CONFIG = dict(input_shape=(1, 28, 28), n_levels=2, n_steps=8, hidden_channels=128,
              max_epochs=1, batch_size=64, random_state=0)


def _fitted(n_train=128):
    from skood.density import GlowDensity

    X = np.random.RandomState(0).randint(0, 256, size=(n_train, 784)).astype(np.uint8)
    return GlowDensity(**CONFIG).fit(X)


def _train_step_seconds(est, repeats=5):
    module, opt = est.module_, est.net_.optimizer_
    x = est.to_tensor(np.random.RandomState(1).randint(0, 256, size=(64, 784)))
    module.train()
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        opt.zero_grad()
        (-module(x).mean()).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return float(np.median(times[1:]))


def _child(n, model_path):
    import joblib

    est = joblib.load(model_path)
    X = np.random.RandomState(2).randint(0, 256, size=(n, 784), dtype=np.uint8)
    est.score_samples(X[:256])  # warm-up: lazy allocations are not scoring memory
    # Linux: reset the peak-RSS mark (VmHWM) so the peak covers scoring only; the
    # process-lifetime ru_maxrss would be dominated by importing and loading.
    fresh = _reset_peak_rss()
    base = _status_mb("VmRSS")
    t = time.perf_counter()
    est.score_samples(X)
    dt = time.perf_counter() - t
    peak = _status_mb("VmHWM") if fresh else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(n=n, seconds=dt, peak_mb=peak, before_mb=base)))


def _reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_mb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        return _child(int(sys.argv[2]), sys.argv[3])
    import joblib

    est = _fitted()
    step = _train_step_seconds(est)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = str(Path(tmp) / "glow.joblib")
        joblib.dump(est, model_path)
        rows = [json.loads(subprocess.check_output(
            [sys.executable, "-m", "benchmarks.perf_glow", "--child", str(n), model_path]
        ).decode().splitlines()[-1]) for n in (10_000, 50_000)]
    lines = [
        f"Glow 28x28x1, 2 levels x 8 steps, 128 hidden, float32, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| training step, batch 64 (median of 5) | {step * 1e3:.0f} ms ({64 / step:.0f} images/s) |",
    ]
    for r in rows:
        lines.append(f"| scoring {r['n']:,} images | {r['n'] / r['seconds']:.0f} images/s, "
                     f"{1e3 * r['seconds'] / r['n']:.2f} ms/image |")
    for r in rows:
        lines.append(f"| peak RSS scoring {r['n']:,} (before scoring) | {r['peak_mb']:.0f} MB "
                     f"({r['before_mb']:.0f} MB) |")
    growth = (rows[1]["peak_mb"] - rows[1]["before_mb"]) - (rows[0]["peak_mb"] - rows[0]["before_mb"])
    lines.append(f"| extra scoring memory, 50k minus 10k | {growth:.0f} MB "
                 f"(input array grows by {40_000 * 784 / 2**20:.0f} MB as uint8) |")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "perf_glow.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
