"""Partitioned quality gates, run by Dagster against a real instance in a temporary DAGSTER_HOME."""

import warnings
from collections.abc import Callable
from datetime import date

import polars as pl
import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    materialize,
)

import trade_platform.core.ingest as ingest_module
from trade_platform.core.generate import generate_day, write_day
from trade_platform.definitions import build_defs
from trade_platform.settings import QualityGates
from trade_platform_tests.conftest import settings_for

DAY, NEXT_DAY, EMPTY_DAY = "2024-03-01", "2024-03-02", "2024-03-05"
ODD_FILE = "trades-odd.csv"


@pytest.fixture
def lake(tmp_path):
    landing = tmp_path / "landing"
    for day in (DAY, NEXT_DAY):
        write_day(generate_day(date.fromisoformat(day), 1_000, seed=3), str(landing))
    return {"landing": landing, "lake": tmp_path / "lake"}


def run(lake, instance, *, partition=None, start=None, end=None, **settings):
    defs = build_defs(settings_for(**lake, **settings))
    tags = (
        {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
        if start
        else {}
    )
    return defs.resolve_job_def("trades_daily_job").execute_in_process(
        instance=instance, partition_key=partition, tags=tags, raise_on_error=False
    )


def evaluations(result, check: str, asset: str | None = None) -> dict:
    return {
        e.partition: e
        for e in result.get_asset_check_evaluations()
        if e.check_name == check and (asset is None or e.asset_key == AssetKey(asset))
    }


def test_range_run_records_one_evaluation_per_partition_of_every_check(lake, instance):
    result = run(lake, instance, start=DAY, end=NEXT_DAY)
    assert result.success
    stored = instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    recorded = {}
    for record in stored:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        recorded.setdefault(AssetCheckKey(evaluation.asset_key, evaluation.check_name), []).append(evaluation)
    partitioned = {key: evals for key, evals in recorded.items() if key.name != "freshness"}
    assert {key.to_user_string() for key in partitioned} == {
        "raw_trades:record_count", "raw_trades:column_schema", "raw_trades:landing_completeness",
        "validated_trades:record_count",
        "validated_trades:reconciliation", "validated_trades:unique_trade_id", "validated_trades:price_range",
        "validated_trades:column_schema", "trades_dlq:dlq_rate", "ohlcv:ohlcv_invariants",
        "daily_volume:daily_volume_totals",
    }  # fmt: skip
    for key, evals in partitioned.items():
        assert sorted(e.partition for e in evals) == [DAY, NEXT_DAY], key
        assert all(e.passed for e in evals), [(key, e.description) for e in evals if not e.passed]
        assert all(e.target_materialization_data.run_id == result.run_id for e in evals), key
    # Dagster's own view of the check, per partition, as the UI shows it.
    history = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey("validated_trades"), "reconciliation"), limit=10
    )
    assert sorted(h.partition for h in history) == [DAY, NEXT_DAY]
    # A re-run's evaluations point at the re-run's materializations, not the first run's.
    rerun = run(lake, instance, start=DAY, end=NEXT_DAY)
    evaluations_of_rerun = [e for e in rerun.get_asset_check_evaluations() if e.partition]
    targets = {(e.partition, e.target_materialization_data.run_id) for e in evaluations_of_rerun}
    assert targets == {(DAY, rerun.run_id), (NEXT_DAY, rerun.run_id)}


def test_empty_day_fails_record_count_unless_it_is_a_holiday(lake, instance):
    working_day = run(lake, instance, partition=EMPTY_DAY)
    failed = evaluations(working_day, "record_count", "raw_trades")[EMPTY_DAY]
    assert not failed.passed and failed.severity == AssetCheckSeverity.ERROR
    assert failed.metadata["rows"].value == 0 and failed.metadata["landing_files"].value == 0
    assert not evaluations(working_day, "record_count", "validated_trades")[EMPTY_DAY].passed

    holiday = run(
        lake, instance, partition=EMPTY_DAY, gates=QualityGates(frozenset({"2024-12-25", EMPTY_DAY}))
    )
    passed = evaluations(holiday, "record_count", "raw_trades")[EMPTY_DAY]
    assert passed.passed and passed.metadata["holiday"].value is True


def test_dlq_rate_warns_above_the_threshold_and_errors_far_above_it(lake, instance):
    default = evaluations(run(lake, instance, partition=DAY), "dlq_rate")[DAY]
    rate = default.metadata["dlq_rate"].value
    assert default.passed and 0 < rate < 0.05
    assert default.metadata["top_error_codes"].value  # which codes, most frequent first

    warned = run(
        lake, instance, partition=DAY, gates=QualityGates(dlq_warn_rate=rate / 2, dlq_error_rate=rate * 2)
    )
    warned = evaluations(warned, "dlq_rate")[DAY]
    assert not warned.passed and warned.severity == AssetCheckSeverity.WARN
    assert warned.metadata["warn_above"].value == pytest.approx(rate / 2)

    errored = run(
        lake, instance, partition=DAY, gates=QualityGates(dlq_warn_rate=rate / 4, dlq_error_rate=rate / 2)
    )
    errored = evaluations(errored, "dlq_rate")[DAY]
    assert not errored.passed and errored.severity == AssetCheckSeverity.ERROR


@pytest.fixture
def odd_day(lake):
    """A landing file with an extra column and prices at the edges of the sane range."""
    rows = [
        ("ODD-1", "0.0005"), ("ODD-2", "0.001"), ("ODD-3", "0.0011"),
        ("ODD-4", "999999.99"), ("ODD-5", "1000000"), ("ODD-6", "2500000"),
    ]  # fmt: skip
    lines = ["trade_id,symbol,side,price,quantity,timestamp,exchange,venue_fee"] + [
        f"{trade_id},SYM001,buy,{price},1.5,{DAY}T12:00:0{i}Z,KRAKEN,0.1"
        for i, (trade_id, price) in enumerate(rows)
    ]
    folder = f"{lake['landing']}/trades/date={DAY}"
    with open(f"{folder}/{ODD_FILE}", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return lake


def test_price_range_warns_and_names_the_worst_offending_trades(odd_day, instance):
    check = evaluations(run(odd_day, instance, partition=DAY), "price_range")[DAY]
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.metadata["out_of_range"].value == 4
    assert check.metadata["lowest_offenders"].value == {"ODD-1": 0.0005, "ODD-2": 0.001}
    assert check.metadata["highest_offenders"].value == {"ODD-6": 2_500_000.0, "ODD-5": 1_000_000.0}
    assert check.metadata["price_ceiling_exclusive"].value == 1_000_000.0


def test_column_schema_warns_about_an_added_landing_column(odd_day, instance):
    result = run(odd_day, instance, partition=DAY)
    raw = evaluations(result, "column_schema", "raw_trades")[DAY]
    assert not raw.passed and raw.severity == AssetCheckSeverity.WARN
    assert raw.metadata["added_columns"].value == ["venue_fee: String"]
    assert evaluations(result, "column_schema", "validated_trades")[DAY].passed


def test_blocking_reconciliation_failure_stops_downstream_assets(lake, instance, split_losing_a_row):
    result = run(lake, instance, partition=DAY)
    assert not result.success
    check = evaluations(result, "reconciliation")[DAY]
    assert not check.passed and check.blocking
    assert check.metadata["unaccounted_rows"].value == 1
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"raw_trades", "validated_trades", "trades_dlq"}
    assert not instance.get_latest_materialization_event(AssetKey("ohlcv"))
    assert not instance.get_latest_materialization_event(AssetKey("daily_volume"))


def _tamper(instance, asset: str, change: pl.Expr | Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    """Rewrite the asset's latest stored partition: ``change`` is a column or a whole-frame edit."""
    record = instance.get_latest_materialization_event(AssetKey(asset))
    path = record.asset_materialization.metadata["path"].value
    frame = pl.read_parquet(path)
    (frame.with_columns(change) if isinstance(change, pl.Expr) else change(frame)).write_parquet(path)


def _checks_only(lake, instance, checks: AssetSelection):
    defs = build_defs(settings_for(**lake))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return materialize(
            [*defs.assets, *defs.asset_checks],
            selection=checks,
            tags={"dagster/partition": DAY},  # partition_key= wants a selected asset
            instance=instance,
            resources=defs.resources,
            raise_on_error=False,
        )


def test_mart_checks_catch_totals_that_disagree_with_validated_trades(lake, instance):
    assert run(lake, instance, partition=DAY).success
    _tamper(
        instance,
        "daily_volume",
        pl.when(pl.col("symbol") == "SYM001")
        .then(pl.col("trade_count") + 1)
        .otherwise(pl.col("trade_count"))
        .alias("trade_count"),
    )
    _tamper(
        instance,
        "ohlcv",
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("low") * 0.5)
        .otherwise(pl.col("high"))
        .alias("high"),
    )
    result = _checks_only(
        lake,
        instance,
        AssetSelection.checks(
            AssetCheckKey(AssetKey("daily_volume"), "daily_volume_totals"),
            AssetCheckKey(AssetKey("ohlcv"), "ohlcv_invariants"),
        ),
    )
    totals = evaluations(result, "daily_volume_totals")[DAY]
    assert not totals.passed and totals.metadata["disagreeing_symbols"].value == 1
    assert "SYM001" in totals.metadata["examples"].value[0]
    candles = evaluations(result, "ohlcv_invariants")[DAY]
    assert not candles.passed and candles.metadata["bad_candles"].value >= 1


OHLCV_INVARIANTS = AssetCheckKey(AssetKey("ohlcv"), "ohlcv_invariants")
DAMAGED_CANDLES = {
    "a_missing_interval": lambda frame: frame.filter(pl.col("interval") != "5m"),
    "an_empty_partition": lambda frame: frame.clear(),
    "a_repeated_candle": lambda frame: pl.concat([frame, frame.head(1)]),
}


@pytest.mark.parametrize("damage", list(DAMAGED_CANDLES))
def test_ohlcv_invariants_fails_on(damage, lake, instance):
    assert run(lake, instance, partition=DAY).success
    _tamper(instance, "ohlcv", DAMAGED_CANDLES[damage])
    result = _checks_only(lake, instance, AssetSelection.checks(OHLCV_INVARIANTS))
    check = evaluations(result, "ohlcv_invariants")[DAY]
    assert not check.passed, check.description
    assert check.metadata["configured_intervals"].value == ["1m", "5m", "1h"]
    if damage == "a_repeated_candle":
        assert check.metadata["duplicated_candles"].value == 1
    else:
        wrong = check.metadata["disagreeing_intervals"].value
        assert set(wrong) == ({"5m"} if damage == "a_missing_interval" else {"1m", "5m", "1h"})
        assert all(text.startswith("0 trades") for text in wrong.values())


def test_an_empty_day_passes_ohlcv_invariants_without_candles(lake, instance):
    result = run(lake, instance, partition=EMPTY_DAY)
    check = evaluations(result, "ohlcv_invariants")[EMPTY_DAY]
    assert check.passed and check.metadata["validated_trades"].value == 0


def test_a_repeated_symbol_fails_daily_volume_totals(lake, instance):
    assert run(lake, instance, partition=DAY).success
    _tamper(instance, "daily_volume", lambda frame: pl.concat([frame, frame.head(1)]))
    result = _checks_only(
        lake, instance, AssetSelection.checks(AssetCheckKey(AssetKey("daily_volume"), "daily_volume_totals"))
    )
    check = evaluations(result, "daily_volume_totals")[DAY]
    assert not check.passed and check.metadata["rows_repeating_a_symbol"].value == 2


def test_rows_that_break_the_model_in_a_streamed_write_fail_without_retries(lake, instance, monkeypatch):
    split = ingest_module.split_trades

    def negative_price_split(*args, **kwargs):  # a bug that lets a bad price through
        result = split(*args, **kwargs)
        first_row = pl.int_range(pl.len()) == 0
        validated = result.validated.with_columns(price=pl.when(first_row).then(-1.0).otherwise("price"))
        return type(result)(validated=validated, dlq=result.dlq)

    monkeypatch.setattr(ingest_module, "split_trades", negative_price_split)
    result = run(lake, instance, partition=DAY, spill_budget_mb=0)  # every output spills and streams
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "ingest_trades"
    assert "ValidatedTrades" in failure.step_failure_data.user_failure_data.description
    assert not [e for e in result.all_events if e.event_type_value in ("STEP_UP_FOR_RETRY", "STEP_RESTARTED")]
    assert not instance.get_latest_materialization_event(AssetKey("validated_trades"))
