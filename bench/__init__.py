"""Benchmarks: `make bench` (or `python -m bench`) runs every bench_*.py and prints figures with goals."""
