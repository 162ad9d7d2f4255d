"""The image OOD benchmark: skood detectors against classical baselines.

Run it from the command line with ``skood benchmark --quick`` (digits 0-4 vs 5-9,
embedded data) or ``skood benchmark --tasks fmnist-mnist ...`` (real data from
``data_home``); see ``skood benchmark --help``. The same steps from Python:

>>> from skood.benchmark import TASKS, classical_detectors, load_task
>>> TASKS[0]
'digits'
>>> task = load_task("digits")
>>> task.input_shape, task.X_train.shape[1]
((1, 8, 8), 64)
>>> list(classical_detectors())[:2]
['IsolationForest', 'LOF (PCA)']
>>> from skood.benchmark import run_task, write_results
>>> rows, scores = run_task(task, quick=True)  # doctest: +SKIP
>>> write_results(rows, "skood-results", "quick")  # doctest: +SKIP
"""

from ._cache import cache_key, fit_cached, model_hash, source_hash
from ._plots import plot_scores
from ._report import markdown_table, write_results
from ._runner import GROUP_SIZES, classical_detectors, glow_params, run_task
from ._tasks import TASKS, load_task

__all__ = [
    "GROUP_SIZES",
    "TASKS",
    "cache_key",
    "classical_detectors",
    "fit_cached",
    "glow_params",
    "load_task",
    "markdown_table",
    "model_hash",
    "plot_scores",
    "run_task",
    "source_hash",
    "write_results",
]
