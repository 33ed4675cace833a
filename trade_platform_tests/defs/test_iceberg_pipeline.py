"""The pipeline with ``TRADE_PLATFORM_TABLE_FORMAT=iceberg``: every asset a table whose rows equal
the Parquet lake's on the same landing zone, read back by pyiceberg and by polars."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance
from polars.testing import assert_frame_equal
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo

from trade_platform.cli.main import main
from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.names import ALL
from trade_platform.core.schemas import ASSET_MODELS
from trade_platform.settings import TABLE_FORMAT_ENV
from trade_platform_tests.conftest import DAY, Platform, trade, write_csv
from trade_platform_tests.defs.test_dlq_replay import land_rejects, write_corrections

NEXT_DAY = "2026-11-21"
RUN_COLUMNS = {"trades_dlq": ["run_id", "rejected_at"]}
"""Which run rejected a record and when differ from run to run; the rows must not."""


@pytest.fixture
def both(tmp_path: Path, instance: DagsterInstance) -> tuple[Platform, Platform]:
    """A Parquet and an Iceberg platform on one landing zone with two generated days."""
    landing = tmp_path / "landing"
    for seed, day in enumerate((DAY, NEXT_DAY)):
        write_day(generate_day(date.fromisoformat(day), 600, seed=seed, bad_fraction=0.05), str(landing))
    return Platform(landing, tmp_path / "parquet", instance), IcebergPlatform(
        landing, tmp_path / "ice", instance
    )


class IcebergPlatform(Platform):
    def definitions(self, **overrides):
        return super().definitions(table_format="iceberg", **overrides)

    def catalog(self) -> SqlCatalog:
        """The embedded catalog, opened as any pyiceberg user would."""
        uri = f"sqlite:///{self.lake.resolve()}/iceberg_catalog.sqlite"
        return SqlCatalog("default", uri=uri, warehouse=self.lake.resolve().as_uri())

    def pyiceberg_rows(self, asset: str, day: str) -> pl.DataFrame:
        table = self.catalog().load_table(f"trade_platform.{asset}")
        return pl.from_arrow(table.scan(row_filter=EqualTo("date", day)).to_arrow())

    def read(self, asset: str, day: str = DAY) -> pl.DataFrame:
        return self.pyiceberg_rows(asset, day)

    def polars_rows(self, asset: str, day: str) -> pl.DataFrame:
        table = self.catalog().load_table(f"trade_platform.{asset}")
        return pl.scan_iceberg(table).filter(pl.col("date") == date.fromisoformat(day)).collect()


def comparable(asset: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame in the model's dtypes, without the per-run columns, rows in one order."""
    declared = ASSET_MODELS[asset].to_schema().columns
    frame = frame.drop(RUN_COLUMNS.get(asset, []), "date", strict=False)
    frame = frame.with_columns(pl.col(n).cast(declared[n].dtype.type) for n in frame.columns if n in declared)
    return frame.sort(frame.columns, nulls_last=True)


def test_iceberg_tables_hold_the_parquet_lakes_rows_on_one_and_several_days_and_reruns_change_nothing(both):
    parquet, iceberg = both
    assert parquet.materialize(DAY, until=NEXT_DAY).success
    result = iceberg.materialize(DAY, until=NEXT_DAY)  # several days in one run, then one day again
    assert result.success
    assert not (iceberg.lake / "raw_trades").exists()  # no Parquet layout beside the tables
    for asset in ALL:
        for day in (DAY, NEXT_DAY):
            expected = comparable(asset, parquet.read(asset, day))
            assert expected.height > 0
            for read in (iceberg.pyiceberg_rows, iceberg.polars_rows):
                assert_frame_equal(comparable(asset, read(asset, day)), expected)
    table = iceberg.catalog().load_table("trade_platform.validated_trades")
    [materialization] = [
        m
        for m in result.asset_materializations_for_node("ingest_trades")
        if m.asset_key == AssetKey("validated_trades") and m.partition == DAY
    ]
    assert materialization.metadata["snapshot_id"].value == table.current_snapshot().snapshot_id
    assert materialization.metadata["metadata_location"].value == table.metadata_location
    checks = result.get_asset_check_evaluations()
    failed = [(c.asset_key, c.check_name, c.description) for c in checks if not c.passed]
    assert checks and not [f for f in failed if f[1] not in ("freshness", "dlq_rate")], failed

    before = {a: comparable(a, iceberg.pyiceberg_rows(a, DAY)) for a in ALL}
    assert iceberg.materialize(DAY).success
    for asset in ALL:
        assert_frame_equal(comparable(asset, iceberg.pyiceberg_rows(asset, DAY)), before[asset])


def test_a_dlq_replay_reads_the_records_of_files_gone_from_landing_from_the_raw_trades_table(
    tmp_path: Path, instance
):
    """As ``test_dlq_replay``'s Parquet case: the replay's result is the same as with the files."""
    iceberg = IcebergPlatform(tmp_path / "landing", tmp_path / "lake", instance)
    land_rejects(iceberg)
    write_csv(iceberg.day_dir() / "u.csv", [trade("U1"), trade("G1")])  # G1 repeats t.csv's G1
    (iceberg.day_dir() / "v.csv.gz").write_bytes(b"\x1f\x8bnot really gzip")
    assert iceberg.materialize().success
    raw_before = comparable("raw_trades", iceberg.read("raw_trades"))
    write_corrections(iceberg)
    for name in ("t.csv", "v.csv.gz"):
        (iceberg.day_dir() / name).unlink()
    assert iceberg.run_job("replay_dlq").success
    assert_frame_equal(comparable("raw_trades", iceberg.read("raw_trades")), raw_before)
    assert sorted(iceberg.read("validated_trades")["trade_id"]) == ["G1", "MAL1", "P1", "TZ1", "U1"]
    assert sorted(iceberg.read("trades_dlq").select("_source_file", "error_codes").rows()) == [
        ("trades/date=2026-11-20/u.csv", ["duplicate_trade_id"]),
        ("trades/date=2026-11-20/v.csv.gz", ["unreadable_file"]),
    ]
    assert iceberg.read("daily_volume")["trade_count"].sum() == 5  # downstream re-materialized


def test_retention_deletes_an_expired_day_from_the_table_through_the_catalog(tmp_path: Path, instance):
    iceberg = IcebergPlatform(tmp_path / "landing", tmp_path / "lake", instance)
    write_csv(iceberg.day_dir() / "t.csv", [trade("A"), trade("B")])
    assert iceberg.materialize().success
    table = iceberg.catalog().load_table("trade_platform.validated_trades")
    [data_file] = [task.file.file_path for task in table.scan().plan_files()]
    retention = iceberg.definitions(retention={"validated_trades": 1}).resolve_job_def("retention")
    result = retention.execute_in_process(instance=instance)
    assert result.success
    assert iceberg.read("validated_trades").height == 0 and iceberg.read("raw_trades").height == 2
    [audit] = (iceberg.lake / "audit" / "retention").rglob("*.jsonl")
    record = json.loads(audit.read_text())
    assert (record["layer"], record["partition"], record["dry_run"]) == ("validated_trades", DAY, False)
    assert (
        record["bytes"] == Path(data_file.removeprefix("file://")).stat().st_size
    )  # kept for older snapshots
    assert not instance.get_materialized_partitions(AssetKey("validated_trades"))


def test_trace_follows_a_trade_through_the_iceberg_tables(tmp_path: Path, instance, monkeypatch, capsys):
    iceberg = IcebergPlatform(tmp_path / "landing", tmp_path / "lake", instance)
    write_csv(iceberg.day_dir() / "a.csv", [trade("T-1"), trade("T-2", price="101")])
    assert iceberg.materialize().success
    monkeypatch.setenv(TABLE_FORMAT_ENV, "iceberg")
    assert (
        main(["trace", "T-2", "--json", "--lake", str(iceberg.lake), "--landing", str(iceberg.landing)]) == 0
    )
    [record] = json.loads(capsys.readouterr().out)["records"]
    assert record["source"] == {"file": f"trades/date={DAY}/a.csv", "row": 3, "kafka": None}
    assert record["outcome"] == "validated" and record["validated"]["price"] == 101.0
    assert record["candles"] and record["daily_volume"]["trade_count"] == 2


def test_table_maintenance_expires_old_snapshots_and_deletes_only_unreferenced_files(
    tmp_path: Path, instance
):
    iceberg = IcebergPlatform(tmp_path / "landing", tmp_path / "lake", instance)
    write_csv(iceberg.day_dir() / "t.csv", [trade("A")])
    assert iceberg.materialize().success
    write_csv(iceberg.day_dir() / "u.csv", [trade("B")])
    assert iceberg.materialize().success  # the day again: its first files are only in older snapshots
    before = {a: comparable(a, iceberg.read(a)) for a in ALL}
    maintenance = iceberg.definitions(snapshot_retention_seconds=0).resolve_job_def("table_maintenance")
    config = {"ops": {"maintain_tables": {"config": {"grace_hours": 0}}}}
    result = maintenance.execute_in_process(run_config=config, instance=instance)
    assert result.success
    catalog = iceberg.catalog()
    for asset in ALL:
        table = catalog.load_table(f"trade_platform.{asset}")
        assert len(table.snapshots()) == 1
        assert_frame_equal(comparable(asset, iceberg.read(asset)), before[asset])
        live = {task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()}
        on_disk = {str(p) for p in Path(table.location().removeprefix("file://")).glob("data/**/*.parquet")}
        assert live == on_disk, asset
