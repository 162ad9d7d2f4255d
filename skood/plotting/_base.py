"""Shared helpers of the Display objects: the lazy matplotlib import and axes."""


def check_matplotlib(caller):
    """Import ``matplotlib.pyplot`` or raise an ``ImportError`` naming the ``plot`` extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is installed in the tests
        raise ImportError(
            f"{caller} needs matplotlib, an optional dependency of skood: "
            f"pip install 'skood[plot]' (or pip install matplotlib)."
        ) from exc
    return plt


def get_axes(ax, caller):
    """``ax`` or a new figure's axes; returns ``(ax, figure)``."""
    plt = check_matplotlib(caller)
    if ax is None:
        _, ax = plt.subplots()
    return ax, ax.figure


def family_of(estimator):
    """``"skood"`` for skood's estimators (and pipelines ending in one), else ``"classical"``."""
    steps = getattr(estimator, "steps", None)
    if steps:
        return family_of(steps[-1][1])
    inner = getattr(estimator, "estimator", None)  # FrozenEstimator
    module = type(estimator).__module__ or ""
    if module.startswith("skood.") and "frozen" not in module:
        return "skood"
    return family_of(inner) if inner is not None and inner is not estimator else "classical"


def normality(estimator, X):
    """Point-wise normality: ``score_samples``, else ``decision_function``."""
    import numpy as np

    for method in ("score_samples", "decision_function"):
        if hasattr(estimator, method):
            return np.asarray(getattr(estimator, method)(X), dtype=np.float64).ravel()
    raise TypeError(f"{type(estimator).__name__} has neither score_samples nor "
                    f"decision_function.")
