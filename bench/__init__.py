"""Benchmarks run by ``make bench`` (``python -m bench``): one ``bench_*.py`` per question."""
