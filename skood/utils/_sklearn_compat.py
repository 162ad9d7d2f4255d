"""The one place where skood touches scikit-learn's private helpers.

Parameter validation (``_param_validation``) and the ``_fit_context`` decorator
are how scikit-learn's own estimators validate their parameters, and
``get_chunk_n_rows`` is how they size chunks by ``working_memory``, but all three
are private. Importing them here, and nowhere else, keeps a scikit-learn upgrade that
moves them to a single file; CI runs the tests on the oldest supported
scikit-learn and the newest.
"""

from sklearn.base import _fit_context
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_params,
)

__all__ = [
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
    "get_chunk_n_rows",
    "validate_params",
]
