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
import time
from pathlib import Path

import numpy as np
import torch

from ._provenance import git_rev

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


def _invconv_forward_before(layer):
    """The 1x1 convolution as it was before its speed-ups: the weight recomposed from
    its factors with a dense permutation product on every call, then ``conv2d``."""
    import torch.nn.functional as F

    def forward(x):
        lower = layer.lower * layer.mask + layer.eye
        upper = layer.upper * layer.mask.T + torch.diag(layer.sign_s * torch.exp(layer.log_s))
        w = layer.perm @ lower @ upper
        logdet = x.shape[2] * x.shape[3] * layer.log_s.sum()
        return F.conv2d(x, w.view(*w.shape, 1, 1)), logdet.expand(x.shape[0])

    return forward


def build_skood_ablation(seed=0, level="none"):
    """skood's default Glow with some of its CPU speed-ups switched off, for the
    before/after rows: ``level="none"`` is the flow code before all of them (NCHW
    coupling convolutions, out-of-place ReLUs, the 1x1 weight recomposed and
    convolved on every call, one pass over the whole batch); ``level="layout"``
    keeps the channels-last couplings and in-place ReLUs but not the newer ones."""
    from skood.flows import channels_last
    from skood.flows.layers import InvConv1x1

    flow, _ = build_skood("conditional", seed)
    for m in flow.modules():
        if isinstance(m, InvConv1x1):
            m.forward = _invconv_forward_before(m)
        if level == "none" and isinstance(m, torch.nn.ReLU):
            m.inplace = False
    flow.scoring_chunk_bytes = None  # this instance scores a batch in one piece
    def slow_log_prob(x):
        with channels_last(level != "none"):
            return flow(x).log_prob

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


def _interleaved(fns, x, repeats, warmup=1):
    """Time every ``fns[k](x)`` ``repeats`` times, alternating the order; per-model
    lists of seconds and whether every output was finite."""
    names = list(fns)
    for _ in range(warmup):
        for k in names:
            fns[k](x)
    times = {k: [] for k in names}
    finite = {k: True for k in names}
    for r in range(repeats):
        for k in (names if r % 2 == 0 else names[::-1]):
            dt, out = _timed(fns[k], x)
            times[k].append(dt)
            finite[k] &= bool(torch.isfinite(out).all())
    return times, finite


def compare(models, train_batch_sizes=(16, 64), score_batch_sizes=(16, 64, 256),
            repeats=15):
    """Interleaved timing of each model's training step and scoring at every batch size.

    Returns ``(train, score, finite, bpd)``: ``train[b][k]`` and ``score[b][k]`` are the
    lists of seconds of model ``k`` at batch size ``b``.
    """
    names = list(models)
    steps = {k: _make_train_step(m, lp) for k, (m, lp) in models.items()}
    scores = {k: _make_score(m, lp) for k, (m, lp) in models.items()}
    x_init = _pixels(max(train_batch_sizes, default=64), 1)
    for k in names:  # the first step initialises ActNorm on both sides
        steps[k](x_init)
    train, score = {}, {}
    finite = {k: True for k in names}
    for b in train_batch_sizes:
        train[b], ok = _interleaved(steps, _pixels(b, 10 + b), repeats)
        finite = {k: finite[k] and ok[k] for k in names}
    for b in score_batch_sizes:
        score[b], ok = _interleaved(scores, _pixels(b, 20 + b), repeats)
        finite = {k: finite[k] and ok[k] for k in names}
    x_eval = _pixels(256, 2)
    d = float(np.prod(SHAPE))
    bpd = {k: float((-scores[k](x_eval).mean() / d + np.log(256.0)) / np.log(2.0))
           for k in names}
    return train, score, finite, bpd



# --------------------------------------------------------------------------- arithmetic
def flops_per_image(models, batch=16):
    """Floating-point operations per image of each model's scoring pass and training
    step (forward + backward), counted by :class:`torch.utils.flop_counter.FlopCounterMode`
    (convolutions and matrix products; the element-wise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = _pixels(batch, 3)
    out = {}
    for k, (module, log_prob) in models.items():
        module.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            log_prob(x)
        score = fc.get_total_flops() / batch
        module.train()
        with FlopCounterMode(display=False) as fc:
            (-log_prob(x).mean()).backward()
        module.zero_grad(set_to_none=True)
        out[k] = (score, fc.get_total_flops() / batch)
    return out


def conv_peak(repeats=15, batch=256):
    """GFLOP/s of the pass's heaviest convolution in its fastest setting: the coupling
    network's 1x1 convolution (HIDDEN -> HIDDEN channels, about two thirds of the
    arithmetic) at the first level's resolution, channels-last, large batch, no
    gradients. A ceiling for the whole pass, whose other layers run less efficiently."""
    h = SHAPE[1] // 2
    conv = torch.nn.Conv2d(HIDDEN, HIDDEN, 1).to(memory_format=torch.channels_last)
    x = torch.randn(batch, HIDDEN, h, h).to(memory_format=torch.channels_last)
    with torch.no_grad():
        conv(x)
        ts = [_timed(conv, x)[0] for _ in range(repeats)]
    return 2.0 * batch * h * h * HIDDEN * HIDDEN / float(np.median(ts)) / 1e9


def _arithmetic_table(times, batches, flops, ref, target, peak):
    """GFLOP/s each model reaches, and what ``target`` x the reference would need."""
    names = list(flops)
    lines = ["| batch | " + " | ".join(f"{k} (GFLOP/s)" for k in names)
             + f" | {target}x {ref} needs (GFLOP/s) | that / ceiling |",
             "|---|" + "---|" * (len(names) + 2)]
    for b in batches:
        rate = {k: b * flops[k] / float(np.median(times[b][k])) / 1e9 for k in names}
        need = target * rate[ref]
        lines.append(f"| {b} | " + " | ".join(f"{rate[k]:.1f}" for k in names)
                     + f" | {need:.1f} | {need / peak:.2f} |")
    return lines


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

skood's CPU speed-ups (float32): the coupling networks run on channels-last copies of
their inputs, which oneDNN convolves without reordering to and from its blocked
layout, and their ReLUs work in place; the LU 1x1 weight (and its inverse) is cached
in eval mode without gradients until a parameter changes, and the 1x1 mixing is a
matrix product rather than a convolution with a handful of channels; scoring passes
over large batches run in chunks whose coupling activations stay within 8 MiB (in
cache). With `--ablation`, "skood before (no speed-ups)" is the flow code before all
of them and "skood before (channels-last only)" keeps the first two; the values agree
to float32 rounding.
"""


def _median_range(ts, scale):
    v = np.asarray(ts) * scale
    return float(np.median(v)), float(v.min()), float(v.max())


def _table(title, unit, batches, times, names, ref, per_image):
    """One markdown table: a row per batch size, a column per model, then the speed-ups."""
    others = [k for k in names if k != ref]
    head = "| batch | " + " | ".join(f"{k} ({unit})" for k in names) + " | " + \
        " | ".join(f"speed-up: {k}" for k in others) + " |"
    lines = [f"**{title}** (median, min-max in brackets)", "", head,
             "|" + "---|" * (1 + len(names) + len(others))]
    for b in batches:
        cells, med = [], {}
        for k in names:
            if per_image:  # throughput: images/s
                m = float(np.median(times[b][k]))
                med[k] = m
                cells.append(f"{b / m:.0f} ({b / max(times[b][k]):.0f}-{b / min(times[b][k]):.0f})")
            else:
                m, lo, hi = _median_range(times[b][k], 1e3)
                med[k] = m
                cells.append(f"{m:.1f} ({lo:.1f}-{hi:.1f})")
        sp = [f"{med[ref] / med[k]:.2f}x" for k in others]
        lines.append(f"| {b} | " + " | ".join(cells) + " | " + " | ".join(sp) + " |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64, 256],
                        help="scoring batch sizes")
    parser.add_argument("--train-batch-sizes", type=int, nargs="+", default=[16, 64],
                        help="training-step batch sizes")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--ablation", action="store_true",
                        help="also time skood without its CPU speed-ups")
    args = parser.parse_args(argv)
    try:
        import normflows as nf
    except ImportError:
        print("normflows is not installed: skipping the skood vs normflows comparison "
              "(pip install normflows, or the 'bench' extra).")
        return None

    models = {
        "skood (default)": build_skood("conditional"),
        "skood (diagonal split prior)": build_skood("diagonal"),
        "normflows": build_normflows(),
    }
    if args.ablation:
        models = {"skood before (no speed-ups)": build_skood_ablation(level="none"),
                  "skood before (channels-last only)": build_skood_ablation(level="layout"),
                  **models}
    train, score, finite, bpd = compare(models, args.train_batch_sizes, args.batch_sizes,
                                        args.repeats)
    ref = "normflows"
    names = list(models)
    counts = {k: (normflows_param_breakdown if k == ref else skood_param_breakdown)(m)
              for k, (m, _) in models.items()}

    lines = [
        f"Glow {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, L={N_LEVELS} levels x K={N_STEPS} steps, "
        f"{HIDDEN} hidden channels, LU 1x1 conv, affine coupling, float32, CPU; "
        f"torch {torch.__version__}, normflows {getattr(nf, '__version__', '?')}, "
        f"{torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}; "
        f"skood {git_rev()}. Interleaved in one process (the order of the models "
        f"alternates every repeat), {args.repeats} repeats per cell, on a machine shared "
        "with other jobs (contention hits every model alike, the spread in brackets "
        "shows it). Speed-up = normflows time / skood time (> 1: skood faster). "
        "Training step: `-log_prob(x).mean()`, backward, Adam step; scoring: "
        "log-probability in eval mode under `torch.no_grad()`.",
        "",
    ]
    lines += _table("Training step", "ms", args.train_batch_sizes, train, names, ref, False)
    lines += [""]
    lines += _table("Scoring", "images/s", args.batch_sizes, score, names, ref, True)
    lines += ["", "Bits/dim on a fixed batch after the timed training steps (the models "
              "train alike): " + ", ".join(
                  f"{k} {bpd[k]:.2f}{'' if finite[k] else ' (non-finite!)'}"
                  for k in names), ""]
    lines += [
        "Parameters by component:",
        "",
        "| model | coupling nets | 1x1 conv (LU) | ActNorm | priors | total |",
        "|---|---|---|---|---|---|",
    ]
    for k, c in counts.items():
        if k.startswith("skood before"):
            continue
        lines.append(f"| {k} | {c['coupling']:,} | {c['invconv']:,} | {c['actnorm']:,} | "
                     f"{c['prior']:,} | {c['total']:,} |")
    # The ablation rows do the default's arithmetic; the table keeps the compared models.
    flops = flops_per_image({k: v for k, v in models.items()
                             if not k.startswith("skood before")})
    peak = conv_peak(args.repeats)
    lines += [
        "",
        "**Against the arithmetic.** Work per image (convolutions and matrix products, "
        "counted by `torch.utils.flop_counter`): " + ", ".join(
            f"{k} {f[0] / 1e6:.1f} MFLOP scoring, {f[1] / 1e6:.1f} MFLOP a training step"
            for k, f in flops.items())
        + f". Ceiling: the pass's heaviest convolution ({HIDDEN} -> {HIDDEN} channels, 1x1, "
        f"{SHAPE[1] // 2}x{SHAPE[2] // 2}) alone, channels-last, batch 256, no gradients, "
        f"runs at {peak:.1f} GFLOP/s on this core in this run. Both flows do the same "
        "arithmetic, so a speed-up target is a rate of arithmetic the pass must reach; "
        "where that rate is above the ceiling (ratio > 1), no change of the code can "
        "meet the target at this architecture in float32 on this CPU.",
        "",
        "Scoring:",
        "",
    ]
    lines += _arithmetic_table(score, args.batch_sizes, {k: f[0] for k, f in flops.items()},
                               ref, 2.0, peak)
    lines += ["", "Training step:", ""]
    lines += _arithmetic_table(train, args.train_batch_sizes,
                               {k: f[1] for k, f in flops.items()}, ref, 1.5, peak)
    lines += ["", DIFFERENCES]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        cmd = (f"OMP_NUM_THREADS=1 python -m benchmarks.perf_normflows --repeats {args.repeats}"
               f" --batch-sizes {' '.join(map(str, args.batch_sizes))}"
               f" --train-batch-sizes {' '.join(map(str, args.train_batch_sizes))}"
               f"{' --ablation' if args.ablation else ''}")
        (RESULTS / "perf_normflows.md").write_text(
            "# skood vs normflows: Glow speed\n\n" f"`{cmd}`\n\n" + text)
    return dict(train=train, score=score, params=counts)


if __name__ == "__main__":
    main()
