"""The platform's dbt project (``trade_platform/dbt_project/``) and the DuckDB database one run of
it uses: the run's days of the sources go in as tables, dbt builds the models (and keeps its
tests' failing rows) next to them, and the tables come out as frames. No Dagster here
(``defs/analytics`` runs dbt).

The database is a file of the run's scratch folder, so nothing is shared between runs and a range
of days is held on disk, not in memory; DuckDB is told never to fetch an extension: the lake is
read by the platform's own reader, not DuckDB's, or, in a Parquet lake on local disk, by DuckDB
from the lake's own files. Each source is a view of the ``lake`` schema over Parquet files: a
model reads only the columns it names, and a day's rows are not copied into DuckDB's storage
(for a million trades that took several times as long as the models).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from trade_platform.core import names

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
PROFILE = "trade_platform"
SOURCE_SCHEMA = "lake"
"""The schema of the sources (``models/sources.yml``); the models are built in ``main``."""
DATABASE = "run.duckdb"
"""The run's database file. dbt-duckdb names the database after the file's stem and the manifest
records it in every relation, so ``profiles.yml`` (the manifest's) names the same file."""
SOURCES = (names.VALIDATED_TRADES, names.TRADES_DLQ, names.DAILY_VOLUME)
"""The platform's assets the project reads, each loaded for the run's day."""
DUCKDB_SETTINGS = {
    # One thread: DuckDB then adds a group's floats in one order, so a re-run writes the same
    # bytes (as ``core.marts.sum_in_order`` does for polars).
    "threads": 1,
    "TimeZone": "UTC",
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
}


def model_names(project_dir: Path = PROJECT_DIR) -> tuple[str, ...]:
    """The project's models, one per ``.sql`` file under ``models/``: each is a lake table."""
    return tuple(sorted(path.stem for path in (project_dir / "models").rglob("*.sql")))


def write_profile(directory: Path, database: Path) -> Path:
    """A ``profiles.yml`` in ``directory`` pointing dbt at ``database``; returns ``directory``."""
    settings = "".join(f"        {key}: {_yaml(value)}\n" for key, value in DUCKDB_SETTINGS.items())
    (directory / "profiles.yml").write_text(
        f"{PROFILE}:\n  target: run\n  outputs:\n    run:\n      type: duckdb\n"
        f"      path: {_yaml(str(database))}\n      threads: 1\n      settings:\n{settings}"
    )
    return directory


def _yaml(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"'{value}'" if isinstance(value, str) else str(value)


def load_sources(database: Path, files: Iterable[tuple[str, str, str]]) -> None:
    """Create ``database`` with the sources as views of the ``lake`` schema: each source's
    ``(name, ISO day, Parquet file)``, a file a day, read with the day as its ``date`` column,
    the days' columns matched by name."""
    days: dict[str, list[str]] = {}
    for name, day, path in files:
        quoted = "'" + path.replace("'", "''") + "'"  # a view takes no parameters
        # Not the folder's ``date=D``: DuckDB would take its type from the folder names.
        read = f"read_parquet({quoted}, hive_partitioning = false)"
        days.setdefault(name, []).append(f"SELECT *, DATE '{day}' AS date FROM {read}")
    with _connect(database) as connection:
        connection.execute(f"CREATE SCHEMA {SOURCE_SCHEMA}")
        for name, selects in days.items():
            connection.execute(
                f'CREATE VIEW {SOURCE_SCHEMA}."{name}" AS ' + " UNION ALL BY NAME ".join(selects)
            )


def read_table(database: Path, relation: str) -> pl.DataFrame:
    """A table of ``database`` (a model's, ``main."name"``, or the failing rows dbt stored for a
    test, by its ``relation_name``), in the order it was written."""
    with _connect(database, read_only=True) as connection:
        return pl.from_arrow(connection.sql(f"SELECT * FROM {relation}").to_arrow_table())


def _connect(database: Path, read_only: bool = False):
    import duckdb  # here: the settings import this module for its models' names

    return duckdb.connect(str(database), read_only=read_only, config=dict(DUCKDB_SETTINGS))
