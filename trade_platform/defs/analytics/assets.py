"""The dbt models as daily-partitioned assets. A run loads its days of the sources into a DuckDB
database of its own, runs ``dbt build`` once on it in the step's process (``runner``; the first
day as the var ``date``, the last as ``end_date``), and writes each model's rows of each day to the lake as that day's partition with
the I/O manager's own atomic writer (``<lake>/<model>/date=D/part-0.parquet``), or, when the lake
is Iceberg, into the model's table in one snapshot per run (``iceberg_models``).

A range run (a backfill under ``BackfillPolicy.single_run``) is thus one dbt invocation, not one
per day. Each dbt test becomes one check evaluation per day: dbt keeps a failing test's rows
(``store_failures``), and the days of those rows fail; a test whose rows have no ``date``
(``accepted_values``) fails every day of the run.
"""

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
)
from dagster_dbt import DbtProject, dbt_assets
from upath import UPath

from trade_platform.core.dbt_project import DATABASE, SOURCES, load_sources, read_table
from trade_platform.core.lake_layout import PARTITION_COLUMN, frame_days, partition_file, table_url
from trade_platform.core.storage import storage_errors
from trade_platform.defs.analytics.runner import UNIQUE_ID, dbt_build
from trade_platform.defs.analytics.translator import LakeTranslator
from trade_platform.lib.io_manager import refuse_if_canceled, write_parquet_atomically
from trade_platform.lib.lake import ICEBERG, ROW_COUNT, Lake
from trade_platform.lib.partition_locks import holding_days
from trade_platform.lib.partitioned_checks import Verdict, evaluate_per_partition, latest_materializations
from trade_platform.lib.policies import StepSettings


def build_dbt_assets(
    project: DbtProject,
    select: str,
    partitions: PartitionsDefinition,
    backfill_policy: BackfillPolicy,
    table_format: str,
) -> AssetsDefinition:
    manifest = json.loads(project.manifest_path.read_text())  # parsed once: dagster-dbt takes it too

    @dbt_assets(
        manifest=manifest,
        project=project,
        select=select,
        dagster_dbt_translator=LakeTranslator(partitions, table_format),
        partitions_def=partitions,
        backfill_policy=backfill_policy,
        io_manager_key="io_manager",  # never called: dagster-dbt's outputs are Nothing
        name="dbt_models",
    )
    def dbt_models(context: AssetExecutionContext, lake: Lake, step_settings: StepSettings) -> Iterator:
        days = context.partition_keys
        with (
            step_settings.retry_storage_faults(context.retry_number),
            holding_days(context, days),
            tempfile.TemporaryDirectory(prefix="trade-platform-dbt-") as scratch,
        ):
            database = Path(scratch) / DATABASE
            load_sources(
                database,
                (
                    (name, day, source_file(lake, name, day, Path(scratch)))
                    for day in days
                    for name in SOURCES
                ),
            )
            results = dbt_build(context, project, Path(scratch), database)
            write_models(context, lake, manifest, database)
            failing = failing_rows(results, database)
        for key in sorted(context.selected_asset_keys):
            yield MaterializeResult(asset_key=key)
        yield from _check_evaluations(context, failing)

    return dbt_models


def write_models(
    context: AssetExecutionContext, lake: Lake, manifest: Mapping[str, Any], database: Path
) -> None:
    """Each selected model's rows of each day of the run, as that day's partition in the lake: a
    Parquet file per day, or the run's snapshot of the model's Iceberg table."""
    if lake.table_format == ICEBERG:
        from trade_platform.defs.analytics.iceberg_models import write_model_table  # pyiceberg: Iceberg only

        tables = lake.iceberg_tables()
    for key in context.selected_asset_keys:
        node = manifest["nodes"][context.assets_def.specs_by_key[key].metadata[UNIQUE_ID]]
        rows = read_table(database, f'main."{node["alias"]}"')
        if lake.table_format == ICEBERG:
            write_model_table(context, tables, key, node, rows)
        else:
            _write_parquet(context, lake, key, rows)


def _write_parquet(context: AssetExecutionContext, lake: Lake, key: AssetKey, rows: pl.DataFrame) -> None:
    not_canceled = partial(refuse_if_canceled, context.instance, context.run.run_id)
    for day, part in frame_days(rows, context.partition_keys).items():
        path = partition_file(UPath(table_url(lake.url, key.to_user_string())), day)
        with storage_errors("write", str(path)):
            written = write_parquet_atomically(part, path, before_publish=not_canceled)
        context.add_asset_metadata(
            {ROW_COUNT: written, "path": MetadataValue.path(str(path))},
            asset_key=key,
            partition_key=day,
        )


def source_file(lake: Lake, asset: str, day: str, scratch: Path) -> str:
    """The Parquet file of the day's partition of one of the platform's assets (without its
    ``date``): the one place the dbt models read the lake. In a Parquet lake on this machine's
    disk, the lake's own file (the step holds the day: nobody replaces it meanwhile); otherwise
    (S3, Iceberg) what the platform's reader reads, written to ``scratch``, an Iceberg day
    without rows (a day without rejects) read as empty, as the platform's own assets read it."""
    if lake.table_format != ICEBERG:
        stored = partition_file(UPath(table_url(lake.url, asset)), day)
        if stored.protocol in ("", "file"):
            if not stored.exists():
                _not_materialized(lake, asset, day)
            return os.path.abspath(stored.path)  # a relative lake URL too: the view stores the path
    scan = lake.stored_partition(asset, day, empty_days=True)
    if scan is None:
        _not_materialized(lake, asset, day)
    copy = scratch / f"{asset}-{day}.parquet"
    with storage_errors("read", f"{asset} of {day}"):
        scan.collect().write_parquet(copy, compression="uncompressed", statistics=False)  # read once, here
    return str(copy)


def _not_materialized(lake: Lake, asset: str, day: str) -> NoReturn:
    raise Failure(
        description=f"{asset}: partition {day} is not materialized under {lake.url}", allow_retries=False
    )


def failing_rows(results: Iterable[Mapping[str, Any]], database: Path) -> dict[str, Counter | None]:
    """Each test's failing rows per day (a ``Counter`` by ISO day, empty when it passed), or
    None when they cannot be told apart by day (no ``date`` column, or the test errored)."""
    failing: dict[str, Counter | None] = {}
    for result in results:
        test = result["unique_id"]
        if not test.startswith("test."):
            continue
        if result["status"] == "pass":
            failing[test] = Counter()
            continue
        rows = read_table(database, result["relation_name"]) if result.get("relation_name") else None
        if rows is None or PARTITION_COLUMN not in rows.columns:
            failing[test] = None
        else:
            failing[test] = Counter(str(day) for day in rows[PARTITION_COLUMN].to_list())
    return failing


def _check_evaluations(context: AssetExecutionContext, failing: Mapping[str, Counter | None]) -> Iterator:
    """Each selected dbt test's outcome on each day of the run, as that partition's evaluation."""
    checks = [
        spec for spec in context.assets_def.check_specs if spec.key in context.selected_asset_check_keys
    ]
    latest = {
        key: latest_materializations(context, key, context.partition_keys)
        for key in {spec.asset_key for spec in checks}
    }
    for spec in checks:
        test = spec.metadata[UNIQUE_ID]
        judge = partial(_verdict, failing.get(test, None), test in failing)
        yield from evaluate_per_partition(context, judge, latest[spec.asset_key], spec=spec)


def _verdict(failing: Counter | None, ran: bool, day: str) -> Verdict:
    if not ran:
        return Verdict(passed=False, description="dbt did not run this test")
    if failing is None:
        return Verdict(
            passed=False, description="dbt test failed on the run's days (its rows do not say which day)"
        )
    rows = failing[day]
    return Verdict(
        passed=rows == 0,
        description=f"dbt test: {rows} failing rows on this day",
        metadata={"failing_rows": rows},
    )
