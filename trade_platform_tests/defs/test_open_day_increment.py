"""Today costs what is new: a re-run after files were added reads only those, and gives what a
full re-run of the day gives, file for file; anything else reads the day whole."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from trade_platform.core.names import ALL, INGESTED, RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform_tests.conftest import DAY, Platform, trade, write_csv, write_jsonl

BAD_INPUTS = Path(__file__).resolve().parents[1] / "bad_inputs"
RUN_COLUMNS = ["run_id", "rejected_at"]  # which run rejected a record: a full re-run's own


def recorded(instance: DagsterInstance, asset: str, day: str = DAY) -> dict:
    record = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=1
    ).records[0]
    return {key: entry.value for key, entry in record.asset_materialization.metadata.items()}


def files_read(platform: Platform, day: str = DAY) -> int:
    return recorded(platform.instance, RAW_TRADES, day)["files_read"]


def land_hostile_day(platform: Platform, folder: str) -> None:
    """Every bad input of the catalogue (unreadable, duplicate, malformed, extra columns...)."""
    target = platform.day_dir() / folder
    shutil.copytree(BAD_INPUTS, target)


def ingest(platform: Platform, day: str = DAY, tags: dict | None = None) -> None:
    """The day's raw_trades, validated_trades and trades_dlq alone, without checks or marts."""
    job = dg.define_asset_job("ingest_only", selection=dg.AssetSelection.assets(*INGESTED).without_checks())
    defs = dg.Definitions.merge(platform.definitions(), dg.Definitions(jobs=[job]))
    assert (
        defs.resolve_job_def("ingest_only")
        .execute_in_process(partition_key=day, instance=platform.instance, tags=tags)
        .success
    )


def full_run_of(platform: Platform, tmp_path: Path, run=Platform.materialize) -> tuple[Platform, dict]:
    """The same landing zone materialized once, from nothing, into its own lake and instance; and
    the metadata of its raw_trades and trades_dlq materializations."""
    (tmp_path / "once" / "home").mkdir(parents=True)
    with DagsterInstance.local_temp(str(tmp_path / "once" / "home")) as instance:
        other = Platform(landing=platform.landing, lake=tmp_path / "once" / "lake", instance=instance)
        run(other)
        return other, {asset: recorded(instance, asset) for asset in (RAW_TRADES, TRADES_DLQ)}


def assert_same_lake(extended: Platform, once: Platform, assets=ALL) -> None:
    for asset in assets:
        mine, theirs = extended.partition_file(asset), once.partition_file(asset)
        if asset == TRADES_DLQ:
            assert pl.read_parquet(mine).drop(RUN_COLUMNS).equals(pl.read_parquet(theirs).drop(RUN_COLUMNS))
        else:
            assert mine.read_bytes() == theirs.read_bytes(), asset


def test_added_files_alone_are_read_and_the_day_equals_a_full_re_run_file_for_file(
    platform: Platform, tmp_path
):
    land_hostile_day(platform, "a")
    write_csv(platform.day_dir() / "a" / "good.csv", [trade("G-1"), trade("G-2", price="101")])
    corrections = platform.landing / "corrections" / f"date={DAY}"
    corrections.mkdir(parents=True)
    write_csv(  # names a row of a file that lands later: applied when it is read
        corrections / "fix.csv",
        [{"source_file": f"trades/date={DAY}/c/late.csv", "source_row": "2", "price": "7"}],
        header=["source_file", "source_row", "price"],
    )
    first = platform.materialize(raise_on_error=False)
    assert files_read(platform) == len(list(BAD_INPUTS.iterdir())) + 1

    land_hostile_day(platform, "b")  # the same ids again (duplicates), another corrupt file
    (platform.day_dir() / "c").mkdir()
    write_csv(platform.day_dir() / "c" / "late.csv", [trade("L-1", price="-1"), trade("G-1"), trade("L-2")])
    write_jsonl(platform.day_dir() / "c" / "more.jsonl", [{**trade("L-3"), "venue": "extra column"}])
    second = platform.materialize(raise_on_error=False)
    assert files_read(platform) == len(list(BAD_INPUTS.iterdir())) + 2  # the added files alone

    once, once_metadata = full_run_of(platform, tmp_path)
    assert_same_lake(platform, once)
    extended_metadata = {asset: recorded(platform.instance, asset) for asset in (RAW_TRADES, TRADES_DLQ)}
    for asset in (RAW_TRADES, TRADES_DLQ):
        mine = {k: v for k, v in extended_metadata[asset].items() if k not in ("files_read", "path")}
        theirs = {k: v for k, v in once_metadata[asset].items() if k not in ("files_read", "path")}
        assert mine == theirs, asset
    assert recorded(platform.instance, TRADES_DLQ)["corrected_records"] == 1
    assert first.success == second.success


@pytest.mark.parametrize(
    "change",
    [
        "a stored file changed",
        "a stored file removed",
        "corrections added",
        "an earlier added file repeats a stored id",
        "an earlier added file is clean where a later stored record was rejected",
    ],
)
def test_a_changed_or_removed_file_new_corrections_or_a_new_first_occurrence_read_the_day_whole(
    platform: Platform, change, tmp_path
):
    write_csv(platform.day_dir() / "b.csv", [trade("T-1")])
    write_csv(platform.day_dir() / "c.csv", [trade("T-2"), trade("T-5", price="-1")])
    ingest(platform)
    write_csv(platform.day_dir() / "d.csv", [trade("T-3")])  # an added file, sorting last
    if change == "a stored file changed":
        write_csv(platform.day_dir() / "b.csv", [trade("T-1", price="2")])
    elif change == "a stored file removed":
        (platform.day_dir() / "c.csv").unlink()
    elif change == "corrections added":
        folder = platform.landing / "corrections" / f"date={DAY}"
        folder.mkdir(parents=True)
        fix = [{"source_file": "x", "source_row": "2", "price": "3"}]
        write_csv(folder / "fix.csv", fix, header=["source_file", "source_row", "price"])
    elif change == "an earlier added file repeats a stored id":
        write_csv(platform.day_dir() / "a.csv", [trade("T-2")])  # now the first T-2
    else:
        write_csv(platform.day_dir() / "a.csv", [trade("T-5")])  # the first clean T-5
    ingest(platform)
    stored = pl.read_parquet(platform.partition_file("raw_trades"))  # a removed file is replayed
    assert files_read(platform) == stored["_source_file"].n_unique() >= 3
    if change.startswith("an earlier"):  # and the day is what a full run makes of it
        assert_same_lake(platform, full_run_of(platform, tmp_path, ingest)[0], INGESTED)


def test_an_added_file_sorting_among_the_stored_ones_is_read_alone_and_put_in_its_place(
    platform: Platform, tmp_path
):
    for partition in (0, 1):  # the files of two Kafka partitions interleave by name
        write_csv(platform.day_dir() / f"kafka-p{partition}-0001.csv", [trade(f"P{partition}-1")])
    ingest(platform)
    write_csv(platform.day_dir() / "kafka-p0-0002.csv", [trade("P0-2"), trade("P0-3", price="-1")])
    write_csv(platform.day_dir() / "kafka-p1-0002.csv", [trade("P1-2"), trade("P0-1")])  # a later duplicate
    ingest(platform)
    assert files_read(platform) == 2
    assert_same_lake(platform, full_run_of(platform, tmp_path, ingest)[0], INGESTED)
    order = pl.read_parquet(platform.partition_file("raw_trades"))["_source_file"].to_list()
    assert order == sorted(order) and len(order) == 6


@pytest.mark.parametrize("published", [RAW_TRADES, VALIDATED_TRADES])
def test_a_partition_published_by_a_run_killed_before_recording_it_reads_the_day_whole(
    platform: Platform, tmp_path, published
):
    write_csv(platform.day_dir() / "b.csv", [trade("T-1")])
    write_csv(platform.day_dir() / "c.csv", [trade("T-2"), trade("T-5", price="-1")])
    ingest(platform)
    write_csv(platform.day_dir() / "d.csv", [trade("T-3"), trade("T-4")])  # added
    # What a run killed after publishing the partition, before recording its materialization,
    # leaves: the partition of a run that read the added file too, the latest record the last one's.
    once = full_run_of(platform, tmp_path, ingest)[0]
    shutil.copyfile(once.partition_file(published), platform.partition_file(published))
    ingest(platform)
    assert files_read(platform) == 3
    assert_same_lake(platform, once, INGESTED)


def test_a_file_landed_again_after_it_was_replayed_from_the_lake_is_read_once(platform: Platform, tmp_path):
    write_csv(platform.day_dir() / "b.csv", [trade("T-1")])
    write_csv(platform.day_dir() / "c.csv", [trade("T-2"), trade("T-3")])
    ingest(platform)
    kept = (platform.day_dir() / "c.csv").read_bytes()
    (platform.day_dir() / "c.csv").unlink()
    ingest(platform)  # c.csv's records replayed from the stored raw_trades
    (platform.day_dir() / "c.csv").write_bytes(kept)
    ingest(platform)
    assert files_read(platform) == 2
    assert_same_lake(platform, full_run_of(platform, tmp_path, ingest)[0], INGESTED)


def test_a_dlq_replay_or_a_full_rerun_tag_reads_the_day_whole(platform: Platform):
    write_csv(platform.day_dir() / "a.csv", [trade("T-1")])
    ingest(platform)
    write_csv(platform.day_dir() / "b.csv", [trade("T-2")])
    platform.run_job("replay_dlq")
    assert files_read(platform) == 2
    write_csv(platform.day_dir() / "c.csv", [trade("T-3")])
    ingest(platform, tags={"trade_platform/full_rerun": "true"})
    assert files_read(platform) == 3
    write_csv(platform.day_dir() / "d.csv", [trade("T-4")])
    ingest(platform)
    assert files_read(platform) == 1


def test_a_record_rejected_as_in_the_future_is_judged_again_when_it_may_no_longer_be(platform: Platform):
    def utc(instant: datetime) -> str:
        return instant.isoformat().replace("+00:00", "Z")

    start = datetime.now(UTC)
    day = start.date().isoformat()
    end_of_day = datetime.combine(start.date(), datetime.max.time(), UTC)
    write_csv(platform.day_dir(day) / "a.csv", [trade("F-1", timestamp=utc(end_of_day))])
    ingest(platform, day)
    write_csv(platform.day_dir(day) / "b.csv", [trade("F-2", timestamp=utc(start))])
    ingest(platform, day)
    assert files_read(platform, day) == 1  # F-1 is still in the future

    soon = datetime.now(UTC) + timedelta(seconds=5)
    write_csv(platform.day_dir(day) / "c.csv", [trade("F-3", timestamp=utc(soon))])
    ingest(platform, day)  # F-3 lands in the future...
    assert (
        "F-3" not in pl.read_parquet(platform.partition_file("validated_trades", day))["trade_id"].to_list()
    )
    write_csv(platform.day_dir(day) / "d.csv", [trade("F-4", timestamp=utc(start))])
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    ingest(platform, day)  # ... and is not any more: the day is read whole and F-3 accepted
    assert files_read(platform, day) == 4
    validated = pl.read_parquet(platform.partition_file("validated_trades", day))["trade_id"].to_list()
    assert "F-3" in validated and "F-1" not in validated
