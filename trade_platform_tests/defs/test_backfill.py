"""Backfills: a range of partitions in one run, each partition written, recorded and checked alone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from dagster import AssetKey, DagsterRunStatus, RunsFilter

from trade_platform.core.generate import generate_day, write_day
from trade_platform_tests.conftest import Platform, trade, write_csv, write_jsonl

LAKE_ASSETS = ("raw_trades", "validated_trades", "trades_dlq", "ohlcv", "daily_volume")
START = date(2026, 10, 1)
DAYS = [(START + timedelta(days=offset)).isoformat() for offset in range(30)]


def test_a_30_day_range_materializes_in_one_run_with_a_materialization_and_checks_per_partition(
    platform: Platform,
):
    for index, day in enumerate(DAYS):
        write_day(
            generate_day(date.fromisoformat(day), 40 + index, seed=1),
            str(platform.landing),
            corrupt_file=index % 7 == 0,
        )

    result = platform.materialize(DAYS[0], until=DAYS[-1])

    assert result.success
    assert len(platform.instance.get_run_records(RunsFilter())) == 1
    for asset in LAKE_ASSETS:
        events = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(asset)]
        assert sorted(e.partition for e in events) == DAYS, asset
        for event in events:  # each partition's own row count, matching its own file
            metadata = event.event_specific_data.materialization.metadata
            assert metadata["dagster/row_count"].value == platform.read(asset, event.partition).height
    raw_counts = {
        e.partition: e.event_specific_data.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey("raw_trades")
    }
    assert raw_counts == {day: 40 + index for index, day in enumerate(DAYS)}
    evaluations = Counter((e.check_name, e.partition) for e in result.get_asset_check_evaluations())
    for check in ("reconciliation", "unique_trade_id", "ohlcv_invariants"):
        assert [evaluations[(check, day)] for day in DAYS] == [1] * 30, check
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.check_name == "reconciliation")


def test_days_with_different_extra_columns_keep_them_in_raw(platform: Platform):
    write_csv(
        platform.day_dir("2026-11-18") / "a.csv",
        [{**trade("A", timestamp="2026-11-18T01:00:00Z"), "venue_seq": "7"}],
        header=["trade_id", "symbol", "side", "price", "quantity", "timestamp", "exchange", "venue_seq"],
    )
    write_jsonl(
        platform.day_dir("2026-11-19") / "b.jsonl",
        [{**trade("B", timestamp="2026-11-19T01:00:00Z"), "fee": 0.1}],
    )
    assert platform.materialize("2026-11-18", until="2026-11-19").success
    first, second = platform.read("raw_trades", "2026-11-18"), platform.read("raw_trades", "2026-11-19")
    assert first["venue_seq"].to_list() == ["7"]
    assert second["fee"].to_list() == ["0.1"]
    assert pl.concat([platform.read("validated_trades", d) for d in ("2026-11-18", "2026-11-19")])[
        "trade_id"
    ].to_list() == ["A", "B"]


def test_cli_materializes_a_partition_range_in_one_run(tmp_path: Path, dagster_home: Path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    days = ["2026-01-01", "2026-01-02", "2026-01-03"]
    for day in days:
        write_day(generate_day(date.fromisoformat(day), 30, seed=2), str(landing))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "TRADE_PLATFORM_LANDING_URL": str(landing),
        "TRADE_PLATFORM_LAKE_URL": str(lake),
        "TRADE_PLATFORM_PII_KEY": "backfill-test-pii-key-0123456789abcdef",  # trades carry account ids
    }
    command = [
        str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "trade_platform.definitions",
        "--select", "*", "--partition-range", f"{days[0]}...{days[-1]}",
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    for asset in LAKE_ASSETS:
        assert sorted(p.parent.name for p in (lake / asset).glob("*/part-0.parquet")) == [
            f"date={d}" for d in days
        ]
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_run_records(RunsFilter())
        assert [r.dagster_run.status for r in runs] == [DagsterRunStatus.SUCCESS]
