"""The skood file format: tensors in safetensors, everything else in JSON metadata.

An estimator is encoded as a tree of tagged JSON nodes (every JSON object carries
exactly one tag, so no plain value can be mistaken for one):

- ``{"__estimator__": name, "params": ..., "state": ...}``: an allow-listed
  estimator, its ``get_params(deep=False)`` and the rest of its ``__dict__``
  (fitted attributes); a flow density's skorch net is ``{"__net__": ...}``, the
  module's ``state_dict`` by reference;
- ``{"__refit__": name, "params": ..., "X": ...}``: a scikit-learn neighbours
  model (its tree is not data), rebuilt by fitting on its stored training rows;
- ``{"__array__": key}`` / ``{"__tensor__": key}``: a NumPy array / torch tensor
  stored under ``key`` in the safetensors part;
- tuples, dicts (any keys), strings arrays, NumPy scalars, non-finite floats,
  torch devices and dtypes, ``RandomState`` instances, skorch histories.

Loading looks classes up by name in :data:`_ALLOWED` only: there is no import by
name, no ``eval`` and no unpickling.
"""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.frozen import FrozenEstimator
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity, NearestNeighbors
from sklearn.preprocessing import RobustScaler, StandardScaler
from sklearn.svm import OneClassSVM
from sklearn.tree import ExtraTreeRegressor
from skorch.history import History

from ..exceptions import InconsistentVersionWarning
from ..utils._rng import PrivateRNG
from ..utils._sklearn_compat import is_tree, tree_from_state, tree_state

#: Version of the file layout; :func:`load` refuses files from a newer one.
FORMAT_VERSION = 1
_MAGIC = "skood"
_META_KEY = "skood"


def _allowed():
    from .. import __version__  # noqa: F401  (package initialised)
    from ..density import DiffusionDensity, GlowDensity, TabularFlowDensity
    from ..detectors import (
        DensityOfStatesDetector,
        InputComplexityDetector,
        KLDivergenceDetector,
        LastScaleDetector,
        LIDLikelihoodDetector,
        LikelihoodDetector,
        LikelihoodRatioDetector,
        TypicalityDetector,
    )
    from ..detectors._robust_gaussian import RobustGaussian
    from ..detectors.likelihood_ratio import OutlierLoss
    from ..statistics import DiffusionStatistics, FlowStatistics

    skood = {
        "skood.density": [DiffusionDensity, GlowDensity, TabularFlowDensity],
        "skood.detectors": [
            DensityOfStatesDetector, InputComplexityDetector, KLDivergenceDetector,
            LastScaleDetector, LIDLikelihoodDetector, LikelihoodDetector,
            LikelihoodRatioDetector, TypicalityDetector,
        ],
        "skood.detectors._robust_gaussian": [RobustGaussian],
        "skood.detectors.likelihood_ratio": [OutlierLoss],
        "skood.statistics": [DiffusionStatistics, FlowStatistics],
        "sklearn.ensemble": [IsolationForest],
        "sklearn.frozen": [FrozenEstimator],
        "sklearn.mixture": [GaussianMixture],
        "sklearn.preprocessing": [RobustScaler, StandardScaler],
        "sklearn.svm": [OneClassSVM],
        "sklearn.neighbors": [KernelDensity, NearestNeighbors],
        "sklearn.tree": [ExtraTreeRegressor],
    }
    try:  # meta-detectors
        from ..conformal import ConformalDetector
        from ..model_selection import TunedThresholdDetectorCV
    except ImportError:  # pragma: no cover - an installation without them
        pass
    else:
        skood["skood.conformal"] = [ConformalDetector]
        skood["skood.model_selection"] = [TunedThresholdDetectorCV]
    return {f"{where}.{cls.__name__}": cls for where, classes in skood.items() for cls in classes}


_ALLOWED_CACHE = {}


def _allowed_classes():
    if not _ALLOWED_CACHE:
        _ALLOWED_CACHE.update(_allowed())
    return _ALLOWED_CACHE


def _name_of(cls):
    for name, allowed in _allowed_classes().items():
        if allowed is cls:
            return name
    return None


def _lookup(name):
    cls = _allowed_classes().get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"Refusing to load: the file asks for class {name!r}, which is not one of the "
            "classes a skood file may hold (skood's estimators and the scikit-learn "
            "models they use). The file was not written by skood.save or was altered."
        )
    return cls


def _versions():
    import skorch

    from .. import __version__

    return {"skood": __version__, "torch": torch.__version__.split("+")[0],
            "scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "skorch": skorch.__version__}


# -- encoding --------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.tensors = {}

    def _store(self, tensor):
        key = f"t{len(self.tensors)}"
        # CPU copies: a model saved from CUDA loads anywhere; own memory: safetensors
        # refuses tensors that share storage.
        self.tensors[key] = tensor.detach().to("cpu").clone().contiguous()
        return key

    def value(self, v, where):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, np.generic):
            if isinstance(v, (np.bool_, np.number)):
                return {"__scalar__": v.dtype.str, "value": self.value(v.item(), where)}
            raise TypeError(f"Cannot save {where}: NumPy scalar of dtype {v.dtype}.")
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else {"__float__": repr(v)}
        if isinstance(v, np.ndarray):
            return self.array(v, where)
        if isinstance(v, torch.Tensor):
            return {"__tensor__": self._store(v)}
        if isinstance(v, torch.device):
            return {"__device__": str(v)}
        if isinstance(v, torch.dtype):
            return {"__torch_dtype__": str(v).replace("torch.", "")}
        if isinstance(v, History):
            return {"__history__": self.value(list(v), where)}
        if isinstance(v, tuple):
            return {"__tuple__": [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, dict):
            return {"__dict__": [[self.value(k, where), self.value(x, f"{where}[{k!r}]")]
                                 for k, x in v.items()]}
        if isinstance(v, np.random.RandomState):
            return {"__random_state__": self.value(v.get_state(), where)}
        if is_tree(v):  # an isolation forest's trees: their nodes as arrays
            return {"__tree__": self.value(tree_state(v), where)}
        if isinstance(v, BaseEstimator) or _name_of(type(v)) is not None:
            return self.estimator(v, where)
        raise TypeError(
            f"Cannot save {where}: a {type(v).__module__}.{type(v).__qualname__} is not "
            "one of the values a skood file holds (numbers, strings, arrays, tensors, "
            "containers of them and skood's estimators). Functions and custom objects "
            "(e.g. an auxiliary_loss) need pickle or joblib, which run code on load."
        )

    def array(self, a, where):
        if a.dtype == object or a.dtype.kind in "US":
            items = a.ravel().tolist()
            if not all(isinstance(x, str) for x in items):
                raise TypeError(f"Cannot save {where}: an object array that is not strings.")
            return {"__strings__": items, "shape": list(a.shape),
                    "dtype": "object" if a.dtype == object else a.dtype.str}
        if a.dtype.kind not in "biuf" or a.dtype.byteorder == ">":
            raise TypeError(f"Cannot save {where}: arrays of dtype {a.dtype} are not supported.")
        return {"__array__": self._store(torch.from_numpy(np.ascontiguousarray(a)))}

    def estimator(self, est, where):
        cls = type(est)
        name = _name_of(cls)
        if name is None:
            raise TypeError(
                f"Cannot save {where}: {cls.__module__}.{cls.__qualname__} is not a class a "
                "skood file can hold (skood's estimators and the scikit-learn models they use)."
            )
        if isinstance(est, (NearestNeighbors, KernelDensity)):
            return self.refit(est, name, where)
        if not isinstance(est, BaseEstimator):  # a plain allow-listed object
            return {"__object__": name, "state": self.value(dict(vars(est)), where)}
        params = est.get_params(deep=False)
        state = {k: v for k, v in vars(est).items() if k not in params and k != "net_"}
        node = {"__estimator__": name,
                "params": self.value(params, f"{where}.params"),
                "state": self.value(state, where)}
        if "net_" in vars(est):
            module = est.net_.module_
            node["net"] = {"__net__": self.value(dict(module.state_dict()), f"{where}.net_")}
        return node

    def refit(self, est, name, where):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(est)
        if isinstance(est, NearestNeighbors):
            X, weight = est._fit_X, None
        else:
            X, weight = np.asarray(est.tree_.data), est.tree_.sample_weight
            weight = None if weight is None else np.asarray(weight)
        return {"__refit__": name, "params": self.value(est.get_params(deep=False), where),
                "X": self.array(np.asarray(X), where),
                "sample_weight": None if weight is None else self.array(weight, where)}


def save(estimator, path):
    """Save a skood estimator (fitted or not) to a file that loading cannot run code from.

    The file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file:
    the estimator's arrays and tensors (copied to the CPU) under generated names,
    and, in its metadata, a JSON document with the estimator's class, constructor
    parameters and fitted attributes (nested estimators, e.g. a flow in a
    :class:`~sklearn.frozen.FrozenEstimator` or a detector's reference model,
    recursively) and the versions of skood, torch, scikit-learn and the format.
    A flow density's skorch net is stored as its torch module's ``state_dict`` and
    rebuilt from the density's parameters on :func:`load`; its optimizer state is
    not kept (``fit`` starts a new training anyway).

    Parameters
    ----------
    estimator : skood estimator
        A density (:class:`~skood.density.GlowDensity`,
        :class:`~skood.density.TabularFlowDensity`), detector, or
        :class:`~skood.statistics.FlowStatistics`, or a
        :class:`~sklearn.frozen.FrozenEstimator` of one.
    path : str or path-like
        File to write (conventionally ``*.skood``).

    Raises
    ------
    TypeError
        If the estimator holds a value the format cannot represent (e.g. a Python
        function as ``auxiliary_loss``); pickle such a model instead.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> import skood
    >>> from skood.density import TabularFlowDensity
    >>> X = np.random.RandomState(0).normal(size=(100, 3))
    >>> flow = TabularFlowDensity(n_layers=2, max_epochs=2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "flow.skood")
    >>> skood.save(flow, path)
    >>> loaded = skood.load(path)
    >>> bool(np.array_equal(loaded.score_samples(X), flow.score_samples(X)))
    True
    """
    encoder = _Encoder()
    tree = encoder.value(estimator, type(estimator).__name__)
    document = {"format": _MAGIC, "format_version": FORMAT_VERSION,
                "versions": _versions(), "estimator": tree}
    save_file(encoder.tensors, str(Path(path)),
              metadata={_META_KEY: json.dumps(document, allow_nan=False)})


# -- decoding --------------------------------------------------------------------------
_TAGS = ("__estimator__", "__refit__", "__object__", "__array__", "__tensor__", "__strings__",
         "__scalar__", "__float__", "__tuple__", "__dict__", "__device__", "__torch_dtype__",
         "__history__", "__random_state__", "__net__", "__tree__")


class _Decoder:
    def __init__(self, handle):
        self.handle = handle
        self.keys = set(handle.keys())

    def tensor(self, key):
        if key not in self.keys:
            raise ValueError(f"Corrupt skood file: tensor {key!r} is referenced but missing.")
        return self.handle.get_tensor(key)

    def value(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.value(x) for x in node]
        if not isinstance(node, dict) or not node or next(iter(node)) not in _TAGS:
            raise ValueError(f"Corrupt skood file: unexpected node {str(node)[:80]!r}.")
        tag = next(iter(node))
        body = node[tag]
        if tag == "__array__":
            return self.tensor(body).numpy()
        if tag == "__tensor__":
            return self.tensor(body)
        if tag == "__strings__":
            dtype = object if node["dtype"] == "object" else np.dtype(node["dtype"])
            out = np.empty(len(body), dtype=dtype)
            out[:] = [str(x) for x in body]
            return out.reshape([int(s) for s in node["shape"]])
        if tag == "__scalar__":
            dtype = np.dtype(body)
            if dtype.kind not in "biuf":
                raise ValueError(f"Corrupt skood file: scalar dtype {body!r}.")
            return dtype.type(self.value(node["value"]))
        if tag == "__float__":
            if body not in ("nan", "inf", "-inf"):
                raise ValueError(f"Corrupt skood file: float {body!r}.")
            return float(body)
        if tag == "__tuple__":
            return tuple(self.value(x) for x in body)
        if tag == "__dict__":
            return {_hashable(self.value(k)): self.value(v) for k, v in body}
        if tag == "__device__":
            return torch.device(str(body))
        if tag == "__torch_dtype__":
            dtype = getattr(torch, str(body), None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"Corrupt skood file: torch dtype {body!r}.")
            return dtype
        if tag == "__history__":
            return History(self.value(body))
        if tag == "__random_state__":
            rng = np.random.RandomState()
            rng.set_state(self.value(body))
            return rng
        if tag == "__tree__":
            state = self.value(body)
            if not isinstance(state, dict):
                raise ValueError("Corrupt skood file: a decision tree is malformed.")
            return tree_from_state(state)
        if tag == "__refit__":
            cls = _lookup(body)
            est = cls(**self.value(node["params"]))
            weight = self.value(node.get("sample_weight"))
            X = self.value(node["X"])
            return est.fit(X) if weight is None else est.fit(X, sample_weight=weight)
        if tag == "__object__":
            cls = _lookup(body)
            obj = cls.__new__(cls)
            obj.__dict__.update(self.value(node["state"]))
            return obj
        if tag == "__estimator__":
            return self.estimator(node)
        raise ValueError(f"Corrupt skood file: {tag} out of place.")

    def estimator(self, node):
        cls = _lookup(node["__estimator__"])
        est = cls(**self.value(node["params"]))
        state = self.value(node["state"])
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise ValueError("Corrupt skood file: an estimator's state is not a mapping.")
        est.__dict__.update(state)
        if "net" in node:
            net = node["net"]
            if not isinstance(net, dict) or "__net__" not in net:
                raise ValueError("Corrupt skood file: a density's net is malformed.")
            _rebuild_net(est, self.value(net["__net__"]))
        return est


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def _rebuild_net(density, state_dict):
    device = getattr(density, "device_", torch.device("cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            "This model was fitted on CUDA, which is not available: loading it on the CPU.",
            UserWarning,
        )
        density.device_ = torch.device("cpu")
    placeholder = np.zeros((2, density.n_features_in_))
    # Building the module draws random initial weights (replaced by the saved ones):
    # from a private stream, so the caller's global RNG is neither read nor advanced.
    with PrivateRNG(0):
        net = density._make_net(placeholder, 0).initialize()
    net.module_.load_state_dict(state_dict)
    if getattr(density, "history_", None) is not None:
        net.history = density.history_
    density.net_ = net


def load(path):
    """Load an estimator written by :func:`save`; never unpickles or runs code from the file.

    Only classes from a fixed allow-list are rebuilt (skood's estimators, and
    scikit-learn's ``FrozenEstimator``, ``GaussianMixture``, ``StandardScaler``,
    ``RobustScaler``,
    ``NearestNeighbors``, ``KernelDensity``, ``OneClassSVM`` and ``IsolationForest``);
    any other class
    name, a file that is not a skood file (e.g. a pickle) or a file from a newer
    format is refused with a ``ValueError``. A file written by other versions of
    skood, torch or scikit-learn loads with an
    :class:`~skood.exceptions.InconsistentVersionWarning`. Tensors load on the CPU;
    a model fitted on CUDA is moved back there when CUDA is available, else it
    stays on the CPU with a warning.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator
        Scores are bit-identical to those of the saved estimator on the same
        device and library versions.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> import skood
    >>> from skood.detectors import LikelihoodDetector
    >>> X = np.random.RandomState(0).normal(size=(100, 3))
    >>> det = LikelihoodDetector(random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "detector.skood")
    >>> skood.save(det, path)
    >>> bool(np.array_equal(skood.load(path).predict(X), det.predict(X)))
    True
    """
    path = str(Path(path))
    try:
        handle_cm = safe_open(path, framework="pt", device="cpu")
        handle = handle_cm.__enter__()
    except FileNotFoundError:
        raise
    except Exception as exc:  # safetensors raises its own error types on bad headers
        raise ValueError(
            f"{path} is not a skood file (its safetensors header cannot be read: {exc}). "
            "skood.load never unpickles: load pickle or joblib files only from sources "
            "you trust, with joblib.load."
        ) from None
    try:
        raw = (handle.metadata() or {}).get(_META_KEY)
        if raw is None:
            raise ValueError(f"{path} is a safetensors file but not a skood file.")
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Corrupt skood file {path}: {exc}.") from None
        if not isinstance(document, dict) or document.get("format") != _MAGIC:
            raise ValueError(f"{path} is a safetensors file but not a skood file.")
        version = document.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"Corrupt skood file {path}: no format version.")
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{path} was written in skood file format {version}, newer than this "
                f"skood reads ({FORMAT_VERSION}). Upgrade skood to load it."
            )
        versions = document.get("versions")
        if not isinstance(versions, dict):
            raise ValueError(f"Corrupt skood file {path}: no versions recorded.")
        check_versions(versions)
        return _Decoder(handle).value(document["estimator"])
    finally:
        handle_cm.__exit__(None, None, None)


def versioned_state(state, *, saving):
    """Pickle support: an estimator's ``__getstate__`` dict with the versions of skood,
    torch and scikit-learn recorded (``saving=True``), or, on unpickling, with them
    removed after :func:`check_versions` warned about any difference.

    Examples
    --------
    >>> from skood.persistence import versioned_state
    >>> state = versioned_state({"a": 1}, saving=True)
    >>> sorted(state)
    ['_skood_versions', 'a']
    >>> versioned_state(state, saving=False)
    {'a': 1}
    """
    state = dict(state)
    if saving:
        versions = _versions()
        state["_skood_versions"] = {lib: versions[lib]
                                    for lib in ("skood", "torch", "scikit-learn")}
        return state
    saved = state.pop("_skood_versions", None)
    if isinstance(saved, dict):
        check_versions(saved)
    return state


def check_versions(saved, libraries=("skood", "torch", "scikit-learn")):
    """Warn (:class:`~skood.exceptions.InconsistentVersionWarning`) when ``saved``
    (library -> version) differs from the versions now installed."""
    current = _versions()
    differ = [lib for lib in libraries if lib in saved and saved[lib] != current[lib]]
    if differ:
        warnings.warn(InconsistentVersionWarning(
            "This model was saved with "
            + ", ".join(f"{lib} {saved[lib]} (now {current[lib]})" for lib in differ)
            + ". It loads, but scores may differ; refit or re-validate it with the current "
            "versions.",
            saved={lib: saved[lib] for lib in differ},
            current={lib: current[lib] for lib in differ},
        ), stacklevel=3)
