"""skood benchmark scripts: ADBench (``benchmarks.tabular``), speed and LID studies.

The image benchmark is part of the package (:mod:`skood.benchmark`, run as
``skood benchmark``); ``python -m benchmarks`` is an alias of it.
"""
