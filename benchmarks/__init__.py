"""Benchmarks of igny8_logging against the standard library and the usual alternatives.

Run ``python -m benchmarks`` (or ``python benchmarks/run.py``) from the repository
root; ``--quick`` runs a small version that CI uses to keep the benchmark working.
Everything is measured in one process with interleaved rounds; the tables show
medians and ratios, and every record written is counted afterwards.
"""
