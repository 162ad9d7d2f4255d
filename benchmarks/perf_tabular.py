"""Tabular flow speed on wide data: skood's LU-parametrised maps vs plain dense layers.

``TabularFlow`` (the flow behind ``TabularFlowDensity``: 6 steps of ActNorm, an
LU-parametrised invertible linear map and an MLP affine coupling with 64 hidden
units) timed at D = 64, 512 and 1555 features (the widest ADBench set has 1555),
float32, CPU, against the same stack with each LU map replaced by a plain dense
``D x D`` layer (``y = x W^T``, no log-determinant: not a flow, only the cost floor
a linear map can have). A third row is the LU map as it was before its speed-ups
(the weight ``P @ L @ U`` recomposed with two dense ``D x D x D`` products on every
call and the permutation as a matrix product). Measured in one process,
interleaved (the order alternates every repeat), medians:

* training step, batch 128: ``-log_prob(x).mean()``, backward, Adam step;
* scoring: log-probability of 4096 rows in eval mode under ``torch.no_grad()``.

    OMP_NUM_THREADS=1 python -m benchmarks.perf_tabular [--repeats 7] [--dims 64 512 1555]
"""

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._provenance import git_rev

RESULTS = Path(__file__).parent / "results"
N_LAYERS, HIDDEN, TRAIN_BATCH, SCORE_ROWS = 6, 64, 128, 4096


class PlainDense(nn.Module):
    """A dense ``D x D`` layer where the LU map was: the cost reference (no log-det)."""

    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.linalg.qr(torch.randn(d, d))[0])

    def forward(self, x):
        n = x.shape[0]
        y = F.linear(x.reshape(n, -1), self.weight).reshape(x.shape)
        return y, x.new_zeros(n)


def _lu_forward_before(layer):
    """The LU map before its speed-ups: ``P @ L @ U`` recomposed on every call."""

    def forward(x):
        lower = layer.lower * layer.mask + layer.eye
        upper = layer.upper * layer.mask.T + torch.diag(layer.sign_s * torch.exp(layer.log_s))
        w = layer.perm @ lower @ upper
        logdet = x.shape[2] * x.shape[3] * layer.log_s.sum()
        return F.conv2d(x, w.view(*w.shape, 1, 1)), logdet.expand(x.shape[0])

    return forward


def build(d, kind, seed=0):
    """``kind``: "skood", "before" (the LU map before its speed-ups) or "dense"."""
    from skood.flows import InvConv1x1, TabularFlow

    torch.manual_seed(seed)
    flow = TabularFlow(d, n_layers=N_LAYERS, hidden_units=HIDDEN)
    for step in flow.levels[0].steps:
        if kind == "dense":
            step.layers[1] = PlainDense(d)
        elif kind == "before":
            assert isinstance(step.layers[1], InvConv1x1)
            step.layers[1].forward = _lu_forward_before(step.layers[1])
    return flow


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(d, repeats, kinds=("skood", "before", "dense")):
    """Median seconds per training step and per scoring pass for each kind at ``d``."""
    g = torch.Generator().manual_seed(d)
    x_train = torch.randn(TRAIN_BATCH, d, generator=g)
    x_score = torch.randn(SCORE_ROWS, d, generator=g)
    flows = {k: build(d, k) for k in kinds}
    opts = {k: torch.optim.Adam(f.parameters(), lr=1e-4) for k, f in flows.items()}

    def train(k):
        f, opt = flows[k], opts[k]
        f.train()
        opt.zero_grad(set_to_none=True)
        (-f(x_train).log_prob.mean()).backward()
        opt.step()

    def score(k):
        f = flows[k]
        f.eval()
        with torch.no_grad():
            out = f(x_score).log_prob
        assert torch.isfinite(out).all()

    for k in kinds:  # ActNorm initialisation and warm-up
        train(k)
        score(k)
    t_train = {k: [] for k in kinds}
    t_score = {k: [] for k in kinds}
    for r in range(repeats):
        for k in (kinds if r % 2 == 0 else kinds[::-1]):
            t_train[k].append(_timed(lambda: train(k)))
        for k in (kinds if r % 2 == 0 else kinds[::-1]):
            t_score[k].append(_timed(lambda: score(k)))
    return ({k: float(np.median(v)) for k, v in t_train.items()},
            {k: float(np.median(v)) for k, v in t_score.items()})



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 512, 1555])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    lines = [
        f"TabularFlow, {N_LAYERS} steps, {HIDDEN} hidden units, float32, CPU; torch "
        f"{torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"{platform.processor() or platform.machine()}; skood {git_rev()}. Interleaved in "
        f"one process, median of {args.repeats} repeats, on a machine shared with other "
        "jobs (contention hits every row alike). Training step: batch "
        f"{TRAIN_BATCH}, forward + backward + Adam step; scoring: {SCORE_ROWS} rows in "
        "eval mode under `torch.no_grad()`. Ratio = time / plain-dense time.",
        "",
        "| D | skood step (ms) | before (ms) | plain dense (ms) | skood / dense | "
        "before / dense | skood scoring (rows/s) | before (rows/s) | plain dense (rows/s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    results = {}
    for d in args.dims:
        tr, sc = measure(d, args.repeats)
        results[d] = (tr, sc)
        lines.append(
            f"| {d} | {tr['skood'] * 1e3:.1f} | {tr['before'] * 1e3:.1f} | "
            f"{tr['dense'] * 1e3:.1f} | {tr['skood'] / tr['dense']:.2f}x | "
            f"{tr['before'] / tr['dense']:.2f}x | {SCORE_ROWS / sc['skood']:,.0f} | "
            f"{SCORE_ROWS / sc['before']:,.0f} | {SCORE_ROWS / sc['dense']:,.0f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        cmd = (f"OMP_NUM_THREADS=1 python -m benchmarks.perf_tabular --repeats {args.repeats} "
               f"--dims {' '.join(map(str, args.dims))}")
        (RESULTS / "perf_tabular.md").write_text(
            "# Tabular flow speed on wide data\n\n" f"`{cmd}`\n\n" + text + "\n\n" + NOTES)
    return results


NOTES = """\
What the LU map costs now. Training (the weight is differentiated): with fewer
rows than twice the features, the triangular factors are applied to the batch,
`x -> x U^T -> (x U^T) L^T`, and the permutation is a column index: two `N x D x D`
products where the plain layer has one, and no `D x D x D` product; the backward
pass is likewise two products per gradient. With many rows per feature the weight
is composed (`D x D x D`, cheaper then). Scoring (eval mode, no gradients): the
weight `P L U` is composed once and reused until a parameter changes, so a pass
costs one dense product, like the plain layer.
"""


if __name__ == "__main__":
    main()
