"""Benchmark suite: trade-platform against a naive record-at-a-time pipeline, pandas and DuckDB.

``python -m benchmarks.run`` (``make bench``) generates a landing day with the platform's own
generator, runs every implementation in its own subprocess several times, checks that each one's
outputs agree with the platform's, and writes ``benchmarks/results/<date>.json``.
"""
