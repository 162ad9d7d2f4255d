"""Results of a benchmark run as a markdown table and a CSV file."""

import csv
from pathlib import Path

from ._runner import GROUP_SIZES

_METRICS = ("auroc", "aupr_in", "aupr_out", "fpr95") + tuple(
    f"group_auroc_m{m}" for m in GROUP_SIZES)


def markdown_table(rows):
    """Format result rows (from :func:`run_task`) as a markdown table.

    Parameters
    ----------
    rows : list of dict
        Result rows; a NaN metric is shown as ``-``.

    Returns
    -------
    str
    """
    groups = " | ".join(f"group M={m}" for m in GROUP_SIZES)
    head = (f"| task | detector | family | AUROC | AUPR-In | AUPR-Out | FPR@95TPR | {groups} | "
            "n test (ID+OOD) | budget | fit (s) |")
    lines = [head, "|" + "---|" * (10 + len(GROUP_SIZES))]
    for r in rows:
        vals = " | ".join("-" if r[c] != r[c] else f"{r[c]:.3f}" for c in _METRICS)
        lines.append(f"| {r['task']} | {r['detector']} | {r['family']} | {vals} | "
                     f"{r['n_test']} | {r['budget']} | {r['fit_s']} |")
    return "\n".join(lines)


def write_results(rows, results_dir, stem, *, footer=""):
    """Write ``<stem>.md`` (markdown table) and ``<stem>.csv`` under ``results_dir``.

    Parameters
    ----------
    rows : list of dict
        Result rows from :func:`run_task`, all with the same keys.
    results_dir : path-like
        Output directory (created).
    stem : str
        File name without extension.
    footer : str, default=""
        Text appended below the markdown table (hardware, total time).

    Returns
    -------
    list of pathlib.Path
        The markdown and CSV paths.
    """
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    md, csv_path = results_dir / f"{stem}.md", results_dir / f"{stem}.csv"
    md.write_text(markdown_table(rows) + (f"\n\n{footer}\n" if footer else "\n"))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [md, csv_path]
