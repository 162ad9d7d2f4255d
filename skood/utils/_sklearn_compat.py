"""The one place where skood touches scikit-learn's private helpers.

Parameter validation (``_param_validation``) and the ``_fit_context`` decorator
are how scikit-learn's own estimators validate their parameters, and
``get_chunk_n_rows`` is how they size chunks by ``working_memory``, but all three
are private. Importing them here, and nowhere else, keeps a scikit-learn upgrade that
moves them to a single file; CI runs the tests on the oldest supported
scikit-learn and the newest.
"""

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


__all__ = [
    "FlowMethods",
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
    "get_chunk_n_rows",
    "validate_params",
]
