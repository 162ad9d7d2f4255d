"""On-disk cache of fitted models, keyed by everything that changes a model.

A cached model is reused only when the estimator's class and every parameter
(deep), the training data and skood's own source code are unchanged. A parameter
that is a fitted model wrapped in ``sklearn.frozen.FrozenEstimator`` (the
reference / general flow of a ratio detector) enters by the hash of its fitted
state, weights included, so retraining a general model invalidates every model
trained against it.
"""

import functools
import hashlib
import inspect
import time
import types
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.frozen import FrozenEstimator

import skood

_SCALARS = (str, bytes, int, float, complex, bool, type(None), np.generic)


def _qualname(obj):
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _by_value(obj, _active=None):
    """A picklable stand-in for ``obj`` whose ``joblib.hash`` is reproducible.

    torch pickles tensor storages under their memory addresses, so
    ``joblib.hash`` of a torch model differs between processes (and between a
    model and its reloaded copy). Tensors, modules and optimizers are therefore
    taken as numpy arrays of their values; other objects by their attributes.
    """
    active = set() if _active is None else _active
    if isinstance(obj, _SCALARS) or isinstance(obj, np.ndarray):
        return obj
    if isinstance(obj, torch.Tensor):
        return ("tensor", str(obj.dtype), obj.detach().cpu().numpy())
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    if id(obj) in active:  # a reference cycle: the object is already being described
        return ("cycle", _qualname(obj))
    active.add(id(obj))
    try:
        if isinstance(obj, (torch.nn.Module, torch.optim.Optimizer)):
            return (_qualname(obj), _by_value(obj.state_dict(), active))
        if isinstance(obj, dict):
            items = [(repr(k), _by_value(v, active)) for k, v in obj.items()]
            return (_qualname(obj), sorted(items, key=lambda kv: kv[0]))
        if isinstance(obj, (list, tuple)):
            return (_qualname(obj), [_by_value(v, active) for v in obj])
        if isinstance(obj, (set, frozenset)):
            return (_qualname(obj), sorted(repr(_by_value(v, active)) for v in obj))
        if isinstance(obj, (type, types.ModuleType)) or inspect.isroutine(obj):
            # Code is covered by the source hash; name it, don't walk it.
            return ("code", getattr(obj, "__module__", None),
                    getattr(obj, "__qualname__", getattr(obj, "__name__", None)))
        if isinstance(obj, torch.Generator):
            return ("generator", obj.get_state().numpy())
        if hasattr(obj, "__dict__"):
            return (_qualname(obj), _by_value(vars(obj), active))
        try:  # e.g. numpy's RandomState: pickled by its state
            return (_qualname(obj), joblib.hash(obj))
        except Exception:
            return (_qualname(obj), repr(obj))
    finally:
        active.discard(id(obj))


def model_hash(model):
    """``joblib.hash`` of a fitted model's full state, weights included.

    Reproducible across processes and across a dump / load round trip (torch
    tensors are hashed by value).

    Parameters
    ----------
    model : object
        A fitted estimator, e.g. a :class:`~skood.density.GlowDensity`.

    Returns
    -------
    str
        Hex digest.
    """
    return joblib.hash(_by_value(model))


def _param_token(value):
    if isinstance(value, FrozenEstimator):
        return ("frozen", _qualname(value.estimator), model_hash(value.estimator))
    if isinstance(value, BaseEstimator):
        # Its own parameters appear separately in get_params(deep=True).
        return ("estimator", _qualname(value))
    if isinstance(value, np.ndarray):
        return ("array", joblib.hash(value))
    return ("value", joblib.hash(_by_value(value)))


def source_hash(package_dir=None):
    """Hash of skood's source: every ``*.py`` file under the package directory.

    Files are taken in the order of their relative paths; both the path and the
    contents enter the hash, so adding, renaming or editing a module changes it.

    Parameters
    ----------
    package_dir : path-like, default=None
        Directory to hash; ``None`` is the installed ``skood`` package.

    Returns
    -------
    str
        Hex SHA-256 digest.
    """
    root = Path(package_dir if package_dir is not None else Path(skood.__file__).parent)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@functools.cache
def _running_source_hash():
    # Hashed once per process: the code that runs is the code imported at start,
    # even if files are edited during a long benchmark.
    return source_hash()


def cache_key(estimator, X, *, source=None):
    """Cache key of fitting ``estimator`` on ``X``.

    Parameters
    ----------
    estimator : estimator
        Unfitted estimator; its class and ``get_params(deep=True)`` enter the key.
        Parameters that are ``FrozenEstimator`` enter by :func:`model_hash` of the
        fitted model they wrap, numpy arrays by ``joblib.hash``.
    X : array-like
        Training data, hashed with ``joblib.hash``.
    source : str, default=None
        Hash of the code; ``None`` is :func:`source_hash` of the installed skood
        (computed once per process).

    Returns
    -------
    str
        Hex digest.
    """
    params = estimator.get_params(deep=True)
    return joblib.hash({
        "class": _qualname(estimator),
        "params": sorted((name, _param_token(v)) for name, v in params.items()),
        "data": joblib.hash(np.asarray(X)),
        "source": _running_source_hash() if source is None else source,
    })


def fit_cached(estimator, X, name, *, cache_dir=None, log=print):
    """Fit ``estimator`` on ``X``, or load the same fit from ``cache_dir``.

    Parameters
    ----------
    estimator : estimator
        Unfitted estimator.
    X : array-like
        Training data.
    name : str
        Readable prefix of the cache file (the key follows it).
    cache_dir : path-like, default=None
        Directory of ``.joblib`` files; ``None`` always trains and stores nothing.
    log : callable, default=print

    Returns
    -------
    fitted : estimator
    seconds : float
        Training time (of the original fit, for a cached model).
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{name}-{cache_key(estimator, X)[:16]}.joblib"
        if path.exists():
            fitted, seconds = joblib.load(path)
            log(f"  loaded {name} from {path} (trained in {seconds:.0f} s)")
            return fitted, seconds
    log(f"  training {name} on {X.shape[0]} samples ...")
    t = time.perf_counter()
    fitted = estimator.fit(X)
    seconds = time.perf_counter() - t
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump((fitted, seconds), path)
    log(f"  trained {name} in {seconds:.0f} s")
    return fitted, seconds
