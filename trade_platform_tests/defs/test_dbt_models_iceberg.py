"""The dbt models in an Iceberg lake (``TRADE_PLATFORM_TABLE_FORMAT=iceberg``): each model a table
of the catalog holding the rows the Parquet lake's run of the same landing zone writes, read back
by pyiceberg and by polars; one snapshot per run, named in the materializations; a re-run leaves
equal contents; ``trade-platform sql`` reads the tables by model name."""

from __future__ import annotations

import io
from datetime import date

import polars as pl
import polars.selectors as cs
import pytest
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult
from polars.testing import assert_frame_equal
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from trade_platform.cli.main import main
from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.names import DAILY_VOLUME, INGESTED
from trade_platform.lib.lake import SNAPSHOT_ID
from trade_platform.settings import LAKE_URL_ENV, TABLE_FORMAT_ENV
from trade_platform_tests.conftest import Platform, new_dagster_home
from trade_platform_tests.defs.test_dbt_models import COLUMNS, KEYS, MODELS, lake_table, run

DAYS = ["2026-11-18", "2026-11-19"]
CLEAN_DAY = DAYS[1]
"""A day without a single reject: ``trades_dlq`` has no rows, nor has ``dlq_daily_summary``."""
ASSETS = (*INGESTED, DAILY_VOLUME, *MODELS)
"""The models and their sources (``ohlcv`` is not one)."""


@pytest.fixture(scope="module")
def lakes(tmp_path_factory) -> tuple[Platform, Platform, ExecuteInProcessResult]:
    """A Parquet and an Iceberg lake of one landing zone, each built over both days in one run."""
    root = tmp_path_factory.mktemp("dbt-iceberg")
    with DagsterInstance.from_config(str(new_dagster_home(root))) as instance:
        landing = root / "landing"
        for day, bad_fraction in zip(DAYS, (0.05, 0.0), strict=True):
            write_day(
                generate_day(date.fromisoformat(day), 100, seed=11, bad_fraction=bad_fraction), str(landing)
            )
        parquet, iceberg = (
            Platform(landing, root / "parquet", instance),
            Platform(landing, root / "ice", instance),
        )
        assert run(parquet, DAYS[0], DAYS[-1], ASSETS).success
        yield parquet, iceberg, run(iceberg, DAYS[0], DAYS[-1], ASSETS, table_format="iceberg")


def model_table(platform: Platform, model: str) -> Table:
    """The model's table, from the embedded catalog opened as any pyiceberg user would."""
    lake = platform.lake.resolve()
    catalog = SqlCatalog("default", uri=f"sqlite:///{lake}/iceberg_catalog.sqlite", warehouse=lake.as_uri())
    return catalog.load_table(f"trade_platform.{model}")


def comparable(model: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The model's columns in one order, rows sorted, time zones spelled ``UTC``."""
    frame = frame.select(COLUMNS[model]).with_columns(cs.datetime().dt.convert_time_zone("UTC"))
    return frame.sort(KEYS[model], nulls_last=False)


def test_each_model_is_an_iceberg_table_with_the_parquet_runs_rows_in_one_snapshot_per_run(lakes):
    parquet, iceberg, result = lakes
    assert result.success
    assert not any((iceberg.lake / model).exists() for model in MODELS)  # no Parquet layout beside
    for model in MODELS:
        expected = comparable(model, lake_table(parquet.lake, model))
        table = model_table(iceberg, model)
        assert_frame_equal(comparable(model, pl.from_arrow(table.scan().to_arrow())), expected, rel_tol=1e-12)
        assert_frame_equal(comparable(model, pl.scan_iceberg(table).collect()), expected, rel_tol=1e-12)
        assert table.spec().fields[0].name == "date" and len(table.snapshots()) == 1
        events = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(model)]
        assert sorted(e.partition for e in events) == DAYS
        snapshot = table.current_snapshot().snapshot_id
        assert {e.materialization.metadata[SNAPSHOT_ID].value for e in events} == {snapshot}
    dlq = pl.from_arrow(model_table(iceberg, "dlq_daily_summary").scan().to_arrow())
    assert dlq["date"].unique().to_list() == [date.fromisoformat(DAYS[0])]  # the clean day: no rows
    hourly = model_table(iceberg, "symbol_hourly")
    assert hourly.schema().find_field("hour").doc == "UTC timestamp of the hour's start"
    assert hourly.properties["trade_platform.classification.symbol"] == "public"
    assert (
        model_table(iceberg, "account_daily").properties["trade_platform.classification.account_id"] == "pii"
    )


def test_a_rerun_commits_a_snapshot_of_equal_contents_and_table_maintenance_expires_the_old_one(lakes):
    _, iceberg, _ = lakes
    before = {
        model: comparable(model, pl.from_arrow(model_table(iceberg, model).scan().to_arrow()))
        for model in MODELS
    }
    snapshots = {model: len(model_table(iceberg, model).snapshots()) for model in MODELS}

    assert run(iceberg, DAYS[0], DAYS[0], MODELS, table_format="iceberg").success

    for model in MODELS:
        table = model_table(iceberg, model)
        assert_frame_equal(comparable(model, pl.from_arrow(table.scan().to_arrow())), before[model])
        assert len(table.snapshots()) == snapshots[model] + 1
    definitions = iceberg.definitions(table_format="iceberg", snapshot_retention_seconds=0)
    config = {"ops": {"maintain_tables": {"config": {"grace_hours": 0}}}}
    result = definitions.resolve_job_def("table_maintenance").execute_in_process(
        run_config=config, instance=iceberg.instance
    )
    assert result.success
    for model in MODELS:
        table = model_table(iceberg, model)
        assert len(table.snapshots()) == 1
        assert_frame_equal(comparable(model, pl.from_arrow(table.scan().to_arrow())), before[model])


def test_trade_platform_sql_reads_the_models_by_name_in_both_formats(lakes, monkeypatch, capsys):
    parquet, iceberg, _ = lakes
    statement = (
        "WITH h AS (SELECT date, sum(trade_count) AS trades FROM symbol_hourly GROUP BY date), "
        "d AS (SELECT date, max(records) AS most_rejected FROM dlq_daily_summary GROUP BY date) "
        "SELECT h.date, trades, most_rejected FROM h LEFT JOIN d ON h.date = d.date ORDER BY h.date"
    )
    answers = {}
    for table_format, platform in (("parquet", parquet), ("iceberg", iceberg)):
        monkeypatch.setenv(LAKE_URL_ENV, str(platform.lake))
        monkeypatch.setenv(TABLE_FORMAT_ENV, table_format)
        assert main(["sql", "--csv", statement]) == 0
        answers[table_format] = pl.read_csv(io.StringIO(capsys.readouterr().out), try_parse_dates=True)
    validated = lake_table(parquet.lake, "validated_trades").group_by("date").len().sort("date")
    assert answers["iceberg"]["trades"].to_list() == validated["len"].to_list()
    assert answers["iceberg"]["most_rejected"][1] is None  # the clean day
    assert_frame_equal(answers["iceberg"], answers["parquet"])
