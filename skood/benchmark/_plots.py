"""ROC curves and score histograms of one benchmark task (PNG; needs matplotlib)."""

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
    from sklearn.metrics import roc_curve

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = task_name.replace("@", "_")
    fig, ax = plt.subplots(figsize=(6.5, 6))
    skood_names = [name for name, (*_, family) in scores.items() if family == "skood"]
    for i, (name, (s_id, s_ood, _)) in enumerate(scores.items()):
        y = np.r_[np.ones(len(s_id)), np.zeros(len(s_ood))]
        fpr, tpr, _ = roc_curve(y, np.nan_to_num(np.r_[s_id, s_ood], neginf=-1e300))
        ax.plot(fpr, tpr, lw=1.2, label=name, color=plt.cm.tab20(i % 20),
                ls="-" if name in skood_names else "--")
    ax.plot([0, 1], [0, 1], c="grey", lw=0.5)
    ax.set(xlabel="FPR (OOD accepted)", ylabel="TPR (ID accepted)", title=f"{task_name}: ROC")
    ax.legend(fontsize=7, loc="lower right")
    roc_path = out_dir / f"{stem}-roc.png"
    fig.savefig(roc_path, dpi=110, bbox_inches="tight")
    plt.close(fig)

    names = skood_names
    cols = 4
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        s_id, s_ood, _ = scores[name]
        both = np.r_[s_id, s_ood]
        both = both[np.isfinite(both)]
        lo, hi = np.percentile(both, [0.5, 99.5])
        bins = np.linspace(lo, hi, 40)
        ax.hist(np.clip(s_id, lo, hi), bins, alpha=0.6, density=True, label="ID")
        ax.hist(np.clip(s_ood, lo, hi), bins, alpha=0.6, density=True, label="OOD")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{task_name}: normality scores, ID vs OOD", fontsize=10)
    fig.tight_layout()
    hist_path = out_dir / f"{stem}-hist.png"
    fig.savefig(hist_path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [roc_path, hist_path]

