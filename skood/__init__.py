"""skood: scikit-learn-compatible out-of-distribution detection with normalizing flows."""

__version__ = "0.1.0"

from . import density, detectors, flows  # noqa: E402
# Fast to import (a few ms; plotting imports matplotlib only when it draws).
from . import conformal, model_selection, parallel, plotting  # noqa: E402
from .persistence import load, save  # noqa: E402

__all__ = ["conformal", "density", "detectors", "flows", "model_selection", "parallel", "plotting", "load", "save", "__version__"]
