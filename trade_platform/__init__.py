"""trade-platform: a Dagster-based, daily-partitioned pipeline for trade data."""

__version__ = "0.1.0"
