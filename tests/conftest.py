"""Shared test configuration.

skood's data home is the ``data_home`` argument, else ``SKOOD_DATA``, else
``~/skood_data``; it no longer depends on the checkout. The real data of this
project's workspace lives in ``<repo>/../shared/data``, so point ``SKOOD_DATA``
there when it is unset and the folder exists. This runs when pytest imports
this file, before any test module (or ``benchmarks``) reads the data home.
"""

import os
from pathlib import Path

_SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()

if _SHARED_DATA.is_dir():
    os.environ.setdefault("SKOOD_DATA", str(_SHARED_DATA))
