"""The one place where skood touches scikit-learn's private helpers.

Parameter validation (``_param_validation``) and the ``_fit_context`` decorator
are how scikit-learn's own estimators validate their parameters, and
``get_chunk_n_rows`` is how they size chunks by ``working_memory``, but all three
are private. Importing them here, and nowhere else, keeps a scikit-learn upgrade that
moves them to a single file; CI runs the tests on the oldest supported
scikit-learn and the newest. So does the state of a fitted decision tree (its
pickle state, which :func:`skood.save` stores without pickle).
"""

from functools import lru_cache

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import (
    HasMethods,
    InvalidParameterError,
    StrOptions,
    validate_params,
)
from sklearn.utils._param_validation import Interval as _Interval


class Interval(_Interval):
    """scikit-learn's numeric interval constraint, without booleans.

    ``bool`` is an ``int`` in Python, so scikit-learn's ``Interval(Integral, 1, None)``
    accepts ``max_epochs=True``; skood's numeric parameters reject ``True``/``False``.
    """

    def is_satisfied_by(self, val):
        if isinstance(val, (bool, np.bool_)):
            return False
        return super().is_satisfied_by(val)


class FlowMethods(HasMethods):
    """``HasMethods(["fit", "flow_pass"])`` for methods that read a normalizing flow's
    scales or latents; its message says so, and which detectors take a diffusion model
    (which has no ``flow_pass``)."""

    def __init__(self):
        super().__init__(["fit", "flow_pass"])

    def __str__(self):
        return (
            "a normalizing-flow density estimator (an object implementing 'fit' and "
            "'flow_pass': this method reads a flow's scales or latents, which a diffusion "
            "model does not have; LikelihoodDetector, LIDLikelihoodDetector, "
            "TypicalityDetector, InputComplexityDetector, LikelihoodRatioDetector and "
            "DensityOfStatesDetector accept a DiffusionDensity)"
        )


@lru_cache(maxsize=1)
def _reference_tree():
    """A fitted tree: the class and node layout of this scikit-learn's trees."""
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor(random_state=0).fit([[0.0], [1.0]], [0.0, 1.0]).tree_


def is_tree(value):
    """Whether ``value`` is a fitted tree structure (a tree estimator's ``tree_``)."""
    return type(value) is type(_reference_tree())


def tree_state(tree):
    """A fitted tree's structure as plain numbers and arrays (its pickle state,
    with the node records split into one array per field)."""
    _, (n_features, n_classes, n_outputs), state = tree.__reduce__()
    nodes = state["nodes"]
    return {"n_features": int(n_features), "n_classes": np.asarray(n_classes, dtype=np.int64),
            "n_outputs": int(n_outputs), "max_depth": int(state["max_depth"]),
            "node_count": int(state["node_count"]),
            "nodes": {name: np.ascontiguousarray(nodes[name]) for name in nodes.dtype.names},
            "values": np.asarray(state["values"])}


def tree_from_state(state):
    """The tree that :func:`tree_state` describes; ``ValueError`` if its node fields
    are not this scikit-learn's."""
    ref = _reference_tree()
    dtype = ref.__reduce__()[2]["nodes"].dtype
    fields = state["nodes"]
    if not isinstance(fields, dict) or set(fields) != set(dtype.names):
        raise ValueError(
            f"A saved decision tree has node fields {sorted(fields)}; this scikit-learn's "
            f"trees have {sorted(dtype.names)}. Load it with the scikit-learn that saved it."
        )
    nodes = np.zeros(int(state["node_count"]), dtype=dtype)
    for name in dtype.names:
        nodes[name] = fields[name]
    tree = type(ref)(int(state["n_features"]), np.asarray(state["n_classes"], dtype=np.intp),
                     int(state["n_outputs"]))
    tree.__setstate__({"max_depth": int(state["max_depth"]),
                       "node_count": int(state["node_count"]), "nodes": nodes,
                       "values": np.ascontiguousarray(state["values"], dtype=np.float64)})
    return tree


__all__ = [
    "FlowMethods",
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
    "get_chunk_n_rows",
    "is_tree",
    "tree_from_state",
    "tree_state",
    "validate_params",
]
