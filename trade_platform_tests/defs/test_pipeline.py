"""The pipeline end to end on local disk: invariant, idempotent re-runs, CLI, checks."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, Definitions, define_asset_job

from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.pseudonymise import DEVELOPMENT_KEY
from trade_platform_tests.conftest import DAY, Platform, trade, write_csv

LAKE_ASSETS = ("raw_trades", "validated_trades", "trades_dlq", "ohlcv", "daily_volume")


def land_generated(platform: Platform, day: str = DAY, n: int = 3_000) -> None:
    write_day(
        generate_day(date.fromisoformat(day), n, seed=11, bad_fraction=0.05),
        str(platform.landing),
        corrupt_file=True,
    )


def check_results(result, check_name: str) -> list:
    return [e for e in result.get_asset_check_evaluations() if e.check_name == check_name]


def test_every_raw_row_lands_in_exactly_one_of_validated_or_dlq(platform: Platform):
    land_generated(platform)
    result = platform.materialize()
    raw, validated, dlq = (platform.read(a) for a in ("raw_trades", "validated_trades", "trades_dlq"))
    records = dlq.filter(~pl.col("error_codes").list.contains("unreadable_file"))
    assert raw.height == 3_000
    assert raw.height == validated.height + records.height
    assert dlq.height == records.height + 1  # the corrupt file
    key = ["_source_file", "_source_row"]
    together = pl.concat([validated.select(key), records.select(key)])
    assert together.sort(key).equals(raw.select(key).sort(key))  # no row twice, none lost
    [reconciliation] = check_results(result, "reconciliation")
    assert reconciliation.passed and reconciliation.metadata["unaccounted_rows"].value == 0


def test_validated_rows_are_typed_normalized_and_in_source_order(platform: Platform):
    write_csv(platform.day_dir() / "b.csv", [trade("C")])
    write_csv(
        platform.day_dir() / "a.csv",
        [trade("A"), trade("B", timestamp="2026-11-20T10:00:00+02:00", symbol=" eth ")],
    )
    platform.materialize()
    validated = platform.read("validated_trades")
    assert validated.schema["price"] == pl.Float64 and validated.schema["timestamp"] == pl.Datetime(
        "us", "UTC"
    )
    # By file, then row (B's 08:00Z comes before A's 10:00Z in time, not in the table).
    assert validated.select("trade_id", "symbol").rows() == [("A", "BTC-USD"), ("B", "ETH"), ("C", "BTC-USD")]


def test_rerunning_a_partition_overwrites_it_with_identical_files(platform: Platform):
    land_generated(platform)
    first_run = platform.materialize()
    first = {asset: platform.partition_file(asset).read_bytes() for asset in LAKE_ASSETS}
    first_dlq = platform.read("trades_dlq")
    second_run = platform.materialize()
    for asset in ("raw_trades", "validated_trades", "ohlcv", "daily_volume"):
        assert platform.partition_file(asset).read_bytes() == first[asset], asset
    for asset in LAKE_ASSETS:  # one file per partition, no temporary leftovers
        assert [p.name for p in platform.partition_file(asset).parent.iterdir()] == ["part-0.parquet"]
    # The DLQ differs only in who rejected the rows and when.
    second_dlq = platform.read("trades_dlq")
    assert first_dlq["run_id"].unique().to_list() == [first_run.run_id]
    assert second_dlq["run_id"].unique().to_list() == [second_run.run_id]
    stamps = ["run_id", "rejected_at"]
    assert first_dlq.height > 1 and second_dlq.drop(stamps).equals(first_dlq.drop(stamps))


UNIQUE_TRADE_ID = AssetCheckKey(AssetKey("validated_trades"), "unique_trade_id")


def test_a_duplicate_trade_id_fails_the_uniqueness_check(platform: Platform):
    validated = platform.partition_file("validated_trades")
    validated.parent.mkdir(parents=True)
    pl.DataFrame({"trade_id": ["T1", "T1", "T2"]}).write_parquet(validated)
    defs = Definitions.merge(
        platform.definitions(),
        Definitions(jobs=[define_asset_job("only_unique", selection=AssetSelection.checks(UNIQUE_TRADE_ID))]),
    )
    # A checks-only selection has no partitions_def of its own to validate a key against; the
    # partition tag is what a launched run carries.
    result = defs.resolve_job_def("only_unique").execute_in_process(
        tags={"dagster/partition": DAY}, instance=platform.instance, raise_on_error=False
    )
    assert not result.success  # the check is blocking: its step fails, so nothing downstream runs
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.partition == DAY
    assert evaluation.metadata["examples"].value == ["T1"]
    stored = platform.instance.event_log_storage.get_asset_check_execution_history(UNIQUE_TRADE_ID, limit=5)
    assert [record.partition for record in stored] == [DAY]


def test_checks_are_evaluated_per_partition_in_a_range_run(platform: Platform):
    for day in ("2026-11-18", "2026-11-19", "2026-11-20"):
        write_csv(platform.day_dir(day) / "t.csv", [trade(f"T{day}", timestamp=f"{day}T12:00:00Z")])
    result = platform.materialize("2026-11-18", until="2026-11-20")
    assert result.success
    partitions = sorted(e.partition for e in check_results(result, "ohlcv_invariants"))
    assert partitions == ["2026-11-18", "2026-11-19", "2026-11-20"]
    materialized = [
        e.partition
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey("daily_volume")
    ]
    assert sorted(materialized) == partitions
    for day in partitions:
        assert platform.read("daily_volume", day)["trade_count"].to_list() == [1]


def test_an_empty_landing_day_materializes_empty_partitions(platform: Platform):
    result = platform.materialize()
    assert result.success
    for asset in LAKE_ASSETS:
        assert platform.read(asset).height == 0


def test_cli_materializes_every_asset_of_a_partition(tmp_path: Path, dagster_home: Path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    write_day(generate_day(date(2026, 11, 20), 500, seed=3), str(landing))
    key_file = tmp_path / "pii.key"  # the generated trades carry account_id and trader_id
    key_file.write_text("a-key-only-this-test-knows-0123456789abcdef\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "TRADE_PLATFORM_LANDING_URL": str(landing),
        "TRADE_PLATFORM_LAKE_URL": str(lake),
        "TRADE_PLATFORM_PII_KEY_FILE": str(key_file),
    }
    command = [
        str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
        "-m", "trade_platform.definitions", "--select", "*", "--partition", "2026-11-20",
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stderr
    for asset in LAKE_ASSETS:
        assert (lake / asset / "date=2026-11-20" / "part-0.parquet").is_file()
    assert completed.stderr.count("ASSET_CHECK_EVALUATION") >= 3
    assert "a-key-only-this-test-knows" not in completed.stdout + completed.stderr


def test_the_demo_stays_embedded_and_quiet(tmp_path: Path, dagster_home: Path, instance):
    """`make demo`: the SQLite instance, runs in the CLI's own process, no API-stability notes."""
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("TRADE_PLATFORM_PII_")},
        "DAGSTER_HOME": str(dagster_home),
        "TRADE_PLATFORM_LANDING_URL": str(tmp_path / "landing"),
        "TRADE_PLATFORM_LAKE_URL": str(tmp_path / "lake"),
    }
    command = [
        str(Path(sys.executable).parent / "trade-platform"),
        "demo",
        "--days",
        "2",
        "--trades-per-day",
        "1000",
    ]
    # Started in tmp_path, as make demo in the repository, where it writes the start date to .env.
    completed = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count(": ok in ") == 2
    assert (tmp_path / ".env").read_text().startswith("TRADE_PLATFORM_START_DATE=")
    assert "the built-in development key" in completed.stdout  # none is set here
    assert DEVELOPMENT_KEY.decode() not in completed.stdout + completed.stderr
    assert "Warning" not in completed.stderr
    runs = instance.get_runs()
    assert len(runs) == 2 and {run.status.value for run in runs} == {"SUCCESS"}
    assert not [run for run in runs if "trade_platform/worker" in run.tags]  # no Celery anywhere
    assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"


# A polars error while parsing a landing file is the file's fault (``unreadable_file``, see the
# bad-input catalogue); a bug of another kind in a landing read fails the step like one in a write.
@pytest.mark.parametrize(
    ("module", "function", "bug"),
    [
        ("lib.io_manager", "_write_frame", pl.exceptions.ComputeError("a bug in our own code")),
        ("core.landing.csv_files", "kept_columns", RuntimeError("a bug in our own code")),
    ],
)
def test_a_bug_inside_a_lake_write_or_landing_read_fails_at_once_with_its_own_message(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, module: str, function: str, bug: Exception
):
    land_generated(platform, n=200)

    def buggy(*args, **kwargs):
        raise bug

    monkeypatch.setattr(f"trade_platform.{module}.{function}", buggy)
    result = platform.materialize(raise_on_error=False)
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value in ("STEP_UP_FOR_RETRY", "STEP_RESTARTED")]
    [failure] = result.get_step_failure_events()
    error = failure.step_failure_data.error
    messages = [error.message]
    while error.cause is not None:
        error = error.cause
        messages.append(error.message)
    assert any(f"{type(bug).__name__}: a bug in our own code" in m for m in messages), messages
    assert not any("Cannot " in m for m in messages), messages  # not reported as a storage fault


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--name", "w1"], {}, "set TRADE_PLATFORM_CELERY_BROKER_URL and TRADE_PLATFORM_CELERY_BACKEND_URL"),
        (
            ["--name", "w1@host"],
            {
                "TRADE_PLATFORM_CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
                "TRADE_PLATFORM_CELERY_BACKEND_URL": "redis://127.0.0.1:1/1",
            },
            "--name takes letters, digits",
        ),
    ],
)
def test_a_worker_without_its_settings_or_with_a_bad_name_refuses_to_start(args, env, message):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRADE_PLATFORM_CELERY")}
    command = [str(Path(sys.executable).parent / "trade-platform"), "worker", *args]
    completed = subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and message in completed.stderr
