"""skood: scikit-learn-compatible out-of-distribution detection with normalizing flows."""

__version__ = "0.1.0"

from . import density, detectors, flows  # noqa: E402
from .persistence import load, save  # noqa: E402

__all__ = ["density", "detectors", "flows", "load", "save", "__version__"]
