"""``trade-platform iceberg migrate``: a Parquet lake's day files registered in place as the data
files of Iceberg tables, read back by pyiceberg and polars with the ``date`` of their partition;
a second run registers nothing; after switching to Iceberg the lake runs on the migrated days; a
file that does not fit its table is refused by name."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance
from polars.testing import assert_frame_equal

from trade_platform.cli.main import main
from trade_platform.cli.sql import Shell
from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.migrate import parquet_days
from trade_platform.core.iceberg.reads import scan_days
from trade_platform.core.names import ALL, DAILY_VOLUME, OHLCV, RAW_TRADES, VALIDATED_TRADES
from trade_platform.settings import LAKE_URL_ENV, TABLE_FORMAT_ENV
from trade_platform_tests.conftest import BAD_INPUTS, DAY, Platform, new_dagster_home
from trade_platform_tests.core.test_iceberg_tables import overwrite, raw, volume
from trade_platform_tests.defs.test_iceberg_pipeline import NEXT_DAY, IcebergPlatform, comparable

DAYS = (DAY, NEXT_DAY)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def parquet_lake(tmp_path_factory) -> Path:
    """A landing zone of two generated days and the Parquet lake one run of both made of it."""
    root = tmp_path_factory.mktemp("migrate")
    with DagsterInstance.from_config(str(new_dagster_home(root))) as instance:
        for seed, day in enumerate(DAYS):
            write_day(
                generate_day(date.fromisoformat(day), 60, seed=seed, bad_fraction=0.05),
                str(root / "landing"),
            )
        assert Platform(root / "landing", root / "lake", instance).materialize(DAY, until=NEXT_DAY).success
    return root


@pytest.fixture
def lake(parquet_lake: Path, tmp_path: Path) -> Path:
    """A copy of the Parquet lake (and its landing zone) the test may change."""
    shutil.copytree(parquet_lake / "landing", tmp_path / "landing")
    return shutil.copytree(parquet_lake / "lake", tmp_path / "lake")


def migrate(lake: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, with the Parquet format still set."""
    env = {**os.environ, "PYTHONPATH": str(REPO), LAKE_URL_ENV: str(lake), TABLE_FORMAT_ENV: "parquet"}
    command = [sys.executable, "-m", "trade_platform.cli.main", "iceberg", "migrate", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=lake.parent, timeout=120)


def parquet_files(lake: Path) -> dict[Path, str]:
    return {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(lake.glob("*/date=*/*.parquet"))
    }


def test_migrate_registers_every_day_file_in_place_and_a_second_run_registers_nothing(lake: Path, capsys):
    files = parquet_files(lake)
    completed = migrate(lake)
    assert completed.returncode == 0, completed.stderr
    for asset in ALL:
        assert f"{asset}: registered 2 days, 0 already present, 0 empty, 0 files refused" in completed.stdout
    platform = IcebergPlatform(lake.parent / "landing", lake, None)
    snapshots = {}
    for asset in ALL:
        table = platform.catalog().load_table(f"trade_platform.{asset}")
        referenced = {task.file.file_path for task in table.scan().plan_files()}
        assert referenced == {f"file://{path}" for path in files if path.parts[-3] == asset}  # in place
        snapshots[asset] = table.current_snapshot().snapshot_id
        assert table.properties["trade-platform.migrated-days"] == f"{DAY}..{NEXT_DAY}"
        for day in DAYS:
            expected = pl.read_parquet(lake / asset / f"date={day}" / "part-0.parquet")
            for rows in (platform.pyiceberg_rows(asset, day), platform.polars_rows(asset, day)):
                assert rows["date"].to_list() == [date.fromisoformat(day)] * expected.height
                assert_frame_equal(comparable(asset, rows), comparable(asset, expected))
    assert parquet_files(lake) == files  # not a byte rewritten

    assert main(["iceberg", "migrate", "--lake", str(lake)]) == 0  # again

    again = capsys.readouterr().out
    for asset in ALL:
        assert f"{asset}: registered 0 days, 2 already present, 0 empty, 0 files refused" in again
        assert (
            platform.catalog().load_table(f"trade_platform.{asset}").current_snapshot().snapshot_id
            == (snapshots[asset])
        )


def test_after_switching_to_iceberg_runs_read_the_migrated_days_and_maintenance_keeps_their_files(
    lake: Path, instance: DagsterInstance
):
    expected = {
        day: comparable(DAILY_VOLUME, pl.read_parquet(lake / DAILY_VOLUME / f"date={day}" / "part-0.parquet"))
        for day in DAYS
    }
    migrated = {day: lake / DAILY_VOLUME / f"date={day}" / "part-0.parquet" for day in DAYS}
    assert main(["iceberg", "migrate", "--lake", str(lake)]) == 0
    iceberg = IcebergPlatform(lake.parent / "landing", lake, instance)
    marts = (
        iceberg.definitions()
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={AssetKey(OHLCV), AssetKey(DAILY_VOLUME)})
    )
    assert marts.execute_in_process(partition_key=DAY, instance=instance).success  # reads migrated trades
    table = iceberg.catalog().load_table(f"trade_platform.{DAILY_VOLUME}")
    files = {task.file.file_path for task in table.scan().plan_files()}
    assert f"file://{migrated[NEXT_DAY]}" in files and f"file://{migrated[DAY]}" not in files  # DAY replaced
    maintenance = iceberg.definitions(snapshot_retention_seconds=0).resolve_job_def("table_maintenance")
    config = {"ops": {"maintain_tables": {"config": {"grace_hours": 0}}}}
    assert maintenance.execute_in_process(run_config=config, instance=instance).success
    assert all(path.exists() for path in migrated.values())  # outside the table's folder: never deleted
    for day in DAYS:
        assert_frame_equal(comparable(DAILY_VOLUME, iceberg.read(DAILY_VOLUME, day)), expected[day])
    out = io.StringIO()
    shell = Shell(str(lake), csv=True, out=out, iceberg=IcebergTables(str(lake), "default", "trade_platform"))
    assert shell.attempt(f"SELECT date, count(*) AS n FROM {VALIDATED_TRADES} GROUP BY date ORDER BY date")
    counts = [
        pl.read_parquet(lake / VALIDATED_TRADES / f"date={day}" / "part-0.parquet").height for day in DAYS
    ]
    assert pl.read_csv(io.StringIO(out.getvalue())).rows() == list(zip(DAYS, counts, strict=True))


def write_day_file(lake: Path, asset: str, day: date, frame: pl.DataFrame) -> Path:
    path = lake / asset / f"date={day}" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    frame.drop("date", strict=False).write_parquet(path)
    return path


def test_a_file_whose_columns_do_not_fit_the_table_is_refused_by_its_path_and_the_others_registered(
    tmp_path: Path, capsys
):
    lake = tmp_path / "lake"
    days = [date(2026, 11, d) for d in (20, 21, 22, 23)]
    write_day_file(lake, DAILY_VOLUME, days[0], volume(days[0], ["A", "B"]))
    text_counts = write_day_file(
        lake,
        DAILY_VOLUME,
        days[1],
        volume(days[1], ["A"]).with_columns(pl.col("trade_count").cast(pl.String)),
    )
    no_symbol = write_day_file(lake, DAILY_VOLUME, days[2], volume(days[2], ["A"]).drop("symbol"))
    write_day_file(lake, DAILY_VOLUME, days[3], volume(days[3], []))
    truncated = lake / DAILY_VOLUME / "date=2026-11-24" / "part-0.parquet"
    truncated.parent.mkdir()
    shutil.copy(BAD_INPUTS / "truncated.parquet", truncated)
    command = ["iceberg", "migrate", "--lake", str(lake), "--assets", DAILY_VOLUME]

    assert main([*command, "--dry-run"]) == 1
    assert IcebergTables(str(lake), "default", "trade_platform").existing(DAILY_VOLUME) is None
    capsys.readouterr()
    assert main(command) == 1

    out, err = capsys.readouterr()
    assert f"{DAILY_VOLUME}: registered 1 days, 0 already present, 1 empty, 3 files refused" in out
    assert f"file://{truncated}: not a readable Parquet file" in err
    assert (
        f"file://{text_counts}: does not fit trade_platform.daily_volume: column trade_count is string" in err
    )
    assert (
        f"file://{no_symbol}: does not fit trade_platform.daily_volume: lacks the required column symbol"
        in err
    )
    table = IcebergTables(str(lake), "default", "trade_platform").table(DAILY_VOLUME)
    assert pl.scan_iceberg(table).collect().select("symbol", "date").rows() == [
        ("A", days[0]),
        ("B", days[0]),
    ]


def test_a_dbt_models_files_become_its_table_with_the_models_docs_and_classifications(tmp_path: Path, capsys):
    lake = tmp_path / "lake"
    hour = pl.datetime(2026, 11, 20, 9, time_zone="UTC")
    rows = pl.select(hour=hour, symbol=pl.lit("A"), trade_count=pl.lit(3, pl.Int64), volume=pl.lit(1.5))
    write_day_file(lake, "symbol_hourly", date(2026, 11, 20), rows)

    assert main(["iceberg", "migrate", "--lake", str(lake)]) == 0

    assert "symbol_hourly: registered 1 days" in capsys.readouterr().out
    table = IcebergTables(str(lake), "default", "trade_platform").table("symbol_hourly")
    assert table.schema().find_field("hour").doc == "UTC timestamp of the hour's start"
    assert table.properties["trade_platform.classification.symbol"] == "public"
    assert pl.scan_iceberg(table).collect().select("symbol", "date").rows() == [("A", date(2026, 11, 20))]


def test_columns_a_file_has_beyond_the_table_join_it_and_older_days_read_them_as_null(tmp_path: Path):
    lake, days = tmp_path / "lake", [date(2026, 11, 20), date(2026, 11, 21)]
    write_day_file(lake, RAW_TRADES, days[0], raw(days[0]))
    sent = datetime(2026, 11, 21, 9, 30, 0, 123000, tzinfo=UTC)
    kafka = {"_kafka_timestamp": pl.Series([sent], dtype=pl.Datetime("ms", "UTC")), "desk_note": ["late"]}
    write_day_file(lake, RAW_TRADES, days[1], raw(days[1], _kafka_topic=["trades"], **kafka))

    assert main(["iceberg", "migrate", "--lake", str(lake), "--assets", RAW_TRADES]) == 0

    tables = IcebergTables(str(lake), "default", "trade_platform")
    read = scan_days(tables.table(RAW_TRADES), RAW_TRADES, [str(d) for d in days]).collect().sort("date")
    assert read.select("date", "_kafka_topic", "_kafka_timestamp", "desk_note").rows() == [
        (days[0], None, None, None),
        (days[1], "trades", sent, "late"),
    ]


def test_retention_after_switching_deletes_a_migrated_day_once_keeps_its_file_and_no_migration_brings_it_back(
    lake: Path, instance: DagsterInstance
):
    files = sorted(lake.glob(f"{VALIDATED_TRADES}/date=*/part-0.parquet"))
    assert main(["iceberg", "migrate", "--lake", str(lake), "--assets", VALIDATED_TRADES]) == 0
    iceberg = IcebergPlatform(lake.parent / "landing", lake, instance)
    retention = iceberg.definitions(retention={VALIDATED_TRADES: 1}).resolve_job_def("retention")

    assert retention.execute_in_process(instance=instance).success

    audited = [json.loads(line) for audit in lake.glob("audit/retention/**/*.jsonl") for line in audit.open()]
    assert sorted((r["layer"], r["partition"]) for r in audited) == [(VALIDATED_TRADES, day) for day in DAYS]
    assert all(iceberg.read(VALIDATED_TRADES, day).height == 0 for day in DAYS)
    assert all(path.exists() for path in files)  # older snapshots still read them
    assert retention.execute_in_process(instance=instance).success
    assert len(list(lake.glob("audit/retention/**/*.jsonl"))) == 1  # nothing left to delete
    assert main(["iceberg", "migrate", "--lake", str(lake), "--assets", VALIDATED_TRADES]) == 0
    assert all(iceberg.read(VALIDATED_TRADES, day).height == 0 for day in DAYS)  # not brought back


def test_a_day_the_table_holds_already_is_left_alone_and_the_others_join_it(tmp_path: Path, capsys):
    lake, days = tmp_path / "lake", [date(2026, 11, 20), date(2026, 11, 21)]
    tables = IcebergTables(str(lake), "default", "trade_platform")
    overwrite(tables, DAILY_VOLUME, volume(days[0], ["NATIVE"]))  # written by an Iceberg run
    for day in days:
        write_day_file(lake, DAILY_VOLUME, day, volume(day, ["PARQUET"]))

    assert main(["iceberg", "migrate", "--lake", str(lake), "--assets", DAILY_VOLUME]) == 0

    assert f"{DAILY_VOLUME}: registered 1 days, 1 already present" in capsys.readouterr().out
    rows = pl.scan_iceberg(tables.table(DAILY_VOLUME)).collect().sort("date")
    assert rows.select("date", "symbol").rows() == [(days[0], "NATIVE"), (days[1], "PARQUET")]


def test_only_folders_of_real_days_are_an_assets_day_files(tmp_path: Path):
    for folder in ("date=2026-11-20", "date=2024-13-45", "date=2026-11-2", "other"):
        (tmp_path / DAILY_VOLUME / folder).mkdir(parents=True)
        (tmp_path / DAILY_VOLUME / folder / "part-0.parquet").write_bytes(b"")
    days = parquet_days(str(tmp_path), DAILY_VOLUME)
    assert list(days) == ["2026-11-20"] and days["2026-11-20"].endswith("/date=2026-11-20/part-0.parquet")
