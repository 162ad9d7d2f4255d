"""Glow speed, side by side: skood's ``Glow`` vs normflows' multiscale Glow.

Same configuration on both sides: 1x28x28 grey images, L=2 levels, K=8 steps per
level, 128 hidden channels, affine coupling with sigmoid scale, LU-parametrised
invertible 1x1 convolution, ActNorm (data-initialised), learned prior on the
factored-out half; float32, CPU. Measured in one process, interleaved (the order of
the models alternates every repeat), medians of the repeats:

* training step, batch 64: ``-log_prob(x).mean()``, backward, Adam step;
* scoring, batch 256: log-probability under ``torch.no_grad()`` in eval mode.

Both flows are timed on the flow itself (dequantized inputs in [-0.5, 0.5)), with
no data loading or estimator overhead. normflows is an optional benchmark
dependency (``pip install normflows``, extra ``bench``); the benchmark skips
without it. Set ``OMP_NUM_THREADS`` for stable timings (both sides run under the
same thread count).

    OMP_NUM_THREADS=1 python -m benchmarks.perf_normflows [--repeats 15] [--ablation]
"""

import argparse
import platform
import warnings
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"
SHAPE = (1, 28, 28)
N_LEVELS, N_STEPS, HIDDEN = 2, 8, 128
TRAIN_BATCH, SCORE_BATCH = 64, 256
LR = 1e-4


# --------------------------------------------------------------------------- models
def build_skood(split_prior="conditional", seed=0):
    from skood.flows import Glow

    torch.manual_seed(seed)
    flow = Glow(SHAPE, n_levels=N_LEVELS, n_steps=N_STEPS, hidden_channels=HIDDEN,
                split_prior=split_prior)
    return flow, lambda x: flow(x).log_prob


def build_skood_ablation(seed=0):
    """skood's default Glow without its CPU speed-ups (NCHW convolutions, out-of-place
    ReLUs): the flow code as it was before them, for a before/after row."""
    import skood.flows.layers as layers

    flow, log_prob = build_skood("conditional", seed)
    for m in flow.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    fast = layers._conv_layout

    def slow_log_prob(x):
        layers._conv_layout = lambda t: t
        try:
            return log_prob(x)
        finally:
            layers._conv_layout = fast

    return flow, slow_log_prob


def build_normflows(seed=0):
    """normflows' multiscale Glow, following its documented Glow example.

    normflows builds the flow in the generative direction (top level first);
    ``log_prob`` runs it data -> latents like skood's ``forward``. Unconditional
    (``class_cond=False``) with ``GlowBase`` priors: a learned per-channel Gaussian
    for each scale's latents.
    """
    import normflows as nf

    torch.manual_seed(seed)
    c, h, w = SHAPE
    L, K = N_LEVELS, N_STEPS
    q0, merges, flows = [], [], []
    for i in range(L):
        with warnings.catch_warnings():  # normflows calls the deprecated torch.lu
            warnings.simplefilter("ignore", UserWarning)
            level = [nf.flows.GlowBlock(c * 2 ** (L + 1 - i), HIDDEN, split_mode="channel",
                                        scale=True, scale_map="sigmoid", use_lu=True)
                     for _ in range(K)]
        level.append(nf.flows.Squeeze())
        flows.append(level)
        if i > 0:
            merges.append(nf.flows.Merge())
            latent = (c * 2 ** (L - i), h // 2 ** (L - i), w // 2 ** (L - i))
        else:
            latent = (c * 2 ** (L + 1), h // 2 ** L, w // 2 ** L)
        q0.append(nf.distributions.GlowBase(latent))
    model = nf.MultiscaleFlow(q0, flows, merges, class_cond=False)
    return model, lambda x: model.log_prob(x, None)


# --------------------------------------------------------------------------- counts
def _count(module):
    return sum(p.numel() for p in module.parameters())


def skood_param_breakdown(flow):
    from skood.flows.layers import ActNorm, AffineCoupling, InvConv1x1

    out = dict(coupling=0, invconv=0, actnorm=0, prior=0)
    for level in flow.levels:
        for step in level.steps:
            for layer in step.layers:
                key = {ActNorm: "actnorm", InvConv1x1: "invconv",
                       AffineCoupling: "coupling"}[type(layer)]
                out[key] += _count(layer)
        out["prior"] += _count(level.prior)
    out["total"] = _count(flow)
    return out


def normflows_param_breakdown(model):
    import normflows as nf

    out = dict(coupling=0, invconv=0, actnorm=0, prior=sum(_count(q) for q in model.q0))
    for m in model.modules():
        if isinstance(m, nf.flows.AffineCouplingBlock):
            out["coupling"] += _count(m)
        elif isinstance(m, nf.flows.Invertible1x1Conv):
            out["invconv"] += _count(m)
        elif isinstance(m, nf.flows.ActNorm):
            out["actnorm"] += _count(m)
    out["total"] = _count(model)
    return out


# --------------------------------------------------------------------------- timing
def _pixels(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *SHAPE), generator=g).float()
    return (x + torch.rand(x.shape, generator=g)) / 256.0 - 0.5


def _make_train_step(module, log_prob):
    opt = torch.optim.Adam(module.parameters(), lr=LR)

    def step(x):
        module.train()
        opt.zero_grad(set_to_none=True)
        loss = -log_prob(x).mean()
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def _make_score(module, log_prob):
    def score(x):
        module.eval()
        with torch.no_grad():
            return log_prob(x)

    return score


def _timed(fn, x):
    t = time.perf_counter()
    out = fn(x)
    return time.perf_counter() - t, out


def compare(models, repeats=15, warmup=2):
    """Interleaved timing of each model's training step and scoring; returns medians (s)."""
    x_train = _pixels(TRAIN_BATCH, 1)
    x_score = _pixels(SCORE_BATCH, 2)
    steps = {k: _make_train_step(m, lp) for k, (m, lp) in models.items()}
    scores = {k: _make_score(m, lp) for k, (m, lp) in models.items()}
    names = list(models)
    for _ in range(warmup):  # first step initialises ActNorm on both sides
        for k in names:
            steps[k](x_train)
            scores[k](x_score)
    t_train = {k: [] for k in names}
    t_score = {k: [] for k in names}
    finite = {k: True for k in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for k in order:
            dt, loss = _timed(steps[k], x_train)
            t_train[k].append(dt)
            finite[k] &= bool(torch.isfinite(loss))
        for k in order:
            dt, lp = _timed(scores[k], x_score)
            t_score[k].append(dt)
            finite[k] &= bool(torch.isfinite(lp).all())
    final_bpd = {}
    for k in names:
        lp = scores[k](x_score)
        d = float(np.prod(SHAPE))
        final_bpd[k] = float((-lp.mean() / d + np.log(256.0)) / np.log(2.0))
    return ({k: float(np.median(v)) for k, v in t_train.items()},
            {k: float(np.median(v)) for k, v in t_score.items()},
            {k: (float(np.min(v)), float(np.max(v))) for k, v in t_train.items()},
            {k: (float(np.min(v)), float(np.max(v))) for k, v in t_score.items()},
            finite, final_bpd)


def _git_rev():
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"],
                                       cwd=Path(__file__).parent,
                                       stderr=subprocess.DEVNULL).decode().strip()
    except Exception:  # noqa: BLE001
        return "unknown"


# --------------------------------------------------------------------------- report
DIFFERENCES = """\
Where the two architectures differ (everything else is the same: squeeze, channel
split in halves, 3x3 -> 1x1 -> 3x3 coupling nets with ReLU and zero-initialised
output layer, sigmoid(h + 2) scale, LU 1x1 convolution, data-initialised ActNorm,
factoring out half of the channels after level 1):

- **Split prior.** skood's default (`split_prior="conditional"`, as in the Glow paper)
  predicts the mean and log-std of the factored-out half from the kept half with a
  zero-initialised 3x3 convolution; normflows' `MultiscaleFlow` has no conditional
  split prior: every scale gets an unconditional learned per-channel Gaussian
  (`GlowBase`). skood's `split_prior="diagonal"` (unconditional, per dimension) is
  timed too as the closest match. The top-level prior is learned per dimension in
  skood and per channel in normflows.
- **Coupling output scale.** skood's zero-initialised output convolutions carry
  Glow's learned output scale `exp(3 * logs)` (a few parameters per layer);
  normflows' `ConvNet2d` has a plain zero-initialised convolution.
- **Coupling parametrisation.** skood: `y_b = x_b * sigmoid(h + 2) + t`; normflows'
  data direction: `y_b = (x_b - t) * sigmoid(h + 2)` (same cost).
- **Direction.** normflows defines its flows generatively and evaluates the
  log-probability through each layer's `inverse`; skood's `forward` is the data ->
  latent direction. Both build the 1x1 weight from its LU factors without a matrix
  inverse in this direction.

skood's CPU speed-ups (float32, inputs with spatial extent): the coupling networks
run on channels-last copies of their inputs, which oneDNN convolves without
reordering to and from its blocked layout, and their ReLUs work in place. With
`--ablation` the first row times skood's default Glow without both (the flow code
before them); the values agree to float32 rounding.
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--ablation", action="store_true",
                        help="also time skood without its CPU speed-ups (channels-last "
                             "coupling convolutions, in-place ReLUs)")
    args = parser.parse_args(argv)
    try:
        import normflows as nf
    except ImportError:
        print("normflows is not installed: skipping the skood vs normflows comparison "
              "(pip install normflows, or the 'bench' extra).")
        return None

    models = {
        "skood (conditional split prior, default)": build_skood("conditional"),
        "skood (diagonal split prior)": build_skood("diagonal"),
        "normflows": build_normflows(),
    }
    if args.ablation:
        models = {"skood without channels-last / in-place ReLU": build_skood_ablation(),
                  **models}
    med_train, med_score, rng_train, rng_score, finite, bpd = compare(models, args.repeats)
    ref = "normflows"
    counts = {k: (normflows_param_breakdown if k == ref else skood_param_breakdown)(m)
              for k, (m, _) in models.items()}

    lines = [
        f"Glow {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, L={N_LEVELS} levels x K={N_STEPS} steps, "
        f"{HIDDEN} hidden channels, LU 1x1 conv, affine coupling, float32, CPU; "
        f"torch {torch.__version__}, normflows {getattr(nf, '__version__', '?')}, "
        f"{torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}; "
        f"skood {_git_rev()}. Interleaved in one process, median of {args.repeats} "
        "repeats (min-max in brackets). Speed-up = normflows time / skood time "
        "(> 1: skood faster).",
        "",
        f"| model | params | training step, batch {TRAIN_BATCH} (ms) | speed-up | "
        f"scoring, batch {SCORE_BATCH} (images/s) | speed-up | bits/dim after "
        f"{args.repeats + 2} steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in models:
        tr, sc = med_train[k], med_score[k]
        lo, hi = rng_train[k]
        slo, shi = rng_score[k]
        sp_tr = "-" if k == ref else f"{med_train[ref] / tr:.2f}x"
        sp_sc = "-" if k == ref else f"{med_score[ref] / sc:.2f}x"
        flag = "" if finite[k] else " (non-finite!)"
        lines.append(
            f"| {k} | {counts[k]['total']:,} | {tr * 1e3:.0f} ({lo * 1e3:.0f}-{hi * 1e3:.0f}) | "
            f"{sp_tr} | {SCORE_BATCH / sc:.0f} ({SCORE_BATCH / shi:.0f}-{SCORE_BATCH / slo:.0f}) | "
            f"{sp_sc} | {bpd[k]:.2f}{flag} |")
    lines += [
        "",
        "Parameters by component:",
        "",
        "| model | coupling nets | 1x1 conv (LU) | ActNorm | priors | total |",
        "|---|---|---|---|---|---|",
    ]
    for k, c in counts.items():
        if k.startswith("skood without"):
            continue
        lines.append(f"| {k} | {c['coupling']:,} | {c['invconv']:,} | {c['actnorm']:,} | "
                     f"{c['prior']:,} | {c['total']:,} |")
    lines += ["", DIFFERENCES]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "perf_normflows.md").write_text(
            "# skood vs normflows: Glow speed\n\n"
            f"`OMP_NUM_THREADS=1 python -m benchmarks.perf_normflows --repeats {args.repeats}"
            f"{' --ablation' if args.ablation else ''}`\n\n" + text)
    return dict(train=med_train, score=med_score, params=counts)


if __name__ == "__main__":
    main()
