"""DLQ replay: corrections recover rejected records; replaying twice changes nothing."""

from __future__ import annotations

import logging

import polars as pl
import pytest
from dagster import AssetKey, AssetRecordsFilter

from trade_platform.core.corrections import apply_corrections
from trade_platform_tests.conftest import DAY, Platform, trade, write_csv

SOURCE = "trades/date=2026-11-20/t.csv"


def land_rejects(platform: Platform) -> None:
    write_csv(
        platform.day_dir() / "t.csv",
        [trade("G1"), trade("P1", price="12.5.0"), trade("TZ1", timestamp="2026-11-20T11:00:00")],
        extra_lines=["MAL1;BTC-USD;buy;1;1"],
    )


def write_corrections(platform: Platform) -> None:
    folder = platform.landing / "corrections" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "fixes.csv").write_text(
        "source_file,source_row,trade_id,symbol,side,price,quantity,timestamp,exchange\n"
        f"{SOURCE},3,,,,12.5,,,\n"
        f"{SOURCE},4,,,,,,2026-11-20T11:00:00Z,\n"
        f"{SOURCE},5,MAL1,BTC-USD,buy,1,1,2026-11-20T12:00:00Z,BINANCE\n"
    )


def test_replaying_a_partition_with_corrections_recovers_its_dlq_records(platform: Platform):
    land_rejects(platform)
    platform.materialize()
    assert sorted(platform.read("trades_dlq")["_source_row"].to_list()) == [3, 4, 5]
    raw_before = platform.partition_file("raw_trades").read_bytes()

    write_corrections(platform)
    result = platform.run_job("replay_dlq")

    assert result.success
    validated = platform.read("validated_trades")
    assert validated["trade_id"].to_list() == ["G1", "P1", "TZ1", "MAL1"]
    assert validated.filter(pl.col("trade_id") == "P1")["price"].to_list() == [12.5]
    assert platform.read("trades_dlq").height == 0
    assert platform.partition_file("raw_trades").read_bytes() == raw_before  # raw stays as received
    assert platform.read("daily_volume")["trade_count"].sum() == 4  # downstream re-materialized
    [reconciliation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "reconciliation"]
    assert reconciliation.passed


def test_replaying_twice_changes_nothing(platform: Platform):
    land_rejects(platform)
    write_corrections(platform)
    platform.run_job("replay_dlq")
    first = {
        a: platform.partition_file(a).read_bytes() for a in ("validated_trades", "ohlcv", "daily_volume")
    }
    platform.run_job("replay_dlq")
    for asset, content in first.items():
        assert platform.partition_file(asset).read_bytes() == content, asset


def test_a_correction_that_is_still_wrong_keeps_the_record_in_the_dlq(platform: Platform):
    land_rejects(platform)
    folder = platform.landing / "corrections" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "fixes.csv").write_text(f"source_file,source_row,price\n{SOURCE},3,-4\n")
    platform.run_job("replay_dlq")
    dlq = platform.read("trades_dlq").sort("_source_row")
    assert dlq.select("_source_row", "error_codes").rows()[0] == (3, ["invalid_price"])
    assert "'-4'" in dlq["error"][0]


def test_corrections_without_their_key_columns_fail_clearly(platform: Platform):
    land_rejects(platform)
    folder = platform.landing / "corrections" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "fixes.csv").write_text("trade_id,price\nP1,12.5\n")
    result = platform.run_job("replay_dlq", raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "corrections need the columns source_file, source_row" in failure.step_failure_data.error.message


@pytest.mark.parametrize(
    "bad", ["source_file,row,price\nX,3,1\n", f"source_file,source_row,price\n{SOURCE},third,1\n"]
)
def test_a_corrections_file_naming_no_record_fails_even_beside_a_good_one(platform: Platform, bad):
    land_rejects(platform)
    folder = platform.landing / "corrections" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "a_good.csv").write_text(f"source_file,source_row,price\n{SOURCE},3,4\n")
    (folder / "b_bad.csv").write_text(bad)
    result = platform.run_job("replay_dlq", raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert f"corrections/date={DAY}/b_bad.csv, record at line or row 2: names no record" in message


def test_whole_number_rows_blank_spreadsheet_rows_and_parquet_rows_are_usable_corrections(platform: Platform):
    land_rejects(platform)
    platform.materialize()
    folder = platform.landing / "corrections" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(f"source_file,source_row,price\n{SOURCE}, 3.0 ,12.5\n,,\n")
    pl.DataFrame(
        {"source_file": [SOURCE], "source_row": [4.0], "timestamp": ["2026-11-20T11:00:00Z"]}
    ).write_parquet(folder / "b.parquet")
    platform.run_job("replay_dlq")
    assert platform.read("trades_dlq")["_source_row"].to_list() == [5]


def test_an_unreadable_corrections_line_fails_with_its_reason(platform: Platform):
    land_rejects(platform)
    folder = platform.landing / "corrections" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(f'source_file,source_row,price\n{SOURCE},3,"12.5\n')
    result = platform.run_job("replay_dlq", raise_on_error=False)
    [failure] = result.get_step_failure_events()
    assert "a.csv, record at line or row 2: CSV record has an unterminated quote" in (
        failure.step_failure_data.error.message
    )


def test_corrections_naming_no_landed_record_are_counted_and_logged(platform: Platform):
    land_rejects(platform)
    folder = platform.landing / "corrections" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "fixes.csv").write_text(  # row 3 exists; row 999 and another file do not
        f"source_file,source_row,price\n{SOURCE},3,12.5\n{SOURCE},999,1\ntrades/date={DAY}/x.csv,3,1\n"
    )
    result = platform.run_job("replay_dlq")
    [record] = platform.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("trades_dlq"), asset_partitions=[DAY]), limit=1
    ).records
    metadata = record.asset_materialization.metadata
    assert (metadata["corrected_records"].value, metadata["corrections_naming_no_record"].value) == (1, 2)
    warnings = [
        entry.user_message
        for entry in platform.instance.all_logs(result.run_id)
        if entry.level >= logging.WARNING and "name no record" in entry.user_message
    ]
    assert warnings == [f"{DAY}: 2 corrections name no record of the day (a wrong source_file or source_row?): "
                        "nothing was corrected for them"]  # fmt: skip


def test_replay_works_from_raw_trades_when_landing_files_are_gone(platform: Platform, tmp_path):
    """Landing retention deletes files; a replay then reads their records from raw_trades and
    keeps an unreadable file's DLQ entry, with the same result as with the files still there."""
    kept = Platform(
        landing=tmp_path / "kept" / "landing", lake=tmp_path / "kept" / "lake", instance=platform.instance
    )
    for each in (platform, kept):
        land_rejects(each)
        write_csv(each.day_dir() / "u.csv", [trade("U1"), trade("G1")])  # G1 repeats t.csv's G1
        (each.day_dir() / "v.csv.gz").write_bytes(b"\x1f\x8bnot really gzip")
        each.materialize()
        write_corrections(each)
    for name in ("t.csv", "v.csv.gz"):
        (platform.day_dir() / name).unlink()

    result = platform.run_job("replay_dlq")
    assert result.success
    kept.run_job("replay_dlq")

    stamps = ["run_id", "rejected_at"]
    for asset in ("raw_trades", "validated_trades", "ohlcv", "daily_volume"):
        assert platform.read(asset).equals(kept.read(asset)), asset
    assert platform.read("trades_dlq").drop(stamps).equals(kept.read("trades_dlq").drop(stamps))
    assert platform.read("validated_trades")["trade_id"].to_list() == ["G1", "P1", "TZ1", "MAL1", "U1"]
    assert platform.read("trades_dlq").select("_source_file", "error_codes").rows() == [
        ("trades/date=2026-11-20/u.csv", ["duplicate_trade_id"]),
        ("trades/date=2026-11-20/v.csv.gz", ["unreadable_file"]),
    ]
    [materialization] = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "trades_dlq"
    ]
    assert materialization.materialization.metadata["replayed_from_raw_trades"].value == 2


def test_apply_corrections_matches_by_source_and_keeps_row_count():
    records = pl.DataFrame(
        {"trade_id": ["A", "B"], "price": ["x", "2"], "_source_file": ["f", "f"], "_source_row": [2, 3],
         "_parse_error": [None, None]},
        schema_overrides={"_parse_error": pl.String},
    )  # fmt: skip
    fixes = pl.DataFrame(
        {"source_file": ["f", "f", "other"], "source_row": ["2", "2", "2"], "price": ["1", "1.5", "9"]}
    )
    fixed, matched = apply_corrections(records, fixes)
    assert matched == 1 and fixed.height == 2
    assert fixed["price"].to_list() == ["1.5", "2"]  # the last correction of a record wins
    with pytest.raises(ValueError, match="source_row"):
        apply_corrections(records, fixes.drop("source_row"))
