"""ROC curves and score histograms of one benchmark task (PNG; needs matplotlib).

Drawn with :mod:`skood.plotting`'s displays.
"""

from pathlib import Path

import numpy as np


def plot_scores(task_name, scores, out_dir):
    """ROC curves of every detector and ID-vs-OOD score histograms.

    Parameters
    ----------
    task_name : str
        Task name, used in titles and file names (``@`` becomes ``_``).
    scores : dict
        ``{detector: (scores_id, scores_ood, family)}`` as returned by
        :func:`run_task`; histograms are drawn for the ``"skood"`` family.
    out_dir : path-like
        Directory for ``<task>-roc.png`` and ``<task>-hist.png`` (created).

    Returns
    -------
    list of pathlib.Path
        The written files; empty when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from skood.plotting import ROCCurvesDisplay, ScoreHistogramDisplay

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = task_name.replace("@", "_")
    fig, ax = plt.subplots(figsize=(6.5, 6))
    ROCCurvesDisplay.from_predictions(scores, ax=ax, title=f"{task_name}: ROC")
    roc_path = out_dir / f"{stem}-roc.png"
    fig.savefig(roc_path, dpi=110, bbox_inches="tight")
    plt.close(fig)

    names = [name for name, (*_, family) in scores.items() if family == "skood"]
    cols = 4
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for i, (ax, name) in enumerate(zip(axes.ravel(), names)):
        s_id, s_ood, _ = scores[name]
        ScoreHistogramDisplay.from_predictions(s_id, s_ood, name=name, ax=ax, legend=i == 0)
        ax.set_xlabel("")
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.suptitle(f"{task_name}: normality scores, ID vs OOD", fontsize=10)
    fig.tight_layout()
    hist_path = out_dir / f"{stem}-hist.png"
    fig.savefig(hist_path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [roc_path, hist_path]
