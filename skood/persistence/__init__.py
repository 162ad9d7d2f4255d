"""Saving and loading fitted skood estimators without running code on load.

:func:`save` writes one `safetensors <https://huggingface.co/docs/safetensors>`_
file: the estimator's arrays and tensors as named tensors, and its constructor
parameters and fitted attributes as a JSON document in the file's metadata, with
the versions of skood, torch, scikit-learn and the format. :func:`load` reads it
back without unpickling: it only rebuilds classes from a fixed allow-list
(skood's estimators and the few scikit-learn classes they hold), so a file from
an untrusted source cannot execute code. Pickle and joblib still work, and warn
when the skood version that saved a model differs from the one loading it.
"""

from ._format import FORMAT_VERSION, check_versions, load, save, versioned_state

__all__ = ["FORMAT_VERSION", "check_versions", "load", "save", "versioned_state"]
