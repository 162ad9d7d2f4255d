"""The image benchmark protocol (moved from ``benchmarks/``)."""
