"""Alias of ``skood benchmark``: ``python -m benchmarks --quick`` == ``skood benchmark --quick``.

Results go to ``./skood-results`` by default, as for ``skood benchmark``; pass
``--results-dir benchmarks/results`` to update the committed results.
"""

import sys

from skood.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
