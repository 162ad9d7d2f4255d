"""The data home, where skood reads its real data sets, and helpers shared by the loaders."""

from __future__ import annotations

import os
from pathlib import Path

_ENV_VAR = "SKOOD_DATA"
_SUBSETS = ("train", "test")
#: The default data home, used when neither ``data_home`` nor ``SKOOD_DATA`` is given.
_DEFAULT_DATA_HOME = "~/skood_data"


def _data_home_with_source(data_home=None):
    """Resolve the data home and say where the choice came from.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit data home, see :func:`get_data_home`.

    Returns
    -------
    path : pathlib.Path
        The data home.
    source : str
        A short human-readable description of where ``path`` came from.
    """
    if data_home is not None:
        return Path(data_home).expanduser(), "the data_home argument"
    env = os.environ.get(_ENV_VAR, "")
    if env.strip():
        return Path(env).expanduser(), f"the {_ENV_VAR} environment variable"
    home = Path(_DEFAULT_DATA_HOME).expanduser()
    if home.is_dir():
        return home, "the default location"
    return home, "the default location (which does not exist)"


def get_data_home(data_home=None):
    """Return the folder that holds skood's real data sets.

    The folder is chosen in this order, as scikit-learn chooses its
    ``~/scikit_learn_data``:

    1. the ``data_home`` argument, if it is not None;
    2. the ``SKOOD_DATA`` environment variable, if it is set and non-empty;
    3. ``~/skood_data``, whether it exists or not (it is not created).

    The result does not depend on the current working directory or on where
    skood is installed. Nothing is downloaded: put the files in the data home
    (see :mod:`skood.datasets` for the layout) or point ``SKOOD_DATA`` at a
    copy.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit data home. ``~`` is expanded.

    Returns
    -------
    data_home : pathlib.Path
        The data home. It is not checked for existence.

    Examples
    --------
    >>> from pathlib import Path
    >>> from skood.datasets import get_data_home
    >>> get_data_home("~/my_data") == Path.home() / "my_data"
    True

    Without an argument, ``SKOOD_DATA`` decides, else ``~/skood_data``:

    >>> import os
    >>> os.environ["SKOOD_DATA"] = "/data/skood"  # doctest: +SKIP
    >>> get_data_home()  # doctest: +SKIP
    PosixPath('/data/skood')
    """
    return _data_home_with_source(data_home)[0]


def _missing_files_error(what, paths, data_home, source):
    """Build a FileNotFoundError that says what is missing and how to fix it."""
    listed = ", ".join(str(p) for p in paths)
    return FileNotFoundError(
        f"{what}: expected file(s) not found: {listed}. "
        f"Searched data_home={data_home} (from {source}). skood does not download "
        "data: put the files there, or point skood at your copy with the "
        f"`data_home` argument or the {_ENV_VAR} environment variable."
    )


def _require_files(what, folder, names, data_home):
    """Return the paths of ``names`` in ``<data_home>/<folder>`` or raise."""
    home, source = _data_home_with_source(data_home)
    paths = [home / folder / name for name in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise _missing_files_error(what, missing, home, source)
    return paths


def _check_subset(subset):
    """Raise ValueError unless ``subset`` is 'train' or 'test'."""
    if not isinstance(subset, str) or subset not in _SUBSETS:
        raise ValueError(f"subset must be one of {_SUBSETS}, got {subset!r}.")


def _return(X, y, shape, return_shape):
    """Return ``(X, y)`` or ``(X, y, shape)``."""
    if return_shape:
        return X, y, tuple(int(s) for s in shape)
    return X, y
