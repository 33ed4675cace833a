"""The ``retention`` job on a real lake of twelve days, a real Dagster instance, and S3 on moto:
a dry run deletes nothing and reports what a real run then deletes; a real run keeps each layer's
window and nothing outside its folders; Dagster forgets the deleted partitions; replay keeps
working for a retained day and refuses a day whose raw data is gone."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import fsspec
import polars as pl
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultScheduleStatus,
    Definitions,
    ExecuteInProcessResult,
)
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.names import ALL, RAW_TRADES, VALIDATED_TRADES
from trade_platform.definitions import build_defs
from trade_platform.settings import Settings
from trade_platform_tests.conftest import S3, Platform, new_dagster_home, settings_for

TODAY = datetime.now(UTC).date()
DAYS = [(TODAY - timedelta(days=n)).isoformat() for n in range(12, 0, -1)]
"""Twelve days ending yesterday."""
WINDOWS = {"landing": 2, "raw_trades": 3, "trades_dlq": 5, "validated_trades": 7, "ohlcv": 9, "lineage": 4}
"""daily_volume has none: it is kept forever. Corrections keep max(landing, raw_trades) = 3 days."""
FIXED_DAY = DAYS[-2]  # inside raw_trades' window, outside landing's: replayed from raw_trades
GONE_DAY = DAYS[-5]  # outside both: its raw data is gone, its validated_trades is kept


def kept(layer: str) -> list[str]:
    """The days of DAYS that ``layer``'s window keeps."""
    window = WINDOWS.get(layer)
    return [d for d in DAYS if window is None or (TODAY - date.fromisoformat(d)).days < window]


def files(root: Path) -> dict[str, int]:
    """Every file of the landing zone, the lake and the lake's sibling folder, with its size."""
    return {
        str(p.relative_to(root)): p.stat().st_size
        for folder in ("landing", "lake", "lake-archive")
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def partitions(listing: dict[str, int]) -> set[str]:
    """The day folders and lineage files of a listing of files."""
    return {
        match.group(1)
        for name in listing
        if (match := re.match(r"(.*?/date=[^/]+|lake/lineage/[^/]+)", name))
    }


def materialize(defs: Definitions, instance: DagsterInstance, first: str, last: str) -> None:
    """Every asset of the days ``first..last`` in one run, without their checks (seconds, not tens)."""
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={AssetKey(asset) for asset in ALL}, asset_check_selection=set()
    )
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    assert job.execute_in_process(tags=tags, instance=instance).success


def retention(defs: Definitions, instance: DagsterInstance, *, dry_run: bool) -> ExecuteInProcessResult:
    config = {"ops": {"delete_expired_partitions": {"config": {"dry_run": dry_run}}}}
    return defs.resolve_job_def("retention").execute_in_process(run_config=config, instance=instance)


def run_retention(platform: Platform, *, dry_run: bool = False) -> ExecuteInProcessResult:
    return retention(platform.definitions(retention=WINDOWS), platform.instance, dry_run=dry_run)


def replay(platform: Platform, day: str) -> ExecuteInProcessResult:
    job = platform.definitions(retention=WINDOWS).resolve_job_def("replay_dlq")
    return job.execute_in_process(partition_key=day, instance=platform.instance, raise_on_error=False)


def summary(result: ExecuteInProcessResult) -> dict:
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return {key: value.value for key, value in output.event_specific_data.metadata.items()}


def audit(result: ExecuteInProcessResult) -> list[dict]:
    """The run's audit records, from the file its metadata names."""
    url = summary(result)["audit_file"]
    with fsspec.open(url, "r") as handle:
        return [json.loads(line) for line in handle]


def land(landing: str) -> None:
    """Every day's generated files; on FIXED_DAY also a rejected price and its correction, and
    corrections on an old day."""
    for day in DAYS:
        write_day(generate_day(date.fromisoformat(day), 30, seed=2), landing)
    ts = f"{FIXED_DAY}T10:00:00Z"
    with fsspec.open(f"{landing}/trades/date={FIXED_DAY}/fix-me.csv", "w") as handle:
        handle.write(
            "trade_id,symbol,side,price,quantity,timestamp,exchange\n"
            f"G1,BTC-USD,buy,100.5,2,{ts},X\nP1,BTC-USD,buy,12.5.0,2,{ts},X\n"
        )
    for day, price in ((FIXED_DAY, "12.5"), (DAYS[0], "1")):
        with fsspec.open(f"{landing}/corrections/date={day}/fixes.csv", "w", auto_mkdir=True) as handle:
            handle.write(f"source_file,source_row,price\ntrades/date={day}/fix-me.csv,3,{price}\n")


def lineage_files(lake: str) -> None:
    for day in DAYS:
        with fsspec.open(f"{lake}/lineage/events-{day}.jsonl", "w", auto_mkdir=True) as handle:
            handle.write('{"eventType": "COMPLETE"}\n')


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Twelve days landed and materialized (one range run) with their lineage files, and the
    Dagster home that recorded them; each test works on its own copy."""
    root = tmp_path_factory.mktemp("retention")
    home = new_dagster_home(root)
    land(str(root / "landing"))
    lineage_files(str(root / "lake"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        with DagsterInstance.from_config(str(home)) as instance:
            platform = Platform(root / "landing", root / "lake", instance)
            materialize(platform.definitions(), instance, DAYS[0], DAYS[-1])
    return root


@pytest.fixture
def platform(built: Path, tmp_path: Path, monkeypatch) -> Iterator[Platform]:
    for name in ("landing", "lake", "dagster_home"):
        shutil.copytree(built / name, tmp_path / name)
    (tmp_path / "lake-archive" / RAW_TRADES / f"date={DAYS[0]}").mkdir(parents=True)  # a sibling
    (tmp_path / "lake-archive" / RAW_TRADES / f"date={DAYS[0]}" / "part-0.parquet").write_bytes(b"keep")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        yield Platform(tmp_path / "landing", tmp_path / "lake", instance)


def test_the_retention_schedule_runs_the_job_daily_and_is_off_by_default():
    schedule = build_defs(Settings()).resolve_schedule_def("retention_schedule")
    assert schedule.job_name == "retention"
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 * * *", "UTC")
    assert schedule.default_status == DefaultScheduleStatus.STOPPED


def test_a_dry_run_deletes_nothing_and_reports_exactly_what_a_real_run_then_deletes(platform: Platform):
    root = platform.lake.parent
    before = files(root)

    dry = run_retention(platform, dry_run=True)

    after_dry, audit_file = files(root), f"lake/audit/retention/date={TODAY}/{dry.run_id}.jsonl"
    assert set(after_dry) - set(before) == {audit_file}
    assert {name: size for name, size in after_dry.items() if name != audit_file} == before
    real = run_retention(platform)
    would, done = audit(dry), audit(real)

    def deletion(record: dict) -> tuple:
        return record["layer"], record["partition"], record["path"], record["bytes"]

    assert [deletion(r) for r in would] == [deletion(r) for r in done]
    assert {(r["run_id"], r["dry_run"]) for r in would} == {(dry.run_id, True)}
    assert {(r["run_id"], r["dry_run"]) for r in done} == {(real.run_id, False)}
    removed = {folder for folder in partitions(before) if not (root / folder).exists()}
    assert {r["path"] for r in done} == {f"file://{root / folder}" for folder in removed}
    assert summary(dry)["dry_run"] is True and summary(real)["dry_run"] is False
    assert summary(dry)["by_layer"] == summary(real)["by_layer"]
    assert summary(real)["partitions"] == len(done)
    assert summary(real)["bytes"] == sum(r["bytes"] for r in done) > 0


def test_a_real_run_keeps_each_layers_window_and_nothing_outside_its_folders(platform: Platform):
    root = platform.lake.parent
    (platform.lake / "notes" / f"date={DAYS[0]}").mkdir(parents=True)  # not a layer
    (platform.lake / "notes" / f"date={DAYS[0]}" / "n.txt").write_text("keep")
    (platform.landing / "_kafka").mkdir()
    (platform.landing / "_kafka" / "p0.json").write_text("{}")

    result = run_retention(platform)

    def days(folder: Path) -> list[str]:
        return sorted(p.name.removeprefix("date=") for p in folder.iterdir())

    assert days(platform.landing / "trades") == kept("landing")
    assert days(platform.landing / "corrections") == [FIXED_DAY]  # DAYS[0]'s were past 3 days
    for asset in ALL:
        assert days(platform.lake / asset) == kept(asset), asset
    lineage = sorted(p.name for p in (platform.lake / "lineage").iterdir())
    assert lineage == [f"events-{d}.jsonl" for d in kept("lineage")]
    assert (platform.lake / "notes" / f"date={DAYS[0]}" / "n.txt").exists()
    assert (platform.landing / "_kafka" / "p0.json").exists()
    assert (root / "lake-archive" / RAW_TRADES / f"date={DAYS[0]}" / "part-0.parquet").read_bytes() == b"keep"
    by_layer = summary(result)["by_layer"]
    assert by_layer["raw_trades"]["partitions"] == len(DAYS) - len(kept("raw_trades")) == 10
    assert "daily_volume" not in by_layer


def test_a_rerun_deletes_nothing_more(platform: Platform):
    run_retention(platform)
    after = files(platform.lake.parent)
    again = run_retention(platform)
    assert files(platform.lake.parent) == after
    assert summary(again)["partitions"] == 0 and summary(again)["audit_file"] == "none: nothing expired"


def test_deleted_partitions_show_as_not_materialized_in_dagster(platform: Platform):
    instance = platform.instance
    partitions_def = platform.definitions().resolve_job_def("trades_daily_job").partitions_def
    # The oldest day materialized again: it is each asset's latest materialization now.
    materialize(platform.definitions(), instance, DAYS[0], DAYS[0])
    for asset in ALL:  # the UI has computed (and cached) each asset's partition status
        get_and_update_asset_status_cache_value(instance, AssetKey(asset), partitions_def)

    run_retention(platform)

    for asset in ALL:
        key = AssetKey(asset)
        assert sorted(instance.get_materialized_partitions(key)) == kept(asset), asset
        status = get_and_update_asset_status_cache_value(instance, key, partitions_def)
        materialized = status.deserialize_materialized_partition_subsets(partitions_def)
        assert sorted(materialized.get_partition_keys()) == kept(asset), asset
        assert not status.deserialize_failed_partition_subsets(partitions_def).get_partition_keys()
        latest = instance.get_latest_materialization_event(key)
        assert latest.dagster_event.partition == (DAYS[0] if asset == "daily_volume" else DAYS[-1]), asset


def test_a_retained_day_replays_from_raw_trades_with_its_corrections_after_its_landing_files_are_deleted(
    platform: Platform,
):
    before = platform.read(VALIDATED_TRADES, FIXED_DAY)
    assert before.filter(pl.col("trade_id") == "P1")["price"].to_list() == [12.5]  # corrected
    run_retention(platform)
    assert not (platform.landing / "trades" / f"date={FIXED_DAY}").exists()

    result = replay(platform, FIXED_DAY)

    assert result.success
    assert platform.read(VALIDATED_TRADES, FIXED_DAY).equals(before)
    [dlq] = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey("trades_dlq")]
    files_of_the_day = platform.read(RAW_TRADES, FIXED_DAY)["_source_file"].n_unique()
    assert dlq.materialization.metadata["replayed_from_raw_trades"].value == files_of_the_day


def test_a_day_whose_raw_data_is_gone_refuses_replay_with_a_clear_message(platform: Platform):
    run_retention(platform)
    validated = platform.partition_file(VALIDATED_TRADES, GONE_DAY).read_bytes()

    result = replay(platform, GONE_DAY)

    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert f"{GONE_DAY} cannot be replayed: its raw data is gone" in message
    assert "landing files for 2 days and raw_trades for 3 days" in message
    assert platform.partition_file(VALIDATED_TRADES, GONE_DAY).read_bytes() == validated  # untouched


def test_a_late_file_for_a_day_whose_raw_data_is_gone_does_not_replace_the_day(platform: Platform):
    """A late Kafka message lands in the folder of a day retention deleted: ingesting it alone
    would overwrite the kept validated_trades, DLQ and marts with that one record."""
    run_retention(platform)
    validated = platform.partition_file(VALIDATED_TRADES, GONE_DAY).read_bytes()
    write_day(generate_day(date.fromisoformat(GONE_DAY), 3, seed=9), str(platform.landing))

    result = replay(platform, GONE_DAY)

    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"{GONE_DAY} cannot be replayed: its raw data is gone" in message
    assert "landing files arrived since" in message
    assert platform.partition_file(VALIDATED_TRADES, GONE_DAY).read_bytes() == validated  # untouched


def test_retention_on_s3_deletes_the_expired_objects_and_nothing_else(s3: S3, tmp_path: Path, instance):
    bucket = s3.new_bucket()
    landing, lake = f"s3://{bucket}/landing", f"s3://{bucket}/lake"
    days = DAYS[-4:]
    for day in days:
        write_day(generate_day(date.fromisoformat(day), 20, seed=4), landing)
    with fsspec.open(f"s3://{bucket}/lake-archive/raw_trades/date={days[0]}/part-0.parquet", "wb") as handle:
        handle.write(b"keep")  # a sibling prefix that starts like the lake's
    defs = build_defs(settings_for(landing, lake, retention={"landing": 1, "raw_trades": 2, "ohlcv": 3}))
    materialize(defs, instance, days[0], days[-1])
    before = s3.keys(bucket)

    dry = retention(defs, instance, dry_run=True)
    assert [k for k in s3.keys(bucket) if not k.startswith("lake/audit/")] == before
    real = retention(defs, instance, dry_run=False)

    # landing keeps today only, raw_trades the last day, ohlcv the last two days.
    gone = {"landing/trades": days, "lake/raw_trades": days[:3], "lake/ohlcv": days[:2]}
    expected = [
        k for k in before if not any(k.startswith(f"{p}/date={d}/") for p, ds in gone.items() for d in ds)
    ]
    assert [k for k in s3.keys(bucket) if not k.startswith("lake/audit/")] == expected
    assert f"lake-archive/raw_trades/date={days[0]}/part-0.parquet" in expected
    assert [r["path"] for r in audit(dry)] == [r["path"] for r in audit(real)]
    assert {r["path"] for r in audit(real)} == {
        f"s3://{bucket}/{prefix}/date={d}" for prefix, ds in gone.items() for d in ds
    }
    assert sorted(instance.get_materialized_partitions(AssetKey(RAW_TRADES))) == days[3:]


def test_retention_deregisters_the_deleted_partitions_from_the_glue_catalog(s3: S3, instance):
    bucket = s3.new_bucket()
    landing, lake = f"s3://{bucket}/landing", f"s3://{bucket}/lake"
    days = DAYS[-3:]
    for day in days:
        write_day(generate_day(date.fromisoformat(day), 20, seed=4), landing)
    glue, database = boto3.client("glue"), f"retention_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": database})
    defs = build_defs(
        settings_for(landing, lake, retention={"raw_trades": 1, "ohlcv": 2}, glue_database=database)
    )
    materialize(defs, instance, days[0], days[-1])
    first = {"Values": [days[0]]}  # deregistered by hand already: deregistering it again is fine
    glue.batch_delete_partition(DatabaseName=database, TableName=RAW_TRADES, PartitionsToDelete=[first])

    def registered() -> dict[str, list[str]]:
        return {
            asset: sorted(
                p["Values"][0]
                for p in glue.get_partitions(DatabaseName=database, TableName=asset)["Partitions"]
            )
            for asset in ALL
        }

    assert retention(defs, instance, dry_run=True).success
    assert registered() == {**dict.fromkeys(ALL, days), RAW_TRADES: days[1:]}
    assert retention(defs, instance, dry_run=False).success
    # raw_trades keeps today only (none of these days), ohlcv today and yesterday.
    assert registered() == {**dict.fromkeys(ALL, days), RAW_TRADES: [], "ohlcv": days[2:]}
