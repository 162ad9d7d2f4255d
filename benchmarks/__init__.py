"""skood benchmarks: ``python -m benchmarks --quick`` (digits, minutes) or full image pairs."""
