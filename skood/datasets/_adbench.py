"""ADBench tabular anomaly-detection sets (``<data_home>/adbench/<k>_<name>.npz``)."""

from __future__ import annotations

import re

import numpy as np

from ._home import _data_home_with_source, _missing_files_error

#: Name of the ADBench folder inside the data home.
ADBENCH_DIR = "adbench"


def _adbench_sort_key(stem):
    """Sort ADBench stems by their numeric prefix, then by name."""
    match = re.match(r"(\d+)_", stem)
    return (int(match.group(1)) if match else float("inf"), stem.lower())


def _strip_number(stem):
    """'6_cardio' -> 'cardio'; names without a numeric prefix are unchanged."""
    return re.sub(r"^\d+_", "", stem)


def list_adbench(data_home=None):
    """List the ADBench data sets in ``<data_home>/adbench``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data home, see :func:`get_data_home`.

    Returns
    -------
    names : list of str
        File stems such as ``"6_cardio"``, sorted by their ADBench number.
        Any of them, with or without the number prefix, can be passed to
        :func:`load_adbench`.

    Raises
    ------
    FileNotFoundError
        If the ``adbench`` folder does not exist.

    Examples
    --------
    Needs ``<data_home>/adbench`` (nothing is downloaded):

    >>> from skood.datasets import list_adbench
    >>> list_adbench()[:3]  # doctest: +SKIP
    ['2_annthyroid', '4_breastw', '6_cardio']
    """
    home, source = _data_home_with_source(data_home)
    folder = home / ADBENCH_DIR
    if not folder.is_dir():
        raise _missing_files_error("ADBench", [folder / "*.npz"], home, source)
    stems = [p.stem for p in folder.glob("*.npz") if p.is_file()]
    return sorted(stems, key=_adbench_sort_key)


def load_adbench(name, *, data_home=None):
    """Load one ADBench tabular anomaly-detection data set.

    Reads ``<data_home>/adbench/<name>.npz`` with arrays ``X`` and ``y``.
    ``name`` may be given with or without ``.npz`` and with or without the
    ADBench number prefix, case-insensitively: ``"cardio"``, ``"6_cardio"``
    and ``"6_cardio.npz"`` all load ``6_cardio.npz``.

    The labels follow the ADBench / PyOD convention, **1 = anomaly, 0 =
    normal**. skood's metrics expect scikit-learn's outlier convention
    (+1 inlier, -1 outlier); convert with ``skood.metrics.from_pyod(scores, y)`` or pass ``outlier_label=1`` to the metrics.

    Parameters
    ----------
    name : str
        Data set name, see :func:`list_adbench`.
    data_home : str or path-like, default=None
        Data home, see :func:`get_data_home`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        Features, unscaled, exactly as stored.
    y : ndarray of shape (n_samples,), dtype int64
        1 for anomalies, 0 for normal samples.

    Raises
    ------
    FileNotFoundError
        If no file matches; the message names the expected path, the data home
        and the available names.
    ValueError
        If the name is ambiguous or the file does not hold valid ``X``/``y``.

    Examples
    --------
    Needs ``<data_home>/adbench`` (nothing is downloaded):

    >>> from skood.datasets import load_adbench
    >>> X, y = load_adbench("cardio")  # doctest: +SKIP
    >>> X.shape, int(y.sum())  # doctest: +SKIP
    ((1831, 21), 176)
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}.")
    stem = name.strip()
    if stem.lower().endswith(".npz"):
        stem = stem[:-4]
    home, source = _data_home_with_source(data_home)
    folder = home / ADBENCH_DIR
    path = folder / f"{stem}.npz"
    if not path.is_file():
        available = list_adbench(data_home=home) if folder.is_dir() else []
        matches = [s for s in available if s.lower() == stem.lower()]
        if not matches:
            wanted = _strip_number(stem).lower()
            matches = [s for s in available if _strip_number(s).lower() == wanted]
        if len(matches) > 1:
            raise ValueError(f"ADBench name {name!r} is ambiguous: matches {matches}.")
        if not matches:
            err = _missing_files_error("ADBench", [path], home, source)
            if available:
                err.args = (err.args[0] + f" Available: {', '.join(available)}.",)
            raise err
        path = folder / f"{matches[0]}.npz"
    with np.load(path, allow_pickle=False) as data:
        if "X" not in data.files or "y" not in data.files:
            raise ValueError(f"{path}: expected arrays 'X' and 'y', found {data.files}.")
        X = np.asarray(data["X"], dtype=np.float64)
        y_raw = np.asarray(data["y"])
    if X.ndim != 2 or y_raw.ndim != 1 or X.shape[0] != y_raw.shape[0]:
        raise ValueError(
            f"{path}: X must be 2-D and y 1-D of the same length, got X {X.shape}, "
            f"y {y_raw.shape}."
        )
    if not np.all(np.isin(y_raw, (0, 1))):
        raise ValueError(f"{path}: y must hold 0 (normal) and 1 (anomaly) only.")
    return X, y_raw.astype(np.int64)
