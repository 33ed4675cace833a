"""Plain polars transforms (no Dagster): the assets, the tests and the benchmark call these."""
