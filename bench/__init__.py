"""flowplane benchmarks: `python -m bench.run` (see bench/run.py) writes BENCHMARKS.md."""
