"""``trade-platform trace``: one trade_id followed from its landing row or Kafka offset to the
candles it is in, on a lake materialized through Dagster."""

from __future__ import annotations

import json
from datetime import date

import polars as pl

from trade_platform.cli.main import main
from trade_platform.core.kafka.messages import landing_files
from trade_platform_tests.conftest import DAY, Platform, settings_for, trade, write_csv


def traced(platform: Platform, capsys, *args: str) -> tuple[int, str]:
    """The exit code and stdout (stderr when it failed) of ``trade-platform trace ARGS``."""
    env = settings_for(platform.landing, platform.lake)
    code = main(["trace", *args, "--lake", env.lake_url, "--landing", env.landing_url])
    captured = capsys.readouterr()
    return code, captured.err if code == 2 else captured.out


def test_a_validated_trade_is_traced_to_its_file_row_candles_and_daily_volume(platform: Platform, capsys):
    write_csv(
        platform.day_dir() / "a.csv",
        [trade("T-1"), trade("T-2", price="101", timestamp="2026-11-20T10:00:30Z")],
    )
    platform.materialize()

    code, out = traced(platform, capsys, "T-2", "--date", DAY, "--json")
    assert code == 0
    (record,) = json.loads(out)["records"]
    assert record["source"] == {"file": f"trades/date={DAY}/a.csv", "row": 3, "kafka": None}
    assert record["raw"]["price"] == "101" and record["outcome"] == "validated"
    assert record["validated"]["price"] == 101.0 and record["dead_letter"] is None
    candles = {candle["interval"]: candle for candle in record["candles"]}
    stored = platform.read("ohlcv").filter(
        pl.col("timestamp") == pl.datetime(2026, 11, 20, 10, time_zone="UTC")
    )
    assert sorted(candles) == sorted(stored["interval"].to_list()) and candles
    assert all(candle["trade_count"] == 2 and candle["close"] == 101.0 for candle in candles.values())
    assert record["daily_volume"]["trade_count"] == 2 and record["daily_volume"]["symbol"] == "BTC-USD"

    code, text = traced(platform, capsys, " T-2 ")  # as received, and without a day: every partition
    assert code == 0 and "VALIDATED" in text and f"trades/date={DAY}/a.csv row 3" in text


def test_a_duplicate_shows_the_kept_record_and_the_dead_lettered_one_with_its_codes(
    platform: Platform, capsys
):
    write_csv(platform.day_dir() / "a.csv", [trade("T-1")])
    write_csv(platform.day_dir() / "b.csv", [trade("T-1", price="-3")])
    platform.materialize()

    code, out = traced(platform, capsys, "T-1", "--json")
    records = json.loads(out)["records"]
    assert code == 0 and [r["outcome"] for r in records] == ["validated", "dead-lettered"]
    assert records[1]["source"]["file"].endswith("b.csv") and records[1]["validated"] is None
    assert {"duplicate_trade_id", "invalid_price"} <= set(records[1]["dead_letter"]["error_codes"])
    assert records[1]["candles"] == [] and records[1]["raw"]["price"] == "-3"


def test_a_corrected_trade_id_leads_back_to_the_record_as_received_and_names_the_correction_and_replay(
    platform: Platform, capsys
):
    write_csv(platform.day_dir() / "a.csv", [trade("bad id!")])
    platform.materialize()
    corrections = platform.landing / "corrections" / f"date={DAY}"
    corrections.mkdir(parents=True)
    source = f"trades/date={DAY}/a.csv"
    write_csv(
        corrections / "fix.csv",
        [{"source_file": source, "source_row": "2", "trade_id": "T-9"}],
        header=["source_file", "source_row", "trade_id"],
    )
    replay = platform.run_job("replay_dlq")

    code, out = traced(platform, capsys, "T-9", "--date", DAY, "--json")
    (record,) = json.loads(out)["records"]
    assert code == 0 and record["outcome"] == "validated" and record["raw"]["trade_id"] == "bad id!"
    assert record["corrections"] == [
        {
            "file": f"corrections/date={DAY}/fix.csv",
            "row": 2,
            "source_file": source,
            "source_row": "2",
            "trade_id": "T-9",
        }
    ]
    assert record["replays"] == [{"run_id": replay.run_id, "status": "SUCCESS"}]


def test_a_kafka_record_is_traced_to_its_topic_partition_and_offset(platform: Platform, capsys):
    value = json.dumps(trade("K-1", timestamp="2026-11-20T09:00:00Z"))
    messages = pl.DataFrame(
        {
            "topic": ["trades"],
            "partition": [3],
            "offset": [41],
            "timestamp_ms": [1_763_629_200_000],
            "value": [value],
        }
    )
    for path, content in landing_files(messages, date(2026, 11, 1), date(2026, 11, 20)).items():
        (platform.landing / path).parent.mkdir(parents=True, exist_ok=True)
        (platform.landing / path).write_bytes(content)
    platform.materialize()

    code, out = traced(platform, capsys, "K-1", "--date", DAY)
    assert code == 0 and "(Kafka topic trades, partition 3, offset 41, timestamp 2025-11-20" in out


def test_an_unknown_id_exits_1_and_a_day_reads_that_days_files_only(platform: Platform, capsys):
    write_csv(platform.day_dir() / "a.csv", [trade("T-1")])
    platform.materialize()
    other = platform.lake / "raw_trades" / "date=2026-11-21"
    other.mkdir()
    (other / "part-0.parquet").write_bytes(b"not parquet")  # read only by a search of every day

    code, out = traced(platform, capsys, "T-404", "--date", DAY)
    assert code == 1 and out.strip() == f"no record with trade_id 'T-404' in the lake on {DAY}"
    assert traced(platform, capsys, "T-1", "--date", DAY)[0] == 0
    code, err = traced(platform, capsys, "T-1")
    assert code == 2 and "raw_trades" in err
